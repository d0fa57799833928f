"""Finding and following the face: small faces, several faces, no face, head roll."""

import sys
from types import SimpleNamespace

import av
import cv2
import numpy as np
import pytest
from conftest import FAST_TIMING

from facescore import features, geometry
from facescore.errors import FaceError
from facescore.landmarks import SEARCH_EVERY, FaceTracker
from facescore.phantom import PhantomSpec, astronaut
from facescore.pipeline import measure_video


def _write(path, frames, fps=30):
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def face_crop():
    photo, _ = astronaut()
    return cv2.resize(photo[30:250, 115:335], (440, 440), interpolation=cv2.INTER_CUBIC)


def test_small_face_in_a_wide_frame_is_tracked(phantoms):
    """A face 12 % of a 1280×720 frame's width: the stock detector alone misses such faces."""
    spec = PhantomSpec(order=("smile",), size=(1280, 720), face_width_frac=0.12,
                       face_centre_frac=(0.3, 0.45), timing=FAST_TIMING)
    phantom, measurement = phantoms.get("small_face", spec)
    assert measurement.quality["face_found_fraction"] >= 0.95
    width = measurement.frames["iod_px"].median() / 1280
    assert 0.04 < width < 0.08  # inter-ocular distance of a face 12 % of the frame wide


def test_the_largest_most_central_face_is_followed(tmp_path, face_crop):
    canvas = np.full((720, 1280, 3), 90, np.uint8)
    canvas[140:580, 420:860] = face_crop  # big, central
    small = cv2.resize(face_crop, (320, 320), interpolation=cv2.INTER_AREA)
    canvas[20:340, 930:1250] = small  # smaller, off centre
    video = _write(tmp_path / "two.mp4", [canvas] * 8)
    measurement = measure_video(video)
    assert measurement.quality["max_faces_seen"] == 2
    assert measurement.frames["face_found"].all()
    # The followed face is the big central one: its eyes lie in the middle of the frame.
    assert measurement.frames["iod_px"].median() > 0.35 * 440 * 0.5


def test_no_face_is_a_clear_error(tmp_path):
    # Smooth gradients: nothing a face detector could take for a face (blurred noise once
    # was, under load, in one run of many).
    ramp = np.linspace(40, 200, 320, dtype=np.float32)[None, :, None]
    frames = [np.broadcast_to(ramp + 5 * i, (240, 320, 3)).astype(np.uint8) for i in range(6)]
    video = _write(tmp_path / "noface.mp4", frames)
    with pytest.raises(FaceError, match="no face"):
        measure_video(video)


def test_lost_face_is_marked_not_fatal(tmp_path, face_crop):
    blank = np.full_like(face_crop, 120)
    video = _write(tmp_path / "lost.mp4", [face_crop] * 5 + [blank] * 4 + [face_crop] * 8)
    found = measure_video(video).frames["face_found"].tolist()
    assert found[:9] == [True] * 5 + [False] * 4
    # While lost, the search runs every SEARCH_EVERY frames: the face is back within that.
    assert found[9 + SEARCH_EVERY - 1:] == [True] * (8 - SEARCH_EVERY + 1)


def test_landmarks_of_the_frame_before_place_the_crop_even_after_a_loss(face_crop):
    """Given the face in the frame before (the key-frame schedule does), the model looks there
    at once, lost face or not: the schedule may hand it frames out of frame order, and each
    frame's landmarks must not depend on which frame it saw last."""
    from facescore.sources import Frame

    blank = np.full_like(face_crop, 120)
    face = Frame.from_rgb(2, 0.067, face_crop)
    with FaceTracker() as tracker:
        first = tracker.track(Frame.from_rgb(0, 0.0, face_crop))
        assert first is not None
        found_last = tracker.track(face, first.points)
        assert tracker.track(Frame.from_rgb(1, 0.033, blank)) is None  # lost: no crop kept
        lost_last = tracker.track(face, first.points)
    assert lost_last is not None
    np.testing.assert_array_equal(lost_last.points, found_last.points)


