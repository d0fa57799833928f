"""A guided exercise session: prompts, live per-side feedback, then the usual report.

The session prompts the exam's movements on a fixed script (the same script a phantom performs,
:func:`facescore.phantom.exam_schedule`), measures every frame with the same pipeline as
``analyze`` (:class:`facescore.pipeline.FrameMeasurer`), shows each side's movement live as a bar
relative to that side's best, and at the end scores the prompted movements, writes the report
and adds one row per movement to the history. The preview is mirrored for the user; all
measurements stay anatomical.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from . import history
from .analysis import Analysis, analyze_measurement
from .errors import FacescoreError
from .landmarks import FaceTracker
from .outputs import check_output_file, check_output_folder
from .phantom import Performance, exam_schedule
from .pipeline import MIN_IOD_PX, WORKING_MAX_SIDE, FrameMeasurer
from .protocol import MOVEMENTS, PROMPTS, SESSION_TIMING, Timing
from .segments import Segment
from .sources import CameraSource, VideoSource

#: Movement still counted after the prompt's end: people release late.
RELEASE_MARGIN_S = 0.6
#: Mean brightness (0-255) of the face below which the light is too poor.
MIN_BRIGHTNESS = 45


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


def face_warning(row: dict, rgb: np.ndarray) -> str | None:
    """Why the face cannot be measured now, in words for the user, or None."""
    if not row.get("face_found"):
        return "Face not found - look at the camera"
    if row["iod_px"] < MIN_IOD_PX:
        return "Move closer to the camera"
    if not row["pose_ok"]:
        return "Face the camera straight on"
    if float(np.mean(rgb)) < MIN_BRIGHTNESS:
        return "Too dark - turn on more light"
    return None


@dataclass
class PromptState:
    """Where one prompted performance stands."""

    performance: Performance
    started_t: float | None = None  # frame time when the prompt began
    ended_t: float | None = None
    skipped: bool = False
    baseline: dict = field(default_factory=dict)  # side -> activation at the start, px
    best_frame: tuple[float, np.ndarray | None] = (-np.inf, None)
    rest_frame: np.ndarray | None = None


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


def profile_folder(profile: str) -> str:
    """A folder name for a profile: its letters, digits, "-" and "_" (at most 60), plus a
    hash of the whole name when anything was left out, so that no name can reach outside the
    sessions folder ("../..") or be too long for the file system."""
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", profile).strip("_")[:60]
    if safe != profile or not safe:
        digest = hashlib.sha1(profile.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        safe = f"{safe or 'profile'}-{digest}"
    return safe


def run_session(camera: int | str | Path = 0, profile: str = "default", reps: int = 1,
                order: Sequence[str] = MOVEMENTS, out_dir: str | Path | None = None,
                db: str | Path | None = None, save_video: bool = False, window: bool = True,
                fast: bool = False, timing: Timing = SESSION_TIMING) -> SessionResult:
    """Run one guided session and record it.

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
    if reps < 1:
        raise FacescoreError(f"--reps {reps}: must be 1 or more")
    performances, duration = exam_schedule(order, reps, timing)
    prompts = [PromptState(p) for p in performances]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_dir = Path(out_dir) if out_dir else \
        (Path(db).parent if db else history.default_path().parent) / "sessions" \
        / profile_folder(profile) / stamp
    # Where the outputs go, then the window: refused before the camera is opened.
    check_output_folder(out_dir, "report folder")
    check_output_file(Path(db) if db else history.default_path(), "history database")
    display = Display() if window else None
    try:
        if isinstance(camera, int) or str(camera).isdigit():
            source = CameraSource(int(camera))
            label, live = f"camera {camera}", True
        else:
            source = VideoSource(camera, max_side=WORKING_MAX_SIDE)
            label, live = str(camera), False
    except BaseException:
        if display is not None:
            display.close()
        raise
    measurer = FrameMeasurer()
    best = {m: {"left": 0.0, "right": 0.0} for m in MOVEMENTS}
    writer = None
    script_t, previous_t, paused, ended_early = 0.0, None, False, None
    bars: dict[str, float] | None = None
    wall_start = time.monotonic()
    try:
        with source, FaceTracker() as tracker:
            for frame in source:
                if not live and not fast:  # play the file at the pace it was recorded
                    delay = frame.t_s - (time.monotonic() - wall_start)
                    if delay > 0:
                        time.sleep(delay)
                face = tracker.track(frame)
                row = measurer.add(frame, face)
                if save_video:
                    writer = writer or _VideoWriter(out_dir.parent / f".{out_dir.name}.mp4",
                                                    frame.rgb.shape, source.info.fps)
                    writer.write(frame.rgb)
                warning = face_warning(row, frame.rgb)
                step = 0.0 if previous_t is None else frame.t_s - previous_t
                previous_t = frame.t_s
                active = next((p for p in prompts if p.performance.start_s <= script_t
                               < p.performance.end_s and not p.skipped), None)
                # Between movements the script waits for the user to be measurable again.
                if not paused and (active is not None or warning is None):
                    script_t += step
                # The bars stay up between movements, showing the last one's result.
                bars = _update_prompts(prompts, script_t, frame, row, best) or bars
                if script_t >= duration:
                    break
                if display is not None:
                    title, detail = _texts(prompts, script_t, paused)
                    key = display.show(Display.compose(frame.rgb, title, detail, bars, warning))
                    if key == "pause":
                        paused = not paused
                    elif key == "skip":
                        script_t = _skip(prompts, script_t)
                    elif key == "quit":
                        ended_early = "stopped by the user"
                        break
            else:
                if any(p.ended_t is None and not p.skipped for p in prompts):
                    ended_early = "the camera stopped" if live else "the video ended"
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
        completed = [Segment(p.started_t, p.ended_t + RELEASE_MARGIN_S - p.started_t,
                             p.performance.movement, p.performance.rep, source="session prompt")
                     for p in prompts if p.ended_t is not None and not p.skipped]
        if not completed:
            raise FacescoreError(f"no movement was completed "
                                 f"({ended_early or 'nothing prompted'})")
        measurement = measurer.finish(source.info, max_faces)
        analysis = analyze_measurement(measurement, completed, segments_source="session prompts")
        from .report import write_outputs

        write_outputs(analysis, label, out_dir, frame_source=_frame_lookup(prompts))
        if video is not None:
            video.replace(out_dir / "session.mp4")
    except BaseException:
        if video is not None:
            video.unlink(missing_ok=True)
        raise
    connection = history.connect(db)
    try:
        session_id = history.record_session(connection, profile, analysis.summary,
                                            str(out_dir / "report.html"), label)
    finally:
        connection.close()
    return SessionResult(out_dir, analysis, session_id, completed, ended_early)


