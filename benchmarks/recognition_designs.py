"""Three ways to decide *what* the face did, compared on the same recordings.

A. **per-side signals alone**: events where a side's activation leaves its rest (the detector
   of facescore 0.1 before issue 15), labelled by the signal that moved.
B. **expression scores alone**: events where a class of MediaPipe's expression scores rises
   0.2 above its resting level for at least 0.35 s, labelled by the class that rose most.
C. **both** (what ``analyze`` does): events from the per-side signals, named by the expression
   scores (:mod:`facescore.recognition`), kept when they stand out of the clip's own noise.

On healthy recordings (../shared/data) every exam performance reported is invented; on phantoms
with known movements (a photo phantom, and movements added onto a real clip) the count found
with the right label is printed against the truth.

    python benchmarks/recognition_designs.py [--data ../shared/data] [--cache DIR]

The per-frame tables are measured once and cached (``--cache``, default
benchmarks/.cache/designs).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
HEALTHY = ["webcam/mahie_test_6_low_fps.avi", "webcam/soniya_test_6_low_fps.avi",
           "not_expressive.mp4", "baseline.mp4", "obama_address.mp4", "single_face.mp4",
           "WolfgangLanger_Pexels.mp4", "smile_lowres.gif", "expressions/d5.mp4",
           "expressions/d10.mp4", "expressions/d14.mp4", "expressions/d18.mp4"]


def measured(path: Path, cache: Path):
    """The recording's Measurement, its per-frame table cached as Parquet."""
    from facescore.pipeline import Calibration, Measurement, measure_video
    from facescore.sources import SourceInfo

    stem = cache / path.name
    if not (stem.with_suffix(".parquet")).exists():
        m = measure_video(path)
        cache.mkdir(parents=True, exist_ok=True)
        m.frames.to_parquet(stem.with_suffix(".parquet"))
        stem.with_suffix(".json").write_text(json.dumps(
            {"info": vars(m.info), "calibration": [m.calibration.mm_per_px,
                                                   m.calibration.iris_diameter_px],
             "quality": m.quality}, default=str))
    meta = json.loads(stem.with_suffix(".json").read_text())
    info = SourceInfo(**{k: v for k, v in meta["info"].items()})
    return Measurement(pd.read_parquet(stem.with_suffix(".parquet")), info,
                       Calibration(*meta["calibration"]), meta["quality"])


def design_a(measurement) -> list[tuple[str, float, float, str | None]]:
    """Per-side signals alone: today's detector with the recogniser switched off (every event
    keeps the label of the signal that moved), no noise test, and the fixed deadband of
    facescore 0.1 (symmetry below 88 % and 1 mm)."""
    from unittest import mock

    from facescore import recognition
    from facescore.scores import score_performance, symmetry_pct
    from facescore.segments import detect_events

    frames = measurement.frames
    blind = pd.DataFrame(np.nan, index=frames.index,
                         columns=recognition.evidence(frames).columns)
    with mock.patch.object(recognition, "evidence", lambda _: blind):
        found, _ = detect_events(frames)
    out = []
    for s in found:
        p = score_performance(frames, s.label, 1, s.onset, s.end)
        left, right = p.left.excursion_mm, p.right.excursion_mm
        sym = symmetry_pct(left, right)
        weak = (None if sym is None or sym >= 88 or abs(left - right) < 1
                else ("left" if left < right else "right"))
        out.append((s.label, s.onset, s.end, weak))
    return out


def design_b(measurement) -> list[tuple[str, float, float, str | None]]:
    """Expression scores alone: events and labels from the recogniser, sides by the signals."""
    from facescore.recognition import NON_EXAM, evidence
    from facescore.scores import score_performance
    from facescore.segments import hysteresis

    frames = measurement.frames
    t = frames["t_s"].to_numpy()
    rises = evidence(frames)
    events = []
    for name in rises.columns:
        for start, stop in hysteresis(rises[name].to_numpy(), 0.2, 0.1):
            onset, end = t[start], t[min(stop, len(t) - 1)]
            if end - onset >= 0.35:
                events.append((float(np.nanmax(rises[name].to_numpy()[start:stop])), name,
                               float(onset), float(end)))
    kept: list[tuple[float, str, float, float]] = []
    for event in sorted(events, reverse=True):
        if not any(event[2] < k[3] and k[2] < event[3] for k in kept):
            kept.append(event)
    out = []
    for _, name, onset, end in sorted(kept, key=lambda e: e[2]):
        if name in NON_EXAM:
            continue
        out.append((name, onset, end, score_performance(frames, name, 1, onset, end)
                    .weaker_side))
    return out


def design_c(measurement) -> list[tuple[str, float, float, str | None]]:
    from facescore.analysis import analyze_measurement

    a = analyze_measurement(measurement)
    return [(p.movement, p.start_s, p.end_s, p.weaker_side) for p in a.performances]


DESIGNS = {"A signals": design_a, "B expression scores": design_b, "C both": design_c}


def phantoms(cache: Path, data: Path) -> list[tuple[str, Path]]:
    """A photo phantom and two clips with movements added onto a real recording."""
    from facescore.phantom import PhantomSpec, generate, right_weak
    from facescore.phantom_video import generate_from_video
    from facescore.protocol import Timing

    cache.mkdir(parents=True, exist_ok=True)
    out = []
    photo = cache / "astronaut_r0.5.mp4"
    if not photo.exists():
        generate(photo, right_weak(0.5, size=(480, 480), repetitions=2))
    out.append(("astronaut, right 0.5, 2 reps", photo))
    base = data / "not_expressive.mp4"
    if base.exists():
        for gain in (0.5, 0.0):
            video = cache / f"not_expressive_r{gain}.mp4"
            if not video.exists():
                order = ("brow_raise", "eye_closure", "smile")
                spec = PhantomSpec(gains={m: {"left": 1.0, "right": gain} for m in order},
                                   order=order, timing=Timing(lead_in_s=1.0))
                generate_from_video(video, base, spec)
            out.append((f"not_expressive + added, right {gain}", video))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / ".cache" / "designs")
    args = parser.parse_args()
    rows = []
    for name in HEALTHY:
        path = args.data / name
        if not path.exists():
            continue
        m = measured(path, args.cache)
        row = {"recording (healthy)": name}
        for design, run in DESIGNS.items():
            found = run(m)
            row[design] = f"{len(found)} / {sum(w is not None for *_, w in found)}"
        rows.append(row)
    print("Healthy recordings: exam performances reported / with a weaker side (all invented)")
    print(pd.DataFrame(rows).to_markdown(index=False))
    rows = []
    for name, video in phantoms(args.cache, args.data):
        truth = json.loads(Path(str(video) + ".truth.json").read_text())["performances"]
        m = measured(video, args.cache)
        row = {"phantom": name, "true": len(truth)}
        for design, run in DESIGNS.items():
            found = run(m)
            right = sum(any(f[0] == p["movement"] and f[1] < p["end_s"] and p["start_s"] < f[2]
                            for f in found) for p in truth)
            weak = sum(any(f[0] == p["movement"] and f[1] < p["end_s"] and p["start_s"] < f[2]
                           and f[3] == p["weaker_side"] for f in found) for p in truth)
            row[design] = f"{right} found, {weak} side right, {len(found) - right} extra"
        rows.append(row)
    print("\nPhantoms: performances found with the right label, weaker side right, extra")
    print(pd.DataFrame(rows).to_markdown(index=False))


if __name__ == "__main__":
    main()
