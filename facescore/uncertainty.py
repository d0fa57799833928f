"""How far to trust each number: the clip's own measurement noise, intervals and decisions.

Every recording has its own noise: a webcam behind glasses at 7 fps is not a studio camera.
So noise is measured on the clip itself, per movement signal and side, in the stretches where
no movement was found (:func:`resting_noise`): how far a side's activation wanders over about a
second while the face rests — the same span over which an excursion is read (baseline just
before a movement, peak within it). Intervals follow from it (:func:`excursion_interval`,
:func:`symmetry_interval`), and a side is called weaker only when its interval clears the other
side's and normal variation (:func:`weaker_side`).

Pure functions on arrays and the per-frame table; no left-right prior: both sides get the same
treatment from their own noise.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pandas as pd

from .anatomy import SIDES

#: The span over which resting travel is measured, s: a performance's baseline-to-peak span.
NOISE_LAG_S = 1.0
#: Below this, mm, a noise estimate is taken as this (a perfectly still synthetic clip).
NOISE_FLOOR_MM = 0.1
#: Error that grows with the movement itself, as a share of the excursion: tracking and the
#: mm scale (iris diameter, 11.7 ± 0.5 mm between people) err in proportion to the travel.
RELATIVE_ERROR = 0.06
#: Two-sided 95 % normal quantile.
Z95 = 1.96
#: Normal variation between the sides of healthy faces (BRIEF §3): 88-96 % dynamic symmetry,
#: one expression repeats to within about 1 mm. A side is called weaker only beyond both.
NORMAL_SYMMETRY_PCT = 88.0
NORMAL_DIFFERENCE_MM = 1.0


@dataclass(frozen=True)
class Interval:
    """A value with its 95 % interval, in the value's units."""

    value: float
    low: float
    high: float

    @property
    def half_width(self) -> float:
        return 0.5 * (self.high - self.low)

    def as_dict(self) -> dict:
        return {"value": self.value, "low": self.low, "high": self.high}


def median_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """Distribution-free interval of the median: the order statistics between which the median
    lies with probability ``confidence`` whatever the distribution (each value falls below it
    with probability 1/2, so the count below is binomial). The same interval as
    ``scipy.stats.quantile_test(values, q, p=0.5).confidence_interval(confidence)`` (tested),
    without importing scipy.stats (~0.5 s of CPU) for one sum.

    Parameters
    ----------
    values : (n,) ndarray
        The sample, n >= 1.
    confidence : float
        Two-sided, between 0 and 1.

    Returns
    -------
    (low, high) : float
        In the values' units; NaN at an end no order statistic reaches (at 95 %: fewer than 6
        values).
    """
    ordered = np.sort(np.asarray(values, dtype=float))
    n = len(ordered)
    # Exact counts out of 2**n equally likely sign patterns: floats overflow past n = 1023.
    tail = Fraction(1 - confidence) / 2 * 2**n
    at_most = list(itertools.accumulate(math.comb(n, k) for k in range(n + 1)))
    low = next(k for k, count in enumerate(at_most) if count >= tail) - 1
    high = next(k for k, count in enumerate(at_most) if 2**n - count <= tail)
    return (float(ordered[low]) if low >= 0 else math.nan,
            float(ordered[high]) if high < n else math.nan)


def resting_travel_sd(signal: np.ndarray, t: np.ndarray, quiet: np.ndarray,
                      lag_s: float = NOISE_LAG_S) -> tuple[float, int]:
    """Robust SD of a signal's travel over ``lag_s`` while the face rests, and the pairs used.

    Parameters
    ----------
    signal : (N,) ndarray
        One side's activation, mm (NaN where not measured).
    t : (N,) ndarray
        Frame times, s.
    quiet : (N,) bool ndarray
        Frames at rest (no movement, blink or talking near them).

    Returns
    -------
    sd_mm : float
        1.4826 × the median absolute travel (a normal SD, robust to the odd unflagged event);
        NaN when fewer than 10 pairs of quiet frames lie ``lag_s`` apart.
    n_pairs : int
    """
    signal = np.asarray(signal, dtype=float)
    later = np.searchsorted(t, t + lag_s)
    ok = later < len(t)
    start = np.nonzero(ok)[0]
    stop = later[ok]
    use = quiet[start] & quiet[stop] & np.isfinite(signal[start]) & np.isfinite(signal[stop])
    travel = signal[stop[use]] - signal[start[use]]
    if len(travel) < 10:
        return float("nan"), int(len(travel))
    sd = 1.4826 * float(np.median(np.abs(travel - np.median(travel))))
    return max(sd, NOISE_FLOOR_MM), int(len(travel))


