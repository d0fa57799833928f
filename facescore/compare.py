"""Two reports side by side: how each movement changed (e.g. before and after treatment)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .errors import FacescoreError


def load_report(path: str | Path) -> dict:
    """A report.json, given itself or the folder holding it."""
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise FacescoreError(f"cannot read report {path}: {exc}") from exc


def compare_reports(before: dict, after: dict) -> pd.DataFrame:
    """Per movement: both sides' median excursion and symmetry in each report, and the change."""
    rows = []
    per_before = before["summary"].get("per_movement", {})
    per_after = after["summary"].get("per_movement", {})
    for movement in dict.fromkeys([*per_before, *per_after]):
        b, a = per_before.get(movement), per_after.get(movement)
        row = {"movement": movement}
        for key, label in (("left", "left_mm"), ("right", "right_mm"),
                           ("symmetry_pct", "symmetry_pct")):
            row[f"{label}_before"] = b[key] if b else None
            row[f"{label}_after"] = a[key] if a else None
            row[f"{label}_change"] = (a[key] - b[key]) if a and b else None
        rows.append(row)
    return pd.DataFrame(rows)
