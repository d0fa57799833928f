"""The recording's summary: each movement over its repetitions, the affected side (only when the
movements agree) and unvalidated estimates in the style of eFACE, Sunnybrook and
House-Brackmann — each with the number of items it rests on, withheld below a minimum.
"""

from __future__ import annotations

import numpy as np

from . import uncertainty
from .anatomy import SIDES
from .protocol import MOVEMENTS
from .scores import (
    NOISE_ASSUMED_FLAG,
    NOISE_WITHHELD,
    NOT_NAMED_NOISE_ASSUMED,
    PerformanceScore,
    no_side_because,
    side_withheld,
    symmetry_pct,
)

#: Fewer measured items than these and an estimate is withheld.
MIN_EFACE_ITEMS = 2  # of 3 measured (brow, gentle eye closure, smile)
MIN_SUNNYBROOK_ITEMS = 3  # of 5 (brow, eye closure, smile; snarl and pucker unmeasured)
#: What the summary says when the movements do not agree on a weaker side.
NO_CONSISTENT_SIDE = "no consistent weaker side"
#: Movements that must call the same side weaker (none calling the other) to name it.
MIN_AGREEING_MOVEMENTS = 2


def _ratio_score(ratio: float) -> float:
    """eFACE-style item score: 100 at equal movement, falling as the ratio departs from 1."""
    return float(np.clip(100 - abs(100 - 100 * ratio), 0, 100))


def _sunnybrook_item(ratio: float) -> int:
    """1 (unable) … 5 (complete), from the affected/healthy movement ratio."""
    for limit, score in ((0.1, 1), (0.35, 2), (0.65, 3), (0.9, 4)):
        if ratio < limit:
            return score
    return 5


#: Each scale estimate's short name, for a row that gives only why it was withheld.
SCALE_NAMES = {"efface_dynamic": "eFACE-style dynamic items",
               "sunnybrook_voluntary": "Sunnybrook-style voluntary movement",
               "house_brackmann": "House-Brackmann-style grade"}


def _withheld(scale: str, reason: str) -> dict:
    return {"name": SCALE_NAMES[scale], "withheld": reason}


def _efface_estimate(ratios: dict[str, float]) -> dict:
    """eFACE-style dynamic items from each measured item's affected/healthy ratio."""
    if len(ratios) < MIN_EFACE_ITEMS:
        return _withheld("efface_dynamic",
                         f"{len(ratios)} of 3 items measured (need {MIN_EFACE_ITEMS})")
    efface = {k: _ratio_score(v) for k, v in ratios.items()}
    return {"items": efface, "mean": float(np.mean(list(efface.values()))),
            "items_measured": f"{len(efface)} of 3",
            "label": "unvalidated estimate in the style of eFACE dynamic items (100 = normal)"}


def _sunnybrook_estimate(ratios: dict[str, float]) -> dict:
    """Sunnybrook-style voluntary movement from each measured item's affected/healthy ratio."""
    if len(ratios) < MIN_SUNNYBROOK_ITEMS:
        return _withheld("sunnybrook_voluntary",
                         f"{len(ratios)} of 5 items measured (need {MIN_SUNNYBROOK_ITEMS})")
    sunnybrook = {k: _sunnybrook_item(v) for k, v in ratios.items()}
    return {"items": sunnybrook, "score": 4 * sum(sunnybrook.values()),
            # the most the measured items can give (each scores 1-5): 3 items read 36 of 60
            "out_of": 4 * 5 * len(sunnybrook),
            "items_measured": f"{len(sunnybrook)} of 5 (snarl and lip pucker are not measured)",
            "label": "unvalidated partial estimate of Sunnybrook voluntary movement "
                     "(4 × sum of items scored 1-5)"}


def _house_brackmann(points: int) -> str:
    grades = {8: "I", 7: "II", 6: "III", 5: "III", 4: "IV", 3: "IV", 2: "V", 1: "V", 0: "VI"}
    return grades[int(points)]


