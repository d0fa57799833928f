"""Throughput against the landmark model's own speed, measured in one run.

Makes (once, cached in benchmarks/.cache/) a 1080p30 H.264 exam clip of at least 60 s with a
face about a third of the frame wide, or takes --video. Then prints, in one run:

- decode only (PyAV, frames not converted) and decode + RGB conversion, fps;
- the landmark model alone: facescore's FaceTracker on frames decoded beforehand, fps;
- `facescore analyze` (measurement, segmentation and scores; no report files), fps;
- analyze / model-only, the figure the throughput issue asks for (target >= 0.8);
- peak resident memory of the analyze run (measured in a child process), and of the landmark
  worker process that analyze starts.

    python benchmarks/throughput.py [--video CLIP] [--seconds 60] [--model-frames 300]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".cache"


def make_clip(seconds: float) -> Path:
    """A 1080p30 exam phantom looped to ``seconds``: rendered at 960x540, scaled up in C."""
    import av

    from facescore.phantom import MOVEMENTS, PhantomSpec, generate

    clip = CACHE / f"exam_1080p_{int(seconds)}s.mp4"
    if clip.exists():
        return clip
    CACHE.mkdir(exist_ok=True)
    gains = {m: {"left": 1.0, "right": 0.5} for m in MOVEMENTS}
    loop = generate(CACHE / "loop_540p.mp4", PhantomSpec(gains=gains, size=(960, 540),
                                                         face_width_frac=0.33, noise=1.0)).video
    with av.open(str(loop)) as source:
        frames = [f.reformat(width=1920, height=1080, format="yuv420p")
                  for f in source.decode(video=0)]
    partial = clip.with_suffix(".partial.mp4")
    with av.open(str(partial), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
        stream.options = {"crf": "20", "preset": "veryfast"}
        for i in range(int(seconds * 30)):
            frame = frames[i % len(frames)]
            frame.pts, frame.time_base = i, Fraction(1, 30)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    partial.replace(clip)
    return clip


def decode_fps(video: Path, convert: bool) -> float:
    import av

    start, n = time.perf_counter(), 0
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            if convert:
                frame.to_ndarray(format="rgb24")
            n += 1
    return n / (time.perf_counter() - start)


def model_fps(video: Path, n_frames: int) -> float:
    """FaceTracker (video mode, region of interest) on frames already in memory, decoded at the
    same working resolution as analyze uses."""
    from facescore.landmarks import FaceTracker
    from facescore.pipeline import WORKING_MAX_SIDE
    from facescore.sources import open_source

    frames = []
    with open_source(video, max_side=WORKING_MAX_SIDE) as source:
        for frame in source:
            frames.append(frame)
            if len(frames) == n_frames:
                break
    with FaceTracker() as tracker:
        tracker.track(frames[0])  # the one-off search is not throughput
        start = time.perf_counter()
        for frame in frames[1:]:
            tracker.track(frame)
        return (len(frames) - 1) / (time.perf_counter() - start)


def analyze_child(video: Path) -> dict:
    """Run analyze in a child process: its fps and its own peak RSS."""
    code = (
        "import json, resource, sys, time\n"
        "from facescore.analysis import analyze\n"
        "start = time.perf_counter()\n"
        f"a = analyze({str(video)!r})\n"
        "elapsed = time.perf_counter() - start\n"
        "status = open('/proc/self/status').read().split('VmHWM:')[1].split()[0]\n"
        "rss = int(status) / 1024  # this process's own high-water mark (not inherited)\n"
        "worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(json.dumps({'frames': len(a.frames), 'seconds': elapsed, 'peak_rss_mb': rss,\n"
        "                  'worker_peak_rss_mb': worker}))\n"
    )
    env = {**os.environ, "GLOG_minloglevel": "2"}
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, env=env).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["fps"] = result["frames"] / result["seconds"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, help="use this clip instead of the phantom")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--model-frames", type=int, default=300)
    args = parser.parse_args()
    video = args.video or make_clip(args.seconds)
    child = analyze_child(video)  # first, before this process holds frames in memory
    rows = {
        "decode only": decode_fps(video, convert=False),
        "decode + RGB": decode_fps(video, convert=True),
        "landmark model only (frames in memory)": model_fps(video, args.model_frames),
    }
    rows["facescore analyze"] = child["fps"]
    model = rows["landmark model only (frames in memory)"]
    print(f"clip: {video} ({child['frames']} frames)")
    print("| stage | fps | × model-only |\n|---|---:|---:|")
    for name, fps in rows.items():
        print(f"| {name} | {fps:.1f} | {fps / model:.2f} |")
    print(f"\nanalyze / model-only = {child['fps'] / model:.2f} (target >= 0.8)")
    total = child["peak_rss_mb"] + child["worker_peak_rss_mb"]
    print(f"analyze peak RSS = {child['peak_rss_mb']:.0f} MB + landmark worker "
          f"{child['worker_peak_rss_mb']:.0f} MB = {total:.0f} MB (target < 1024 MB)")
    print(f"this process peak RSS = "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB "
          "(holds the model-only frames)")


if __name__ == "__main__":
    main()
