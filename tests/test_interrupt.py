"""Ctrl-C and SIGTERM: every command stops promptly, at any moment (while it starts, too), in one
line and the shell's status for the signal, leaves no process and nothing half-written, keeps
what it finished, and the next run picks up where it stopped."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from facescore.batch import load_results, run_batch

psutil = pytest.importorskip("psutil")

#: How long a stop may take, s. A stop takes well under 2 s on a quiet machine (the commands
#: promise "a second or two"), but 3.0-3.6 s was seen with the suite beside other work on 2
#: cores: the bound is generous so that load cannot fail the test, while a command that waits
#: for its work to finish (tens of seconds here) still does. Status and clean-up are exact.
STOP_S = 10.0
KEY = ["video", "movement", "rep", "metric", "side"]
N_VIDEOS = 8


def _start(command: list[str], **env: str) -> subprocess.Popen:
    """A facescore process in its own process group, as a terminal would start it."""
    return subprocess.Popen(
        [sys.executable, "-m", "facescore", *command], start_new_session=True,
        # A suite started in the background inherits SIGINT ignored; a terminal's would not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class Watch:
    """Every descendant a process has had, seen by polling while waiting for a moment."""

    def __init__(self, process: subprocess.Popen):
        self.process = process
        self.seen: set[int] = set()

    def poll(self) -> None:
        with contextlib.suppress(psutil.NoSuchProcess):
            children = psutil.Process(self.process.pid).children(recursive=True)
            self.seen |= {c.pid for c in children}

    def until(self, condition, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.process.poll() is None, "the run ended before the moment came"
            assert time.monotonic() < deadline, "the moment never came"
            self.poll()
            time.sleep(0.02)
        self.poll()

    def stop(self, sig: int, group: bool = False) -> tuple[float, str]:
        """Send ``sig`` (to the whole group when ``group``); the seconds until the process
        ended, and its stderr."""
        sent = time.monotonic()
        (os.killpg if group else os.kill)(self.process.pid, sig)
        _, stderr = self.process.communicate(timeout=30)
        took = time.monotonic() - sent
        return took, stderr

    def survivors(self) -> list[int]:
        alive = []
        for pid in self.seen:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                pass
        return alive


def _catches(pid: int, sig: int) -> bool:
    """Whether process ``pid`` has a handler for ``sig`` (Linux's /proc)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) & (1 << (sig - 1)))


def _assert_stopped(watch: Watch, took: float, stderr: str, sig: int) -> None:
    assert took <= STOP_S, f"took {took:.2f} s to stop"
    assert watch.process.returncode == 128 + sig, stderr
    assert stderr.strip().startswith("facescore: interrupted") and "Traceback" not in stderr, \
        stderr
    assert stderr.count("\n") == 1, stderr
    assert watch.survivors() == [], "a child process outlived the run"


def _half_written(out: Path) -> list[Path]:
    """Staging folders and partial files: what a stopped run must not leave."""
    return [p for p in out.rglob("*") if p.name.endswith(".partial")
            or (p.name.startswith(".") and p.is_dir())]


@pytest.fixture(scope="module")
def study(clip, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("interrupt") / "videos"
    folder.mkdir()
    for i in range(N_VIDEOS):
        shutil.copy(clip, folder / f"exam{i}.mp4")
    return folder


@pytest.fixture(scope="module")
def clean_tables(study, tmp_path_factory) -> pd.DataFrame:
    result = run_batch([study], tmp_path_factory.mktemp("clean"), workers=2)
    assert result.run["done"] == N_VIDEOS
    return result.table.sort_values(KEY).reset_index(drop=True)


def _markers(out: Path) -> int:
    return len(list(out.glob("videos/*/result.json")))


def _in_flight(out: Path) -> bool:
    return any(p.name.startswith(".") for p in out.glob("videos/*"))


def test_batch_stops_at_any_moment_and_the_rerun_matches_a_clean_run(study, clean_tables,
                                                                     tmp_path):
    out = tmp_path / "study"
    command = ["batch", str(study), "-o", str(out), "--workers", "2", "-q"]
    # The landmark model in its own process in every worker: grandchildren to end as well.
    env = {"FACESCORE_LANDMARK_PROCESS": "1"}
    moments = [
        # As soon as facescore's own handling is in place (the interpreter does not handle
        # SIGTERM; facescore does from its first line): the command is still importing.
        ("while the command starts",
         lambda watch: lambda: _catches(watch.process.pid, signal.SIGTERM), signal.SIGINT,
         False),
        ("while the workers start", lambda watch: lambda: bool(watch.seen), signal.SIGINT,
         False),
        ("with videos in flight", lambda watch: lambda: _in_flight(out), signal.SIGINT, False),
        ("to the whole group", lambda watch: lambda: _markers(out) > done_before,
         signal.SIGINT, True),
        ("by SIGTERM", lambda watch: lambda: _markers(out) > done_before, signal.SIGTERM,
         False),
    ]
    if not Path("/proc/self/status").exists():
        moments = moments[1:]
    for name, moment, sig, group in moments:
        done_before = _markers(out)
        watch = Watch(_start(command, **env))
        watch.until(moment(watch))
        took, stderr = watch.stop(sig, group)
        _assert_stopped(watch, took, stderr, sig)
        assert _half_written(out) == [], name
        assert _markers(out) >= done_before, name  # finished work is kept
        if _markers(out):
            assert "are analysed and kept" in stderr
    assert _markers(out) < N_VIDEOS, "the moments came too late to interrupt anything"
    result = run_batch([study], out, workers=2)
    assert result.run["skipped"] >= 1 and result.run["done"] + result.run["skipped"] == N_VIDEOS
    resumed = result.table.sort_values(KEY).reset_index(drop=True)
    pd.testing.assert_frame_equal(resumed, clean_tables)
    assert not load_results(out).table.duplicated(KEY).any()


def test_ctrl_c_stops_a_dask_batch_and_cancels_its_futures(study, tmp_path):
    distributed = pytest.importorskip("distributed")
    out = tmp_path / "dask"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        watch = Watch(_start(["batch", str(study), "-o", str(out), "--scheduler",
                              cluster.scheduler_address, "-q"]))
        with distributed.Client(cluster.scheduler_address) as client:
            def running() -> bool:
                return client.run_on_scheduler(
                    lambda dask_scheduler: sum(t.state == "processing"
                                               for t in dask_scheduler.tasks.values())) > 0

            watch.until(running)
            took, stderr = watch.stop(signal.SIGINT)
            _assert_stopped(watch, took, stderr, signal.SIGINT)
            deadline = time.monotonic() + 10
            while (left := client.run_on_scheduler(lambda dask_scheduler:
                                                   len(dask_scheduler.tasks))) and \
                    time.monotonic() < deadline:
                time.sleep(0.1)
            assert left == 0, "the batch's futures were not cancelled"


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_ctrl_c_while_the_command_imports_ends_in_one_line(tmp_path):
    """The moment a Ctrl-C once ended in a traceback and exit 1: a phantom command still
    loading its numerical libraries (the signal landed inside scipy's import)."""
    for delay in (0.0, 0.3, 0.6):
        watch = Watch(_start(["phantom", str(tmp_path / "p.mp4"), "-q"]))
        watch.until(lambda w=watch: _catches(w.process.pid, signal.SIGTERM))
        time.sleep(delay)
        took, stderr = watch.stop(signal.SIGINT)
        if watch.process.returncode == 0:
            break  # this machine finished before the later moments: nothing more to stop
        _assert_stopped(watch, took, stderr, signal.SIGINT)
        assert not list(tmp_path.iterdir()), "a stopped phantom left a file"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_analyze_stops_cleanly_with_its_landmark_process(clip, tmp_path, sig):
    out = tmp_path / "out"
    watch = Watch(_start(["analyze", str(clip), "-o", str(out)],
                         FACESCORE_LANDMARK_PROCESS="1"))
    watch.until(lambda: bool(watch.seen))  # the landmark process is up
    time.sleep(0.3)
    took, stderr = watch.stop(sig)
    _assert_stopped(watch, took, stderr, sig)
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_ctrl_c_abandons_a_session_and_records_nothing(clip, tmp_path):
    db, out = tmp_path / "h.sqlite", tmp_path / "sessions" / "now"
    watch = Watch(_start(["session", "--camera", str(clip), "--no-window", "--save-video",
                          "--db", str(db), "-o", str(out)]))
    recording = out.parent / f".{out.name}.mp4"
    watch.until(recording.exists)  # measuring and recording, at the clip's own pace
    time.sleep(0.3)
    took, stderr = watch.stop(signal.SIGINT, group=True)
    _assert_stopped(watch, took, stderr, signal.SIGINT)
    assert not out.exists() and not recording.exists()
    if db.exists():
        with sqlite3.connect(db) as connection:
            assert connection.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 0


@pytest.mark.skipif(__import__("multiprocessing").get_start_method() != "fork",
                    reason="the stand-in analysis reaches the workers only when they are forked")
def test_a_worker_that_dies_fails_only_its_video(monkeypatch, tmp_path):
    from facescore import batch

    def stand_in(path, out_root, settings):
        if path == "dies":
            os._exit(9)  # as the kernel's out-of-memory killer would end it
        return {"path": path, "status": "done"}

    monkeypatch.setattr(batch, "process_video", stand_in)
    results: list[dict] = []
    batch._run_local(["a", "dies", "b", "c", "d"], str(tmp_path), {}, 2, results.append)
    assert {r["path"]: r["status"] for r in results} == {
        "a": "done", "dies": "failed", "b": "done", "c": "done", "d": "done"}
    assert "ended unexpectedly" in next(r["reason"] for r in results if r["path"] == "dies")
