"""Rest, the exam's movements and blinks, found in the per-frame table (pure functions).

Segments are MNE-style annotations: onset, duration and a label. Every movement has, per side,
an *activation*: that side's travel along the movement's direction (:func:`activation`). Real
recordings hold more than the exam: blinks, talking, expressions, winks, one-sided movements.
So detection works per side and then decides what each event is:

1. **Per-side events**: where a side's activation rises through an on-threshold and falls back
   below an off-threshold (hysteresis), i.e. leaves rest and returns to it.
2. **One performance or two**: events of the two sides that overlap in time are one (bilateral)
   performance; events that do not overlap — a left wink, then a right one — stay separate
   performances, each scored with both sides' travel over its own interval.
3. **What it is**: where movements that move each other's signals fire at once (an eye closure
   also lowers the brows, a smile narrows the eyes), the one that moved most relative to its
   typical size wins; movements of separate regions (a brow raise during a smile) coexist.
   An eye closure shorter than :attr:`Detector.blink_max_s` is a spontaneous blink (see
   :func:`detect_blinks`), not an exam eye closure; an event not held for
   :attr:`Detector.min_hold_s` is a flicker of expression, and one longer than
   :attr:`Detector.max_hold_s` a sustained expression — none is scored.
   Thresholds rise with the side's own background movement (talking, expressive speech), so an
   exam movement must stand out from it.
4. **Seen by the landmarks too**: an event counts only when the landmarks (drift-free, though
   biased toward symmetry) also moved with it, by their level held through it (not their
   largest frame, which rides on the model's jitter); this keeps a tracking glitch from
   becoming a movement.
5. **Quality**: a performance during which a large share of its region's frames were masked is
   flagged, and not scored when most were.

A sidecar file of (start, end, movement) replaces detection.
"""

from __future__ import annotations

import bisect
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from . import recognition
from .anatomy import SIDES
from .display import signed
from .errors import FacescoreError
from .protocol import MOVEMENTS, REGION, a_name
from .signals import running_median
from .uncertainty import median_interval

#: Pairs of movements of which one moves the other's signal as a side effect: when they
#: overlap, the smaller (relative to its typical size) is not a performance of its own.
SIDE_EFFECTS = {frozenset(pair) for pair in (
    ("eye_closure", "frown"), ("eye_closure", "smile"), ("brow_raise", "frown"),
    ("brow_raise", "eye_closure"), ("frown", "smile"))} | {frozenset((m,)) for m in MOVEMENTS}
#: Movements along the same signal in opposite directions.
OPPOSITE = {"brow_raise": "frown", "frown": "brow_raise"}
#: The flag of a movement made while the person talked (listed, left out of the summary).
TALKING_FLAG = "performed while talking"
#: The smiling direction: up and out at 45°; travel inward or downward is not smile.
SMILE_DIRECTION = np.array([1.0, 1.0]) / np.sqrt(2.0)


@dataclass(frozen=True)
class Segment:
    """One performance of a movement (or a rest period, or a blink), in seconds.

    Attributes
    ----------
    sides : str
        "both", or the one side that moved ("left"/"right") when only one did.
    flags : tuple of str
        Quality problems met during the performance (e.g. "masked frames: 24 %").
    scored : bool
        False when the signal was too poor to score it as if it were clean.
    """

    onset: float
    duration: float
    label: str
    rep: int = 1
    source: str = "detected"  # or "sidecar", "prompt"
    sides: str = "both"
    flags: tuple[str, ...] = ()
    scored: bool = True

    @property
    def end(self) -> float:
        return self.onset + self.duration


@dataclass(frozen=True)
class Detector:
    """Thresholds of movement detection (mm of a side's travel) and of what counts as what."""

    on_mm: float = 2.0
    off_mm: float = 0.7
    #: A performance leaves rest, holds and returns: shorter than this is a flicker of
    #: expression (in speech, brows and cheeks move for fractions of a second), s.
    min_duration_s: float = 0.6
    #: While the person talks, movements other than eye closure must be this much larger
    #: (lips, cheeks and brows move with speech).
    talking_factor: float = 1.5
    #: Eye closures briefer than this (above half their peak) are spontaneous blinks.
    blink_max_s: float = 0.5
    #: Longer than this is a sustained expression, not one performance of the exam.
    max_hold_s: float = 6.0
    #: Typical peak travel of each movement, mm: used only to decide between movements that
    #: fire at once (a 3 mm frown is a bigger frown than a 3 mm smile is a smile).
    typical_mm: tuple[tuple[str, float], ...] = (
        ("brow_raise", 8.0), ("eye_closure", 8.0), ("smile", 8.0), ("frown", 4.0))
    #: Frowns are smaller movements: their thresholds are scaled by this.
    frown_scale: float = 0.7
    #: The landmarks must see at least this share of the measure's travel on a side: their
    #: level held through the movement above their rest just before it (medians over
    #: ``landmark_rest_s``, at least 6 frames), against the measure's held level.
    landmark_share: float = 0.2
    landmark_rest_s: float = 0.5
    #: …and above half its peak for at least this long, s.
    min_hold_s: float = 0.35
    #: …and it stands out from the person's own background movement (talking, expressions):
    #: its on-threshold is at least this many times the median absolute activation within
    #: ``background_s`` around it.
    background_factor: float = 3.0
    background_s: float = 10.0
    #: Rest that must precede a performance, s (its baseline is taken there).
    rest_before_s: float = 0.3
    #: An event starting within this of the end of an opposite one is its return, s.
    return_s: float = 0.5
    #: Masked share of a performance's frames that flags it, and that stops it being scored.
    flag_masked_share: float = 0.2
    unscored_masked_share: float = 0.5
    #: A head turn (deg) during a performance that flags it, and that stops it being scored:
    #: the face is then no longer compared with itself in one pose.
    flag_turn_deg: float = 6.0
    unscored_turn_deg: float = 12.0


