"""What a clinician reads first, against a phantom's truth: shared by the benchmarks that
analyse phantom exams (``real_recordings.py``, ``photo_phantoms.py``).

One row per case: each movement's weaker side over its repetitions and its symmetry interval,
the affected side the movements agree on (the true one by the report's own rule, applied to
the phantom's movements), the overall symmetry with its interval, and the scale estimates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from facescore.uncertainty import NORMAL_SYMMETRY_PCT  # no side weaker above it: "none"


def inside(value: float, low, high) -> bool | None:
    """Whether ``value`` lies in [low, high] (None when the interval is missing)."""
    if low is None or high is None or not (np.isfinite(low) and np.isfinite(high)):
        return None
    return bool(low - 1e-9 <= value <= high + 1e-9)


def true_weaker_side(tp: dict) -> str | None:
    """The side the phantom made weaker, when it is beyond what the measure calls normal."""
    return tp["weaker_side"] if tp["symmetry_pct"] < NORMAL_SYMMETRY_PCT else None


def share(values: pd.Series) -> str:
    """"k / n" of the true values among the known ones."""
    values = values.dropna().astype(bool)
    return f"{int(values.sum())} / {len(values)}"


def report_summary_row(name: str, truth: dict, analysis) -> dict:
    """One case's summary as the report gives it, against the truth (``name``: the case)."""
    from facescore.scales import affected_side

    true_calls = {tp["movement"]: true_weaker_side(tp) for tp in truth["performances"]}
    true_symmetry = {tp["movement"]: tp["symmetry_pct"] for tp in truth["performances"]}
    true_affected = affected_side({m: {"weaker_side": w} for m, w in true_calls.items()})
    measured = analysis.summary.get("per_movement", {})
    row = {"case": name, "true_affected": true_affected or "none",
           "affected": analysis.summary["affected_side"] or "none"}
    row["affected_ok"] = row["affected"] == row["true_affected"]
    right, held = [], []
    for movement, true_weaker in true_calls.items():
        summary = measured.get(movement)
        weaker = summary["weaker_side"] if summary else None
        symmetry = summary["symmetry_pct"] if summary else None
        band = (f" ({summary['symmetry_low_pct']:.0f}-{summary['symmetry_high_pct']:.0f})"
                if summary and summary["symmetry_low_pct"] is not None else "")
        row[movement] = (f"{weaker or 'none'} / {true_weaker or 'none'}; "
                         + (f"{symmetry:.0f}{band}" if symmetry is not None else "not compared"))
        if summary and symmetry is not None:
            right.append(weaker == true_weaker)
        if summary and summary["symmetry_low_pct"] is not None:
            held.append(inside(true_symmetry[movement], summary["symmetry_low_pct"],
                               summary["symmetry_high_pct"]))
    row["movement_weaker_side_right"] = f"{sum(right)} / {len(right)}"
    row["movement_symmetry_in_interval"] = f"{sum(held)} / {len(held)}"
    # Overall symmetry: the mean over the movements the report compared, against the same
    # movements' true symmetries.
    overall = analysis.summary.get("overall_symmetry")
    compared = [m for m, summary in measured.items() if summary["symmetry_pct"] is not None]
    true_overall = (float(np.mean([true_symmetry[m] for m in compared if m in true_symmetry]))
                    if compared else None)
    low, high = (analysis.summary.get("overall_symmetry_low"),
                 analysis.summary.get("overall_symmetry_high"))
    row["overall"] = (f"{overall:.0f}" + (f" ({low:.0f}-{high:.0f})" if low is not None else "")
                      if overall is not None else "none")
    row["true_overall"] = f"{true_overall:.0f}" if true_overall is not None else "none"
    row["overall_in_interval"] = (None if low is None or true_overall is None
                                  else inside(true_overall, low, high))
    estimates = analysis.summary.get("estimates", {})
    efface = estimates.get("efface_dynamic", {})
    row["efface"] = (f"{efface['mean']:.0f}" if "mean" in efface
                     else "withheld" if efface else "none")
    grade = estimates.get("house_brackmann", {})
    row["house_brackmann"] = grade.get("grade", "withheld" if grade else "none")
    row["movement_named_wrong_side"] = sum(
        bool(measured.get(m) and measured[m]["weaker_side"] not in (None, w))
        for m, w in true_calls.items())
    return row


def summary_verdict(rows: pd.DataFrame) -> str:
    """The totals of :func:`report_summary_row` rows, in one sentence."""
    named = rows["affected"] != "none"
    wrong = int((named & ~rows["affected_ok"]).sum())
    totals = rows["movement_weaker_side_right"].str.split(" / ", expand=True).astype(int)
    held = rows["movement_symmetry_in_interval"].str.split(" / ", expand=True).astype(int)
    return (f"affected side right in {share(rows['affected_ok'])} cases, {wrong} named wrongly; "
            f"each movement's weaker side over its repetitions right in {totals[0].sum()} / "
            f"{totals[1].sum()}, {rows['movement_named_wrong_side'].sum()} named wrongly; its "
            f"symmetry interval holds the truth in {held[0].sum()} / {held[1].sum()}; the "
            f"overall symmetry's interval in {share(rows['overall_in_interval'])}")
