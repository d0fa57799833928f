"""Properties of the synkinesis measures: read as held levels, never beyond the possible."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from facescore.segments import Segment
from facescore.synkinesis import synkinesis_measures

FPS = 15.0
FISSURE_MM = 9.0


def _frames(lid_drop: np.ndarray, lower_lid_rise: np.ndarray) -> pd.DataFrame:
    t = np.arange(len(lid_drop)) / FPS
    frames = pd.DataFrame({"t_s": t})
    for side in ("left", "right"):
        frames[f"lid_drop_mm_{side}"] = lid_drop
        frames[f"lower_lid_rise_mm_{side}"] = lower_lid_rise
        for name in ("mouth_out", "mouth_up"):
            frames[f"{name}_mm_{side}"] = 0.0
    return frames


def _narrowing(frames: pd.DataFrame) -> dict:
    smile = Segment(1.0, 2.0, "smile", 1)
    rest = {"palpebral_fissure": {"left": FISSURE_MM, "right": FISSURE_MM}}
    return synkinesis_measures(frames, [smile], rest)


def test_a_held_narrowing_keeps_its_level():
    t = np.arange(0, 4.0, 1 / FPS)
    narrowing = np.where((t > 1.3) & (t < 2.7), 2.0, 0.0)  # both lids, 2 mm each
    out = _narrowing(_frames(narrowing, narrowing))["left"]
    assert out["eye_narrowing_during_smile_mm"] == pytest.approx(4.0)
    assert out["eye_narrowing_during_smile_pct"] == pytest.approx(100 * 4.0 / FISSURE_MM)


def test_frame_noise_is_not_read_as_narrowing_and_nothing_exceeds_the_eye():
    """A still eye whose lid signals jump 3 mm from frame to frame (a small, compressed face):
    never beyond the opening, and on average well below the raw largest frame (the old
    reading), over many such clips."""
    t = np.arange(0, 4.0, 1 / FPS)
    during = (t >= 1.0) & (t <= 3.0)
    held, raw = [], []
    for seed in range(50):
        rng = np.random.default_rng(seed)
        lid, lower = rng.normal(0, 3.0, len(t)), rng.normal(0, 3.0, len(t))
        value = _narrowing(_frames(lid, lower))["left"]["eye_narrowing_during_smile_mm"]
        assert value is None or 0.0 <= value <= FISSURE_MM
        held.append(value if value is not None else FISSURE_MM)
        raw.append(np.max(np.abs(lid[during]) + np.abs(lower[during])))
    assert np.mean(held) < 0.8 * np.mean(raw)
