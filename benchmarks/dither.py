"""Run-to-run noise for the accuracy benchmarks: every decoded frame with ±1 grey level of
seeded dither added, a change no camera would notice (its own noise is several levels).

The tables of a benchmark run with ``--dither`` against the same run without give how far
the figures move for no reason; a change to the code that moves them less is within that
noise. Used by benchmarks/real_recordings.py and benchmarks/phantom_accuracy.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace

import numpy as np

#: Seed of the dither: the same dither in every run.
SEED = 12345


class _Dithered:
    """A source whose frames carry ±1 grey level of uniform integer noise (luma, or RGB)."""

    def __init__(self, source):
        self.source, self.info = source, source.info
        self.rng = np.random.default_rng(SEED)

    def _noisy(self, picture: np.ndarray) -> np.ndarray:
        noise = self.rng.integers(-1, 2, picture.shape, dtype=np.int16)
        return np.clip(picture.astype(np.int16) + noise, 0, 255).astype(np.uint8)

    def __iter__(self) -> Iterator:
        for frame in self.source:
            if frame.gray is not None:
                yield replace(frame, gray=self._noisy(frame.gray))
            else:
                yield type(frame).from_rgb(frame.index, frame.t_s, self._noisy(frame.rgb))


@contextlib.contextmanager
def dithered_sources():
    """Within this block, :func:`facescore.pipeline.measure_video` reads dithered frames."""
    from facescore import pipeline

    original = pipeline.open_source

    @contextlib.contextmanager
    def open_dithered(*args, **kwargs):
        with original(*args, **kwargs) as source:
            yield _Dithered(source)

    pipeline.open_source = open_dithered
    try:
        yield
    finally:
        pipeline.open_source = original
