"""Source → landmarks → per-frame features: one pass over a recording, streamed.

:func:`measure_video` is the measurement core's public entry point. It reads one frame at a
time, so memory stays flat with video length; what it keeps is one small row of numbers a frame.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import features, geometry, model_schedule, signals
from .anatomy import IRIS_CENTRE, MARKED, SIDES
from .concurrency import prefetch
from .errors import FaceError
from .landmark_worker import LandmarkWorker, take_early, wants_landmark_process
from .landmarks import FaceTracker
from .motion import AnchoredTracker, FlowReading, group_signals, landmark_signals
from .sources import SourceInfo, open_source
from .table import to_table

#: Faces whose inter-ocular distance is below this (frame px) are flagged as too small.
MIN_IOD_PX = 30.0
#: Videos are decoded with their longer side bounded to this, px: the landmark model sees a
#: 256 px crop and the flow a face resampled to 100 px between the eyes, so a larger picture
#: only costs time. Up to 1080p frames are used as decoded (scaling them would cost more than
#: the few regions taken from them); 4K is scaled down in FFmpeg.
WORKING_MAX_SIDE = 1920


@dataclass(frozen=True)
class Calibration:
    """How pixels became millimetres."""

    mm_per_px: float
    iris_diameter_px: float
    method: str = (f"horizontal iris diameter = {geometry.IRIS_DIAMETER_MM} mm "
                   "(median over frames with a face)")


@dataclass
class Measurement:
    """Everything one pass over a recording produced.

    Attributes
    ----------
    frames : pandas.DataFrame
        The per-frame table (see :mod:`facescore.table`).
    info : SourceInfo
    calibration : Calibration
    quality : dict
        face_found_fraction, pose_ok_fraction, max_faces_seen, median_iod_px, small_face,
        n_anchors, implausible_tracks, masked_frames (per region and side),
        landmark_model_share (share of the frames with a face whose landmarks the model
        computed and whose pixels were read, rather than carried from key frames: 1.0 with
        every frame modelled).
    marked_px : (n_frames, len(MARKED) + 2, 2) float32 ndarray or None
        Where each frame's face was, in frame px (of the decoded size, ``info``'s): the
        landmarks a report marks (:data:`facescore.anatomy.MARKED`, in that order), then the
        least and the greatest corner of the whole landmark cloud; NaN without a face. A
        report draws its key frames from these rather than finding the face again.
    """

    frames: pd.DataFrame
    info: SourceInfo
    calibration: Calibration
    quality: dict = field(default_factory=dict)
    marked_px: np.ndarray | None = None


_MARKED_INDEX = np.array(MARKED)
_NO_FACE_MARKED = np.full((len(MARKED) + 2, 2), np.nan, dtype=np.float32)


def marked_points(points: np.ndarray | None) -> np.ndarray:
    """One frame's row of :attr:`Measurement.marked_px` from its (478, 2+) landmarks (frame
    px), or NaN for a frame without a face."""
    if points is None:
        return _NO_FACE_MARKED
    xy = points[:, :2]
    return np.vstack([xy[_MARKED_INDEX], xy.min(axis=0), xy.max(axis=0)]).astype(np.float32)


def _face_row(face, head: np.ndarray, pose: geometry.HeadPose) -> dict:
    row = {
        "face_found": True,
        "yaw_deg": pose.yaw,
        "pitch_deg": pose.pitch,
        "roll_deg": pose.roll,
        "pose_ok": pose.within_limits(),
        "iod_px": float(np.linalg.norm(face.points[IRIS_CENTRE["left"], :2]
                                       - face.points[IRIS_CENTRE["right"], :2])),
        "iris_px": geometry.iris_diameter_px(head),
    }
    pitch, yaw, roll = signals.euler_angles(geometry.rotation_from_matrix(face.matrix))
    row.update({"pitch_rad": pitch, "yaw_rad": yaw, "roll_rad": roll})
    row.update(features.positions(head))
    row.update(features.blendshape_columns(face.blendshapes))
    row.update(features.expression_scores(face.blendshapes))
    return row


def _reading_row(reading: FlowReading) -> dict:
    """The tracker's reading as raw columns (frame px), plus live signals for biofeedback."""
    row = {"anchor": reading.anchor, "pose_distance_deg": reading.pose_distance,
           "anchored_share": reading.anchored, "ridge_ok": reading.ridge_ok}
    for name, vector in reading.groups.items():
        row[f"g_{name}_x"], row[f"g_{name}_y"] = float(vector[0]), float(vector[1])
        row[f"valid_{name}"] = reading.valid[name]
    row["tracked_fraction"] = float(np.mean(list(reading.valid.values())))
    # Live signals (image axes, no parallax correction): what a session shows while it runs.
    flipped = {name: np.array([v[0], -v[1]]) for name, v in reading.groups.items()}
    row.update(group_signals(flipped))
    for side in SIDES:
        lid = reading.lids[side]
        row[f"lid_narrowing_{side}"] = lid.narrowing if lid is not None else np.nan
        row[f"lid_cost_{side}"] = lid.lid_cost if lid is not None else np.nan
        row[f"lower_cost_{side}"] = lid.lower_cost if lid is not None else np.nan
        row[f"lid_drop_{side}"] = row[f"lid_narrowing_{side}"]
    return row


