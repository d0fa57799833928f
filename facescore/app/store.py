"""Patients, treatments and visits in the one SQLite store (:mod:`facescore.history`), with
their files under the data folder.

Layout of a data folder::

    history.sqlite            the store (home sessions, patients, visits, the analysis queue)
    visits/<generated>/       one folder per visit: recording.<ext>, segments.csv, report/
    uploads/                  uploads being received (removed when refused)
    logs/worker.log           the analysis worker's output

Every file name under the data folder is generated here; nothing a client sends becomes part
of a path. Each function opens its own connection, so callers in different threads and
processes (the web server, the analysis worker, ``facescore session``) never share one.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .. import history
from ..errors import FacescoreError
from ..segments import MOVEMENTS

SIDES_RECORDED = ("left", "right", "both")
MAX_TEXT = 4000
MAX_IDENTIFIER = 120
STATUSES = ("queued", "running", "done", "failed")


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


class InputError(FacescoreError):
    """A form value that cannot be stored; its message is shown to the user."""


def clean_text(value: str | None, limit: int = MAX_TEXT) -> str | None:
    """Free text as stored: stripped, control characters (but newlines) removed, bounded."""
    if value is None:
        return None
    value = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", value.replace("\r\n", "\n")).strip()
    return value[:limit] or None


def clean_identifier(value: str | None) -> str:
    value = re.sub(r"\s+", " ", clean_text(value, MAX_IDENTIFIER) or "")
    if not value:
        raise InputError("a patient needs an identifier or pseudonym")
    return value


def clean_side(value: str | None) -> str | None:
    value = (value or "").strip().lower() or None
    if value is not None and value not in SIDES_RECORDED:
        raise InputError(f"affected side must be one of {', '.join(SIDES_RECORDED)} or empty")
    return value


def clean_date(value: str | None, with_time: bool = False) -> str:
    """``YYYY-MM-DD`` (or ``YYYY-MM-DDTHH:MM[:SS]`` with ``with_time``) → the stored form."""
    from datetime import datetime

    value = (value or "").strip()
    formats = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d") \
        if with_time else ("%Y-%m-%d",)
    for fmt in formats:
        try:
            parsed = datetime.strptime(value, fmt)
        except ValueError:
            continue
        if not 1900 <= parsed.year <= 2200:
            break
        return parsed.strftime("%Y-%m-%dT%H:%M:%S" if with_time else "%Y-%m-%d")
    raise InputError(f"not a date: {value!r} (use YYYY-MM-DD" + (" HH:MM" if with_time else "")
                     + ")")


def clean_segments(text: str | None) -> str | None:
    """Movement times typed by hand, one ``start, end, movement`` a line (seconds), as the
    CSV that ``facescore analyze --segments`` reads; None when empty."""
    text = (text or "").strip()
    if not text:
        return None
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.replace(" ", "").lower() == "start,end,movement":
            continue
        parts = [p.strip() for p in re.split(r"[,;\t]", line)]
        if len(parts) != 3:
            raise InputError(f"movement times, line {n}: expected start, end, movement")
        try:
            start, end = float(parts[0]), float(parts[1])
        except ValueError:
            raise InputError(f"movement times, line {n}: start and end are seconds") from None
        movement = parts[2].lower().replace(" ", "_")
        if movement not in MOVEMENTS:
            raise InputError(f"movement times, line {n}: unknown movement {parts[2]!r} "
                             f"(use {', '.join(MOVEMENTS)})")
        if not 0 <= start < end:
            raise InputError(f"movement times, line {n}: end must follow start")
        rows.append(f"{start:g},{end:g},{movement}")
    if not rows:
        return None
    if len(rows) > 100:
        raise InputError("movement times: at most 100 lines")
    return "start,end,movement\n" + "\n".join(rows) + "\n"


@dataclass
class Store:
    root: Path

    def __post_init__(self) -> None:
        self.root = Path(self.root)

    @property
    def db_path(self) -> Path:
        return self.root / "history.sqlite"

    @property
    def visits_dir(self) -> Path:
        return self.root / "visits"

    @property
    def uploads_dir(self) -> Path:
        return self.root / "uploads"

    def init(self) -> None:
        for folder in (self.root, self.visits_dir, self.uploads_dir, self.root / "logs"):
            folder.mkdir(parents=True, exist_ok=True)
        with self.connect():
            pass
        for stale in self.uploads_dir.iterdir():  # uploads cut off by a stop
            if stale.is_file():
                stale.unlink(missing_ok=True)

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        connection = history.connect(self.db_path)
        connection.row_factory = sqlite3.Row
        try:
            yield connection
        finally:
            connection.close()

    # ---------------------------------------------------------------- patients
    def list_patients(self, query: str | None = None) -> list[dict]:
        sql = """
            SELECT p.*,
              (SELECT COUNT(*) FROM visits v WHERE v.patient_id = p.id) AS n_visits,
              (SELECT MAX(visit_date) FROM visits v WHERE v.patient_id = p.id) AS last_visit,
              (SELECT COUNT(*) FROM visits v WHERE v.patient_id = p.id
                 AND v.status IN ('queued', 'running')) AS n_pending,
              (SELECT COUNT(*) FROM sessions s WHERE s.profile = p.identifier
                 AND s.id NOT IN (SELECT session_id FROM visits WHERE session_id IS NOT NULL))
                 AS n_home
            FROM patients p"""
        params: tuple = ()
        if query:
            like = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            sql += (" WHERE p.identifier LIKE ? ESCAPE '\\' OR p.diagnosis LIKE ? ESCAPE '\\'"
                    " OR p.notes LIKE ? ESCAPE '\\'")
            params = (like, like, like)
        with self.connect() as c:
            return [dict(r) for r in c.execute(sql + " ORDER BY p.identifier COLLATE NOCASE",
                                               params)]

    def home_profiles_without_patient(self) -> list[dict]:
        """Profiles of home sessions that no patient is named after yet."""
        with self.connect() as c:
            return [dict(r) for r in c.execute(
                "SELECT profile, COUNT(*) AS n, MAX(started_at) AS last FROM sessions "
                "WHERE profile NOT IN (SELECT identifier FROM patients) AND id NOT IN "
                "(SELECT session_id FROM visits WHERE session_id IS NOT NULL) "
                "GROUP BY profile ORDER BY profile")]

    def get_patient(self, patient_id: int) -> dict | None:
        with self.connect() as c:
            row = c.execute("SELECT * FROM patients WHERE id = ?", (patient_id,)).fetchone()
            return dict(row) if row else None

    def create_patient(self, identifier: str, affected_side: str | None = None,
                       diagnosis: str | None = None, notes: str | None = None) -> int:
        identifier = clean_identifier(identifier)
        try:
            with self.connect() as c, c:
                cursor = c.execute(
                    "INSERT INTO patients (identifier, affected_side, diagnosis, notes, "
                    "created_at) VALUES (?, ?, ?, ?, ?)",
                    (identifier, clean_side(affected_side), clean_text(diagnosis),
                     clean_text(notes), now()))
                return int(cursor.lastrowid)
        except sqlite3.IntegrityError:
            raise InputError(f"a patient {identifier!r} exists already") from None

    def update_patient(self, patient_id: int, identifier: str, affected_side: str | None,
                       diagnosis: str | None, notes: str | None) -> None:
        """Edit a patient; renaming also renames the profile of their home sessions."""
        identifier = clean_identifier(identifier)
        try:
            with self.connect() as c, c:
                old = c.execute("SELECT identifier FROM patients WHERE id = ?",
                                (patient_id,)).fetchone()
                if old is None:
                    raise InputError("no such patient")
                c.execute("UPDATE patients SET identifier = ?, affected_side = ?, diagnosis = ?,"
                          " notes = ? WHERE id = ?",
                          (identifier, clean_side(affected_side), clean_text(diagnosis),
                           clean_text(notes), patient_id))
                c.execute("UPDATE sessions SET profile = ? WHERE profile = ?",
                          (identifier, old["identifier"]))
        except sqlite3.IntegrityError:
            raise InputError(f"a patient {identifier!r} exists already") from None

    def delete_patient(self, patient_id: int) -> bool:
        """Delete a patient with all it holds: visits (files included), treatments, and the
        home sessions recorded under its identifier (their report folders too when they lie
        in the data folder)."""
        folders: list[Path] = []
        with self.connect() as c, c:
            patient = c.execute("SELECT * FROM patients WHERE id = ?", (patient_id,)).fetchone()
            if patient is None:
                return False
            visits = c.execute("SELECT id, folder, session_id FROM visits WHERE patient_id = ?",
                               (patient_id,)).fetchall()
            sessions = c.execute("SELECT id, report_path FROM sessions WHERE profile = ?",
                                 (patient["identifier"],)).fetchall()
            history.delete_sessions(c, [s["id"] for s in sessions]
                                    + [v["session_id"] for v in visits if v["session_id"]])
            c.execute("DELETE FROM visits WHERE patient_id = ?", (patient_id,))
            c.execute("DELETE FROM treatments WHERE patient_id = ?", (patient_id,))
            c.execute("DELETE FROM patients WHERE id = ?", (patient_id,))
        folders += [self.visit_dir(v) for v in visits]
        for s in sessions:
            if s["report_path"]:
                folders.append(Path(s["report_path"]).parent)
        for folder in folders:
            self._remove_inside(folder)
        return True

    def _remove_inside(self, folder: Path) -> None:
        """Remove a folder, but only one inside the data folder."""
        try:
            resolved = folder.resolve()
            root = self.root.resolve()
        except OSError:
            return
        if resolved != root and root in resolved.parents and resolved.is_dir():
            shutil.rmtree(resolved, ignore_errors=True)

    # -------------------------------------------------------------- treatments
    def treatments(self, patient_id: int) -> list[dict]:
        with self.connect() as c:
            return [dict(r) for r in c.execute(
                "SELECT * FROM treatments WHERE patient_id = ? ORDER BY date, id", (patient_id,))]

    def add_treatment(self, patient_id: int, date: str, label: str | None) -> int:
        date = clean_date(date)
        with self.connect() as c, c:
            cursor = c.execute("INSERT INTO treatments (patient_id, date, label) VALUES (?, ?, ?)",
                               (patient_id, date, clean_text(label, 200)))
            return int(cursor.lastrowid)

    def delete_treatment(self, treatment_id: int) -> int | None:
        """Returns the patient the treatment belonged to."""
        with self.connect() as c, c:
            row = c.execute("SELECT patient_id FROM treatments WHERE id = ?",
                            (treatment_id,)).fetchone()
            c.execute("DELETE FROM treatments WHERE id = ?", (treatment_id,))
            return row["patient_id"] if row else None

    # ------------------------------------------------------------------ visits
    def new_visit_folder(self) -> tuple[str, Path]:
        name = uuid.uuid4().hex
        path = self.visits_dir / name
        path.mkdir(parents=True)
        return name, path

    def visit_dir(self, visit: dict | sqlite3.Row) -> Path:
        # Folder names are generated (uuid hex); checked again here all the same.
        name = visit["folder"]
        if not re.fullmatch(r"[0-9a-f]{32}", name):
            raise ValueError(f"bad visit folder name {name!r}")
        return self.visits_dir / name

    def recording_path(self, visit: dict) -> Path:
        return self.visit_dir(visit) / visit["recording"]

    def report_dir(self, visit: dict) -> Path:
        return self.visit_dir(visit) / "report"

    def create_visit(self, patient_id: int, folder: str, recording: str, original_name: str,
                     size_bytes: int, kind: str, n_frames: int | None, visit_date: str,
                     date_source: str, mirrored: bool, segments: str | None) -> int:
        with self.connect() as c, c:
            cursor = c.execute(
                "INSERT INTO visits (patient_id, visit_date, date_source, folder, recording, "
                "original_name, size_bytes, kind, n_frames, mirrored, segments, status, "
                "queued_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?)",
                (patient_id, visit_date, date_source, folder, recording,
                 clean_text(original_name, 255), size_bytes, kind, n_frames, int(mirrored),
                 segments, now()))
            return int(cursor.lastrowid)

    def get_visit(self, visit_id: int) -> dict | None:
        with self.connect() as c:
            row = c.execute("SELECT * FROM visits WHERE id = ?", (visit_id,)).fetchone()
            return dict(row) if row else None

    def visits(self, patient_id: int) -> list[dict]:
        with self.connect() as c:
            return [dict(r) for r in c.execute(
                "SELECT v.*, (SELECT COUNT(*) FROM visits q WHERE q.status = 'running' OR "
                "(q.status = 'queued' AND (q.queued_at < v.queued_at OR "
                "(q.queued_at = v.queued_at AND q.id < v.id)))) "
                "AS queue_ahead FROM visits v WHERE patient_id = ? ORDER BY visit_date, id",
                (patient_id,))]

    def queue_position(self, visit: dict) -> int:
        """How many visits will be analysed before this queued one (the running one too)."""
        with self.connect() as c:
            return int(c.execute(
                "SELECT COUNT(*) FROM visits WHERE status = 'running' OR (status = 'queued' AND "
                "(queued_at < ? OR (queued_at = ? AND id < ?)))",
                (visit["queued_at"], visit["queued_at"], visit["id"])).fetchone()[0])

    def update_visit(self, visit_id: int, visit_date: str, notes: str | None) -> None:
        visit_date = clean_date(visit_date, with_time=True)
        with self.connect() as c, c:
            old = c.execute("SELECT visit_date, session_id FROM visits WHERE id = ?",
                            (visit_id,)).fetchone()
            if old is None:
                raise InputError("no such visit")
            source = "edited" if old["visit_date"] != visit_date else None
            c.execute("UPDATE visits SET visit_date = ?, notes = ?, "
                      "date_source = COALESCE(?, date_source) WHERE id = ?",
                      (visit_date, clean_text(notes), source, visit_id))
            if old["session_id"]:
                c.execute("UPDATE sessions SET started_at = ? WHERE id = ?",
                          (visit_date, old["session_id"]))

    def delete_visit(self, visit_id: int) -> int | None:
        """Delete a visit, its files and its measured rows; returns its patient."""
        with self.connect() as c, c:
            visit = c.execute("SELECT * FROM visits WHERE id = ?", (visit_id,)).fetchone()
            if visit is None:
                return None
            if visit["session_id"]:
                history.delete_sessions(c, [visit["session_id"]])
            c.execute("DELETE FROM visits WHERE id = ?", (visit_id,))
        self._remove_inside(self.visit_dir(visit))
        return visit["patient_id"]

    def requeue(self, visit_id: int, mirrored: bool, segments: str | None) -> None:
        with self.connect() as c, c:
            c.execute("UPDATE visits SET status = 'queued', progress = 0, phase = NULL, "
                      "error = NULL, mirrored = ?, segments = ?, queued_at = ?, "
                      "started_at = NULL, finished_at = NULL WHERE id = ? AND status != 'running'",
                      (int(mirrored), segments, now(), visit_id))

    # ------------------------------------------------------------ the queue
    def claim_next(self) -> dict | None:
        """Mark the oldest queued visit running and return it (None when the queue is empty)."""
        with self.connect() as c, c:
            c.execute("BEGIN IMMEDIATE")
            row = c.execute("SELECT * FROM visits WHERE status = 'queued' "
                            "ORDER BY queued_at, id LIMIT 1").fetchone()
            if row is None:
                return None
            c.execute("UPDATE visits SET status = 'running', progress = 0, phase = 'starting',"
                      " started_at = ? WHERE id = ?", (now(), row["id"]))
            return dict(row)

    def set_progress(self, visit_id: int, progress: float, phase: str) -> None:
        with self.connect() as c, c:
            c.execute("UPDATE visits SET progress = ?, phase = ? WHERE id = ? AND "
                      "status = 'running'", (float(progress), phase, visit_id))

    def finish_visit(self, visit_id: int, summary: dict, report_path: Path) -> bool:
        """Record a finished analysis: its per-movement rows join the patient's sessions, in
        one transaction with the visit's new status. False when the visit was deleted."""
        with self.connect() as c, c:
            visit = c.execute("SELECT v.*, p.identifier FROM visits v JOIN patients p ON "
                              "p.id = v.patient_id WHERE v.id = ?", (visit_id,)).fetchone()
            if visit is None:
                return False
            if visit["session_id"]:
                history.delete_sessions(c, [visit["session_id"]])
            session_id = history.insert_session(c, visit["identifier"], summary,
                                                str(report_path), "clinic visit",
                                                started_at=visit["visit_date"])
            c.execute("UPDATE visits SET status = 'done', progress = 1, phase = NULL, "
                      "error = NULL, finished_at = ?, session_id = ? WHERE id = ?",
                      (now(), session_id, visit_id))
        return True

    def fail_visit(self, visit_id: int, reason: str) -> bool:
        with self.connect() as c, c:
            cursor = c.execute(
                "UPDATE visits SET status = 'failed', phase = NULL, error = ?, finished_at = ? "
                "WHERE id = ?", (one_line(reason), now(), visit_id))
            return cursor.rowcount > 0

    def requeue_running(self) -> int:
        """At start-up: analyses cut off by a stop go back to the queue."""
        with self.connect() as c, c:
            return c.execute("UPDATE visits SET status = 'queued', progress = 0, phase = NULL "
                             "WHERE status = 'running'").rowcount

    def fail_running(self, reason: str) -> int:
        with self.connect() as c, c:
            return c.execute("UPDATE visits SET status = 'failed', phase = NULL, error = ?, "
                             "finished_at = ? WHERE status = 'running'",
                             (one_line(reason), now())).rowcount

    # ---------------------------------------------------------------- timeline
    def measured_sessions(self, identifier: str) -> list[dict]:
        """Every measured session of a patient, oldest first: clinic visits (with their visit
        id) and home sessions, each with its per-movement rows."""
        with self.connect() as c:
            sessions = [dict(r) for r in c.execute(
                "SELECT s.*, v.id AS visit_id FROM sessions s LEFT JOIN visits v ON "
                "v.session_id = s.id WHERE s.profile = ? ORDER BY s.started_at, s.id",
                (identifier,))]
            for s in sessions:
                s["movements"] = {r["movement"]: dict(r) for r in c.execute(
                    "SELECT * FROM movements WHERE session_id = ?", (s["id"],))}
        return sessions

    def get_session(self, session_id: int) -> dict | None:
        with self.connect() as c:
            row = c.execute("SELECT * FROM sessions WHERE id = ?", (session_id,)).fetchone()
            return dict(row) if row else None


def one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line[:limit - 1] + "…" if len(line) > limit else line
