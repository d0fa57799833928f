"""Mirrored half-faces against facescore's own measure, on ground-truth phantoms.

The "mirrored half-face" method (SplitFace's idea) measures each side on a composite face made
of that side only: the patient's left half plus its mirror image across the facial midline (the
LEFT composite), and likewise for the right. The landmark model then sees a symmetric face, so
its pull toward symmetry cannot lend one side's movement to the other.

How it is done here, per phantom video:

1. Midline. In the first frame, through the mean of the nasal-ridge landmarks
   (:data:`facescore.anatomy.NASAL_RIDGE`), perpendicular to the line joining the eye centres
   (means of :data:`~facescore.anatomy.EYE_CORNERS`), both from facescore's own per-frame
   landmark run (:meth:`FaceTracker.track`). ``--midline tracked`` (default) carries it to every
   later frame with the head's rigid motion: a similarity fitted between the first frame's and
   this frame's NASAL_RIDGE + EYE_CORNERS landmarks. ``--midline fixed`` keeps the first frame's
   line. ``--midline truth`` (diagnostic) takes the phantom's own midline in every frame: the
   method's ceiling with a perfect midline.
2. Composites. The frame is reflected across the midline (``cv2.warpAffine``); each composite
   takes its side from the original and the other side from the reflection.
3. Landmarks. :meth:`FaceTracker.search` on each composite (IMAGE mode, whole picture, no
   temporal filtering).
4. Signals, per side and frame (:func:`side_positions`): brow lift (mean BROW up), upper-lid
   drop (mean upper point of LID_CENTRE_PAIRS, down), mouth-corner travel out and up (scored at
   45 deg), brow descent for the frown, relative to the first frame, in mm (px times
   facescore's iris calibration of the video). Readings (:data:`READINGS`):

   - ``mirror``: the landmarks MediaPipe names for the composite's own side (in the LEFT
     composite the patient-left ones, which lie on the original half), in the composite's head
     axes: the eye line (eye centres) is "across", its perpendicular "up", the nasal-ridge mean
     the origin, the eye-centre distance the unit (times the original frames' median);
   - ``mirror_both``: the mean of both sides' readings of the composite (the mirrored side's,
     un-mirrored: the signals are mirror-symmetric, so that is the lateral sign);
   - ``mirror_both_mid``: as ``mirror_both`` but in the mirror line's own axes;
   - ``mirror_both_sg``: ``mirror_both`` smoothed as facescore smooths its flow signals.

5. Excursion and ratio exactly as facescore's landmark cross-check: the signals are written in
   the per-frame table's ``*_lm_mm_<side>`` columns and given to
   :func:`facescore.validation.compare_with_truth` (the travel's maximum, or the quantile
   ``facescore.scores.PEAK_QUANTILE``, over the performance minus the median of the 0.4 s before
   it; ratio = right / left).

facescore's ``flow`` (its prior-free measure) and ``landmarks`` (raw landmarks, one run on the
whole face) come from :func:`facescore.pipeline.measure_video` on the same video.

Phantoms: right side gain g in {1, 0.5, 0} (left normal) on scikit-image's astronaut and on
../shared/data/neutral.jpeg (when present), 480x480; cached in benchmarks/.cache/mirror/.

Printed: one row per face x movement x gain (true ratio and each method's ratio), the worst
|ratio - true| and the worst frozen-side (g = 0) reading per method, composite failures, and the
time per frame of the composites against one landmark run. The whole table is also written
to benchmarks/.cache/mirror/results_<midline>.csv, and a picture of each video's composites at
its smile's peak beside it (snapshot_*.png). About 6 min on 2 cores.

    cd /work/main && .venv/bin/python benchmarks/mirrored_halves.py \\
        [--midline tracked|fixed|truth] [--gains 1 .5 0]
"""

from __future__ import annotations

import argparse
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from PIL import Image

