"""The exercise page and its WebSocket in-process (no browser): who may open the socket, the
page's script reads the protocol from the page, the socket's session measures as
``facescore session`` does, and home sessions go out and come back in as one file."""

from __future__ import annotations

import json
import re
import sqlite3
import struct
import warnings
from pathlib import Path

import cv2
import pytest

from facescore import history, transfer
from facescore.app.server import Config, create_app
from facescore.phantom import generate, right_weak
from facescore.protocol import MOVEMENTS, PROMPTS, SESSION_TIMING
from facescore.session import run_session

with warnings.catch_warnings():  # Starlette now prefers httpx2 to httpx; both work
    warnings.simplefilter("ignore", UserWarning)
    from fastapi.testclient import TestClient

BASE = "http://127.0.0.1:8765"


def _client(data: Path) -> TestClient:
    return TestClient(create_app(Config(data_dir=data, start_worker=False)), base_url=BASE,
                      follow_redirects=False)


def _csrf(client: TestClient) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").text).group(1)


def _patient(client: TestClient, identifier: str) -> int:
    response = client.post("/patients", data={"csrf": _csrf(client), "identifier": identifier},
                           headers={"Origin": BASE})
    return int(response.headers["location"].rsplit("/", 1)[1])


def _socket(client: TestClient, patient: int, csrf: str | None, origin: str = BASE):
    query = f"?csrf={csrf}" if csrf else ""
    return client.websocket_connect(f"ws://127.0.0.1:8765/patients/{patient}/exercise/ws{query}",
                                    headers={"origin": origin})


def test_the_page_carries_the_protocol_and_loads_nothing_from_elsewhere(tmp_path):
    client = _client(tmp_path / "data")
    patient = _patient(client, "anna")
    page = client.get(f"/patients/{patient}/exercise")
    assert page.status_code == 200
    config = json.loads(re.search(r'id="exercise-config">(.*?)</script>', page.text, re.S)[1])
    assert [m["name"] for m in config["movements"]] == list(MOVEMENTS)
    assert [m["prompt"] for m in config["movements"]] == [PROMPTS[m] for m in MOVEMENTS]
    assert config["duration_s"] == SESSION_TIMING.script_s(len(MOVEMENTS))
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert not re.search(r'(src|href)="(https?:)?//', page.text)
    # The script holds no copy of the protocol.
    script = client.get("/static/exercise.js").text
    assert not any(PROMPTS[m] in script for m in MOVEMENTS)
    assert "brow_raise" not in script
    index = client.get("/exercise")
    assert f'href="/patients/{patient}/exercise"' in index.text
    # A name added there leads straight to its exercises.
    added = client.post("/patients", data={"csrf": _csrf(client), "identifier": "ben",
                                           "then": "exercise"}, headers={"Origin": BASE})
    assert re.fullmatch(r"/patients/\d+/exercise", added.headers["location"])


@pytest.mark.parametrize(("origin", "with_csrf", "reason"), [
    ("http://evil.example", True, "another origin"),
    (BASE, False, "out of date"),
])
def test_the_socket_is_refused_to_other_pages(tmp_path, origin, with_csrf, reason):
    client = _client(tmp_path / "data")
    patient = _patient(client, "anna")
    with _socket(client, patient, _csrf(client) if with_csrf else None, origin) as socket:
        message = socket.receive_json()
    assert message["type"] == "error" and reason in message["message"]


@pytest.fixture(scope="module")
def session_video(tmp_path_factory):
    """The session's script with a weak right side, 320 px at 15 fps (as the browser test's
    camera plays it)."""
    root = tmp_path_factory.mktemp("exercise")
    return generate(root / "s.mp4", right_weak(0.5, timing=SESSION_TIMING, size=(320, 320),
                                               fps=15))


