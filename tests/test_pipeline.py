"""The per-frame rows are kept in chunks without changing the table."""

from __future__ import annotations

import pandas as pd
from conftest import fast_spec

from facescore.pipeline import FrameMeasurer, measure_video


def test_rows_gathered_in_chunks_give_the_same_table(phantoms, monkeypatch):
    phantom, whole = phantoms.get("astro_0.5", fast_spec(0.5))
    assert len(whole.frames) > 3 * 7
    monkeypatch.setattr(FrameMeasurer, "CHUNK_FRAMES", 7)
    chunked = measure_video(phantom.video)
    pd.testing.assert_frame_equal(whole.frames, chunked.frames)
