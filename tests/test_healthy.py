"""A healthy face reads healthy: every shared real clip is of a healthy person.

Properties, on real recordings (skipped without ../shared/data): no affected side in any
summary, no weaker side on any scored performance, no performance at all on clips where the
person only sits, talks or blinks, no scale estimate below normal, blinks found as labelled on
low-frame-rate webcam clips behind glasses, and no side named under one grey level of dither.
And, on the pure functions: intervals narrow with more repetitions, and a weaker side is named
only beyond normal variation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_DATA

from facescore.analysis import analyze
from facescore.sources import copy_first_seconds
from facescore.uncertainty import Interval, combine_repetitions, symmetry_interval, weaker_side
from facescore.validation import blink_agreement

#: Every shared clip with a face worth analysing (all of healthy people).
CLIPS = ["webcam/mahie_test_6_low_fps.avi", "webcam/soniya_test_6_low_fps.avi",
         "not_expressive.mp4", "baseline.mp4", "obama_address.mp4", "single_face.mp4",
         "WolfgangLanger_Pexels.mp4", "smile_lowres.gif", "expressions/d5.mp4",
         "expressions/d10.mp4", "expressions/d14.mp4", "expressions/d18.mp4"]
#: Clips in which the person makes no exam movement at all: they sit, blink, talk.
NO_EXAM = {"webcam/mahie_test_6_low_fps.avi", "webcam/soniya_test_6_low_fps.avi",
           "not_expressive.mp4", "baseline.mp4"}
#: Webcam clips with frame labels of blinks, and how many frames the labels lead the video by
#: (data/README.md).
BLINK_LABELS = {"webcam/mahie_test_6_low_fps.avi": 1, "webcam/soniya_test_6_low_fps.avi": 2}


@pytest.fixture(scope="session")
def healthy_analyses():
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not beside the project")
    out = {}
    for name in CLIPS:
        path = SHARED_DATA / name
        if path.exists():
            out[name] = analyze(path)
    return out


@pytest.mark.parametrize("name", CLIPS)
def test_healthy_clip_names_no_weaker_side(name, healthy_analyses):
    if name not in healthy_analyses:
        pytest.skip(f"{name} is not in ../shared/data")
    analysis = healthy_analyses[name]
    assert analysis.summary["affected_side"] is None
    # Nor an eye that blinks less completely (healthy blinks differ per blink by up to 84 %).
    assert analysis.blink_summary.get("less_complete_side") is None
    for p in analysis.performances:
        assert p.weaker_side is None, (p.movement, p.start_s, p.symmetry_pct)
        # No impossible value: intervals hold their value, symmetry within 0-100.
        for side in (p.left, p.right):
            if np.isfinite(side.low_mm):
                assert side.low_mm <= side.excursion_mm <= side.high_mm
        if p.symmetry_pct is not None:
            assert 0 <= p.symmetry_low_pct <= p.symmetry_pct <= p.symmetry_high_pct <= 100
    # No estimate below the normal range: without an affected side there is no grade, and
    # items within normal variation score as normal.
    estimates = analysis.summary.get("estimates", {})
    assert "grade" not in estimates.get("house_brackmann", {})
    if "mean" in estimates.get("efface_dynamic", {}):
        assert estimates["efface_dynamic"]["mean"] == pytest.approx(100.0)


def _dither():
    """benchmarks/dither.py: every decoded frame with ±1 grey level of seeded noise."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "dither.py"
    spec = importlib.util.spec_from_file_location("dither", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: Clips on which one grey level of dither made the report name a weaker side: WolfgangLanger
#: and smile_lowres before a side had to be confirmed by the landmark cross-check and a measured
#: noise; soniya's webcam (a smile the pixels read sliding sideways, 7 %) before a smile had to
#: be seen by the landmarks too (docs/measurement.md).
TIPPED_BY_DITHER = ["WolfgangLanger_Pexels.mp4", "smile_lowres.gif",
                    "webcam/soniya_test_6_low_fps.avi"]


@pytest.mark.parametrize("name", TIPPED_BY_DITHER)
def test_a_healthy_clip_names_no_side_under_noise_no_camera_would_show(name):
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"../shared/data/{name} is not present")
    with _dither().dithered_sources():
        analysis = analyze(path)
    assert analysis.summary["affected_side"] is None
    assert [p.weaker_side for p in analysis.performances if p.weaker_side] == []
    if name in NO_EXAM:  # she only sits and blinks: nothing to score, dithered or not
        assert [p.movement for p in analysis.performances if p.scored] == []


@pytest.mark.parametrize("name", sorted(NO_EXAM))
def test_sitting_blinking_and_talking_are_no_exam_movement(name, healthy_analyses):
    if name not in healthy_analyses:
        pytest.skip(f"{name} is not in ../shared/data")
    analysis = healthy_analyses[name]
    assert analysis.performances == []
    assert "no exam movement" in analysis.summary["note"]