from facescore import geometry, scores, signals
from facescore import phantom as phantom_module
from facescore.anatomy import BROW, EYE_CORNERS, LID_CENTRE_PAIRS, MOUTH_CORNER, NASAL_RIDGE, SIDES
from facescore.landmarks import FaceTracker, choose_face
from facescore.phantom import astronaut, generate, right_weak
from facescore.pipeline import measure_video
from facescore.sources import open_source
from facescore.validation import compare_with_truth, load_truth

CACHE = Path(__file__).resolve().parent / ".cache" / "mirror"
SHARED_FACE = Path(__file__).resolve().parents[2] / "shared" / "data" / "neutral.jpeg"
SIZE = (480, 480)
RIGID_POINTS = [*NASAL_RIDGE, *EYE_CORNERS["right"], *EYE_CORNERS["left"]]
#: Frames of the first video over which the per-frame costs are timed.
TIMING_FRAMES = 90


# --- phantoms ------------------------------------------------------------------------------------

def faces():
    """(label, photo, photo name) of each base face."""
    yield "astronaut", *astronaut()
    if SHARED_FACE.exists():
        photo = np.asarray(Image.open(SHARED_FACE).convert("RGB"))
        yield "neutral.jpeg", photo, "shared/data/neutral.jpeg"


def phantom(label: str, photo: np.ndarray, name: str, gain: float) -> tuple[Path, dict]:
    """The right-weak phantom of one face and gain (generated once, then read from the cache)."""
    video = CACHE / f"{label.replace('.', '_')}_g{gain:g}.mp4"
    if video.exists() and Path(f"{video}.truth.json").exists():
        return video, load_truth(video)
    made = generate(video, right_weak(gain, size=SIZE), photo=photo, photo_name=name)
    return made.video, made.truth


# --- the midline and the composites --------------------------------------------------------------

@dataclass(frozen=True)
class Midline:
    """The facial midline in frame px: a point on it and unit vectors along and across it."""

    point: np.ndarray  # (2,)
    up: np.ndarray  # (2,) toward the top of the head (image y grows downward)
    scale: float = 1.0  # the head's size relative to the first frame

    @property
    def to_left(self) -> np.ndarray:
        """Unit vector across the line toward the patient's left (the image right)."""
        return np.array([-self.up[1], self.up[0]])

    def reflection(self) -> np.ndarray:
        """(2, 3) affine reflecting the picture across this line."""
        linear = 2.0 * np.outer(self.up, self.up) - np.eye(2)
        return np.hstack([linear, (self.point - linear @ self.point)[:, None]])

    def moved(self, similarity: np.ndarray) -> Midline:
        """The line carried by a (2, 3) similarity."""
        up = similarity[:, :2] @ self.up
        scale = float(np.linalg.norm(up))
        return Midline(geometry.apply_affine(similarity, self.point[None])[0], up / scale,
                       self.scale * scale)


def eye_centres(points: np.ndarray) -> dict[str, np.ndarray]:
    """Each side's eye centre (mean of its two corners), frame px."""
    return {side: points[list(EYE_CORNERS[side]), :2].mean(axis=0) for side in SIDES}


def midline_from(points: np.ndarray) -> Midline:
    """Through the nasal-ridge mean, perpendicular to the line joining the eye centres."""
    eyes = eye_centres(points)
    to_left = eyes["left"] - eyes["right"]
    to_left /= np.linalg.norm(to_left)
    return Midline(points[list(NASAL_RIDGE), :2].mean(axis=0), np.array([to_left[1], -to_left[0]]))


