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

import base64
import hashlib
import html
import os
import re
import sqlite3
import time
from pathlib import Path

import pandas as pd

from .display import NONE, number, printable, text
from .errors import FacescoreError

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


def profile_folder(profile: str) -> str:
    """A folder name for a profile: its letters, digits, "-" and "_" (at most 60), plus a
    hash of the whole name when anything was left out, so that no name can reach outside the
    sessions folder ("../..") or be too long for the file system."""
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", profile).strip("_")[:60]
    if safe != profile or not safe:
        digest = hashlib.sha1(profile.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        safe = f"{safe or 'profile'}-{digest}"
    return safe


def session_folder(profile: str, db: str | Path | None = None) -> Path:
    """Where a new session's report goes: ``sessions/<profile>/<time>`` beside the history."""
    root = Path(db).parent if db else default_path().parent
    return root / "sessions" / profile_folder(profile) / time.strftime("%Y%m%d-%H%M%S")


def connect(path: str | Path | None = None) -> sqlite3.Connection:
    """Open (creating if needed) the history database.

    Raises
    ------
    FacescoreError
        When it cannot be made or opened (a folder in its place, no permission, not a
        database).
    """
    path = Path(path) if path is not None else default_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, timeout=30)
    except (OSError, sqlite3.Error) as exc:
        raise FacescoreError(f"cannot open the history database {path}: {exc}") from None
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.executescript(SCHEMA)
    except sqlite3.Error as exc:
        connection.close()
        raise FacescoreError(f"cannot open the history database {path}: {exc}") from None
    return connection


def record_session(connection: sqlite3.Connection, profile: str, summary: dict,
                   report_path: str | None, source: str, started_at: str | None = None) -> int:
    """Store one session's per-movement summary atomically; returns the session id.

    ``summary`` is :attr:`facescore.analysis.Analysis.summary`: its ``per_movement``, each
    movement over its repetitions (:func:`facescore.scales.movement_summary`), weaker side
    included.
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


#: The history's columns as printed and shown, with their headings.
SHOWN = {"session": "session", "profile": "profile", "started_at": "started",
         "movement": "movement", "symmetry_pct": "symmetry %", "left_mm": "left mm",
         "right_mm": "right mm", "weaker_side": "weaker side"}


def display_table(table: pd.DataFrame, for_terminal: bool = True) -> pd.DataFrame:
    """The history as text, one row per session and movement: numbers to 0.1, "—" for a
    value that does not exist (never NaN or -0.0), movement names in words.

    Parameters
    ----------
    for_terminal : bool
        Also show control characters in names (a newline in a profile) as escapes, so that
        each row stays on one line.
    """
    name = printable if for_terminal else text
    out = pd.DataFrame({
        SHOWN["session"]: table["session"].astype(str),
        SHOWN["profile"]: [name(v) for v in table["profile"]],
        SHOWN["started_at"]: [text(v) for v in table["started_at"]],
        SHOWN["movement"]: [text(v).replace("_", " ") for v in table["movement"]],
    })
    for column in ("symmetry_pct", "left_mm", "right_mm"):
        out[SHOWN[column]] = [number(v, 1) for v in table[column]]
    out[SHOWN["weaker_side"]] = [text(v) for v in table["weaker_side"]]
    return out


def history_html(table: pd.DataFrame, png: bytes) -> str:
    """The history page: trend plot and table, self-contained; all text escaped."""
    shown = display_table(table, for_terminal=False)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in shown.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                   for row in shown.itertuples(index=False))
    image = base64.b64encode(png).decode("ascii")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<title>facescore history</title><style>"
        "body{font:15px/1.45 system-ui,sans-serif;margin:1.5em auto;padding:0 12px;"
        "max-width:1000px;color:#222}table{border-collapse:collapse}"
        "th,td{padding:.25em .6em;border-bottom:1px solid #e4e4e4;text-align:left;"
        "overflow-wrap:anywhere}th{background:#f6f6f6}img{max-width:100%;height:auto}"
        ".wide{overflow-x:auto}</style></head><body><h1>Progress</h1>"
        "<img alt='symmetry and the weaker side over sessions' "
        f"src='data:image/png;base64,{image}'>"
        f"<div class='wide'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        f"</div><p>{NONE}: not measured. Sides are the patient's own.</p>"
        "<p>facescore is a measurement aid, not a diagnostic device.</p></body></html>")
