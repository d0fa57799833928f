"""Distractors in the phantom: non-exam events (a pucker, talking, a blink, a glance) performed in
the rests, listed apart in the truth, and never measured as an exam movement.

What MediaPipe made of the warped distractors on the astronaut (400 px, 30 fps; rises of its
expression scores above the clip's rest, from ``recognition.evidence`` and the ``bs_*`` columns):

- **blink**: seen as a blink. The landmarks' apertures fall from 7.8 to 1.4-2.3 mm for three
  frames, ``eyeBlink`` rises 0.40-0.43 (``eyeSquint`` and ``eyeLookDown`` as much), and the
  analysis lists it in ``blinks`` (completeness 0.74-0.85), never as an eye closure.
- **talking**: the lip gap opens and closes four times (9.3 → 12.6-16.5 mm and back) and
  :func:`facescore.segments.talking_mask` covers 68 % of it. MediaPipe reads each opening as a
  lower-lip depression (``mouthLowerDown`` +0.34-0.49, ``jawOpen`` only +0.03-0.05): on this
  smiling photo the warp stretches the teeth rather than showing a dark open mouth. No event
  is reported (no performance, nothing in ``others``).
- **lip pucker**: *not* recognised as a pucker: ``mouthPucker``/``mouthFunnel`` rise ~0.01,
  ``mouthDimple`` 0.06-0.10 (0.10-0.20 at 320 px). A 2-D warp cannot push the lips forward,
  which is what the model reads. No event is reported, so the test asserts only that it is not
  an exam movement.

Fragile, not caused by the distractors: on this smiling photo the exam's smile barely moves
``mouthSmile`` (rest 0.90, +0.07) while ``mouthLowerDown`` rises 0.12-0.23, near
:data:`facescore.recognition.OTHER_MIN_RISE` (0.2). At 320 px the smile of this phantom read
0.23 and was listed as a lower-lip depression (0.16 without distractors); at 400 px, 0.12.
"""

from __future__ import annotations

import contextlib
import io
import json

import cv2
import numpy as np
import pytest
from conftest import SHARED_DATA, fast_spec

from facescore.analysis import analyze
from facescore.anatomy import LIP_INNER, MOUTH_CORNER
from facescore.cli import EXIT_INPUT, main
from facescore.phantom import (
    DISTRACTOR_FIELDS,
    DISTRACTOR_MM,
    TALKING_SYLLABLES,
    UPPER_LIP,
    PhantomSpec,
    Timing,
    astronaut,
    exam_schedule,
    full_schedule,
    generate,
    load_base_face,
)
from facescore.protocol import DISTRACTORS, MOVEMENTS
from facescore.segments import talking_mask

DISTRACTED = ("lip_pucker", "talking", "blink")


@pytest.fixture(scope="session")
def face():
    return load_base_face(*astronaut())


@pytest.fixture(scope="session")
def distracted(tmp_path_factory):
    """The four movements, right side at half gain, a pucker, talking and a blink between them.

    400 px as the other analysed phantoms (``fast_spec``); 30 fps so that the 0.22 s blink has
    frames inside it."""
    spec = fast_spec(0.5, distractors=DISTRACTED)
    phantom = generate(tmp_path_factory.mktemp("distracted") / "exam.mp4", spec)
    return phantom, analyze(phantom.video)


# --- the schedule and the truth (no video) -------------------------------------------------------

def test_names_agree_between_protocol_and_phantom():
    assert set(DISTRACTORS) == set(DISTRACTOR_FIELDS)


def test_distractors_sit_in_the_rests_and_lengthen_them():
    timing = Timing(lead_in_s=1.0, ramp_s=0.3, hold_s=0.4, rest_s=0.5)
    spec = PhantomSpec(order=("smile", "frown", "brow_raise"), timing=timing,
                       distractors=("blink", "talking", "glance", "lip_pucker"))
    performances, distractors, duration = full_schedule(spec)
    assert [d.name for d in distractors] == list(spec.distractors)
    for before, d, after in zip(performances, distractors, performances[1:], strict=False):
        assert d.start_s == pytest.approx(before.end_s + timing.rest_s)
        assert after.start_s == pytest.approx(d.end_s + timing.rest_s)
    # One more distractor than rests between movements: after the last movement, in turn.
    assert distractors[2].start_s == pytest.approx(performances[-1].end_s + timing.rest_s)
    assert distractors[3].start_s == pytest.approx(distractors[2].end_s + timing.rest_s)
    assert duration == pytest.approx(distractors[-1].end_s + timing.rest_s)
    # Each performs as it says: a blink in 0.22 s, talking for 2 s with lips back together
    # between four openings.
    blink, talking = distractors[0], distractors[1]
    assert blink.end_s - blink.start_s == pytest.approx(0.22)
    assert blink.envelope((blink.peak_start_s + blink.peak_end_s) / 2) == 1
    assert talking.end_s - talking.start_s == pytest.approx(2.0)
    peaks = [talking.envelope(talking.start_s + (k + 0.5) * 0.5) for k in range(4)]
    assert peaks == pytest.approx(TALKING_SYLLABLES)
    assert talking.envelope(talking.start_s + 0.5) == pytest.approx(0.0, abs=1e-12)


