"""Home sessions carried to the clinic as one file: export and import.

An export is one UTF-8 JSON file::

    {"format": "facescore-sessions", "version": 1, "sha256": "<hex>",
     "content": {"profile": ..., "exported_at": ..., "facescore": ...,
                 "sessions": [{"started_at": ..., "source": ..., "movements": [...],
                               "report_html": ... or null, "report_json": ... or null}]}}

``sha256`` is the SHA-256 of ``content`` written canonically (keys sorted, no spaces, UTF-8),
so a file that was cut short, damaged or edited is refused as a whole. Sessions carry their
per-movement rows (the history's ``movements`` table: what the timeline plots) and their
reports, so the clinic can open them. Importing adds them to a profile's history in one
transaction; sessions already there (same start time and rows) are not added twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from . import __version__, history
from .errors import FacescoreError

FORMAT = "facescore-sessions"
VERSION = 1
#: Largest export read, bytes (a session's report with its key frames is ~0.2-0.5 MB).
MAX_BYTES = 256 << 20
#: The columns of a movement row carried in an export.
MOVEMENT_FIELDS = ("movement", "repetitions", "symmetry_pct", "left_mm", "right_mm",
                   "weaker_side")

_NUMBER = {"type": ["number", "null"]}
SCHEMA = {
    "type": "object",
    "required": ["profile", "exported_at", "sessions"],
    "properties": {
        "profile": {"type": "string", "minLength": 1, "maxLength": 400},
        "exported_at": {"type": "string"},
        "facescore": {"type": "string"},
        "sessions": {"type": "array", "items": {
            "type": "object",
            "required": ["started_at", "movements"],
            "properties": {
                "started_at": {"type": "string",
                               "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$"},
                "source": {"type": ["string", "null"], "maxLength": 400},
                "report_html": {"type": ["string", "null"]},
                "report_json": {"type": ["object", "null"]},
                "movements": {"type": "array", "maxItems": 50, "items": {
                    "type": "object",
                    "required": list(MOVEMENT_FIELDS),
                    "properties": {
                        "movement": {"type": "string", "pattern": r"^[a-z_]{1,40}$"},
                        "repetitions": {"type": "integer", "minimum": 0},
                        "symmetry_pct": _NUMBER, "left_mm": _NUMBER, "right_mm": _NUMBER,
                        "weaker_side": {"enum": ["left", "right", None]},
                    },
                    "additionalProperties": False,
                }},
            },
            "additionalProperties": False,
        }},
    },
}


@dataclass(frozen=True)
class ImportResult:
    """What an import did."""

    profile: str  # the profile the sessions joined
    from_profile: str  # the profile they were exported from
    imported: list[int]  # new sessions' ids in the history
    already: int  # sessions that were there already (not added again)


def _canonical(content: dict) -> bytes:
    return json.dumps(content, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, allow_nan=False).encode("utf-8")


def _read_report(path: str | None) -> tuple[str | None, dict | None]:
    """A session's report.html and report.json, when they are on this machine."""
    if not path:
        return None, None
    html_path = Path(path)
    if html_path.name != "report.html":
        return None, None
    html = json_report = None
    with contextlib.suppress(OSError, UnicodeDecodeError):
        html = html_path.read_text(encoding="utf-8")
    with contextlib.suppress(OSError, ValueError):
        json_report = json.loads(html_path.with_name("report.json").read_text(encoding="utf-8"))
    return html, json_report if isinstance(json_report, dict) else None


def export_sessions(connection: sqlite3.Connection, profile: str,
                    session_ids: list[int] | None = None) -> bytes:
    """One profile's home sessions (all, or those in ``session_ids``) as an export file.

    Clinic visits recorded in the same history are left out: they are the clinic's own.

    Raises
    ------
    FacescoreError
        When there is no such session.
    """
    rows = connection.execute(
        "SELECT id, started_at, source, report_path FROM sessions WHERE profile = ? AND id NOT "
        "IN (SELECT session_id FROM visits WHERE session_id IS NOT NULL) "
        "ORDER BY started_at, id", (profile,)).fetchall()
    if session_ids is not None:
        wanted = set(session_ids)
        rows = [r for r in rows if r[0] in wanted]
    if not rows:
        raise FacescoreError(f"no home session of {profile!r} to export")
    sessions = []
    for session_id, started_at, source, report_path in rows:
        movements = [dict(zip(MOVEMENT_FIELDS, m, strict=True)) for m in connection.execute(
            f"SELECT {', '.join(MOVEMENT_FIELDS)} FROM movements WHERE session_id = ? "
            "ORDER BY movement", (session_id,))]
        html, report = _read_report(report_path)
        sessions.append({"started_at": started_at, "source": source, "movements": movements,
                         "report_html": html, "report_json": report})
    content = {"profile": profile, "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
               "facescore": __version__, "sessions": sessions}
    body = {"format": FORMAT, "version": VERSION,
            "sha256": hashlib.sha256(_canonical(content)).hexdigest(), "content": content}
    return json.dumps(body, ensure_ascii=False, allow_nan=False, indent=1).encode("utf-8")


