"""Per-side excursion of one performed movement, from the per-frame table (pure functions).

A movement's excursion on each side is how far its signal travels from the rest just before the
movement to its extreme during it. Baselines are taken per performance, so slow drift of the
flow tracks and the head's gradual changes do not accumulate into the result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .anatomy import SIDES

#: The primary signal of each movement and the direction that counts as movement.
#: ``("mouth_out", "mouth_up")`` means the length of the mouth corner's 2-D travel.
PRIMARY_SIGNAL: dict[str, tuple[tuple[str, ...], float]] = {
    "brow_raise": (("brow_lift",), +1.0),
    "eye_closure": (("lid_drop",), +1.0),
    "smile": (("mouth_out", "mouth_up"), +1.0),
    "frown": (("brow_lift",), -1.0),
}
METHODS = {"flow": "", "landmarks": "_lm"}

#: Rest taken before a movement's start to set its baseline, s.
BASELINE_S = 0.4


@dataclass(frozen=True)
class SideExcursion:
    """One side's travel in one performance."""

    excursion_mm: float
    peak_s: float


def signal_columns(movement: str, side: str, method: str = "flow") -> list[str]:
    """Per-frame table columns of a movement's primary signal for one side."""
    names, _ = PRIMARY_SIGNAL[movement]
    return [f"{name}{METHODS[method]}_mm_{side}" for name in names]


def travel(values: np.ndarray, baseline: np.ndarray, direction: float) -> np.ndarray:
    """Travel from ``baseline`` of a 1-D (signed) or multi-D (length) signal.

    Parameters
    ----------
    values : (T, K) ndarray
        K components over T frames, mm.
    baseline : (K,) ndarray
    direction : float
        +1 or −1; for one component, travel against the direction reads negative.
    """
    delta = values - baseline
    if delta.shape[1] == 1:
        return direction * delta[:, 0]
    return np.linalg.norm(delta, axis=1)


def side_excursion(frames: pd.DataFrame, movement: str, side: str, start_s: float,
                   end_s: float, method: str = "flow") -> SideExcursion:
    """Excursion of one side during one performance, mm.

    Parameters
    ----------
    frames : pandas.DataFrame
        The per-frame table.
    movement : str
        One of :data:`PRIMARY_SIGNAL`.
    start_s, end_s : float
        The performance's interval.
    method : {"flow", "landmarks"}
        Prior-free optical flow (the measurement) or landmarks alone (the cross-check).
    """
    columns = signal_columns(movement, side, method)
    _, direction = PRIMARY_SIGNAL[movement]
    t = frames["t_s"].to_numpy()
    usable = frames["face_found"].to_numpy(dtype=bool)
    before = usable & (t >= start_s - BASELINE_S) & (t <= start_s)
    during = usable & (t >= start_s) & (t <= end_s)
    if not during.any():
        return SideExcursion(float("nan"), float("nan"))
    values = frames[columns].to_numpy(dtype=float)
    reference = before if before.any() else (during & (t <= t[during][0]))
    baseline = np.nanmedian(values[reference], axis=0)
    moved = travel(values[during], baseline, direction)
    peak = int(np.nanargmax(moved))
    return SideExcursion(float(moved[peak]), float(t[during][peak]))


def excursions(frames: pd.DataFrame, movement: str, start_s: float, end_s: float,
               method: str = "flow") -> dict[str, SideExcursion]:
    """:func:`side_excursion` for both sides."""
    return {side: side_excursion(frames, movement, side, start_s, end_s, method)
            for side in SIDES}


def right_left_ratio(sides: dict[str, SideExcursion]) -> float:
    """Right excursion over left excursion (NaN when the left did not move)."""
    left = sides["left"].excursion_mm
    return sides["right"].excursion_mm / left if left else float("nan")
