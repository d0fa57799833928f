"""Plots for the report: matplotlib (Agg), returned as PNG bytes."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from ..protocol import MOVEMENTS
from ..scores import PerformanceScore, held_seconds, held_travel, travel_during
from ..segments import Segment, activation, resting_level

SIDE_COLOURS = {"left": "#1f77b4", "right": "#d62728"}
MOVEMENT_COLOURS = {"brow_raise": "#8dd3c7", "eye_closure": "#bebada", "smile": "#fdb462",
                    "frown": "#fb8072"}
TITLES = {"brow_raise": "Brow raise: brow travel up", "eye_closure": "Eye closure: upper lid down",
          "smile": "Smile: mouth corner up-and-out", "frown": "Frown: brow travel down"}


#: Resolution of the report's figures, dots per inch.
DPI = 110
#: White margin kept around a figure's drawn content, inches (savefig's default).
PAD_IN = 0.1


def new_figure(width_in: float, height_in: float, **subplots):
    """A figure on the Agg canvas (no pyplot: no figure manager, a lighter import) at
    :data:`DPI`, with ``figure.subplots(**subplots)`` when asked: (figure, axes)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_in, height_in), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure, figure.subplots(**subplots)


def _png(figure) -> bytes:
    """The figure as PNG at :data:`DPI`, cut to its drawn content plus :data:`PAD_IN`.

    Much as ``savefig(dpi=DPI, bbox_inches="tight")`` makes it, from one rendering instead
    of two (savefig draws once to find the content's box and again inside it): the rendered
    picture is cropped to the pixels drawn.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    # Only pyplot gives a figure a manager. (Not "is pyplot imported?": mediapipe imports it,
    # and while the report's pictures thread loads mediapipe this thread could see it half
    # imported — it did, and the command failed.)
    made_by_pyplot = getattr(figure.canvas, "manager", None) is not None
    if not isinstance(figure.canvas, FigureCanvasAgg):
        FigureCanvasAgg(figure)
    figure.set_dpi(DPI)
    canvas = figure.canvas
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    # The drawn content is what differs from the figure's background (a pixel scan: asking
    # the artists for their extents costs more than drawing them).
    drawn = np.any(rgba != rgba[0, 0], axis=2)
    rows, columns = np.flatnonzero(drawn.any(axis=1)), np.flatnonzero(drawn.any(axis=0))
    if len(rows):
        pad = round(PAD_IN * DPI)
        rgba = rgba[max(0, rows[0] - pad):rows[-1] + 1 + pad,
                    max(0, columns[0] - pad):columns[-1] + 1 + pad]
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, format="png")
    if made_by_pyplot:  # pyplot keeps its figures (the diary's) until they are closed
        import matplotlib.pyplot as plt

        plt.close(figure)
    return buffer.getvalue()


#: A phone's layout of the figures: narrow and with larger type, so that at ~420 px wide they
#: read without zooming (the wide layout would be shrunk to half its size there).
NARROW = {"width_in": 4.4, "panel_in": 2.2, "fontsize": 10}


def time_series(frames: pd.DataFrame, segments: list[Segment],
                performances: list[PerformanceScore] | None = None,
                others: list[Segment] | None = None, width_in: float = 9.0,
                panel_in: float = 1.9, fontsize: float = 8) -> bytes:
    """Each movement's signal for both sides over the whole video, performances shaded.

    The thin line is each side's activation from its resting level (its half-minute running
    median, the reference movement detection uses); within each performance the thick line is
    the travel the table scores (from the rest just before it, the level held over
    :func:`~facescore.scores.held_seconds`) and the bar at its peak is the excursion's 95 %
    interval. Other expressions are shaded grey.

    Parameters
    ----------
    width_in, panel_in : float
        Figure width and each movement's panel height, inches (at 110 dpi).
    fontsize : float
        Size of the labels, points.
    """
    from matplotlib.collections import PolyCollection

    t = frames["t_s"].to_numpy()
    figure, axes = new_figure(width_in, panel_in * len(MOVEMENTS), nrows=len(MOVEMENTS),
                              ncols=1, sharex=True)
    # The artists are made few (a collection of shaded spans per colour, a side's held levels
    # as one broken line, its intervals as one error bar): a report draws two of these
    # figures, and each artist costs more to make than to draw.
    spans: dict[str | None, list[tuple[float, float]]] = {}  # by label; None: the others
    for segment in segments:
        spans.setdefault(segment.label, []).append((segment.onset, segment.end))
    for segment in others or []:
        spans.setdefault(None, []).append((segment.onset, segment.end))
    for ax, movement in zip(axes, MOVEMENTS, strict=True):
        for label, ranges in spans.items():
            colour, alpha = (("0.85", 0.5) if label is None else
                             (MOVEMENT_COLOURS[label], 0.35 if label == movement else 0.12))
            ax.add_collection(PolyCollection(
                [[(x0, 0), (x0, 1), (x1, 1), (x1, 0)] for x0, x1 in ranges],
                facecolors=colour, alpha=alpha, linewidths=0,
                transform=ax.get_xaxis_transform()), autolim=False)
        mine = [p for p in performances or [] if p.movement == movement]
        for side in ("left", "right"):
            signal = activation(frames, movement, side)
            ax.plot(t, signal - resting_level(signal, t), color=SIDE_COLOURS[side], lw=0.8,
                    alpha=0.7, label=f"patient's {side}")
            held_t, held_mm = [], []
            for p in mine:
                times, moved, _ = travel_during(frames, movement, side, p.start_s, p.end_s)
                held_t += [times, [np.nan]]
                held_mm += [held_travel(times, moved, held_seconds(movement)), [np.nan]]
            if mine:
                ax.plot(np.concatenate(held_t), np.concatenate(held_mm),
                        color=SIDE_COLOURS[side], lw=2.0)
            scores = [getattr(p, side) for p in mine]
            shown = [s for s in scores if np.isfinite(s.excursion_mm) and np.isfinite(s.low_mm)]
            if shown:
                ax.errorbar([s.peak_s for s in shown], [s.excursion_mm for s in shown],
                            yerr=[[s.excursion_mm - s.low_mm for s in shown],
                                  [s.high_mm - s.excursion_mm for s in shown]],
                            color=SIDE_COLOURS[side], capsize=3, lw=1, marker="o", ms=3,
                            linestyle="none")
        ax.set_title(TITLES[movement], fontsize=fontsize + 1, loc="left")
        ax.set_ylabel("mm", fontsize=fontsize)
        ax.tick_params(labelsize=fontsize)
        ax.axhline(0, color="0.6", lw=0.6)
    axes[0].legend(fontsize=fontsize, loc="upper right", ncols=2)
    axes[-1].set_xlabel("time (s)", fontsize=fontsize)
    figure.tight_layout()
    return _png(figure)


def excursion_bars(performances, width_in: float = 6.0, fontsize: float = 9) -> bytes:
    """Per-movement median excursion of the scored repetitions, left vs right, with each
    scored repetition as a dot and its 95 % interval as a line through it; a repetition not
    scored (made while talking, masked, too noisy) is a hollow dot in its side's colour, kept
    out of the bar as the summary keeps it out.

    Parameters
    ----------
    width_in : float
        Figure width, inches (at 110 dpi).
    fontsize : float
        Size of the labels, points.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    present = [m for m in MOVEMENTS if any(p.movement == m for p in performances)]
    figure, ax = new_figure(width_in, 2.8 * max(1.0, 6.0 / width_in) ** 0.5)
    x = np.arange(len(present))
    any_unscored = False
    for offset, side in ((-0.18, "left"), (0.18, "right")):
        for i, movement in enumerate(present):
            reps = [p for p in performances if p.movement == movement]
            scored = [getattr(p, side) for p in reps if p.scored]
            values = [s.excursion_mm for s in scored]
            if np.isfinite(values).any():
                ax.bar(x[i] + offset, np.nanmedian(values), width=0.34,
                       color=SIDE_COLOURS[side], alpha=0.8)
            for score in scored:
                if np.isfinite(score.low_mm):
                    ax.plot([x[i] + offset] * 2, [score.low_mm, score.high_mm], color="k",
                            lw=0.8, zorder=3)
            ax.scatter(np.full(len(values), x[i] + offset), values, color="k", s=8, zorder=4)
            others = [getattr(p, side).excursion_mm for p in reps if not p.scored]
            any_unscored |= bool(others)
            ax.scatter(np.full(len(others), x[i] + offset), others, s=16, zorder=4,
                       facecolors="none", edgecolors=SIDE_COLOURS[side], linewidths=1.0)
    # Bars start at zero; a movement with no scored repetition keeps its place.
    ax.set_xlim(-0.6, len(present) - 0.4)
    ax.set_ylim(bottom=min(0.0, ax.get_ylim()[0]))
    handles = [Patch(facecolor=SIDE_COLOURS[side], alpha=0.8, label=f"patient's {side}")
               for side in ("left", "right")]
    if any_unscored:
        handles.append(Line2D([], [], marker="o", linestyle="", markerfacecolor="none",
                              markeredgecolor="0.4", label="not scored"))
    ax.set_xticks(x, [m.replace("_", " ") for m in present], fontsize=fontsize)
    ax.set_ylabel("excursion (mm)", fontsize=fontsize)
    ax.tick_params(labelsize=fontsize)
    ax.legend(handles=handles, fontsize=fontsize - 1)
    figure.tight_layout()
    return _png(figure)
