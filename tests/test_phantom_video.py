"""Movements added onto real video: what was added is what the truth says, and nothing else.

Needs the real clips in ../shared/data (skipped without them). Slow fixtures are built once per
session: a frozen-right smile on baseline.mp4 made through the CLI, and an eye closure on
single_face.mp4, plain and mirrored.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from facescore.anatomy import LOWER_LID, MOUTH_CORNER, RIGID, SIDES, UPPER_LID
from facescore.cli import EXIT_INPUT, main
from facescore.errors import FaceError, FacescoreError, SourceError
from facescore.phantom import MOVEMENTS, PhantomSpec, Timing
from facescore.phantom_video import ClipMesh, generate_from_video, track_clip, video_truth
from facescore.sources import open_source

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BASELINE = SHARED_DATA / "baseline.mp4"  # 1920x1080, 3.5 s, neutral
SINGLE_FACE = SHARED_DATA / "single_face.mp4"  # 640x360, 2.4 s
NO_FACE_FIRST = SHARED_DATA / "noface_face.mov"  # an animated title, then a face

pytestmark = pytest.mark.skipif(not (BASELINE.exists() and SINGLE_FACE.exists()),
                                reason="the real clips of ../shared/data are not present")

#: Mean |difference| (grey levels) that re-encoding alone leaves over a face (H.264 crf 17).
CODEC_NOISE = 2.0
#: Short phases, so that a movement fits single_face.mp4 (2.4 s).
SHORT = Timing(lead_in_s=0.3, ramp_s=0.3, hold_s=0.4, rest_s=0.5)


@dataclass
class Made:
    """A generated video beside its base, with the base's mesh."""

    video: Path
    truth: dict
    mesh: ClipMesh
    stdout: str = ""
    exit_code: int = 0


def _interval(made: Made) -> tuple[float, float, float, float]:
    (p,) = made.truth["performances"]
    return p["start_s"], p["peak_start_s"], p["peak_end_s"], p["end_s"]


@pytest.fixture(scope="session")
def baseline_mesh() -> ClipMesh:
    return track_clip(BASELINE)


@pytest.fixture(scope="session")
def frozen_smile(tmp_path_factory, baseline_mesh) -> Made:
    """Through the CLI: a smile of the patient's left side only, on baseline.mp4."""
    video = tmp_path_factory.mktemp("frozen") / "smile.mp4"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(["phantom", str(video), "--base-video", str(BASELINE), "--order", "smile",
                     "--right-gain", "0", "--lead-in", "1.0", "-q"])
    truth = json.loads(Path(f"{video}.truth.json").read_text()) if code == 0 else {}
    return Made(video, truth, baseline_mesh, stdout.getvalue(), code)


@pytest.fixture(scope="session")
def closures(tmp_path_factory) -> tuple[Made, Made]:
    """An eye closure (left 1, right 0.4) on single_face.mp4, plain and mirrored."""
    root = tmp_path_factory.mktemp("closure")
    gains = {"eye_closure": {"left": 1.0, "right": 0.4}}
    made = []
    for mirror in (False, True):
        spec = PhantomSpec(gains=gains, order=("eye_closure",), timing=SHORT, mirror=mirror)
        phantom = generate_from_video(root / f"closure_{mirror}.mp4", SINGLE_FACE, spec)
        made.append(Made(phantom.video, phantom.truth, None))
    return made[0], made[1]


def _frame_times(path: Path) -> np.ndarray:
    with open_source(path) as frames:
        return np.array([frame.t_s for frame in frames])


def _regions(points: np.ndarray) -> dict[str, tuple[slice, slice]]:
    """The face box and its two halves (patient's right = image left), clear of the midline."""
    (x0, y0), (x1, y1) = points.min(axis=0).astype(int), points.max(axis=0).astype(int)
    midline = points[list(RIGID), 0].mean()
    margin = 0.1 * (x1 - x0)
    rows = slice(y0, y1)
    return {"face": (rows, slice(x0, x1)),
            "right": (rows, slice(x0, int(midline - margin))),
            "left": (rows, slice(int(midline + margin), x1))}


@pytest.fixture(scope="session")
def frozen_differences(frozen_smile) -> dict[str, np.ndarray]:
    """Per frame: time and mean |phantom − base| luma over the face and each half."""
    mesh = frozen_smile.mesh
    rows = []
    with open_source(BASELINE) as base, open_source(frozen_smile.video) as made:
        for a, b in zip(base, made, strict=True):
            difference = np.abs(a.gray.astype(np.int16) - b.gray)
            regions = _regions(mesh.points[a.index, :, :2])
            rows.append([a.t_s] + [difference[regions[k]].mean()
                                   for k in ("face", "right", "left")])
    table = np.array(rows)
    return dict(zip(("t_s", "face", "right", "left"), table.T, strict=True))


