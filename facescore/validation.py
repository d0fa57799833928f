"""Measurements compared with a phantom's truth: how facescore proves its numbers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .scores import excursions, right_left_ratio

#: What a side that never moves reads as its excursion, mm: on the photo phantoms the 99th
#: percentile over 1 s windows, over three encodes of one phantom, is 0.39 mm (median 0.12,
#: max 0.45). Those encodes differed from run to run for identical frames (x264's threads and
#: macroblock tree); phantoms are now encoded reproducibly (phantom.X264_OPTIONS), but a
#: recording's own codec adds this kind of noise, and for a small movement (the ~3.5 mm frown)
#: it is a large share of the right/left ratio, so the floor stays.
NOISE_FLOOR_MM = 0.4


def ratio_tolerance(true_ratio, true_left_mm, tolerance: float):
    """The ratio error a measurement is allowed: ``tolerance``, or what
    :data:`NOISE_FLOOR_MM` on both sides makes of the ratio, noise × (1 + ratio) / moving side
    (0.17–0.23 for the 3.5 mm frown, below 0.15 for the 7–8 mm movements). Arrays or floats."""
    return np.maximum(tolerance, NOISE_FLOOR_MM * (1 + np.asarray(true_ratio, dtype=float))
                      / np.asarray(true_left_mm, dtype=float))


def load_truth(video: str | Path) -> dict:
    """The truth JSON written beside a phantom video (``<video>.truth.json``)."""
    return json.loads(Path(f"{video}.truth.json").read_text())


def compare_with_truth(frames: pd.DataFrame, truth: dict,
                       methods: tuple[str, ...] = ("flow", "landmarks")) -> pd.DataFrame:
    """One row per performance and method: true and measured excursions and right/left ratio.

    Parameters
    ----------
    frames : pandas.DataFrame
        The per-frame table of the phantom video.
    truth : dict
        Its truth (:func:`load_truth`).

    Returns
    -------
    pandas.DataFrame
        Columns: movement, rep, method, true_left_mm, true_right_mm, left_mm, right_mm,
        true_ratio, ratio, ratio_error.
    """
    rows = []
    for p in truth["performances"]:
        for method in methods:
            sides = excursions(frames, p["movement"], p["start_s"], p["end_s"], method)
            ratio = right_left_ratio(sides)
            rows.append({
                "movement": p["movement"], "rep": p["rep"], "method": method,
                "true_left_mm": p["left"]["excursion_mm"],
                "true_right_mm": p["right"]["excursion_mm"],
                "left_mm": sides["left"].excursion_mm, "right_mm": sides["right"].excursion_mm,
                "true_ratio": p["right_left_ratio"], "ratio": ratio,
                "ratio_error": ratio - p["right_left_ratio"],
            })
    return pd.DataFrame(rows)
