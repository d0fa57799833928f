"""Write an analysis to a folder: report.json, report.html, frames.parquet and frames.csv.

Everything is written to a staging folder beside the target and moved into place only when
all files are complete, so a failure (a full disk, Ctrl-C) never leaves a half-written report
nor the staging folder.
"""

from __future__ import annotations

import base64
import functools
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from jinja2 import Environment, PackageLoader, select_autoescape

from ..analysis import Analysis
from ..display import NONE, number, signed
from ..outputs import atomic_directory
from ..scores import not_scored_text
from ..segments import MIN_SPREAD_BLINKS, rest_mask
from ..table import write_table
from ..uncertainty import NORMAL_SYMMETRY_PCT
from . import figures, keyframes
from .document import report_dict, validate_report

OUTPUT_FILES = ("report.json", "report.html", "frames.parquet", "frames.csv")
__all__ = ["OUTPUT_FILES", "atomic_directory", "draw_figures", "prepare", "render_html",
           "write_outputs"]


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
        rows.setdefault(movement, []).append((caption, _b64(data)))
    return list(rows.items())


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def prepare() -> None:
    """Load what writing a report needs that a measurement does not — matplotlib and its
    fonts, the page's template, the report schema's validator (~0.4 s on the first call, none
    after) — so that it can be done while a recording is measured: the command line calls it
    in a thread while the landmark model's process starts."""
    from matplotlib import font_manager

    from .document import _validator

    font_manager.findfont(font_manager.FontProperties())
    figures.new_figure(1.0, 1.0)
    _environment().get_template("report.html.j2")
    _validator()


@functools.cache
def _environment() -> Environment:
    env = Environment(loader=PackageLoader("facescore.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    env.globals["normal_symmetry_pct"] = NORMAL_SYMMETRY_PCT
    env.globals["min_spread_blinks"] = MIN_SPREAD_BLINKS
    env.globals["signed"] = signed
    env.globals["not_scored_text"] = not_scored_text
    return env


def draw_figures(analysis: Analysis, is_photo: bool) -> tuple[list[str] | None, list[str] | None]:
    """The page's figures as base64 PNG: the signals over time (wide and narrow; not for a
    photo, whose one moment has no course over time) and the excursion bars (wide and narrow;
    only with performances)."""
    series = bars = None
    if not is_photo:
        series = [_b64(figures.time_series(analysis.frames, analysis.segments,
                                           analysis.performances, analysis.others, **layout))
                  for layout in ({}, figures.NARROW)]
    if analysis.performances:
        narrow = {k: figures.NARROW[k] for k in ("width_in", "fontsize")}
        bars = [_b64(figures.excursion_bars(analysis.performances, **layout))
                for layout in ({}, narrow)]
    return series, bars


def render_html(report: dict, analysis: Analysis, frame_images: dict[str, bytes],
                photo: dict[str, bytes] | None = None, n_faces: int = 0,
                drawn: tuple[list[str] | None, list[str] | None] | None = None) -> str:
    """The self-contained HTML page (images inline as base64; no external resources).

    Parameters
    ----------
    frame_images : dict
        A video's key frames, ``"movement|phase"`` → JPEG bytes.
    photo : dict, optional
        A photo's pictures (``"face"``, and ``"overview"`` when it holds several faces).
    n_faces : int
        Faces in the photo.
    drawn : tuple, optional
        The figures from :func:`draw_figures`, when already drawn; drawn here otherwise.
    """
    is_photo = report["input"].get("kind") == "image"
    series, bars = drawn if drawn is not None else draw_figures(analysis, is_photo)
    return _environment().get_template("report.html.j2").render(
        r=report, fmt=number, dash=NONE, photo=is_photo,
        photo_images={k: _b64(v) for k, v in (photo or {}).items()}, n_faces=n_faces,
        frame_rows=_frame_pairs(frame_images), series=series, bars=bars,
    )


def _pictures(analysis: Analysis, input_path: str | Path, frame_source
              ) -> tuple[dict[str, bytes], dict[str, bytes] | None, int]:
    """The report's pictures: a video's key frames, or a photo's pictures and its faces."""
    mirrored = analysis.measurement.info.mirrored
    if analysis.measurement.info.kind == "image" and frame_source is None:
        photo, n_faces = keyframes.photo_images(input_path, mirrored)
        return {}, photo, n_faces
    times = _key_times(analysis)
    info = analysis.measurement.info
    marked, size = _marked_at(analysis, times), (info.width, info.height)
    if frame_source is None:
        # A damaged file is read from its start: the measurement dropped the frames that
        # depend on a damaged one, which seeking past the damage would not know.
        damaged = bool(getattr(info, "damage", None))
        read = (keyframes.key_frames_in_child if keyframes.wants_child(info.width, info.height)
                else keyframes.key_frames)
        images = read(input_path, times, mirrored, seek=not damaged, marked=marked, size=size)
    else:
        images = keyframes.annotate_frames({name: frame_source(t) for name, t in times.items()},
                                           marked, size)
    return images, None, 0


def _marked_at(analysis: Analysis, times: dict[str, float]) -> dict[str, np.ndarray] | None:
    """Each key frame's row of the measurement's ``marked_px`` (the frame nearest its time)."""
    marked = analysis.measurement.marked_px
    if marked is None or len(marked) != len(analysis.frames):
        return None
    t = analysis.frames["t_s"].to_numpy()
    return {name: marked[int(np.argmin(np.abs(t - time)))] for name, time in times.items()}


def write_outputs(analysis: Analysis, input_path: str | Path, out_dir: str | Path,
                  frame_source=None) -> list[Path]:
    """Write all outputs atomically; returns their final paths.

    Parameters
    ----------
    frame_source : callable, optional
        ``frame_source(t_s) -> rgb or None`` giving the picture at a time, for the key frames
        of a recording that is not a file (a live session keeps the frames it needs). By
        default the frames are read back from ``input_path``.

    Raises
    ------
    FacescoreError
        When the folder cannot be written (nothing is left half-written).
    """
    out_dir = Path(out_dir)
    # The pictures are decoded (FFmpeg releases the GIL) in a thread while this one makes the
    # report, draws the figures and writes the table.
    with atomic_directory(out_dir) as staging, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="facescore-pictures") as pool:
        pictures = pool.submit(_pictures, analysis, input_path, frame_source)
        report = report_dict(analysis, input_path)
        validate_report(report)
        drawn = draw_figures(analysis, report["input"].get("kind") == "image")
        write_table(analysis.frames, staging)
        images, photo, n_faces = pictures.result()
        html = render_html(report, analysis, images, photo, n_faces, drawn)
        (staging / "report.json").write_text(json.dumps(report, indent=2))
        (staging / "report.html").write_text(html, encoding="utf-8")
    return [out_dir / name for name in OUTPUT_FILES]
