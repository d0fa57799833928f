"""Batch: many videos, failures reported, resumable after kill -9, same tables on Dask."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from conftest import FAST_TIMING

from facescore.batch import collect_inputs, load_results, run_batch
from facescore.cli import EXIT_SOME_FAILED, main
from facescore.phantom import PhantomSpec, generate

KEY = ["video", "movement", "rep", "metric", "side"]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """12 inputs: 10 phantom exams (3 distinct gains, copied) and 2 corrupt files, with a
    manifest carrying subject metadata."""
    root = tmp_path_factory.mktemp("study")
    distinct = []
    for i, gain in enumerate((1.0, 0.6, 0.3)):
        spec = PhantomSpec(gains={"smile": {"right": gain}, "brow_raise": {"right": gain}},
                           order=("smile", "brow_raise"), size=(256, 256), timing=FAST_TIMING,
                           seed=i)
        distinct.append(generate(root / f"src_{i}.mp4", spec).video)
    videos = root / "videos"
    videos.mkdir()
    rows = []
    for i in range(10):
        target = videos / f"subject{i:02d}.mp4"
        shutil.copy(distinct[i % 3], target)
        rows.append({"path": f"videos/{target.name}", "subject": f"s{i:02d}",
                     "gain": (1.0, 0.6, 0.3)[i % 3]})
    (videos / "broken1.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 500)
    (videos / "broken2.mp4").write_bytes(distinct[0].read_bytes()[:3000])
    rows += [{"path": "videos/broken1.mp4", "subject": "s10", "gain": None},
             {"path": "videos/broken2.mp4", "subject": "s11", "gain": None}]
    manifest = root / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return root, manifest


def test_inputs_expand_from_folders_globs_and_manifests(study):
    root, manifest = study
    assert len(collect_inputs([root / "videos"])) == 12
    assert len(collect_inputs([str(root / "videos" / "subject0*.mp4")])) == 10
    table = collect_inputs([manifest])
    assert len(table) == 12 and {"subject", "gain"} <= set(table.columns)


@pytest.fixture(scope="module")
def local_run(study, tmp_path_factory):
    root, manifest = study
    out = tmp_path_factory.mktemp("batch_local")
    code = main(["batch", str(manifest), "-o", str(out), "--workers", "2", "-q"])
    return out, code


def test_batch_reports_failures_and_a_tidy_table(local_run):
    out, code = local_run
    assert code == EXIT_SOME_FAILED
    result = load_results(out)
    assert result.table["video"].nunique() == 10
    assert len(result.failures) == 2
    assert set(result.failures["subject"]) == {"s10", "s11"}
    assert not result.table.duplicated(KEY).any()
    assert {"subject", "gain", "movement", "metric", "side", "value"} <= set(result.table)
    # Metadata is carried: weaker right side on the 0.3-gain subjects' smiles.
    smiles = result.table[(result.table.metric == "symmetry_pct")
                          & (result.table.movement == "smile")]
    assert (smiles.groupby("gain")["value"].median().sort_index().diff().dropna() > 0).all()
    assert pd.read_csv(out / "table.csv").shape[0] == len(result.table)
    assert result.run["model_sha256"] and result.run["n_videos"] == 12


def test_tidy_table_says_which_repetitions_are_scored_flagged_and_one_sided(local_run):
    """A study leaves out talking, unscored or one-sided repetitions by these columns: each
    row carries its report's values for them, in both the parquet and the CSV table."""
    out, _ = local_run
    table = load_results(out).table
    assert {"sides", "scored", "flags"} <= set(table)
    assert set(pd.read_parquet(out / "table.parquet")) == set(table)
    assert {"sides", "scored", "flags"} <= set(pd.read_csv(out / "table.csv"))
    assert table["sides"].isin(["both", "left", "right"]).all()
    assert table["scored"].isin([True, False]).all()
    first = table.iloc[0]
    report = json.loads((out / "videos" / first["video"] / "report.json").read_text())
    movement = next(m for m in report["movements"]
                    if m["movement"] == first["movement"] and m["rep"] == first["rep"])
    assert first["scored"] == movement["scored"] and first["sides"] == movement["sides"]
    assert (first["flags"] or "") == "; ".join(movement["flags"])


