"""Input checks made before any work: does a segments file make sense, is a text file UTF-8.

A run that would fail or mislead later (a sidecar with overlapping movements, a time that is
not a number, a file saved as UTF-16) fails here instead, in one line, before minutes of
measuring and before anything is written. Output paths are checked in :mod:`facescore.outputs`.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .errors import FacescoreError

#: A movement may end this long after the end the video declares, s (containers round).
END_TOLERANCE_S = 0.5
SEGMENT_COLUMNS = ("start", "end", "movement")


def read_text_utf8(path: Path, what: str) -> str:
    """A small text file's content (a UTF-8 byte-order mark is allowed).

    Raises
    ------
    FacescoreError
        It cannot be read or is not UTF-8 (e.g. saved as UTF-16 or Latin-1).
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FacescoreError(f"cannot read {what} {path}: {exc.strerror}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FacescoreError(f"{what} {path} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at "
                             f"offset {exc.start}); save it as UTF-8") from None


@dataclass(frozen=True)
class SegmentRow:
    """One movement a segments file gives: its row (1 = first data row), times in s."""

    row: int
    start: float
    end: float
    movement: str

    def describe(self) -> str:
        return f"row {self.row} ({self.movement} {self.start:g}-{self.end:g} s)"


def _segment_rows(path: Path) -> pd.DataFrame:
    text = read_text_utf8(path, "segments file")
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
            if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
                raise FacescoreError(f"segments file {path}: expected a JSON list of objects "
                                     "with start, end and movement")
            return pd.DataFrame(data)
        return pd.read_csv(io.StringIO(text), dtype=str)
    except pd.errors.EmptyDataError:
        raise FacescoreError(f"segments file {path} is empty") from None
    except (ValueError, pd.errors.ParserError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FacescoreError(f"segments file {path} cannot be read: {first}") from None


def _number(value, name: str, row: int, path: Path) -> float:
    if value is None or (isinstance(value, float) and math.isnan(value)) or not str(value).strip():
        raise FacescoreError(f"segments file {path}, row {row}: {name} is empty")
    try:
        number = float(str(value).strip())
    except ValueError:
        raise FacescoreError(f"segments file {path}, row {row}: {name} {str(value)!r} is not a "
                             "number of seconds") from None
    if not math.isfinite(number) or number < 0:
        raise FacescoreError(f"segments file {path}, row {row}: {name} {number:g} s must be a "
                             "time of 0 s or more")
    return number


def check_segments_file(path: str | Path, duration_s: float | None = None,
                        movements: tuple[str, ...] | None = None) -> list[SegmentRow]:
    """Read and check a segments sidecar (CSV ``start,end,movement`` or a JSON list).

    Parameters
    ----------
    path : str or Path
    duration_s : float, optional
        The video's declared duration, s: movements must lie within it.
    movements : tuple of str, optional
        Known movement names (default: :data:`facescore.segments.MOVEMENTS`).

    Returns
    -------
    list of SegmentRow
        In time order.

    Raises
    ------
    FacescoreError
        Not UTF-8, unreadable, missing columns, no rows, a time that is not a finite number
        of seconds ≥ 0, an end not after its start, an unknown movement, two movements that
        overlap, or a movement outside the video.
    """
    if movements is None:
        from .segments import MOVEMENTS

        movements = MOVEMENTS
    path = Path(path)
    if not path.is_file():
        raise FacescoreError(f"no segments file {path}")
    table = _segment_rows(path)
    missing = [c for c in SEGMENT_COLUMNS if c not in table.columns]
    if missing:
        raise FacescoreError(f"segments file {path} lacks column(s): {', '.join(missing)} "
                             "(expected start,end,movement)")
    if table.empty:
        raise FacescoreError(f"segments file {path} lists no movement")
    rows = []
    for number, record in enumerate(table.to_dict("records"), start=1):
        start = _number(record["start"], "start", number, path)
        end = _number(record["end"], "end", number, path)
        movement = str(record["movement"])
        if movement not in movements:
            raise FacescoreError(f"segments file {path}, row {number}: unknown movement "
                                 f"{movement!r} (use {', '.join(movements)})")
        if not end > start:
            raise FacescoreError(f"segments file {path}, row {number}: end {end:g} s must "
                                 f"follow start {start:g} s")
        rows.append(SegmentRow(number, start, end, movement))
    rows.sort(key=lambda r: r.start)
    for before, after in zip(rows, rows[1:], strict=False):
        if after.start < before.end:
            raise FacescoreError(f"segments file {path}: {before.describe()} and "
                                 f"{after.describe()} overlap")
    if duration_s is not None:
        for r in rows:
            if r.end > duration_s + END_TOLERANCE_S:
                raise FacescoreError(f"segments file {path}: {r.describe()} ends after the "
                                     f"video ({duration_s:.1f} s)")
    return rows
