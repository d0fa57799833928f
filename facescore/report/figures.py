"""Plots for the report: matplotlib (Agg), returned as PNG bytes."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from ..segments import MOVEMENTS, Segment, activation

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


def time_series(frames: pd.DataFrame, segments: list[Segment]) -> bytes:
    """Each movement's signal for both sides over the whole video, performances shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = frames["t_s"].to_numpy()
    figure, axes = plt.subplots(len(MOVEMENTS), 1, figsize=(9, 1.9 * len(MOVEMENTS)),
                                sharex=True)
    for ax, movement in zip(axes, MOVEMENTS, strict=True):
        for segment in segments:
            ax.axvspan(segment.onset, segment.end, color=MOVEMENT_COLOURS[segment.label],
                       alpha=0.35 if segment.label == movement else 0.12, lw=0)
        for side in ("left", "right"):
            ax.plot(t, activation(frames, movement, side), color=SIDE_COLOURS[side], lw=1.3,
                    label=f"patient's {side}")
        ax.set_title(TITLES[movement], fontsize=9, loc="left")
        ax.set_ylabel("mm", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.axhline(0, color="0.6", lw=0.6)
    axes[0].legend(fontsize=8, loc="upper right", ncols=2)
    axes[-1].set_xlabel("time (s)", fontsize=8)
    figure.tight_layout()
    return _png(figure)


def excursion_bars(performances) -> bytes:
    """Per-movement median excursion, left vs right, with every repetition as a dot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    present = [m for m in MOVEMENTS if any(p.movement == m for p in performances)]
    figure, ax = plt.subplots(figsize=(6, 2.8))
    x = np.arange(len(present))
    for offset, side in ((-0.18, "left"), (0.18, "right")):
        values = [[getattr(p, side).excursion_mm for p in performances if p.movement == m]
                  for m in present]
        ax.bar(x + offset, [np.nanmedian(v) for v in values], width=0.34,
               color=SIDE_COLOURS[side], alpha=0.8, label=f"patient's {side}")
        for i, v in enumerate(values):
            ax.scatter(np.full(len(v), x[i] + offset), v, color="k", s=8, zorder=3)
    ax.set_xticks(x, [m.replace("_", " ") for m in present], fontsize=9)
    ax.set_ylabel("excursion (mm)", fontsize=9)
    ax.legend(fontsize=8)
    figure.tight_layout()
    return _png(figure)
