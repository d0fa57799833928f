"""`phantom --schedule session`: a video paced to the guided session's script, so that
`session --camera VIDEO` measures the movements it prompts (the README's session example)."""

from __future__ import annotations

import json

import pytest

from facescore.cli import EXIT_INPUT, main
from facescore.phantom import MOVEMENTS, exam_schedule
from facescore.session import SESSION_TIMING, run_session


@pytest.fixture(scope="module")
def session_video(tmp_path_factory):
    """Small and at 8 fps, to be quick; the face is large in it, to be measurable."""
    video = tmp_path_factory.mktemp("schedule") / "session.mp4"
    code = main(["phantom", str(video), "--schedule", "session", "--right-gain", "0.5",
                 "--size", "200x200", "--face-width", "0.6", "--fps", "8", "-q"])
    assert code == 0
    return video


def test_phantom_follows_the_session_script(session_video):
    truth = json.loads(session_video.with_name(session_video.name + ".truth.json").read_text())
    script, duration = exam_schedule(MOVEMENTS, 1, SESSION_TIMING)
    assert truth["duration_s"] == pytest.approx(duration)
    assert [(p["movement"], p["start_s"], p["end_s"]) for p in truth["performances"]] == \
        [(p.movement, pytest.approx(p.start_s), pytest.approx(p.end_s)) for p in script]


def test_session_played_from_it_measures_every_prompted_movement(session_video, tmp_path):
    result = run_session(session_video, profile="demo", out_dir=tmp_path / "report",
                         db=tmp_path / "h.sqlite", window=False, fast=True)
    assert result.ended_early is None
    assert [s.label for s in result.completed] == list(MOVEMENTS)
    measured = [p for p in result.analysis.performances if p.symmetry_pct is not None]
    assert len(measured) >= 3
    for p in measured:  # the right side moves half as far: it must read as the weaker one
        assert p.right.excursion_mm < p.left.excursion_mm, p.movement


@pytest.mark.parametrize("option", [["--lead-in", "2"], ["--order", "smile"]])
def test_session_schedule_keeps_its_own_timing(option, tmp_path, capsys):
    video = tmp_path / "x.mp4"
    assert main(["phantom", str(video), "--schedule", "session", *option, "-q"]) == EXIT_INPUT
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"facescore: error: {option[0]}") and "\n" not in err
    assert not video.exists()
