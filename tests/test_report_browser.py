"""The report seen as a person sees it: headless Chromium renders it offline and we look."""

import shutil
import subprocess

import numpy as np
import pytest
from conftest import fast_spec
from PIL import Image

from facescore.analysis import analyze
from facescore.report import write_outputs

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _screenshot(html, png, tmp_path, height=2400):
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
         f"--window-size=1100,{height}", f"--screenshot={png}", f"file://{html}"],
        check=True, capture_output=True, timeout=120)
    return np.asarray(Image.open(png).convert("RGB"))


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_report_renders_offline_with_its_key_elements(phantoms, tmp_path):
    phantom, _ = phantoms.get("astro_0.5", fast_spec(0.5))
    analysis = analyze(phantom.video)
    write_outputs(analysis, phantom.video, tmp_path / "out")
    html = tmp_path / "out" / "report.html"
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", f"--user-data-dir={tmp_path / 'p2'}",
         "--dump-dom", f"file://{html}"], check=True, capture_output=True, text=True,
        timeout=120).stdout
    for element in ('id="disclaimer"', 'id="movements"', 'id="key-frames"', 'id="time-series"',
                    'id="rest"', 'id="synkinesis"', 'id="estimates"'):
        assert element in dom
    assert dom.count("<tr>") >= 1 + len(analysis.performances)
    pixels = _screenshot(html, tmp_path / "shot.png", tmp_path)
    # The page drew something: not blank, with the images' colours (blue and red traces).
    assert pixels.std() > 20
    blue = ((pixels[..., 2] > 150) & (pixels[..., 0] < 80)).sum()
    red = ((pixels[..., 0] > 180) & (pixels[..., 1] < 80) & (pixels[..., 2] < 80)).sum()
    assert blue > 500 and red > 500
