"""The report's key frames fetched by seeking are the frames, and the pictures, that a
streaming pass from the start finds; their points are the measurement's own."""

from __future__ import annotations

import numpy as np
import pytest

from facescore.report import keyframes, seeking

FPS = 30
N_FRAMES = 150


@pytest.fixture(scope="module")
def gop_clip(tmp_path_factory):
    """5 s of H.264 with B-frames and a key frame every 20 frames (so that reading the key
    frames seeks past whole groups and skips frames), each frame a different picture."""
    import av

    path = tmp_path_factory.mktemp("seeking") / "gop.mp4"
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
        stream.options = {"g": "20", "keyint_min": "20", "bf": "3", "sc_threshold": "0"}
        for i in range(N_FRAMES):
            picture = np.roll(base, 2 * i, axis=1)
            picture[:8, :] = (i * 7) % 256
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.mark.parametrize("mirrored", [False, True])
@pytest.mark.parametrize("wanted", [
    [0.0],
    [0.5, 0.52, 1.9, 3.4],             # several groups apart, and two near one another
    [1.0 / FPS * k for k in (7, 41, 42, 97, 149)],  # exactly on frames, the last one included
    [0.71, 2.049, 4.98],               # between frames
])
def test_seeking_finds_the_streaming_frames(gop_clip, wanted, mirrored):
    found = seeking.seek_nearest(gop_clip, wanted, mirrored)  # no fallback: it is sure here
    expected = seeking.stream_nearest(gop_clip, wanted, mirrored)
    assert found.keys() == expected.keys() == set(wanted)
    for t in wanted:
        assert np.array_equal(found[t], expected[t]), t


def test_unsure_falls_back_to_streaming(gop_clip):
    """A time far past the end cannot be settled by seeking; grab_frames still answers with
    the last frame, as the streaming pass does."""
    with pytest.raises(seeking.UnsureError):
        seeking.seek_nearest(gop_clip, [2.0, 60.0], False)
    grabbed = keyframes.grab_frames(gop_clip, [60.0, 2.0], False)
    expected = seeking.stream_nearest(gop_clip, [2.0, 60.0], False)
    assert all(np.array_equal(grabbed[t], expected[t]) for t in (2.0, 60.0))


def test_key_frames_are_drawn_from_the_measurement_without_the_landmark_model(monkeypatch):
    """With the measurement's marked points the landmark model is not loaded; points measured
    on frames decoded at half size are drawn where they belong on the full-size picture, and
    a frame the measurement found no face in is searched for."""
    from facescore.anatomy import MARKED

    rgb = np.random.default_rng(1).integers(0, 255, (400, 600, 3), dtype=np.uint8)
    points = np.full((478, 2), np.nan)
    points[list(MARKED)] = np.random.default_rng(2).uniform([200, 120], [400, 300],
                                                            (len(MARKED), 2))
    extent = np.array([[180.0, 80.0], [420.0, 340.0]])
    row = np.vstack([points[list(MARKED)], extent]) / 2  # measured at 300 x 200 px

    class NoModel:
        def __init__(self, *args, **kwargs):
            raise AssertionError("the landmark model was loaded")

    monkeypatch.setattr(keyframes, "FaceTracker", NoModel)
    drawn = keyframes.annotate_frames({"smile|peak": rgb}, {"smile|peak": row}, (300, 200))
    assert drawn == {"smile|peak": keyframes.jpeg(keyframes.face_crop(rgb, points,
                                                                      extent=extent))}
    with pytest.raises(AssertionError, match="landmark model was loaded"):
        keyframes.annotate_frames({"smile|peak": rgb}, {"smile|peak": row * np.nan}, (300, 200))


@pytest.mark.parametrize("frame_threads", [True, False])
def test_one_decoding_thread_finds_the_same_frames(gop_clip, frame_threads):
    wanted = [0.5, 0.52, 1.9, 3.4]
    found = seeking.seek_nearest(gop_clip, wanted, False, frame_threads=frame_threads)
    expected = seeking.stream_nearest(gop_clip, wanted, False)
    assert all(np.array_equal(found[t], expected[t]) for t in wanted)


def test_key_frames_read_in_a_child_process_are_the_ones_read_here(gop_clip, tmp_path):
    """The child's pictures equal this process's to the byte (marked points drawn or not);
    where the child fails, the frames are read here and the file's own error is raised."""
    from facescore.anatomy import MARKED

    times = {"smile|rest": 0.5, "smile|peak": 1.9, "frown|peak": 4.98}
    points = np.random.default_rng(3).uniform([30, 20], [100, 80], (len(MARKED), 2))
    row = np.vstack([points, [[20.0, 10.0], [110.0, 90.0]]])
    marked = {name: row for name in times}
    for args in ((None, None), (marked, (128, 96))):
        here = keyframes.key_frames(gop_clip, times, False, True, *args)
        there = keyframes.key_frames_in_child(gop_clip, times, False, True, *args)
        assert there.keys() == here.keys() and len(here) == 3
        assert all(there[name] == here[name] for name in here)

    not_a_video = tmp_path / "notes.mp4"
    not_a_video.write_text("not a video")
    with pytest.raises(Exception) as in_child:
        keyframes.key_frames_in_child(not_a_video, times, False)
    with pytest.raises(Exception) as here:
        keyframes.key_frames(not_a_video, times, False)
    assert type(in_child.value) is type(here.value)


def test_only_large_videos_read_their_key_frames_in_a_child(monkeypatch):
    monkeypatch.delenv("FACESCORE_LANDMARK_PROCESS", raising=False)
    assert keyframes.wants_child(1920, 1080)
    assert not keyframes.wants_child(1280, 720)
    monkeypatch.setenv("FACESCORE_LANDMARK_PROCESS", "0")  # no second process wanted
    assert not keyframes.wants_child(1920, 1080)


def test_a_child_started_ahead_answers_the_request_and_one_never_asked_is_stopped(
        gop_clip, monkeypatch):
    """The command starts the key-frame child when the frames are measured: the request then
    goes to that child (the same pictures), and a child never asked leaves no process."""
    monkeypatch.delenv("FACESCORE_LANDMARK_PROCESS", raising=False)
    times = {"smile|rest": 0.5, "smile|peak": 1.9}
    keyframes.start_child(1920, 1080)
    started = keyframes._started.peek()
    assert started is not None and started.poll() is None
    there = keyframes.key_frames_in_child(gop_clip, times, False)
    assert keyframes._started.peek() is None and started.returncode == 0  # taken, asked, done
    here = keyframes.key_frames(gop_clip, times, False)
    assert there == here

    keyframes.start_child(1280, 720)  # a size read in this process: nothing started
    assert keyframes._started.peek() is None
    keyframes.start_child(1920, 1080)
    never_asked = keyframes._started.peek()
    keyframes.stop_child()
    assert keyframes._started.peek() is None and never_asked.returncode is not None
