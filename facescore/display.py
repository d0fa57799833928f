"""Values as people read them: numbers without ``NaN`` or ``-0.0``, paths that print.

Shared by the command line's tables, the report and the history and compare pages, so the
same value reads the same everywhere.
"""

from __future__ import annotations

import math
import os
import unicodedata
from pathlib import Path

#: Shown for a value that does not exist (not measured, not applicable).
NONE = "—"


def is_missing(value: object) -> bool:
    """True for None, NaN and pandas' missing markers."""
    if value is None:
        return True
    try:
        return bool(math.isnan(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value) in ("<NA>", "NaT")


def number(value: object, digits: int = 1, unit: str = "") -> str:
    """``value`` rounded to ``digits`` decimals, with ``unit`` appended; :data:`NONE` when
    missing. A value that rounds to zero is written without a sign (never ``-0.0``)."""
    if is_missing(value):
        return NONE
    rounded = round(float(value), digits)
    if rounded == 0:
        rounded = 0.0  # -0.0 → 0.0
    return f"{rounded:.{digits}f}{unit}"


def signed(value: object, digits: int = 0, unit: str = "") -> str:
    """``value`` with its sign (``+3``, ``-2``), rounded as :func:`number`; a value that
    rounds to zero is written ``0``, never ``-0`` or ``+0``."""
    if is_missing(value):
        return NONE
    rounded = round(float(value), digits)
    return number(0.0, digits, unit) if rounded == 0 else f"{rounded:+.{digits}f}{unit}"


def text(value: object) -> str:
    """A label (e.g. a weaker side) as text; :data:`NONE` when missing."""
    return NONE if is_missing(value) else str(value)


def path_text(path: str | Path) -> str:
    """A path as printable text: bytes that are not UTF-8 (a name made on another system)
    are shown as ``\\xNN`` escapes rather than breaking a UTF-8 page, table or terminal."""
    return os.fsencode(str(path)).decode("utf-8", "backslashreplace")


def printable(value: object, limit: int | None = None) -> str:
    """Text for one line of a terminal: control characters (a newline in a name) shown as
    escapes, cut to ``limit`` characters with "…" when longer."""
    if is_missing(value):
        return NONE
    out = "".join(ch if unicodedata.category(ch) != "Cc" else ch.encode("unicode_escape")
                  .decode("ascii") for ch in path_text(value))
    return out if limit is None or len(out) <= limit else out[:limit - 1] + "…"
