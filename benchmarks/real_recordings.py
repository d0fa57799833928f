"""How facescore's measures hold on real recordings (../shared/data), in one run.

Part 1 — real clips with no exam movement (talking, neutral, expressive): per clip, the drift of
every movement signal away from blinks (95th percentile of |signal|, mm, prior-free measure and
landmarks), impossible values, masked frames, the performances reported (there should be none
on the talking and neutral clips) and the blinks found.

Part 2 — added movements: exam movements with known per-side gains added onto real clips
(``facescore phantom --base-video``; cached in benchmarks/.cache/real/), analysed as a user
would, and compared with their truth: was every performance found with the right label,
symmetry error, weaker side, the frozen side's reading.

    python benchmarks/real_recordings.py [--data ../shared/data] [--part 1|2|both]
                                         [--markdown docs/real_recordings_table.md]

Prints tables; with --markdown also writes them there.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(__file__).resolve().parent / ".cache" / "real"
SIGNALS = ("brow_lift", "lid_drop", "mouth_up", "mouth_out", "lower_lid_rise", "brow_medial")

#: Part 1: (clip, what it is). The first three hold no exam movement at all.
CLIPS = [
    ("not_expressive.mp4", "talking, neutral"),
    ("baseline.mp4", "neutral"),
    ("obama_address.mp4", "talking, gestures, head motion"),
    ("single_face.mp4", "one broad smile"),
    ("WolfgangLanger_Pexels.mp4", "acted emotions, hand over face"),
    ("smile_lowres.gif", "smile, small face"),
]
NO_EXAM = {"not_expressive.mp4", "baseline.mp4", "obama_address.mp4"}

#: Spontaneous blinks counted by eye, frame by frame, in crops of the eyes (frame indices of
#: the closing), for the clips where that was done.
BLINKS_BY_EYE = {
    "obama_address.mp4": [70, 158, 179, 254, 313, 421, 518, 560, 632, 659, 779, 923, 945, 986],
    "single_face.mp4": [27],
    "not_expressive.mp4": [],
    "baseline.mp4": [],
}

#: Part 2: (name, base clip, order, repetitions, lead-in s, gains {movement: {side: g}}[,
#: timing]).
ALL = ("brow_raise", "eye_closure", "smile", "frown")
#: single_face.mp4 is 2.4 s long: one shorter performance fits.
SHORT = {"lead_in_s": 0.6, "ramp_s": 0.3, "hold_s": 0.5, "rest_s": 0.3}


def _gains(right: float, left: float = 1.0, movements=ALL) -> dict:
    return {m: {"left": left, "right": right} for m in movements}


ADDED = [
    ("obama_r1", "obama_address.mp4", ALL, 3, 1.2, _gains(1.0)),
    ("obama_r0.5", "obama_address.mp4", ALL, 3, 1.2, _gains(0.5)),
    ("obama_r0", "obama_address.mp4", ALL, 3, 1.2, _gains(0.0)),
    ("obama_mixed", "obama_address.mp4", ALL, 3, 1.2,
     {"brow_raise": {"left": 1, "right": 0.3}, "eye_closure": {"left": 1, "right": 0.7},
      "smile": {"left": 0, "right": 1}, "frown": {"left": 0.5, "right": 1}}),
    ("notexp_r1", "not_expressive.mp4", ("brow_raise", "eye_closure", "smile"), 1, 1.0,
     _gains(1.0)),
    ("notexp_r0.5", "not_expressive.mp4", ("brow_raise", "eye_closure", "smile"), 1, 1.0,
     _gains(0.5)),
    ("notexp_r0", "not_expressive.mp4", ("brow_raise", "eye_closure", "smile"), 1, 1.0,
     _gains(0.0)),
    ("notexp_mixed", "not_expressive.mp4", ("frown", "smile", "eye_closure"), 1, 1.0,
     {"frown": {"left": 1, "right": 0.2}, "smile": {"left": 0.6, "right": 1},
      "eye_closure": {"left": 0, "right": 1}}),
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


def drift_table(data: Path) -> pd.DataFrame:
    from facescore.analysis import analyze

    rows = []
    for clip, what in CLIPS:
        path = data / clip
        if not path.exists():
            continue
        start = time.perf_counter()
        analysis = analyze(path)
        seconds = time.perf_counter() - start
        frames = analysis.frames
        t = frames["t_s"].to_numpy()
        near_blink = np.zeros(len(t), dtype=bool)
        for blink in analysis.blinks:
            near_blink |= (t >= blink.onset_s - 0.3) & (t <= blink.onset_s + blink.duration_s
                                                         + 0.3)
        away = ~near_blink & frames["face_found"].to_numpy(dtype=bool)
        row = {"clip": clip, "what": what, "frames": len(frames),
               "fps": round(len(frames) / seconds, 1)}
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
        row["performances"] = "; ".join(
            f"{p.movement} {p.start_s:.1f}-{p.end_s:.1f}" for p in analysis.performances) or "none"
        row["blinks"] = analysis.blink_summary.get("count", 0)
        if clip in BLINKS_BY_EYE:
            truth = np.array(BLINKS_BY_EYE[clip]) / (len(frames) / max(t[-1] - t[0], 1e-6))
            onsets = np.array([b.onset_s for b in analysis.blinks])
            found = sum(bool(np.any(np.abs(onsets - x) < 0.3)) for x in truth)
            invented = sum(not np.any(np.abs(truth - o) < 0.3) for o in onsets)
            row["blinks_by_eye"] = len(truth)
            row["blinks_found"] = found
            row["blinks_invented"] = invented
        rows.append(row)
    return pd.DataFrame(rows)


def _make_added(name, clip, order, reps, lead_in, gains, data: Path,
                timing: dict | None = None) -> Path:
    from facescore.phantom import PhantomSpec, Timing
    from facescore.phantom_video import generate_from_video

    out = CACHE / f"{name}.mp4"
    if not (out.exists() and Path(f"{out}.truth.json").exists()):
        CACHE.mkdir(parents=True, exist_ok=True)
        spec = PhantomSpec(gains=gains, order=order, repetitions=reps,
                           timing=Timing(**(timing or {"lead_in_s": lead_in})))
        generate_from_video(out, data / clip, spec)
    return out


def _match(truth_p: dict, performances) -> object | None:
    """The detected performance overlapping the true one most, one of its own movement first."""
    best, overlap = None, 0.0
    for same_label in (True, False):
        for p in performances:
            if same_label and p.movement != truth_p["movement"]:
                continue
            o = min(p.end_s, truth_p["end_s"]) - max(p.start_s, truth_p["start_s"])
            if o > overlap:
                best, overlap = p, o
        if best is not None:
            return best
    return best


def _own(performance, base) -> bool:
    """Whether a detected performance is the base recording's own movement (the same movement
    found at the same time in the base clip itself)."""
    return any(p.movement == performance.movement
               and min(p.end_s, performance.end_s) - max(p.start_s, performance.start_s) > 0
               for p in base.performances)


def accuracy_table(data: Path, cases: list[str] | None = None) -> pd.DataFrame:
    from facescore.analysis import analyze
    from facescore.validation import load_truth

    rows = []
    bases: dict[str, object] = {}
    for name, clip, order, reps, lead_in, gains, *timing in ADDED:
        if not (data / clip).exists() or (cases and name not in cases):
            continue
        video = _make_added(name, clip, order, reps, lead_in, gains, data,
                            timing[0] if timing else None)
        truth = load_truth(video)
        analysis = analyze(video)
        if clip not in bases:
            bases[clip] = analyze(data / clip)
        used = set()
        for tp in truth["performances"]:
            match = _match(tp, [p for p in analysis.performances if id(p) not in used])
            left_true, right_true = tp["left"]["excursion_mm"], tp["right"]["excursion_mm"]
            row = {"case": name, "movement": tp["movement"], "rep": tp["rep"],
                   "true_sym": round(tp["symmetry_pct"], 1), "true_weaker": tp["weaker_side"]}
            if match is None:
                row.update(found="missed")
                rows.append(row)
                continue
            used.add(id(match))
            row["found"] = match.movement if match.movement != tp["movement"] else "ok"
            row["scored"] = match.scored
            row["flags"] = "; ".join(match.flags)
            row["left_mm"], row["right_mm"] = (round(match.left.excursion_mm, 2),
                                               round(match.right.excursion_mm, 2))
            row["true_left_mm"], row["true_right_mm"] = round(left_true, 2), round(right_true, 2)
            row["sym"] = None if match.symmetry_pct is None else round(match.symmetry_pct, 1)
            row["sym_err"] = (None if match.symmetry_pct is None
                              else round(match.symmetry_pct - tp["symmetry_pct"], 1))
            true_weaker = tp["weaker_side"] if tp["symmetry_pct"] < 88 else None
            row["weaker"] = match.weaker_side
            row["weaker_ok"] = match.weaker_side == true_weaker
            stronger_true = max(left_true, right_true)
            if min(left_true, right_true) <= 0.05 * stronger_true:  # a frozen side
                frozen = "left" if left_true < right_true else "right"
                moving = "right" if frozen == "left" else "left"
                f = getattr(match, frozen).excursion_mm
                m = getattr(match, moving).excursion_mm
                row["frozen_share"] = round(max(f, 0) / m, 3) if m > 0 else None
            rows.append(row)
        extra = [p for p in analysis.performances if id(p) not in used]
        for p in extra:
            what = "the base's own" if _own(p, bases[clip]) else "invented"
            rows.append({"case": name, "movement": p.movement, "rep": p.rep,
                         "found": f"{what} ({p.start_s:.1f}-{p.end_s:.1f} s)"})
    return pd.DataFrame(rows)


def summarise(acc: pd.DataFrame) -> dict:
    """Totals over the true performances; symmetry and sides over those facescore scored (the
    rest it flagged as not measurable, e.g. a head turning during the movement)."""
    found = acc["found"].astype(str)
    true_rows = acc[~found.str.startswith("invented") & ~found.str.startswith("the base")]
    scored = true_rows[true_rows.get("scored", pd.Series(True, index=true_rows.index))
                       .fillna(False).astype(bool)]
    errors = scored["sym_err"].dropna().abs()
    frozen = scored.get("frozen_share", pd.Series(dtype=float)).dropna()
    return {
        "performances": len(true_rows),
        "found_with_right_label": int((true_rows["found"] == "ok").sum()),
        "not_scored_flagged": int(len(true_rows) - len(scored)
                                  - int((true_rows["found"] == "missed").sum())),
        "invented": int(found.str.startswith("invented").sum()),
        "symmetry_within_10": f"{int((errors <= 10).sum())} / {len(errors)}",
        "symmetry_within_5": f"{int((errors <= 5).sum())} / {len(errors)}",
        "worst_symmetry_error": float(errors.max()) if len(errors) else None,
        "weaker_side_right": f"{int(scored['weaker_ok'].fillna(False).sum())} / "
                             f"{int(scored['weaker_ok'].notna().sum())}",
        "frozen_side_worst_share": float(frozen.max()) if len(frozen) else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--part", choices=("1", "2", "both"), default="both")
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--cases", nargs="*", help="only these added-movement cases")
    args = parser.parse_args(argv)
    if not args.data.exists():
        print(f"no real clips at {args.data}", file=sys.stderr)
        return 2
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 40)
    parts = []
    if args.part in ("1", "both"):
        drift = drift_table(args.data)
        print("Part 1 - real clips: 95th percentile of |signal| away from blinks (mm)")
        print(drift.to_string(index=False))
        parts.append(("Real clips: drift away from blinks, impossible values, performances",
                      drift))
    if args.part in ("2", "both"):
        acc = accuracy_table(args.data, args.cases)
        base = acc["case"].str.split("_").str[0]
        summary = pd.DataFrame([{"bases": "all", **summarise(acc)}]
                               + [{"bases": b, **summarise(acc[base == b])}
                                  for b in dict.fromkeys(base)])
        print("\nPart 2 - movements added onto real clips")
        print(acc.to_string(index=False))
        print(summary.to_string(index=False))
        parts.append(("Added movements on real clips", acc))
        parts.append(("Added movements: summary per base clip", summary))
    if args.markdown:
        text = "\n\n".join(f"### {title}\n\n{table.to_markdown(index=False)}"
                           for title, table in parts)
        args.markdown.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
