"""The store: one SQLite file holding every measured session, home and clinic alike.

``sessions`` and ``movements`` hold one row per recording and one per movement of it: guided
home sessions (``facescore session``) and, once analysed, the clinic's visits. The clinic web
app (``facescore serve``) adds ``patients`` (whose identifier is the ``--profile`` of their home
sessions), ``treatments`` and ``visits`` (a recording, its report, its notes and its place in
the analysis queue; a finished visit points at its row in ``sessions``). So ``facescore
history --profile P`` and patient P's timeline in the app read the same rows.

Written in one transaction per session, in WAL mode, so a session killed at any point leaves
the database as it was, and two writers at once (a session, the app, its analysis worker)
wait for each other instead of corrupting it.
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
CREATE TABLE IF NOT EXISTS patients (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    identifier TEXT NOT NULL UNIQUE,   -- identifier or pseudonym; the profile of home sessions
    affected_side TEXT,                -- as recorded by the clinician: left, right, both or NULL
    diagnosis TEXT,
    notes TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS treatments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    patient_id INTEGER NOT NULL REFERENCES patients(id),
    date TEXT NOT NULL,                -- YYYY-MM-DD
    label TEXT
);
CREATE TABLE IF NOT EXISTS visits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    patient_id INTEGER NOT NULL REFERENCES patients(id),
    visit_date TEXT NOT NULL,          -- YYYY-MM-DDTHH:MM:SS
    date_source TEXT NOT NULL,         -- "video metadata", "upload time" or "edited"
    folder TEXT NOT NULL UNIQUE,       -- generated name of its folder under visits/
    recording TEXT NOT NULL,           -- generated file name inside that folder
    original_name TEXT,                -- the uploaded file's name, for display only
    size_bytes INTEGER,
    kind TEXT,                         -- "video" or "image"
    n_frames INTEGER,                  -- expected, for the progress bar (NULL when unknown)
    mirrored INTEGER NOT NULL DEFAULT 0,
    segments TEXT,                     -- movement times given by hand (CSV), or NULL
    notes TEXT,
    status TEXT NOT NULL,              -- queued, running, done or failed
    progress REAL NOT NULL DEFAULT 0,  -- 0..1 while running
    phase TEXT,
    error TEXT,                        -- a failed analysis's one-line reason
    queued_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    session_id INTEGER REFERENCES sessions(id)
);
CREATE INDEX IF NOT EXISTS visits_by_patient ON visits(patient_id);
CREATE INDEX IF NOT EXISTS visits_by_status ON visits(status);
CREATE INDEX IF NOT EXISTS sessions_by_profile ON sessions(profile);
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
    with connection:  # one transaction: all rows or none
        return insert_session(connection, profile, summary, report_path, source, started_at)


def insert_session(connection: sqlite3.Connection, profile: str, summary: dict,
                   report_path: str | None, source: str, started_at: str | None = None) -> int:
    """:func:`record_session` inside the caller's transaction (which commits it)."""
    started_at = started_at or time.strftime("%Y-%m-%dT%H:%M:%S")
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


def delete_sessions(connection: sqlite3.Connection, session_ids: list[int]) -> None:
    """Remove sessions and their movement rows, inside the caller's transaction."""
    for session_id in session_ids:
        connection.execute("DELETE FROM movements WHERE session_id = ?", (session_id,))
        connection.execute("DELETE FROM sessions WHERE id = ?", (session_id,))


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