def quiet_frames(frames: pd.DataFrame, busy: list[tuple[float, float]],
                 margin_s: float = 0.1) -> np.ndarray:
    """Frames with a face, away (by ``margin_s``) from every busy interval (movements, blinks,
    expressions)."""
    t = frames["t_s"].to_numpy(dtype=float)
    quiet = frames["face_found"].to_numpy(dtype=bool).copy()
    for start, end in busy:
        quiet &= ~((t >= start - margin_s) & (t <= end + margin_s))
    return quiet


def quiet_weight(share: float, low: float, high: float) -> float:
    """Weight (0-1) of the quiet frames' noise against that of all frames outside events.

    0 up to ``low`` (a clip busy throughout), 1 from ``high``, linear between: the noise
    estimate has no cliff at any quiet share.
    """
    return float(np.clip((share - low) / (high - low), 0.0, 1.0))


def blend_noise(quiet: dict[str, dict[str, float]], outside_events: dict[str, dict[str, float]],
                weight: float) -> dict[str, dict[str, float]]:
    """Two noise tables (``{movement: {side: sd_mm}}``) blended geometrically:
    quiet^weight × outside_events^(1 − weight); where one is NaN, the other."""
    out: dict[str, dict[str, float]] = {}
    for movement, sides in quiet.items():
        out[movement] = {}
        for side, still in sides.items():
            busy = outside_events[movement][side]
            # Equal estimates (a clip with no activity outside its events) stay exact.
            if not np.isfinite(still) or still == busy:
                out[movement][side] = busy
            elif not np.isfinite(busy):
                out[movement][side] = still
            else:
                out[movement][side] = float(still ** weight * busy ** (1.0 - weight))
    return out


def excursion_interval(excursion_mm: float, noise_sd_mm: float,
                       relative: float = RELATIVE_ERROR) -> Interval:
    """95 % interval of one side's excursion from the clip's resting noise and a relative term.

    Excursions are not clipped at zero: a side that moved the wrong way reads below zero.
    """
    if not (np.isfinite(excursion_mm) and np.isfinite(noise_sd_mm)):
        return Interval(excursion_mm, float("nan"), float("nan"))
    sd = float(np.hypot(noise_sd_mm, relative * abs(excursion_mm)))
    return Interval(excursion_mm, excursion_mm - Z95 * sd, excursion_mm + Z95 * sd)


def symmetry_interval(left: Interval, right: Interval, floored: bool = True
                      ) -> Interval | None:
    """Symmetry (100 × weaker / stronger) with its 95 % interval, %.

    First-order propagation of the sides' independent errors (SD = half-width / 1.96):
    SD(100 W/S) = 100 / S × sqrt(SD_W² + (W/S)² SD_S²), which stays finite when the weaker side
    did not move at all. None when either side is unmeasured or the stronger side did not move.

    ``floored``: a weaker side that moved the wrong way counts as still (0) and the interval
    is clipped to 0-100, as a symmetry is read. Unfloored, a frozen side's noise reads as
    often below zero as above, so an average over movements keeps no upward bias
    (:func:`mean_interval`).
    """
    values = (left.value, right.value, left.low, right.low, left.high, right.high)
    if not all(np.isfinite(v) for v in values):
        return None
    stronger, weaker = (left, right) if left.value >= right.value else (right, left)
    if stronger.value <= 0:
        return None
    ratio = (max(weaker.value, 0.0) if floored else weaker.value) / stronger.value
    sd = 100.0 / stronger.value * float(np.hypot(weaker.half_width / Z95,
                                                 ratio * stronger.half_width / Z95))
    value = 100.0 * ratio
    if not floored:
        return Interval(value, value - Z95 * sd, value + Z95 * sd)
    return Interval(value, max(0.0, value - Z95 * sd), min(100.0, value + Z95 * sd))


def weaker_side(left: Interval, right: Interval,
                normal_pct: float = NORMAL_SYMMETRY_PCT,
                normal_mm: float = NORMAL_DIFFERENCE_MM) -> str | None:
    """The side that moved less — only when the evidence clears normal variation.

    All must hold: the symmetry interval lies wholly below ``normal_pct`` (it clears normal
    variation); the sides differ by at least ``normal_mm`` (what one expression varies by when
    repeated); and the interval of that difference (the sides' half-widths added in
    quadrature: their errors are independent) excludes zero. Else None.
    """
    symmetry = symmetry_interval(left, right)
    if symmetry is None:
        return None
    stronger, weaker, name = ((left, right, "right") if left.value >= right.value
                              else (right, left, "left"))
    difference_low = (stronger.value - weaker.value) - float(np.hypot(stronger.half_width,
                                                                      weaker.half_width))
    if stronger.value - weaker.value < normal_mm or difference_low <= 0:
        return None
    if symmetry.high >= normal_pct:
        return None
    return name