# --- the CLI and the format ----------------------------------------------------------------------

def test_cli_writes_video_and_truth_and_prints_it(frozen_smile):
    assert frozen_smile.exit_code == 0
    assert frozen_smile.video.exists()
    assert not list(frozen_smile.video.parent.glob("*.partial"))
    lines = frozen_smile.stdout.splitlines()
    assert str(frozen_smile.video) in lines[0] and "truth" in lines[0]
    (p,) = frozen_smile.truth["performances"]
    assert "smile" in lines[1] and f"left {p['left']['excursion_mm']:5.2f} mm" in lines[1]
    assert "right  0.00 mm" in lines[1]


def test_truth_has_the_photo_schema_and_the_base_video(frozen_smile):
    truth = frozen_smile.truth
    assert truth["schema"] == "facescore-phantom-truth/1"
    assert truth["base_kind"] == "video" and truth["base_video"] == str(BASELINE)
    assert len(truth["base_video_sha256"]) == 64
    assert truth["mm_per_px"] == pytest.approx(frozen_smile.mesh.mm_per_px)
    assert "not" in truth["note"] and "blinks" in truth["note"]
    (p,) = truth["performances"]
    assert p["movement"] == "smile" and p["rep"] == 1 and p["start_s"] == pytest.approx(1.0)
    assert p["left"]["excursion_mm"] == pytest.approx(8.0)  # the field's amplitude, in mm
    assert p["right"]["excursion_mm"] == 0
    assert p["right_left_ratio"] == 0 and p["symmetry_pct"] == 0 and p["weaker_side"] == "right"


def test_frame_count_timestamps_and_resolution_are_kept(frozen_smile):
    base, made = _frame_times(BASELINE), _frame_times(frozen_smile.video)
    assert len(made) == len(base)
    assert np.abs(made - base).max() < 1e-3
    with open_source(frozen_smile.video) as video, open_source(BASELINE) as original:
        assert (video.info.width, video.info.height) == (original.info.width,
                                                          original.info.height)


def test_variable_frame_rate_stays_variable(tmp_path):
    """A clip with uneven frame times comes out with the same uneven times."""
    import av

    clip = tmp_path / "vfr.mp4"
    with open_source(SINGLE_FACE) as frames, av.open(str(clip), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 90000)
        t = 0.0
        for frame in frames:
            picture = av.VideoFrame.from_ndarray(frame.rgb, format="rgb24")
            picture.pts, picture.time_base = round(t * 90000), Fraction(1, 90000)
            for packet in stream.encode(picture):
                out.mux(packet)
            t += 0.025 if frame.index % 3 else 0.05  # 40 fps with every third frame late
        for packet in stream.encode():
            out.mux(packet)
    spec = PhantomSpec(order=("smile",), timing=SHORT)
    phantom = generate_from_video(tmp_path / "out.mp4", clip, spec)
    made, base = _frame_times(phantom.video), _frame_times(clip)
    assert len(made) == len(base) and np.abs(made - base).max() < 1e-3
    assert np.ptp(np.diff(made)) > 0.02


# --- what was added, and only that ---------------------------------------------------------------

def test_frames_outside_the_performance_equal_the_base(frozen_smile, frozen_differences):
    start, _, _, end = _interval(frozen_smile)
    t = frozen_differences["t_s"]
    rest = (t <= start) | (t >= end)
    assert rest.sum() > 40
    assert frozen_differences["face"][rest].max() < CODEC_NOISE


def test_a_frozen_side_is_frozen(frozen_smile, frozen_differences):
    """Gains left 1, right 0: the patient's right half (image left) is only re-encoded."""
    start, peak_start, peak_end, end = _interval(frozen_smile)
    t = frozen_differences["t_s"]
    rest = (t <= start) | (t >= end)
    peak = (t >= peak_start) & (t <= peak_end)
    right, left = frozen_differences["right"], frozen_differences["left"]
    codec = right[rest].mean()
    assert right[peak].max() < codec + 0.3
    assert left[peak].min() > 3 * codec  # while the left half did change


