"""Batch throughput against the number of local workers, measured in one run.

Generates N small phantom exams (cached in benchmarks/.cache/batch/), then runs
`facescore.batch.run_batch` with 1, 2, … workers (up to the cores) into fresh folders and
prints videos per minute and the speed-up over one worker.

    python benchmarks/batch_scaling.py [--videos 8] [--max-workers 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from facescore.batch import run_batch
from facescore.phantom import MOVEMENTS, PhantomSpec, Timing, generate

CACHE = Path(__file__).resolve().parent / ".cache" / "batch"


def videos(n: int) -> list[Path]:
    CACHE.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = CACHE / f"exam_{i:02d}.mp4"
        if not path.exists():
            gain = 1.0 - 0.1 * (i % 8)
            spec = PhantomSpec(gains={m: {"left": 1.0, "right": gain} for m in MOVEMENTS},
                               size=(480, 480), seed=i,
                               timing=Timing(lead_in_s=0.8, ramp_s=0.3, hold_s=0.4, rest_s=0.6))
            generate(path, spec)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--max-workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    inputs = [str(p) for p in videos(args.videos)]
    print(f"{len(inputs)} phantom exams, {os.cpu_count()} cores")
    print("| workers | seconds | videos/min | speed-up |\n|---:|---:|---:|---:|")
    baseline = None
    for workers in range(1, args.max_workers + 1):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            result = run_batch(inputs, out, workers=workers)
            seconds = time.perf_counter() - start
        assert result.n_failed == 0
        baseline = baseline or seconds
        print(f"| {workers} | {seconds:.1f} | {60 * len(inputs) / seconds:.1f} | "
              f"{baseline / seconds:.2f} |")


if __name__ == "__main__":
    main()
