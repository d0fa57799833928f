"""Sources: true timestamps, rotation metadata, mirroring, bad files, flat memory."""


import contextlib
import os

import numpy as np
import pytest
from clips import write_video

from facescore.errors import SourceError
from facescore.sources import open_source


def _band_frame(height=32, width=64):
    """Black frame with a white band on its left quarter: orientation is visible."""
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[:, : width // 4] = 255
    return rgb


def test_variable_frame_rate_timestamps_are_true(tmp_path):
    times = [0, 33, 66, 120, 150, 250, 260, 300, 400, 433]
    frames = [np.full((64, 64, 3), 10 * i, np.uint8) for i in range(len(times))]
    path = write_video(tmp_path / "vfr.mp4", frames, times_ms=times)
    with open_source(path) as source:
        got = [round(f.t_s * 1000) for f in source]
    assert got == times


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_rotation_metadata_is_honoured(tmp_path, rotation):
    path = write_video(tmp_path / "rot.mp4", [_band_frame()] * 3, rotation=rotation)
    with open_source(path) as source:
        assert source.info.rotation_deg == rotation
        rgb = next(iter(source)).rgb
    # The display matrix asks for a counter-clockwise turn of `rotation` degrees.
    expected = np.rot90(_band_frame(), k=rotation // 90)
    assert rgb.shape == expected.shape
    assert (source.info.width, source.info.height) == (expected.shape[1], expected.shape[0])
    bright = rgb[..., 0] > 128
    assert (bright == (expected[..., 0] > 128)).mean() > 0.95


def test_mirrored_source_is_flipped_back(tmp_path):
    path = write_video(tmp_path / "plain.mp4", [_band_frame()] * 2)
    with open_source(path) as plain, open_source(path, mirrored=True) as mirrored:
        a, b = next(iter(plain)).rgb, next(iter(mirrored)).rgb
    assert np.array_equal(a[:, ::-1], b)


def test_missing_file(tmp_path):
    with pytest.raises(SourceError, match="no such file"):
        open_source(tmp_path / "nothing.mp4")


def test_non_video_file(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 100)
    with pytest.raises(SourceError):
        open_source(path)


def test_truncated_file(tmp_path):
    frames = [np.random.default_rng(i).integers(0, 255, (64, 64, 3), np.uint8)
              for i in range(30)]
    path = write_video(tmp_path / "whole.mp4", frames)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(SourceError), open_source(cut) as source:
        for _ in source:
            pass


def test_still_image(tmp_path):
    from PIL import Image

    path = tmp_path / "photo.png"
    Image.fromarray(_band_frame()).save(path)
    with open_source(path) as source:
        frames = list(source)
    assert len(frames) == 1 and frames[0].rgb.shape == (32, 64, 3)


def test_memory_stays_flat_while_streaming(tmp_path):
    psutil = pytest.importorskip("psutil")
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (360, 640, 3), np.uint8) for _ in range(8)]
    path = write_video(tmp_path / "long.mp4", frames * 60)  # 480 frames, 330 MB if all were held
    process = psutil.Process()
    with open_source(path) as source:
        for frame in source:
            if frame.index == 50:
                early = process.memory_info().rss
        late = process.memory_info().rss
    assert frame.index == 479
    assert late - early < 60e6


def test_stopping_early_stops_the_decoding_thread(tmp_path):
    import threading

    frames = [np.full((64, 64, 3), i, np.uint8) for i in range(60)]
    path = write_video(tmp_path / "clip.mp4", frames)
    for _ in range(3):  # closing while the decoder runs ahead must neither hang nor crash
        with open_source(path) as source:
            for frame in source:
                if frame.index == 3:
                    break
    assert not [t for t in threading.enumerate() if t.name == "facescore-stage"]


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="thread names read from /proc")
def test_no_ffmpeg_decoding_thread_outlives_its_source(tmp_path):
    """Video above 720p is decoded in FFmpeg's frame threads. They end with the decoder, which
    is freed with the last reference to its stream, not when the container closes; one left
    behind hangs a process forked afterwards (a local batch's workers) when that process frees
    its copy of the decoder."""
    from facescore.report import seeking

    def decoding_threads():
        names = []
        for task in os.listdir("/proc/self/task"):
            with contextlib.suppress(OSError), open(f"/proc/self/task/{task}/comm") as f:
                names.append(f.read().strip())
        return [name for name in names if name.startswith("av:")]

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (736, 1296, 3), dtype=np.uint8) for _ in range(12)]
    path = write_video(tmp_path / "large.mp4", frames)
    with open_source(path) as source:
        kept = [frame for frame in source if frame.index < 6]  # frames kept past the close
        assert decoding_threads()  # frame threads while decoding: the case under test
    assert not decoding_threads() and len(kept) == 6
    seeking.seek_nearest(path, [0.1, 0.3], mirrored=False)
    assert not decoding_threads()
