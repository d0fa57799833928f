"""Guided sessions: driven from phantom videos played as a live camera."""

import multiprocessing
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from fractions import Fraction

import numpy as np
import pytest
from conftest import FAST_TIMING

from facescore import history
from facescore.cli import main
from facescore.phantom import PhantomSpec, generate, right_weak
from facescore.session import SESSION_TIMING, run_session

SHORT = ("smile", "brow_raise")


@pytest.fixture(scope="module")
def exam(tmp_path_factory):
    """A full exam with a weak right side, on the session's own script."""
    root = tmp_path_factory.mktemp("session")
    return generate(root / "exam.mp4", right_weak(0.5, timing=SESSION_TIMING, size=(480, 480)))


@pytest.fixture(scope="module")
def first_session(exam, tmp_path_factory):
    root = tmp_path_factory.mktemp("session_run")
    db = root / "history.sqlite"
    result = run_session(exam.video, profile="pat", out_dir=root / "report", db=db,
                         window=False, fast=True)
    return result, db


def test_session_report_matches_truth(first_session, exam):
    result, _ = first_session
    assert result.ended_early is None
    found = {p.movement: p for p in result.analysis.performances}
    for true in exam.truth["performances"]:
        measured = found[true["movement"]]
        assert measured.weaker_side == "right"
        assert abs(measured.symmetry_pct - true["symmetry_pct"]) <= 10, true["movement"]
    assert (result.out_dir / "report.html").exists() and (result.out_dir / "report.json").exists()
    assert not (result.out_dir / "session.mp4").exists()  # no video unless asked


def test_session_adds_one_history_row_per_movement(first_session):
    result, db = first_session
    with sqlite3.connect(db) as connection:
        table = history.history_table(connection, "pat")
    assert sorted(table["movement"]) == sorted(["brow_raise", "eye_closure", "smile", "frown"])
    assert (table["session"] == result.session_id).all()
    assert table["report_path"].iloc[0].endswith("report.html")


def test_improving_sessions_show_an_improving_trend(tmp_path, capsys):
    db = tmp_path / "h.sqlite"
    for i, gain in enumerate((0.3, 0.6, 0.9)):
        spec = PhantomSpec(gains={m: {"right": gain} for m in SHORT}, order=SHORT,
                           size=(320, 320), timing=FAST_TIMING, seed=i)
        video = generate(tmp_path / f"week{i}.mp4", spec).video
        run_session(video, profile="p", out_dir=tmp_path / f"r{i}", db=db, window=False,
                    fast=True, order=SHORT, timing=FAST_TIMING)
    assert main(["history", "--profile", "p", "--db", str(db), "-o", str(tmp_path / "h")]) == 0
    assert (tmp_path / "h" / "history.png").stat().st_size > 1000
    with sqlite3.connect(db) as connection:
        table = history.history_table(connection, "p")
    for movement in SHORT:
        trend = table[table.movement == movement]["symmetry_pct"].to_numpy()
        assert len(trend) == 3 and np.all(np.diff(trend) > 0), (movement, trend)
    assert main(["compare", str(tmp_path / "r0"), str(tmp_path / "r2")]) == 0
    assert "symmetry_pct_change" in capsys.readouterr().out


def test_video_ending_mid_session_keeps_what_was_completed(exam, tmp_path):
    cut = tmp_path / "cut.mp4"
    # Re-encode only the first 12 s: brow raise and eye closure are complete, smile is not.
    import av

    with av.open(str(exam.video)) as source, av.open(str(cut), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 480, 480, "yuv420p"
        for i, frame in enumerate(source.decode(video=0)):
            if frame.time > 12.0:
                break
            frame.pts, frame.time_base = i, Fraction(1, 30)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    result = run_session(cut, profile="x", out_dir=tmp_path / "r", db=tmp_path / "h.sqlite",
                         window=False, fast=True)
    assert result.ended_early == "the video ended"
    assert [s.label for s in result.completed] == ["brow_raise", "eye_closure"]
    assert (tmp_path / "r" / "report.json").exists()


def _record_many(db, profile, n):
    connection = history.connect(db)
    summary = {"per_movement": {"smile": {"repetitions": 1, "symmetry_pct": 80.0, "left": 8.0,
                                          "right": 6.4, "weaker_side": "right"}}}
    for _ in range(n):
        history.record_session(connection, profile, summary, None, "test")
    connection.close()


def test_two_writers_at_once_do_not_corrupt_history(tmp_path):
    db = tmp_path / "h.sqlite"
    history.connect(db).close()
    workers = [multiprocessing.Process(target=_record_many, args=(db, p, 25)) for p in "ab"]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert connection.execute("SELECT COUNT(*) FROM movements").fetchone()[0] == 50


def test_killed_session_leaves_a_valid_history_and_no_half_report(exam, first_session,
                                                                  tmp_path):
    _, original = first_session
    db = tmp_path / "h.sqlite"
    shutil.copy(original, db)
    out = tmp_path / "report"
    process = subprocess.Popen(
        [sys.executable, "-m", "facescore", "session", "--camera", str(exam.video),
         "--profile", "pat", "--db", str(db), "-o", str(out), "--no-window"],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(6)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert connection.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 1
    assert not out.exists()  # reports are moved into place only when complete


XVFB = shutil.which("Xvfb")


@pytest.mark.skipif(XVFB is None, reason="Xvfb is not installed")
def test_window_shows_prompt_and_bars(exam, tmp_path):
    from PIL import ImageGrab

    display = ":97"
    server = subprocess.Popen([XVFB, display, "-screen", "0", "1024x768x24"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
        errors = tmp_path / "session.err"
        with open(errors, "w") as err:  # said in the failure, should the window not show
            session = subprocess.Popen(
                [sys.executable, "-m", "facescore", "session", "--camera", str(exam.video),
                 "--db", str(tmp_path / "h.sqlite"), "-o", str(tmp_path / "r")],
                env=env, stdout=subprocess.DEVNULL, stderr=err)
        # Start-up takes a few seconds (far more on a loaded machine): look at the window
        # until a movement is prompted with its bars, for as long as the session lasts.
        deadline = time.monotonic() + 90
        while True:
            time.sleep(1.0)
            grab = ImageGrab.grab(xdisplay=display).convert("RGB")
            shot = np.asarray(grab)
            title_band = np.all(np.abs(shot.astype(int) - 40) <= 2, axis=-1).sum()
            blue_bar = np.all(np.abs(shot.astype(int) - (31, 119, 180)) <= 3, axis=-1).sum()
            red_bar = np.all(np.abs(shot.astype(int) - (214, 39, 40)) <= 3, axis=-1).sum()
            if (title_band > 5000 and blue_bar > 200 and red_bar > 100) \
                    or session.poll() is not None or time.monotonic() > deadline:
                break
        grab.save(tmp_path / "window.png")
        ended = session.poll()
        session.kill()
        session.wait()
    finally:
        server.kill()
        server.wait()
    # Where no window was seen: whether the session had ended (and why) or was still starting.
    why = (f"session {'still running' if ended is None else f'ended with {ended}'}; "
           f"stderr: {errors.read_text()[-500:]!r}")
    assert shot.std() > 10, why  # a window was drawn
    assert title_band > 5000, f"prompt band missing; {why}"
    assert blue_bar > 200 and red_bar > 100, (blue_bar, red_bar, why)
