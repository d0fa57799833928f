"""Synkinesis: one region moving involuntarily while another performs its movement."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .anatomy import SIDES
from .scores import held_travel
from .segments import Segment


def _travel_during(frames: pd.DataFrame, segment: Segment, columns: list[str],
                   signed: bool = False) -> float:
    """The largest level the columns' summed travel from the rest before ``segment`` held
    during it (:func:`facescore.scores.held_travel`), mm; NaN when not measured.

    ``signed``: travel counts in the columns' own direction (an eye narrowing: the upper lid
    down plus the lower lid up); else each column's travel counts whichever way it went. Held
    levels, as the movements are read: the largest single frame of a noisy clip is its noise
    (a small GIF face read 11.9 mm of narrowing, 129 % of its eye's opening).
    """
    t = frames["t_s"].to_numpy()
    during = (t >= segment.onset) & (t <= segment.end)
    before = (t >= segment.onset - 0.4) & (t <= segment.onset)
    if not during.any():
        return float("nan")
    values = frames[columns].to_numpy(dtype=float)
    reference = values[before if before.any() else during]
    if not np.isfinite(reference).any(axis=0).all():
        return float("nan")  # a region masked throughout: no travel to report
    moved = values[during] - np.nanmedian(reference, axis=0)
    travel = (moved if signed else np.abs(moved)).sum(axis=1)
    held = held_travel(t[during], travel)
    return float(np.nanmax(held)) if np.isfinite(held).any() else float("nan")


def _median(values: list[float]) -> float:
    """The median of the measured values; NaN (without numpy's all-NaN warning) when none was."""
    finite = [v for v in values if np.isfinite(v)]
    return float(np.median(finite)) if finite else float("nan")


def synkinesis_measures(frames: pd.DataFrame, movements: list[Segment], rest: dict) -> dict:
    """Involuntary movement of one region during another's movement, per side.

    ``eye_narrowing_during_smile``: how far the lids close during smiles, mm and % of the
    resting fissure. ``mouth_during_eye_closure``: mouth-corner travel during eye closures, mm.
    """
    out: dict = {}
    smiles = [s for s in movements if s.label == "smile"]
    closures = [s for s in movements if s.label == "eye_closure"]
    for side in SIDES:
        fissure = rest["palpebral_fissure"][side]
        # A lid that opened wider narrowed by 0; an unmeasured one stays NaN.
        narrowing = [float(np.maximum(_travel_during(frames, s, [f"lid_drop_mm_{side}",
                                                                 f"lower_lid_rise_mm_{side}"],
                                                     signed=True), 0.0)) for s in smiles]
        mouth = [float(np.hypot(*[_travel_during(frames, s, [f"{c}_mm_{side}"])
                                  for c in ("mouth_out", "mouth_up")])) for s in closures]
        narrow_mm = _median(narrowing) if narrowing else None
        if narrow_mm is not None and fissure and narrow_mm > fissure:
            narrow_mm = None  # an eye cannot narrow by more than it is open: the measure failed
        out[side] = {
            "eye_narrowing_during_smile_mm": narrow_mm,
            "eye_narrowing_during_smile_pct": (100 * narrow_mm / fissure
                                               if narrow_mm is not None and fissure else None),
            "mouth_during_eye_closure_mm": _median(mouth) if mouth else None,
        }
    return out