def file_name(profile: str, session_id: int | None = None) -> str:
    """A file name for an export: ``facescore-<profile>-<date>[-session-<id>].json``."""
    part = f"-session-{session_id}" if session_id is not None else ""
    return f"facescore-{history.profile_folder(profile)}-{time.strftime('%Y-%m-%d')}{part}.json"


def read_export(data: bytes) -> dict:
    """The checked ``content`` of an export file.

    Raises
    ------
    FacescoreError
        In one line, when the file is not a facescore export, is of a newer version, or was
        cut short, damaged or edited.
    """
    import jsonschema

    if len(data) > MAX_BYTES:
        raise FacescoreError(f"not a facescore export (larger than {MAX_BYTES >> 20} MB)")
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise FacescoreError("not a facescore export (not a JSON file)") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise FacescoreError("not a facescore export (no facescore-sessions format marker)")
    version = body.get("version")
    if not isinstance(version, int) or version < 1:
        raise FacescoreError("not a facescore export (no version)")
    if version > VERSION:
        raise FacescoreError(f"a facescore export of a newer version ({version}); this "
                             f"facescore reads version {VERSION}: update it")
    content = body.get("content")
    if not isinstance(content, dict) or not isinstance(body.get("sha256"), str):
        raise FacescoreError("a damaged facescore export (no content or checksum)")
    try:
        digest = hashlib.sha256(_canonical(content)).hexdigest()
    except ValueError:
        digest = ""
    if digest != body["sha256"].lower():
        raise FacescoreError("a damaged or edited facescore export (its checksum does not "
                             "match its content)")
    try:
        jsonschema.validate(content, SCHEMA)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "content"
        raise FacescoreError(f"a damaged facescore export ({where}: "
                             f"{' '.join(exc.message.split())[:160]})") from None
    return content


def _key(started_at: str, movements) -> tuple:
    """What makes two sessions the same: start time and rows (numbers to 0.01)."""
    rows = sorted((m["movement"], m["repetitions"],
                   *(None if m[k] is None else round(float(m[k]), 2)
                     for k in ("symmetry_pct", "left_mm", "right_mm")), m["weaker_side"])
                  for m in movements)
    return started_at, tuple(rows)


def import_sessions(connection: sqlite3.Connection, content: dict, profile: str,
                    reports_dir: Path) -> ImportResult:
    """Add an export's sessions (``content`` from :func:`read_export`) to ``profile``'s
    history, with their reports under ``reports_dir`` (one folder each).

    All or nothing: the reports are written first, the rows in one transaction, and the
    reports are removed again if that fails.
    """
    existing = set()
    for session_id, started_at in connection.execute(
            "SELECT id, started_at FROM sessions WHERE profile = ?", (profile,)).fetchall():
        rows = [dict(zip(MOVEMENT_FIELDS, m, strict=True)) for m in connection.execute(
            f"SELECT {', '.join(MOVEMENT_FIELDS)} FROM movements WHERE session_id = ?",
            (session_id,))]
        existing.add(_key(started_at, rows))
    new, already = [], 0
    for session in content["sessions"]:
        key = _key(session["started_at"], session["movements"])
        if key in existing:
            already += 1
            continue
        existing.add(key)
        new.append(session)
    written: list[Path] = []
    try:
        reports = []
        for session in new:
            path = None
            if session.get("report_html"):
                folder = reports_dir / f"imported-{uuid.uuid4().hex[:12]}"
                folder.mkdir(parents=True)
                written.append(folder)
                (folder / "report.html").write_text(session["report_html"], encoding="utf-8")
                if session.get("report_json") is not None:
                    (folder / "report.json").write_text(json.dumps(session["report_json"]),
                                                        encoding="utf-8")
                path = str(folder / "report.html")
            reports.append(path)
        ids = []
        with connection:
            for session, path in zip(new, reports, strict=True):
                summary = {"per_movement": {m["movement"]: {
                    "repetitions": m["repetitions"], "symmetry_pct": m["symmetry_pct"],
                    "left": m["left_mm"], "right": m["right_mm"],
                    "weaker_side": m["weaker_side"]} for m in session["movements"]}}
                source = session.get("source") or "home session"
                if not source.endswith("(imported)"):
                    source += " (imported)"
                ids.append(history.insert_session(connection, profile, summary, path,
                                                  source[:400], session["started_at"]))
    except BaseException:
        for folder in written:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return ImportResult(profile, content["profile"], ids, already)
