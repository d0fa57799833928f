"""The per-frame table: one row per frame, the currency every later stage reads.

Columns (``<side>`` is the patient's anatomical ``left`` or ``right``):

===============================  =================================================================
``frame``, ``t_s``               frame index; presentation time in s
``face_found``                   a face was tracked in this frame
``epoch``                        tracking run: a new one starts whenever the face is found again
                                 after being lost; displacements are relative to its first frame
``yaw_deg`` ``pitch_deg``        head pose from the facial transformation matrix
``roll_deg``
``pose_ok``                      pose within :data:`facescore.geometry.POSE_LIMITS_DEG`
``iod_px``                       distance between the iris centres, frame px
``tracked_fraction``             share of flow patches that passed the forward-backward check
``<position>_mm_<side>``         positions, head-fixed, mm (see :data:`POSITION_COLUMNS`)
``<signal>_mm_<side>``           displacement since the epoch's first frame, measured by optical
                                 flow (no left-right prior), mm (see :data:`DISPLACEMENT_COLUMNS`)
``<signal>_lm_mm_<side>``        the same displacement from landmarks alone (cross-check), mm
``eye_aperture_mm_<side>``       palpebral aperture: the reference frame's landmark aperture minus
                                 the lids' flow-measured closing, mm (the residual gap when closing)
``bs_<name>_<side>``             MediaPipe blendshape scores, 0–1 (secondary signals)
===============================  =================================================================
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .anatomy import SIDES
from .features import POSITION_COLUMNS
from .motion import DISPLACEMENT_COLUMNS


def to_table(rows: pd.DataFrame | list[dict], mm_per_px: float) -> pd.DataFrame:
    """Turn the pipeline's raw rows (px) into the per-frame table (mm).

    Parameters
    ----------
    rows : DataFrame or list of dict
        One row per frame, as :class:`facescore.pipeline.FrameMeasurer` collects them.
    mm_per_px : float
        Millimetres per frame pixel.
    """
    raw = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    table = raw[[c for c in raw.columns if c not in _raw_lengths()]].copy()
    for name in POSITION_COLUMNS:
        for side in SIDES:
            table[f"{name}_mm_{side}"] = raw[f"{name}_{side}"] * mm_per_px
    for name in DISPLACEMENT_COLUMNS:
        for side in SIDES:
            table[f"{name}_mm_{side}"] = raw[f"{name}_{side}"] * mm_per_px
            table[f"{name}_lm_mm_{side}"] = raw[f"{name}_lm_{side}"] * mm_per_px
    for side in SIDES:
        reference = table.groupby("epoch")[f"eye_aperture_lm_mm_{side}"].transform("first")
        table[f"eye_aperture_mm_{side}"] = (reference - table[f"lid_drop_mm_{side}"]
                                            - table[f"lower_lid_rise_mm_{side}"])
    return table


def _raw_lengths() -> set[str]:
    """Raw column names holding pixel lengths, which the table replaces by mm columns."""
    return ({f"{n}_{s}" for n in POSITION_COLUMNS for s in SIDES}
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