def test_the_sockets_session_measures_as_the_terminal_session_does(tmp_path, session_video):
    """Frames sent as JPEG with their times, one after another's answer: the session is scored
    and recorded as ``facescore session`` records the same video (JPEG costs little)."""
    import av

    client = _client(tmp_path / "data")
    patient = _patient(client, "anna")
    states = []
    with av.open(str(session_video.video)) as container:
        frames = [(f.time, f.to_ndarray(format="bgr24")) for f in container.decode(video=0)]
    # The script ends a frame after the video: a camera goes on (the last picture held).
    step = frames[1][0] - frames[0][0]
    frames += [(frames[-1][0] + step * (i + 1), frames[-1][1]) for i in range(15)]
    with _socket(client, patient, _csrf(client)) as socket:
        assert socket.receive_json()["type"] == "ready"
        for t, picture in frames:
            ok, jpeg = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, 85])
            socket.send_bytes(struct.pack("<d", t * 1000) + jpeg.tobytes())
            states.append(socket.receive_json())
            assert states[-1]["type"] == "state" and states[-1]["t"] == t * 1000
            if states[-1]["done"]:
                break
        result = socket.receive_json()
    assert result["type"] == "result", result
    assert states[-1]["dropped"] == 0
    browser = {m["movement"]: m for m in result["movements"]}
    terminal = run_session(session_video.video, profile="t", db=tmp_path / "t.sqlite",
                           out_dir=tmp_path / "t", window=False, fast=True)
    assert set(browser) == set(MOVEMENTS)
    for p in terminal.analysis.performances:
        assert browser[p.movement]["weaker_side"] == p.weaker_side == "right"
        assert abs(browser[p.movement]["symmetry_pct"] - p.symmetry_pct) <= 5, p.movement
    with sqlite3.connect(tmp_path / "data" / "history.sqlite") as connection:
        table = history.history_table(connection, "anna")
    assert sorted(table["movement"]) == sorted(MOVEMENTS)
    assert (table["session"] == result["session_id"]).all()
    # Its report is served, and the session is on the patient's page.
    assert client.get(result["report_url"]).status_code == 200
    assert f'data-session="{result["session_id"]}"' in client.get(f"/patients/{patient}").text


def test_export_and_import_over_http(tmp_path):
    client = _client(tmp_path / "data")
    home, clinic = _patient(client, "anna"), _patient(client, "P-017")
    assert client.get(f"/patients/{home}/sessions/export").status_code == 404  # none yet
    connection = history.connect(tmp_path / "data" / "history.sqlite")
    summary = {"per_movement": {"smile": {"repetitions": 1, "symmetry_pct": 50.0, "left": 8.0,
                                          "right": 4.0, "weaker_side": "right"}}}
    history.record_session(connection, "anna", summary, None, "browser camera")
    connection.close()
    exported = client.get(f"/patients/{home}/sessions/export")
    assert exported.status_code == 200
    assert "attachment" in exported.headers["content-disposition"]
    assert json.loads(exported.content)["format"] == transfer.FORMAT

    def bring(body: bytes, csrf: str | None = None):
        return client.post(f"/patients/{clinic}/sessions/import", content=body,
                           headers={"X-CSRF-Token": csrf or _csrf(client)})

    assert bring(exported.content, csrf="wrong").status_code == 403
    for junk in (b"GIF89a not an export", b'{"format": "something else"}',
                 exported.content.replace(b'"symmetry_pct": 50.0', b'"symmetry_pct": 90.0')):
        refused = bring(junk)
        assert refused.status_code == 400
        assert refused.json()["error"].startswith("Refused: ")
        assert "\n" not in refused.json()["error"]
    with sqlite3.connect(tmp_path / "data" / "history.sqlite") as connection:
        assert history.history_table(connection, "P-017").empty
    accepted = bring(exported.content)
    assert accepted.status_code == 201
    assert accepted.json() == {"imported": 1, "already": 0, "from_profile": "anna"}
    assert bring(exported.content).json()["already"] == 1
    page = client.get(f"/patients/{clinic}").text
    assert page.count('class="session-row"') == 1 and "imported" in page
