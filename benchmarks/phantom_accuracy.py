"""Accuracy on ground truth: measured vs true right/left ratio per movement and gain.

For each base face (scikit-image's astronaut, and ../shared/data/neutral.jpeg when present) and
each right-side gain g in {1, .75, .5, .25, 0} (left side normal), a phantom exam is generated
and measured. Printed: the true ratio and the measured one for landmarks alone and for the
prior-free optical flow that facescore reports, and the left side's measured/true mm.

    python benchmarks/phantom_accuracy.py [--out docs/phantom_accuracy.md] [--gains 1 .5 0]
        [--dither]
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from pathlib import Path

import pandas as pd
from PIL import Image

from facescore.phantom import astronaut, generate, right_weak
from facescore.pipeline import measure_video
from facescore.validation import compare_with_truth

SHARED_FACE = Path(__file__).resolve().parents[2] / "shared" / "data" / "neutral.jpeg"


def faces():
    yield "astronaut", *astronaut()
    if SHARED_FACE.exists():
        yield "neutral.jpeg", __import__("numpy").asarray(
            Image.open(SHARED_FACE).convert("RGB")), "shared/data/neutral.jpeg"


def run(gains: list[float], workdir: Path) -> pd.DataFrame:
    results = []
    for label, photo, name in faces():
        for g in gains:
            video = workdir / f"{label}_{g}.mp4"
            phantom = generate(video, right_weak(g), photo=photo, photo_name=name)
            frames = measure_video(video).frames
            table = compare_with_truth(frames, phantom.truth)
            table.insert(0, "gain", g)
            table.insert(0, "face", label)
            results.append(table)
    return pd.concat(results, ignore_index=True)


def summarise(table: pd.DataFrame) -> str:
    wide = table.pivot_table(index=["face", "movement", "gain"], columns="method",
                             values=["ratio"], aggfunc="first")
    wide.columns = [f"{m} ratio" for _, m in wide.columns]
    truth = table.groupby(["face", "movement", "gain"])["true_ratio"].first()
    wide.insert(0, "true ratio", truth)
    flow = table[table.method == "flow"].set_index(["face", "movement", "gain"])
    wide["flow |error|"] = (flow["ratio"] - flow["true_ratio"]).abs()
    wide["flow left mm / true"] = flow["left_mm"] / flow["true_left_mm"]
    wide = wide.sort_index(level=["face", "movement", "gain"], ascending=[True, True, False])
    lines = [wide.round(3).to_markdown() if _has_tabulate() else wide.round(3).to_string()]
    worst = wide["flow |error|"].max()
    lines.append(f"\nworst |flow ratio - true ratio| = {worst:.3f} (target <= 0.10)")
    frozen = wide.xs(0.0, level="gain")["flow ratio"].abs().max() if 0.0 in wide.index.levels[2] \
        else float("nan")
    lines.append(f"worst frozen-side reading (g=0) = {frozen:.3f} of the moving side "
                 f"(target <= 0.10)")
    return "\n".join(lines)


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gains", type=float, nargs="+", default=[1.0, 0.75, 0.5, 0.25, 0.0])
    parser.add_argument("--out", type=Path, help="also write the table (Markdown) here")
    parser.add_argument("--dither", action="store_true",
                        help="add +-1 grey level of seeded dither to every frame measured: the "
                             "tables' run-to-run noise (benchmarks/dither.py)")
    args = parser.parse_args()
    from dither import dithered_sources

    with tempfile.TemporaryDirectory() as tmp, \
            (dithered_sources() if args.dither else contextlib.nullcontext()):
        table = run(args.gains, Path(tmp))
    text = summarise(table)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