def activation(frames: pd.DataFrame, movement: str, side: str, method: str = "flow"
               ) -> np.ndarray:
    """Travel of one side along a movement's direction, mm (NaN where not measured).

    brow_raise: brow up; frown: brow down; eye_closure: the aperture's narrowing (upper lid
    down); smile: the mouth corner's travel in its smiling direction, up and out at 45°.

    Parameters
    ----------
    method : {"flow", "landmarks"}
        The prior-free measurement, or the landmarks' cross-check.
    """
    tag = "_lm" if method == "landmarks" else ""

    def col(name: str) -> np.ndarray:
        return frames[f"{name}{tag}_mm_{side}"].to_numpy(dtype=float)

    if movement == "brow_raise":
        return col("brow_lift")
    if movement == "eye_closure":
        return col("lid_drop")
    if movement == "smile":
        return SMILE_DIRECTION[0] * col("mouth_out") + SMILE_DIRECTION[1] * col("mouth_up")
    if movement == "frown":
        return -col("brow_lift")
    raise ValueError(f"unknown movement {movement!r}")


def hysteresis(signal: np.ndarray, on: float, off: float) -> list[tuple[int, int]]:
    """Index ranges [start, stop) where the signal rises above ``on`` and stays above ``off``.

    The range reaches back to where the signal last rose above ``off``; NaN counts as below.
    """
    runs, start, active = [], 0, False
    values = np.nan_to_num(np.asarray(signal, dtype=float), nan=-np.inf)
    for i, value in enumerate(values):
        if not active and value >= on:
            start, active = i, True
            while start > 0 and values[start - 1] >= off:
                start -= 1
        elif active and value < off:
            runs.append((start, i))
            active = False
    if active:
        runs.append((start, len(values)))
    return runs


def _median(values: np.ndarray) -> float:
    """``np.median`` of finite values, the same number without its overhead (it is taken twice
    a frame): the middle value, or the mean of the middle two."""
    half = len(values) // 2
    if len(values) % 2:
        return float(np.partition(values, half)[half])
    middle = np.partition(values, (half - 1, half))
    return float((middle[half - 1] + middle[half]) / 2)


class _TrailingMedian:
    """The median of a signal's finite values over a window whose two ends only move forward
    (:func:`hysteresis_from_rest` asks for it at most frames), kept as a sorted list: each
    step inserts and removes a few values instead of partitioning the whole window. The same
    number as :func:`_median` of those values."""

    def __init__(self, values: np.ndarray):
        self._values = values.tolist()
        self._sorted: list[float] = []
        self._start = self._stop = 0

    def median(self, start: int, stop: int) -> float | None:
        """The median of the finite values in ``[start, stop)`` (None if there are none);
        neither end may move back."""
        for value in self._values[self._stop:stop]:
            if math.isfinite(value):
                bisect.insort(self._sorted, value)
        self._stop = max(self._stop, stop)
        for value in self._values[self._start:start]:
            if math.isfinite(value):
                del self._sorted[bisect.bisect_left(self._sorted, value)]
        self._start = max(self._start, start)
        n = len(self._sorted)
        if not n:
            return None
        half = n // 2
        return self._sorted[half] if n % 2 else (self._sorted[half - 1] + self._sorted[half]) / 2


