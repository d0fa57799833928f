"""Two reports side by side: how each movement changed (e.g. before and after treatment).

:func:`compare_reports` gives the numbers; :func:`display_table` the same as text ("—" for a
value one report lacks, never ``NaN`` or ``-0.0``); :func:`write_comparison` writes them as
``compare.json`` and a self-contained ``compare.html``.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

import pandas as pd

from .display import NONE, number, path_text
from .errors import FacescoreError
from .outputs import atomic_directory

#: Measures compared per movement: (key in a report's per-movement summary, column stem).
MEASURES = (("left", "left_mm"), ("right", "right_mm"), ("symmetry_pct", "symmetry_pct"))
DISCLAIMER = ("facescore is a measurement aid, not a diagnostic device; its scores are not "
              "validated against clinical grading.")


def load_report(path: str | Path) -> dict:
    """A report.json, given itself or the folder holding it."""
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise FacescoreError(f"cannot read report {path}: {reason}") from None
    if not isinstance(report, dict) or not isinstance(report.get("summary"), dict):
        raise FacescoreError(f"{path} is not a facescore report (no summary)")
    return report


def _value(summary: dict | None, key: str) -> float | None:
    if not summary:
        return None
    value = summary.get(key)
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return float(value)


def compare_reports(before: dict, after: dict) -> pd.DataFrame:
    """Per movement: both sides' median excursion (mm) and symmetry (%) in each report, and
    the change (after − before); None where a report lacks the value."""
    rows = []
    per_before = before["summary"].get("per_movement", {})
    per_after = after["summary"].get("per_movement", {})
    for movement in dict.fromkeys([*per_before, *per_after]):
        b, a = per_before.get(movement), per_after.get(movement)
        row = {"movement": movement}
        for key, label in MEASURES:
            was, now = _value(b, key), _value(a, key)
            row[f"{label}_before"] = was
            row[f"{label}_after"] = now
            row[f"{label}_change"] = now - was if was is not None and now is not None else None
        rows.append(row)
    columns = ["movement"] + [f"{label}_{when}" for _, label in MEASURES
                              for when in ("before", "after", "change")]
    return pd.DataFrame(rows, columns=columns)


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """The comparison as text: numbers to 0.1, "—" where a value does not exist."""
    out = pd.DataFrame({"movement": [str(m).replace("_", " ") for m in table["movement"]]})
    for column in table.columns[1:]:
        out[column] = [number(v, 1) for v in table[column]]
    return out


def comparison_document(before_path: str | Path, after_path: str | Path, before: dict,
                        after: dict, table: pd.DataFrame) -> dict:
    """The comparison as plain data (``compare.json``): units in the column names."""
    records = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in row.items()} for row in table.to_dict("records")]
    return {
        "schema": "facescore-compare/1",
        "before": {"report": path_text(before_path),
                   "input": before.get("input", {}).get("path")},
        "after": {"report": path_text(after_path), "input": after.get("input", {}).get("path")},
        "sides": "anatomical: left and right are the patient's own",
        "change": "after minus before",
        "movements": records,
        "disclaimer": DISCLAIMER,
    }


def comparison_html(document: dict) -> str:
    """The comparison page: self-contained, readable at phone width, all text escaped."""
    esc = html.escape
    rows = []
    for m in document["movements"]:
        cells = [f"<td>{esc(str(m['movement']).replace('_', ' '))}</td>"]
        for _, label in MEASURES:
            cells += [f"<td>{esc(number(m[f'{label}_{when}'], 1))}</td>"
                      for when in ("before", "after", "change")]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    groups = "".join(f"<th colspan='3'>{title}</th>" for title in
                     ("Left (mm)", "Right (mm)", "Symmetry (%)"))
    sub = "<th></th>" + "<th>before</th><th>after</th><th>change</th>" * len(MEASURES)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<title>facescore comparison</title><style>"
        "body{font:15px/1.45 system-ui,sans-serif;margin:1.5em auto;padding:0 12px;"
        "max-width:1000px;color:#222}.source{overflow-wrap:anywhere}"
        "table{border-collapse:collapse}th,td{padding:.25em .5em;border-bottom:1px solid #e4e4e4;"
        "text-align:right}th:first-child,td:first-child{text-align:left}th{background:#f6f6f6}"
        ".wide{overflow-x:auto}</style></head><body><h1>Change between two reports</h1>"
        f"<p class='source'>Before: {esc(str(document['before']['report']))}<br>"
        f"After: {esc(str(document['after']['report']))}</p>"
        "<p>Per movement, each side's median excursion and the symmetry; change = after − "
        f"before. Sides are the patient's own. {NONE}: not in that report.</p>"
        f"<div class='wide'><table><thead><tr><th>Movement</th>{groups}</tr><tr>{sub}</tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table></div>"
        f"<p>{esc(DISCLAIMER)}</p></body></html>")


def write_comparison(out_dir: str | Path, document: dict) -> list[Path]:
    """Write ``compare.json`` and ``compare.html`` into ``out_dir`` (atomically)."""
    out_dir = Path(out_dir)
    with atomic_directory(out_dir) as staging:
        (staging / "compare.json").write_text(json.dumps(document, indent=2))
        (staging / "compare.html").write_text(comparison_html(document), encoding="utf-8")
    return [out_dir / "compare.json", out_dir / "compare.html"]