def test_per_video_table_gives_quality_rest_symmetry_blinks_and_provenance(local_run):
    out, _ = local_run
    everything = load_results(out).videos
    assert len(everything) == 12 and everything["video"].is_unique
    videos = everything[everything["face_found_fraction"].notna()]
    assert len(videos) == 10  # the two broken files: listed, with nothing measured
    assert videos["face_found_fraction"].between(0, 1).all()
    assert videos["pose_ok_fraction"].between(0, 1).all()
    # Named as in report.json, and the same value.
    first = videos.iloc[0]
    report = json.loads((out / "videos" / first["video"] / "report.json").read_text())
    assert first["face_found_fraction"] == report["quality"]["face_found_fraction"]
    assert (videos["n_warnings"] >= 0).all()
    # The weaker the right side was made, the lower the overall symmetry.
    by_gain = videos.groupby("gain")["overall_symmetry_pct"].median().sort_index()
    assert (by_gain.diff().dropna() > 0).all(), by_gain.to_dict()
    assert videos["overall_symmetry_pct"].between(0, 100).all()
    # Each movement over its repetitions, as the report's summary gives it: the weaker the
    # right side, the lower its symmetry; the weakest named on the right; not performed: none.
    for movement in ("smile", "brow_raise"):
        by_gain = videos.groupby("gain")[f"{movement}_symmetry_pct"].median().sort_index()
        assert (by_gain.diff().dropna() > 0).all(), (movement, by_gain.to_dict())
        weakest = videos[videos["gain"] == 0.3]
        assert (weakest[f"{movement}_weaker_side"] == "right").all(), movement
        # Where no side is named the table says why, as the report does.
        unnamed = videos[videos[f"{movement}_weaker_side"].isna()]
        assert unnamed[f"{movement}_side_call"].str.len().gt(0).all(), movement
        assert (videos[f"{movement}_symmetry_low_pct"] <= videos[f"{movement}_symmetry_pct"]).all()
    assert videos["eye_closure_symmetry_pct"].isna().all()
    assert (videos["eye_closure_scored_repetitions"] == 0).all()
    efface = videos.groupby("gain")["efface_dynamic_mean"].median()
    assert efface[0.3] < efface[1.0] <= 100, efface.to_dict()
    # Rest measures for both sides, and their difference, in mm.
    left, right = videos["rest_brow_height_mm_left"], videos["rest_brow_height_mm_right"]
    assert ((left - right - videos["rest_brow_height_left_minus_right_mm"]).abs() < 0.05).all()
    # Phantoms do not blink; the count is there (0), completeness unknown.
    assert (videos["blink_count"] == 0).all()
    assert videos["blink_less_complete_side"].isna().all()
    assert videos["model_sha256"].nunique() == 1 and len(videos["model_sha256"].iloc[0]) == 64
    assert videos["facescore_version"].notna().all()
    assert pd.read_parquet(out / "videos.parquet").shape == everything.shape


def test_rerun_skips_what_is_done(local_run, study):
    out, _ = local_run
    _, manifest = study
    result = run_batch([manifest], out, workers=2)
    assert result.run["skipped"] == 10 and result.run["done"] == 0
    assert len(result.table) == len(load_results(out).table)


def test_kill_9_then_rerun_completes_without_duplicates(study, tmp_path):
    root, manifest = study
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "facescore", "batch", str(manifest), "-o", str(out),
               "--workers", "2", "-q"]
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        done = list(out.glob("videos/*/result.json"))
        if len(done) >= 3:
            break
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished_before = len(list(out.glob("videos/*/result.json")))
    assert 3 <= finished_before < 12
    result = run_batch([manifest], out, workers=2)
    assert result.run["skipped"] >= finished_before - 2  # failures are retried
    assert result.table["video"].nunique() == 10 and len(result.failures) == 2
    assert not result.table.duplicated(KEY).any()
    reference = load_results(out).table
    assert len(reference) == len(result.table)


def test_dask_local_cluster_gives_identical_tables(local_run, study, tmp_path):
    distributed = pytest.importorskip("distributed")
    _, manifest = study
    out, _ = local_run
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        result = run_batch([manifest], tmp_path / "dask", scheduler=cluster.scheduler_address)
    local = load_results(out).table.sort_values(KEY).reset_index(drop=True)
    remote = result.table.sort_values(KEY).reset_index(drop=True)
    pd.testing.assert_frame_equal(local, remote)
    assert result.run["engine"].startswith("dask")