def _landmarked(frames, tracker: FaceTracker | LandmarkWorker, step: int):
    if step == 1:
        for frame in frames:
            yield frame, tracker.track(frame)
    else:
        yield from model_schedule.landmark_sparsely(frames, model_schedule.SparseLandmarker(
            tracker.track, step, near=True, track_soon=getattr(tracker, "track_soon", None),
            track_carried_soon=getattr(tracker, "track_carried_soon", None)))


def interpolate_readings(raw: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """The pixel readings of frames not read (``pixels_interpolated``) blended from the frames
    read on either side, by time.

    Numbers are blended linearly; a flag holds where it holds on both sides; where the two
    frames were measured against different anchors (the references differ, so their readings
    do not blend) each frame takes the nearer one's readings, as does a frame with a read frame
    on one side only.

    Parameters
    ----------
    raw : DataFrame
        The measurer's raw rows, one per frame, with ``t_s``, ``face_found``,
        ``pixels_interpolated`` and the reading ``columns`` (NaN on the frames not read).
    columns : tuple of str
        The columns :func:`_reading_row` makes.

    Returns
    -------
    DataFrame
        A copy with those columns filled on the frames not read (``raw`` itself where every
        frame was read).
    """
    between = raw["pixels_interpolated"].fillna(False).to_numpy(dtype=bool)
    read = np.flatnonzero(raw["face_found"].to_numpy(dtype=bool) & ~between)
    gaps = np.flatnonzero(between)
    if not len(read) or not len(gaps):
        return raw
    raw = raw.copy()
    t = raw["t_s"].to_numpy(dtype=float)
    position = np.searchsorted(read, gaps)  # of the first frame read after each gap frame
    before = read[np.clip(position - 1, 0, len(read) - 1)]
    after = read[np.clip(position, 0, len(read) - 1)]
    span = t[after] - t[before]
    weight = np.divide(t[gaps] - t[before], span, out=np.full(len(gaps), 0.5), where=span > 0)
    weight = np.clip(weight, 0.0, 1.0)
    anchor = raw["anchor"].to_numpy(dtype=float)
    nearest = np.where(weight < 0.5, before, after)
    blend = (anchor[before] == anchor[after]) & (before != after)
    for column in columns:
        values = raw[column].to_numpy()
        if isinstance(values[read[0]], (bool, np.bool_)):  # a flag (object column: NaN between)
            flags = values.astype(bool)
            filled = np.where(blend, flags[before] & flags[after], flags[nearest])
            raw[column] = raw[column].astype(object)
        else:
            numbers = values.astype(float)
            filled = np.where(blend, (1.0 - weight) * numbers[before] + weight * numbers[after],
                              numbers[nearest])
        raw.iloc[gaps, raw.columns.get_loc(column)] = filled
    return raw


class FrameMeasurer:
    """Turns (frame, face) pairs into rows of the per-frame table, one frame at a time.

    :func:`measure_video` drives it over a file; a live session drives it from a camera and
    reads the rows as they come for biofeedback (their signals are live estimates in frame px;
    :meth:`finish` computes the final ones).
    """

    #: Rows are gathered into a DataFrame every this many frames: a row kept as a dict costs
    #: ~6 KB, as a table row ~1 KB, which keeps a long recording's memory nearly flat.
    CHUNK_FRAMES = 1000

    def __init__(self) -> None:
        self._chunks: list[pd.DataFrame] = []
        self._recent: list[dict] = []
        self._marked_chunks: list[np.ndarray] = []
        self._marked_recent: list[np.ndarray] = []
        self.tracker = AnchoredTracker()
        self._epoch = -1
        self._tracking = False
        self._head_reference: np.ndarray | None = None
        self._reading_columns: tuple[str, ...] = ()

    def add(self, frame, face) -> dict:
        """Measure one frame (``face`` None when no face was found); returns its raw row (px)."""
        row: dict = {"frame": frame.index, "t_s": frame.t_s, "face_found": False}
        if face is not None:
            head = geometry.head_fixed(face.points, face.matrix)
            row.update(_face_row(face, head, geometry.head_pose(face.matrix)))
            row["landmarks_interpolated"] = face.interpolated
            if not self._tracking:  # first frame of a new tracking run
                self._epoch += 1
                self.tracker.restart()
                self._head_reference = head / row["iod_px"]
                self._tracking = True
            # The pixels are read where the model saw the frame; between two such frames the
            # face changes smoothly (else the schedule models it), so their readings blend.
            row["pixels_interpolated"] = face.interpolated
            if not face.interpolated:
                picture = frame.rgb if frame.gray is None else frame.gray
                reading = _reading_row(self.tracker.update(
                    picture, face.points, face.matrix, frame.index, row["expression_score"],
                    head))
                self._reading_columns = self._reading_columns or tuple(reading)
                row.update(reading)
            lm = landmark_signals(head / row["iod_px"], self._head_reference)
            row.update({k: v * row["iod_px"] for k, v in lm.items()})
        else:
            self._tracking = False
        row["epoch"] = self._epoch
        self._recent.append(row)
        self._marked_recent.append(marked_points(None if face is None else face.points))
        if len(self._recent) >= self.CHUNK_FRAMES:
            self._chunks.append(pd.DataFrame(self._recent))
            self._marked_chunks.append(np.stack(self._marked_recent))
            self._recent, self._marked_recent = [], []
        return row

    def raw_rows(self) -> pd.DataFrame:
        """Every frame's raw row so far (px), one row per frame."""
        chunks = [*self._chunks, pd.DataFrame(self._recent)] if self._recent else self._chunks
        if not chunks:
            return pd.DataFrame({"frame": [], "face_found": []})
        return pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]

    def _marked_rows(self) -> np.ndarray:
        """Every frame's row of :attr:`Measurement.marked_px` so far."""
        recent = [np.stack(self._marked_recent)] if self._marked_recent else []
        return np.concatenate([*self._marked_chunks, *recent])

    def finish(self, info: SourceInfo, max_faces: int) -> Measurement:
        """The per-frame table in mm, calibration and quality.

        Raises
        ------
        FaceError
            When no frame had a face.
        """
        raw = self.raw_rows()
        if "pixels_interpolated" in raw:  # a face was seen (frames between: blended)
            raw = interpolate_readings(raw, self._reading_columns)
        found = raw["face_found"].to_numpy(dtype=bool)
        if not found.any():
            raise FaceError(f"no face found in {info.path}")
        iris = raw["iris_px"].to_numpy(dtype=float)
        scale = geometry.mm_per_px(iris)
        table = to_table(raw, scale, self.tracker.anchors)
        median_iod = float(np.nanmedian(table["iod_px"]))
        masked = {f"{region}_{side}": int((found & ~table[f"valid_{region}_{side}"]).sum())
                  for region in signals.REGIONS for side in SIDES}
        quality = {
            "face_found_fraction": float(found.mean()),
            "pose_ok_fraction": float(table["pose_ok"].fillna(False).astype(bool).mean()),
            "max_faces_seen": int(max_faces),
            "median_iod_px": median_iod,
            "small_face": bool(median_iod < MIN_IOD_PX),
            "n_anchors": len(self.tracker.anchors),
            "implausible_tracks": int(self.tracker.n_dropped),
            "masked_frames": masked,
            "landmark_model_share": float(1.0 - table.loc[found, "landmarks_interpolated"]
                                          .fillna(False).astype(bool).mean()),
        }
        return Measurement(table, info, Calibration(scale, float(np.nanmedian(iris))), quality,
                           self._marked_rows())