def composites(rgb: np.ndarray, midline: Midline) -> dict[str, np.ndarray]:
    """The LEFT and RIGHT composite faces: each side of the line plus its mirror image."""
    height, width = rgb.shape[:2]
    mirrored = cv2.warpAffine(rgb, midline.reflection(), (width, height), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
    ys, xs = np.mgrid[0:height, 0:width]
    to_left = midline.to_left
    across = (xs - midline.point[0]) * to_left[0] + (ys - midline.point[1]) * to_left[1]
    on_left = (across > 0)[..., None]
    return {"left": np.where(on_left, rgb, mirrored), "right": np.where(on_left, mirrored, rgb)}


# --- readings of one side on its composite ------------------------------------------------------

@dataclass(frozen=True)
class Reading:
    """One way of turning a side's composite landmarks into its movement signals.

    Attributes
    ----------
    both_sides : bool
        Average the side's own landmarks with the mirrored side's, un-mirrored (else own only).
    axes : {"eyeline", "midline"}
        Head axes from the composite's landmarks (eye line across, nasal-ridge mean as origin,
        eye-centre distance as unit), or from the mirror line itself (exact in the composite;
        its scale from the rigid fit).
    smoothed : bool
        Smooth the signals as facescore smooths its flow signals (Savitzky-Golay,
        :data:`facescore.signals.SMOOTH_S`); facescore's landmark cross-check is not smoothed.
    """

    both_sides: bool = False
    axes: str = "eyeline"
    smoothed: bool = False


READINGS = {
    "mirror": Reading(),
    "mirror_both": Reading(both_sides=True),
    "mirror_both_mid": Reading(both_sides=True, axes="midline"),
    "mirror_both_sg": Reading(both_sides=True, smoothed=True),
}


def eyeline_axes(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Origin, upward unit vector and unit length (px) of a picture's landmark head axes."""
    eyes = eye_centres(points)
    across = eyes["left"] - eyes["right"]
    iod = float(np.linalg.norm(across))
    to_left = across / iod
    return points[list(NASAL_RIDGE), :2].mean(axis=0), np.array([to_left[1], -to_left[0]]), iod


def side_positions(points: np.ndarray, side: str, origin: np.ndarray, up: np.ndarray,
                   unit: float) -> np.ndarray:
    """One side's brow height, upper-lid height, mouth-corner lateral and height, in units of
    ``unit`` px along the head axes (``up``; across it toward the patient's left)."""
    to_left = np.array([-up[1], up[0]])
    rel = (points[:, :2] - origin) / unit
    x, y = rel @ to_left, rel @ up
    outward = 1.0 if side == "left" else -1.0
    upper = [u for u, _ in LID_CENTRE_PAIRS[side]]
    corner = MOUTH_CORNER[side]
    return np.array([y[list(BROW[side])].mean(), y[upper].mean(), outward * x[corner], y[corner]])


def read_side(points: np.ndarray, line: Midline, side: str, reading: Reading,
              iod_px: float) -> np.ndarray:
    """(4,) positions of ``side`` on its own composite, px of the first frame's scale."""
    if reading.axes == "midline":
        origin, up, unit, to_px = line.point, line.up, line.scale, 1.0
    else:
        (origin, up, unit), to_px = eyeline_axes(points), iod_px
    sides = SIDES if reading.both_sides else (side,)
    return to_px * np.mean([side_positions(points, s, origin, up, unit) for s in sides], axis=0)


def signal_columns(positions: np.ndarray, side: str, mm_per_px: float, t_s: np.ndarray,
                   smoothed: bool) -> dict[str, np.ndarray]:
    """(T, 4) positions, px → facescore's landmark columns of one side, mm from the first
    frame (``*_lm_mm_<side>``: brow_lift, lid_drop, mouth_out, mouth_up)."""
    found = np.isfinite(positions[:, 0])
    reference = positions[np.argmax(found)] if found.any() else np.zeros(4)
    moved = (positions - reference) * mm_per_px
    columns = {"brow_lift": moved[:, 0], "lid_drop": -moved[:, 1], "mouth_out": moved[:, 2],
               "mouth_up": moved[:, 3]}
    if smoothed:
        groups = np.zeros(len(t_s), int)
        columns = {name: signals.smooth(v, groups, t_s, signals.SMOOTH_S[name])
                   for name, v in columns.items()}
    return {f"{name}_lm_mm_{side}": v for name, v in columns.items()}


# --- one video -----------------------------------------------------------------------------------

@dataclass
class CompositeRun:
    """What the composites gave over one video."""

    t_s: np.ndarray
    lines: list[Midline]
    points: dict[str, list[np.ndarray | None]]  # side → per frame, its composite's landmarks
    iod_px: float  # median eye-centre distance in the original frames
    crowded: dict[str, int]  # side → frames whose composite gave more than one face
    no_face: int  # frames where facescore's own run found no face (skipped)

    def missed(self, side: str) -> int:
        """Frames whose ``side`` composite had no face."""
        return sum(p is None for p in self.points[side])


def best_face(tracker: FaceTracker, rgb: np.ndarray):
    """The face search() finds on a whole picture, and how many it found (None, 0 if none)."""
    found = tracker.search(rgb)
    if not found:
        return None, 0
    return choose_face(found, rgb.shape[1], rgb.shape[0]), len(found)


#: Places the midline in a frame: (frame time s, facescore's landmarks of the frame) → line.
Placer = Callable[[float, np.ndarray], Midline]


def tracked_placer() -> Placer:
    """The first frame's line carried by a similarity fitted to the rigid landmarks."""
    first: list = []

    def place(t_s: float, points: np.ndarray) -> Midline:
        rigid = points[RIGID_POINTS, :2]
        if not first:
            first.extend([rigid, midline_from(points)])
        return first[1].moved(geometry.similarity_fit(first[0], rigid))
    return place


def fixed_placer() -> Placer:
    """The first frame's line, kept."""
    first: list[Midline] = []

    def place(t_s: float, points: np.ndarray) -> Midline:
        if not first:
            first.append(midline_from(points))
        return first[0]
    return place


def truth_placer(photo: np.ndarray, name: str, spec: phantom_module.PhantomSpec) -> Placer:
    """The phantom's own midline (diagnostic: the method's ceiling with a perfect midline).

    The base face's nasal midline and upward axis carried by the phantom's placement and sway
    (which uses the phantom module's private ``_placement`` and ``_sway``).
    """
    face = phantom_module.load_base_face(photo, name)
    placement = np.vstack([phantom_module._placement(face, spec), [0, 0, 1]])
    centre = geometry.apply_affine(placement[:2], face.points.mean(axis=0)[None])[0]

    def at(t_s: float) -> tuple[np.ndarray, np.ndarray]:
        output = (np.vstack([phantom_module._sway(spec, t_s, centre), [0, 0, 1]]) @ placement)[:2]
        return geometry.apply_affine(output, face.origin[None])[0], output[:, :2] @ face.up

    first_scale = float(np.linalg.norm(at(0.0)[1]))

    def place(t_s: float, points: np.ndarray) -> Midline:
        point, up = at(t_s)
        scale = float(np.linalg.norm(up))
        return Midline(point, up / scale, scale / first_scale)
    return place


def placer(mode: str, photo: np.ndarray, name: str, gain: float) -> Placer:
    """The midline placer of ``--midline`` for one phantom."""
    if mode == "truth":
        return truth_placer(photo, name, right_weak(gain, size=SIZE))
    return tracked_placer() if mode == "tracked" else fixed_placer()


def run_composites(video: Path, place: Placer, snapshot_s: float | None = None,
                   snapshot_path: Path | None = None) -> CompositeRun:
    """Build both composites of every frame and find the landmarks on each."""
    times, lines, iods = [], [], []
    points = {side: [] for side in SIDES}
    crowded, no_face = dict.fromkeys(SIDES, 0), 0
    with FaceTracker(blendshapes=False) as tracker, open_source(video) as frames:
        for frame in frames:
            face = tracker.track(frame)  # facescore's own per-frame landmark run
            if face is None:
                no_face += 1
                continue
            eyes = eye_centres(face.points)
            iods.append(np.linalg.norm(eyes["left"] - eyes["right"]))
            line = place(frame.t_s, face.points)
            pictures = composites(frame.rgb, line)
            if snapshot_path is not None and snapshot_s is not None and frame.t_s >= snapshot_s:
                save_snapshot(snapshot_path, frame.rgb, pictures, line)
                snapshot_s = None
            times.append(frame.t_s)
            lines.append(line)
            for side in SIDES:
                found, count = best_face(tracker, pictures[side])
                crowded[side] += count > 1
                points[side].append(None if found is None else found.points)
    return CompositeRun(np.array(times), lines, points, float(np.median(iods)), crowded, no_face)


def save_snapshot(path: Path, rgb: np.ndarray, pictures: dict[str, np.ndarray],
                  line: Midline) -> None:
    """Original (with the midline drawn) | LEFT composite | RIGHT composite, as one PNG."""
    drawn = rgb.copy()
    a, b = line.point + 300 * line.up, line.point - 300 * line.up
    cv2.line(drawn, tuple(np.round(a).astype(int)), tuple(np.round(b).astype(int)), (255, 0, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.hstack([drawn, pictures["left"], pictures["right"]])).save(path)


def composite_table(run: CompositeRun, reading: Reading, mm_per_px: float) -> pd.DataFrame:
    """A per-frame table in facescore's landmark-column schema: the left side read on the LEFT
    composite, the right on the RIGHT one."""
    columns = {"t_s": run.t_s, "face_found": np.ones(len(run.t_s), bool)}
    for side in SIDES:
        positions = np.array([np.full(4, np.nan) if p is None
                              else read_side(p, line, side, reading, run.iod_px)
                              for p, line in zip(run.points[side], run.lines, strict=True)])
        columns.update(signal_columns(positions, side, mm_per_px, run.t_s, reading.smoothed))
    return pd.DataFrame(columns)


def measure(video: Path, truth: dict, place: Placer, snapshot: Path | None) -> tuple[
        pd.DataFrame, CompositeRun]:
    """All methods' per-performance ratios on one video."""
    measurement = measure_video(video)
    results = [compare_with_truth(measurement.frames, truth)]
    peak = next(p["peak_s"] for p in truth["performances"] if p["movement"] == "smile")
    run = run_composites(video, place, peak, snapshot)
    for name, reading in READINGS.items():
        table = composite_table(run, reading, measurement.calibration.mm_per_px)
        ratios = compare_with_truth(table, truth, methods=("landmarks",))
        ratios["method"] = name
        results.append(ratios)
    return pd.concat(results, ignore_index=True), run


# --- timing --------------------------------------------------------------------------------------

def time_per_frame(video: Path, n_frames: int = TIMING_FRAMES) -> dict[str, float]:
    """Mean cost per frame, ms: facescore's one landmark run, and the composites' extras."""
    costs = {"one run: FaceTracker.track (frame)": [], "build both composites": [],
             "search() on both composites": [], "track() on both composites": []}
    trackers = {side: FaceTracker(blendshapes=False) for side in SIDES}
    line = None
    with FaceTracker() as tracker, open_source(video) as frames:
        for i, frame in enumerate(frames):
            if i >= n_frames:
                break
            rgb = frame.rgb
            start = time.perf_counter()
            face = tracker.track(frame)
            costs["one run: FaceTracker.track (frame)"].append(time.perf_counter() - start)
            if face is None:
                continue
            if line is None:
                line = midline_from(face.points)
            start = time.perf_counter()
            pictures = composites(rgb, line)
            costs["build both composites"].append(time.perf_counter() - start)
            start = time.perf_counter()
            for side in SIDES:
                tracker.search(pictures[side])
            costs["search() on both composites"].append(time.perf_counter() - start)
            start = time.perf_counter()
            for side in SIDES:
                trackers[side].track(type(frame).from_rgb(frame.index, frame.t_s, pictures[side]))
            costs["track() on both composites"].append(time.perf_counter() - start)
    for t in trackers.values():
        t.close()
    return {name: 1000 * float(np.mean(values[1:] or values)) for name, values in costs.items()}


# --- the report ----------------------------------------------------------------------------------

METHOD_ORDER = ("flow", "landmarks", *READINGS)


def _row(label: str, values: pd.Series, fmt: str = "{:17.3f}") -> str:
    return f"{label:28s}" + "".join(fmt.format(values[m]) for m in METHOD_ORDER)


def summarise(table: pd.DataFrame) -> str:
    """The per-case table, the worst cases per method, and the moving side's share read."""
    keys = ["face", "movement", "gain"]
    wide = table.pivot_table(index=keys, columns="method", values="ratio",
                             aggfunc="first")[list(METHOD_ORDER)]
    wide.insert(0, "true", table.groupby(keys)["true_ratio"].first())
    wide = wide.sort_index(level=keys, ascending=[True, True, False])
    error = wide[list(METHOD_ORDER)].sub(wide["true"], axis=0).abs()
    gains = wide.index.get_level_values("gain")
    lines = ["right/left excursion ratio", wide.round(3).to_string(), "",
             f"{'':28s}" + "".join(f"{m:>17s}" for m in METHOD_ORDER),
             _row("worst |ratio - true|", error.max()), _row("mean |ratio - true|", error.mean())]
    if (gains == 0).any():
        lines.append(_row("worst frozen side (g=0)", wide[gains == 0][list(METHOD_ORDER)].abs()
                          .max()))
    for m in METHOD_ORDER:
        worst = error[m].idxmax()
        lines.append(f"  {m}: worst case {worst[0]} {worst[1]} g={worst[2]:g} "
                     f"({wide.loc[worst, m]:.3f} vs {wide.loc[worst, 'true']:.3f})")
    share = table.assign(share=table["left_mm"] / table["true_left_mm"]).pivot_table(
        index="movement", columns="method", values="share", aggfunc="mean")[list(METHOD_ORDER)]
    lines += ["", "left (always normal) side: measured / true excursion, mean over faces and "
              "gains", share.round(2).to_string()]
    return "\n".join(lines)


def provenance() -> str:
    """The checkout's commit and the excursion rule in force (the package is being edited)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    quantile = getattr(scores, "PEAK_QUANTILE", 1.0)
    return f"commit {commit}; excursion = quantile {quantile:g} of the travel (1 = maximum)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gains", type=float, nargs="+", default=[1.0, 0.5, 0.0])
    parser.add_argument("--midline", choices=("tracked", "fixed", "truth"),
                        default="tracked")
    args = parser.parse_args()
    results, notes, first_video = [], [], None
    for label, photo, name in faces():
        for gain in args.gains:
            video, truth = phantom(label, photo, name, gain)
            first_video = first_video or video
            snapshot = CACHE / f"snapshot_{video.stem}_{args.midline}.png"
            place = placer(args.midline, photo, name, gain)
            table, run = measure(video, truth, place, snapshot)
            table.insert(0, "gain", gain)
            table.insert(0, "face", label)
            results.append(table)
            notes.append(f"{label} g={gain:g}: {len(run.t_s)} frames; composite without a face "
                         f"L {run.missed('left')} R {run.missed('right')}; more than one face "
                         f"L {run.crowded['left']} R {run.crowded['right']}; frames without a "
                         f"face in facescore's run {run.no_face}; snapshot {snapshot.name}")
    table = pd.concat(results, ignore_index=True)
    table.to_csv(CACHE / f"results_{args.midline}.csv", index=False)
    print(f"midline: {args.midline}; {provenance()}\n")
    print(summarise(table))
    print("\ncomposites:\n  " + "\n  ".join(notes))
    print(f"\ntime per frame, ms (first {TIMING_FRAMES} frames of {first_video.name}):")
    for name, ms in time_per_frame(first_video).items():
        print(f"  {name:40s} {ms:7.1f}")


if __name__ == "__main__":
    main()