def test_an_independent_measurer_sees_the_added_smile(frozen_smile):
    """IMAGE-mode landmarks (no tracking, no temporal filter) of the phantom against the base."""
    from facescore.landmarks import FaceTracker, choose_face

    mesh = frozen_smile.mesh
    start, peak_start, peak_end, _ = _interval(frozen_smile)
    rest = [i for i, t in enumerate(mesh.t_s) if 0.2 <= t <= start - 0.2][::6][:4]
    peak = [i for i, t in enumerate(mesh.t_s) if peak_start <= t <= peak_end][::5][:4]
    corners = {}
    with FaceTracker(blendshapes=False) as tracker:
        for name, path in (("base", BASELINE), ("made", frozen_smile.video)):
            with open_source(path) as frames:
                for frame in frames:
                    if frame.index not in rest + peak:
                        continue
                    # Search a crop around the face: fewer windows than the 1080p frame.
                    points = mesh.points[frame.index, :, :2]
                    half = 0.75 * np.ptp(points, axis=0).max()
                    x0, y0 = np.maximum(points.mean(axis=0) - half, 0).astype(int)
                    crop = np.ascontiguousarray(frame.rgb[y0:y0 + int(2 * half),
                                                          x0:x0 + int(2 * half)])
                    face = choose_face(tracker.search(crop), crop.shape[1], crop.shape[0])
                    corners[name, frame.index] = face.points[MOUTH_CORNER["left"], :2] + [x0, y0]

    def added_mm(frames: list[int]) -> np.ndarray:
        """Mean (outward = image right, up) shift of the left mouth corner, mm."""
        shifts = [corners["made", i] - corners["base", i] for i in frames]
        return np.mean(shifts, axis=0) * [1, -1] * mesh.mm_per_px

    (p,) = frozen_smile.truth["performances"]
    true_out, true_up = p["left"]["mouth_out_mm"], p["left"]["mouth_up_mm"]
    at_peak, at_rest = added_mm(peak), added_mm(rest)
    assert np.abs(at_rest).max() < 0.5
    assert at_peak[0] > 0.6 * true_out and at_peak[1] > 0.6 * true_up  # up and out, clearly


def test_truth_scales_with_gain_and_symmetric_gains_are_symmetric(baseline_mesh):
    def truth(gains: dict) -> list[dict]:
        spec = PhantomSpec(gains={m: gains for m in MOVEMENTS})
        return video_truth(baseline_mesh, spec)["performances"]

    full, half = truth({"left": 1.0, "right": 1.0}), truth({"left": 0.5, "right": 0.5})
    for f, h in zip(full, half, strict=True):
        for side in ("left", "right"):
            assert h[side]["excursion_mm"] == pytest.approx(0.5 * f[side]["excursion_mm"])
        # Each side moves by the same share of its own anatomy (e.g. 92 % of its own eye's
        # aperture), so only the smile, a fixed 8 mm, is symmetric to the last digit.
        assert f["symmetry_pct"] == (pytest.approx(100.0) if f["movement"] == "smile"
                                     else pytest.approx(100.0, abs=10))
        assert f["weaker_side"] in (None, "left", "right")
    smile = next(p for p in full if p["movement"] == "smile")
    assert smile["weaker_side"] is None or smile["symmetry_pct"] == pytest.approx(100.0)


# --- eye closure and mirroring -------------------------------------------------------------------

def test_eye_closure_changes_the_eyes_only_during_the_performance(closures):
    plain, _ = closures
    start, peak_start, peak_end, end = _interval(plain)
    mesh = track_clip(SINGLE_FACE)
    eyes = [i for side in SIDES for i in (*UPPER_LID[side], *LOWER_LID[side])]
    changed = []
    with open_source(SINGLE_FACE) as base, open_source(plain.video) as made:
        for a, b in zip(base, made, strict=True):
            points = mesh.points[a.index, eyes, :2]
            x0, y0 = points.min(axis=0).astype(int) - 4
            x1, y1 = points.max(axis=0).astype(int) + 4
            difference = np.abs(a.gray.astype(np.int16) - b.gray)[y0:y1, x0:x1].mean()
            changed.append((a.t_s, difference))
    t, difference = np.array(changed).T
    rest = (t <= start) | (t >= end)
    peak = (t >= peak_start) & (t <= peak_end)
    assert difference[rest].max() < CODEC_NOISE
    assert difference[peak].min() > 3 * CODEC_NOISE
    # Each lid travels the same share of its own eye's aperture: the gain scales that share.
    (p,) = plain.truth["performances"]
    (full,) = video_truth(mesh, PhantomSpec(order=("eye_closure",), timing=SHORT))["performances"]
    assert p["left"]["excursion_mm"] == pytest.approx(full["left"]["excursion_mm"], rel=1e-3)
    assert p["right"]["excursion_mm"] == pytest.approx(0.4 * full["right"]["excursion_mm"],
                                                       rel=1e-3)
    assert p["weaker_side"] == "right"


