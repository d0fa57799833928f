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


def travel_during(frames: pd.DataFrame, movement: str, side: str, start_s: float,
                  end_s: float, method: str = "flow") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One side's travel through a performance, from the rest just before it.

    Returns
    -------
    times : (T,) ndarray
        Frame times within [start_s, end_s] that have a face, s.
    moved : (T,) ndarray
        Travel at those times, mm (see :func:`travel`).
    during : (N,) bool ndarray
        Which rows of ``frames`` those are.
    """
    columns = signal_columns(movement, side, method)
    _, direction = PRIMARY_SIGNAL[movement]
    t = frames["t_s"].to_numpy()
    usable = frames["face_found"].to_numpy(dtype=bool)
    before = usable & (t >= start_s - BASELINE_S) & (t <= start_s)
    during = usable & (t >= start_s) & (t <= end_s)
    if not during.any():
        return np.array([]), np.array([]), during
    values = frames[columns].to_numpy(dtype=float)
    reference = before if before.any() else (during & (t <= t[during][0]))
    baseline = np.nanmedian(values[reference], axis=0)
    return t[during], travel(values[during], baseline, direction), during


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
    times, moved, _ = travel_during(frames, movement, side, start_s, end_s, method)
    if len(moved) == 0:
        return SideExcursion(float("nan"), float("nan"))
    peak = int(np.nanargmax(moved))
    return SideExcursion(float(moved[peak]), float(times[peak]))


def excursions(frames: pd.DataFrame, movement: str, start_s: float, end_s: float,
               method: str = "flow") -> dict[str, SideExcursion]:
    """:func:`side_excursion` for both sides."""
    return {side: side_excursion(frames, movement, side, start_s, end_s, method)
            for side in SIDES}


def right_left_ratio(sides: dict[str, SideExcursion]) -> float:
    """Right excursion over left excursion (NaN when the left did not move)."""
    left = sides["left"].excursion_mm
    return sides["right"].excursion_mm / left if left else float("nan")


# --- per-performance scores --------------------------------------------------------------------

#: Inside this band a side is not called weaker (BRIEF §3): normal faces reach 88–96 % dynamic
#: symmetry, and one expression repeats to within 0.7–1.1 mm.
DEADBAND_SYMMETRY_PCT = 88.0
DEADBAND_MM = 1.0
DEADBAND_TEXT = (f"no side is called weaker when symmetry is at least {DEADBAND_SYMMETRY_PCT:g} % "
                 f"or the sides differ by less than {DEADBAND_MM:g} mm (normal faces reach "
                 "88-96 % dynamic symmetry; one expression repeats to within about 1 mm)")


@dataclass(frozen=True)
class SideScore:
    """One side in one performance."""

    excursion_mm: float
    peak_s: float
    onset_s: float  # first time the side reached 20 % of its own peak
    peak_velocity_mm_s: float
    residual_gap_mm: float | None = None  # eye closure only: narrowest aperture


@dataclass(frozen=True)
class PerformanceScore:
    movement: str
    rep: int
    start_s: float
    end_s: float
    left: SideScore
    right: SideScore
    symmetry_pct: float
    weaker_side: str | None
    onset_lag_s: float  # right onset minus left onset

    @property
    def peak_s(self) -> float:
        stronger = self.left if self.left.excursion_mm >= self.right.excursion_mm else self.right
        return stronger.peak_s


def symmetry_pct(left_mm: float, right_mm: float) -> float:
    """100 × weaker / stronger excursion (100 when neither side moved)."""
    left, right = max(left_mm, 0.0), max(right_mm, 0.0)
    stronger = max(left, right)
    return 100.0 * min(left, right) / stronger if stronger > 0 else 100.0


def weaker_side(left_mm: float, right_mm: float) -> str | None:
    """"left" or "right", or None inside the normal deadband (:data:`DEADBAND_TEXT`)."""
    if symmetry_pct(left_mm, right_mm) >= DEADBAND_SYMMETRY_PCT:
        return None
    if abs(left_mm - right_mm) < DEADBAND_MM:
        return None
    return "left" if left_mm < right_mm else "right"


def _side_score(frames: pd.DataFrame, movement: str, side: str, start_s: float,
                end_s: float) -> SideScore:
    times, moved, during = travel_during(frames, movement, side, start_s, end_s)
    if len(moved) < 2:
        nan = float("nan")
        return SideScore(nan, nan, nan, nan)
    peak = int(np.nanargmax(moved))
    excursion = float(moved[peak])
    reached = np.nonzero(moved >= 0.2 * excursion)[0] if excursion > 0 else np.array([peak])
    velocity = np.gradient(moved, times) if len(times) > 2 else np.array([np.nan])
    gap = None
    if movement == "eye_closure":
        gap = float(np.nanmin(frames[f"eye_aperture_mm_{side}"].to_numpy(dtype=float)[during]))
    return SideScore(excursion, float(times[peak]), float(times[reached[0]]),
                     float(np.nanmax(np.abs(velocity))), gap)


def score_performance(frames: pd.DataFrame, movement: str, rep: int, start_s: float,
                      end_s: float) -> PerformanceScore:
    """Both sides' excursions, symmetry and timing in one performance."""
    left = _side_score(frames, movement, "left", start_s, end_s)
    right = _side_score(frames, movement, "right", start_s, end_s)
    return PerformanceScore(
        movement, rep, start_s, end_s, left, right,
        symmetry_pct(left.excursion_mm, right.excursion_mm),
        weaker_side(left.excursion_mm, right.excursion_mm),
        right.onset_s - left.onset_s,
    )
