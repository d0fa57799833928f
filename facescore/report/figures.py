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


def _png(figure) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = frames["t_s"].to_numpy()
    figure, axes = plt.subplots(len(MOVEMENTS), 1,
                                figsize=(width_in, panel_in * len(MOVEMENTS)), sharex=True)
    for ax, movement in zip(axes, MOVEMENTS, strict=True):
        for segment in segments:
            ax.axvspan(segment.onset, segment.end, color=MOVEMENT_COLOURS[segment.label],
                       alpha=0.35 if segment.label == movement else 0.12, lw=0)
        for segment in others or []:
            ax.axvspan(segment.onset, segment.end, color="0.85", alpha=0.5, lw=0)
        for side in ("left", "right"):
            signal = activation(frames, movement, side)
            ax.plot(t, signal - resting_level(signal, t), color=SIDE_COLOURS[side], lw=0.8,
                    alpha=0.7, label=f"patient's {side}")
            for p in performances or []:
                if p.movement != movement:
                    continue
                times, moved, _ = travel_during(frames, movement, side, p.start_s, p.end_s)
                held = held_travel(times, moved, held_seconds(movement))
                ax.plot(times, held, color=SIDE_COLOURS[side], lw=2.0)
                score = getattr(p, side)
                if np.isfinite(score.excursion_mm) and np.isfinite(score.low_mm):
                    ax.errorbar([score.peak_s], [score.excursion_mm],
                                yerr=[[score.excursion_mm - score.low_mm],
                                      [score.high_mm - score.excursion_mm]],
                                color=SIDE_COLOURS[side], capsize=3, lw=1, marker="o", ms=3)
        ax.set_title(TITLES[movement], fontsize=fontsize + 1, loc="left")
        ax.set_ylabel("mm", fontsize=fontsize)
        ax.tick_params(labelsize=fontsize)
        ax.axhline(0, color="0.6", lw=0.6)
    axes[0].legend(fontsize=fontsize, loc="upper right", ncols=2)
    axes[-1].set_xlabel("time (s)", fontsize=fontsize)
    figure.tight_layout()
    return _png(figure)


def excursion_bars(performances, width_in: float = 6.0, fontsize: float = 9) -> bytes:
    """Per-movement median excursion, left vs right, with every repetition as a dot and each
    repetition's 95 % interval as a line through it.

    Parameters
    ----------
    width_in : float
        Figure width, inches (at 110 dpi).
    fontsize : float
        Size of the labels, points.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    present = [m for m in MOVEMENTS if any(p.movement == m for p in performances)]
    figure, ax = plt.subplots(figsize=(width_in, 2.8 * max(1.0, 6.0 / width_in) ** 0.5))
    x = np.arange(len(present))
    for offset, side in ((-0.18, "left"), (0.18, "right")):
        values = [[getattr(p, side).excursion_mm for p in performances if p.movement == m]
                  for m in present]
        ax.bar(x + offset, [np.nanmedian(v) for v in values], width=0.34,
               color=SIDE_COLOURS[side], alpha=0.8, label=f"patient's {side}")
        for i, movement in enumerate(present):
            scores = [getattr(p, side) for p in performances if p.movement == movement]
            for score in scores:
                if np.isfinite(score.low_mm):
                    ax.plot([x[i] + offset] * 2, [score.low_mm, score.high_mm], color="k",
                            lw=0.8, zorder=3)
            ax.scatter(np.full(len(values[i]), x[i] + offset), values[i], color="k", s=8,
                       zorder=4)
    ax.set_xticks(x, [m.replace("_", " ") for m in present], fontsize=fontsize)
    ax.set_ylabel("excursion (mm)", fontsize=fontsize)
    ax.tick_params(labelsize=fontsize)
    ax.legend(fontsize=fontsize - 1)
    figure.tight_layout()
    return _png(figure)
