"""The photo diary in a real browser (Debian's chromium under Playwright): photos chosen in the
patient page's form become a series whose page shows the trend and the table, and fits a
phone's width. Writes docs/screenshots/diary*.png when FACESCORE_SCREENSHOTS=1."""

from __future__ import annotations

import os

import pytest
from PIL import Image
from test_app_browser import PHONE_PX, _too_wide
from test_app_support import CHROMIUM, SCREENSHOTS, Server, headless_chromium

from facescore.phantom import PhantomSpec, astronaut, load_base_face, phantom_photo

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")


@pytest.fixture()
def browser():
    yield from headless_chromium()


def test_diary_upload_and_page_in_a_real_browser(browser, tmp_path):
    expect = playwright.expect
    shots = SCREENSHOTS if os.environ.get("FACESCORE_SCREENSHOTS") == "1" else tmp_path / "shots"
    shots.mkdir(parents=True, exist_ok=True)
    face = load_base_face(*astronaut())
    files = [tmp_path / "2026-03-01_rest.jpg"]
    Image.fromarray(phantom_photo(face, None, PhantomSpec(seed=9)).rgb).save(files[0])
    for day, gain in enumerate((0.2, 0.35, 0.5, 0.65, 0.8, 1.0)):
        spec = PhantomSpec(gains={"smile": {"left": 1.0, "right": gain}}, seed=day)
        path = tmp_path / f"2026-03-{3 * day + 4:02d}_smile.jpg"
        Image.fromarray(phantom_photo(face, "smile", spec, pose_t=1.37 * (day + 1)).rgb).save(
            path, quality=92)
        files.append(path)
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    with Server(tmp_path / "data") as server:
        patient = server.create_patient("Patient 031", affected_side="right")
        page.goto(f"{server.url}/patients/{patient}")
        page.set_input_files("#diary-form input[type=file]", [str(f) for f in files])
        page.fill("#diary-form input[name=rest]", "2026-03-01_rest.jpg")
        page.click("#diary-form button[type=submit]")
        expect(page.locator("#diary-photos tr.photo-row")).to_have_count(len(files),
                                                                        timeout=120_000)
        expect(page.locator("#trend-smile img")).to_be_visible()
        assert page.evaluate("document.querySelector('#trend-smile img').naturalWidth") > 400
        diary_url = page.url
        page.screenshot(path=str(shots / "diary.png"), full_page=True)
        page.goto(f"{server.url}/patients/{patient}")
        expect(page.locator("#diary-table tr.diary-row")).to_have_count(1)
        page.locator("#diary").screenshot(path=str(shots / "patient-diary.png"))
        page.set_viewport_size({"width": PHONE_PX, "height": 900})
        for url in (diary_url, f"{server.url}/patients/{patient}"):
            page.goto(url)
            assert _too_wide(page) is None, (url, _too_wide(page))
        page.goto(diary_url)
        page.screenshot(path=str(shots / "diary-phone.png"), full_page=True)
        code, printed = server.stop()
    assert code == 0, printed
