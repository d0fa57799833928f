"""The per-frame rows are kept in chunks without changing the table; where the face was is
kept for every frame beside it."""

from __future__ import annotations

import numpy as np
import pandas as pd
from conftest import fast_spec

from facescore.anatomy import BROW, MARKED
from facescore.pipeline import FrameMeasurer, measure_video


def test_rows_gathered_in_chunks_give_the_same_table(phantoms, monkeypatch):
    phantom, whole = phantoms.get("astro_0.5", fast_spec(0.5))
    assert len(whole.frames) > 3 * 7
    monkeypatch.setattr(FrameMeasurer, "CHUNK_FRAMES", 7)
    chunked = measure_video(phantom.video)
    pd.testing.assert_frame_equal(whole.frames, chunked.frames)
    assert np.array_equal(whole.marked_px, chunked.marked_px, equal_nan=True)


def test_where_the_face_was_is_kept_for_every_frame(phantoms):
    """One row of marked points per frame, in frame px, finite exactly where a face was found,
    each inside its frame's landmark extent (the last two rows)."""
    _, measurement = phantoms.get("astro_0.5", fast_spec(0.5))
    marked = measurement.marked_px
    assert marked.shape == (len(measurement.frames), len(MARKED) + 2, 2)
    found = measurement.frames["face_found"].to_numpy(dtype=bool)
    assert np.isfinite(marked[found]).all() and np.isnan(marked[~found]).all()
    points, (low, high) = marked[found, :-2], (marked[found, -2:-1], marked[found, -1:])
    assert ((points >= low) & (points <= high)).all()
    assert (high[..., 0] <= measurement.info.width).all()
    # The patient's left brow is on the image's right in an unmirrored recording.
    brow = {side: marked[found][:, [MARKED.index(i) for i in BROW[side]], 0].mean(axis=1)
            for side in BROW}
    assert (brow["left"] > brow["right"]).all()


def test_stages_overlap_and_report_what_went_wrong_in_order():

    import pytest

    from facescore.concurrency import prefetch

    def produce():
        yield 1
        yield 2
        raise ValueError("frame 3 unreadable")

    got = []
    with pytest.raises(ValueError, match="frame 3"):
        for item in prefetch(produce(), depth=1):
            got.append(item)
    assert got == [1, 2]  # what came before the failure is delivered first

