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


def test_constraints_pin_every_dependency_within_its_range():
    """constraints.txt (the versions the committed tables were made with) pins each of the
    project's dependencies, extras included, to a version its range in pyproject.toml allows."""
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version.strip()
    wanted = [Requirement(r) for r in project["dependencies"]]
    wanted += [Requirement(r) for extra in project["optional-dependencies"].values() for r in extra]
    for requirement in wanted:
        pinned = pins.get(canonicalize_name(requirement.name))
        assert pinned is not None, f"{requirement.name} is not pinned"
        assert requirement.specifier.contains(pinned), f"{requirement.name}=={pinned}"