def cross_check_agrees(weaker: str, cross_check_mm: dict[str, float]) -> bool:
    """Whether an independent reading of the sides (the landmarks alone,
    :func:`facescore.scores.excursions` with ``method="landmarks"``) also has ``weaker`` as the
    side that moved less; True when it cannot tell (a side unmeasured).

    Only the order is asked for, not a margin: the landmarks are pulled toward symmetry (BRIEF
    §4), so a true palsy's landmark ratio is close to 1 (0.75-0.92 on the added movements whose
    weaker side was named, all 41 in the same order), while a decision that rides on one
    measure's artefact — a whole mouth sliding sideways, a grey level of noise — finds no
    support in the other.
    """
    values = [cross_check_mm.get(side, float("nan")) for side in SIDES]
    if not all(np.isfinite(v) for v in values):
        return True
    other = "left" if weaker == "right" else "right"
    return cross_check_mm[weaker] < cross_check_mm[other]


def combine_repetitions(values: list[Interval]) -> Interval | None:
    """One movement's excursion over its repetitions: the median, with a 95 % interval from
    the larger of the single-performance error and the repetitions' own spread, over √n.

    A random-effects combination (DerSimonian-Laird's moment estimate of the variation
    between repetitions, τ² = max(0, s² − σ²), with a normal quantile): the measurement
    error σ is known from the recording's rest, so repetitions that agree within it narrow
    the interval like averaged measurements; repetitions that disagree beyond it widen it by
    their spread. (A t quantile on the spread alone, 12.7 for two repetitions, made two
    agreeing repetitions' interval six times one repetition's: a face moving one side only
    was reported with no weaker side in every movement.)
    """
    finite = [v for v in values if np.isfinite(v.value) and np.isfinite(v.low)]
    if not finite:
        return None
    centre = float(np.median([v.value for v in finite]))
    n = len(finite)
    if n == 1:
        return Interval(centre, finite[0].low, finite[0].high)
    measurement_var = float(np.mean([(v.half_width / Z95) ** 2 for v in finite]))
    spread_var = float(np.var([v.value for v in finite], ddof=1))
    half_width = Z95 * float(np.sqrt(max(measurement_var, spread_var) / n))
    return Interval(centre, centre - half_width, centre + half_width)


def mean_interval(values: list[Interval]) -> Interval | None:
    """The mean of independently measured values, with its 95 % interval (half-widths added in
    quadrature, over their number); None when any value has no interval."""
    if not values or not all(np.isfinite([v.value, v.low, v.high]).all() for v in values):
        return None
    centre = float(np.mean([v.value for v in values]))
    half_width = float(np.sqrt(np.sum([v.half_width ** 2 for v in values]))) / len(values)
    return Interval(centre, centre - half_width, centre + half_width)


def noise_table(frames: pd.DataFrame, quiet: np.ndarray, movements: tuple[str, ...]
                ) -> dict[str, dict[str, float]]:
    """Resting-travel SD per movement signal and side, mm: ``{movement: {side: sd}}``.

    The travel is that of the held level (:func:`facescore.scores.held_travel`), the very
    signal an excursion is read from.
    """
    from .scores import held_seconds, held_travel  # both build on this module
    from .segments import activation

    t = frames["t_s"].to_numpy(dtype=float)
    out: dict[str, dict[str, float]] = {}
    for movement in movements:
        out[movement] = {}
        for side in SIDES:
            signal = held_travel(t, activation(frames, movement, side), held_seconds(movement))
            sd = float("nan")
            # A clip busy with movements may hold no second-long quiet stretch: shorter spans
            # then, which can only read less noise than a second would (a floor, said so in
            # the report's parameters through :data:`NOISE_LAG_S`).
            for lag in (NOISE_LAG_S, 0.6 * NOISE_LAG_S, 0.3 * NOISE_LAG_S):
                sd, _ = resting_travel_sd(signal, t, quiet, lag)
                if np.isfinite(sd):
                    break
            out[movement][side] = sd
    return out
