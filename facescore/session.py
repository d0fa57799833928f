"""A guided exercise session: prompts, live per-side feedback, then the usual report.

The session prompts the exam's movements on a fixed script (the same script a phantom performs,
:func:`facescore.phantom.exam_schedule`), measures every frame with the same pipeline as
``analyze`` (:class:`facescore.pipeline.FrameMeasurer`), shows each side's travel from its own
rest live as a bar (both sides on one scale, so the weaker side's bar is the shorter), and at
the end scores the prompted movements, writes the report and adds one row per movement to the
history. All measurements stay anatomical; only previews are mirrored.

:class:`LiveSession` holds that logic and is fed one frame at a time; two thin drivers show
it: :func:`run_session` (a camera or video and an OpenCV window, ``facescore session``) and
the clinic app's exercise page (frames from the browser's camera over a WebSocket,
:mod:`facescore.app.exercise`).
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from . import history
from .analysis import Analysis, analyze_measurement
from .anatomy import SIDES
from .errors import FacescoreError
from .geometry import mm_per_px
from .history import profile_folder, session_folder  # noqa: F401 (public here too)
from .landmarks import FaceTracker
from .outputs import check_output_file, check_output_folder
from .phantom import Performance, exam_schedule
from .pipeline import MIN_IOD_PX, WORKING_MAX_SIDE, FrameMeasurer
from .protocol import MOVEMENTS, PROMPTS, SESSION_TIMING, Timing
from .segments import Segment
from .sources import CameraSource, Frame, SourceInfo, VideoSource

#: Movement still counted after the prompt's end: people release late.
RELEASE_MARGIN_S = 0.6
#: Mean brightness (0-255) of the face below which the light is too poor.
MIN_BRIGHTNESS = 45
#: A side's rest before a prompt is its median activation over this last stretch, s.
REST_WINDOW_S = 0.6
#: The live mm scale is the median iris over this many recent frames with a face.
IRIS_FRAMES = 150
#: A bar is full at the larger side's best travel in this movement, but never below this, mm:
#: at rest the bars then show the frame-to-frame noise (a few tenths of a mm) as near empty.
BAR_FULL_MM = 2.0


def _raw_activation(row: dict, movement: str, side: str) -> float:
    """A movement's travel (frame px) on one side from a raw measurer row (NaN without face):
    the live, per-row twin of :func:`facescore.segments.activation`."""
    if not row.get("face_found"):
        return float("nan")
    value = {
        "brow_raise": lambda: row[f"brow_lift_{side}"],
        "eye_closure": lambda: row[f"lid_drop_{side}"],
        "smile": lambda: (row[f"mouth_out_{side}"] + row[f"mouth_up_{side}"]) / np.sqrt(2),
        "frown": lambda: -row[f"brow_lift_{side}"],
    }[movement]
    return float(value())


def face_warning(row: dict, frame: Frame) -> str | None:
    """Why the face cannot be measured now, in words for the user, or None."""
    if not row.get("face_found"):
        return "Face not found - look at the camera"
    if row["iod_px"] < MIN_IOD_PX:
        return "Move closer to the camera"
    if not row["pose_ok"]:
        return "Face the camera straight on"
    picture = frame.gray if frame.gray is not None else frame.rgb
    if float(np.mean(picture)) < MIN_BRIGHTNESS:
        return "Too dark - turn on more light"
    return None


@dataclass
class PromptState:
    """Where one prompted performance stands."""

    performance: Performance
    started_t: float | None = None  # frame time when the prompt began, s
    ended_t: float | None = None
    skipped: bool = False
    baseline: dict = field(default_factory=dict)  # side -> activation at rest before it, px
    held_mm: dict = field(default_factory=lambda: {"left": [], "right": []})  # travel in hold
    best_frame: tuple[float, np.ndarray | None] = (-np.inf, None)
    rest_frame: np.ndarray | None = None

    def held(self) -> dict[str, float] | None:
        """Each side's median travel from its own rest while the movement was held, mm (None
        before any held frame was measured): what the session tells the user afterwards."""
        if not any(self.held_mm.values()):
            return None
        return {side: float(np.nanmedian(v)) if np.isfinite(v).any() else float("nan")
                for side, v in ((s, np.asarray(self.held_mm[s], dtype=float))
                                for s in SIDES)}


@dataclass(frozen=True)
class LiveState:
    """What a live session shows after one frame.

    Attributes
    ----------
    t_s : float
        The frame's time, s.
    script_t : float
        Where the script stands, s (it waits while the face cannot be measured between
        movements, and while paused).
    phase : str
        ``settle`` (before the first movement), ``move`` (reach the movement), ``hold``,
        ``release``, ``rest`` (between movements), ``paused`` or ``done``.
    movement : str or None
        The movement being prompted (in ``move``, ``hold``, ``release``) or next.
    title, detail : str
        The prompt and its countdown, in words.
    travel_mm : dict or None
        Each side's travel now from its own rest before this movement, mm (patient's sides).
    bars : dict or None
        ``travel_mm`` on a common scale for display (0 = rest, 1 = the larger of both sides'
        best so far in this movement, at least :data:`BAR_FULL_MM`); held between movements.
    warning : str or None
        Why the face cannot be measured now (see :func:`face_warning`).
    held : dict
        Per completed movement (performance ``movement`` or ``movement#rep``): each side's
        median travel while held, mm.
    done : bool
        The script has ended (or the session was stopped).
    """

    t_s: float
    script_t: float
    phase: str
    movement: str | None
    title: str
    detail: str
    travel_mm: dict[str, float] | None
    bars: dict[str, float] | None
    warning: str | None
    held: dict[str, dict[str, float]]
    done: bool


@dataclass
class SessionResult:
    out_dir: Path
    analysis: Analysis
    session_id: int
    completed: list[Segment]
    ended_early: str | None


def display_problem(environ: dict | None = None) -> str | None:
    """Why no window can be shown here, in one line naming what to do, or None.

    On Linux a window needs an X or Wayland display; without one OpenCV's window library
    aborts the whole process, so this is checked before the session starts.
    """
    environ = os.environ if environ is None else environ
    if not sys.platform.startswith("linux") or environ.get("QT_QPA_PLATFORM"):
        return None
    display, wayland = environ.get("DISPLAY"), environ.get("WAYLAND_DISPLAY")
    hint = ("run it in a desktop session, or under a virtual display (install Xvfb and run "
            "'xvfb-run facescore session ...'), or add --no-window")
    if not display and not wayland:
        return f"the session window needs a display and none is set ($DISPLAY is empty): {hint}"
    local = re.fullmatch(r"(?:unix)?:(\d+)(?:\.\d+)?", display or "")
    if local and not wayland and not os.path.exists(f"/tmp/.X11-unix/X{local.group(1)}"):
        return f"no X server answers at $DISPLAY={display}: {hint}"
    return None


class Display:
    """The HighGUI window: mirrored preview, prompt, countdown, hold timer, per-side bars.

    Raises
    ------
    FacescoreError
        When there is no display, or OpenCV was built without windows (a headless build).
    """

    NAME = "facescore session"

    def __init__(self) -> None:
        problem = display_problem()
        if problem:
            raise FacescoreError(problem)
        try:
            cv2.namedWindow(self.NAME, cv2.WINDOW_NORMAL)
        except cv2.error:
            raise FacescoreError("this OpenCV cannot show windows (a headless build): install "
                                 "opencv-contrib-python, or add --no-window") from None

    @staticmethod
    def compose(rgb: np.ndarray, title: str, detail: str, bars: dict[str, float] | None,
                warning: str | None) -> np.ndarray:
        """The picture shown to the user (BGR): a mirror image, as people expect of a webcam."""
        view = cv2.cvtColor(np.ascontiguousarray(rgb[:, ::-1]), cv2.COLOR_RGB2BGR)
        scale = 720 / max(view.shape[:2])
        view = cv2.resize(view, None, fx=scale, fy=scale)
        h, w = view.shape[:2]
        cv2.rectangle(view, (0, 0), (w, 70), (40, 40, 40), -1)
        cv2.putText(view, title, (12, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
        cv2.putText(view, detail, (12, 58), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (200, 200, 200), 1)
        if bars:
            # In the mirror image the patient's left is on the screen's left.
            for i, (side, colour) in enumerate((("left", (180, 119, 31)), ("right",
                                                                         (40, 39, 214)))):
                x0 = 20 if side == "left" else w - 60
                level = float(np.clip(bars.get(side, 0.0), 0, 1.2))
                top = int(h - 30 - level / 1.2 * (h - 140))
                cv2.rectangle(view, (x0, 100), (x0 + 40, h - 30), (90, 90, 90), 2)
                cv2.rectangle(view, (x0, top), (x0 + 40, h - 30), colour, -1)
                cv2.putText(view, f"your {side}", (x0 - 10 if i else x0, h - 10),
                            cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
        if warning:
            cv2.rectangle(view, (0, h // 2 - 25), (w, h // 2 + 15), (0, 0, 160), -1)
            cv2.putText(view, warning, (12, h // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.7,
                        (255, 255, 255), 2)
        cv2.putText(view, "p pause  s skip  q quit", (w - 230, 90), cv2.FONT_HERSHEY_SIMPLEX,
                    0.45, (230, 230, 230), 1)
        return view

    def show(self, picture: np.ndarray) -> str | None:
        cv2.imshow(self.NAME, picture)
        key = cv2.waitKey(1) & 0xFF
        return {ord("p"): "pause", ord("s"): "skip", ord("q"): "quit", 27: "quit"}.get(key)

    def close(self) -> None:
        cv2.destroyWindow(self.NAME)


class LiveSession:
    """The guided session's logic, fed one frame at a time by whatever shows it.

    Prompts the exam's movements on the script of :func:`facescore.phantom.exam_schedule`,
    measures every frame with the same pipeline as ``analyze``
    (:class:`facescore.pipeline.FrameMeasurer`), and says after each frame what to show
    (:class:`LiveState`): the prompt and each side's travel from its own rest. At the end,
    :meth:`analyse` scores the prompted movements as ``analyze`` scores movements given by
    hand. The terminal's window (:func:`run_session`) and the app's exercise page are thin
    drivers of this class.

    Parameters
    ----------
    order : sequence of str
        Movements to prompt, in order.
    reps : int
        Repetitions of the whole script.
    timing : Timing
        The script's phases, s.
    """

    def __init__(self, order: Sequence[str] = MOVEMENTS, reps: int = 1,
                 timing: Timing = SESSION_TIMING) -> None:
        if reps < 1:
            raise FacescoreError(f"--reps {reps}: must be 1 or more")
        performances, self.duration_s = exam_schedule(order, reps, timing)
        self.prompts = [PromptState(p) for p in performances]
        self.measurer = FrameMeasurer()
        self.script_t = 0.0
        self.paused = False
        self.ended_early: str | None = None
        self.n_frames = 0
        self._previous_t: float | None = None
        self._recent: deque[tuple[float, dict]] = deque()  # rows of the last REST_WINDOW_S
        self._iris: deque[float] = deque(maxlen=IRIS_FRAMES)
        self._best = {m: dict.fromkeys(SIDES, 0.0) for m in MOVEMENTS}
        self._bars: dict[str, float] | None = None
        self._travel: dict[str, float] | None = None

    @property
    def done(self) -> bool:
        return self.ended_early is not None or self.script_t >= self.duration_s

    def add(self, frame: Frame, face) -> LiveState:
        """Measure one frame (``face`` from :class:`facescore.landmarks.FaceTracker`, None
        without one) and move the script on by the frame's time step."""
        row = self.measurer.add(frame, face)
        self.n_frames += 1
        if row.get("face_found") and np.isfinite(row.get("iris_px", np.nan)):
            self._iris.append(row["iris_px"])
        self._recent.append((frame.t_s, row))
        while self._recent and self._recent[0][0] < frame.t_s - REST_WINDOW_S:
            self._recent.popleft()
        warning = face_warning(row, frame)
        step = 0.0 if self._previous_t is None else max(frame.t_s - self._previous_t, 0.0)
        self._previous_t = frame.t_s
        if not self.done:
            active = self._active()
            # Between movements the script waits for the user to be measurable again.
            if not self.paused and (active is not None or warning is None):
                self.script_t += step
            self._update_prompts(frame, row)
        return self.state(frame.t_s, warning)

    def state(self, t_s: float = 0.0, warning: str | None = None) -> LiveState:
        """What to show now (see :class:`LiveState`)."""
        phase, movement = self._phase()
        title, detail = _texts(self.prompts, self.script_t, self.paused)
        if self.done:
            title, detail = "Done", "well done - measuring your session"
        held = {}
        for p in self.prompts:
            values = p.held() if p.ended_t is not None and not p.skipped else None
            if values is not None:
                key = p.performance.movement + ("" if p.performance.rep == 1
                                                else f"#{p.performance.rep}")
                held[key] = values
        return LiveState(t_s, self.script_t, phase, movement, title, detail, self._travel,
                         self._bars, warning, held, self.done)

    def toggle_pause(self) -> None:
        self.paused = not self.paused

    def skip(self) -> None:
        """Skip the current (or next) movement."""
        self.script_t = _skip(self.prompts, self.script_t)

    def stop(self, reason: str = "stopped by the user") -> None:
        """End early, keeping the completed movements."""
        if not self.done:
            self.ended_early = reason

    def completed(self) -> list[Segment]:
        """The prompted movements that ran to their end, as segments in frame time."""
        return [Segment(p.started_t, p.ended_t + RELEASE_MARGIN_S - p.started_t,
                        p.performance.movement, p.performance.rep, source="session prompt")
                for p in self.prompts if p.ended_t is not None and not p.skipped]

    def analyse(self, info: SourceInfo, max_faces: int) -> Analysis:
        """Score the completed movements with the same analysis as ``analyze``.

        Raises
        ------
        FacescoreError
            When no movement was completed.
        """
        completed = self.completed()
        if not completed:
            raise FacescoreError(f"no movement was completed "
                                 f"({self.ended_early or 'nothing prompted'})")
        measurement = self.measurer.finish(info, max_faces)
        return analyze_measurement(measurement, completed, segments_source="session prompts")

    def frame_lookup(self):
        """Key-frame pictures for the report (see :func:`_frame_lookup`)."""
        return _frame_lookup(self.prompts)

    # ------------------------------------------------------------------ internals
    def _active(self) -> PromptState | None:
        return next((p for p in self.prompts if p.performance.start_s <= self.script_t
                     < p.performance.end_s and not p.skipped), None)

    def _phase(self) -> tuple[str, str | None]:
        if self.done:
            return "done", None
        if self.paused:
            return "paused", None
        upcoming = [p for p in self.prompts if not p.skipped
                    and self.script_t < p.performance.end_s]
        if not upcoming:
            return "done", None
        perf = upcoming[0].performance
        t = self.script_t
        if t < perf.start_s:
            first = upcoming[0] is self.prompts[0] or all(
                q.skipped for q in self.prompts[:self.prompts.index(upcoming[0])])
            return ("settle" if first else "rest"), perf.movement
        phase = "move" if t < perf.peak_start_s else "hold" if t < perf.peak_end_s \
            else "release"
        return phase, perf.movement

    def _mm_per_px(self) -> float:
        return mm_per_px(np.fromiter(self._iris, float)) if self._iris else float("nan")

    def _rest_level(self, movement: str, side: str) -> float:
        """A side's activation at rest just before a prompt: the median over the last
        :data:`REST_WINDOW_S` (one frame alone carries the frame-to-frame noise)."""
        values = [_raw_activation(row, movement, side) for _, row in self._recent]
        values = [v for v in values if np.isfinite(v)]
        return float(np.median(values)) if values else float("nan")

    def _update_prompts(self, frame: Frame, row: dict) -> None:
        """Record when prompts start and end (in frame time), keep their key frames and the
        held travel, and set the live bars."""
        scale = self._mm_per_px()
        for p in self.prompts:
            perf = p.performance
            movement = perf.movement
            if p.skipped:
                continue
            if p.started_t is None:
                if self.script_t >= perf.start_s:
                    p.started_t = frame.t_s
                    p.baseline = {s: self._rest_level(movement, s) for s in SIDES}
                    self._best[movement] = dict.fromkeys(SIDES, 0.0)
                else:
                    if self.script_t >= perf.start_s - 0.5:
                        p.rest_frame = frame.rgb
                    continue
            if p.ended_t is None:
                if self.script_t >= perf.end_s:
                    p.ended_t = frame.t_s
                travel = {s: (_raw_activation(row, movement, s) - p.baseline.get(s, np.nan))
                          * scale for s in SIDES}
                strongest = np.nanmax([travel["left"], travel["right"], -np.inf])
                if strongest > p.best_frame[0]:
                    p.best_frame = (strongest, frame.rgb)
                if perf.peak_start_s <= self.script_t < perf.peak_end_s:
                    for side in SIDES:
                        p.held_mm[side].append(travel[side])
                best = self._best[movement]
                for side, value in travel.items():
                    if np.isfinite(value):
                        best[side] = max(best[side], value)
                full = max(best["left"], best["right"], BAR_FULL_MM)
                self._travel = travel
                # The bars stay up between movements, showing the last one's result.
                self._bars = {s: float(np.clip(travel[s] / full, 0.0, 1.0))
                              if np.isfinite(travel[s]) else 0.0 for s in SIDES}


def save_session(analysis: Analysis, label: str, out_dir: Path, profile: str,
                 db: str | Path | None, frame_source=None,
                 video: Path | None = None) -> int:
    """Write a session's report into ``out_dir`` (whole or not at all) and add its movements
    to the history; returns the session's id in the history."""
    from .report import write_outputs

    try:
        write_outputs(analysis, label, out_dir, frame_source=frame_source)
        if video is not None:
            video.replace(out_dir / "session.mp4")
    except BaseException:
        if video is not None:
            video.unlink(missing_ok=True)
        raise
    connection = history.connect(db)
    try:
        return history.record_session(connection, profile, analysis.summary,
                                      str(out_dir / "report.html"), label)
    finally:
        connection.close()


def run_session(camera: int | str | Path = 0, profile: str = "default", reps: int = 1,
                order: Sequence[str] = MOVEMENTS, out_dir: str | Path | None = None,
                db: str | Path | None = None, save_video: bool = False, window: bool = True,
                fast: bool = False, timing: Timing = SESSION_TIMING) -> SessionResult:
    """Run one guided session from a camera (or a video played as one) and record it.

    Parameters
    ----------
    camera : int, str or Path
        A camera index, or a video file played as if it were a live camera (at real-time pace
        unless ``fast``).
    profile : str
        Whose history the session goes into.
    out_dir : str or Path, optional
        Where the report goes (default: ``<history folder>/sessions/<profile>/<time>``).
    save_video : bool
        Also keep the recording (``session.mp4``); by default no video is stored.
    window : bool
        Show the guiding window (False: run headless).
    """
    live = LiveSession(order, reps, timing)
    out_dir = Path(out_dir) if out_dir else session_folder(profile, db)
    # Where the outputs go, then the window: refused before the camera is opened.
    check_output_folder(out_dir, "report folder")
    check_output_file(Path(db) if db else history.default_path(), "history database")
    display = Display() if window else None
    try:
        if isinstance(camera, int) or str(camera).isdigit():
            source = CameraSource(int(camera))
            label, is_camera = f"camera {camera}", True
        else:
            source = VideoSource(camera, max_side=WORKING_MAX_SIDE)
            label, is_camera = str(camera), False
    except BaseException:
        if display is not None:
            display.close()
        raise
    writer = None
    wall_start = time.monotonic()
    try:
        with source, FaceTracker() as tracker:
            for frame in source:
                if not is_camera and not fast:  # play the file at the pace it was recorded
                    delay = frame.t_s - (time.monotonic() - wall_start)
                    if delay > 0:
                        time.sleep(delay)
                state = live.add(frame, tracker.track(frame))
                if save_video:
                    writer = writer or _VideoWriter(out_dir.parent / f".{out_dir.name}.mp4",
                                                    frame.rgb.shape, source.info.fps)
                    writer.write(frame.rgb)
                if state.done:
                    break
                if display is not None:
                    key = display.show(Display.compose(frame.rgb, state.title, state.detail,
                                                       state.bars, state.warning))
                    if key == "pause":
                        live.toggle_pause()
                    elif key == "skip":
                        live.skip()
                    elif key == "quit":
                        live.stop()
                        break
            else:
                if any(p.ended_t is None and not p.skipped for p in live.prompts):
                    live.stop("the camera stopped" if is_camera else "the video ended")
            max_faces = tracker.n_faces_seen
    except BaseException:
        # Stopped (Ctrl-C, SIGTERM) or failed: nothing is recorded, and the recording so far
        # is not kept.
        if writer is not None:
            writer.close()
            writer.path.unlink(missing_ok=True)
            writer = None
        raise
    finally:
        if display is not None:
            display.close()
        if writer is not None:
            writer.close()
    video = writer.path if writer is not None else None
    try:
        analysis = live.analyse(source.info, max_faces)
    except BaseException:
        if video is not None:
            video.unlink(missing_ok=True)
        raise
    session_id = save_session(analysis, label, out_dir, profile, db, live.frame_lookup(), video)
    return SessionResult(out_dir, analysis, session_id, live.completed(), live.ended_early)


def _texts(prompts: list[PromptState], script_t: float, paused: bool) -> tuple[str, str]:
    if paused:
        return "Paused", "press p to go on"
    for p in prompts:
        perf = p.performance
        if p.skipped or script_t >= perf.end_s:
            continue
        if script_t >= perf.start_s:
            if script_t < perf.peak_end_s:
                left = max(perf.peak_end_s - script_t, 0.0)
                return PROMPTS[perf.movement], f"hold... {left:.1f} s"
            return "Relax", "let your face go back to rest"
        return "Relax", f"next: {PROMPTS[perf.movement].lower()} in {perf.start_s - script_t:.0f} s"
    return "Done", "well done - writing your report"


def _skip(prompts: list[PromptState], script_t: float) -> float:
    """Skip the current (or next) movement; returns the script time to continue from."""
    for p in prompts:
        if not p.skipped and script_t < p.performance.end_s:
            p.skipped = True
            return max(script_t, p.performance.end_s)
    return script_t


def _frame_lookup(prompts: list[PromptState]):
    """Key-frame pictures for the report from what the session kept: rest and peak per
    movement's first performance (``write_outputs`` asks by time)."""
    kept: list[tuple[float, np.ndarray]] = []
    for p in prompts:
        if p.started_t is not None and p.rest_frame is not None:
            kept.append((p.started_t - 0.1, p.rest_frame))
        if p.best_frame[1] is not None and p.started_t is not None:
            kept.append(((p.started_t + (p.ended_t or p.started_t)) / 2, p.best_frame[1]))

    def lookup(t: float):
        if not kept:
            return None
        return min(kept, key=lambda item: abs(item[0] - t))[1]

    return lookup


class _VideoWriter:
    """H.264 recording of the session (only when the user asked for it)."""

    def __init__(self, path: Path, shape: tuple[int, ...], fps: float):
        import av

        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._container = av.open(str(path), "w")
        self._stream = self._container.add_stream("libx264", rate=round(fps or 30))
        self._stream.height, self._stream.width = shape[0] // 2 * 2, shape[1] // 2 * 2
        self._stream.pix_fmt = "yuv420p"

    def write(self, rgb: np.ndarray) -> None:
        import av

        h, w = self._stream.height, self._stream.width
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[:h, :w]), format="rgb24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()