@pytest.mark.parametrize("angle", [-12.0, 12.0])
def test_head_roll_does_not_read_as_asymmetry(face_crop, angle):
    with FaceTracker() as tracker:
        upright = tracker.search(face_crop)[0]
        centre = (face_crop.shape[1] / 2, face_crop.shape[0] / 2)
        rotation = cv2.getRotationMatrix2D(centre, angle, 1.0)
        tilted = tracker.search(cv2.warpAffine(face_crop, rotation, face_crop.shape[1::-1],
                                               borderMode=cv2.BORDER_REFLECT))[0]
    pose_a, pose_b = geometry.head_pose(upright.matrix), geometry.head_pose(tilted.matrix)
    # A counter-clockwise image rotation is a tilt toward the patient's left: roll falls.
    assert pose_b.roll - pose_a.roll == pytest.approx(-angle, abs=2.5)
    a = features.positions(geometry.head_fixed(upright.points, upright.matrix))
    b = features.positions(geometry.head_fixed(tilted.points, tilted.matrix))
    iod = np.linalg.norm(upright.points[468, :2] - upright.points[473, :2])
    for name in a:
        assert abs(a[name] - b[name]) < 0.04 * iod, name


def test_similarity_fit_recovers_a_known_motion():
    rng = np.random.default_rng(0)
    source = rng.uniform(0, 100, (10, 2))
    angle = np.radians(7)
    truth = 1.05 * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    target = source @ truth.T + [3.0, -4.0]
    fit = geometry.similarity_fit(source, target)
    assert np.allclose(fit[:, :2], truth) and np.allclose(fit[:, 2], [3.0, -4.0])
    back = geometry.apply_affine(geometry.invert_affine(fit), target)
    assert np.allclose(back, source)


def test_similarity_fits_of_many_point_sets_at_once_equal_each_alone():
    # The table's parallax fits every frame of an anchor in one call.
    rng = np.random.default_rng(1)
    source = rng.uniform(0, 100, (40, 9, 2))
    target = 0.9 * source[..., ::-1] + rng.normal(0, 2.0, source.shape)
    fits = geometry.similarity_fit(source, target)
    inverses = geometry.invert_affine(fits)
    moved = geometry.apply_affine(inverses, target)
    for i in range(len(source)):
        alone = geometry.similarity_fit(source[i], target[i])
        assert np.array_equal(fits[i], alone)
        assert np.array_equal(inverses[i], geometry.invert_affine(alone))
        assert np.array_equal(moved[i], geometry.apply_affine(geometry.invert_affine(alone),
                                                              target[i]))


def test_parallax_of_many_frames_at_once_equals_each_frame_alone():
    from types import SimpleNamespace

    from facescore.motion import _GROUP_ROWS
    from facescore.signals import parallax, rotation_from_euler

    rng = np.random.default_rng(2)
    rows = 1 + max(int(r.max()) for r in _GROUP_ROWS.values())
    anchor = SimpleNamespace(seeds_head=rng.normal(0, 40.0, (rows, 3)))
    at_anchor = rotation_from_euler(0.05, -0.1, 0.02)
    angles = rng.normal(0, 0.15, (25, 3))
    many = parallax(anchor, at_anchor, rotation_from_euler(*angles.T))
    for i, (pitch, yaw, roll) in enumerate(angles):
        alone = parallax(anchor, at_anchor, rotation_from_euler(pitch, yaw, roll))
        for name, shift in alone.items():
            assert np.allclose(many[name][i], shift, rtol=0, atol=1e-9), name
    unmoved = parallax(anchor, at_anchor, at_anchor)  # no turn: nothing to correct
    assert all(np.abs(shift).max() < 1e-9 for shift in unmoved.values())


