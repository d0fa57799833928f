"""Home sessions exported as one file and imported elsewhere (facescore.transfer), and the
command line over it."""

import json
import sqlite3
from pathlib import Path

import pytest

from facescore import history, transfer
from facescore.cli import main
from facescore.errors import FacescoreError

SUMMARY = {"per_movement": {
    "smile": {"repetitions": 1, "symmetry_pct": 51.2, "left": 7.8, "right": 4.0,
              "weaker_side": "right"},
    "brow_raise": {"repetitions": 1, "symmetry_pct": None, "left": 0.4, "right": 0.3,
                   "weaker_side": None}}}


@pytest.fixture()
def home(tmp_path):
    """A history with two home sessions of 'anna' (one with its report) and one of 'ben'."""
    db = tmp_path / "home" / "history.sqlite"
    report = tmp_path / "home" / "sessions" / "anna" / "1" / "report.html"
    report.parent.mkdir(parents=True)
    report.write_text("<html>anna's report</html>")
    (report.parent / "report.json").write_text('{"summary": {}}')
    connection = history.connect(db)
    history.record_session(connection, "anna", SUMMARY, str(report), "browser camera",
                           "2025-03-01T10:00:00")
    history.record_session(connection, "anna", SUMMARY, None, "camera 0",
                           "2025-03-08T10:00:00")
    history.record_session(connection, "ben", SUMMARY, None, "camera 0")
    connection.close()
    return db


def _rows(db, profile):
    with sqlite3.connect(db) as connection:
        return history.history_table(connection, profile)


def test_export_then_import_gives_the_same_rows(home, tmp_path):
    with sqlite3.connect(home) as connection:
        data = transfer.export_sessions(connection, "anna")
    content = transfer.read_export(data)
    assert content["profile"] == "anna" and len(content["sessions"]) == 2
    clinic = tmp_path / "clinic" / "history.sqlite"
    connection = history.connect(clinic)
    result = transfer.import_sessions(connection, content, "P-017", tmp_path / "clinic" / "r")
    connection.close()
    assert len(result.imported) == 2 and result.already == 0 and result.from_profile == "anna"
    before, after = _rows(home, "anna"), _rows(clinic, "P-017")
    columns = ["started_at", "movement", "symmetry_pct", "left_mm", "right_mm", "weaker_side"]
    assert before[columns].equals(after[columns])
    reports = list(after["report_path"].dropna().unique())
    assert len(reports) == 1
    assert Path(reports[0]).read_text() == "<html>anna's report</html>"
    # Imported again: nothing is added twice.
    connection = history.connect(clinic)
    again = transfer.import_sessions(connection, content, "P-017", tmp_path / "clinic" / "r")
    connection.close()
    assert again.imported == [] and again.already == 2
    assert len(_rows(clinic, "P-017")) == len(after)


def test_one_session_can_be_exported(home):
    with sqlite3.connect(home) as connection:
        first = int(history.history_table(connection, "anna")["session"].iloc[0])
        content = transfer.read_export(transfer.export_sessions(connection, "anna", [first]))
        assert [s["started_at"] for s in content["sessions"]] == ["2025-03-01T10:00:00"]
        with pytest.raises(FacescoreError, match="no home session"):
            transfer.export_sessions(connection, "nobody")


def _edited(data: bytes, change) -> bytes:
    body = json.loads(data)
    change(body)
    return json.dumps(body).encode()


@pytest.mark.parametrize(("make", "message"), [
    (lambda d: b"\x89PNG\r\n\x1a\n binary", "not a facescore export"),
    (lambda d: b'{"hello": "world"}', "not a facescore export"),
    (lambda d: b"[1, 2, 3]", "not a facescore export"),
    (lambda d: d[:len(d) // 2], "not a facescore export"),  # cut short: no longer JSON
    (lambda d: _edited(d, lambda b: b["content"]["sessions"][0]["movements"][0]
                       .update(symmetry_pct=99.0)), "checksum does not match"),
    (lambda d: _edited(d, lambda b: b.update(version=7)), "newer version"),
    (lambda d: _edited(d, lambda b: b.pop("sha256")), "damaged"),
])
def test_anything_but_an_intact_export_is_refused_in_one_line(home, make, message):
    with sqlite3.connect(home) as connection:
        data = transfer.export_sessions(connection, "anna")
    with pytest.raises(FacescoreError, match=message) as caught:
        transfer.read_export(make(data))
    assert "\n" not in str(caught.value)


def test_a_well_sealed_export_with_impossible_content_is_refused(home):
    """The checksum says the file is as written; the schema says what it may hold."""
    import hashlib

    with sqlite3.connect(home) as connection:
        body = json.loads(transfer.export_sessions(connection, "anna"))
    body["content"]["sessions"][0]["movements"][0]["weaker_side"] = "middle"
    body["sha256"] = hashlib.sha256(transfer._canonical(body["content"])).hexdigest()
    with pytest.raises(FacescoreError, match="damaged.*weaker_side"):
        transfer.read_export(json.dumps(body).encode())


def test_a_failed_import_writes_nothing(home, tmp_path, monkeypatch):
    with sqlite3.connect(home) as connection:
        content = transfer.read_export(transfer.export_sessions(connection, "anna"))
    clinic = tmp_path / "clinic.sqlite"
    connection = history.connect(clinic)

    def broken(*args, **kwargs):
        raise sqlite3.OperationalError("disk full")

    calls = iter([None])  # the first session goes in, the second fails

    def second_fails(*args, **kwargs):
        if next(calls, "fail") == "fail":
            broken()
        return original(*args, **kwargs)

    original = history.insert_session
    monkeypatch.setattr(history, "insert_session", second_fails)
    with pytest.raises(sqlite3.OperationalError):
        transfer.import_sessions(connection, content, "P", tmp_path / "reports")
    connection.close()
    assert _rows(clinic, "P").empty
    assert not any((tmp_path / "reports").rglob("*.html"))


def test_command_line_export_and_import(home, tmp_path, capsys):
    out = tmp_path / "anna.json"
    assert main(["history", "--profile", "anna", "--db", str(home), "--export", str(out)]) == 0
    clinic = tmp_path / "clinic" / "history.sqlite"
    assert main(["history", "--db", str(clinic), "--import", str(out)]) == 0
    assert "imported 2 session(s) into profile 'anna'" in capsys.readouterr().out
    assert len(_rows(clinic, "anna")) == len(_rows(home, "anna"))
    junk = tmp_path / "notes.json"
    junk.write_text('{"notes": 1}')
    assert main(["history", "--db", str(clinic), "--import", str(junk)]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a facescore export" in err and len(err.splitlines()) == 1
    assert main(["history", "--db", str(home), "--export", str(out)]) == 2  # whose?
