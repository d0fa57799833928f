"""`analyze`: movements found and labelled, each side scored, reports written and readable."""

import json

import numpy as np
import pytest
from conftest import SHARED_DATA, fast_spec

from facescore.analysis import analyze
from facescore.cli import EXIT_INPUT, main
from facescore.phantom import PhantomSpec
from facescore.report import validate_report, write_outputs
from facescore.segments import read_sidecar
from facescore.validation import NOISE_FLOOR_MM

#: A phantom the analysis has not been developed on: other order, repetitions, gains per
#: movement, a 16:9 frame.
UNSEEN = PhantomSpec(
    gains={"brow_raise": {"left": 0.55, "right": 1.0}, "eye_closure": {"left": 1.0, "right": 0.4},
           "smile": {"left": 0.7, "right": 1.0}, "frown": {"left": 1.0, "right": 1.0}},
    order=("smile", "frown", "brow_raise", "eye_closure"), repetitions=2, size=(640, 360),
    face_width_frac=0.3, timing=fast_spec().timing, seed=7)


@pytest.fixture(scope="module")
def unseen(phantoms, tmp_path_factory):
    phantom, _ = phantoms.get("unseen", UNSEEN)
    return phantom, analyze(phantom.video)


@pytest.fixture(scope="module")
def weak_right(phantoms):
    phantom, _ = phantoms.get("astro_0.5", fast_spec(0.5))
    return phantom, analyze(phantom.video)


def _match(truth, performances):
    """Pair each true performance with the detected one that overlaps it most."""
    pairs = []
    for p in truth["performances"]:
        overlaps = [max(0.0, min(p["end_s"], d.end_s) - max(p["start_s"], d.start_s))
                    for d in performances]
        pairs.append((p, performances[int(np.argmax(overlaps))] if max(overlaps) > 0 else None))
    return pairs


@pytest.mark.parametrize("case", ["weak_right", "unseen"])
def test_every_performance_is_found_labelled_and_timed(case, request):
    phantom, analysis = request.getfixturevalue(case)
    truth = phantom.truth
    assert len(analysis.performances) == len(truth["performances"])  # nothing invented
    for true, found in _match(truth, analysis.performances):
        assert found is not None and found.movement == true["movement"]
        assert abs(found.start_s - true["start_s"]) < 0.35
        assert abs(found.end_s - true["end_s"]) < 0.35


@pytest.mark.parametrize("case", ["weak_right", "unseen"])
def test_symmetry_and_weaker_side_match_truth(case, request):
    phantom, analysis = request.getfixturevalue(case)
    for true, found in _match(phantom.truth, analysis.performances):
        # 10 points, or what a never-moving side's noise on both sides makes of a small
        # movement: 100 × noise × (1 + ratio) / stronger side (15 points for the 3.5 mm frown).
        stronger = max(true["left"]["excursion_mm"], true["right"]["excursion_mm"])
        ratio = true["symmetry_pct"] / 100
        tolerance = max(10.0, 100 * NOISE_FLOOR_MM * (1 + ratio) / stronger)
        assert abs(found.symmetry_pct - true["symmetry_pct"]) <= tolerance, (
            true["movement"], found.symmetry_pct, tolerance)
        if true["symmetry_pct"] < 80:
            assert found.weaker_side == true["weaker_side"], true["movement"]


def test_real_clip_with_one_smile():
    clip = SHARED_DATA / "single_face.mp4"
    if not clip.exists():
        pytest.skip("../shared/data/single_face.mp4 is not present")
    analysis = analyze(clip)
    assert [p.movement for p in analysis.performances] == ["smile"]
    assert set(analysis.not_performed) == {"brow_raise", "eye_closure", "frown"}


def test_sidecar_overrides_detection(weak_right, tmp_path):
    phantom, _ = weak_right
    smile = next(p for p in phantom.truth["performances"] if p["movement"] == "smile")
    sidecar = tmp_path / "segments.csv"
    sidecar.write_text(f"start,end,movement\n{smile['start_s']},{smile['end_s']},smile\n")
    analysis = analyze(phantom.video, segments=sidecar)
    assert [(p.movement, p.start_s) for p in analysis.performances] == \
        [("smile", smile["start_s"])]
    assert read_sidecar(sidecar)[0].source == "sidecar"


def test_reports_are_written_and_valid(weak_right, tmp_path):
    phantom, analysis = weak_right
    paths = write_outputs(analysis, phantom.video, tmp_path / "out")
    assert all(p.exists() for p in paths)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    validate_report(report)
    assert report["disclaimer"] and report["provenance"]["model_sha256"]
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Not a diagnostic device" in html and "data:image/png;base64" in html
    assert "http://" not in html.replace("http://www.w3.org", "")  # opens offline


