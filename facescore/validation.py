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


def blink_agreement(t: np.ndarray, blinks, labels: np.ndarray, lead: int = 0) -> dict:
    """Precision, recall and F1 of blink events against per-frame labels.

    Parameters
    ----------
    t : (N,) ndarray
        Frame times of the analysed recording, s.
    blinks : sequence of Blink
        The report's blink events (:func:`facescore.segments.detect_blinks`).
    labels : (M,) ndarray
        Per-frame labels, > 0 where the eyes are closing or closed.
    lead : int
        Frames the labels lead the video by: label row i marks decoded frame i + lead.

    An event and a labelled run of closed frames agree when they meet; two events on one
    labelled blink count once.
    """
    closed = np.zeros(len(t), dtype=bool)
    rows = np.arange(len(labels)) + lead
    keep = rows < len(t)
    closed[rows[keep]] = labels[keep] > 0
    edges = np.diff(np.concatenate([[0], closed.astype(int), [0]]))
    true = list(zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0], strict=True))
    found = [(int(np.searchsorted(t, b.onset_s)),
              int(np.searchsorted(t, b.onset_s + b.duration_s)) + 1) for b in blinks]

    def meets(a, b):
        return a[0] <= b[1] and b[0] <= a[1]

    recall = float(np.mean([any(meets(x, y) for y in found) for x in true])) if true else 1.0
    precision = (float(np.mean([any(meets(y, x) for x in true) for y in found]))
                 if found else 0.0)
    matched = {i for i, x in enumerate(true) for y in found if meets(x, y)}
    precision = min(precision, len(matched) / max(len(found), 1))
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"labelled": len(true), "found": len(found), "precision": precision,
            "recall": recall, "f1": f1}
