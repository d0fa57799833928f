"""The clinic app over HTTP: what it refuses, what it renders inert, and a real server that
keeps answering while it analyses, survives a restart with work queued and stops on Ctrl-C."""

from __future__ import annotations

import json
import re
import sqlite3
import time
import warnings
from pathlib import Path

import numpy as np
import psutil
import pytest
from clips import write_video
from conftest import FAST_TIMING
from test_app_support import SHORT, Server, app_exams  # noqa: F401 (a fixture)

from facescore import history
from facescore.app.server import Config, create_app
from facescore.app.store import Store

with warnings.catch_warnings():  # Starlette now prefers httpx2 to httpx; both work
    warnings.simplefilter("ignore", UserWarning)
    from fastapi.testclient import TestClient

BASE = "http://127.0.0.1:8765"
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _client(data: Path, **config) -> TestClient:
    """The app in-process, without its analysis worker (uploads just queue)."""
    app = create_app(Config(data_dir=data, start_worker=False, **config))
    return TestClient(app, base_url=BASE, follow_redirects=False)


def _csrf(client: TestClient) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").text).group(1)


def _patient(client: TestClient, identifier: str = "p1", **fields) -> int:
    response = client.post("/patients", data={"csrf": _csrf(client), "identifier": identifier,
                                              **fields}, headers={"Origin": BASE})
    assert response.status_code == 303, response.text
    return int(response.headers["location"].rsplit("/", 1)[1])


def _upload(client: TestClient, patient: int, body, name: str = "exam.mp4", **params):
    return client.post(f"/patients/{patient}/visits", params=params, content=body,
                       headers={"X-CSRF-Token": _csrf(client), "X-Filename": name})


def _nothing_stored(data: Path) -> None:
    assert list((data / "uploads").iterdir()) == []
    assert list((data / "visits").iterdir()) == []
    with sqlite3.connect(data / "history.sqlite") as c:
        assert c.execute("SELECT COUNT(*) FROM visits").fetchone()[0] == 0


def test_non_video_uploads_are_refused_and_nothing_is_stored(tmp_path):
    client = _client(tmp_path)
    patient = _patient(client)
    fake_video = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 4000  # an mp4 header, no video
    for body, name in ((b"hello, not a video", "notes.txt"),
                       (b"<html><script>alert(1)</script></html>", "page.mp4"),
                       (b"%PDF-1.4\n" + b"x" * 2000, "scan.pdf"),
                       (b"#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd\n", "list.m3u8"),
                       (fake_video, "broken.mp4")):
        response = _upload(client, patient, body, name)
        assert response.status_code == 415, (name, response.text)
        assert "Refused" in response.json()["error"]
    assert _upload(client, patient, b"").status_code == 400
    _nothing_stored(tmp_path)


def test_oversized_uploads_are_refused_and_nothing_is_stored(tmp_path, app_exams):  # noqa: F811
    client = _client(tmp_path, max_upload_bytes=50_000)
    patient = _patient(client)
    video = app_exams["weak"].read_bytes()
    assert len(video) > 50_000
    declared = _upload(client, patient, video)  # refused on its Content-Length, unread
    assert declared.status_code == 413 and "larger" in declared.json()["error"]

    def chunks():  # no Content-Length: refused once the limit is passed
        for i in range(0, len(video), 16_384):
            yield video[i:i + 16_384]

    streamed = _upload(client, patient, chunks())
    assert streamed.status_code == 413
    _nothing_stored(tmp_path)


def test_an_accepted_upload_is_stored_under_a_generated_name(tmp_path, app_exams):  # noqa: F811
    client = _client(tmp_path)
    patient = _patient(client)
    evil = "../../../../tmp/evil/../x.mp4"
    response = _upload(client, patient, app_exams["weak"].read_bytes(), name=evil,
                       segments="0.8, 1.8, brow_raise\n2.4, 3.4, smile")
    assert response.status_code == 201, response.text
    visit = response.json()["visit"]
    folders = list((tmp_path / "visits").iterdir())
    assert len(folders) == 1 and re.fullmatch(r"[0-9a-f]{32}", folders[0].name)
    assert [f.name for f in folders[0].iterdir()] == ["recording.mp4"]
    assert not (tmp_path / "x.mp4").exists() and not Path("/tmp/x.mp4").exists()
    page = client.get(f"/visits/{visit}").text
    assert "../../../../tmp/evil/../x.mp4" in page  # shown as text, never used as a path
    stored = Store(tmp_path).get_visit(visit)
    assert stored["segments"] == "start,end,movement\n0.8,1.8,brow_raise\n2.4,3.4,smile\n"
    # Paths built from the URL reach no file outside what the app generated.
    for path in ("/static/../history.sqlite", "/static/%2e%2e/history.sqlite",
                 f"/visits/{visit}/images/..%2F..%2F..%2Fhistory.sqlite/x",
                 f"/visits/{visit}/images/../../history.sqlite"):
        response = client.get(path)
        assert response.status_code in (404, 400), path
        assert b"SQLite" not in response.content
    bad = _upload(client, patient, app_exams["weak"].read_bytes(), segments="1, 2, wink")
    assert bad.status_code == 400 and "unknown movement" in bad.json()["error"]