def test_patient_text_is_escaped(weak_right, tmp_path):
    phantom, analysis = weak_right
    odd = tmp_path / "<img src=x onerror=alert(1)>.mp4"
    odd.write_bytes(phantom.video.read_bytes())
    write_outputs(analysis, odd, tmp_path / "out")
    html = (tmp_path / "out" / "report.html").read_text()
    assert "<img src=x" not in html and "&lt;img src=x" in html


def test_too_short_video_is_refused(tmp_path, capsys, phantoms):
    from facescore.phantom import Timing

    spec = PhantomSpec(order=(), size=(240, 240), timing=Timing(lead_in_s=0.2))
    phantom, _ = phantoms.get("short", spec)
    out = tmp_path / "out"
    assert main(["analyze", str(phantom.video), "-o", str(out), "-q"]) == EXIT_INPUT
    assert "too short" in capsys.readouterr().err
    assert not out.exists()


def _analyze_fails(video, tmp_path, capsys, fragment):
    out = tmp_path / "out"
    assert main(["analyze", str(video), "-o", str(out), "-q"]) == EXIT_INPUT
    err = capsys.readouterr().err.strip()
    assert err.startswith("facescore: error:") and "\n" not in err and fragment in err, err
    assert not out.exists() and not list(tmp_path.glob(".out.*"))


def test_no_face_is_refused(tmp_path, capsys):
    import av

    rng = np.random.default_rng(3)
    video = tmp_path / "noface.mp4"
    with av.open(str(video), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for _ in range(45):
            rgb = rng.integers(0, 255, (120, 160, 3), np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    _analyze_fails(video, tmp_path, capsys, "no face")


def test_truncated_video_is_refused(weak_right, tmp_path, capsys):
    phantom, _ = weak_right
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(phantom.video.read_bytes()[: phantom.video.stat().st_size // 3])
    _analyze_fails(cut, tmp_path, capsys, "")


def test_non_video_is_refused(tmp_path, capsys):
    text = tmp_path / "notes.mov"
    text.write_text("patient notes, not a video\n" * 40)
    _analyze_fails(text, tmp_path, capsys, "not a readable video")


def test_still_photo_reports_rest_only(tmp_path):
    photo = SHARED_DATA / "neutral.jpeg"
    if not photo.exists():
        pytest.skip("../shared/data/neutral.jpeg is not present")
    analysis = analyze(photo)
    # A photo shows rest only: nothing is listed as "not performed" in it.
    assert analysis.performances == [] and analysis.not_performed == []
    write_outputs(analysis, photo, tmp_path / "out")
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["rest"]["palpebral_fissure"]["left"] > 0


def test_the_report_gives_each_movement_over_its_repetitions(unseen, tmp_path):
    """Repeated movements with weak sides on either side: each movement's summary names its
    own weaker side (or says why none), the report shows them in one table, and no one-sided
    scale is estimated for a face whose movements disagree."""
    phantom, analysis = unseen
    per_movement = analysis.summary["per_movement"]
    for movement, weaker in (("brow_raise", "left"), ("eye_closure", "right"),
                             ("frown", None)):
        summary = per_movement[movement]
        assert summary["scored_repetitions"] == 2, movement
        assert summary["weaker_side"] == weaker, (movement, summary)
        assert summary["side_call"] == weaker or summary["side_call"].startswith("neither")
    assert analysis.summary["affected_side"] is None
    assert "withheld" in analysis.summary["estimates"]["efface_dynamic"]
    write_outputs(analysis, phantom.video, tmp_path / "out")
    html = (tmp_path / "out" / "report.html").read_text()
    table = html[html.index('id="by-movement"'):]
    table = table[:table.index("</table>")]
    assert table.count('data-label="Repetitions scored">2 of 2') == len(per_movement)


def test_the_terminal_gives_each_repeated_movement_and_its_call(unseen, tmp_path, capsys):
    phantom, analysis = unseen
    assert main(["analyze", str(phantom.video), "-o", str(tmp_path / "out"), "-q"]) == 0
    out = capsys.readouterr().out
    for movement, summary in analysis.summary["per_movement"].items():
        line = next(line for line in out.splitlines()
                    if line.startswith(f"{movement:<12} over 2 of 2 repetitions"))
        assert line.endswith(f"weaker: {summary['side_call']}"), line
