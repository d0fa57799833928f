"""Measurements compared with a phantom's truth: how facescore proves its numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .scores import excursions, right_left_ratio


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
