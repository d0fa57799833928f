"""Rest and the exam's movements, found in the per-frame table (pure functions).

Segments are MNE-style annotations: onset, duration and a label. Each movement has an
*activation*: the larger of the two sides' travel along that movement's direction, so a
paralysed side cannot hide a movement the healthy side performs. A movement is detected where
its activation rises through an on-threshold and stays above an off-threshold (hysteresis);
where two movements' detections overlap, the one that moved most relative to its typical size
wins. A sidecar file of (start, end, movement) replaces detection.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import FacescoreError

MOVEMENTS: tuple[str, ...] = ("brow_raise", "eye_closure", "smile", "frown")


@dataclass(frozen=True)
class Segment:
    """One performance of a movement (or a rest period), in seconds."""

    onset: float
    duration: float
    label: str
    rep: int = 1
    source: str = "detected"  # or "sidecar"

    @property
    def end(self) -> float:
        return self.onset + self.duration


@dataclass(frozen=True)
class Detector:
    """Thresholds of movement detection, mm of the stronger side's travel."""

    on_mm: float = 1.5
    off_mm: float = 0.6
    min_duration_s: float = 0.25
    merge_gap_s: float = 0.2
    #: Typical peak travel of each movement, mm: used only to decide between overlapping
    #: detections (a 3 mm frown is a bigger frown than a 3 mm smile is a smile).
    typical_mm: tuple[tuple[str, float], ...] = (
        ("brow_raise", 8.0), ("eye_closure", 8.0), ("smile", 8.0), ("frown", 4.0))
    #: Frowns are smaller movements: their on-threshold is scaled by this.
    frown_scale: float = 0.7


def activation(frames: pd.DataFrame, movement: str, side: str) -> np.ndarray:
    """Travel of one side along a movement's direction, mm (flow signals; NaN without a face).

    brow_raise: brow up; eye_closure: upper lid down; smile: mouth corner up-and-out (45°);
    frown: brow down.
    """
    col = lambda name: frames[f"{name}_mm_{side}"].to_numpy(dtype=float)  # noqa: E731
    if movement == "brow_raise":
        return col("brow_lift")
    if movement == "eye_closure":
        return col("lid_drop")
    if movement == "smile":
        return (col("mouth_out") + col("mouth_up")) / np.sqrt(2)
    if movement == "frown":
        return -col("brow_lift")
    raise ValueError(f"unknown movement {movement!r}")


def _hysteresis(signal: np.ndarray, on: float, off: float) -> list[tuple[int, int]]:
    """Index ranges [start, stop) where the signal rises above ``on`` and stays above ``off``."""
    runs, start, active = [], 0, False
    for i, value in enumerate(np.nan_to_num(signal, nan=-np.inf)):
        if not active and value >= on:
            start, active = i, True
            while start > 0 and signal[start - 1] >= off:
                start -= 1
        elif active and value < off:
            runs.append((start, i))
            active = False
    if active:
        runs.append((start, len(signal)))
    return runs


def _widen(signal: np.ndarray, start: int, stop: int, share: float = 0.1) -> tuple[int, int]:
    """Extend a run outward to where the signal falls below ``share`` of its peak."""
    peak = np.nanmax(signal[start:stop])
    floor = share * peak
    while start > 0 and np.nan_to_num(signal[start - 1], nan=-1) > floor:
        start -= 1
    while stop < len(signal) and np.nan_to_num(signal[stop], nan=-1) > floor:
        stop += 1
    return start, stop


def detect_movements(frames: pd.DataFrame, detector: Detector = Detector()) -> list[Segment]:
    """Find every performance of every movement, labelled and numbered by repetition.

    Parameters
    ----------
    frames : pandas.DataFrame
        The per-frame table.

    Returns
    -------
    list of Segment
        In time order.
    """
    t = frames["t_s"].to_numpy(dtype=float)
    typical = dict(detector.typical_mm)
    candidates = []
    for movement in MOVEMENTS:
        signal = np.fmax(activation(frames, movement, "left"),
                         activation(frames, movement, "right"))
        scale = detector.frown_scale if movement == "frown" else 1.0
        for start, stop in _hysteresis(signal, detector.on_mm * scale, detector.off_mm * scale):
            start, stop = _widen(signal, start, stop)
            peak = float(np.nanmax(signal[start:stop]))
            candidates.append((peak / typical[movement], movement, start, stop))
    # Strongest first; a weaker candidate overlapping a kept one is a side effect of it.
    kept: list[tuple[str, int, int]] = []
    for _, movement, start, stop in sorted(candidates, reverse=True):
        if all(stop <= s or start >= e for _, s, e in kept):
            kept.append((movement, start, stop))
    kept = _merge(sorted(kept, key=lambda k: k[1]), t, detector.merge_gap_s)
    segments, reps = [], dict.fromkeys(MOVEMENTS, 0)
    for movement, start, stop in kept:
        onset, end = t[start], t[min(stop, len(t) - 1)]
        if end - onset < detector.min_duration_s:
            continue
        reps[movement] += 1
        segments.append(Segment(float(onset), float(end - onset), movement, reps[movement]))
    return segments


def _merge(runs: list[tuple[str, int, int]], t: np.ndarray, gap_s: float):
    merged: list[tuple[str, int, int]] = []
    for movement, start, stop in runs:
        if merged and merged[-1][0] == movement and \
                t[start] - t[min(merged[-1][2], len(t) - 1)] < gap_s:
            merged[-1] = (movement, merged[-1][1], stop)
        else:
            merged.append((movement, start, stop))
    return merged


def rest_mask(frames: pd.DataFrame, movements: list[Segment], margin_s: float = 0.3) -> np.ndarray:
    """Frames at rest: a face, pose within limits, and no movement within ``margin_s``."""
    t = frames["t_s"].to_numpy(dtype=float)
    usable = frames["face_found"].to_numpy(dtype=bool).copy()
    if "pose_ok" in frames:
        usable &= frames["pose_ok"].fillna(False).to_numpy(dtype=bool)
    for segment in movements:
        usable &= ~((t >= segment.onset - margin_s) & (t <= segment.end + margin_s))
    return usable


def read_sidecar(path: str | Path) -> list[Segment]:
    """Segments from a CSV (columns start, end, movement) or JSON list of such objects.

    Raises
    ------
    FacescoreError
        When the file cannot be read or names an unknown movement.
    """
    path = Path(path)
    try:
        if path.suffix.lower() == ".json":
            rows = pd.DataFrame(json.loads(path.read_text()))
        else:
            rows = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise FacescoreError(f"cannot read segments file {path}: {exc}") from exc
    missing = {"start", "end", "movement"} - set(rows.columns)
    if missing:
        raise FacescoreError(f"segments file {path} lacks column(s): {', '.join(sorted(missing))}")
    segments, reps = [], dict.fromkeys(MOVEMENTS, 0)
    for row in rows.sort_values("start").itertuples():
        if row.movement not in MOVEMENTS:
            raise FacescoreError(f"segments file {path}: unknown movement {row.movement!r} "
                                 f"(use {', '.join(MOVEMENTS)})")
        if not row.end > row.start:
            raise FacescoreError(f"segments file {path}: end must follow start ({row.start})")
        reps[row.movement] += 1
        segments.append(Segment(float(row.start), float(row.end - row.start), row.movement,
                                reps[row.movement], source="sidecar"))
    return segments
