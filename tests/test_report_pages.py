"""The report, history and comparison pages as people read them: on a phone, on paper, with
values that exist or say they do not ("—", never NaN or -0.0), rest measures with their
reference, a photo's report with nothing empty in it."""

from __future__ import annotations

import io
import json

import pytest
from conftest import fast_spec
from PIL import Image
from test_app_support import headless_chromium

from facescore import history
from facescore.analysis import analyze
from facescore.cli import main
from facescore.display import NONE, number, signed
from facescore.report import write_outputs

PHONE_PX = 420


@pytest.fixture(scope="module")
def video_report(phantoms, tmp_path_factory):
    """The four-movement phantom's report."""
    phantom, _ = phantoms.get("astro_0.5", fast_spec(0.5))
    out = tmp_path_factory.mktemp("report") / "out"
    write_outputs(analyze(phantom.video), phantom.video, out)
    return out


@pytest.fixture(scope="module")
def photo_report(clip_frames, tmp_path_factory):
    root = tmp_path_factory.mktemp("photo")
    photo = root / "photo.png"
    Image.fromarray(clip_frames[0]).save(photo)
    write_outputs(analyze(photo), photo, root / "out")
    return root / "out"


@pytest.fixture(scope="module")
def browser():
    yield from headless_chromium()


def _open(browser, html, width: int):
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(f"file://{html}")
    return page


def _boxes(page, selector: str) -> list[dict]:
    return page.eval_on_selector_all(selector, """els => els.map(e => {
        const r = e.getBoundingClientRect();
        return {left: r.left, right: r.right, width: r.width, height: r.height,
                text: e.innerText};})""")


def test_report_is_complete_at_phone_width(browser, video_report, tmp_path):
    page = _open(browser, video_report / "report.html", PHONE_PX)
    page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_PX  # no sideways
    report = json.loads((video_report / "report.json").read_text())
    for label in ("Left (mm)", "Right (mm)", "Symmetry", "Weaker side"):
        cells = _boxes(page, f'#movements td[data-label="{label}"]')
        assert len(cells) == len(report["movements"]), label
        for cell in cells:  # each value on screen, with its label
            assert cell["width"] > 0 and cell["left"] >= 0 and cell["right"] <= PHONE_PX, label
            assert cell["text"].strip(), label
    # Key frames fill the width, large enough to see lids and mouth corners.
    frames = _boxes(page, "#key-frames ~ .frames img")
    assert frames and min(f["width"] for f in frames) >= 0.85 * (PHONE_PX - 24)
    # Every rest measure states its reference, and it is on screen.
    references = _boxes(page, "#rest-table .ref")
    assert len(references) == 3 and all(r["right"] <= PHONE_PX for r in references)
    assert "nasal midline origin" in references[2]["text"]
    page.close()


def test_report_key_frames_are_large_on_a_desktop(browser, video_report):
    page = _open(browser, video_report / "report.html", 1100)
    frames = _boxes(page, "#key-frames ~ .frames img")
    assert frames and min(f["width"] for f in frames) >= 440
    natural = page.eval_on_selector_all("#key-frames ~ .frames img", "els => els.map(e => "
                                        "e.naturalWidth)")
    assert min(natural) >= 480  # not an enlarged thumbnail
    page.close()


def test_report_prints_completely(browser, video_report, tmp_path):
    pypdf = pytest.importorskip("pypdf")
    page = _open(browser, video_report / "report.html", 1100)
    page.emulate_media(media="print")
    pdf = page.pdf(format="A4", print_background=True)
    page.close()
    text = " ".join(" ".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages)
                    .split())
    report = json.loads((video_report / "report.json").read_text())
    for m in report["movements"]:
        assert m["movement"].replace("_", " ") in text
    for words in ("Not a diagnostic device", "Symmetry", "Weaker side", "Mouth-corner height",
                  "nasal midline origin", "Key frames", "Scale estimates"):
        assert words in text, words


def test_photo_report_shows_the_photo_and_no_empty_section(browser, photo_report, tmp_path):
    page = _open(browser, photo_report / "report.html", 1000)
    page.screenshot(path=str(tmp_path / "photo.png"), full_page=True)
    headings = [h["text"] for h in _boxes(page, "h2")]
    shown = json.loads((photo_report / "report.json").read_text())["rest"].get("expression")
    # A face not at rest (the astronaut smiles) is not reported as resting symmetry.
    assert headings == ["Summary", "Positions in the photo" if shown else "At rest",
                        "The photo and its measured points",
                        "Recording quality and calibration"]
    if shown:
        assert _boxes(page, "#photo-expression")
    (picture,) = _boxes(page, ".photo img")
    assert picture["width"] >= 380 and picture["height"] >= 380
    values = [c["text"] for c in _boxes(page, "#rest-table td[data-label]")]
    assert len(values) == 9 and NONE not in values
    page.close()


# --- clean values in history and compare ---------------------------------------------------------