def hysteresis_from_rest(signal: np.ndarray, t: np.ndarray, on: np.ndarray | float,
                         off: float, rest_window_s: float = 1.0,
                         long_window_s: float = 4.0, floor: np.ndarray | float = -np.inf
                         ) -> list[tuple[int, int]]:
    """Like :func:`hysteresis`, but measured from the rest just before each event.

    While no event is under way, the reference is the median of the signal over the last
    ``rest_window_s`` — but never below its median over the last ``long_window_s``, so that
    coming back from a movement the other way (the mouth corners drop in a frown, then
    return) is not taken for a new movement — and never below ``floor`` (per frame, e.g. the
    signal's level over half a minute, :func:`resting_level`): a lower reference was taken
    inside a movement the other way held longer than the long window (a 3 s brow raise: against
    it, its own release looked like a frown that never ended, and hid the real frown that
    followed). An event starts where the signal rises ``on``
    above the reference, reaches back to where it was last within ``off`` of it, and ends where
    it falls back within ``off`` of that same reference (frozen for the event). Slow drifts of
    rest (a face relaxing over a minute) then do not merge into the next movement.
    """
    values = np.asarray(signal, dtype=float)
    finite = np.isfinite(values)
    on_level = np.broadcast_to(np.asarray(on, dtype=float), values.shape)
    floor_level = np.broadcast_to(np.asarray(floor, dtype=float), values.shape)
    runs: list[tuple[int, int]] = []
    active, start, reference = False, 0, 0.0
    recent, longer = 0, 0
    short_window, long_window = _TrailingMedian(values), _TrailingMedian(values)
    for i, value in enumerate(values):
        if not finite[i]:
            continue
        if not active:
            while t[recent] < t[i] - rest_window_s:
                recent += 1
            while t[longer] < t[i] - long_window_s:
                longer += 1
            short = short_window.median(recent, i)
            if short is None:
                continue
            reference = max(short, long_window.median(longer, i), floor_level[i])
            if value - reference >= on_level[i]:
                active, start = True, i
                while start > 0 and np.isfinite(values[start - 1]) and \
                        values[start - 1] - reference >= off:
                    start -= 1
        elif value - reference < off:
            runs.append((start, i))
            active = False
    if active:
        runs.append((start, len(values)))
    return runs


@dataclass
class _Event:
    movement: str
    start: int
    stop: int  # exclusive
    sides: set[str] = field(default_factory=set)
    peak: float = 0.0

    def overlaps(self, other: _Event) -> bool:
        return self.start < other.stop and other.start < self.stop


