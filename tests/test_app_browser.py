"""The clinic app driven through a real browser (Debian's chromium under Playwright), as a
clinician would use it: create a patient, upload two exams, read the reports, the timeline
and the comparison, print a visit to PDF. Also writes the README's screenshots when
FACESCORE_SCREENSHOTS=1 (to docs/screenshots/; else to the test's temporary folder)."""

from __future__ import annotations

import base64
import io
import os
import re
from datetime import date, timedelta

import pytest
from conftest import FAST_TIMING
from test_app_support import (
    CHROMIUM,
    SCREENSHOTS,
    SHORT,
    Server,
    app_exams,  # noqa: F401 (a fixture)
    headless_chromium,
    short_exam,
)

from facescore.protocol import MOVEMENTS
from facescore.session import run_session

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")

WAIT_MS = 180_000


@pytest.fixture()
def browser():
    yield from headless_chromium()


def _drop(page, *paths) -> None:
    """Drop files on the drop zone together, as dragging them from the desktop does."""
    page.evaluate(
        """(files) => {
            const transfer = new DataTransfer();
            for (const [name, data] of files) {
                const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
                transfer.items.add(new File([bytes], name, {type: "video/mp4"}));
            }
            const zone = document.getElementById("dropzone");
            zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: transfer, bubbles: true}));
            zone.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true}));
        }""", [[p.name, base64.b64encode(p.read_bytes()).decode()] for p in paths])


#: A phone's screen width, CSS px: no page may be wider (no sideways scrolling).
PHONE_PX = 420


def _too_wide(page) -> str | None:
    """None when the page fits the viewport's width, else its width and the elements that
    reach beyond it (for the failure message)."""
    return page.evaluate(
        """(limit) => {
            const width = document.scrollingElement.scrollWidth;
            if (width <= limit) return null;
            const beyond = e => e.getBoundingClientRect().right > limit + 0.5;
            const name = e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "")
                + (typeof e.className === "string" && e.className
                   ? "." + e.className.split(" ").join(".") : "");
            const culprits = [...document.querySelectorAll("body *")].filter(beyond)
                .filter(e => ![...e.children].some(beyond)).slice(0, 8)
                .map(e => name(e) + " " + Math.round(e.getBoundingClientRect().right));
            return width + " px: " + culprits.join(", ");
        }""", PHONE_PX)


