"""The landmark model in a child process gives the same numbers as in a thread, and fails and
stops cleanly; frames kept in 4:2:0 planes convert like whole RGB frames."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest
from conftest import fast_spec

from facescore.landmark_worker import LandmarkWorker, WorkerError
from facescore.model_schedule import SkinSource
from facescore.pipeline import measure_video, wants_landmark_process
from facescore.sources import Frame, SourceInfo, open_source


def test_child_process_and_thread_give_the_same_table(phantoms):
    phantom, in_thread = phantoms.get("astro_0.5", fast_spec(0.5))  # small: measured in a thread
    in_child = measure_video(phantom.video, landmark_process=True)
    # The same crops reach the same model in both, so the tables agree to rounding.
    pd.testing.assert_frame_equal(in_child.frames, in_thread.frames, rtol=1e-9)
    assert in_child.quality == in_thread.quality


def test_worker_keeps_frame_order_and_stops(phantoms):
    phantom, _ = phantoms.get("astro_0.5", fast_spec(0.5))
    with open_source(phantom.video) as frames:
        size = (frames.info.height, frames.info.width)
        with LandmarkWorker(size) as worker:
            indices = [frame.index for frame, face in worker.track_all(frames)
                       if face is not None]
            assert worker.finish() == 1
            process = worker._process
    assert indices == list(range(len(indices))) and len(indices) > 30
    assert process.poll() == 0


def test_answers_asked_for_out_of_order_reach_their_own_calls(phantoms):
    """The schedule hands the child a key frame before it asks for the faces of frames handed
    over earlier: each call's answer is its own frame's, whichever is asked for first."""
    phantom, _ = phantoms.get("astro_0.5", fast_spec(0.5))
    with open_source(phantom.video) as source:
        frames = [frame for frame, _ in zip(source, range(12), strict=False)]
        size = (source.info.height, source.info.width)
    with LandmarkWorker(size) as worker:
        in_order = [worker.track(frame) for frame in frames[:3]]
        # The same ROI for each frame as in order: given by the face in the frame before.
        near = [face.points for face in in_order]
        pending = [worker.track_soon(frames[i + 1], near[i]) for i in range(2)]
        late = pending[1]()
        early = pending[0]()
        again = [worker.track(frames[i + 1], near[i]) for i in range(2)]
    assert np.array_equal(early.points, again[0].points)
    assert np.array_equal(late.points, again[1].points)
    assert not np.array_equal(early.points, late.points)


def test_the_skin_the_child_carries_is_the_one_the_schedule_would_find(phantoms):
    """A key frame handed over with its region carried in the child: the child sends the
    skin it followed (which the schedule then takes instead of following it again) and it
    is, to the bit, what the schedule finds from the same face and frames; a frame whose
    source had no face is neither carried nor modelled."""
    phantom, _ = phantoms.get("astro_0.5", fast_spec(0.5))
    with open_source(phantom.video) as source:
        frames = [frame for frame, _ in zip(source, range(5), strict=False)]
        size = (source.info.height, source.info.width)
    with LandmarkWorker(size) as worker:
        key_face = worker.track(frames[0])
        carry, answer = worker.track_carried_soon(frames[4], frames[3], source=0)
        carried = carry()
        modelled, face = answer()
        nowhere, unanswered = worker.track_carried_soon(frames[4], frames[3], source=99)
        assert nowhere() is None and unanswered() == (False, None)
    expected = SkinSource(key_face.points, frames[0]).carry(frames[3])
    assert modelled and face is not None
    np.testing.assert_array_equal(carried.fit, expected.fit)
    np.testing.assert_array_equal(carried.key_picture, expected.key_picture)
    np.testing.assert_array_equal(carried.picture, expected.picture)


def test_stopping_early_ends_the_child(phantoms):
    phantom, _ = phantoms.get("astro_0.5", fast_spec(0.5))
    with open_source(phantom.video) as frames:
        worker = LandmarkWorker((frames.info.height, frames.info.width))
        with worker:
            for frame, _ in worker.track_all(frames):
                if frame.index == 3:
                    break  # frames still in flight
    assert worker._process.poll() is not None


def test_a_dead_child_is_a_clear_error(phantoms):
    phantom, _ = phantoms.get("astro_0.5", fast_spec(0.5))
    with open_source(phantom.video) as frames, \
            LandmarkWorker((frames.info.height, frames.info.width)) as worker:
        pairs = worker.track_all(frames)
        next(pairs)
        worker._process.kill()
        with pytest.raises(WorkerError, match="stopped unexpectedly"):
            for _ in pairs:
                pass


def test_a_frame_of_another_size_is_refused():
    frame = Frame.from_rgb(0, 0.0, np.zeros((48, 64, 3), np.uint8))
    with LandmarkWorker((64, 64)) as worker, pytest.raises(WorkerError, match="64x48"):
        worker.submit(frame)


def _planar(rgb: np.ndarray) -> Frame:
    height, width = rgb.shape[:2]
    packed = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)
    y = packed[:height]
    chroma = packed[height:].reshape(2, height // 2, width // 2)
    return Frame(0, 0.0, gray=y, chroma=(chroma[0], chroma[1]))


def test_planar_regions_match_the_whole_picture():
    from skimage import data

    rgb = np.ascontiguousarray(data.astronaut()[:, :500])
    planar = _planar(rgb)
    whole = planar.rgb  # the planes converted back as a whole
    assert np.abs(whole.astype(int) - rgb).mean() < 3  # round trip through 4:2:0
    for box, out in [((100, 40, 240, 260), (192, 208)), ((31, 17, 301, 199), (150, 99))]:
        x0, y0, w, h = box
        expected = cv2.resize(whole[y0:y0 + h, x0:x0 + w], out, interpolation=cv2.INTER_LINEAR)
        region = planar.region_rgb(x0, y0, w, h, out)
        assert region.shape == (out[1], out[0], 3)
        assert np.abs(region.astype(int) - expected).mean() < 2.5


def test_without_child_processes_a_thread_does_the_work(phantoms, monkeypatch):
    import facescore.pipeline as pipeline

    def refuse(*args, **kwargs):
        raise OSError("no processes here")

    phantom, in_thread = phantoms.get("astro_0.5", fast_spec(0.5))
    monkeypatch.setattr(pipeline, "LandmarkWorker", refuse)
    fallback = measure_video(phantom.video, landmark_process=True)
    pd.testing.assert_frame_equal(in_thread.frames, fallback.frames, rtol=1e-9)


def _info(width: int, height: int, n_frames: int | None, kind: str = "video") -> SourceInfo:
    return SourceInfo("clip.mp4", kind, width, height, 30.0, n_frames, None, 0, False)


def test_large_long_videos_get_the_landmark_process(monkeypatch):
    monkeypatch.delenv("FACESCORE_LANDMARK_PROCESS", raising=False)
    assert wants_landmark_process(_info(1920, 1080, 1800))
    assert wants_landmark_process(_info(1080, 1920, None))  # portrait, length unknown
    assert not wants_landmark_process(_info(1920, 1080, 200))  # start-up outweighs the gain
    assert not wants_landmark_process(_info(640, 480, 5000))
    assert not wants_landmark_process(_info(1920, 1080, 1, kind="image"))
    monkeypatch.setenv("FACESCORE_LANDMARK_PROCESS", "1")
    assert wants_landmark_process(_info(640, 480, 10))
    monkeypatch.setenv("FACESCORE_LANDMARK_PROCESS", "0")
    assert not wants_landmark_process(_info(1920, 1080, 1800))


def test_a_worker_started_early_is_taken_over_by_the_measuring(phantoms, monkeypatch):
    """The command starts the worker while it loads; measure_video takes that one (frames of
    its size, the same model) instead of starting a second, and one for another size is
    stopped and not used."""
    from facescore import landmark_worker

    phantom, _ = phantoms.get("astro_0.5", fast_spec(0.5))
    with open_source(phantom.video) as frames:
        size = (frames.info.height, frames.info.width)
    started = []
    real_init = LandmarkWorker.__init__

    def counted(self, *args, **kwargs):
        started.append(args[0])
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(LandmarkWorker, "__init__", counted)
    landmark_worker.start_early(size)
    early = landmark_worker._early.peek()
    measured = measure_video(phantom.video, landmark_process=True)
    assert started == [size]  # no second worker
    assert landmark_worker._early.peek() is None and early._process.poll() == 0  # taken and stopped
    assert measured.quality["face_found_fraction"] > 0.9

    landmark_worker.start_early((size[0] + 2, size[1]))
    other = landmark_worker._early.peek()
    assert landmark_worker.take_early(size) is None  # another size: not used ...
    assert other._process.poll() is not None  # ... and stopped
    landmark_worker.stop_early()  # nothing left to stop: no error
