"""A patient's timeline as plot geometry: symmetry per movement over visits and home
sessions, treatment dates marked. The template draws it as inline SVG (no script, prints)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .reports import MOVEMENT_ORDER, label

WIDTH, HEIGHT = 440, 190
LEFT, RIGHT, TOP, BOTTOM = 40, 34, 26, 30
#: Symmetry below this (with at least 1 mm difference) is outside normal variation.
NORMAL_PCT = 88


@dataclass
class Panel:
    movement: str
    title: str
    points: list[dict] = field(default_factory=list)
    path: str = ""
    treatments: list[dict] = field(default_factory=list)
    x_ticks: list[dict] = field(default_factory=list)
    y_ticks: list[dict] = field(default_factory=list)
    normal_y: float = 0.0
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT
    top: int = TOP
    bottom_edge: int = HEIGHT - BOTTOM


def _when(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return datetime(1970, 1, 1)


def panels(sessions: list[dict], treatments: list[dict]) -> list[Panel]:
    """One panel per movement measured in any session (see ``Store.measured_sessions``)."""
    movements = [m for m in MOVEMENT_ORDER if any(m in s["movements"] for s in sessions)]
    if not movements:
        return []
    times = [_when(s["started_at"]) for s in sessions]
    times += [_when(t["date"]) for t in treatments]
    start, end = min(times), max(times)
    if end - start < timedelta(days=2):
        start, end = start - timedelta(days=1), end + timedelta(days=1)
    pad = (end - start) * 0.04
    start, end = start - pad, end + pad
    span = (end - start).total_seconds()
    inner_w = WIDTH - LEFT - RIGHT
    inner_h = HEIGHT - TOP - BOTTOM

    def x_of(moment: datetime) -> float:
        return round(LEFT + inner_w * (moment - start).total_seconds() / span, 1)

    def y_of(pct: float) -> float:
        return round(TOP + inner_h * (1 - max(0.0, min(pct, 100.0)) / 100), 1)

    ticks = []
    n = 4
    for i in range(n + 1):
        moment = start + (end - start) * (0.04 + 0.92 * i / n) / 1
        ticks.append({"x": x_of(moment), "text": moment.strftime("%Y-%m-%d")})
    if len({t["text"] for t in ticks}) < len(ticks):
        ticks = ticks[::2]
    out = []
    for movement in movements:
        panel = Panel(movement, label(movement))
        for s, moment in zip(sessions, times, strict=False):
            row = s["movements"].get(movement)
            if row is None or row["symmetry_pct"] is None:
                continue
            kind = "visit" if s.get("visit_id") else "session"
            panel.points.append({
                "x": x_of(moment), "y": y_of(row["symmetry_pct"]), "kind": kind,
                "visit_id": s.get("visit_id"), "session_id": s["id"],
                "title": f"{'clinic visit' if kind == 'visit' else 'home session'} "
                         f"{moment:%Y-%m-%d %H:%M}: symmetry {row['symmetry_pct']:.0f} %, "
                         f"left {_mm(row['left_mm'])}, right {_mm(row['right_mm'])}"
                         + (f", weaker {row['weaker_side']}" if row["weaker_side"] else ""),
                "symmetry": row["symmetry_pct"],
            })
        panel.path = " ".join(f"{'M' if i == 0 else 'L'}{p['x']},{p['y']}"
                              for i, p in enumerate(panel.points))
        panel.treatments = [{"x": x_of(_when(t["date"])), "date": t["date"],
                             "label": t["label"] or "treatment"} for t in treatments]
        panel.x_ticks = ticks
        panel.y_ticks = [{"y": y_of(v), "text": f"{v}"} for v in (0, 25, 50, 75, 100)]
        panel.normal_y = y_of(NORMAL_PCT)
        out.append(panel)
    return out


def _mm(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} mm"
