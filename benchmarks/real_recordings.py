"""How facescore's measures hold on real recordings (../shared/data), in one run.

Part 1 — real clips of healthy people with no exam movement (sitting and blinking behind
glasses at 7-17 fps, talking, neutral, expressive): per clip, whether the report reads healthy
(the affected side named in the summary, performances with a weaker side, the performances and
other expressions listed, a scale grade), the blinks found and, on the webcam clips, their F1
against the frame labels; then the drift of every movement signal away from blinks (95th
percentile of |signal|, mm, prior-free measure and landmarks), impossible values and masked
frames.

Part 2 — added movements: exam movements with known per-side gains added onto real clips
(``facescore phantom --base-video``; cached in benchmarks/.cache/real/), analysed as a user
would, and compared with their truth: was every performance found with the right label,
symmetry error, weaker side, the frozen side's reading, and whether each side's 95 % interval
(and the symmetry's) covers the true value.

    python benchmarks/real_recordings.py [--data ../shared/data] [--part 1|2|both] [--dither]
                                         [--markdown docs/real_recordings_table.md]
                                         [--cases NAME ...] [--diagnose]

Prints tables; with --markdown also writes them there; --diagnose prints the per-frame signals
and expression evidence around every true performance not found with its label.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from report_first import inside, report_summary_row, share, summary_verdict, true_weaker_side

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(__file__).resolve().parent / ".cache" / "real"
SIGNALS = ("brow_lift", "lid_drop", "mouth_up", "mouth_out", "lower_lid_rise", "brow_medial")

#: Part 1: (clip, what it is), paths within the data folder. All are of healthy people.
CLIPS = [
    ("webcam/mahie_test_6_low_fps.avi", "glasses, 17 fps webcam, sits and blinks"),
    ("webcam/soniya_test_6_low_fps.avi", "glasses, 7.7 fps webcam, sits and blinks"),
    ("not_expressive.mp4", "talking, neutral"),
    ("baseline.mp4", "neutral"),
    ("obama_address.mp4", "talking, gestures, head motion"),
    ("single_face.mp4", "one broad smile"),
    ("WolfgangLanger_Pexels.mp4", "acted emotions, hand over face"),
    ("smile_lowres.gif", "smile, small face"),
    ("expressions/d5.mp4", "pucker, O mouth, talking, open smile"),
    ("expressions/d10.mp4", "surprise, eye closure, talking, glances"),
    ("expressions/d14.mp4", "beauty filter, glances, eye closure, pout"),
    ("expressions/d18.mp4", "jaw drop, open mouth, pucker, frown"),
]
#: Clips in which the person makes no exam movement at all: no performance should be reported.
NO_EXAM = {"webcam/mahie_test_6_low_fps.avi", "webcam/soniya_test_6_low_fps.avi",
           "not_expressive.mp4", "baseline.mp4"}

#: Spontaneous blinks counted by eye, frame by frame, in crops of the eyes (frame indices of
#: the closing), for the clips where that was done.
BLINKS_BY_EYE = {
    "obama_address.mp4": [70, 158, 179, 254, 313, 421, 518, 560, 632, 659, 779, 923, 945, 986],
    "single_face.mp4": [27],
    "not_expressive.mp4": [],
    "baseline.mp4": [],
}
#: Webcam clips with per-frame blink labels (``<clip>_ideal.csv``), and how many frames the
#: labels lead the video by (row i marks decoded frame i + lead; data/README.md).
BLINK_LABELS = {"webcam/mahie_test_6_low_fps.avi": 1, "webcam/soniya_test_6_low_fps.avi": 2}

#: Part 2: (name, base clip, order, repetitions, lead-in s, gains {movement: {side: g}}[,
#: timing]). The name's first word groups the summary by base clip.
ALL = ("brow_raise", "eye_closure", "smile", "frown")
#: single_face.mp4 is 2.4 s long: one shorter performance fits.
SHORT = {"lead_in_s": 0.6, "ramp_s": 0.3, "hold_s": 0.5, "rest_s": 0.3}
#: The one-minute webcam clips: 3 s of rest to start, movements held 1 s (8 frames at 7.7 fps),
#: 2 s of rest between them (blinks happen there, as in a real exam); 2 × 4 movements fill
#: 35 s, so the base is cut to its first 36 s (:func:`_cut`).
WEBCAM = {"lead_in_s": 3.0, "ramp_s": 0.5, "hold_s": 1.0, "rest_s": 2.0}
WEBCAM_CUT_S = 36.0
#: not_expressive.mp4 is 8.3 s: the four movements fit with brisk timing (7.8 s).
BRISK = {"lead_in_s": 1.0, "ramp_s": 0.3, "hold_s": 0.6, "rest_s": 0.5}
#: Clips cut to their first seconds before movements are added (generation is slow on 60 s).
CUTS = {"webcam/mahie_test_6_low_fps.avi": WEBCAM_CUT_S,
        "webcam/soniya_test_6_low_fps.avi": WEBCAM_CUT_S}


def _gains(right: float, left: float = 1.0, movements=ALL) -> dict:
    return {m: {"left": left, "right": right} for m in movements}


MIXED = {"brow_raise": {"left": 1, "right": 0.3}, "eye_closure": {"left": 1, "right": 0.7},
         "smile": {"left": 0, "right": 1}, "frown": {"left": 0.5, "right": 1}}


def _four(prefix: str, clip: str, reps: int, lead_in: float, timing: dict | None = None
          ) -> list[tuple]:
    """The issue's four cases on one clip: full protocol, right gain 1, 0.5, 0, and mixed."""
    extra = (timing,) if timing else ()
    return [(f"{prefix}_r{g:g}", clip, ALL, reps, lead_in, _gains(g), *extra)
            for g in (1.0, 0.5, 0.0)] + [(f"{prefix}_mixed", clip, ALL, reps, lead_in, MIXED,
                                          *extra)]


