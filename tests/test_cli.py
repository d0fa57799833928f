"""The command line: outputs, errors as one line with exit code 2, nothing half-written."""

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from conftest import fast_spec

from facescore.cli import EXIT_INPUT, main


@pytest.fixture(scope="module")
def phantom_video(phantoms):
    phantom, _ = phantoms.get("astro_0.5", fast_spec(0.5))
    return phantom.video


def test_measure_writes_the_per_frame_table(phantom_video, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["measure", str(phantom_video), "-o", str(out), "-q"]) == 0
    table = pd.read_parquet(out / "frames.parquet")
    assert {"t_s", "face_found", "eye_aperture_mm_left", "eye_aperture_mm_right"} <= set(table)
    assert table["face_found"].all()
    csv = pd.read_csv(out / "frames.csv")
    assert len(csv) == len(table)
    meta = json.loads((out / "measurement.json").read_text())
    assert meta["calibration"]["mm_per_px"] > 0
    assert "frames.parquet" in capsys.readouterr().out


def test_check_passes_on_a_phantom(phantom_video, capsys):
    assert main(["check", str(phantom_video), "-q"]) == 0
    assert "PASS" in capsys.readouterr().out


def test_phantom_command_writes_video_and_truth(tmp_path, capsys):
    video = tmp_path / "p.mp4"
    code = main(["phantom", str(video), "--order", "smile", "--right-gain", "0.3",
                 "--size", "240x240", "-q"])
    assert code == 0 and video.exists()
    truth = json.loads((tmp_path / "p.mp4.truth.json").read_text())
    (smile,) = truth["performances"]
    assert smile["right"]["excursion_mm"] == pytest.approx(0.3 * smile["left"]["excursion_mm"])


@pytest.mark.parametrize("content", [None, b"", b"not a video at all\n" * 50])
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, content):
    video = tmp_path / "input.mp4"
    if content is not None:
        video.write_bytes(content)
    out = tmp_path / "out"
    assert main(["measure", str(video), "-o", str(out), "-q"]) == EXIT_INPUT
    err = capsys.readouterr().err.strip()
    assert err.startswith("facescore: error:") and "\n" not in err
    assert not out.exists()
    assert not list(tmp_path.glob(".out.*"))  # no staging folder left behind


def test_bad_gain_is_one_line(tmp_path, capsys):
    code = main(["phantom", str(tmp_path / "x.mp4"), "--gain", "smile:middle:1", "-q"])
    assert code == EXIT_INPUT
    assert "MOVEMENT:SIDE:GAIN" in capsys.readouterr().err


def _children(pid: int) -> list[int]:
    path = f"/proc/{pid}/task/{pid}/children"
    try:
        with open(path) as file:
            return [int(c) for c in file.read().split()]
    except OSError:
        return []


@pytest.mark.skipif(not os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children"),
                    reason="needs Linux's /proc/PID/task/TID/children")
def test_ctrl_c_stops_cleanly_with_its_landmark_worker(phantom_video, tmp_path):
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "facescore", "analyze", str(phantom_video),
                                "-o", str(out)], start_new_session=True,
                               env={**os.environ, "FACESCORE_LANDMARK_PROCESS": "1"},
                               # A suite started in the background inherits SIGINT ignored.
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not (workers := _children(process.pid)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert workers, "analyze started no landmark worker"
    time.sleep(0.5)  # the worker is loading the model or tracking
    os.killpg(process.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole group
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "interrupted" in stderr and "Traceback" not in stderr
    # The workers end with the run; on a loaded machine their exit may take a moment to show.
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{pid}") for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(os.path.exists(f"/proc/{pid}") for pid in workers)
    assert not out.exists()


def test_a_reader_that_leaves_early_gets_no_traceback(phantom_video, tmp_path):
    """``facescore analyze … | head``: the report is written; the closed pipe ends the
    command quietly, as a process killed by SIGPIPE, not with a BrokenPipeError traceback."""
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "facescore", "analyze", str(phantom_video),
                                "-o", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # the reader is gone before the first line
    stderr = process.stderr.read().decode()
    process.wait(timeout=120)
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr
    assert process.returncode == 128 + signal.SIGPIPE
    assert (out / "report.json").exists()


def test_a_report_of_another_recording_is_not_overwritten_unasked(phantom_video, tmp_path,
                                                                  capsys):
    """Patient B's report written into patient A's folder is refused before any work (A's
    report left whole); --overwrite replaces it, and a re-run of the same file replaces its
    own."""
    import shutil

    other = tmp_path / "patient_b.mp4"
    shutil.copyfile(phantom_video, other)
    out = tmp_path / "patient_a"
    assert main(["analyze", str(phantom_video), "-o", str(out), "-q"]) == 0
    before = (out / "report.json").read_bytes()
    capsys.readouterr()
    assert main(["analyze", str(other), "-o", str(out), "-q"]) == EXIT_INPUT
    err = capsys.readouterr().err.strip()
    assert "holds the report of" in err and phantom_video.name in err and "\n" not in err
    assert (out / "report.json").read_bytes() == before
    assert main(["analyze", str(other), "-o", str(out), "-q", "--overwrite"]) == 0
    assert json.loads((out / "report.json").read_text())["input"]["path"].endswith(other.name)
    assert main(["analyze", str(other), "-o", str(out), "-q"]) == 0


def test_help_and_parser_load_no_numerical_library():
    """--help (and so Ctrl-C while the command starts) must not wait for numpy, scipy, OpenCV
    or pandas: measured in a fresh interpreter, as the command starts."""
    code = ("import sys; import facescore.cli as c; c.build_parser(); "
            "print(','.join(m for m in ('numpy', 'scipy', 'cv2', 'pandas', 'mediapipe') "
            "if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == "", f"the parser imported {loaded}"


@pytest.mark.parametrize("command", ["analyze", "batch", "history", "compare", "phantom",
                                     "session", "serve", "measure", "check"])
def test_help_reads_cleanly_in_80_columns(command):
    """No literal '%%' (argparse formats only option help, not descriptions) and no line wider
    than the terminal."""
    result = subprocess.run([sys.executable, "-m", "facescore", command, "--help"],
                            capture_output=True, text=True, check=True,
                            env={**os.environ, "COLUMNS": "80"})
    assert "%%" not in result.stdout
    long = [line for line in result.stdout.splitlines() if len(line) > 80]
    assert not long, long
