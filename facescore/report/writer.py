"""Write an analysis to a folder: report.json, report.html, frames.parquet and frames.csv.

Everything is written to a staging folder beside the target and moved into place only when
all files are complete, so a failure never leaves a half-written report.
"""

from __future__ import annotations

import base64
import json
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from jinja2 import Environment, PackageLoader, select_autoescape

from ..analysis import Analysis
from ..segments import rest_mask
from ..table import write_table
from . import figures, keyframes
from .document import report_dict, validate_report

OUTPUT_FILES = ("report.json", "report.html", "frames.parquet", "frames.csv")


@contextmanager
def atomic_directory(target: Path):
    """Yield a staging folder; on success its files replace those of ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; a report folder is an ordinary folder
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if not target.exists():
        staging.replace(target)
        return
    for item in staging.iterdir():
        item.replace(target / item.name)
    staging.rmdir()


def _fmt(value, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}"


def _key_times(analysis: Analysis) -> dict[str, float]:
    """For each movement's first performance: a rest frame just before it and its peak."""
    frames = analysis.frames
    t = frames["t_s"].to_numpy()
    at_rest = rest_mask(frames, analysis.segments, margin_s=0.1)
    times: dict[str, float] = {}
    for p in analysis.performances:
        if p.rep != 1 or not np.isfinite(p.peak_s):
            continue
        before = t[at_rest & (t < p.start_s)]
        rest = float(before[-1]) if len(before) else float(t[at_rest][0]) if at_rest.any() \
            else p.start_s
        times[f"{p.movement}|rest"] = rest
        times[f"{p.movement}|peak"] = float(p.peak_s)
    return times


def _frame_pairs(images: dict[str, bytes]) -> list[tuple[str, list[tuple[str, str]]]]:
    """Group "movement|rest" and "movement|peak" images into one row per movement."""
    rows: dict[str, list[tuple[str, str]]] = {}
    for key, data in images.items():
        movement, phase = key.split("|")
        caption = f"{movement.replace('_', ' ')}: {phase}"
        rows.setdefault(movement, []).append((caption, base64.b64encode(data).decode("ascii")))
    return list(rows.items())


def render_html(report: dict, analysis: Analysis, frame_images: dict[str, bytes]) -> str:
    """The self-contained HTML page (images inline as base64; no external resources)."""
    env = Environment(loader=PackageLoader("facescore.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    b64 = lambda data: base64.b64encode(data).decode("ascii")  # noqa: E731
    return env.get_template("report.html.j2").render(
        r=report, fmt=_fmt,
        frame_rows=_frame_pairs(frame_images),
        series=b64(figures.time_series(analysis.frames, analysis.segments)),
        bars=b64(figures.excursion_bars(analysis.performances)) if analysis.performances
        else None,
    )


def write_outputs(analysis: Analysis, input_path: str | Path, out_dir: str | Path,
                  frame_source=None) -> list[Path]:
    """Write all outputs atomically; returns their final paths.

    Parameters
    ----------
    frame_source : callable, optional
        ``frame_source(t_s) -> rgb or None`` giving the picture at a time, for the key frames
        of a recording that is not a file (a live session keeps the frames it needs). By
        default the frames are read back from ``input_path``.
    """
    out_dir = Path(out_dir)
    report = report_dict(analysis, input_path)
    validate_report(report)
    times = _key_times(analysis)
    if frame_source is None:
        images = keyframes.key_frames(input_path, times, analysis.measurement.info.mirrored)
    else:
        images = keyframes.annotate_frames({name: frame_source(t) for name, t in times.items()})
    with atomic_directory(out_dir) as staging:
        (staging / "report.json").write_text(json.dumps(report, indent=2))
        (staging / "report.html").write_text(render_html(report, analysis, images),
                                             encoding="utf-8")
        write_table(analysis.frames, staging)
    return [out_dir / name for name in OUTPUT_FILES]