def test_numbers_read_cleanly():
    assert number(-0.04) == "0.0" and number(-0.0, 2) == "0.00"
    assert number(None) == NONE and number(float("nan")) == NONE
    assert number(12.345, 1, " %") == "12.3 %"
    # A difference keeps its sign, but one that rounds to zero has none ("-0 %" read oddly).
    assert signed(-0.4) == "0" and signed(0.3) == "0" and signed(-2.6) == "-3"
    assert signed(4.04, 1, " %") == "+4.0 %" and signed(None) == NONE


def test_a_figure_is_drawn_while_pyplot_is_half_imported(monkeypatch):
    """The report's figures are drawn in one thread while another may be loading mediapipe,
    which imports pyplot: a half-imported pyplot (here a module with nothing in it yet) must
    not fail the drawing, as it once failed a whole command. A pyplot figure is still freed."""
    import sys
    import types

    import matplotlib

    from facescore.report import figures

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "matplotlib.pyplot", types.ModuleType("matplotlib.pyplot"))
        figure, ax = figures.new_figure(2.0, 1.0)
        ax.plot([0, 1], [0, 1])
        assert figures._png(figure).startswith(b"\x89PNG")
    figure, ax = plt.subplots()
    figures._png(figure)
    assert not plt.fignum_exists(figure.number)


def test_a_short_recording_gives_no_blink_rate():
    """One blink in 2.4 s is no "25 a minute"."""
    from facescore.segments import MIN_RATE_S, Blink, blink_summary

    one = [Blink(1.0, 0.2, {"left": 0.8, "right": 0.7}, {"left": 0.1, "right": 0.1})]
    assert blink_summary(one, 2.4)["rate_per_min"] is None
    assert blink_summary(one * 10, MIN_RATE_S)["rate_per_min"] == pytest.approx(20.0)


def test_history_prints_dashes_not_nan(tmp_path, capsys):
    db = tmp_path / "h.sqlite"
    connection = history.connect(db)
    history.record_session(connection, "anna", {"per_movement": {
        "smile": {"repetitions": 1, "symmetry_pct": None, "left": 0.1, "right": -0.02,
                  "weaker_side": None},
        "brow_raise": {"repetitions": 1, "symmetry_pct": 91.26, "left": 6.0, "right": 5.5,
                       "weaker_side": None}}}, None, "test")
    connection.close()
    assert main(["history", "--db", str(db), "-o", str(tmp_path / "h")]) == 0
    printed = capsys.readouterr().out
    assert "NaN" not in printed and "nan" not in printed and "-0.0" not in printed
    assert NONE in printed and "91.3" in printed
    page = (tmp_path / "h" / "history.html").read_text(encoding="utf-8")
    assert "NaN" not in page and "-0.0" not in page and NONE in page


def _report(per_movement: dict) -> dict:
    return {"input": {"path": "x.mp4"}, "summary": {"per_movement": per_movement}}


def test_compare_prints_clean_values_and_writes_html_and_json(tmp_path, capsys):
    before = tmp_path / "before.json"
    after = tmp_path / "after.json"
    before.write_text(json.dumps(_report({
        "smile": {"left": 7.0, "right": 3.5, "symmetry_pct": 50.0},
        "frown": {"left": 3.0, "right": 3.0, "symmetry_pct": None}})))
    after.write_text(json.dumps(_report({
        "smile": {"left": 6.98, "right": 5.0, "symmetry_pct": 71.6},
        "brow_raise": {"left": 8.0, "right": 7.0, "symmetry_pct": 87.5}})))
    out = tmp_path / "cmp"
    assert main(["compare", str(before), str(after), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "-0.0" not in printed and "NaN" not in printed and "nan" not in printed
    assert NONE in printed and "21.6" in printed
    document = json.loads((out / "compare.json").read_text())
    smile = next(m for m in document["movements"] if m["movement"] == "smile")
    assert smile["symmetry_pct_change"] == pytest.approx(21.6)
    frown = next(m for m in document["movements"] if m["movement"] == "frown")
    assert frown["left_mm_after"] is None and frown["symmetry_pct_before"] is None
    page = (out / "compare.html").read_text(encoding="utf-8")
    assert "21.6" in page and NONE in page and "-0.0" not in page


def test_session_folder_names_cannot_escape(tmp_path):
    from facescore.session import profile_folder

    for profile in ("../../etc", "a/b", "x" * 300, "<script>\n", "", "anna"):
        name = profile_folder(profile)
        assert "/" not in name and ".." not in name and 0 < len(name) <= 70
    assert profile_folder("anna") == "anna"
    assert profile_folder("a/b") != profile_folder("a_b")


def test_history_database_in_a_folder_is_one_line(tmp_path, capsys):
    (tmp_path / "h.sqlite").mkdir()
    assert main(["history", "--db", str(tmp_path / "h.sqlite"), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("facescore: error: cannot open the history database") and \
        "\n" not in err
    assert not (tmp_path / "o").exists()
