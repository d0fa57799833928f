"""Per-side excursion of one performed movement, from the per-frame table (pure functions).

A movement's excursion on each side is how far its activation — the very signal the report
plots (:func:`facescore.segments.activation`) — travels from the rest just before the movement
to its extreme during it. Baselines are taken per performance, so slow changes of the head or
the light do not accumulate into the result. Frames where a region's measure did not fit are
NaN in the table and simply do not count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import uncertainty
from .anatomy import SIDES
from .protocol import a_name, display_name
from .segments import TALKING_FLAG, Detector, activation

METHODS = ("flow", "landmarks")

#: Rest taken before a movement's start to set its baseline, s.
BASELINE_S = 0.4


@dataclass(frozen=True)
class SideExcursion:
    """One side's travel in one performance."""

    excursion_mm: float
    peak_s: float


def travel_during(frames: pd.DataFrame, movement: str, side: str, start_s: float,
                  end_s: float, method: str = "flow") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One side's travel through a performance, from the rest just before it.

    Returns
    -------
    times : (T,) ndarray
        Frame times within [start_s, end_s] that have a face, s.
    moved : (T,) ndarray
        Travel at those times along the movement's direction, mm (NaN where not measured).
    during : (N,) bool ndarray
        Which rows of ``frames`` those are.
    """
    t = frames["t_s"].to_numpy()
    usable = frames["face_found"].to_numpy(dtype=bool)
    signal = activation(frames, movement, side, method)
    during = usable & (t >= start_s) & (t <= end_s)
    if not during.any():
        return np.array([]), np.array([]), during
    before = usable & (t >= start_s - BASELINE_S) & (t <= start_s) & np.isfinite(signal)
    if not before.any():
        first = np.nonzero(during & np.isfinite(signal))[0]
        before = np.zeros_like(during)
        if len(first):
            before[first[0]] = True
    baseline = float(np.nanmedian(signal[before])) if before.any() else float("nan")
    return t[during], signal[during] - baseline, during


#: A side's excursion is the level it holds for this long at least, s: shorter spikes (a blink
#: dragging the brow, a jolt of the head, one frame of a tracking slip) are not the movement.
HELD_S = 0.25
#: Movements read at their largest sample instead. Near full closure the lid search can flip
#: between the lid margin and a fold above it (a phantom eye closed to 0.8 mm read 6.2 mm of
#: travel in 3 frames of 4 and the true 8.5 mm in the fourth): the held level kept the wrong
#: mode (right/left ratio 0.71 for a true 0.97). A closure's spikes are blinks, masked out
#: separately, and a frozen eye read the same either way on the real clips (within 0.1 mm).
HELD_S_BY_MOVEMENT = {"eye_closure": 0.0}


def held_seconds(movement: str) -> float:
    """How long a level must be held to count as the movement's, s (0: any one sample)."""
    return HELD_S_BY_MOVEMENT.get(movement, HELD_S)