def test_user_text_holding_html_and_script_is_rendered_inert(tmp_path, app_exams):  # noqa: F811
    client = _client(tmp_path)
    patient = _patient(client, XSS, diagnosis=XSS, notes=XSS)
    csrf = _csrf(client)
    client.post(f"/patients/{patient}/treatments", data={"csrf": csrf, "date": "2025-01-02",
                                                         "label": XSS})
    visit = _upload(client, patient, app_exams["weak"].read_bytes(), name=XSS).json()["visit"]
    client.post(f"/visits/{visit}/edit", data={"csrf": csrf, "visit_date": "2025-01-01T10:00",
                                               "notes": XSS})
    for path in ("/", f"/?q={XSS}", f"/patients/{patient}", f"/visits/{visit}"):
        response = client.get(path)
        assert response.status_code == 200
        assert "<script>alert" not in response.text and "<img src=x" not in response.text
        assert "&lt;script&gt;alert(" in response.text, path
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1]
    # The shell command shown for home sessions quotes the identifier for the shell too.
    assert "--profile &#39;&lt;script&gt;" in client.get(f"/patients/{patient}").text


def test_requests_from_another_origin_are_refused(tmp_path, app_exams):  # noqa: F811
    client = _client(tmp_path)
    patient = _patient(client)
    csrf = _csrf(client)
    form = {"csrf": csrf, "identifier": "mallory"}
    assert client.post("/patients", data=form,
                       headers={"Origin": "http://evil.example"}).status_code == 403
    assert client.post("/patients", data=form, headers={"Origin": "null"}).status_code == 403
    assert client.post("/patients", data=form,
                       headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert client.post("/patients", data=form,
                       headers={"Referer": "http://evil.example/page"}).status_code == 403
    no_token = client.post("/patients", data={"identifier": "mallory"})
    assert no_token.status_code == 403
    wrong = client.post(f"/patients/{patient}/delete", data={"csrf": "guess", "confirm": "yes"})
    assert wrong.status_code == 403
    upload = client.post(f"/patients/{patient}/visits", content=app_exams["weak"].read_bytes(),
                         headers={"Origin": "http://evil.example", "X-CSRF-Token": csrf})
    assert upload.status_code == 403
    assert client.post(f"/patients/{patient}/visits",
                       content=app_exams["weak"].read_bytes()).status_code == 403
    assert [p["identifier"] for p in Store(tmp_path).list_patients()] == ["p1"]
    _nothing_stored(tmp_path)
    # A page reached through another host name (DNS rebinding) is not served at all.
    assert client.get("/", headers={"Host": "evil.example:8765"}).status_code == 400


def test_off_loopback_every_request_needs_the_token(tmp_path):
    client = _client(tmp_path, host="0.0.0.0", token="s3cret-token")
    assert client.get("/", headers={"Host": "10.1.2.3:8765"}).status_code == 401
    assert client.get("/static/app.css").status_code == 401
    assert client.get("/?token=wrong").status_code == 401
    entry = client.get("/?token=s3cret-token")
    assert entry.status_code == 303 and entry.headers["location"] == "/"
    assert "httponly" in entry.headers["set-cookie"].lower()
    assert "samesite=strict" in entry.headers["set-cookie"].lower()
    assert client.get("/").status_code == 200  # the cookie carries it now
    client.cookies.clear()
    assert client.get("/", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200


def test_visit_date_comes_from_the_video_metadata_and_is_editable(tmp_path):

    video = tmp_path / "dated.mp4"
    write_video(video, [np.full((64, 64, 3), 40 * i, np.uint8) for i in range(5)], fps=10,
                metadata={"creation_time": "2024-03-05T10:20:30.000000Z"})
    from datetime import datetime

    expected = datetime.fromisoformat("2024-03-05T10:20:30+00:00").astimezone()
    client = _client(tmp_path / "data")
    patient = _patient(client)
    reply = _upload(client, patient, video.read_bytes()).json()
    assert reply["date"] == expected.strftime("%Y-%m-%dT%H:%M:%S")
    assert reply["date_source"] == "video metadata"
    csrf = _csrf(client)
    edited = client.post(f"/visits/{reply['visit']}/edit",
                         data={"csrf": csrf, "visit_date": "2024-03-07T09:15", "notes": "n"})
    assert edited.status_code == 303
    visit = Store(tmp_path / "data").get_visit(reply["visit"])
    assert (visit["visit_date"], visit["date_source"]) == ("2024-03-07T09:15:00", "edited")
    bad = client.post(f"/visits/{reply['visit']}/edit",
                      data={"csrf": csrf, "visit_date": "yesterday"})
    assert bad.status_code == 400


def test_search_and_deleting_a_patient_removes_all_it_holds(tmp_path, app_exams):  # noqa: F811
    client = _client(tmp_path)
    anna = _patient(client, "anna", diagnosis="Bell's palsy")
    _patient(client, "bert", diagnosis="acoustic neuroma")
    assert "anna" in client.get("/?q=bell").text and "bert" not in client.get("/?q=bell").text
    assert "bert" in client.get("/?q=NEUROMA").text
    _upload(client, anna, app_exams["weak"].read_bytes())
    home = tmp_path / "sessions" / "anna" / "s1"
    home.mkdir(parents=True)
    (home / "report.html").write_text("<p>home</p>")
    summary = {"per_movement": {"smile": {"repetitions": 1, "symmetry_pct": 70.0, "left": 8.0,
                                          "right": 5.6, "weaker_side": "right"}}}
    connection = history.connect(tmp_path / "history.sqlite")
    history.record_session(connection, "anna", summary, str(home / "report.html"), "camera 0")
    history.record_session(connection, "bert", summary, None, "camera 0")
    connection.close()
    csrf = _csrf(client)
    extra = _upload(client, anna, app_exams["better"].read_bytes()).json()["visit"]
    folder = Store(tmp_path).visit_dir(Store(tmp_path).get_visit(extra))
    assert client.post(f"/visits/{extra}/delete", data={"csrf": csrf}).status_code == 400
    assert client.post(f"/visits/{extra}/delete",
                       data={"csrf": csrf, "confirm": "yes"}).status_code == 303
    assert not folder.exists() and client.get(f"/visits/{extra}").status_code == 404
    assert len(list((tmp_path / "visits").iterdir())) == 1
    unconfirmed = client.post(f"/patients/{anna}/delete", data={"csrf": csrf})
    assert unconfirmed.status_code == 400
    deleted = client.post(f"/patients/{anna}/delete", data={"csrf": csrf, "confirm": "yes"})
    assert deleted.status_code == 303
    assert list((tmp_path / "visits").iterdir()) == [] and not home.exists()
    with sqlite3.connect(tmp_path / "history.sqlite") as c:
        assert c.execute("SELECT profile FROM sessions").fetchall() == [("bert",)]
        assert c.execute("SELECT COUNT(*) FROM movements").fetchone()[0] == 1
        assert c.execute("SELECT COUNT(*) FROM visits").fetchone()[0] == 0
    assert client.get(f"/patients/{anna}").status_code == 404


def test_a_home_session_appears_on_the_patients_timeline(tmp_path, app_exams):  # noqa: F811
    from facescore.session import run_session

    data = tmp_path / "data"
    # What 'facescore session --profile P --db DATA/history.sqlite' runs, on the short script
    # the exam video follows.
    run_session(app_exams["weak"], profile="P-007", out_dir=data / "sessions" / "P-007" / "one",
                db=data / "history.sqlite", window=False, fast=True, order=SHORT,
                timing=FAST_TIMING)
    client = _client(data)
    index = client.get("/").text
    assert "Home sessions without a patient" in index and "P-007" in index
    patient = _patient(client, "P-007")
    page = client.get(f"/patients/{patient}").text
    for movement in SHORT:
        panel = re.search(rf'data-movement="{movement}">(.*?)</figure>', page, re.S).group(1)
        assert panel.count('class="point session"') == 1, movement
    assert page.count('class="session-row"') == 1
    session_id = Store(data).measured_sessions("P-007")[0]["id"]
    report = client.get(f"/sessions/{session_id}/report.html")
    assert report.status_code == 200 and "Facial asymmetry report" in report.text


def test_live_server_answers_while_analysing_and_keeps_its_queue_across_a_restart(
        tmp_path, app_exams):  # noqa: F811
    data = tmp_path / "data"
    with Server(data) as server:
        assert server.url.startswith("http://127.0.0.1:")
        patient = server.create_patient("anna")
        visits = [server.upload(patient, app_exams[k]).json()["visit"]
                  for k in ("weak", "better", "weak")]
        deadline = time.monotonic() + 60
        while server.status(visits[0])["status"] == "queued" and time.monotonic() < deadline:
            time.sleep(0.05)
        # While the worker analyses, pages come back at once.
        slowest = 0.0
        for path in ("/", f"/patients/{patient}", f"/visits/{visits[0]}", "/static/app.css"):
            start = time.monotonic()
            assert server.client.get(path).status_code == 200
            slowest = max(slowest, time.monotonic() - start)
        assert server.status(visits[0])["status"] in ("running", "done")
        assert slowest < 1.0, slowest
        workers = psutil.Process(server.process.pid).children(recursive=True)
        assert workers, "no analysis worker process"
        code, printed = server.stop()
    assert code == 0 and "stopped" in printed, printed
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, alive  # Ctrl-C stopped the worker too
    store = Store(data)
    left = [store.get_visit(v)["status"] for v in visits]
    assert left.count("done") < 3 and "failed" not in left, left  # work was still queued
    with Server(data) as again:
        states = again.wait_done(visits)
        assert [s["status"] for s in states] == ["done"] * 3, states
        page = again.client.get(f"/visits/{visits[0]}").text
        assert 'class="movement" data-movement="brow_raise"' in page
        code, _ = again.stop()
    assert code == 0
    # One store: the visits are in 'facescore history' for profile anna too.
    connection = history.connect(data / "history.sqlite")
    try:
        table = history.history_table(connection, "anna")
    finally:
        connection.close()
    assert sorted(set(table["movement"])) == sorted(SHORT) and table["session"].nunique() == 3
    weak = table[table["session"] == store.get_visit(visits[0])["session_id"]]
    assert set(weak["weaker_side"]) == {"right"}


def test_a_failed_analysis_shows_its_one_line_reason(tmp_path):

    # A real video without a face: accepted (it decodes), then the analysis fails.
    video = tmp_path / "blank.mp4"
    write_video(video, [np.full((96, 96, 3), 128, np.uint8)] * 30, fps=10)
    with Server(tmp_path / "data") as server:
        patient = server.create_patient("nobody")
        visit = server.upload(patient, video).json()["visit"]
        state = server.wait_done([visit], timeout=60)[0]
        assert state["status"] == "failed" and "face" in state["error"], state
        assert "\n" not in state["error"]
        page = server.client.get(f"/visits/{visit}").text
        assert 'id="error"' in page and state["error"].split(" (")[0][:20] in page


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_loopback_hosts_need_no_token(host):
    from facescore.app.security import is_loopback

    assert is_loopback(host)
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")


def test_a_crashed_worker_fails_its_visit_and_is_replaced(tmp_path, app_exams):  # noqa: F811
    with Server(tmp_path / "data") as server:
        patient = server.create_patient("anna")
        first, second = (server.upload(patient, app_exams[k]).json()["visit"]
                         for k in ("weak", "better"))
        deadline = time.monotonic() + 60
        while server.status(first)["status"] == "queued" and time.monotonic() < deadline:
            time.sleep(0.05)
        for worker in psutil.Process(server.process.pid).children():
            worker.kill()  # as if the analysis had crashed the process
        states = server.wait_done([first, second], timeout=120)
        if states[0]["status"] == "done":
            pytest.skip("the first analysis finished before the worker was killed")
        assert states[0]["status"] == "failed", states
        assert "stopped unexpectedly" in states[0]["error"]
        assert states[1]["status"] == "done", states  # a new worker took the queue on


def _analysed_visit(data: Path, patient: int, report: dict, day: int = 1) -> int:
    """A visit marked analysed, with ``report`` as its report.json (no analysis run)."""
    store = Store(data)
    folder, _ = store.new_visit_folder()
    visit = store.create_visit(patient, folder, "exam.mp4", f"exam{day}.mp4", 1, "video", 10,
                               f"2024-01-{day:02d}T10:00:00", "edited", False, None)
    path = store.report_dir(store.get_visit(visit))
    path.mkdir(parents=True)
    (path / "report.json").write_text(json.dumps(report))
    with sqlite3.connect(data / "history.sqlite") as c:
        c.execute("UPDATE visits SET status = 'done' WHERE id = ?", (visit,))
    return visit


def test_compare_draws_a_dash_not_a_zero_bar_for_a_movement_not_performed(tmp_path):
    """A frown done only in the second visit: the first visit's bars for it say "—" (as the
    CLI's compare prints), not "0.0 mm", which would read as a frown that did not move."""
    data = tmp_path / "data"
    client = _client(data)
    patient = _patient(client)
    brow = {"left": 8.0, "right": 6.0, "symmetry_pct": 75.0, "weaker_side": "right"}
    frown = {"left": 3.5, "right": 3.0, "symmetry_pct": 86.0, "weaker_side": "neither"}
    visits = [_analysed_visit(data, patient, {"summary": {"per_movement": per_movement},
                                              "movements": []}, day=i + 1)
              for i, per_movement in enumerate(({"brow_raise": brow},
                                                {"brow_raise": brow, "frown": frown}))]
    page = client.get(f"/patients/{patient}/compare",
                      params={"a": visits[0], "b": visits[1]}).text
    rows = dict(re.findall(r'<tr class="compare-row" data-movement="(\w+)">(.*?)</tr>', page,
                           re.S))
    assert set(rows) == {"brow_raise", "frown"}
    # The frown: no bar and a dash for each side of visit A, bars with values for visit B.
    assert rows["frown"].count('class="tick not-measured"') == 2
    assert rows["frown"].count("<rect") == 2 and "0.0<" not in rows["frown"]
    assert ">3.5<" in rows["frown"] and ">3.0<" in rows["frown"]
    assert "not-measured" not in rows["brow_raise"]


def test_a_damaged_recordings_warning_is_at_the_top_of_the_visit_page(tmp_path):
    """As the README says of the report: before the numbers it qualifies."""
    data = tmp_path / "data"
    client = _client(data)
    patient = _patient(client)
    damage = {"description": "video damaged: the file ends mid-frame", "readable_frames": 90,
              "readable_s": 3.0}
    warning = f"{damage['description']}; only the readable 90 frames were analysed"
    report = {"input": {"damage": damage}, "quality": {"warnings": [warning]},
              "summary": {"overall_symmetry": 80.0, "affected_side": None,
                          "per_movement": {"smile": {"left": 9.0, "right": 8.0,
                                                     "symmetry_pct": 89.0, "repetitions": 1,
                                                     "weaker_side": "neither"}}},
              "movements": [], "not_performed": [], "deadband": "normal variation"}
    visit = _analysed_visit(data, patient, report)
    page = client.get(f"/visits/{visit}").text
    assert page.count("the file ends mid-frame") == 1
    top = page.index("the file ends mid-frame")
    assert top < page.index('id="movement-table"') and top < page.index('id="results"')
    assert 'class="warn damage"' in page


def test_the_visit_page_says_which_eye_blinks_less_or_why_none(tmp_path):
    """The report's blink call reaches the clinician's visit page, in the report's own words."""
    data = tmp_path / "data"
    client = _client(data)
    patient = _patient(client)
    calls = {"right": "the right eye closes less: left minus right per blink +45 % (95 % "
                      "interval +30 to +60 %, 9 blinks)",
             None: "no eye named as closing less: the blinks do not agree on one (their 95 % "
                   "interval spans zero)"}
    for day, (side, call) in enumerate(calls.items(), start=1):
        report = {"quality": {"warnings": []},
                  "summary": {"overall_symmetry": None, "affected_side": None,
                              "per_movement": {}},
                  "blinks": {"summary": {"count": 9, "completeness_left": 0.9,
                                         "completeness_right": 0.45,
                                         "less_complete_side": side,
                                         "less_complete_call": call}},
                  "movements": [], "not_performed": [], "deadband": "normal variation"}
        visit = _analysed_visit(data, patient, report, day)
        page = client.get(f"/visits/{visit}").text
        line = re.search(r'<p id="blinks">(.*?)</p>', page, re.S).group(1)
        assert "Spontaneous blinks: 9" in line and "right 45 %" in line
        assert call[0].upper() + call[1:] in line
