"""The photo diary in the clinic app: a multi-file upload becomes a series on the patient page,
with its trend plot and table; bad photos are refused and nothing is kept."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image
from test_app_http import BASE, _client, _csrf, _patient

from facescore.phantom import PhantomSpec, astronaut, load_base_face, phantom_photo


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list[tuple[str, bytes]]:
    """A rest photo and four smiles whose right side recovers, as a phone would name them."""
    folder = tmp_path_factory.mktemp("diary_upload")
    face = load_base_face(*astronaut())
    shots = [("2026-03-01_rest.jpg", phantom_photo(face, None, PhantomSpec(seed=9)))]
    for day, gain in enumerate((0.2, 0.45, 0.7, 1.0)):
        spec = PhantomSpec(gains={"smile": {"left": 1.0, "right": gain}}, seed=day)
        shots.append((f"IMG_2026030{day + 2}_0800.jpg",
                      phantom_photo(face, "smile", spec, pose_t=1.37 * (day + 1))))
    out = []
    for name, shot in shots:
        Image.fromarray(shot.rgb).save(folder / name, quality=95)
        out.append((name, (folder / name).read_bytes()))
    return out


def _send(client, patient: int, photos, rest: str = "", csrf: str | None = None):
    files = [("photos", (name, data, "image/jpeg")) for name, data in photos]
    return client.post(f"/patients/{patient}/photos", files=files,
                       data={"csrf": csrf or _csrf(client), "rest": rest},
                       headers={"Origin": BASE})


def test_an_upload_becomes_a_series_on_the_patient_page(tmp_path, photos):
    client = _client(tmp_path)
    anna = _patient(client, "anna")
    empty = client.get(f"/patients/{anna}").text
    assert "No photo series yet" in empty
    # The plain form carries this run's token (a browser sends it; nothing else can).
    form = re.search(r'<form[^>]*id="diary-form".*?</form>', empty, re.S).group(0)
    assert f'name="csrf" value="{_csrf(client)}"' in form
    response = _send(client, anna, photos, rest="2026-03-01_rest.jpg")
    assert response.status_code == 303, response.text
    page_url = response.headers["location"]
    page = client.get(page_url)
    assert page.status_code == 200
    rows = re.findall(r'<tr class="photo-row" data-expression="(\w+)"', page.text)
    assert rows == ["rest", "smile", "smile", "smile", "smile"]
    assert "file name" in page.text and "IMG_20260302_0800.jpg" in page.text
    plot = re.search(r'src="(/patients/\d+/diary/[^"]+/trend_smile\.png)"', page.text).group(1)
    image = client.get(plot)
    assert image.status_code == 200 and image.content[:4] == b"\x89PNG"
    assert client.get(page_url + "/diary.csv").text.startswith("photo,")
    # The weaker side is named at first, the trend rises on the right.
    assert 'class="weaker right"' in page.text and "right</span> rising" in page.text
    patient_page = client.get(f"/patients/{anna}").text
    assert 'class="diary-row"' in patient_page and page_url in patient_page
    assert "5 photos" in patient_page and "2026-03-01 – 2026-03-05" in patient_page

    # The series goes with its patient.
    csrf = _csrf(client)
    assert client.post(f"/patients/{anna}/delete", data={"csrf": csrf, "confirm": "yes"},
                       headers={"Origin": BASE}).status_code == 303
    assert not (tmp_path / "diary" / str(anna)).exists()


@pytest.mark.parametrize("bad", ["not_a_photo", "no_face", "no_token"])
def test_bad_uploads_are_refused_in_a_line_and_nothing_is_kept(tmp_path, photos, bad):
    client = _client(tmp_path)
    bert = _patient(client, "bert")
    sent = list(photos[:2])
    if bad == "not_a_photo":
        sent.append(("notes.jpg", b"just some text, not a photo"))
    elif bad == "no_face":
        wall = tmp_path / "wall.png"
        Image.fromarray(np.full((240, 240, 3), 120, np.uint8)).save(wall)
        sent.append(("wall.png", wall.read_bytes()))
    response = _send(client, bert, sent, csrf="forged" if bad == "no_token" else None)
    assert response.status_code == (403 if bad == "no_token" else 400)
    message = re.search(r'<p class="error"[^>]*>(.*?)</p>', response.text, re.S)
    text = message.group(1) if message else response.text
    if bad == "not_a_photo":
        assert "notes.jpg" in text and "not a readable image" in text
    elif bad == "no_face":
        assert "no face found in wall.png" in text
    series = tmp_path / "diary" / str(bert)
    assert not series.exists() or list(series.iterdir()) == []
    assert "No photo series yet" in client.get(f"/patients/{bert}").text
