"""Each side's movement, measured on ground truth.

Properties, not recorded outputs: the measured right/left ratio follows the true one, falls
monotonically with the right side's gain, reads near zero for a frozen side, and does not depend
on whether the video was mirrored once `mirrored` is said.
"""

import numpy as np
import pytest
from conftest import fast_spec

from facescore.phantom import MOVEMENTS
from facescore.validation import NOISE_FLOOR_MM, compare_with_truth, ratio_tolerance

GAINS = (1.0, 0.5, 0.0)
#: Measured right/left ratios stay this close to the truth on these 400 px photo phantoms. The
#: target was 0.10 (the previous, frame-to-frame method reached 0.074 on photos and drifted by
#: centimetres on real video); the anchored measure that holds on real recordings errs by up to
#: ~0.12 here (see docs/measurement.md, "Known weaknesses").
TOLERANCE = 0.15
#: A frozen side reads at most this share of the moving side ...
FROZEN_TOLERANCE = 0.10
#: ... or no more than a never-moving side reads (validation.NOISE_FLOOR_MM): for the smallest
#: movement, the ~3 mm frown, that noise is about 0.1 of the moving side, and which side of 0.1
#: it falls depends on the encode and the CPU (0.091 here, 0.102 on CI, 0.12 once).
#:
#: The fixtures are encoded reproducibly (facescore.phantom.X264_OPTIONS): before, x264 gave a
#: different file for the same frames on every run and machine, and one machine's draw read
#: the frozen frown at 0.48 mm and erred 0.163 on its ratio. On the reproducible encode
#: (measured here, 2 cores): ratio errors at most 0.09 over the three gains (the 0.5-gain
#: frown), a frozen side at most 0.13 mm (frown 0.09 mm, ratio error 0.03). The tolerances
#: are unchanged; these are the margins they keep.


@pytest.fixture(scope="module")
def astronaut_results(phantoms):
    results = {}
    for gain in GAINS:
        phantom, measurement = phantoms.get(f"astro_{gain}", fast_spec(gain))
        results[gain] = compare_with_truth(measurement.frames, phantom.truth)
    return results


def _ratio_tolerance(flow):
    return ratio_tolerance(flow["true_ratio"], flow["true_left_mm"], TOLERANCE)


def _flow(table):
    return table[table.method == "flow"].set_index("movement")


@pytest.mark.parametrize("gain", GAINS)
def test_flow_ratio_matches_truth(astronaut_results, gain):
    flow = _flow(astronaut_results[gain])
    errors = (flow["ratio"] - flow["true_ratio"]).abs()
    assert (errors <= _ratio_tolerance(flow)).all(), errors.to_dict()


def test_frozen_side_reads_near_zero(astronaut_results):
    flow = _flow(astronaut_results[0.0])
    limit = np.maximum(FROZEN_TOLERANCE * flow["left_mm"], NOISE_FLOOR_MM)
    assert (flow["right_mm"] <= limit).all(), flow[["left_mm", "right_mm"]]


@pytest.mark.parametrize("movement", MOVEMENTS)
def test_ratio_is_monotone_in_gain(astronaut_results, movement):
    ratios = [_flow(astronaut_results[g]).loc[movement, "ratio"] for g in GAINS]
    assert all(a > b for a, b in zip(ratios, ratios[1:], strict=False)), ratios


def test_flow_beats_landmarks_on_a_weak_side(astronaut_results):
    """The landmark model's pull toward symmetry is what the flow measurement removes."""
    table = astronaut_results[0.5]
    error = (table["ratio"] - table["true_ratio"]).abs().groupby(table["method"]).mean()
    assert error["flow"] < 0.5 * error["landmarks"]


def test_excursions_in_mm_are_close(astronaut_results):
    flow = _flow(astronaut_results[1.0])
    share = flow["left_mm"] / flow["true_left_mm"]
    # Frown travel is under-read most (about 0.86, see docs/measurement.md); none below 0.7.
    assert (share > 0.7).all() and (share < 1.15).all(), share.to_dict()


def test_mirrored_video_gives_the_same_anatomical_answer(phantoms):
    phantom, plain = phantoms.get("astro_0.5", fast_spec(0.5))
    mirror, undone = phantoms.get("astro_0.5_mirror", fast_spec(0.5, mirror=True),
                                  mirrored=True)
    _, swapped = phantoms.get("astro_0.5_mirror", fast_spec(0.5, mirror=True), mirrored=False)
    a = _flow(compare_with_truth(plain.frames, phantom.truth))
    b = _flow(compare_with_truth(undone.frames, mirror.truth))
    c = _flow(compare_with_truth(swapped.frames, mirror.truth))
    # Each side's mm agree to within a never-moving side's noise; the ratios then agree to
    # within that noise over the moving side (0.25 for the ~3 mm frown, 0.1 for the rest).
    for side in ("left_mm", "right_mm"):
        assert np.allclose(a[side], b[side], rtol=0.1, atol=NOISE_FLOOR_MM), (a[side], b[side])
    assert ((a["ratio"] - b["ratio"]).abs() <= 2 * NOISE_FLOOR_MM / a["left_mm"]).all()
    # Without `mirrored`, the weak side is reported on the wrong side.
    assert (c["ratio"] > 1.0).all(), c["ratio"].to_dict()  # truth 2.0; the frown is noisy


def test_second_face(phantoms, neutral_photo):
    phantom, measurement = phantoms.get("neutral_0.5", fast_spec(0.5), photo=neutral_photo,
                                        photo_name="neutral.jpeg")
    flow = _flow(compare_with_truth(measurement.frames, phantom.truth))
    errors = (flow["ratio"] - flow["true_ratio"]).abs()
    assert (errors <= _ratio_tolerance(flow)).all(), errors.to_dict()