def held_travel(times: np.ndarray, moved: np.ndarray, held_s: float = HELD_S) -> np.ndarray:
    """A side's travel as the running median over ``held_s`` (at least 3 frames), mm.

    Each time's value is one the side held around it: a spike shorter than half the window
    vanishes, a held movement keeps its level. NaN where no frame of the window was measured.
    ``held_s`` 0 returns the travel as it is.

    Parameters
    ----------
    times : (T,) ndarray
        Frame times, s.
    moved : (T,) ndarray
        Travel, mm (NaN where not measured).
    """
    if len(moved) < 3 or held_s <= 0:
        return moved.astype(float)
    step = float(np.median(np.diff(times))) if len(times) > 1 else 1.0
    frames = max(3, int(round(held_s / max(step, 1e-6))) | 1)  # odd: centred
    return (pd.Series(moved, dtype=float)
            .rolling(frames, center=True, min_periods=frames // 2 + 1).median().to_numpy())


def _held_levels(travels: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
                 movement: str) -> dict[str, np.ndarray]:
    """Each side's held travel from its (times, travel, rows), for this movement."""
    return {side: held_travel(times, moved, held_seconds(movement))
            for side, (times, moved, _) in travels.items()}


def largest_excursions(held: dict[str, np.ndarray]) -> dict[str, float]:
    """Each side's excursion: the largest level of its own held travel (:func:`held_travel`),
    mm (NaN when never measured).

    Each side is read at its own peak, since real faces' sides do not peak together: reading
    both sides over the stronger side's plateau (the median of each side's travel where the
    stronger holds 80 % of its peak) read the later side low and named weaker sides on healthy
    clips (smile_lowres's smile 91 % → 5 %, WolfgangLanger's smiles and frowns at 0 %). A side
    that did not move reads about +1-2 SD of its held noise (its interval says so).
    """
    return {side: float(np.nanmax(v)) if np.isfinite(v).any() else float("nan")
            for side, v in held.items()}


def excursions(frames: pd.DataFrame, movement: str, start_s: float, end_s: float,
               method: str = "flow") -> dict[str, SideExcursion]:
    """Both sides' excursions during one performance, mm (:func:`largest_excursions`; NaN
    when never measured), and when each peaked.

    Parameters
    ----------
    frames : pandas.DataFrame
        The per-frame table.
    movement : str
        One of :data:`facescore.protocol.MOVEMENTS`.
    start_s, end_s : float
        The performance's interval.
    method : {"flow", "landmarks"}
        Prior-free measurement, or landmarks alone (the cross-check).
    """
    travels = {side: travel_during(frames, movement, side, start_s, end_s, method)
               for side in SIDES}
    held = _held_levels(travels, movement)
    values = largest_excursions(held)
    out = {}
    for side, (times, _, _) in travels.items():
        peak_s = (float(times[int(np.nanargmax(held[side]))]) if np.isfinite(held[side]).any()
                  else float("nan"))
        out[side] = SideExcursion(values[side], peak_s)
    return out


def right_left_ratio(sides: dict[str, SideExcursion]) -> float:
    """Right excursion over left excursion (NaN when the left did not move)."""
    left = sides["left"].excursion_mm
    return sides["right"].excursion_mm / left if left else float("nan")


# --- per-performance scores --------------------------------------------------------------------

#: A side is called weaker only when its interval clears the other side's and normal
#: variation (:func:`facescore.uncertainty.weaker_side`).
DEADBAND_SYMMETRY_PCT = uncertainty.NORMAL_SYMMETRY_PCT
DEADBAND_MM = uncertainty.NORMAL_DIFFERENCE_MM
DEADBAND_TEXT = ("a side is called weaker only when the symmetry's 95 % interval lies wholly "
                 f"below {DEADBAND_SYMMETRY_PCT:g} % (normal faces reach 88-96 % dynamic "
                 f"symmetry), the sides differ by at least {DEADBAND_MM:g} mm (one expression "
                 "repeats to within about 1 mm) and that difference's interval excludes zero; "
                 "intervals come from the recording's own resting noise (no side is named "
                 "where the recording has no rest to measure it on), and for a smile or a brow "
                 "raise the landmarks, read alone as a cross-check, must order the sides the "
                 "same way")
#: Below this stronger-side excursion, mm, the two sides are not compared as a percentage: the
#: movement is within the measurement's own noise.
MIN_COMPARABLE_MM = 1.0
TOO_SMALL_TEXT = "too small to compare"
#: Resting noise assumed where the recording held no rest to measure it on, mm (a typical
#: value of the shared real clips' resting travel, 0.2-2 mm); such performances are flagged.
DEFAULT_NOISE_MM = 1.0
NOISE_ASSUMED_FLAG = ("too little rest to measure this recording's noise on (it needs 10 "
                      "pairs of still frames 0.3-1 s apart): a typical 1 mm assumed for the "
                      "intervals")
#: Why a side that clears normal variation is still not named (:attr:`PerformanceScore.side_call`):
#: an interval from an assumed noise is no evidence, and a difference one measure sees while the
#: independent landmark reading orders the sides the other way rides on one measure's artefact
#: (:func:`facescore.uncertainty.cross_check_agrees`).
NOISE_WITHHELD = "too little rest in this recording to measure its noise on"
NOT_NAMED_NOISE_ASSUMED = f"undecided ({NOISE_WITHHELD})"
CROSS_CHECK_FLAG = "the landmark cross-check reads the other side as weaker"
#: Movements whose landmark reading can check the side: the landmarks follow them (their
#: stronger side's travel as a share of the measure's, on the photo phantoms and the movements
#: added onto real clips: smile 0.6-0.9, brow raise 0.4-0.7). A warped frown (0.14-0.4) and an
#: eye closing behind glasses (0-0.45) they follow too little for their order to mean anything:
#: the astronaut's half-gain frown read 0.82 vs 0.93 mm, mahie's mixed eye closure 3.35 vs
#: 3.36 mm, ties the wrong way round that withheld two true calls.
CROSS_CHECKED = ("brow_raise", "smile")


def side_withheld(movement: str, weaker: str, noise_assumed: bool,
                  cross_check_mm: dict[str, float]) -> str | None:
    """Why ``weaker``, which clears normal variation, is still not named — or None: the
    intervals rest on an assumed noise (:data:`NOISE_WITHHELD`), or the landmarks, where they
    can check this movement's side, read the other side as weaker (:data:`CROSS_CHECK_FLAG`,
    :func:`facescore.uncertainty.cross_check_agrees`). One rule for a performance and for a
    movement's summary over its repetitions."""
    if noise_assumed:
        return NOISE_WITHHELD
    if movement in CROSS_CHECKED and not uncertainty.cross_check_agrees(weaker, cross_check_mm):
        return CROSS_CHECK_FLAG
    return None


@dataclass(frozen=True)
class SideScore:
    """One side in one performance."""

    excursion_mm: float
    peak_s: float
    onset_s: float  # first time the side reached 20 % of its own peak
    peak_velocity_mm_s: float
    residual_gap_mm: float | None = None  # eye closure only: narrowest aperture
    low_mm: float = float("nan")  # 95 % interval of the excursion
    high_mm: float = float("nan")
    noise_mm: float = float("nan")  # the side's resting-travel SD in this recording
    landmark_mm: float = float("nan")  # the same excursion from the landmarks alone (cross-check)

    @property
    def interval(self) -> uncertainty.Interval:
        return uncertainty.Interval(self.excursion_mm, self.low_mm, self.high_mm)


@dataclass(frozen=True)
class PerformanceScore:
    movement: str
    rep: int
    start_s: float
    end_s: float
    left: SideScore
    right: SideScore
    symmetry_pct: float | None  # None: too small to compare, or not scored
    weaker_side: str | None
    onset_lag_s: float  # right onset minus left onset
    sides: str = "both"  # "both", or the side that moved alone
    flags: tuple[str, ...] = ()
    scored: bool = True
    symmetry_low_pct: float | None = None  # 95 % interval of the symmetry
    symmetry_high_pct: float | None = None

    @property
    def peak_s(self) -> float:
        left, right = self.left.excursion_mm, self.right.excursion_mm
        if not np.isfinite(right) or (np.isfinite(left) and left >= right):
            return self.left.peak_s
        return self.right.peak_s

    @property
    def side_call(self) -> str:
        """The weaker side, or in words why none is named: the sides are within normal
        variation, the measure cannot tell them apart here, the movement was made while
        talking, or the sides were not compared."""
        if self.weaker_side:
            return self.weaker_side
        if TALKING_FLAG in self.flags:
            return "not named (made while talking)"
        if not self.scored:
            return "not named (not scored: see its notes)"
        if self.symmetry_pct is None:
            return f"not compared ({TOO_SMALL_TEXT})"
        if CROSS_CHECK_FLAG in self.flags:
            return f"undecided ({CROSS_CHECK_FLAG})"
        return no_side_because(self.symmetry_pct, self.left.excursion_mm,
                               self.right.excursion_mm, NOISE_ASSUMED_FLAG in self.flags,
                               "undecided (the difference is within this recording's noise)")

    @property
    def comparable(self) -> bool:
        """Both sides measured, scored, and the stronger one moved at least
        :data:`MIN_COMPARABLE_MM`."""
        return self.symmetry_pct is not None


def within_normal_variation(symmetry: float, left_mm: float, right_mm: float) -> str | None:
    """In words, why two compared sides are within normal variation (symmetry at or above
    the deadband, or sides within :data:`DEADBAND_MM` of each other); None when they are not."""
    if symmetry >= DEADBAND_SYMMETRY_PCT:
        return "neither (within normal variation)"
    if abs(left_mm - right_mm) < DEADBAND_MM:
        return ("neither (within normal variation: the sides differ by less than "
                f"{DEADBAND_MM:g} mm)")
    return None


def not_scored_text(flags: tuple[str, ...] | list[str], see: str) -> str:
    """Why a performance not scored has no symmetry, in words, from its flags; ``see``: where
    its notes are (the terminal's lines below it, the report's ⚠)."""
    if TALKING_FLAG in flags:
        return "not scored (made while talking)"
    return f"not scored (too noisy, masked or implausible: see {see})"


def no_side_because(symmetry: float, left_mm: float, right_mm: float, noise_assumed: bool,
                    undecided: str) -> str:
    """Why compared sides that no check withheld name no weaker side: within normal variation,
    an interval resting on an assumed noise, else ``undecided`` (the interval did not clear).
    One wording for a performance and for a movement over its repetitions."""
    return (within_normal_variation(symmetry, left_mm, right_mm)
            or (NOT_NAMED_NOISE_ASSUMED if noise_assumed else undecided))


def symmetry_pct(left_mm: float, right_mm: float) -> float | None:
    """100 × weaker / stronger excursion; None when the stronger side moved less than
    :data:`MIN_COMPARABLE_MM` (too small to compare) or a side was not measured."""
    if not (np.isfinite(left_mm) and np.isfinite(right_mm)):
        return None
    left, right = max(left_mm, 0.0), max(right_mm, 0.0)
    stronger = max(left, right)
    if stronger < MIN_COMPARABLE_MM:
        return None
    return 100.0 * min(left, right) / stronger


def _travels(frames: pd.DataFrame, movement: str, start_s: float, end_s: float,
             blinks: tuple[tuple[float, float], ...] = (), method: str = "flow"
             ) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Each side's (times, travel, rows) through a performance; an eye closure's travel leaves
    out spontaneous blinks."""
    out = {}
    step = float(np.median(np.diff(frames["t_s"]))) if len(frames) > 1 else 0.0
    for side in SIDES:
        times, moved, during = travel_during(frames, movement, side, start_s, end_s, method)
        if movement == "eye_closure" and blinks and len(times):
            # A spontaneous blink just before or after a held closure is not part of it: both
            # lids shut for a tenth of a second, and the weaker lid would read as fully closed.
            in_blink = np.zeros(len(times), dtype=bool)
            for onset, end in blinks:
                in_blink |= (times >= onset - step) & (times <= end + step)
            if not in_blink.all():
                moved = np.where(in_blink, np.nan, moved)
        out[side] = (times, moved, during)
    return out


def _landmark_excursions(frames: pd.DataFrame, movement: str, start_s: float, end_s: float,
                         blinks: tuple[tuple[float, float], ...]) -> dict[str, float]:
    """Each side's excursion read from the landmarks alone, the way the measure is read, mm
    (NaN for a table without landmark signals)."""
    try:
        travels = _travels(frames, movement, start_s, end_s, blinks, "landmarks")
    except KeyError:
        return dict.fromkeys(SIDES, float("nan"))
    return largest_excursions(_held_levels(travels, movement))


def _side_score(frames: pd.DataFrame, movement: str, side: str, times: np.ndarray,
                moved: np.ndarray, during: np.ndarray, held: np.ndarray, excursion: float,
                noise_mm: float, landmark_mm: float) -> SideScore:
    nan = float("nan")
    if np.isfinite(moved).sum() < 2 or not np.isfinite(excursion):
        return SideScore(nan, nan, nan, nan)
    peak = int(np.nanargmax(held))
    filled = np.nan_to_num(held, nan=-np.inf)
    reached = np.nonzero(filled >= 0.2 * excursion)[0] if excursion > 0 else np.array([peak])
    if not len(reached):
        reached = np.array([peak])
    finite = np.isfinite(moved)
    # Two measured samples make no velocity profile: its peak is unknown (NaN), said quietly.
    peak_velocity = (float(np.max(np.abs(np.gradient(moved[finite], times[finite]))))
                     if finite.sum() > 2 else nan)
    gap = None
    if movement == "eye_closure":
        apertures = frames[f"eye_aperture_mm_{side}"].to_numpy(dtype=float)[during]
        gap = float(np.nanmin(apertures)) if np.isfinite(apertures).any() else None
    interval = uncertainty.excursion_interval(excursion, noise_mm)
    return SideScore(excursion, float(times[peak]), float(times[reached[0]]),
                     peak_velocity, gap, interval.low, interval.high,
                     noise_mm, landmark_mm)


#: An upper lid cannot travel further than the eye is open: a closure read beyond this share of
#: the side's resting aperture is a failed measure (glasses, a filter, a lost patch).
MAX_CLOSURE_SHARE = 1.3


def _within_the_eye(frames: pd.DataFrame, excursion: dict[str, float],
                    flags: tuple[str, ...], scored: bool) -> tuple[tuple[str, ...], bool]:
    """Flag, and do not score, an eye closure whose excursion (per side, mm) reads beyond
    :data:`MAX_CLOSURE_SHARE` of that side's resting aperture."""
    for side, value in excursion.items():
        column = f"eye_aperture_lm_mm_{side}"
        if column not in frames or not frames[column].notna().any():
            continue
        aperture = float(np.nanmedian(frames[column]))
        if aperture > 0 and np.isfinite(value) and value > MAX_CLOSURE_SHARE * aperture:
            flags = (*flags, f"{side} eye read closing {value:.1f} mm, beyond its "
                             f"{aperture:.1f} mm opening: measure failed")
            scored = False
    return flags, scored


#: Least share of the measure's stronger-side excursion that the landmarks, read alone, see of
#: a movement they follow. Smiles: 0.67-1.10 on the 28 scored smiles added onto real clips and
#: photos (true palsies included); a mouth the pixel measure read sliding sideways while the
#: landmarks stayed (soniya's webcam under one grey level of dither: 3.9 mm read, 1.2 seen) 0.31;
#: `smile_lowres.gif`'s small face, whose pixel measure swings 2-3 mm from frame to frame, 0.35.
LANDMARK_FOLLOWS = {"smile": 0.5}


def _followed_by_landmarks(movement: str, excursion: dict[str, float],
                           landmark: dict[str, float], flags: tuple[str, ...], scored: bool
                           ) -> tuple[tuple[str, ...], bool]:
    """Flag, and do not score, a movement the landmarks follow of which they saw less than
    :data:`LANDMARK_FOLLOWS` of what the measure read (excursions per side, mm)."""
    share = LANDMARK_FOLLOWS.get(movement)
    read, seen = (np.array(list(v.values()), dtype=float) for v in (excursion, landmark))
    if share is None or not (np.isfinite(read).any() and np.isfinite(seen).all()):
        return flags, scored
    strongest, seen = float(np.nanmax(read)), float(np.max(seen))
    if strongest <= 0:
        return flags, scored
    if seen < share * strongest:
        flags = (*flags, f"the landmarks saw {seen:.1f} mm of this {display_name(movement)}"
                         f" where the measure read {strongest:.1f} mm: the two disagree (a "
                         "tracking slip or a mouth sliding sideways), so it is not scored")
        scored = False
    return flags, scored


#: A side whose resting noise SD exceeds this share of the movement's typical size cannot tell
#: the movement apart (behind glasses at 7.7 fps one eye's lid patches read 2.2-2.7 mm of
#: noise and a frozen eye 4.7 mm of closure): its performances are listed, not scored.
NOISY_SHARE = 0.25
TYPICAL_MM = dict(Detector().typical_mm)


def score_performance(frames: pd.DataFrame, movement: str, rep: int, start_s: float,
                      end_s: float, sides: str = "both", flags: tuple[str, ...] = (),
                      scored: bool = True, noise: dict[str, float] | None = None,
                      blinks: tuple[tuple[float, float], ...] = ()) -> PerformanceScore:
    """Both sides' excursions with their intervals, symmetry and timing in one performance.

    Parameters
    ----------
    blinks : tuple of (onset_s, end_s)
        Spontaneous blinks of the recording (:func:`facescore.segments.detect_blinks`): left
        out of an eye closure's travel.
    noise : dict of side to float, optional
        Each side's resting-travel SD for this movement's signal in this recording, mm
        (:func:`facescore.uncertainty.noise_table`); missing or NaN: :data:`DEFAULT_NOISE_MM`,
        and the performance is flagged.

    A performance that is not ``scored`` (its signal was mostly masked) keeps its excursions
    for the record but gets no symmetry and no weaker side. A weaker side is named only when
    the intervals clear normal variation (:data:`DEADBAND_TEXT`).
    """
    noise = noise or {}
    sd = {side: float(noise.get(side, float("nan"))) for side in ("left", "right")}
    if not all(np.isfinite(v) for v in sd.values()):
        sd = {side: v if np.isfinite(v) else DEFAULT_NOISE_MM for side, v in sd.items()}
        flags = (*flags, NOISE_ASSUMED_FLAG)
    for side, value in sd.items():
        limit = NOISY_SHARE * TYPICAL_MM[movement]
        if value > limit:
            flags = (*flags, f"{side} side's measure too noisy in this recording for "
                             f"{a_name(movement)} (resting noise {value:.1f} mm, "
                             f"limit {limit:.1f})")
            scored = False
    travels = _travels(frames, movement, start_s, end_s, blinks)
    held = _held_levels(travels, movement)
    values = largest_excursions(held)
    if movement == "eye_closure":
        flags, scored = _within_the_eye(frames, values, flags, scored)
    cross_check = _landmark_excursions(frames, movement, start_s, end_s, blinks)
    flags, scored = _followed_by_landmarks(movement, values, cross_check, flags, scored)
    left, right = (_side_score(frames, movement, side, *travels[side], held[side],
                               values[side], sd[side], cross_check[side]) for side in SIDES)
    symmetry = symmetry_pct(left.excursion_mm, right.excursion_mm) if scored else None
    band = (uncertainty.symmetry_interval(left.interval, right.interval)
            if symmetry is not None else None)
    weaker = (uncertainty.weaker_side(left.interval, right.interval)
              if symmetry is not None else None)
    withheld = (side_withheld(movement, weaker, NOISE_ASSUMED_FLAG in flags, cross_check)
                if weaker else None)
    if withheld:
        weaker = None
    if withheld == CROSS_CHECK_FLAG:
        flags = (*flags, CROSS_CHECK_FLAG)  # an assumed noise is flagged already
    return PerformanceScore(movement, rep, start_s, end_s, left, right, symmetry, weaker,
                            right.onset_s - left.onset_s, sides, tuple(flags), scored,
                            band.low if band else None, band.high if band else None)
