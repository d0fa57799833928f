"""The README's scripts: set-up installs once, and stays quiet after."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STAMP = ROOT / ".venv" / ".facescore-installed"


@pytest.mark.skipif(not STAMP.exists() or Path(sys.prefix).resolve() != (ROOT / ".venv").resolve(),
                    reason="runs only in the .venv that scripts/setup made")
@pytest.mark.parametrize("extras", [["--test"], []], ids=["test", "plain"])
def test_setup_again_reuses_the_environment_quietly(extras):
    """After one installation (scripts/test made this one), scripts/setup, and so
    scripts/demo, neither reinstalls nor prints: no pip run, no setuptools notice."""
    result = subprocess.run(["bash", str(ROOT / "scripts" / "setup"), *extras],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "installing facescore" not in result.stdout, "it reinstalled"
    assert result.stderr == "" and "Editable" not in result.stdout
