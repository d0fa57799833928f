"""What the measuring costs in the parent process, per frame and per stage, on one clip.

The clip is decoded and its landmarks found first (not timed: that is the model's share, which
the measuring should hide behind). Then, on those frames and faces, it times:

- ``add``: :meth:`facescore.pipeline.FrameMeasurer.add` over every frame (the per-frame work
  that runs beside the model: working picture, patch tracking, eye model, table row);
- ``finish``: :meth:`FrameMeasurer.finish` (the table in mm: parallax, smoothing, re-zeroing);
- ``analysis``: :func:`facescore.analysis.analyze_measurement` (movements, blinks, scores).

Each stage is run ``--repeat`` times on fresh measurers and the least time is printed, both
CPU time of this process (all its threads) and wall time, in ms per frame; on a busy machine
the CPU time is the steadier. ``--threads 1`` limits OpenCV to one thread, as when the landmark
model has the other cores.

    python benchmarks/measure_cost.py CLIP [--frames 300 (0: all)] [--repeat 3] [--threads N]
    python benchmarks/measure_cost.py CLIP --profile add   # cProfile of one stage, top 25
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

STAGES = ("add", "finish", "analysis")


def landmarked_frames(clip: str | Path, limit: int | None) -> tuple[list, object, int]:
    """The clip's first ``limit`` frames (all when None) with their faces, its SourceInfo and
    the most faces the tracker saw."""
    from facescore.landmarks import FaceTracker
    from facescore.pipeline import WORKING_MAX_SIDE
    from facescore.sources import open_source

    pairs = []
    with open_source(clip, max_side=WORKING_MAX_SIDE) as frames, FaceTracker() as tracker:
        for frame in frames:
            pairs.append((frame, tracker.track(frame)))
            if limit is not None and len(pairs) >= limit:
                break
        return pairs, frames.info, tracker.n_faces_seen


def run_stages(pairs: list, info, max_faces: int,
               profile: cProfile.Profile | None = None, profiled: str = "") -> dict:
    """One pass of the three stages; returns each one's (cpu_s, wall_s)."""
    from facescore.analysis import analyze_measurement
    from facescore.pipeline import FrameMeasurer

    measurer = FrameMeasurer()
    times = {}

    def timed(stage, work):
        if profile is not None and stage == profiled:
            profile.enable()
        cpu, wall = time.process_time(), time.perf_counter()
        result = work()
        times[stage] = (time.process_time() - cpu, time.perf_counter() - wall)
        if profile is not None and stage == profiled:
            profile.disable()
        return result

    timed("add", lambda: [measurer.add(frame, face) for frame, face in pairs])
    measurement = timed("finish", lambda: measurer.finish(info, max_faces))
    timed("analysis", lambda: analyze_measurement(measurement))
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip")
    parser.add_argument("--frames", type=int, default=300,
                        help="measure the first N frames (default 300; 0: all). They are "
                             "kept decoded: a 1080p frame holds ~3 MB")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="OpenCV threads")
    parser.add_argument("--profile", choices=STAGES, default=None,
                        help="print a cProfile of this stage (one extra pass)")
    args = parser.parse_args(argv)

    import cv2

    if args.threads is not None:
        cv2.setNumThreads(args.threads)
    started = time.perf_counter()
    pairs, info, max_faces = landmarked_frames(args.clip, args.frames or None)
    n = len(pairs)
    print(f"{args.clip}: {n} frames {info.width}x{info.height}, "
          f"{sum(face is not None for _, face in pairs)} with a face; decoded and landmarked "
          f"in {time.perf_counter() - started:.1f} s (not counted below)")
    run_stages(pairs, info, max_faces)  # warm-up: imports, caches, first-call costs
    best = {stage: (float("inf"), float("inf")) for stage in STAGES}
    for _ in range(args.repeat):
        for stage, (cpu, wall) in run_stages(pairs, info, max_faces).items():
            best[stage] = (min(best[stage][0], cpu), min(best[stage][1], wall))
    print(f"ms per frame, least of {args.repeat} runs (OpenCV threads: "
          f"{cv2.getNumThreads()}):")
    print(f"  {'stage':10s} {'CPU':>8s} {'wall':>8s}")
    for stage in STAGES:
        cpu, wall = best[stage]
        print(f"  {stage:10s} {1000 * cpu / n:8.3f} {1000 * wall / n:8.3f}")
    total_cpu = sum(best[stage][0] for stage in STAGES)
    print(f"  {'total':10s} {1000 * total_cpu / n:8.3f}")
    if args.profile:
        profile = cProfile.Profile()
        run_stages(pairs, info, max_faces, profile, args.profile)
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
