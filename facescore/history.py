"""The home-exercise history: one SQLite file, one row per movement per session.

Written in one transaction per session, in WAL mode, so a session killed at any point leaves
the database as it was, and two sessions writing at once wait for each other instead of
corrupting it.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pandas as pd

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    profile TEXT NOT NULL,
    started_at TEXT NOT NULL,
    source TEXT,
    report_path TEXT
);
CREATE TABLE IF NOT EXISTS movements (
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    movement TEXT NOT NULL,
    repetitions INTEGER NOT NULL,
    symmetry_pct REAL,
    left_mm REAL,
    right_mm REAL,
    weaker_side TEXT,
    PRIMARY KEY (session_id, movement)
);
"""


def default_path() -> Path:
    """``$FACESCORE_HOME/history.sqlite``, else ``~/.local/share/facescore/history.sqlite``."""
    home = os.environ.get("FACESCORE_HOME")
    base = Path(home) if home else Path.home() / ".local" / "share" / "facescore"
    return base / "history.sqlite"


def connect(path: str | Path | None = None) -> sqlite3.Connection:
    """Open (creating if needed) the history database."""
    path = Path(path) if path is not None else default_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=30)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.executescript(SCHEMA)
    return connection


def record_session(connection: sqlite3.Connection, profile: str, summary: dict,
                   report_path: str | None, source: str, started_at: str | None = None) -> int:
    """Store one session's per-movement summary atomically; returns the session id.

    ``summary`` is :attr:`facescore.analysis.Analysis.summary` (its ``per_movement``), with
    ``weaker_side`` per movement taken from the median repetition.
    """
    started_at = started_at or time.strftime("%Y-%m-%dT%H:%M:%S")
    with connection:  # one transaction: all rows or none
        cursor = connection.execute(
            "INSERT INTO sessions (profile, started_at, source, report_path) VALUES (?, ?, ?, ?)",
            (profile, started_at, source, report_path))
        session_id = int(cursor.lastrowid)
        for movement, m in summary.get("per_movement", {}).items():
            connection.execute(
                "INSERT INTO movements VALUES (?, ?, ?, ?, ?, ?, ?)",
                (session_id, movement, m.get("repetitions", 1), m["symmetry_pct"], m["left"],
                 m["right"], m.get("weaker_side")))
    return session_id


def history_table(connection: sqlite3.Connection, profile: str | None = None) -> pd.DataFrame:
    """One row per session and movement, oldest first."""
    query = ("SELECT s.id AS session, s.profile, s.started_at, m.movement, m.repetitions, "
             "m.symmetry_pct, m.left_mm, m.right_mm, m.weaker_side, s.report_path "
             "FROM movements m JOIN sessions s ON s.id = m.session_id")
    params: tuple = ()
    if profile is not None:
        query += " WHERE s.profile = ?"
        params = (profile,)
    return pd.read_sql_query(query + " ORDER BY s.started_at, s.id, m.movement", connection,
                             params=params)


def trend_png(table: pd.DataFrame) -> bytes:
    """Symmetry and both sides' excursion per movement across sessions, as a PNG."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    movements = list(dict.fromkeys(table["movement"]))
    figure, axes = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    order = {s: i + 1 for i, s in enumerate(dict.fromkeys(table["session"]))}
    for movement in movements:
        rows = table[table["movement"] == movement]
        x = rows["session"].map(order)
        axes[0].plot(x, rows["symmetry_pct"], "o-", label=movement.replace("_", " "))
        weaker = rows[["left_mm", "right_mm"]].min(axis=1)
        axes[1].plot(x, weaker, "o-", label=movement.replace("_", " "))
    axes[0].set_ylabel("symmetry (%)")
    axes[0].set_ylim(0, 105)
    axes[0].legend(fontsize=8)
    axes[1].set_ylabel("weaker side's excursion (mm)")
    axes[1].set_xlabel("session")
    axes[1].set_xticks(list(order.values()))
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()
