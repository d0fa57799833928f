"""The codebase keeps its shape: one mediapipe import, no printing outside the CLI, ruff-clean,
and the libraries' thread pools left to facescore's own threads."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "facescore"


def _sources():
    return sorted(PACKAGE.rglob("*.py"))


def test_mediapipe_is_imported_in_one_module():
    importers = [p.name for p in _sources()
                 if re.search(r"^\s*(import|from)\s+mediapipe", p.read_text(), re.M)]
    assert importers == ["landmarks.py"]


def test_only_the_cli_prints_or_exits():
    offenders = [p.name for p in _sources() if p.name not in ("cli.py", "__main__.py")
                 and re.search(r"^\s*(print\(|sys\.exit\()", p.read_text(), re.M)]
    assert offenders == []


def test_nothing_is_downloaded_at_run_time():
    # Download calls, or an address of another machine written into the code (the web app
    # builds its own loopback address from variables, which is fine).
    pattern = re.compile(r"urllib\.request|requests\.get|urlretrieve|urlopen|"
                         r"https?://(?!\{|localhost|127\.0\.0\.1)[\w.-]+")
    assert [p.name for p in _sources() if pattern.search(p.read_text())] == []


def test_ruff_clean():
    beside_python = Path(sys.executable).with_name("ruff")
    ruff = str(beside_python) if beside_python.exists() else shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    root = PACKAGE.parent
    result = subprocess.run([ruff, "check", "facescore", "tests", "benchmarks"], cwd=root,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_opencv_and_blas_keep_to_one_thread_unless_told_otherwise():
    """facescore's own threads and processes fill the cores; the libraries' pools would only
    add hand-offs (facescore/__init__.py). A user's own setting is kept."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENCV_FOR_THREADS_NUM", "OPENBLAS_NUM_THREADS")}

    def threads(**told: str) -> list[str]:
        probe = ("import facescore, cv2, os; "
                 "print(cv2.getNumThreads(), os.environ['OPENBLAS_NUM_THREADS'])")
        return subprocess.run([sys.executable, "-c", probe], env={**env, **told},
                              capture_output=True, text=True, check=True,
                              cwd=PACKAGE.parent).stdout.split()

    assert threads() == ["1", "1"]
    assert threads(OPENCV_FOR_THREADS_NUM="2")[0] == "2"
