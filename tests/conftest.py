"""Shared fixtures: phantoms are generated once per test session and measured once."""

from __future__ import annotations

import os

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy: see facescore/__init__.py

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from facescore.phantom import MOVEMENTS, PhantomSpec, Sway, Timing, generate  # noqa: E402
from facescore.pipeline import measure_video  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"
SHARED_DATA = SHARED / "data"

#: Short timing and a 400 px frame keep the suite quick; the benchmark uses full-size phantoms.
FAST_TIMING = Timing(lead_in_s=0.8, ramp_s=0.3, hold_s=0.4, rest_s=0.6)


def fast_spec(right_gain: float = 1.0, **kwargs) -> PhantomSpec:
    gains = {m: {"left": 1.0, "right": right_gain} for m in MOVEMENTS}
    kwargs.setdefault("size", (400, 400))
    kwargs.setdefault("timing", FAST_TIMING)
    kwargs.setdefault("sway", Sway())
    return PhantomSpec(gains=gains, **kwargs)


class PhantomCache:
    """Generates and measures each distinct phantom once."""

    def __init__(self, root: Path):
        self.root = root
        self._cache: dict = {}

    def get(self, key: str, spec: PhantomSpec, photo=None, photo_name=None, mirrored=False):
        if key not in self._cache:
            phantom = generate(self.root / f"{key}.mp4", spec, photo=photo,
                               photo_name=photo_name)
            self._cache[key] = phantom
        phantom = self._cache[key]
        measure_key = (key, mirrored)
        if measure_key not in self._cache:
            self._cache[measure_key] = measure_video(phantom.video, mirrored=mirrored)
        return phantom, self._cache[measure_key]


@pytest.fixture(scope="session")
def phantoms(tmp_path_factory) -> PhantomCache:
    return PhantomCache(tmp_path_factory.mktemp("phantoms"))


@pytest.fixture(scope="session")
def neutral_photo() -> np.ndarray:
    path = SHARED_DATA / "neutral.jpeg"
    if not path.exists():
        pytest.skip("../shared/data/neutral.jpeg is not present")
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"))


#: The short clip the input corpus and the interruption tests are built from: the first this
#: many seconds of the weak-right phantom (rest, one brow raise, rest), at this size, px.
CLIP_S = 2.6
CLIP_PX = 240


@pytest.fixture(scope="session")
def clip_frames(phantoms) -> list[np.ndarray]:
    """RGB frames of a short exam clip (rest, a brow raise, rest), 240 x 240 px at 30 fps, cut
    from the phantom most tests share (so it costs no extra generation)."""
    import av
    import cv2

    phantom, _ = phantoms.get("astro_0.5", fast_spec(0.5))
    frames = []
    with av.open(str(phantom.video)) as container:
        for frame in container.decode(video=0):
            if frame.time > CLIP_S:
                break
            frames.append(cv2.resize(frame.to_ndarray(format="rgb24"), (CLIP_PX, CLIP_PX),
                                     interpolation=cv2.INTER_AREA))
    return frames


@pytest.fixture(scope="session")
def clip(clip_frames, tmp_path_factory) -> Path:
    """The short exam clip as an H.264 MP4."""
    from clips import write_video

    return write_video(tmp_path_factory.mktemp("clip") / "clip.mp4", clip_frames)