#: The cases issue 15 asks for: the two webcam clips and two other shared clips.
ISSUE = [  # quickest first
    *_four("soniya", "webcam/soniya_test_6_low_fps.avi", 2, 3.0, WEBCAM),
    *_four("notexp", "not_expressive.mp4", 1, 1.0, BRISK),
    *_four("mahie", "webcam/mahie_test_6_low_fps.avi", 2, 3.0, WEBCAM),
    *_four("obama", "obama_address.mp4", 3, 1.2),
]
ADDED = [
    *ISSUE,
    ("baseline_smile_r0.5", "baseline.mp4", ("smile",), 1, 0.8, _gains(0.5)),
    ("baseline_brow_l0", "baseline.mp4", ("brow_raise",), 1, 0.8, _gains(1.0, left=0.0)),
    ("baseline_eye_r0", "baseline.mp4", ("eye_closure",), 1, 0.8, _gains(0.0)),
    ("baseline_frown_r0.5", "baseline.mp4", ("frown",), 1, 0.8, _gains(0.5)),
    ("single_brow_r0.5", "single_face.mp4", ("brow_raise",), 1, 0.6, _gains(0.5), SHORT),
    ("single_eye_r0", "single_face.mp4", ("eye_closure",), 1, 0.6, _gains(0.0), SHORT),
    ("single_frown_l0.5", "single_face.mp4", ("frown",), 1, 0.6, _gains(1.0, left=0.5),
     SHORT),
    ("single_brow_r1", "single_face.mp4", ("brow_raise",), 1, 0.6, _gains(1.0), SHORT),
]


def blink_f1(analysis, labels: np.ndarray, lead: int) -> dict:
    """:func:`facescore.validation.blink_agreement` of an analysis's blink events."""
    from facescore.validation import blink_agreement

    return blink_agreement(analysis.frames["t_s"].to_numpy(), analysis.blinks, labels, lead)


def _performances_text(performances) -> str:
    return "; ".join(f"{p.movement} {p.start_s:.1f}-{p.end_s:.1f}"
                     + (f" {p.symmetry_pct:.0f}%" if p.symmetry_pct is not None else "")
                     for p in performances) or "none"


