"""The exercise page in a real browser: Debian's chromium with a fake camera playing a phantom
paced to the session (weak right side), a whole session run through, the bars and the results
checked against the phantom's truth, the session on the patient's timeline, and home sessions
exported and imported on another patient's page. Writes the README's exercise screenshots
when FACESCORE_SCREENSHOTS=1."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime, timedelta

import pytest
from clips import to_y4m
from conftest import FAST_TIMING
from test_app_browser import PHONE_PX, _too_wide
from test_app_support import (
    BROWSER_ARGS,
    CHROMIUM,
    SCREENSHOTS,
    SHORT,
    Server,
    app_exams,  # noqa: F401 (a fixture)
)

from facescore.cli import main
from facescore.protocol import MOVEMENTS
from facescore.session import run_session

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")

#: The browser measures what the terminal session measures (same code; JPEG frames): its
#: symmetry is held to the issue's 15 points of the truth, the weaker side must be right.
SYMMETRY_POINTS = 15
#: Camera frame to bar, ms, at the median: the issue's 200 ms (benchmarks/live_latency.py
#: measures it alone; here the browser, the server and the test share two cores).
LATENCY_MS = 200


@pytest.fixture(scope="session")
def fake_camera(tmp_path_factory):
    """The phantom the issue names, as the file Chromium's fake camera plays (made once):
    ``facescore phantom X.mp4 --schedule session --right-gain 0.5 --size 320x320 --fps 15``."""
    root = tmp_path_factory.mktemp("fake_camera")
    video = root / "session.mp4"
    assert main(["phantom", str(video), "--schedule", "session", "--right-gain", "0.5",
                 "--size", "320x320", "--fps", "15"]) == 0
    truth = json.loads(video.with_name(video.name + ".truth.json").read_text())
    return to_y4m(video, root / "session.y4m"), truth


@pytest.fixture()
def camera_browser(fake_camera):
    y4m, _ = fake_camera
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=[
            *BROWSER_ARGS, "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={y4m}"])
        try:
            yield launched
        finally:
            launched.close()


def test_a_home_session_in_the_browser(camera_browser, fake_camera, app_exams,  # noqa: F811
                                       tmp_path):
    expect = playwright.expect
    _, truth = fake_camera
    true = {p["movement"]: p for p in truth["performances"]}
    shots = SCREENSHOTS if os.environ.get("FACESCORE_SCREENSHOTS") == "1" else tmp_path / "shots"
    shots.mkdir(parents=True, exist_ok=True)
    page = camera_browser.new_page(viewport={"width": 1200, "height": 900})
    requested, console = [], []
    page.on("request", lambda r: requested.append(r.url))
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    with Server(tmp_path / "data") as server:
        patient = server.create_patient("Patient 021", affected_side="right",
                                        diagnosis="Bell's palsy, right")
        patient_url = f"{server.url}/patients/{patient}"
        page.goto(patient_url)
        page.click("#exercise-link")
        expect(page.locator("#plan li")).to_have_count(len(MOVEMENTS))
        page.click("#start-button")

        # Mid-movement: a screenshot while the smile is held, at 1200 px and on a phone.
        stage = page.locator("#stage")
        expect(stage).to_have_attribute("data-phase", "hold", timeout=60_000)
        levels = {}
        for movement, width, name in (("brow_raise", 1200, None), ("smile", 1200, "exercise"),
                                      ("frown", PHONE_PX, "exercise-phone")):
            page.wait_for_function(
                "m => { const s = document.getElementById('stage');"
                " return s.dataset.phase === 'hold' && s.dataset.movement === m; }",
                arg=movement, timeout=60_000)
            if width != page.viewport_size["width"]:
                page.set_viewport_size({"width": width, "height": 900})
            page.wait_for_timeout(700)  # well into the hold
            levels[movement] = {s: float(page.locator(f"#bar-{s}").get_attribute("data-level"))
                                for s in ("left", "right")}
            if name:
                page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
                if width == PHONE_PX:
                    assert _too_wide(page) is None, _too_wide(page)
        page.set_viewport_size({"width": 1200, "height": 900})
        expect(page.locator("#results")).to_be_visible(timeout=120_000)

        # The bars during the holds: the right side's is the shorter.
        for movement, level in levels.items():
            assert level["right"] < level["left"], (movement, level)
        # Each side's travel while held, as the page showed it after each movement.
        for movement in MOVEMENTS:
            held = page.locator(f'.held[data-movement="{movement}"]')
            left, right = (float(held.get_attribute(f"data-{s}")) for s in ("left", "right"))
            assert right < left, (movement, left, right)
            symmetry = 100 * right / left
            assert abs(symmetry - true[movement]["symmetry_pct"]) <= SYMMETRY_POINTS, \
                (movement, symmetry, true[movement]["symmetry_pct"])
        # The session's scores, as analyze scores movements given by their times.
        rows = page.locator("tr.result-row")
        expect(rows).to_have_count(len(MOVEMENTS))
        measured = {}
        for row in rows.all():
            movement = row.get_attribute("data-movement")
            measured[movement] = float(row.get_attribute("data-symmetry"))
            assert row.get_attribute("data-weaker") == "right", movement
            assert abs(measured[movement] - true[movement]["symmetry_pct"]) <= SYMMETRY_POINTS
        latency = page.locator("#latency")
        median, p95 = (float(latency.get_attribute(f"data-{k}")) for k in ("median", "p95"))
        assert median <= LATENCY_MS, (median, p95)
        print(f"\nbrowser session: symmetry {measured} vs truth "
              f"{ {m: round(t['symmetry_pct'], 1) for m, t in true.items()} }; "
              f"latency median {median:.0f} ms, p95 {p95:.0f} ms")
        session_id = int(page.locator("#results").get_attribute("data-session"))

        # On the timeline, dated four weeks back; then a later session from the terminal with
        # a better right side (brow raise and smile), so the timeline shows a trend.
        with sqlite3.connect(server.data / "history.sqlite") as connection:
            connection.execute("UPDATE sessions SET started_at = ? WHERE id = ?",
                               ((datetime.now() - timedelta(days=28)).strftime(
                                   "%Y-%m-%dT%H:%M:%S"), session_id))
        run_session(app_exams["better"], profile="Patient 021",
                    db=server.data / "history.sqlite", out_dir=server.data / "sessions" / "t",
                    window=False, fast=True, order=SHORT, timing=FAST_TIMING)
        page.click("#timeline-link")
        expect(page.locator("tr.session-row")).to_have_count(2)
        for movement in MOVEMENTS:
            points = page.locator(f'figure.panel[data-movement="{movement}"] '
                                  "circle.point.session")
            expect(points).to_have_count(2 if movement in SHORT else 1)
        page.screenshot(path=str(shots / "patient-home.png"), full_page=True)
        page.set_viewport_size({"width": PHONE_PX, "height": 900})
        page.screenshot(path=str(shots / "patient-home-phone.png"), full_page=True)
        too_wide = {url: _too_wide(page) for url in (patient_url, f"{patient_url}/exercise",
                                                     f"{server.url}/exercise")
                    if page.goto(url) and _too_wide(page) is not None}
        assert not too_wide, too_wide
        page.set_viewport_size({"width": 1200, "height": 900})

        # Export all home sessions; import them on the clinic's record of the patient.
        page.goto(patient_url)
        with page.expect_download() as download:
            page.click("#export-all")
        exported = tmp_path / download.value.suggested_filename
        download.value.save_as(exported)
        assert json.loads(exported.read_text())["format"] == "facescore-sessions"
        clinic = server.create_patient("P-021 clinic", affected_side="right")
        page.goto(f"{server.url}/patients/{clinic}")
        page.set_input_files("#import-input", str(exported))
        expect(page.locator("#import-status")).to_contain_text("2 session(s) imported")
        expect(page.locator("tr.session-row")).to_have_count(2)
        expect(page.locator('figure.panel[data-movement="smile"] circle.point.session')
               ).to_have_count(2)
        page.set_input_files("#import-input", str(exported))  # again: nothing twice
        expect(page.locator("#import-status")).to_contain_text("0 session(s) imported, 2 already")
        # A file that is not an export: refused in one line, nothing added.
        junk = tmp_path / "notes.json"
        junk.write_text('{"notes": "not an export"}')
        page.set_input_files("#import-input", str(junk))
        status = page.locator("#import-status.error")
        expect(status).to_contain_text("Refused: not a facescore export")
        assert "\n" not in status.inner_text()
        expect(page.locator("tr.session-row")).to_have_count(2)
        code, printed = server.stop()
    assert code == 0, printed
    assert not [m for m in console if "Content Security Policy" in m], console
    # Frames and pages stay on the machine.
    assert [u for u in requested if not u.startswith((server.url, "data:", "blob:"))] == []