@pytest.mark.parametrize("name", sorted(BLINK_LABELS))
def test_blinks_behind_glasses_at_low_frame_rates(name, healthy_analyses):
    """F1 of the report's blink events against the frame labels, at 7.7 and 17 fps."""
    if name not in healthy_analyses:
        pytest.skip(f"{name} is not in ../shared/data")
    analysis = healthy_analyses[name]
    t = analysis.frames["t_s"].to_numpy()
    labels = pd.read_csv(SHARED_DATA / name.replace(".avi", "_ideal.csv"),
                         header=None).iloc[:, 0].to_numpy()  # no header row: frame 0 first
    agreement = blink_agreement(t, analysis.blinks, labels, BLINK_LABELS[name])
    f1, recall, precision = agreement["f1"], agreement["recall"], agreement["precision"]
    assert f1 >= 0.95, (recall, precision)
    # Below 12 fps the closed moment falls between frames: no completeness is claimed, and no
    # eye reads as blinking less completely than the other.
    if 1 / np.median(np.diff(t)) < 12:
        assert all(v is None for b in analysis.blinks for v in b.completeness.values())
        assert any("completeness is not measured" in w
                   for w in analysis.measurement.quality["warnings"])


def test_intervals_narrow_with_more_repetitions():
    rng = np.random.default_rng(0)
    widths = []
    for n in (2, 4, 8):
        values = 6.0 + rng.normal(0, 0.5, n)
        combined = combine_repetitions([Interval(v, v - 1.0, v + 1.0) for v in values])
        widths.append(combined.half_width)
    assert widths[0] > widths[1] > widths[2]


def test_repetitions_that_agree_narrow_the_interval_and_those_that_disagree_widen_it():
    one = Interval(6.0, 5.0, 7.0)
    agreeing = combine_repetitions([one, Interval(6.3, 5.3, 7.3)])
    assert agreeing.half_width < one.half_width
    disagreeing = combine_repetitions([Interval(3.0, 2.0, 4.0), Interval(9.0, 8.0, 10.0)])
    assert disagreeing.low < 3.0 and disagreeing.high > 9.0


def test_the_mean_of_independent_measures_is_surer_than_each():
    from facescore.uncertainty import mean_interval

    single = Interval(50.0, 40.0, 60.0)
    mean = mean_interval([single, Interval(70.0, 60.0, 80.0), Interval(60.0, 50.0, 70.0),
                          Interval(40.0, 30.0, 50.0)])
    assert mean.value == 55.0 and mean.half_width == pytest.approx(single.half_width / 2)
    assert mean_interval([single, Interval(60.0, float("nan"), float("nan"))]) is None


def test_weaker_side_only_beyond_normal_variation():
    def side(value, half):
        return Interval(value, value - half, value + half)

    # Clearly weaker, tight intervals: named.
    assert weaker_side(side(8.0, 0.4), side(3.0, 0.4)) == "right"
    assert weaker_side(side(3.0, 0.4), side(8.0, 0.4)) == "left"  # mirror invariance
    # The same point values, but noise as large as the movement: not named.
    assert weaker_side(side(8.0, 5.0), side(3.0, 5.0)) is None
    # Within normal variation (92 %): not named however tight.
    assert weaker_side(side(8.0, 0.1), side(7.4, 0.1)) is None
    band = symmetry_interval(side(8.0, 0.4), side(4.0, 0.4))
    assert band.low < 50 < band.high and band.high < 88


@pytest.fixture(scope="session")
def glasses_added(tmp_path_factory):
    """Eye closure and brow raise added onto a webcam clip behind glasses (17 fps), with the
    right side frozen (gain 0) and half (gain 0.5)."""
    from facescore.phantom import PhantomSpec
    from facescore.phantom_video import generate_from_video
    from facescore.protocol import Timing

    base = SHARED_DATA / "webcam" / "mahie_test_6_low_fps.avi"
    if not base.exists():
        pytest.skip("../shared/data/webcam is not present")
    root = tmp_path_factory.mktemp("glasses")
    cut = copy_first_seconds(base, root / "mahie_10s.avi", 10.0)
    order = ("eye_closure", "brow_raise")
    out = {}
    for gain in (0.0, 0.5):
        spec = PhantomSpec(gains={m: {"left": 1.0, "right": gain} for m in order},
                           order=order, timing=Timing(lead_in_s=2.0, rest_s=1.5))
        phantom = generate_from_video(root / f"glasses_r{gain}.mp4", cut, spec)
        out[gain] = (phantom, analyze(phantom.video))
    return out


def test_a_frozen_eye_behind_glasses_reads_near_zero(glasses_added):
    """Behind glasses at 17 fps, the frozen side stays within its own noise while the other
    moves, and the weaker side is the frozen one; the half side reads between."""
    for gain, (phantom, analysis) in glasses_added.items():
        for truth in phantom.truth["performances"]:
            found = [p for p in analysis.performances if p.movement == truth["movement"]
                     and p.start_s < truth["end_s"] and truth["start_s"] < p.end_s]
            assert len(found) == 1, (gain, truth["movement"])
            p = found[0]
            assert p.weaker_side == "right", (gain, truth["movement"])
            if gain == 0.0:
                # Near zero: within 0.1 of the moving side, or within the side's own noise.
                limit = max(0.1 * p.left.excursion_mm, 1.96 * p.right.noise_mm)
                assert p.right.excursion_mm <= limit, (truth["movement"], p.right)
            else:
                assert abs(p.symmetry_pct - truth["symmetry_pct"]) <= 15, truth["movement"]
        assert analysis.summary["affected_side"] == "right"
