"""The per-frame table: one row per frame, the currency every later stage reads.

Columns (``<side>`` is the patient's anatomical ``left`` or ``right``):

===============================  =================================================================
``frame``, ``t_s``               frame index; presentation time in s
``face_found``                   a face was tracked in this frame
``landmarks_interpolated``       this frame's landmarks, pose and expression scores were carried
                                 from the landmark model's two nearest key frames rather than
                                 seen by the model (:mod:`facescore.model_schedule`)
``pixels_interpolated``          this frame's pixel measures (``<signal>_mm``, ``valid_*``,
                                 ``confidence_*``, ``lid_*``, ``anchor``) were blended by time
                                 from the two nearest frames the model saw, whose pixels were
                                 read (:func:`facescore.pipeline.interpolate_readings`)
``epoch``                        tracking run: a new one starts whenever the face is found again
                                 after being lost
``anchor``                       the reference frame this frame was measured against (a new one
                                 is made when the head settles in a new pose; see
                                 :mod:`facescore.motion`)
``yaw_deg`` ``pitch_deg``        head pose from the facial transformation matrix
``roll_deg``
``pose_ok``                      pose within :data:`facescore.geometry.POSE_LIMITS_DEG`
``pose_distance_deg``            the head's angle from its anchor's pose
``iod_px``                       distance between the iris centres, frame px
``tracked_fraction``             share of patches measured in this frame
``<position>_mm_<side>``         positions from landmarks, head-fixed, mm (see
                                 :data:`facescore.features.POSITION_COLUMNS`)
``<signal>_mm_<side>``           movement from rest, measured from the side's own pixels (no
                                 left-right prior), in the head's axes, mm; zero at rest; NaN where
                                 the measure does not fit (see ``valid_*``). Signals: see
                                 :data:`facescore.motion.DISPLACEMENT_COLUMNS`
``<signal>_lm_mm_<side>``        the same movement from landmarks alone (cross-check), mm
``lip_gap_mm``                   gap between the lips on the midline (landmarks): talking
``eye_aperture_mm_<side>``       palpebral aperture: the resting aperture (landmarks) narrowed by
                                 ``lid_drop``; never negative nor above 1.6 × rest, mm
``confidence_<region>_<side>``   how far the region's measure can be trusted in this frame, 0-1
                                 (regions: ``brow``, ``eye``, ``mouth``, ``lower_lid``)
``valid_<region>_<side>``        confidence high enough: the region's signals are used
``lid_cost_<side>``              eye-model mismatch (normalised grey levels²)
``bs_<name>``                    MediaPipe's 51 expression scores, 0–1, in snake case
                                 (``bs_jaw_open``, ``bs_eye_blink_left``): what the face does
                                 (:mod:`facescore.protocol`)
===============================  =================================================================
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import signals
from .anatomy import SIDES
from .features import POSITION_COLUMNS
from .motion import DISPLACEMENT_COLUMNS, MOVING_GROUPS, Anchor

#: Raw columns used to build the table and not kept in it.
_INTERNAL_PREFIXES = ("g_", "valid_", "lid_narrowing_", "lower_cost_", "pitch_rad", "yaw_rad",
                      "roll_rad", "iris_px", "anchored_share", "ridge_ok")


def to_table(rows: pd.DataFrame | list[dict], mm_per_px: float,
             anchors: list[Anchor] | None = None) -> pd.DataFrame:
    """Turn the measurer's raw rows (px) into the per-frame table (mm).

    Parameters
    ----------
    rows : DataFrame or list of dict
        One row per frame, as :class:`facescore.pipeline.FrameMeasurer` collects them.
    mm_per_px : float
        Millimetres per frame pixel.
    anchors : list of Anchor
        The tracker's anchors (their 3-D geometry removes parallax).
    """
    raw = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    raw = _with_all_columns(raw)
    dropped = _raw_lengths() | {c for c in raw.columns if c.startswith(_INTERNAL_PREFIXES)}
    table = raw[[c for c in raw.columns if c not in dropped]].copy()
    for name in POSITION_COLUMNS:
        for side in SIDES:
            table[f"{name}_mm_{side}"] = raw[f"{name}_{side}"] * mm_per_px
    for name in DISPLACEMENT_COLUMNS:
        for side in SIDES:
            table[f"{name}_lm_mm_{side}"] = raw[f"{name}_lm_{side}"] * mm_per_px
    table["lip_gap_mm"] = raw["lip_gap"] * mm_per_px
    measured = signals.head_plane_signals(raw, anchors or [], mm_per_px)
    table = pd.concat([table, measured, signals.confidence(raw)], axis=1)
    rest = signals.rest_frames(table, region="eye")
    rest_aperture = {side: float(np.nanmedian(table.loc[rest, f"eye_aperture_lm_mm_{side}"]))
                     if rest.any() else float("nan") for side in SIDES}
    return signals.finish_signals(table, rest_aperture)


def _with_all_columns(raw: pd.DataFrame) -> pd.DataFrame:
    """Rows where no face was ever found lack the face columns: add them as NaN."""
    needed = ["anchor", "pose_distance_deg", "tracked_fraction", "pitch_rad", "yaw_rad",
              "roll_rad", "ridge_ok"]
    needed += [f"g_{g}_{axis}" for g in MOVING_GROUPS for axis in "xy"]
    needed += [f"valid_{g}" for g in MOVING_GROUPS]
    needed += [f"{n}_{s}" for n in POSITION_COLUMNS for s in SIDES] + ["lip_gap"]
    needed += [f"{n}_lm_{s}" for n in DISPLACEMENT_COLUMNS for s in SIDES]
    needed += [f"{p}_{s}" for p in ("lid_narrowing", "lid_cost", "lower_cost") for s in SIDES]
    missing = [c for c in needed if c not in raw]
    if missing:
        raw = pd.concat([raw, pd.DataFrame(np.nan, index=raw.index, columns=missing)], axis=1)
    return raw


def _raw_lengths() -> set[str]:
    """Raw column names holding pixel lengths, which the table replaces by mm columns."""
    return ({f"{n}_{s}" for n in POSITION_COLUMNS for s in SIDES} | {"lip_gap"}
            | {f"{n}{tag}_{s}" for n in DISPLACEMENT_COLUMNS for s in SIDES
               for tag in ("", "_lm")})


def write_table(table: pd.DataFrame, directory: str | Path, stem: str = "frames") -> list[Path]:
    """Write the table as ``<stem>.parquet`` and ``<stem>.csv``; returns the paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    parquet, csv = directory / f"{stem}.parquet", directory / f"{stem}.csv"
    table.to_parquet(parquet, index=False)
    table.to_csv(csv, index=False, float_format="%.4f")
    return [parquet, csv]
