"""The photo diary: phantom photos with known per-side gains over "days" give the trend, the
weaker side and the expression; dates come from EXIF or the name; bad input is one line."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facescore.cli import EXIT_INPUT, main
from facescore.diary import (
    PHOTO_NOISE_MM,
    PHOTO_RELATIVE_ERROR,
    REST,
    analyze_photos,
    date_from_name,
    photo_date,
)
from facescore.errors import FaceError, SourceError
from facescore.phantom import PhantomSpec, astronaut, load_base_face, phantom_photo
from facescore.uncertainty import Z95

#: The right side's smile gain on each of ten days: recovering from 0.2 to 1.0.
RECOVERY = np.linspace(0.2, 1.0, 10)
REST_NAME = "2026-03-01_rest.png"


def smile_name(day: int) -> str:
    return f"IMG_202603{day + 2:02d}_0800{day:02d}.png"


def write_series(face, folder: Path) -> dict[str, dict]:
    """A rest photo and ten smiles whose right side recovers; each framed differently (the
    phantom's sway at another moment) with its own pixel noise. Returns each photo's truth."""
    folder.mkdir(parents=True, exist_ok=True)
    truth = {}
    rest = phantom_photo(face, None, PhantomSpec(seed=99))
    Image.fromarray(rest.rgb).save(folder / REST_NAME)
    truth[REST_NAME] = rest.truth
    for day, gain in enumerate(RECOVERY):
        spec = PhantomSpec(gains={"smile": {"left": 1.0, "right": float(gain)}}, seed=day)
        photo = phantom_photo(face, "smile", spec, pose_t=1.37 * (day + 1))
        Image.fromarray(photo.rgb).save(folder / smile_name(day))
        truth[smile_name(day)] = photo.truth
    return truth


@pytest.fixture(scope="module")
def astronaut_series(tmp_path_factory):
    folder = tmp_path_factory.mktemp("astronaut_diary")
    truth = write_series(load_base_face(*astronaut()), folder)
    # The astronaut smiles at rest (mouthSmile 0.9): its rest photo is named.
    return folder, truth, analyze_photos([folder], rest=[REST_NAME])


@pytest.fixture(scope="module")
def neutral_series(tmp_path_factory, neutral_photo):
    folder = tmp_path_factory.mktemp("neutral_diary")
    truth = write_series(load_base_face(neutral_photo, "neutral.jpeg"), folder)
    return folder, truth, analyze_photos([folder])


def _sd(interval) -> float:
    return interval.half_width / Z95


def check_recovery(truth: dict, diary) -> None:
    """The properties of a recovering right side, with tolerances from the measure's own
    noise (its interval) and its measured proportional error."""
    smiles = [p for p in diary.photos if p.expression == "smile"]
    assert len(smiles) == len(RECOVERY)
    assert [p.path.name for p in smiles] == [smile_name(d) for d in range(len(RECOVERY))]
    for p in smiles:
        true = truth[p.path.name]
        for side in ("left", "right"):
            measured = p.excursion[side]
            expected = true[side]["excursion_mm"]
            # Within the interval's own SD budget: noise and the relative term.
            assert abs(measured.value - expected) <= 2 * _sd(measured) + 1e-9, (p.path.name, side)
        # The weaker side: right while the truth is clearly asymmetric; never left beyond noise.
        assert p.weaker_side in (None, "right")
        if true["symmetry_pct"] < 50:
            assert p.weaker_side == "right", p.path.name
        if true["symmetry_pct"] == 100:
            assert p.weaker_side is None
    right = [p.excursion["right"].value for p in smiles]
    left = [p.excursion["left"].value for p in smiles]
    # The right side's trend rises by about what it truly rose (relative error allowed).
    rise = truth[smiles[-1].path.name]["right"]["excursion_mm"] \
        - truth[smiles[0].path.name]["right"]["excursion_mm"]
    trend = diary.trends["smile"]
    assert trend["right"].direction == "rising"
    assert trend["right"].change_mm == pytest.approx(rise, rel=2 * PHOTO_RELATIVE_ERROR)
    assert trend["left"].direction == "no clear change"
    assert right[-1] - right[0] > 0.5 * rise
    assert np.ptp(left) < 4 * Z95 * PHOTO_NOISE_MM["smile"] + 2 * PHOTO_RELATIVE_ERROR * max(left)


def test_recovering_smile_series_astronaut(astronaut_series):
    _, truth, diary = astronaut_series
    assert diary.dated and all(p.date.source == "file name" for p in diary.photos)
    check_recovery(truth, diary)
    assert diary.photos[0].path.name == REST_NAME and diary.photos[0].expression == REST
    for p in diary.photos[1:]:
        assert p.expression == "smile" and "measured" in p.expression_basis
        assert p.reference.name == REST_NAME


def test_recovering_smile_series_recognised_without_help(neutral_series):
    """On a face neutral at rest nothing is named: the rest photo is recognised as rest, each
    smile as a smile."""
    _, truth, diary = neutral_series
    assert [p.expression for p in diary.photos] == [REST] + ["smile"] * len(RECOVERY)
    assert diary.photos[0].expression_basis == "expression scores: none shown"
    check_recovery(truth, diary)


def test_without_a_rest_photo_positions_only_and_said(neutral_series, tmp_path):
    folder, _, _ = neutral_series
    smiles = sorted(folder.glob("IMG_*.png"))[:3]
    diary = analyze_photos(smiles)
    assert not diary.has_rest and any("no rest photo" in n for n in diary.notes)
    for p in diary.photos:
        assert p.expression == "smile" and not p.excursion and p.weaker_side is None
        assert set(p.positions) == {"left", "right"}


def test_the_outputs_table_and_plot(astronaut_series, tmp_path, capsys):
    folder, _, diary = astronaut_series
    out = tmp_path / "out"
    assert main(["photos", str(folder), "-o", str(out), "--rest", REST_NAME, "-q"]) == 0
    printed = capsys.readouterr().out
    assert "trend, smile:" in printed and "right rising" in printed
    assert sorted(p.name for p in out.iterdir()) == ["diary.csv", "diary.html",
                                                     "trend_smile.png"]
    with open(out / "diary.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * len(diary.photos)
    assert {"photo", "taken", "date_source", "expression", "side", "excursion_mm",
            "excursion_low_mm", "symmetry_pct", "weaker_side"} <= set(rows[0])
    html = (out / "diary.html").read_text()
    assert "Photo diary" in html and "not a diagnostic device" in html.lower()
    assert Image.open(out / "trend_smile.png").size[0] > 400


def test_dates_from_names():
    assert date_from_name("2026-03-14_smile") == datetime(2026, 3, 14)
    assert date_from_name("smile20260314") == datetime(2026, 3, 14)
    assert date_from_name("IMG_20260314_101530") == datetime(2026, 3, 14, 10, 15, 30)
    assert date_from_name("photo_2026_03_14-08.30") == datetime(2026, 3, 14, 8, 30)
    assert date_from_name("20260230") is None  # no 30 February
    assert date_from_name("smile_3") is None


def test_dates_from_exif_before_the_name(tmp_path):
    picture = Image.fromarray(np.zeros((8, 8, 3), np.uint8))
    exif = Image.Exif()
    exif[306] = "2026:04:02 09:00:00"  # DateTime: when the file was last changed
    exif.get_ifd(0x8769)[36867] = "2026:04:01 08:15:00"  # DateTimeOriginal: when taken
    picture.save(tmp_path / "2025-01-01.jpg", exif=exif)
    found = photo_date(tmp_path / "2025-01-01.jpg")
    assert (found.taken, found.source) == (datetime(2026, 4, 1, 8, 15), "EXIF DateTimeOriginal")
    only = Image.Exif()
    only[306] = "2026:04:02 09:00:00"
    picture.save(tmp_path / "b.jpg", exif=only)
    assert photo_date(tmp_path / "b.jpg").source == "EXIF DateTime"
    picture.save(tmp_path / "2025-01-01.png")
    assert photo_date(tmp_path / "2025-01-01.png").source == "file name"
    picture.save(tmp_path / "c.png")
    assert photo_date(tmp_path / "c.png") == type(found)(None, "order given")


def test_exif_dates_order_the_series(astronaut_series, tmp_path):
    """Photos named without dates, dated in EXIF in the reverse of their names' order."""
    folder, _, _ = astronaut_series
    names = [REST_NAME] + [smile_name(d) for d in range(3)]
    for k, name in enumerate(names):
        exif = Image.Exif()
        exif.get_ifd(0x8769)[36867] = f"2026:05:{20 - k:02d} 08:00:00"
        Image.open(folder / name).save(tmp_path / f"photo{k}.jpg", exif=exif, quality=95)
    diary = analyze_photos([tmp_path], rest=["photo0.jpg"])
    assert [p.path.name for p in diary.photos] == ["photo3.jpg", "photo2.jpg", "photo1.jpg",
                                                   "photo0.jpg"]
    assert {p.date.source for p in diary.photos} == {"EXIF DateTimeOriginal"}
    assert [p.expression for p in diary.photos] == ["smile"] * 3 + [REST]


@pytest.mark.parametrize("bad", ["not_a_photo", "no_face", "empty", "fake_jpeg"])
def test_bad_input_is_one_line_and_nothing_written(astronaut_series, tmp_path, capsys, bad):
    folder, _, _ = astronaut_series
    photos = tmp_path / "photos"
    photos.mkdir()
    if bad != "empty":
        Image.open(folder / REST_NAME).save(photos / "2026-01-01.png")
    if bad == "not_a_photo":
        (photos / "notes.txt").write_text("hello")
    elif bad == "no_face":
        Image.fromarray(np.full((300, 300, 3), 128, np.uint8)).save(photos / "2026-01-02.png")
    elif bad == "fake_jpeg":
        (photos / "2026-01-02.jpg").write_bytes(b"not a jpeg at all")
    out = tmp_path / "out"
    assert main(["photos", str(photos), "-o", str(out), "-q"]) == EXIT_INPUT
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("facescore: ")
    assert {"not_a_photo": "notes.txt is not a photo", "no_face": "no face found",
            "empty": "no photos in", "fake_jpeg": "not a readable image"}[bad] in lines[0]
    assert not out.exists()


def test_api_errors_are_typed(tmp_path):
    with pytest.raises(SourceError):
        analyze_photos([])
    Image.fromarray(np.full((200, 200, 3), 90, np.uint8)).save(tmp_path / "wall.png")
    with pytest.raises(FaceError):
        analyze_photos([tmp_path / "wall.png"])
