"""The whole analysis on photo phantoms of many faces: found, labelled, symmetry, weaker side.

``phantom_accuracy.py`` reads each true performance's excursions directly; this one runs
``analyze`` as a user would (detection, naming, noise, intervals, decisions) on phantom exams
of every base face available: scikit-image's astronaut (bundled), ``../shared/data/
neutral.jpeg`` and the first frame of each shared real clip (faces facescore was never tuned
on as photos). Each face performs the four exam movements with the right side at gain 1, 0.5
and 0, and with mixed gains.

    python benchmarks/photo_phantoms.py [--data ../shared/data] [--markdown FILE] [--dither]

Prints one row per true performance and a summary per face and overall.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from report_first import report_summary_row, summary_verdict, true_weaker_side

ROOT = Path(__file__).resolve().parents[1]
#: Faces from the shared data: photos, and the first frame of clips.
SHARED_FACES = ("neutral.jpeg", "baseline.mp4", "not_expressive.mp4", "single_face.mp4",
                "webcam/mahie_test_6_low_fps.avi", "expressions/d5.mp4",
                "expressions/d18.mp4", "obama_address.mp4")
MIXED = {"brow_raise": {"left": 1, "right": 0.3}, "eye_closure": {"left": 1, "right": 0.7},
         "smile": {"left": 0, "right": 1}, "frown": {"left": 0.5, "right": 1}}
GAINS = {"r1": 1.0, "r0.5": 0.5, "r0": 0.0, "mixed": MIXED}


def first_frame(path: Path) -> np.ndarray:
    """A photo (RGB), or a clip's first frame."""
    if path.suffix.lower() in (".jpg", ".jpeg", ".png"):
        from PIL import Image

        return np.asarray(Image.open(path).convert("RGB"))
    import av

    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            return frame.to_ndarray(format="rgb24")
    raise ValueError(f"no frame in {path}")


def faces(data: Path):
    from facescore.phantom import astronaut

    yield "astronaut", *astronaut()
    for name in SHARED_FACES:
        if (data / name).exists():
            yield Path(name).stem, first_frame(data / name), f"shared/data/{name}"


def _spec(gains):
    from facescore.phantom import PhantomSpec, right_weak

    if isinstance(gains, dict):
        return PhantomSpec(gains=gains)
    return right_weak(gains)


def run(data: Path, workdir: Path, summaries: list | None = None) -> pd.DataFrame:
    """One row per true performance (and per invented one); with ``summaries``, one
    :func:`report_first.report_summary_row` per face and case is appended to it."""
    from facescore.analysis import analyze
    from facescore.errors import FacescoreError
    from facescore.phantom import generate

    rows = []
    for label, photo, name in faces(data):
        for case, gains in GAINS.items():
            video = workdir / f"{label}_{case}.mp4"
            try:
                phantom = generate(video, _spec(gains), photo=photo, photo_name=name)
                analysis = analyze(video)
            except FacescoreError as error:
                rows.append({"face": label, "case": case, "found": f"refused: {error}"})
                continue
            if summaries is not None:
                summaries.append(report_summary_row(f"{label} {case}", phantom.truth, analysis))
            used = set()
            for tp in phantom.truth["performances"]:
                match = next((p for p in analysis.performances if id(p) not in used
                              and p.movement == tp["movement"]
                              and min(p.end_s, tp["end_s"]) > max(p.start_s, tp["start_s"])),
                             None)
                row = {"face": label, "case": case, "movement": tp["movement"],
                       "true_sym": round(tp["symmetry_pct"], 1)}
                true_weaker = true_weaker_side(tp)
                if match is None:
                    others = [s.label for s in analysis.others
                              if min(s.end, tp["end_s"]) > max(s.onset, tp["start_s"])]
                    row["found"] = f"listed as {', '.join(others)}" if others else "missed"
                    rows.append(row)
                    continue
                used.add(id(match))
                row.update(found="ok", scored=match.scored, sym=match.symmetry_pct,
                           sym_err=(None if match.symmetry_pct is None
                                    else round(match.symmetry_pct - tp["symmetry_pct"], 1)),
                           weaker=match.weaker_side, true_weaker=true_weaker,
                           weaker_ok=match.weaker_side == true_weaker,
                           side_call=match.side_call)
                rows.append(row)
            for p in analysis.performances:
                if id(p) not in used:
                    rows.append({"face": label, "case": case, "movement": p.movement,
                                 "found": f"invented ({p.start_s:.1f}-{p.end_s:.1f} s)"})
            print(f"  {label} {case} done", file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


def summarise(table: pd.DataFrame) -> dict:
    found = table["found"].astype(str)
    true_rows = table[~found.str.startswith("invented")]
    ok = true_rows[true_rows["found"] == "ok"]
    errors = ok["sym_err"].dropna().abs()
    wrong = ok[ok["weaker"].notna() & (ok["weaker"] != ok["true_weaker"])]
    return {
        "performances": len(true_rows), "found_with_label": len(ok),
        "invented": int(found.str.startswith("invented").sum()),
        "refused": int(found.str.startswith("refused").sum()),
        "symmetry_within_10": f"{int((errors <= 10).sum())} / {len(errors)}",
        "symmetry_within_5": f"{int((errors <= 5).sum())} / {len(errors)}",
        "worst_error": float(errors.max()) if len(errors) else None,
        "weaker_side_right": f"{int(ok['weaker_ok'].sum())} / {len(ok)}",
        "wrong_side_named": len(wrong),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--dither", action="store_true",
                        help="add +-1 grey level of seeded dither to every frame measured: the "
                             "tables' run-to-run noise (benchmarks/dither.py)")
    args = parser.parse_args(argv)
    if args.dither:
        from dither import dithered_sources

        with dithered_sources():
            return main([a for a in (argv if argv is not None else sys.argv[1:])
                         if a != "--dither"])
    pd.set_option("display.width", 200)
    summaries: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        table = run(args.data, Path(tmp), summaries)
    read_first = pd.DataFrame(summaries)
    verdict = summary_verdict(read_first)
    summary = pd.DataFrame([{"face": "all", **summarise(table)}]
                           + [{"face": f, **summarise(table[table["face"] == f])}
                              for f in dict.fromkeys(table["face"])])
    print(table.to_string(index=False))
    print(summary.to_string(index=False))
    print(read_first.to_string(index=False))
    print(verdict)
    if args.markdown:
        args.markdown.write_text("### Summary\n\n" + summary.to_markdown(index=False)
                                 + "\n\n### The report's summary of each face and case "
                                 + f"(measured / true; {verdict})\n\n"
                                 + read_first.to_markdown(index=False)
                                 + "\n\n### Per performance\n\n"
                                 + table.to_markdown(index=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
