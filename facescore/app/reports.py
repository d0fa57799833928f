"""What the app shows of a report, read from the files ``facescore.report.write_outputs``
wrote: numbers from report.json, key frames and figures from the images report.html embeds.
Nothing is measured again here."""

from __future__ import annotations

import base64
import binascii
import json
import re
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path

MOVEMENT_ORDER = ("brow_raise", "eye_closure", "smile", "frown")
PHASES = ("rest", "peak")


def load(report_dir: Path) -> dict | None:
    try:
        return json.loads((report_dir / "report.json").read_text())
    except (OSError, ValueError):
        return None


def label(movement: str) -> str:
    return movement.replace("_", " ")


def per_movement(report: dict) -> dict[str, dict]:
    """Per movement: median left/right mm, symmetry and weaker side (the report's summary;
    from the repetitions when a report has no summary per movement)."""
    import statistics

    summary = (report.get("summary") or {}).get("per_movement")
    if summary:
        out = {m: dict(summary[m]) for m in MOVEMENT_ORDER if m in summary}
        if "eye_closure" in out:
            # Lagophthalmos: the narrowest opening left in the eye closures, per side, mm.
            for side in ("left", "right"):
                gaps = [r[side].get("residual_gap_mm") for r in report.get("movements", [])
                        if r["movement"] == "eye_closure"]
                gaps = [g for g in gaps if g is not None]
                out["eye_closure"][f"lagophthalmos_{side}"] = (statistics.median(gaps)
                                                               if gaps else None)
        return out

    out: dict[str, dict] = {}
    for movement in MOVEMENT_ORDER:
        reps = [r for r in report.get("movements", []) if r["movement"] == movement]
        if not reps:
            continue

        def median(values):
            values = [v for v in values if v is not None]
            return statistics.median(values) if values else None

        out[movement] = {
            "repetitions": len(reps),
            "left": median(r["left"]["excursion_mm"] for r in reps),
            "right": median(r["right"]["excursion_mm"] for r in reps),
            "symmetry_pct": median(r["symmetry_pct"] for r in reps),
            "weaker_side": reps[len(reps) // 2]["weaker_side"],
        }
    return out


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            a = dict(attrs)
            if (a.get("src") or "").startswith("data:image/"):
                self.images.append((a.get("alt") or "", a["src"]))


def _decode(src: str) -> tuple[str, bytes] | None:
    match = re.match(r"data:(image/(?:png|jpeg));base64,(.*)$", src, re.S)
    if not match:
        return None
    try:
        return match.group(1), base64.b64decode(match.group(2), validate=False)
    except (binascii.Error, ValueError):
        return None


@lru_cache(maxsize=64)
def _embedded(path: str, mtime_ns: int) -> dict[str, tuple[str, bytes]]:
    parser = _Images()
    parser.feed(Path(path).read_text(encoding="utf-8", errors="replace"))
    out: dict[str, tuple[str, bytes]] = {}
    for alt, src in parser.images:
        decoded = _decode(src)
        if decoded is None:
            continue
        key = _key(alt)
        out.setdefault(key, decoded)
    return out


def _key(alt: str) -> str:
    """"smile: peak" → "smile|peak"; the figures by what their alt text says."""
    alt = alt.strip().lower()
    match = re.fullmatch(r"([a-z ]+):\s*(rest|peak)", alt)
    if match:
        return f"{match.group(1).strip().replace(' ', '_')}|{match.group(2)}"
    if "over time" in alt:
        return "figure|series"
    if "excursion" in alt:
        return "figure|bars"
    return "other|" + alt


def embedded_images(report_dir: Path) -> dict[str, tuple[str, bytes]]:
    """``{"smile|peak": (mime, bytes), ..., "figure|bars": ..., "figure|series": ...}``."""
    html = report_dir / "report.html"
    try:
        stat = html.stat()
    except OSError:
        return {}
    return _embedded(str(html), stat.st_mtime_ns)


def key_frames(report_dir: Path) -> dict[str, list[str]]:
    """Movement → the phases with a key frame, in report order."""
    out: dict[str, list[str]] = {}
    for key in embedded_images(report_dir):
        movement, phase = key.split("|", 1)
        if movement in MOVEMENT_ORDER and phase in PHASES:
            out.setdefault(movement, []).append(phase)
    return out