def test_without_distractors_the_schedule_is_the_exam():
    spec = PhantomSpec()
    performances, distractors, duration = full_schedule(spec)
    assert distractors == []
    assert (performances, duration) == exam_schedule(spec.order, spec.repetitions, spec.timing)


def test_an_unknown_distractor_is_refused():
    with pytest.raises(ValueError, match="unknown distractor 'yawn'"):
        full_schedule(PhantomSpec(distractors=("yawn",)))


def test_pucker_narrows_and_closes_the_mouth(face):
    field = DISTRACTOR_FIELDS["lip_pucker"](face) * face.mm_per_px
    for side, sign in (("left", -1.0), ("right", 1.0)):  # toward the midline
        medial = sign * (field[MOUTH_CORNER[side]] @ face.to_left)
        assert medial == pytest.approx(DISTRACTOR_MM["pucker_medial"], rel=0.05)
    upper, lower = (field[i] @ face.up for i in LIP_INNER)
    assert upper < 0 < lower  # the lips come together


def test_talking_opens_the_jaw_only(face):
    field = DISTRACTOR_FIELDS["talking"](face) * face.mm_per_px
    gap = (field[LIP_INNER[0]] - field[LIP_INNER[1]]) @ face.up
    assert gap == pytest.approx(DISTRACTOR_MM["talking_gap"], rel=1e-3)  # lip 14: not quite mid
    assert np.abs(field[list(UPPER_LIP)]).max() == 0  # the upper lip stays
    assert (field @ face.up <= 1e-9).all()  # nothing goes up
    eyes_and_above = face.points @ face.up > face.points[MOUTH_CORNER["left"]] @ face.up
    assert np.abs(field[eyes_and_above]).max() < 1e-9


# --- the analysed phantom ------------------------------------------------------------------------

def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def test_truth_lists_distractors_apart(distracted):
    phantom, _ = distracted
    truth = phantom.truth
    assert truth["spec"]["distractors"] == list(DISTRACTED)
    assert [d["name"] for d in truth["distractors"]] == list(DISTRACTED)
    assert all(d["exam"] is False for d in truth["distractors"])
    assert [p["movement"] for p in truth["performances"]] == list(MOVEMENTS)
    for d in truth["distractors"]:
        assert not any(_overlap(d["start_s"], d["end_s"], p["start_s"], p["end_s"])
                       for p in truth["performances"])
    talking = truth["distractors"][1]
    assert max(talking["lip_gap_added_mm"]) == pytest.approx(DISTRACTOR_MM["talking_gap"],
                                                             rel=1e-3)


def test_every_exam_movement_is_found_with_its_label_and_weaker_side(distracted):
    phantom, analysis = distracted
    for true in phantom.truth["performances"]:
        found = [p for p in analysis.performances
                 if _overlap(p.start_s, p.end_s, true["start_s"], true["end_s"]) > 0]
        assert [p.movement for p in found] == [true["movement"]], (true, found)
        if true["symmetry_pct"] < 80:
            assert found[0].weaker_side == "right", found[0]


def test_no_distractor_becomes_an_exam_movement(distracted):
    phantom, analysis = distracted
    for d in phantom.truth["distractors"]:
        hits = [p for p in analysis.performances
                if _overlap(p.start_s, p.end_s, d["start_s"], d["end_s"]) > 0]
        assert not hits, (d, hits)


def test_the_blink_is_a_blink(distracted):
    phantom, analysis = distracted
    (blink,) = [d for d in phantom.truth["distractors"] if d["name"] == "blink"]
    seen = [b for b in analysis.blinks
            if _overlap(b.onset_s, b.onset_s + b.duration_s, blink["start_s"] - 0.05,
                        blink["end_s"] + 0.05) > 0]
    assert len(seen) == 1, analysis.blinks
    assert all(c is not None and c >= 0.5 for c in seen[0].completeness.values())