def test_silencing_the_native_chatter_from_many_threads_gives_stderr_back():
    """fd 2 is the process's: threads silencing it at once must not leave it at /dev/null."""
    import os
    import threading
    import time

    from facescore.landmarks import _quiet_stderr

    before = os.fstat(2)

    def quiet_for_a_moment():
        with _quiet_stderr():
            time.sleep(0.01)

    threads = [threading.Thread(target=quiet_for_a_moment) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = os.fstat(2)
    assert (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino)


def test_starting_the_tracker_writes_nothing_to_the_terminal():
    """MediaPipe's and TFLite's start-up lines (XNNPACK, feedback manager) stay silent, in a
    fresh process where they are first printed."""
    import subprocess
    import sys

    code = ("from facescore.landmarks import FaceTracker\n"
            "for _ in range(2):\n"
            "    FaceTracker().close()\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_the_landmarker_loads_without_pyplot_and_leaves_the_drawing_helpers_importable():
    # mediapipe's vision package imports its drawing helpers, which import matplotlib.pyplot
    # (~0.3 s of the landmark worker's start-up); the tracker loads it without them.
    import subprocess
    import sys

    code = ("import sys; from facescore.landmarks import FaceTracker\n"
            "with FaceTracker():\n"
            "    assert 'matplotlib.pyplot' not in sys.modules\n"
            "from mediapipe.tasks.python.vision import drawing_styles, drawing_utils\n"
            "assert callable(drawing_utils.draw_landmarks)\n"
            "assert callable(drawing_styles.get_default_face_mesh_contours_style)\n"
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.strip() == "ok", out.stderr[-2000:]


def test_faces_read_from_the_landmarkers_c_result_equal_its_wrappers(face_crop):
    """The landmarks, transformation matrix and blendshapes read from MediaPipe's C result
    (skipping its wrapper's 478 landmark objects) are the wrapper's, to the bit — on the
    tracking crop (one face, blendshapes) and on a whole frame (the search's model: up to
    four faces, no blendshapes)."""
    from facescore.landmarks import _detect, _found_in, _mp_image

    canvas = np.full((720, 1280, 3), 90, np.uint8)
    canvas[140:580, 420:860] = face_crop
    with FaceTracker() as tracker:
        for landmarker, picture in ((tracker._crop_model, face_crop),
                                    (tracker._image, canvas)):
            image = _mp_image(picture)
            direct, wrapped = _detect(landmarker, image), _found_in(landmarker.detect(image))
            assert len(direct) == len(wrapped) >= 1
            for a, b in zip(direct, wrapped, strict=True):
                assert a.normalized.dtype == b.normalized.dtype == np.float64
                np.testing.assert_array_equal(a.normalized, b.normalized)
                np.testing.assert_array_equal(a.matrix, b.matrix)
                assert a.blendshapes == b.blendshapes
        assert not direct[0].blendshapes
        assert "eyeBlinkLeft" in _detect(tracker._crop_model, _mp_image(face_crop))[0].blendshapes


def test_an_image_cut_short_by_ctrl_c_is_finalised_quietly():
    """Ctrl-C inside MediaPipe's ``Image`` constructor leaves an object without a picture,
    whose finaliser raises AttributeError: the hook facescore puts in place with the model
    says nothing of it (CI once printed its traceback after "facescore: interrupted"), and
    hands any other unraisable exception to the hook before it."""
    import mediapipe as mp

    from facescore.landmarks import _quiet_cut_short_images

    def unraisable(error: BaseException) -> SimpleNamespace:  # as Python hands one to the hook
        return SimpleNamespace(exc_type=type(error), exc_value=error, exc_traceback=None,
                               err_msg=None, object=mp.Image.__del__)

    cut_short = mp.Image.__new__(mp.Image)  # built, never initialised: as an interrupt leaves it
    with pytest.raises(AttributeError) as raised:
        cut_short.__del__()
    cut_short._image_ptr = None  # else it raises again when collected
    passed_on: list = []
    hook = _quiet_cut_short_images(passed_on.append)
    hook(unraisable(raised.value))
    assert passed_on == []
    other = unraisable(ValueError("x"))
    hook(other)
    assert passed_on == [other]
    with FaceTracker():
        assert getattr(sys.unraisablehook, "quiets_cut_short_images", False)