def _update_prompts(prompts: list[PromptState], script_t: float, frame, row: dict,
                    best: dict) -> dict[str, float] | None:
    """Record when prompts start and end (in frame time), keep their key frames, and return
    the live bars: each side's travel relative to its best so far."""
    bars = None
    for p in prompts:
        movement = p.performance.movement
        if p.skipped:
            continue
        if p.started_t is None:
            if script_t >= p.performance.start_s:
                p.started_t = frame.t_s
                p.baseline = {s: _raw_activation(row, movement, s) for s in ("left", "right")}
            else:
                p.rest_frame = frame.rgb if script_t >= p.performance.start_s - 0.5 \
                    else p.rest_frame
                continue
        if p.ended_t is None:
            if script_t >= p.performance.end_s:
                p.ended_t = frame.t_s
            travel = {s: _raw_activation(row, movement, s) - p.baseline.get(s, np.nan)
                      for s in ("left", "right")}
            strongest = np.nanmax([travel["left"], travel["right"], -np.inf])
            if strongest > p.best_frame[0]:
                p.best_frame = (strongest, frame.rgb)
            for side, value in travel.items():
                if np.isfinite(value):
                    best[movement][side] = max(best[movement][side], value)
            bars = {s: (travel[s] / max(best[movement][s], 4.0)) if np.isfinite(travel[s])
                    else 0.0 for s in travel}
    return bars


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