def healthy_tables(data: Path, analyses: dict | None = None
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Part 1: does each healthy clip read healthy (verdict table), and how much do its signals
    drift away from blinks (drift table). ``analyses`` collects each clip's analysis."""
    from facescore.analysis import analyze

    verdicts, drifts = [], []
    for clip, what in CLIPS:
        path = data / clip
        if not path.exists():
            continue
        analysis = analyze(path)  # speed is benchmarks/throughput.py's business
        if analyses is not None:
            analyses[clip] = analysis
        frames = analysis.frames
        t = frames["t_s"].to_numpy()
        perfs = analysis.performances
        scored = [p for p in perfs if p.symmetry_pct is not None]
        weaker = [p for p in perfs if p.weaker_side is not None]
        hb = analysis.summary.get("estimates", {}).get("house_brackmann", {})
        others = Counter(s.label for s in analysis.others)
        verdict = {
            "clip": clip, "what": what, "frames": len(frames),
            "affected_side": analysis.summary["affected_side"] or "none",
            "weaker_side_on": (f"{len(weaker)} / {len(scored)}: " + "; ".join(
                f"{p.movement} {p.start_s:.1f} s {p.weaker_side}" for p in weaker)
                if weaker else f"0 / {len(scored)}"),
            "grade": hb.get("grade", "none"),
            "performances": _performances_text(perfs),
            "expected": "none" if clip in NO_EXAM else "no exam movement scored weaker",
            "other_expressions": ", ".join(f"{k} ×{n}" if n > 1 else k
                                           for k, n in others.items()) or "none",
            "blinks": analysis.blink_summary.get("count", 0),
        }
        if clip in BLINK_LABELS:
            labels = pd.read_csv(path.with_name(path.stem + "_ideal.csv"), header=None,
                                 encoding="utf-8-sig").iloc[:, 0].to_numpy(dtype=int)
            score = blink_f1(analysis, labels, BLINK_LABELS[clip])
            verdict["blinks_labelled"] = score["labelled"]
            verdict["blink_P/R/F1"] = (f"{score['precision']:.2f} / {score['recall']:.2f} / "
                                       f"{score['f1']:.2f}")
            # How much the F1 depends on the labels' lead (one frame less, one more).
            verdict["blink_F1_lead-1/+1"] = " / ".join(
                f"{blink_f1(analysis, labels, BLINK_LABELS[clip] + d)['f1']:.2f}"
                for d in (-1, 1))
        if clip in BLINKS_BY_EYE:
            truth = np.array(BLINKS_BY_EYE[clip]) / (len(frames) / max(t[-1] - t[0], 1e-6))
            onsets = np.array([b.onset_s for b in analysis.blinks])
            found = sum(bool(np.any(np.abs(onsets - x) < 0.3)) for x in truth)
            invented = sum(not np.any(np.abs(truth - o) < 0.3) for o in onsets)
            verdict["blinks_labelled"] = len(truth)
            verdict["blinks_by_eye_found/invented"] = f"{found} / {invented}"
        verdicts.append(verdict)

        near_blink = np.zeros(len(t), dtype=bool)
        for blink in analysis.blinks:
            near_blink |= (t >= blink.onset_s - 0.3) & (t <= blink.onset_s + blink.duration_s
                                                         + 0.3)
        away = ~near_blink & frames["face_found"].to_numpy(dtype=bool)
        row = {"clip": clip}
        worst, worst_lm = 0.0, 0.0
        for name in SIGNALS:
            for side in ("left", "right"):
                values = frames[f"{name}_mm_{side}"].to_numpy(dtype=float)[away]
                lm = frames[f"{name}_lm_mm_{side}"].to_numpy(dtype=float)[away]
                p95 = float(np.nanpercentile(np.abs(values), 95)) if np.isfinite(
                    values).any() else float("nan")
                row[f"{name}_{side}"] = round(p95, 2)
                worst = max(worst, p95)
                worst_lm = max(worst_lm, float(np.nanpercentile(np.abs(lm), 95)))
        aperture = frames[["eye_aperture_mm_left", "eye_aperture_mm_right"]].to_numpy(float)
        row["worst_p95_mm"] = round(worst, 2)
        row["worst_landmark_p95_mm"] = round(worst_lm, 2)
        row["negative_apertures"] = int((aperture < 0).sum())
        row["masked_pct"] = round(100 * float(np.mean([
            1 - frames[f"valid_{r}_{s}"][frames["face_found"].astype(bool)].mean()
            for r in ("brow", "eye", "mouth") for s in ("left", "right")])), 1)
        drifts.append(row)
    return pd.DataFrame(verdicts), pd.DataFrame(drifts)


def _cut(src: Path, seconds: float) -> Path:
    """The first ``seconds`` of a clip, its packets copied as they are (no re-encoding: the
    frames decode as in the original, with the same timestamps), cached."""
    from facescore.sources import copy_first_seconds

    out = CACHE / f"{src.stem}_first{seconds:g}s{src.suffix}"
    if out.exists():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    copy_first_seconds(src, partial, seconds)
    partial.replace(out)
    return out


def _base_path(clip: str, data: Path) -> Path:
    return _cut(data / clip, CUTS[clip]) if clip in CUTS else data / clip


def _make_added(name, clip, order, reps, lead_in, gains, data: Path,
                timing: dict | None = None) -> Path:
    from facescore.phantom import PhantomSpec, Timing
    from facescore.phantom_video import generate_from_video

    timing = timing or {"lead_in_s": lead_in}
    # The spec in the file name: a changed case never reads an old cached video.
    key = hashlib.sha1(repr((clip, tuple(order), reps, sorted(timing.items()),
                             sorted((m, sorted(g.items())) for m, g in gains.items())))
                       .encode()).hexdigest()[:8]
    out = CACHE / f"{name}-{key}.mp4"
    if not (out.exists() and Path(f"{out}.truth.json").exists()):
        CACHE.mkdir(parents=True, exist_ok=True)
        spec = PhantomSpec(gains=gains, order=order, repetitions=reps, timing=Timing(**timing))
        generate_from_video(out, _base_path(clip, data), spec)
    return out


def _overlap(a_start, a_end, b_start, b_end) -> float:
    return min(a_end, b_end) - max(a_start, b_start)


def _match(truth_p: dict, performances) -> object | None:
    """The detected performance overlapping the true one most, one of its own movement first."""
    best, overlap = None, 0.0
    for same_label in (True, False):
        for p in performances:
            if same_label and p.movement != truth_p["movement"]:
                continue
            o = _overlap(p.start_s, p.end_s, truth_p["start_s"], truth_p["end_s"])
            if o > overlap:
                best, overlap = p, o
        if best is not None:
            return best
    return best


def _own(performance, base) -> bool:
    """Whether a detected performance is the base recording's own movement (the same movement
    found at the same time in the base clip itself)."""
    return any(p.movement == performance.movement
               and _overlap(p.start_s, p.end_s, performance.start_s, performance.end_s) > 0
               for p in base.performances)


def diagnose(analysis, tp: dict, margin_s: float = 0.6) -> str:
    """Per frame around a true performance: both sides' activation (prior-free and landmarks),
    the expression evidence, what the report listed there."""
    from facescore.recognition import evidence
    from facescore.segments import activation

    frames = analysis.frames
    t = frames["t_s"].to_numpy()
    near = (t >= tp["start_s"] - margin_s) & (t <= tp["end_s"] + margin_s)
    movement = tp["movement"]
    table = pd.DataFrame({"t": t})
    for side in ("left", "right"):
        table[f"{side[0]}_act"] = activation(frames, movement, side)
        table[f"{side[0]}_lm"] = activation(frames, movement, side, "landmarks")
    rises = evidence(frames)
    for column in rises:
        table[f"ev_{column}"[:14]] = rises[column].to_numpy()
    for column in ("valid_eye_left", "valid_eye_right", "yaw_deg"):
        if column in frames:
            table[column.replace("valid_", "v_")] = frames[column].to_numpy()
    listed = [f"{s.label} {s.onset:.2f}-{s.end:.2f}" for s in analysis.others
              if _overlap(s.onset, s.end, tp["start_s"] - margin_s, tp["end_s"] + margin_s) > 0]
    listed += [f"blink {b.onset_s:.2f}+{b.duration_s:.2f}" for b in analysis.blinks
               if _overlap(b.onset_s, b.onset_s + b.duration_s, tp["start_s"] - margin_s,
                           tp["end_s"] + margin_s) > 0]
    head = (f"{movement} rep {tp['rep']} true {tp['start_s']:.2f}-{tp['end_s']:.2f} s, "
            f"true L {tp['left']['excursion_mm']:.2f} R {tp['right']['excursion_mm']:.2f} mm; "
            f"noise SD {analysis.noise.get(movement)}; listed nearby: {listed or 'nothing'}")
    return head + "\n" + table[near].round(2).to_string(index=False)


def accuracy_table(data: Path, cases: list[str] | None = None, diagnose_misses: bool = False,
                   bases: dict | None = None, summaries: list | None = None) -> pd.DataFrame:
    """One row per true performance (and per performance not in the truth); with
    ``summaries``, one :func:`report_summary_row` per case is appended to it."""
    from facescore.analysis import analyze
    from facescore.scores import excursions, symmetry_pct
    from facescore.validation import load_truth

    rows = []
    bases = {} if bases is None else bases
    for name, clip, order, reps, lead_in, gains, *timing in ADDED:
        if not (data / clip).exists() or (cases and name not in cases):
            continue
        if rows:  # each case as it is done: a long run shows its results as it goes
            done = pd.DataFrame(rows)
            print(done[done["case"] == done["case"].iloc[-1]].to_string(index=False),
                  flush=True)
        start = time.perf_counter()
        video = _make_added(name, clip, order, reps, lead_in, gains, data,
                            timing[0] if timing else None)
        truth = load_truth(video)
        analysis = analyze(video)
        if clip not in bases:
            bases[clip] = analyze(data / clip)  # the whole clip: a cut keeps its timestamps
        print(f"  {name}: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
        if summaries is not None:
            summaries.append(report_summary_row(name, truth, analysis))
        used = set()
        for tp in truth["performances"]:
            match = _match(tp, [p for p in analysis.performances if id(p) not in used])
            left_true, right_true = tp["left"]["excursion_mm"], tp["right"]["excursion_mm"]
            row = {"case": name, "movement": tp["movement"], "rep": tp["rep"],
                   "true_sym": round(tp["symmetry_pct"], 1), "true_weaker": tp["weaker_side"]}
            if match is None:
                listed = [s.label for s in analysis.others
                          if _overlap(s.onset, s.end, tp["start_s"], tp["end_s"]) > 0]
                row.update(found=f"listed as {', '.join(listed)}" if listed else "missed")
                rows.append(row)
                if diagnose_misses:
                    print(f"\n[{name}] {row['found']}: " + diagnose(analysis, tp))
                continue
            used.add(id(match))
            row["found"] = match.movement if match.movement != tp["movement"] else "ok"
            if diagnose_misses and row["found"] != "ok":
                print(f"\n[{name}] found as {match.movement}: " + diagnose(analysis, tp))
            row["scored"] = match.scored
            row["flags"] = "; ".join(match.flags)
            row["left_mm"], row["right_mm"] = (round(match.left.excursion_mm, 2),
                                               round(match.right.excursion_mm, 2))
            row["true_left_mm"], row["true_right_mm"] = round(left_true, 2), round(right_true, 2)
            row["left_ci"] = f"{match.left.low_mm:.1f}-{match.left.high_mm:.1f}"
            row["right_ci"] = f"{match.right.low_mm:.1f}-{match.right.high_mm:.1f}"
            row["sym"] = None if match.symmetry_pct is None else round(match.symmetry_pct, 1)
            row["sym_ci"] = (None if match.symmetry_low_pct is None else
                             f"{match.symmetry_low_pct:.0f}-{match.symmetry_high_pct:.0f}")
            row["sym_err"] = (None if match.symmetry_pct is None
                              else round(match.symmetry_pct - tp["symmetry_pct"], 1))
            # What the base face itself did in that window, read by the same measure (a blink,
            # a word, webcam noise): on top of the phantom's truth, which is not quite all.
            own = excursions(bases[clip].frames, tp["movement"], tp["start_s"], tp["end_s"])
            own_mm = {side: max(own[side].excursion_mm, 0.0) for side in ("left", "right")}
            # The symmetry of what the composite face does (the phantom's truth plus the base
            # face's own reading): how far the base alone moves the answer, and the measure's
            # error beyond it.
            sym_with_own = symmetry_pct(left_true + own_mm["left"], right_true + own_mm["right"])
            row["true_sym_with_base_own"] = (None if sym_with_own is None
                                             else round(sym_with_own, 1))
            row["sym_err_with_base_own"] = (
                None if match.symmetry_pct is None or sym_with_own is None
                else round(match.symmetry_pct - sym_with_own, 1))
            if match.movement == tp["movement"]:
                row["left_in_ci"] = inside(left_true, match.left.low_mm, match.left.high_mm)
                row["right_in_ci"] = inside(right_true, match.right.low_mm, match.right.high_mm)
                for side, true_mm in (("left", left_true), ("right", right_true)):
                    score = getattr(match, side)
                    with_own = true_mm + own_mm[side]
                    row[f"{side}_in_ci_with_base_own"] = (
                        inside(true_mm, score.low_mm, score.high_mm)
                        or inside(with_own, score.low_mm, score.high_mm))
                row["sym_in_ci"] = inside(tp["symmetry_pct"], match.symmetry_low_pct,
                                           match.symmetry_high_pct)
            true_weaker = true_weaker_side(tp)
            row["weaker"] = match.weaker_side
            row["weaker_ok"] = match.weaker_side == true_weaker
            stronger_true = max(left_true, right_true)
            if min(left_true, right_true) <= 0.05 * stronger_true:  # a frozen side
                frozen = "left" if left_true < right_true else "right"
                moving = "right" if frozen == "left" else "left"
                f = getattr(match, frozen).excursion_mm
                m = getattr(match, moving).excursion_mm
                row["frozen_share"] = round(max(f, 0) / m, 3) if m > 0 else None
                base_mm = own[frozen].excursion_mm
                row["frozen_base_own_mm"] = round(base_mm, 2)
                row["frozen_share_beyond_base"] = (round(max(f - max(base_mm, 0), 0) / m, 3)
                                                   if m > 0 else None)
            rows.append(row)
        extra = [p for p in analysis.performances if id(p) not in used]
        for p in extra:
            what = "the base's own" if _own(p, bases[clip]) else "invented"
            rows.append({"case": name, "movement": p.movement, "rep": p.rep,
                         "found": f"{what} ({p.start_s:.1f}-{p.end_s:.1f} s)",
                         "left_mm": round(p.left.excursion_mm, 2),
                         "right_mm": round(p.right.excursion_mm, 2)})
    return pd.DataFrame(rows)


def summarise(acc: pd.DataFrame) -> dict:
    """Totals over the true performances; symmetry, sides and intervals over those found with
    their own label and scored (the rest flagged as not measurable, e.g. a head turning during
    the movement); excursion intervals: both sides of each."""
    found = acc["found"].astype(str)
    true_rows = acc[~found.str.startswith("invented") & ~found.str.startswith("the base")]
    matched = true_rows[true_rows["found"] == "ok"]  # found with the right label
    scored = matched[matched.get("scored", pd.Series(True, index=matched.index))
                     .fillna(False).astype(bool)]
    errors = scored["sym_err"].dropna().abs()
    errors_own = scored.get("sym_err_with_base_own", pd.Series(dtype=float)).dropna().abs()
    # How far the base face's own movement alone puts the composite from the phantom's truth
    base_shift = (scored.get("true_sym_with_base_own", pd.Series(dtype=float))
                  - scored["true_sym"]).dropna().abs() if len(scored) else pd.Series(dtype=float)
    frozen = scored.get("frozen_share", pd.Series(dtype=float)).dropna()
    beyond = scored.get("frozen_share_beyond_base", pd.Series(dtype=float)).dropna()
    empty = pd.Series(dtype=object)
    sides_in = pd.concat([scored.get("left_in_ci", empty), scored.get("right_in_ci", empty)])
    sides_in_own = pd.concat([scored.get("left_in_ci_with_base_own", empty),
                              scored.get("right_in_ci_with_base_own", empty)])
    return {
        "performances": len(true_rows),
        "found_with_right_label": len(matched),
        "found_as_another_movement": int((~true_rows["found"].astype(str).str.startswith(
            ("ok", "missed", "listed"))).sum()),
        "listed_as_other_or_faint": int(true_rows["found"].astype(str).str.startswith(
            "listed").sum()),
        "missed": int((true_rows["found"] == "missed").sum()),
        "not_scored_flagged": int(len(matched) - len(scored)),
        "invented": int(found.str.startswith("invented").sum()),
        "base_own": int(found.str.startswith("the base").sum()),
        "symmetry_within_10": f"{int((errors <= 10).sum())} / {len(errors)}",
        "symmetry_within_5": f"{int((errors <= 5).sum())} / {len(errors)}",
        "worst_symmetry_error": float(errors.max()) if len(errors) else None,
        "base_own_alone_shifts_symmetry_gt_5": f"{int((base_shift > 5).sum())} / {len(base_shift)}",
        "symmetry_within_10_of_truth_plus_base_own":
            f"{int((errors_own <= 10).sum())} / {len(errors_own)}",
        "symmetry_within_5_of_truth_plus_base_own":
            f"{int((errors_own <= 5).sum())} / {len(errors_own)}",
        "weaker_side_right": share(scored["weaker_ok"]) if "weaker_ok" in scored else "0 / 0",
        "frozen_side_worst_share": float(frozen.max()) if len(frozen) else None,
        "frozen_le_0.1": f"{int((frozen <= 0.1).sum())} / {len(frozen)}",
        "frozen_le_0.1_beyond_base_own": f"{int((beyond <= 0.1).sum())} / {len(beyond)}",
        "excursion_in_interval": share(sides_in),
        "excursion_in_interval_truth_or_truth_plus_base_own": share(sides_in_own),
        "symmetry_in_interval": share(scored.get("sym_in_ci", empty)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--part", choices=("1", "2", "both"), default="both")
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--cases", nargs="*", help="only these added-movement cases")
    parser.add_argument("--issue", action="store_true",
                        help="only the added-movement cases issue 15 asks for")
    parser.add_argument("--diagnose", action="store_true",
                        help="print per-frame signals around every performance not found with "
                             "its label")
    parser.add_argument("--dither", action="store_true",
                        help="add +-1 grey level of seeded dither to every frame measured: the "
                             "tables' run-to-run noise (benchmarks/dither.py)")
    args = parser.parse_args(argv)
    if args.dither:
        from dither import dithered_sources

        with dithered_sources():
            return main([a for a in (argv if argv is not None else sys.argv[1:])
                         if a != "--dither"])
    if not args.data.exists():
        print(f"no real clips at {args.data}", file=sys.stderr)
        return 2
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 40)
    pd.set_option("display.max_colwidth", 80)
    parts = []
    analyses: dict = {}
    if args.part in ("1", "both"):
        verdict, drift = healthy_tables(args.data, analyses)
        print("Part 1 - healthy real clips: does the report read healthy")
        print(verdict.to_string(index=False))
        print("\nPart 1 - 95th percentile of |signal| away from blinks (mm)")
        print(drift.to_string(index=False))
        parts.append(("Healthy real clips: affected side, weaker sides, performances, other "
                      "expressions, blinks", verdict))
        parts.append(("Healthy real clips: drift away from blinks (p95 of |signal|, mm), "
                      "impossible values, masked frames", drift))
    if args.part in ("2", "both"):
        cases = args.cases or ([c[0] for c in ISSUE] if args.issue else None)
        summaries: list[dict] = []
        acc = accuracy_table(args.data, cases, args.diagnose, analyses, summaries)
        read_first = pd.DataFrame(summaries)
        base = acc["case"].str.split("_").str[0]
        summary = pd.DataFrame([{"bases": "all", **summarise(acc)}]
                               + [{"bases": b, **summarise(acc[base == b])}
                                  for b in dict.fromkeys(base)]
                               + [{"bases": c, **summarise(acc[acc["case"] == c])}
                                  for c in dict.fromkeys(acc["case"])])
        print("\nPart 2 - movements added onto real clips")
        print(acc.to_string(index=False))
        print(summary.to_string(index=False))
        verdict = summary_verdict(read_first)
        print("\nPart 2 - the report's summary of each case (measured / true)")
        print(read_first.to_string(index=False))
        print(verdict)
        parts.append(("Added movements: summary (all, per base clip, per case)", summary))
        parts.append(("Added movements: the report's summary of each case (measured / true; "
                      f"{verdict})", read_first))
        parts.append(("Added movements on real clips, per performance", acc))
    if args.markdown:
        text = "\n\n".join(f"### {title}\n\n{table.to_markdown(index=False)}"
                           for title, table in parts)
        args.markdown.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