def movement_summary(reps: list[PerformanceScore]) -> dict:
    """One movement over its repetitions: each side's median excursion with its interval (from
    the performances' own noise and the repetitions' spread), symmetry with its interval, and
    the weaker side only when the intervals clear normal variation.

    Repetitions not scored (made while talking, masked, too noisy) are counted but left out.
    """
    scored = [p for p in reps if p.scored]
    combined = {side: uncertainty.combine_repetitions([getattr(p, side).interval
                                                       for p in scored]) for side in SIDES}
    nan = float("nan")
    values = {side: combined[side].value if combined[side] else nan for side in SIDES}
    symmetries = [p.symmetry_pct for p in scored if p.symmetry_pct is not None]
    symmetry = symmetry_pct(values["left"], values["right"]) if symmetries else None
    band = (uncertainty.symmetry_interval(combined["left"], combined["right"])
            if symmetry is not None and None not in combined.values() else None)
    weaker = (uncertainty.weaker_side(combined["left"], combined["right"])
              if band is not None else None)
    noise_assumed = any(NOISE_ASSUMED_FLAG in p.flags for p in scored)
    withheld = (side_withheld(scored[0].movement, weaker, noise_assumed,
                              _landmark_medians(scored)) if weaker else None)
    if withheld:
        weaker = None
    lefts = [p.left.excursion_mm for p in scored]
    rights = [p.right.excursion_mm for p in scored]
    return {
        "repetitions": len(reps),
        "scored_repetitions": len(scored),
        "left": values["left"], "right": values["right"],
        "left_low": combined["left"].low if combined["left"] else None,
        "left_high": combined["left"].high if combined["left"] else None,
        "right_low": combined["right"].low if combined["right"] else None,
        "right_high": combined["right"].high if combined["right"] else None,
        "symmetry_pct": symmetry,
        "symmetry_low_pct": band.low if band else None,
        "symmetry_high_pct": band.high if band else None,
        "weaker_side": weaker,
        # why a side that cleared normal variation was still not named (None: it was not)
        "side_withheld": withheld,
        # the weaker side, or in words why none is named
        "side_call": _side_call(weaker, withheld, symmetry, values["left"], values["right"],
                                noise_assumed),
        # Spread over repetitions: max − min (0 for a single performance).
        "left_spread_mm": float(np.nanmax(lefts) - np.nanmin(lefts)) if lefts else None,
        "right_spread_mm": float(np.nanmax(rights) - np.nanmin(rights)) if rights else None,
        "symmetry_spread_pct": (float(max(symmetries) - min(symmetries)) if symmetries
                                else None),
    }


#: Why a movement whose sides differ beyond normal variation names no side.
UNDECIDED_WITHIN_NOISE = ("undecided (the difference is within the noise and the repetitions' "
                          "spread)")


def _side_call(weaker: str | None, withheld: str | None, symmetry: float | None,
               left_mm: float, right_mm: float, noise_assumed: bool) -> str:
    """A movement summary's weaker side or, in words, why none: as
    :attr:`facescore.scores.PerformanceScore.side_call` says it of one performance."""
    if weaker:
        return weaker
    if withheld:
        return f"undecided ({withheld})"
    if symmetry is None:
        return "not compared"
    return no_side_because(symmetry, left_mm, right_mm, noise_assumed, UNDECIDED_WITHIN_NOISE)


def _no_side_named(compared: dict[str, dict], calls: set[str], withheld: list[str]) -> str:
    """Why the summary names no affected side, in words after :data:`NO_CONSISTENT_SIDE`."""
    if len(calls) > 1:
        return ": the movements disagree"
    if calls:
        return f": only one movement found the {next(iter(calls))} side weaker"
    if withheld:
        return f": no side could be named ({'; '.join(withheld)})"
    undecided = {m["side_call"] for m in compared.values()
                 if m["side_call"].startswith("undecided")}
    if NOT_NAMED_NOISE_ASSUMED in undecided:
        return f": undecided, {NOISE_WITHHELD}"
    if undecided:
        return ": the differences are within the measurement's uncertainty"
    return ": the sides moved alike within normal variation"


def _overall_symmetry(movements: list[dict]) -> uncertainty.Interval | None:
    """The mean symmetry over compared movements, %, with its 95 % interval from each
    movement's measurement uncertainty (the movements themselves differ: the mean is of these
    movements, not of a face). Each movement enters unfloored — a frozen side's noise reads
    as often below zero as above — so that frozen movements average to zero, not above it;
    the caller clips. None when a movement's sides have no interval."""
    if any(m[f"{side}_low"] is None for m in movements for side in SIDES):
        return None
    signed = [uncertainty.symmetry_interval(
        *(uncertainty.Interval(m[side], m[f"{side}_low"], m[f"{side}_high"]) for side in SIDES),
        floored=False) for m in movements]
    return None if None in signed else uncertainty.mean_interval(signed)


def _landmark_medians(performances: list[PerformanceScore]) -> dict[str, float]:
    """Each side's median landmark-read excursion over performances, mm (NaN: none read)."""
    out = {}
    for side in SIDES:
        values = np.array([getattr(p, side).landmark_mm for p in performances], dtype=float)
        out[side] = float(np.median(values[np.isfinite(values)])) if np.isfinite(
            values).any() else float("nan")
    return out


def affected_side(by_movement: dict[str, dict]) -> str | None:
    """The side the movements agree is weaker: at least :data:`MIN_AGREEING_MOVEMENTS` call it
    weaker and none calls the other; else None."""
    calls = [m["weaker_side"] for m in by_movement.values() if m.get("weaker_side")]
    if len(set(calls)) != 1 or len(calls) < MIN_AGREEING_MOVEMENTS:
        return None
    return calls[0]