def test_mirror_is_the_mirror_image_with_the_same_truth(closures):
    plain, mirrored = closures
    worst = 0.0
    with open_source(plain.video) as a, open_source(mirrored.video) as b:
        for x, y in zip(a, b, strict=True):
            worst = max(worst, np.abs(x.gray[:, ::-1].astype(np.int16) - y.gray).mean())
    assert worst < CODEC_NOISE
    assert mirrored.truth["performances"] == plain.truth["performances"]
    assert mirrored.truth["spec"]["mirror"] and not plain.truth["spec"]["mirror"]


# --- refusals ------------------------------------------------------------------------------------

def _nothing_written(video: Path) -> bool:
    return not list(video.parent.glob(f"{video.name}*"))


def _one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert message and "\n" not in message
    return message


def test_a_schedule_longer_than_the_clip_is_refused(tmp_path):
    video = tmp_path / "long.mp4"
    with pytest.raises(FacescoreError) as exc:
        generate_from_video(video, BASELINE, PhantomSpec())  # four movements: 10.8 s
    message = _one_line(exc)
    assert "3.5 s" in message and "10.8 s" in message and "--order" in message
    assert _nothing_written(video)


def test_cli_refusal_is_one_line_and_exit_2(tmp_path, capsys):
    video = tmp_path / "long.mp4"
    assert main(["phantom", str(video), "--base-video", str(BASELINE), "-q"]) == EXIT_INPUT
    err = capsys.readouterr().err.strip()
    assert err.startswith("facescore: error: base video is 3.5 s") and "\n" not in err
    assert _nothing_written(video)
    assert main(["phantom", str(video), "--base-video", str(BASELINE), "--size", "99x99",
                 "-q"]) == EXIT_INPUT
    assert "photo" in capsys.readouterr().err


@pytest.mark.skipif(not NO_FACE_FIRST.exists(), reason="noface_face.mov is not present")
def test_no_face_inside_a_performance_is_refused_with_its_time(tmp_path):
    video = tmp_path / "noface.mp4"
    spec = PhantomSpec(order=("smile",), timing=SHORT)
    with pytest.raises(FaceError) as exc:
        generate_from_video(video, NO_FACE_FIRST, spec)
    message = _one_line(exc)
    assert "0.3" in message and "smile" in message
    assert _nothing_written(video)


@pytest.fixture(scope="session")
def blank_clip(tmp_path_factory) -> Path:
    """3 s of grey at 10 fps, 128 px: no face anywhere."""
    import av

    path = tmp_path_factory.mktemp("blank") / "blank.mp4"
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width = stream.height = 128
        stream.pix_fmt = "yuv420p"
        for _ in range(30):
            picture = av.VideoFrame.from_ndarray(np.full((128, 128, 3), 120, np.uint8),
                                                 format="rgb24")
            for packet in stream.encode(picture):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def test_no_face_at_all_is_refused(tmp_path, blank_clip):
    video = tmp_path / "blank_out.mp4"
    with pytest.raises(FaceError) as exc:
        generate_from_video(video, blank_clip, PhantomSpec(order=("smile",), timing=SHORT))
    assert "no face found" in _one_line(exc)
    assert _nothing_written(video)
    with pytest.raises(FaceError, match="no face found in base video"):
        track_clip(blank_clip)


def test_an_unreadable_file_is_refused(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video\n" * 100)
    video = tmp_path / "out.mp4"
    with pytest.raises(SourceError) as exc:
        generate_from_video(video, bad, PhantomSpec(order=("smile",), timing=SHORT))
    _one_line(exc)
    assert _nothing_written(video)


def test_an_error_while_writing_leaves_nothing(tmp_path, monkeypatch):
    import facescore.phantom_video as phantom_video

    def fail(*args, **kwargs):
        raise FacescoreError("disk full")

    monkeypatch.setattr(phantom_video, "apply_warp", fail)
    video = tmp_path / "half.mp4"
    with pytest.raises(FacescoreError, match="disk full"):
        generate_from_video(video, SINGLE_FACE, PhantomSpec(order=("smile",), timing=SHORT))
    assert _nothing_written(video)