def background_level(signal: np.ndarray, t: np.ndarray, window_s: float) -> np.ndarray:
    """Per frame, how much this side moves anyway (talking, fleeting expressions): the median,
    within ``window_s`` around it, of the signal's departure from its own 1 s running median."""
    values = np.asarray(signal, dtype=float)
    # What moves quickly: speech and fleeting expressions, not a held exam movement (a
    # smile held through most of a clip must not raise its own threshold).
    step_s = float(np.median(np.diff(t))) if len(t) > 1 else 1 / 30
    width = max(3, int(round(1.0 / max(step_s, 1e-3))) | 1)
    filled = np.where(np.isfinite(values), values, np.nanmedian(values) if np.isfinite(
        values).any() else 0.0)
    magnitude = np.abs(filled - running_median(filled, width))
    magnitude[~np.isfinite(values)] = np.nan
    half = window_s / 2
    starts = np.searchsorted(t, t - half, side="left")
    stops = np.searchsorted(t, t + half, side="right")
    step = max(1, len(t) // 400)  # the level changes slowly: evaluate on a grid
    grid = np.arange(0, len(t), step)
    levels = []
    for i in grid:
        window = magnitude[starts[i]:stops[i]]
        window = window[np.isfinite(window)]
        levels.append(_median(window) if len(window) else np.nan)
    return np.interp(np.arange(len(t)), grid, np.nan_to_num(levels, nan=0.0))


def resting_level(signal: np.ndarray, t: np.ndarray, window_s: float = 30.0) -> np.ndarray:
    """The signal's typical level around each frame: its running median over ``window_s``, mm.

    An exam is mostly rest, so over half a minute the median is the rest even when the
    re-zeroed rest is off (a short clip whose movement filled half of it), and a movement held
    for seconds does not move it.
    """
    values = np.asarray(signal, dtype=float)
    finite = np.isfinite(values)
    if not finite.any():
        return np.full(values.shape, -np.inf)
    step = float(np.median(np.diff(t))) if len(t) > 1 else 1.0
    size = max(3, int(round(window_s / max(step, 1e-3))) | 1)
    filled = np.where(finite, values, np.median(values[finite]))
    return running_median(filled, min(size, 2 * len(values) - 1))


def _side_events(frames: pd.DataFrame, movement: str, detector: Detector,
                 talking: np.ndarray | None = None) -> list[_Event]:
    scale = detector.frown_scale if movement == "frown" else 1.0
    t = frames["t_s"].to_numpy(dtype=float)
    base_on = np.full(len(t), detector.on_mm * scale)
    if talking is not None and movement != "eye_closure":
        base_on = np.where(talking, base_on * detector.talking_factor, base_on)
    events = []
    for side in SIDES:
        signal = activation(frames, movement, side)
        background = background_level(signal, t, detector.background_s)
        on = np.maximum(base_on, detector.background_factor * background)
        for start, stop in hysteresis_from_rest(signal, t, on, detector.off_mm * scale,
                                                floor=resting_level(signal, t)):
            peak = float(np.nanmax(signal[start:stop]))
            if _above_half_peak_s(signal, t, start, stop) < detector.min_hold_s \
                    and movement != "eye_closure":  # brief eye closures are blinks, kept here
                continue
            events.append(_Event(movement, start, stop, {side}, peak))
    return events


def _pair_sides(events: list[_Event]) -> list[_Event]:
    """Join a left and a right event of one movement when they overlap in time (new events:
    the given ones are left as they were)."""
    events = sorted((replace(e, sides=set(e.sides)) for e in events), key=lambda e: e.start)
    joined: list[_Event] = []
    for event in events:
        partner = next((j for j in joined if j.overlaps(event) and not (j.sides & event.sides)),
                       None)
        if partner is None:
            joined.append(event)
        else:
            partner.start, partner.stop = min(partner.start, event.start), max(partner.stop,
                                                                                event.stop)
            partner.sides |= event.sides
            partner.peak = max(partner.peak, event.peak)
    return joined


def held_s(signal: np.ndarray, t: np.ndarray, start: int, stop: int, level: float) -> float:
    """How long, s, a signal stayed at or above ``level`` within frames [start, stop): the span
    from the first to the last such frame, plus one frame (0 when it never did)."""
    part = np.nan_to_num(np.asarray(signal[start:stop], dtype=float), nan=-np.inf)
    above = np.nonzero(part >= level)[0]
    if not len(above):
        return 0.0
    step = float(np.median(np.diff(t))) if len(t) > 1 else 0.0
    return float(t[start + above[-1]] - t[start + above[0]]) + step


def _above_half_peak_s(signal: np.ndarray, t: np.ndarray, start: int, stop: int) -> float:
    part = signal[start:stop]
    if not np.isfinite(part).any():  # a side masked throughout (glasses): it held nothing
        return 0.0
    return held_s(signal, t, start, stop, 0.5 * np.nanmax(part))


def turning_points(values: np.ndarray, hysteresis_mm: float) -> list[int]:
    """Indices where a signal turns (a peak or a trough), ignoring wiggles smaller than
    ``hysteresis_mm``; NaN samples are skipped."""
    turns: list[int] = []
    direction, extreme, extreme_i = 0, None, 0
    for i, value in enumerate(values):
        if not np.isfinite(value):
            continue
        if extreme is None:
            extreme, extreme_i = value, i
        elif direction == 0:
            if abs(value - extreme) >= hysteresis_mm:
                direction = 1 if value > extreme else -1
                extreme, extreme_i = value, i
        elif direction * (value - extreme) > 0:  # still going the same way
            extreme, extreme_i = value, i
        elif direction * (extreme - value) >= hysteresis_mm:  # turned
            turns.append(extreme_i)
            direction, extreme, extreme_i = -direction, value, i
    return turns


def talking_mask(frames: pd.DataFrame, window_s: float = 1.5, min_turns: int = 4,
                 min_mm: float = 1.5) -> np.ndarray:
    """Frames inside talking: the lips open and close repeatedly.

    From the landmarks' gap between the lips (``lip_gap_mm``). A frame is in talking when the
    gap turned (opened then closed, or the reverse, by at least ``min_mm``) at least
    ``min_turns`` times within ``window_s`` around it. One smile opens the lips once and closes
    them once: that is not talking.
    """
    if "lip_gap_mm" not in frames:
        return np.zeros(len(frames), dtype=bool)
    t = frames["t_s"].to_numpy(dtype=float)
    turn_t = t[turning_points(frames["lip_gap_mm"].to_numpy(dtype=float), min_mm)]
    if not len(turn_t):
        return np.zeros(len(t), dtype=bool)
    half = window_s / 2
    counts = (np.searchsorted(turn_t, t + half, side="right")
              - np.searchsorted(turn_t, t - half, side="left"))
    return counts >= min_turns


@dataclass(frozen=True)
class SideEvents:
    """Every stretch where one side's signal of a movement left its rest, per movement (the
    raw material of :func:`detect_events` and :func:`activity`, found once for both), and
    the frames inside talking (:func:`talking_mask`) they were found with."""

    by_movement: dict[str, list[_Event]]
    talking: np.ndarray


def side_events(frames: pd.DataFrame, detector: Detector = Detector()) -> SideEvents:
    """Each movement's one-sided events in the per-frame table (none with under two frames)."""
    talking = talking_mask(frames)
    if len(frames) < 2:
        return SideEvents({movement: [] for movement in MOVEMENTS}, talking)
    return SideEvents({movement: _side_events(frames, movement, detector, talking)
                       for movement in MOVEMENTS}, talking)


def activity(frames: pd.DataFrame, detector: Detector = Detector(),
             found: SideEvents | None = None) -> list[tuple[float, float]]:
    """Every stretch, s, where any side's signal of any movement left its rest — kept as a
    performance or not. Noise is measured away from all of them: a movement that detection
    missed is still movement, not noise. ``found``: :func:`side_events` of these frames, when
    already found."""
    t = frames["t_s"].to_numpy(dtype=float)
    found = found or side_events(frames, detector)  # none in under two frames
    return [(float(t[e.start]), float(t[min(e.stop, len(t) - 1)]))
            for movement in MOVEMENTS for e in found.by_movement[movement]]


def detect_movements(frames: pd.DataFrame, detector: Detector = Detector()) -> list[Segment]:
    """Every performance of every exam movement, labelled and numbered by repetition (the
    first half of :func:`detect_events`)."""
    return detect_events(frames, detector)[0]


def detect_events(frames: pd.DataFrame, detector: Detector = Detector(),
                  found: SideEvents | None = None) -> tuple[list[Segment], list[Segment]]:
    """Find every performance of every exam movement, and the other expressions.

    Each event the per-side signals find is named by the expression recogniser
    (:func:`facescore.recognition.recognise`): an exam movement, another expression (lip
    pucker, nose wrinkle, an open mouth, a glance… — listed, never scored) or nothing (an eye
    closure the eyes did not make). Blinks, sustained expressions and talking are left out
    (:func:`detect_blinks` finds the blinks).

    Parameters
    ----------
    frames : pandas.DataFrame
        The per-frame table.
    found : SideEvents, optional
        :func:`side_events` of these frames, when already found.

    Returns
    -------
    movements : list of Segment
        Exam movements, in time order, numbered by repetition.
    others : list of Segment
        Other expressions (``label`` names the expression, ``scored`` False), in time order.
    """
    t = frames["t_s"].to_numpy(dtype=float)
    if len(t) < 2:
        return [], []
    rises = recognition.evidence(frames)
    step = float(np.median(np.diff(t)))
    hold_frames = max(1, int(round(detector.min_hold_s / max(step, 1e-3))))
    typical = dict(detector.typical_mm)
    found = found or side_events(frames, detector)
    candidates = [event for movement in MOVEMENTS
                  for event in _pair_sides(found.by_movement[movement])
                  if _seen_by_landmarks(frames, event, detector)]
    # What the expression scores make of each (None: not the movement at all), read once.
    names = {id(event): recognition.recognise(event.movement, recognition.peak_evidence(
        rises, event.start, event.stop, hold_frames)) for event in candidates}
    # What a candidate is not: too brief or too long for a performance, begun before any rest
    # was seen, a blink. Those are set aside before they can hide a real movement.
    def plausible(event: _Event) -> bool:
        onset, end = t[event.start], t[min(event.stop, len(t) - 1)]
        if end - onset < detector.min_duration_s or end - onset > detector.max_hold_s:
            return False
        if onset - t[0] < detector.rest_before_s:
            return False  # no rest seen before it: the recording began inside an expression
        return not (event.movement == "eye_closure" and _is_blink(frames, event, t, detector))

    # Coming back from a movement one way looks like a movement the other way (a brow raise
    # released after a long hold, against a reference taken during the hold): an event that
    # starts as an opposite one ends (within :attr:`Detector.return_s`) is that return. Only a
    # movement the expression scores confirm has a return: a brow the pixels alone read sinking
    # for 2 s (soniya's webcam, unrecognised, the landmarks barely moving) swallowed the real
    # brow raise that began as it ended.
    ends = {}
    for event in candidates:
        if names[id(event)] == event.movement:
            ends.setdefault(OPPOSITE.get(event.movement), []).append(
                t[min(event.stop, len(t) - 1)])

    def is_return(event: _Event) -> bool:
        return any(abs(t[event.start] - end) <= detector.return_s
                   for end in ends.get(event.movement, []))

    candidates = [e for e in candidates if plausible(e) and not is_return(e)]
    # Strongest relative to its kind first; a weaker candidate overlapping a kept one that
    # moves it as a side effect is that side effect (the brows come down a little when the eyes
    # close, a smile narrows the eyes). Movements of separate regions may coexist.
    kept: list[_Event] = []
    for event in sorted(candidates, key=lambda e: e.peak / typical[e.movement], reverse=True):
        if not any(event.overlaps(k) and frozenset((event.movement, k.movement)) in SIDE_EFFECTS
                   for k in kept):
            kept.append(event)
    segments, others, reps = [], [], dict.fromkeys(MOVEMENTS, 0)
    for event in sorted(kept, key=lambda e: e.start):
        onset, end = t[event.start], t[min(event.stop, len(t) - 1)]
        name = names[id(event)]
        if name is None:
            continue
        closing = rises["eye_closure"].to_numpy()
        if name == "eye_closure" and np.isfinite(closing[event.start:event.stop]).any() \
                and held_s(closing, t, event.start, event.stop,
                           recognition.EYE_CLOSURE_MIN_RISE) < detector.blink_max_s:
            continue  # a blink (:func:`detect_blinks` counts it)
        if name != event.movement:
            others.append(Segment(float(onset), float(end - onset), name, source="recognised",
                                  sides="both" if len(event.sides) == 2 else
                                  next(iter(event.sides)), scored=False,
                                  flags=(f"the per-side signals read {a_name(event.movement)}",)))
            continue
        flags, scored = _quality(frames, event, detector)
        if found.talking[event.start:event.stop].mean() > 0.5:
            # Speech moves the lips, cheeks and brows beyond the resting noise the intervals
            # know of: listed with its excursions, but not scored (no symmetry, no side, left
            # out of the summary), so that ``scored`` says what the summary reads.
            flags, scored = (*flags, TALKING_FLAG), False
        if event.stop >= len(t):
            flags = (*flags, "not back at rest when the recording ended")
        reps[event.movement] += 1
        sides = "both" if len(event.sides) == 2 else next(iter(event.sides))
        segments.append(Segment(float(onset), float(end - onset), event.movement,
                                reps[event.movement], sides=sides, flags=flags, scored=scored))
    return segments, others


def _seen_by_landmarks(frames: pd.DataFrame, event: _Event, detector: Detector) -> bool:
    """Whether the landmarks, read alone, moved with the measure: on some side, their level held
    through the event (median over the frames where that side's measure is above half its
    peak) above their rest before it (median over :attr:`Detector.landmark_rest_s`) is at
    least :attr:`Detector.landmark_share` of the measure's own held level there.

    Held levels, not the largest frame: a maximum rides on the model's frame-to-frame jitter,
    and a recording modelled on key frames has a quarter of its samples. On the phantom's
    warped frown (the landmarks follow a fifth of it) the largest frame read 0.22 of the
    measure with every frame modelled and 0.17 with key frames, while the landmarks' held levels
    agreed (0.43 / 0.41 mm left, 0.67 / 0.65 mm right); over four seeds of its noise, the
    held share read 0.26-0.44 in both modes.
    """
    t = frames["t_s"].to_numpy(dtype=float)
    step = float(np.median(np.diff(t))) if len(t) > 1 else 1.0
    rest_frames = max(5, int(round(detector.landmark_rest_s / max(step, 1e-3))))
    for side in SIDES:
        measure = activation(frames, event.movement, side)[event.start:event.stop]
        landmarks = activation(frames, event.movement, side, "landmarks")
        peak = float(np.nanmax(measure)) if np.isfinite(measure).any() else 0.0
        if peak <= 0:
            continue  # this side did not move this way
        held = np.nan_to_num(measure, nan=-np.inf) >= 0.5 * peak
        during = landmarks[event.start:event.stop][held]
        rest = landmarks[max(0, event.start - rest_frames):event.start + 1]
        level = float(np.median(measure[held]))
        if not np.isfinite(during).any():
            continue
        moved = np.nanmedian(during) - (np.nanmedian(rest) if np.isfinite(rest).any() else 0.0)
        if moved >= detector.landmark_share * level:
            return True
    return False


def _is_blink(frames: pd.DataFrame, event: _Event, t: np.ndarray, detector: Detector) -> bool:
    longest = max(_above_half_peak_s(activation(frames, "eye_closure", side), t, event.start,
                                     event.stop) for side in SIDES)
    return longest < detector.blink_max_s


def _quality(frames: pd.DataFrame, event: _Event, detector: Detector) -> tuple[tuple[str, ...],
                                                                                   bool]:
    region = REGION[event.movement]
    flags = []
    scored = True
    for side in SIDES:
        column = f"valid_{region}_{side}"
        if column not in frames:
            continue
        masked = 1.0 - float(frames[column].to_numpy(dtype=bool)[event.start:event.stop].mean())
        if masked >= detector.flag_masked_share:
            flags.append(f"{side} {region}: {100 * masked:.0f} % of frames masked "
                         "(measure does not fit)")
        if masked >= detector.unscored_masked_share:
            scored = False
    for side in _unmeasured_at_peak(frames, event):
        flags.append(f"{side} {region}: measure masked where the movement peaked (its "
                     "excursion would be a lower bound)")
        scored = False
    if "pose_ok" in frames and not frames["pose_ok"].iloc[event.start:event.stop].fillna(
            False).astype(bool).all():
        flags.append("head turned beyond limits during the movement")
    turn = _head_turn_deg(frames, event)
    if turn >= detector.flag_turn_deg:
        flags.append(f"head turned {turn:.0f}° during the movement")
        if turn >= detector.unscored_turn_deg:
            scored = False
    return tuple(flags), scored


#: Frames within this share of the landmarks' largest travel are the movement's peak.
PEAK_SHARE = 0.9


def _unmeasured_at_peak(frames: pd.DataFrame, event: _Event) -> list[str]:
    """Sides whose measure is masked in every frame where the movement peaked.

    The peak is where both sides' landmark travel, summed, is within :data:`PEAK_SHARE` of its
    largest (the landmarks are never masked, and their timing is right even where their size is
    pulled toward symmetry). A side unmeasured there reads only the way up and down: an eye
    whose closed frames were masked behind glasses read 1.2 mm for a true 5.4 mm."""
    both = sum(activation(frames, event.movement, side, "landmarks")[event.start:event.stop]
               for side in SIDES)
    if not np.isfinite(both).any() or np.nanmax(both) <= 0:
        return []
    peak = np.nan_to_num(both, nan=-np.inf) >= PEAK_SHARE * np.nanmax(both)
    return [side for side in SIDES
            if not np.isfinite(activation(frames, event.movement, side)[event.start:event.stop][
                peak]).any()]


def _head_turn_deg(frames: pd.DataFrame, event: _Event) -> float:
    """How far the head turned (yaw and pitch, deg) during an event from its pose just before.

    MediaPipe's pose itself moves by up to ~3-4° with an expression, so only larger turns mean
    anything."""
    if "yaw_deg" not in frames or "pitch_deg" not in frames:
        return 0.0
    pose = frames[["yaw_deg", "pitch_deg"]].to_numpy(dtype=float)
    before = pose[max(0, event.start - 12):event.start + 1]
    during = pose[event.start:event.stop]
    if not (np.isfinite(before).all(axis=1).any() and np.isfinite(during).all(axis=1).any()):
        return 0.0
    reference = np.nanmedian(before, axis=0)
    return float(np.nanmax(np.hypot(*(during - reference).T)))


# --- blinks ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Blink:
    """One spontaneous blink.

    Attributes
    ----------
    onset_s, duration_s : float
        When the first eye started closing, and for how long either was closing.
    completeness : dict of side to float or None
        Deepest narrowing over the resting aperture, 0-1 (1: fully closed); None where the eye
        was not measured.
    peak_s : dict of side to float or None
        When each eye was most closed.
    """

    onset_s: float
    duration_s: float
    completeness: dict
    peak_s: dict

    @property
    def lag_s(self) -> float | None:
        """Right eye's deepest point minus the left's, s."""
        left, right = self.peak_s.get("left"), self.peak_s.get("right")
        return None if left is None or right is None else right - left


def detect_blinks(frames: pd.DataFrame, rest_aperture_mm: dict[str, float],
                  detector: Detector = Detector(), min_share: float | None = None,
                  baseline_s: float = 3.0) -> list[Blink]:
    """Spontaneous blinks: brief closings (shorter than :attr:`Detector.blink_max_s` above half
    their depth) of the eyes by at least ``min_share`` of their open aperture (by default
    :func:`blink_min_share` of the frame rate).

    *When* a blink happens is read from the landmarks' apertures (both eyes averaged, against
    their own running median over ``baseline_s``): the landmark model sees blinks reliably, even
    where a small or soft eye defeats the pixel measure. *How complete* each eye's blink was is
    read from that eye's own pixels (``lid_drop`` over the resting aperture), so an incomplete
    blink on a weak side shows as such; None where the eye was not measured.
    """
    t = frames["t_s"].to_numpy(dtype=float)
    if len(t) < 3:
        return []
    step = float(np.median(np.diff(t)))
    if min_share is None:
        min_share = blink_min_share(step)
    width = max(3, int(round(baseline_s / max(step, 1e-3))) | 1)
    shares = []
    for side in SIDES:
        aperture = frames[f"eye_aperture_lm_mm_{side}"].to_numpy(dtype=float)
        filled = np.where(np.isfinite(aperture), aperture, np.nanmedian(aperture))
        open_level = running_median(filled, width)
        shares.append(np.where(np.isfinite(aperture), 1.0 - aperture / open_level, np.nan))
    stacked = np.vstack(shares)
    seen = np.isfinite(stacked).sum(axis=0)
    # Frames where neither eye was measured stay NaN (without nanmean's empty-slice warning).
    closing = np.where(seen > 0, np.nansum(stacked, axis=0) / np.maximum(seen, 1), np.nan)
    narrowing = {side: activation(frames, "eye_closure", side) for side in SIDES}
    blinks = []
    for start, stop in _join_reopenings(hysteresis(closing, min_share, 0.5 * min_share)):
        if _above_half_peak_s(closing, t, start, stop) >= detector.blink_max_s:
            continue  # a held closure, not a blink
        # The pixel measure may peak a frame either side of the landmarks' estimate.
        lo, hi = max(0, start - 1), min(len(t), stop + 1)
        completeness, peak = {}, {}
        for side in SIDES:
            part = narrowing[side][lo:hi]
            rest = rest_aperture_mm.get(side)
            if rest and np.isfinite(part).any():
                i = int(np.nanargmax(part))
                completeness[side] = float(np.clip(part[i] / rest, 0.0, 1.0))
                peak[side] = float(t[lo + i])
            else:
                completeness[side], peak[side] = None, None
        end = t[min(stop, len(t) - 1)]
        blinks.append(Blink(float(t[start]), float(end - t[start]), completeness, peak))
    return blinks


def _join_reopenings(runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Join closings separated by a single open frame: the lids did not open between them, the
    frame caught them mid-way (at 7.7 fps one blink read as two, 0.26 s apart)."""
    joined: list[tuple[int, int]] = []
    for start, stop in runs:
        if joined and start - joined[-1][1] <= 1:
            joined[-1] = (joined[-1][0], stop)
        else:
            joined.append((start, stop))
    return joined


def blink_min_share(frame_step_s: float) -> float:
    """The narrowing (share of the open aperture) that marks a blink, for a frame interval.

    A blink closes the lids for about a tenth of a second: at 20 fps and faster some frame
    catches the eye closed, and 30 % of the aperture separates blinks from glances (obama: 14
    of 14 blinks, none invented; 15 % invents one). At 7.7 fps a frame's exposure averages the
    closed moment with the open ones and blinks read 20-35 %: 15 % finds 17 of 17 labelled
    blinks there, none invented. Between 10 and 20 fps the threshold moves linearly.
    """
    fast, slow = 1 / 20, 1 / 10
    share = np.interp(frame_step_s, [fast, slow], [0.3, 0.15])
    return float(share)


#: Per-blink completeness differences between the eyes of a healthy face: the largest median
#: over a clip's blinks was 0.10 (obama_address, 13 blinks), with single blinks up to 0.84 apart
#: (mahie, WolfgangLanger, obama). An eye is named as closing less only beyond this margin.
BLINK_NORMAL_DIFFERENCE = 0.15
#: Confidence of the interval on the median per-blink difference.
BLINK_CONFIDENCE = 0.95
#: Recordings shorter than this, s, give no blink rate.
MIN_RATE_S = 30.0
#: Fewer blinks seen by both eyes than this, and their spread (middle half) is not shown.
MIN_SPREAD_BLINKS = 4


def less_complete_eye(difference: np.ndarray) -> tuple[list[float] | None, str | None, str]:
    """The eye whose blinks close less, named only when the blinks agree on it.

    Parameters
    ----------
    difference : ndarray, shape (n_blinks,)
        Left minus right completeness per blink (0-1 each, so -1 to 1).

    Returns
    -------
    interval : [low, high] or None
        Distribution-free 95 % interval of the median difference (order statistics: healthy
        per-blink differences are far from normal); None with fewer than 6 blinks, where even
        the smallest and largest do not bracket the median at 95 %.
    side : "left", "right" or None
        The eye that closes less: only when the interval excludes zero and the median is
        beyond :data:`BLINK_NORMAL_DIFFERENCE`.
    reason : str
        Why that side (or none) is named, in words.
    """
    if len(difference) == 0:
        return None, None, "no blink's completeness was measured on both eyes"
    low, high = median_interval(difference, BLINK_CONFIDENCE)
    if not (np.isfinite(low) and np.isfinite(high)):
        return None, None, (f"too few blinks to compare the eyes ({len(difference)} measured on "
                            "both; 6 are needed)")
    interval = [low, high]
    median = float(np.median(difference))
    if interval[0] <= 0.0 <= interval[1]:
        return interval, None, "the blinks do not agree on one (their 95 % interval spans zero)"
    if abs(median) < BLINK_NORMAL_DIFFERENCE:
        return interval, None, (f"within normal variation (the median per-blink difference "
                                f"is under {100 * BLINK_NORMAL_DIFFERENCE:.0f} %)")
    side = "right" if median > 0 else "left"
    return interval, side, f"the {side} eye closes less on most blinks"


def blink_summary(blinks: list[Blink], duration_s: float) -> dict:
    """Count, rate, and each side's completeness over the blinks measured on both eyes, with
    their per-blink difference; the lag.

    Both sides are read on the same blinks (each eye's measure is masked in different frames
    — glare, a hand, a turned head — and medians over different blinks would differ by
    themselves), and the per-blink difference comes with its spread, because healthy blinks
    vary widely: WolfgangLanger, a healthy face, reads medians of 77 % vs 55 % over the six
    blinks both eyes saw, yet per blink the sides differ by +3 % (middle half -13 to +35 %).
    An eye is named as closing less only as :func:`less_complete_eye` allows.
    """
    out: dict = {"count": len(blinks),
                 # Healthy faces blink 10-20 times a minute, so a shorter recording holds too
                 # few for a rate (one blink in 2.4 s is no "25 a minute").
                 "rate_per_min": (60.0 * len(blinks) / duration_s if duration_s >= MIN_RATE_S
                                  else None)}
    paired = [b for b in blinks if all(b.completeness.get(side) is not None for side in SIDES)]
    out["completeness_blinks"] = len(paired)
    for side in SIDES:
        values = np.array([b.completeness[side] for b in paired])
        out[f"completeness_{side}"] = float(np.median(values)) if len(values) else None
        out[f"complete_share_{side}"] = float(np.mean(values >= 0.8)) if len(values) else None
    difference = np.array([b.completeness["left"] - b.completeness["right"] for b in paired])
    out["completeness_left_minus_right"] = (float(np.median(difference)) if len(difference)
                                            else None)
    out["completeness_left_minus_right_iqr"] = (
        [float(v) for v in np.percentile(difference, [25, 75])] if len(difference) else None)
    interval, less_complete, reason = less_complete_eye(difference)
    out["completeness_left_minus_right_ci95"] = interval
    out["less_complete_side"] = less_complete
    out["less_complete_reason"] = reason
    out["less_complete_call"] = (
        f"the {less_complete} eye closes less: left minus right per blink "
        f"{signed(100 * out['completeness_left_minus_right'])} % (95 % interval "
        f"{signed(100 * interval[0])} to {signed(100 * interval[1])} %, "
        f"{len(difference)} blinks)"
        if less_complete else f"no eye named as closing less: {reason}")
    lags = [b.lag_s for b in blinks if b.lag_s is not None]
    out["median_lag_s"] = float(np.median(lags)) if lags else None
    return out


# --- rest and sidecars -------------------------------------------------------------------------

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
