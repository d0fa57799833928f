"""Synkinesis: one region moving involuntarily while another performs its movement."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .anatomy import SIDES
from .segments import Segment


def _travel_during(frames: pd.DataFrame, segment: Segment, columns: list[str]) -> float:
    t = frames["t_s"].to_numpy()
    during = (t >= segment.onset) & (t <= segment.end)
    before = (t >= segment.onset - 0.4) & (t <= segment.onset)
    if not during.any():
        return float("nan")
    values = frames[columns].to_numpy(dtype=float)
    reference = values[before if before.any() else during]
    if not np.isfinite(reference).any(axis=0).all():
        return float("nan")  # a region masked throughout: no travel to report
    travel = np.abs(values[during] - np.nanmedian(reference, axis=0)).sum(axis=1)
    travel = travel[np.isfinite(travel)]
    return float(travel.max()) if len(travel) else float("nan")


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
        narrowing = [_travel_during(frames, s, [f"lid_drop_mm_{side}",
                                                f"lower_lid_rise_mm_{side}"]) for s in smiles]
        mouth = [float(np.hypot(*[_travel_during(frames, s, [f"{c}_mm_{side}"])
                                  for c in ("mouth_out", "mouth_up")])) for s in closures]
        narrow_mm = float(np.nanmedian(narrowing)) if narrowing else None
        out[side] = {
            "eye_narrowing_during_smile_mm": narrow_mm,
            "eye_narrowing_during_smile_pct": (100 * narrow_mm / fissure
                                               if narrow_mm is not None and fissure else None),
            "mouth_during_eye_closure_mm": float(np.nanmedian(mouth)) if mouth else None,
        }
    return out
