"""Resting symmetry: brow height, palpebral fissure and mouth-corner height per side."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .anatomy import SIDES
from .segments import Segment, rest_mask


def rest_measures(frames: pd.DataFrame, movements: list[Segment]) -> dict:
    """Resting brow height, palpebral fissure and mouth-corner height per side, mm."""
    at_rest = rest_mask(frames, movements)
    out: dict = {"n_frames": int(at_rest.sum())}
    names = {"brow_height": "brow_height_mm", "palpebral_fissure": "eye_aperture_lm_mm",
             "mouth_corner_height": "mouth_corner_height_mm"}
    for name, column in names.items():
        values = {side: float(np.nanmedian(frames.loc[at_rest, f"{column}_{side}"]))
                  if at_rest.any() else None for side in SIDES}
        difference = (values["left"] - values["right"]
                      if None not in values.values() else None)
        out[name] = {**values, "left_minus_right_mm": difference}
    return out