def test_clinic_workflow_in_a_real_browser(browser, app_exams, tmp_path):  # noqa: F811
    expect = playwright.expect
    shots = SCREENSHOTS if os.environ.get("FACESCORE_SCREENSHOTS") == "1" else tmp_path / "shots"
    shots.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    dialogs, requested = [], []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("request", lambda r: requested.append(r.url))
    console = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    with Server(tmp_path / "data") as server:
        page.goto(server.url + "/")
        # A patient with markup in their identifier shows it as text and runs nothing.
        page.fill("#identifier", '<img src=x onerror="window.__xss=1">Zoe')
        page.click("#new-patient button[type=submit]")
        expect(page.locator("#patient-id")).to_have_text('<img src=x onerror="window.__xss=1">Zoe')
        assert page.evaluate("window.__xss") is None and not dialogs
        page.click("details.danger summary")  # and deleting it takes a ticked box
        page.check("details.danger input[name=confirm]")
        page.click("details.danger button[type=submit]")
        expect(page.locator("#patients")).to_have_count(0)

        page.goto(server.url + "/")
        page.fill("#identifier", "Patient 017")
        page.select_option("#affected_side", "right")
        page.fill("#diagnosis", "Bell's palsy, right")
        page.click("#new-patient button[type=submit]")
        expect(page.locator("#patient-id")).to_have_text("Patient 017")
        patient_url = page.url

        # Visit 1 through the file picker, visit 2 dropped on the page.
        page.set_input_files("#file-input", str(app_exams["weak"]))
        expect(page.locator("tr.visit-row")).to_have_count(1, timeout=WAIT_MS)
        # Visit 2 dropped on the page together with a file the server refuses: the accepted
        # visit appears with its progress, and the refusal stays readable beside it.
        refused = tmp_path / "notes.mp4"
        refused.write_text("not a video")
        _drop(page, app_exams["better"], refused)
        expect(page.locator("tr.visit-row")).to_have_count(2, timeout=WAIT_MS)
        expect(page.locator("#uploads .error")).to_have_count(1)
        expect(page.locator("#uploads .error")).to_contain_text("Refused")
        page.screenshot(path=str(shots / "patient-analysing.png"))
        expect(page.locator('tr.visit-row[data-status="done"]')).to_have_count(2,
                                                                              timeout=WAIT_MS)
        # Date the visits (as if months apart) and mark a treatment between them.
        visit_urls = [server.url + a.get_attribute("href")
                      for a in page.locator("tr.visit-row td:first-child a").all()]
        today = date.today()
        for url, days_ago in zip(visit_urls, (120, 30), strict=True):
            page.goto(url)
            page.click("#visit-form >> xpath=ancestor::details/summary")
            page.fill("#visit_date", f"{today - timedelta(days=days_ago)}T10:00")
            page.click("#visit-form button[type=submit]")
        page.goto(patient_url)
        page.fill("#treatment-form input[name=date]", str(today - timedelta(days=90)))
        page.fill("#treatment-form input[name=label]", "botulinum toxin")
        page.click("#treatment-form button[type=submit]")
        # A home session today, recorded as 'facescore session --profile "Patient 017"' does.
        run_session(app_exams["better"], profile="Patient 017", db=server.data / "history.sqlite",
                    out_dir=server.data / "sessions" / "p017", window=False, fast=True,
                    order=SHORT, timing=FAST_TIMING)
        page.reload()

        # The timeline: two clinic visits and one home session per movement, the treatment.
        for movement in SHORT:
            panel = page.locator(f'figure.panel[data-movement="{movement}"]')
            expect(panel.locator("circle.point.visit")).to_have_count(2)
            expect(panel.locator("circle.point.session")).to_have_count(1)
            expect(panel.locator("g.treatment")).to_have_count(1)
        page.screenshot(path=str(shots / "patient.png"), full_page=True)

        # Each visit's report: symmetry and weaker side per movement.
        for url, weak_right in zip(visit_urls, (True, False), strict=True):
            page.goto(url)
            rows = page.locator("#movement-table tr.movement")
            expect(rows).to_have_count(len(SHORT))
            for movement in SHORT:
                row = page.locator(f'#movement-table tr[data-movement="{movement}"]')
                # symmetry and its 95 % interval, e.g. "51 % (42–60)"
                match = re.fullmatch(r"(\d+) % \((\d+)–(\d+)\)",
                                     row.locator("td.symmetry").inner_text())
                assert match and int(match[2]) <= int(match[1]) <= int(match[3]) <= 100
                weaker = row.locator("td.weaker-side").inner_text()
                assert weaker in ("left", "right", "neither", "undecided")
                # "neither": within normal variation; "undecided": below it, within the noise
                # (the page rounds the symmetry to a whole per cent)
                assert (weaker == "neither") <= (int(match[1]) >= 88 - 1)
                assert (weaker == "undecided") <= (int(match[1]) <= 88)
                if weak_right:
                    assert weaker == "right", movement
            images = page.locator("#key-frames img")
            assert images.count() >= 2 * len(SHORT)
            assert all(page.evaluate("i => i.complete && i.naturalWidth > 0", i.element_handle())
                       for i in images.all())
        page.goto(visit_urls[0])
        page.screenshot(path=str(shots / "visit.png"), full_page=True)
        # The full report, inside the app.
        page.click("#full-report summary")
        frame = page.frame_locator("#full-report iframe")
        expect(frame.locator("h1")).to_have_text("Facial asymmetry report")
        expect(frame.locator("#movements tr")).to_have_count(1 + len(SHORT))

        # Print the first visit to PDF (A4 and Letter): one or two pages, the page's text in it.
        from pypdf import PdfReader

        for paper in ("A4", "Letter"):
            pdf = page.pdf(format=paper, print_background=True)
            reader = PdfReader(io.BytesIO(pdf))
            text = " ".join(p.extract_text() for p in reader.pages)
            assert 1 <= len(reader.pages) <= 2, (paper, len(reader.pages))
            for needed in ("Patient 017", "brow raise", "smile", "right", "%",
                           "Not a diagnostic device"):
                assert needed in text, (paper, needed)
            assert "Delete this visit" not in text and "Drop the video" not in text
        page.emulate_media(media="print")
        page.screenshot(path=str(shots / "visit-print.png"), full_page=True)
        page.emulate_media(media="screen")

        # Side by side: key frames of both visits and the change per movement.
        page.goto(patient_url)
        page.click("#compare-button")
        expect(page.locator("tr.compare-row")).to_have_count(len(SHORT))
        for movement in SHORT:
            row = page.locator(f'tr.compare-row[data-movement="{movement}"]')
            expect(row.locator("td.frames-cell img")).to_have_count(4)
            assert re.search(r"symmetry [+−±]\d+ points", row.locator("td.change").inner_text())
        assert all(page.evaluate("i => i.complete && i.naturalWidth > 0", i.element_handle())
                   for i in page.locator("td.frames-cell img").all())
        page.screenshot(path=str(shots / "compare.png"), full_page=True)

        page.goto(server.url + "/")
        page.fill("#identifier", "Patient 018")
        page.click("#new-patient button[type=submit]")
        page.goto(server.url + "/")
        expect(page.locator("#patients a.patient-link")).to_have_count(2)
        page.fill("#search", "bell")
        page.click("form.search button")
        expect(page.locator("#patients a.patient-link")).to_have_text(["Patient 017"])
        page.goto(server.url + "/")
        page.screenshot(path=str(shots / "patients.png"), full_page=True)

        # On a phone: every page fits the screen's width.
        compare_url = f"{patient_url}/compare"
        page.set_viewport_size({"width": PHONE_PX, "height": 900})
        too_wide = {}
        for url in (server.url + "/", patient_url, *visit_urls, compare_url,
                    server.url + "/exercise", f"{patient_url}/exercise"):
            page.goto(url)
            if (reason := _too_wide(page)) is not None:
                too_wide[url.removeprefix(server.url)] = reason
                page.screenshot(path=str(shots / f"phone-{len(too_wide)}.png"), full_page=True)
        assert not too_wide, too_wide
        code, printed = server.stop()
    assert code == 0, printed
    assert not dialogs, dialogs
    assert not [m for m in console if "Content Security Policy" in m], console
    # Everything the pages load comes from the app itself: no CDN, no network.
    assert [u for u in requested if not u.startswith((server.url, "data:"))] == []


def test_a_full_exams_visit_prints_on_one_page(browser, tmp_path):
    """All four movements (their table, eight key frames, the chart) on one A4 or Letter page:
    printed one below the other, the chart went alone to a second page, the first half
    empty."""
    from pypdf import PdfReader

    exam = short_exam(tmp_path / "full.mp4", 0.5, seed=3, order=MOVEMENTS)
    with Server(tmp_path / "data") as server:
        patient = server.create_patient("Patient 020", affected_side="right",
                                        diagnosis="Bell's palsy, right")
        visit = server.upload(patient, exam).json()["visit"]
        assert server.wait_done([visit], timeout=WAIT_MS / 1000)[0]["status"] == "done"
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(f"{server.url}/visits/{visit}")
        assert page.locator("#movement-table tr.movement").count() == len(MOVEMENTS)
        for paper in ("A4", "Letter"):
            reader = PdfReader(io.BytesIO(page.pdf(format=paper, print_background=True)))
            assert len(reader.pages) == 1, (paper, len(reader.pages))
            text = reader.pages[0].extract_text()
            assert "frown" in text and "Not a diagnostic device" in text, paper
            assert reader.pages[0].images, "the chart and key frames are on the page"
        code, printed = server.stop()
    assert code == 0, printed
