"""Helpers shared by the app's tests (no tests here): the exam videos, a server run as
``facescore serve`` in a child process, and the browser's launch flags."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from conftest import FAST_TIMING

from facescore.phantom import MOVEMENTS, PhantomSpec, generate

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: Headless chromium with no network chatter (the network is closed here).
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"]
SHORT = ("brow_raise", "smile")


def headless_chromium():
    """Debian's chromium under Playwright, for a fixture to yield (skips without either)."""
    playwright = pytest.importorskip("playwright.sync_api")
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed")
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def short_exam(path: Path, right_gain: float, seed: int = 0,
               order: tuple[str, ...] = SHORT) -> Path:
    """A 4 s phantom exam (brow raise, smile; or ``order``) with the patient's right side at
    ``right_gain``."""
    spec = PhantomSpec(gains={m: {"left": 1.0, "right": right_gain} for m in MOVEMENTS},
                       size=(320, 320), timing=FAST_TIMING, order=order, seed=seed)
    return generate(path, spec).video


@pytest.fixture(scope="session")
def app_exams(tmp_path_factory) -> dict[str, Path]:
    """Two short exams, generated once: a weak right side (0.5), then a better one (0.8)."""
    if not _EXAMS:  # the fixture is imported by several modules: make the videos once
        root = tmp_path_factory.mktemp("app_exams")
        _EXAMS.update(weak=short_exam(root / "visit1.mp4", 0.5, seed=1),
                      better=short_exam(root / "visit2.mp4", 0.8, seed=2))
    return dict(_EXAMS)


_EXAMS: dict[str, Path] = {}


class Server:
    """``facescore serve --no-browser`` in a child process, on a free port."""

    def __init__(self, data: Path, *extra: str):
        self.data = data
        # Read at the end (a pipe could fill up while nobody reads it).
        self._err = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "facescore", "serve", "--no-browser", "--data", str(data),
             "--port", "0", *extra],
            stdout=subprocess.PIPE, stderr=self._err, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.lines: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("serve stopped: " + self._errors())
            self.lines.append(line.rstrip())
            match = re.search(r"(http://\S+)", line)
            if match:
                self.url = match.group(1).rstrip("/")
                break
        else:
            raise RuntimeError("serve printed no address")
        self.client = httpx.Client(base_url=self.url, timeout=30)
        while time.monotonic() < deadline:
            try:
                if self.client.get("/").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        self.csrf = re.search(r'name="csrf-token" content="([^"]+)"',
                              self.client.get("/").text).group(1)

    def _errors(self) -> str:
        self._err.seek(0)
        return self._err.read()

    def post_form(self, path: str, **fields) -> httpx.Response:
        return self.client.post(path, data={"csrf": self.csrf, **fields},
                                headers={"Origin": self.url})

    def create_patient(self, identifier: str, **fields) -> int:
        response = self.post_form("/patients", identifier=identifier, **fields)
        assert response.status_code == 303, response.text
        return int(response.headers["location"].rsplit("/", 1)[1])

    def upload(self, patient: int, video: Path, **params) -> httpx.Response:
        return self.client.post(f"/patients/{patient}/visits", params=params,
                                content=video.read_bytes(),
                                headers={"X-CSRF-Token": self.csrf, "X-Filename": video.name})

    def status(self, visit: int) -> dict:
        return self.client.get(f"/visits/{visit}/status").json()

    def wait_done(self, visits: list[int], timeout: float = 180) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = [self.status(v) for v in visits]
            if all(s["status"] in ("done", "failed") for s in states):
                return states
            time.sleep(0.3)
        raise AssertionError(f"analyses not finished: {states}")

    def stop(self, timeout: float = 30) -> tuple[int, str]:
        """Ctrl-C, as a terminal sends it; returns the exit status and what it printed."""
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            out, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            raise AssertionError("serve did not stop on Ctrl-C") from None
        printed = "\n".join(self.lines) + "\n" + out + self._errors()
        self._err.close()
        return self.process.returncode, printed

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        if self.process.poll() is None:
            self.stop()