def test_talking_reads_as_talking(distracted):
    phantom, analysis = distracted
    (talking,) = [d for d in phantom.truth["distractors"] if d["name"] == "talking"]
    t = analysis.frames["t_s"].to_numpy()
    inside = (t >= talking["start_s"]) & (t <= talking["end_s"])
    assert talking_mask(analysis.frames)[inside].mean() >= 0.5


# --- the command line and the base video ---------------------------------------------------------

def test_cli_performs_and_prints_distractors(tmp_path):
    video = tmp_path / "x.mp4"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["phantom", str(video), "--order", "smile", "--distractors", "blink",
                     "glance", "--size", "96x96", "--fps", "10", "--lead-in", "0.3", "-q"])
    assert code == 0
    truth = json.loads(video.with_name(video.name + ".truth.json").read_text())
    assert [d["name"] for d in truth["distractors"]] == ["blink", "glance"]
    assert truth["distractors"][1]["iris_to_left_mm"] == pytest.approx(
        DISTRACTOR_MM["glance_iris"])
    assert "blink        (distractor, not an exam movement)" in out.getvalue()


def test_cli_refuses_distractors_in_a_session_schedule(tmp_path, capsys):
    video = tmp_path / "x.mp4"
    code = main(["phantom", str(video), "--schedule", "session", "--distractors", "blink", "-q"])
    assert code == EXIT_INPUT
    assert capsys.readouterr().err.startswith("facescore: error: --distractors")
    assert not video.exists()


SINGLE_FACE = SHARED_DATA / "single_face.mp4"  # 640x360, 2.4 s


@pytest.mark.skipif(not SINGLE_FACE.exists(), reason="../shared/data is not present")
def test_base_video_performs_the_same_distractors(tmp_path):
    """The blink and talking fields go onto a real clip: only their frames change."""
    from facescore.phantom_video import generate_from_video
    from facescore.sources import open_source

    # The clip is 2.42 s: 0.05 s rest, the blink, 0.05 s, 2 s of talking, 0.05 s.
    spec = PhantomSpec(order=(), timing=Timing(lead_in_s=0.05, rest_s=0.05),
                       distractors=("blink", "talking"))
    phantom = generate_from_video(tmp_path / "d.mp4", SINGLE_FACE, spec)
    truth = phantom.truth
    assert [d["name"] for d in truth["distractors"]] == ["blink", "talking"]
    assert truth["distractors"][0]["left"]["lid_drop_mm"] > 0
    changed = []
    with open_source(SINGLE_FACE) as base, open_source(phantom.video) as made:
        for a, b in zip(base, made, strict=True):
            # Blurred, so that the re-encoding's speckle does not count as a change.
            difference = cv2.blur(cv2.absdiff(a.gray, b.gray), (5, 5))
            if difference.max() > 10:
                changed.append(a.t_s)
    assert changed
    inside = [any(d["start_s"] <= t <= d["end_s"] for d in truth["distractors"])
              for t in changed]
    assert all(inside), changed


# --- an eye that blinks incompletely --------------------------------------------------------------

#: Eight blinks: the blink call needs six measured on both eyes.
EIGHT_BLINKS = ("blink",) * 8


@pytest.fixture(scope="session")
def blink_depths(tmp_path_factory):
    """Blink summaries of phantoms whose right (or left) eye's blinks close a share of the way,
    with one short smile: {(side, depth): blink_summary}."""
    root = tmp_path_factory.mktemp("blink_depths")
    out, full = {}, {}
    for side, depth in (("right", 1.0), ("right", 0.4), ("left", 0.4)):
        spec = fast_spec(1.0, order=("smile",), distractors=EIGHT_BLINKS, size=(320, 320))
        spec.gains["blink"] = {side: depth}
        phantom = generate(root / f"{side}_{depth}.mp4", spec)
        # The truth: that eye's lid drops by the share of a full blink's (the first phantom).
        drops = {s: phantom.truth["distractors"][0][s]["lid_drop_mm"] for s in ("left", "right")}
        full = full or drops
        assert drops[side] == pytest.approx(depth * full[side], rel=0.01)
        out[(side, depth)] = analyze(phantom.video).blink_summary
    return out


def test_an_eye_that_blinks_incompletely_is_named_and_full_blinks_name_none(blink_depths):
    """The truth's per-side blink depth follows the spec; the analysis names the eye whose
    blinks close less, on either side, and no eye when both close fully."""
    assert blink_depths[("right", 1.0)]["less_complete_side"] is None
    for side in ("right", "left"):
        summary = blink_depths[(side, 0.4)]
        assert summary["completeness_blinks"] >= 6
        assert summary["less_complete_side"] == side, summary["less_complete_call"]
        other = "left" if side == "right" else "right"
        assert summary[f"completeness_{side}"] < summary[f"completeness_{other}"]