def wants_key_frames(key_frames: bool | None = None) -> bool:
    """``key_frames``; None (default): True unless ``FACESCORE_MODEL_KEY_FRAMES=0`` is set in
    the environment.

    Key frames run ~1.3x faster on 1080p exams and their tables are the every-frame ones
    within the run-to-run noise of one grey level of dither (docs/measurement.md).
    """
    if key_frames is None:
        return os.environ.get("FACESCORE_MODEL_KEY_FRAMES", "").strip() != "0"
    return bool(key_frames)


def model_step(info: SourceInfo, key_frames: bool | None = None) -> int:
    """Frames from one landmark-model key frame to the next for this source:
    :func:`facescore.model_schedule.key_step` for a video (1 for stills and cameras), or 1
    (every frame) unless :func:`wants_key_frames`."""
    if not wants_key_frames(key_frames) or info.kind != "video":
        return 1
    return model_schedule.key_step(info.fps)


def measure_video(
    source: str | Path | int,
    mirrored: bool = False,
    progress: Callable[[int, int | None], None] | None = None,
    model_path: str | Path | None = None,
    max_side: int | None = WORKING_MAX_SIDE,
    landmark_process: bool | None = None,
    key_frames: bool | None = None,
) -> Measurement:
    """Track the face through a recording and measure each side in every frame.

    With ``key_frames`` the landmark model sees one frame in every 0.134 s of a video of 20 fps
    or more, and every frame where interpolating between those would not hold
    (:mod:`facescore.model_schedule`); the pixel measures are read on the frames the model
    saw and blended between them (the table's ``pixels_interpolated``).

    Parameters
    ----------
    source : str, Path or int
        A video file, a still image, or a camera index.
    mirrored : bool
        The recording is a mirror image (webcam preview); sides are corrected.
    progress : callable, optional
        Called as ``progress(frames_done, frames_expected_or_None)`` after each frame.
    model_path : str or Path, optional
        Another copy of the verified landmark model.
    max_side : int or None
        Bound on the decoded resolution's longer side, px (None: full resolution). Pixel
        columns of the table refer to this decoded resolution.
    landmark_process : bool or None
        Run the landmark model of a video in a child process (:mod:`facescore.landmark_worker`)
        rather than a thread of this one; the results are the same. None (default): the
        environment variable ``FACESCORE_LANDMARK_PROCESS`` (1 or 0) if set, else
        :func:`wants_landmark_process`. Where no child process can be started, a thread is used.
    key_frames : bool or None
        The landmark model on key frames (True) or on every frame (False); None (default):
        key frames unless ``FACESCORE_MODEL_KEY_FRAMES=0`` is set (:func:`wants_key_frames`). The
        table's ``landmarks_interpolated`` and ``pixels_interpolated`` say which frames the model
        did not see, whose landmarks and pixel measures were carried from those it did.

    Raises
    ------
    SourceError
        Unreadable, corrupt or truncated input.
    FaceError
        No face in any frame.
    """
    with open_source(source, mirrored=mirrored, max_side=max_side) as frames:
        expected = frames.info.n_frames
        if landmark_process is None:
            landmark_process = wants_landmark_process(frames.info)
        step = model_step(frames.info, key_frames)
        measurer = FrameMeasurer()
        worker = None
        if landmark_process and frames.info.kind == "video":
            size = (frames.info.height, frames.info.width)
            worker = take_early(size, model_path)  # started by the caller while it loaded
            # Without shared memory or child processes, a thread below does the same work.
            with contextlib.suppress(OSError):
                worker = worker or LandmarkWorker(size, model_path)
        if worker is not None and step == 1:
            with worker:
                _measure_all(worker.track_all(frames), measurer, progress, expected)
                most_faces = worker.finish()
        elif worker is not None:
            # The schedule runs a stage ahead in a thread, sending the child only the frames
            # the model is to see (about a quarter at 30 fps: each 1080p copy costs 0.3 ms or more).
            with worker, contextlib.closing(prefetch(_landmarked(frames, worker, step),
                                                     depth=4 * step)) as pairs:
                _measure_all(pairs, measurer, progress, expected)
                most_faces = worker.finish()
        else:
            # Landmarking runs a stage ahead in its own thread, overlapping with the measuring.
            with FaceTracker(model_path) as tracker, \
                    contextlib.closing(prefetch(_landmarked(frames, tracker, step),
                                                depth=4 * step)) as pairs:
                _measure_all(pairs, measurer, progress, expected)
                most_faces = tracker.n_faces_seen
        return measurer.finish(frames.info, most_faces)


def _measure_all(pairs, measurer: FrameMeasurer, progress, expected: int | None) -> None:
    for frame, face in pairs:
        measurer.add(frame, face)
        if progress is not None:
            progress(frame.index + 1, expected)
