"""Rough edges a user hits: output paths checked before any work, missing optional parts
named, every option's unit and default in --help."""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from facescore.cli import EXIT_INPUT, build_parser, main


def _one_line(capsys, fragment: str) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("facescore: error:") and "\n" not in err, err
    assert fragment in err, err
    return err


def _no_staging(folder: Path) -> None:
    assert not [p for p in folder.rglob(".*") if p.is_dir()], "a staging folder is left"


# --- output paths --------------------------------------------------------------------------------

def _commands(clip: Path, target: Path, tmp_path: Path) -> dict[str, list[str]]:
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"summary": {"per_movement": {}}}))
    return {
        "analyze": ["analyze", str(clip), "-o", str(target), "-q"],
        "measure": ["measure", str(clip), "-o", str(target), "-q"],
        "batch": ["batch", str(clip), "-o", str(target), "-q"],
        "phantom": ["phantom", str(target / "p.mp4") if target.suffix != ".mp4"
                    else str(target), "-q"],
        "history": ["history", "--db", str(tmp_path / "h.sqlite"), "-o", str(target)],
        "compare": ["compare", str(report), str(report), "-o", str(target)],
        "session": ["session", "--camera", str(clip), "--no-window", "--db",
                    str(tmp_path / "h.sqlite"), "-o", str(target)],
    }


COMMANDS = ["analyze", "measure", "batch", "phantom", "history", "compare", "session"]


@pytest.mark.parametrize("command", COMMANDS)
def test_output_that_is_an_existing_file_is_refused_at_once(command, clip, tmp_path, capsys):
    target = tmp_path / "taken"
    target.write_text("someone's notes")
    argv = _commands(clip, target, tmp_path)[command]
    if command == "phantom":
        argv = ["phantom", str(target / "p.mp4"), "-q"]
    assert main(argv) == EXIT_INPUT
    _one_line(capsys, "existing file")
    assert target.read_text() == "someone's notes"
    _no_staging(tmp_path)


@pytest.mark.parametrize("command", COMMANDS)
def test_output_inside_a_file_is_refused_at_once(command, clip, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(_commands(clip, blocker / "sub", tmp_path)[command]) == EXIT_INPUT
    _one_line(capsys, "is a file, not a folder")
    _no_staging(tmp_path)


def test_phantom_onto_an_existing_folder_is_refused(tmp_path, capsys):
    (tmp_path / "exam.mp4").mkdir()
    assert main(["phantom", str(tmp_path / "exam.mp4"), "-q"]) == EXIT_INPUT
    _one_line(capsys, "existing folder")


@pytest.fixture
def locked(tmp_path):
    """A folder nothing can be made in: read-only for a user, immutable for root (who may
    otherwise write anywhere)."""
    folder = tmp_path / "locked"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(folder)],
                                        capture_output=True).returncode != 0:
        pytest.skip("root, and no immutable folders on this file system")
    yield folder
    subprocess.run([chattr, "-i", str(folder)], check=True)


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
@pytest.mark.parametrize("command", ["analyze", "batch", "history"])
def test_unwritable_place_is_refused_before_any_work(command, clip, locked, tmp_path, capsys):
    argv = _commands(clip, locked / "out", tmp_path)[command]
    assert main(argv) == EXIT_INPUT
    _one_line(capsys, "cannot be written")
    assert list(locked.iterdir()) == []


def _limit_file_size() -> None:
    """In the child: files may not grow beyond 200 kB, as on a disk about to fill up."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))


def test_full_disk_while_writing_is_one_line_and_leaves_nothing(clip, tmp_path):
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "facescore", "analyze", str(clip), "-o", str(out), "-q"],
        capture_output=True, text=True, timeout=300, preexec_fn=_limit_file_size)
    assert result.returncode == EXIT_INPUT, result.stderr
    assert result.stderr.count("\n") == 1 and "cannot write" in result.stderr, result.stderr
    assert not out.exists()
    _no_staging(tmp_path)


# --- missing optional parts ----------------------------------------------------------------------

def test_cluster_extra_missing_is_named(clip, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if it were not installed
    out = tmp_path / "study"
    assert main(["batch", str(clip), "-o", str(out), "--scheduler", "tcp://10.0.0.5:8786",
                 "-q"]) == EXIT_INPUT
    _one_line(capsys, "pip install 'facescore[cluster]'")
    assert not out.exists()


def test_unreachable_scheduler_is_one_line(clip, tmp_path, capsys, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr("facescore.batch.CONNECT_TIMEOUT_S", 1)
    out = tmp_path / "study"
    assert main(["batch", str(clip), "-o", str(out), "--scheduler", "tcp://127.0.0.1:9",
                 "-q"]) == EXIT_INPUT
    _one_line(capsys, "cannot reach the Dask scheduler")
    assert not out.exists()


def test_session_window_without_a_display_is_one_line(clip, tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = subprocess.run(
        [sys.executable, "-m", "facescore", "session", "--camera", str(clip), "--db",
         str(tmp_path / "h.sqlite"), "-o", str(tmp_path / "r")],
        capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == EXIT_INPUT, result.stderr
    assert result.stderr.count("\n") == 1 and "--no-window" in result.stderr
    assert "Xvfb" in result.stderr
    assert not (tmp_path / "r").exists() and not (tmp_path / "h.sqlite").exists()


def test_opencv_without_windows_is_one_line(clip, tmp_path, capsys, monkeypatch):
    import cv2

    def headless(*_args):
        raise cv2.error("The function is not implemented. Rebuild the library with GTK+")

    monkeypatch.setattr("facescore.session.display_problem", lambda: None)
    monkeypatch.setattr(cv2, "namedWindow", headless)
    assert main(["session", "--camera", str(clip), "--db", str(tmp_path / "h.sqlite"), "-o",
                 str(tmp_path / "r")]) == EXIT_INPUT
    _one_line(capsys, "install opencv-contrib-python")


# --- help ----------------------------------------------------------------------------------------

#: Words that say what a number is counted in.
UNITS = (" s", "px", "mm", "%", " MB", "a count", "a share", "ratio", "grey levels",
         "frames per second", "an integer", "port", "share of normal")


def _options():
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in commands.choices.items():
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction) or not action.option_strings:
                continue
            yield name, action


@pytest.mark.parametrize("name, action", list(_options()),
                         ids=[f"{n} {a.option_strings[-1]}" for n, a in _options()])
def test_every_option_states_its_default_and_unit(name, action):
    text = " ".join((action.help or "").split())
    assert action.help, f"{name} {action.option_strings}: no help"
    if not action.required:
        assert "default" in text, f"{name} {action.option_strings[-1]}: no default in {text!r}"
    if action.type in (int, float):
        assert any(unit in text for unit in UNITS), \
            f"{name} {action.option_strings[-1]}: no unit in {text!r}"


def test_analyze_help_says_photos_are_accepted(capsys):
    with pytest.raises(SystemExit):
        main(["analyze", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "photo" in text and ".jpg" in text and "resting-symmetry" in text