def summary_estimates(performances: list[PerformanceScore], rest: dict) -> dict:
    """Overall symmetry, the affected side and unvalidated estimates in the style of eFACE,
    Sunnybrook and House-Brackmann (measurement method), from each movement's summary.

    A recording with no exam movement says so and has no estimate. Items of a movement with no
    weaker side are within normal variation and score as normal; an estimate is given only
    with enough measured items, and says how many.
    """
    by_movement = {m: movement_summary([p for p in performances if p.movement == m])
                   for m in MOVEMENTS if any(p.movement == m for p in performances)}
    if not by_movement:
        return {"overall_symmetry": None, "affected_side": None, "estimates": {},
                "note": "no exam movement was performed: no symmetry and no grade"}
    compared = {k: m for k, m in by_movement.items() if m["symmetry_pct"] is not None}
    if not compared:
        scored = any(m["scored_repetitions"] for m in by_movement.values())
        return {"overall_symmetry": None, "affected_side": None, "per_movement": by_movement,
                "estimates": {},
                "note": "no movement was large enough to compare the sides" if scored else
                        "no movement could be scored (made while talking, or the measure "
                        "failed or was too noisy: see each movement's notes)"}
    affected = affected_side(compared)
    calls = {m["weaker_side"] for m in compared.values() if m["weaker_side"]}
    withheld = sorted({m["side_withheld"] for m in compared.values() if m["side_withheld"]})
    note = None if affected else NO_CONSISTENT_SIDE + _no_side_named(compared, calls, withheld)

    def ratio(movement: str) -> float | None:
        m = compared.get(movement)
        if m is None:
            return None
        if affected is None or m["weaker_side"] != affected:
            return 1.0  # within normal variation
        healthy = "right" if affected == "left" else "left"
        if m[healthy] <= 0:
            return None
        value = max(m[affected], 0.0) / m[healthy]
        if movement == "eye_closure":  # closure as a share of each eye's resting fissure
            fissure = rest["palpebral_fissure"]
            if fissure[affected] and fissure[healthy]:
                value = (max(m[affected], 0) / fissure[affected]) / (m[healthy] / fissure[healthy])
        return float(value)

    items = {"brow_raise": ratio("brow_raise"), "gentle_eye_closure": ratio("eye_closure"),
             "smile": ratio("smile")}
    measured = {k: v for k, v in items.items() if v is not None}
    if affected is None and calls:
        # eFACE and Sunnybrook grade one side against the other. Named weaker sides with no
        # affected side (they disagree, or one movement alone names one) would score every
        # item as normal: a smile at 12 % on the left beside a brow at 46 % on the right read
        # eFACE 100 and Sunnybrook 60 of 60.
        reason = (f"the movements name different weaker sides ({', '.join(sorted(calls))}): "
                  "a one-sided scale is not estimated" if len(calls) > 1 else
                  f"only one movement names a weaker side ({next(iter(calls))}): a "
                  "one-sided scale needs an affected side")
        estimates: dict = {scale: _withheld(scale, reason)
                           for scale in ("efface_dynamic", "sunnybrook_voluntary")}
    else:
        estimates = {"efface_dynamic": _efface_estimate(measured),
                     "sunnybrook_voluntary": _sunnybrook_estimate(measured)}
    if affected is not None and "brow_raise" in compared and "smile" in compared:
        brow = compared["brow_raise"][affected]
        mouth = compared["smile"][affected]
        points = min(4, int(max(brow, 0) // 2.5)) + min(4, int(max(mouth, 0) // 2.5))
        estimates["house_brackmann"] = {
            "points": points, "grade": _house_brackmann(points), "items_measured": "2 of 2",
            "label": "unvalidated estimate by the House-Brackmann measurement method (1 point "
                     "per 2.5 mm of affected-side brow and mouth-corner travel, max 8; the "
                     "method counts millimetres, normal being about 10 mm an item, and does "
                     "not compare with the other side)",
        }
    else:
        estimates["house_brackmann"] = _withheld(
            "house_brackmann", "needs an affected side and both brow raise and smile measured")
    overall = _overall_symmetry(list(compared.values()))
    out = {
        "overall_symmetry": (float(np.clip(overall.value, 0, 100)) if overall else
                             float(np.mean([m["symmetry_pct"] for m in compared.values()]))),
        "overall_symmetry_low": max(0.0, overall.low) if overall else None,
        "overall_symmetry_high": min(100.0, overall.high) if overall else None,
        "affected_side": affected,
        "per_movement": by_movement,
        "estimates": estimates,
    }
    if affected:
        named = sum(m["weaker_side"] == affected for m in compared.values())
        out["affected_side_support"] = (f"{named} of {len(compared)} compared movements name "
                                        "it, none the other")
    if note:
        out["note"] = note
    return out
