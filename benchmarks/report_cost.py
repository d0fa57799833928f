"""What the report costs against the whole `facescore analyze CLIP -o OUT` command, in one run.

Prints seconds (wall, and CPU of this process in brackets) and each one's share of the whole
command for:

- the whole command, run as a child process (start-up, analysis, report, exit);
- start-up: a child process that only imports the command line and exits;
- ``facescore.analysis.analyze(clip)`` alone;
- each part of the report: report.json's data and its schema check, the key frames (fetching
  the frames, then finding the face and drawing on them), the time-series figures (wide and
  narrow), the excursion bars (wide and narrow), the HTML page, report.json and the per-frame
  tables (Parquet and CSV);
- ``write_outputs`` as the command calls it (all of the above, each first call in a process
  paying its imports and set-up, as the command does).

The parts are timed after ``write_outputs`` has run once, so that they show their own work,
not the imports the first call pays; the first call's time is the one the command pays.

    python benchmarks/report_cost.py [--video CLIP]   # default: the throughput benchmark's
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".cache"


class Clock:
    """Wall and this process's CPU seconds of each timed step, in order."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float | None]] = []

    def time(self, label: str, call, *args, **kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        result = call(*args, **kwargs)
        self.rows.append((label, time.perf_counter() - wall, time.process_time() - cpu))
        return result

    def child(self, label: str, command: list[str]) -> None:
        """Time a child process (its CPU is not this process's: none shown)."""
        wall = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        self.rows.append((label, time.perf_counter() - wall, None))


def report_parts(clock: Clock, analysis, clip: Path, out: Path) -> None:
    """Time each part of ``write_outputs`` on its own (after a first call paid the imports)."""
    from facescore.report import figures, keyframes, writer
    from facescore.report.document import report_dict, validate_report
    from facescore.table import write_table

    report = clock.time("  report.json data", report_dict, analysis, clip)
    clock.time("  schema check", validate_report, report)
    times = writer._key_times(analysis)
    grabbed = clock.time("  key frames: fetch", keyframes.grab_frames, clip,
                         list(times.values()), analysis.measurement.info.mirrored)
    images = clock.time("  key frames: face, drawing", keyframes.annotate_frames,
                        {name: grabbed.get(t) for name, t in times.items()})
    series = (analysis.frames, analysis.segments, analysis.performances, analysis.others)
    clock.time("  time series, wide", figures.time_series, *series)
    clock.time("  time series, narrow", figures.time_series, *series, **figures.NARROW)
    if analysis.performances:
        narrow = {k: figures.NARROW[k] for k in ("width_in", "fontsize")}
        clock.time("  excursion bars, wide", figures.excursion_bars, analysis.performances)
        clock.time("  excursion bars, narrow", figures.excursion_bars, analysis.performances,
                   **narrow)
    clock.time("  HTML page (figures again)", writer.render_html, report, analysis, images)
    clock.time("  report.json", (out / "report.json").write_text, json.dumps(report, indent=2))
    clock.time("  tables (Parquet, CSV)", write_table, analysis.frames, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=CACHE / "exam_1080p_60s.mp4",
                        help="the clip (default: the throughput benchmark's 60 s 1080p30 "
                             "exam; make it with benchmarks/throughput.py)")
    args = parser.parse_args()
    clip = args.video.resolve()
    clock = Clock()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clock.child("whole command", [sys.executable, "-m", "facescore", "analyze", str(clip),
                                      "-o", str(tmp / "cli"), "-q"])
        clock.child("start-up (import, --help)", [sys.executable, "-m", "facescore", "--help"])
        from facescore.analysis import analyze
        from facescore.report import write_outputs

        analysis = clock.time("analyze()", analyze, clip)
        clock.time("write_outputs (first call)", write_outputs, analysis, clip, tmp / "out")
        report_parts(clock, analysis, clip, tmp)
    whole = clock.rows[0][1]
    print(f"{clip.name}: {len(analysis.frames)} frames")
    print(f"{'':<30}{'wall s':>8}{'(cpu s)':>9}{'share':>8}")
    for label, wall, cpu in clock.rows:
        cpu_text = f"({cpu:.2f})" if cpu is not None else ""
        print(f"{label:<30}{wall:8.2f}{cpu_text:>9}{100 * wall / whole:7.1f}%")


if __name__ == "__main__":
    main()
