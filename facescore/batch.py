"""Many recordings: parallel, resumable, one tidy table.

Each video is analysed in its own worker (local processes, or a Dask cluster) and writes its
analyze outputs plus a ``result.json`` marker into ``OUTDIR/videos/<name>/``; the marker is
written last and atomically, and names the video's content hash and the settings, so a rerun
skips what is already done and a run killed at any moment loses at most the videos in flight.
The tidy tables are assembled from the markers at the end of every run, so they never hold a
row twice.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import __version__, model
from .errors import FacescoreError

VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv"}
RESULT_FILE = "result.json"


@dataclass(frozen=True)
class Settings:
    """Everything that changes a video's result; part of its resume key."""

    mirrored: bool = False
    facescore_version: str = __version__
    model_sha256: str = model.MODEL_SHA256

    def as_dict(self) -> dict:
        return dict(vars(self))


@dataclass
class BatchResult:
    """What a batch run produced (also on disk in OUTDIR)."""

    table: pd.DataFrame  # one row per (video, movement, rep, metric, side)
    failures: pd.DataFrame  # one row per video that could not be analysed
    run: dict  # the run record

    @property
    def n_failed(self) -> int:
        return len(self.failures)


# --- inputs --------------------------------------------------------------------------------------

def collect_inputs(inputs: Iterable[str | Path]) -> pd.DataFrame:
    """Expand files, directories (searched recursively), globs and manifest CSVs.

    A manifest is a ``.csv`` with a ``path`` column (relative paths are taken from the
    manifest's folder) and any metadata columns (subject, session, lesion side …), which are
    carried into every output row.

    Returns
    -------
    pandas.DataFrame
        ``path`` (absolute, unique) and the manifests' metadata columns.
    """
    rows: list[dict] = []
    for item in inputs:
        item = str(item)
        path = Path(item)
        if path.suffix.lower() == ".csv" and path.is_file():
            manifest = pd.read_csv(path)
            if "path" not in manifest:
                raise FacescoreError(f"manifest {path} has no 'path' column")
            for record in manifest.to_dict("records"):
                video = Path(str(record.pop("path")))
                video = video if video.is_absolute() else path.parent / video
                rows.append({"path": str(video.resolve()), **record})
        elif path.is_dir():
            rows += [{"path": str(p.resolve())} for p in sorted(path.rglob("*"))
                     if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()]
        elif any(ch in item for ch in "*?["):
            rows += [{"path": str(Path(p).resolve())} for p in sorted(glob.glob(item,
                                                                                 recursive=True))]
        else:
            rows.append({"path": str(path.resolve())})
    if not rows:
        raise FacescoreError("no input videos found")
    table = pd.DataFrame(rows).drop_duplicates("path", keep="first").reset_index(drop=True)
    return table


def video_name(path: str) -> str:
    """A folder name for a video: its file name, made unique by a hash of its full path."""
    digest = hashlib.sha1(path.encode()).hexdigest()[:8]
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(path).stem)
    return f"{stem}-{digest}"


def content_key(path: str | Path, settings: Settings) -> str:
    """SHA-256 of the video's bytes and the settings: equal keys give equal results."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    digest.update(json.dumps(settings.as_dict(), sort_keys=True).encode())
    return digest.hexdigest()


# --- one video -----------------------------------------------------------------------------------

def tidy_rows(report: dict) -> list[dict]:
    """One row per (movement, rep, metric, side) of a report (side is None for both-side
    metrics such as symmetry_pct)."""
    rows = []
    for m in report["movements"]:
        base = {"movement": m["movement"], "rep": m["rep"], "start_s": m["start_s"],
                "end_s": m["end_s"], "weaker_side": m["weaker_side"]}
        for side in ("left", "right"):
            for metric, value in m[side].items():
                rows.append({**base, "metric": metric, "side": side, "value": value})
        for metric in ("symmetry_pct", "onset_lag_s"):
            rows.append({**base, "metric": metric, "side": None, "value": m.get(metric)})
    return rows


def _write_json_atomic(path: Path, data: dict) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=2))
    os.replace(partial, path)


def process_video(path: str, out_root: str, settings: dict) -> dict:
    """Analyse one video into ``out_root/videos/<name>/`` unless already done; never raises
    for a bad video (the failure is returned and recorded)."""
    from .analysis import analyze
    from .report import write_outputs

    settings_obj = Settings(**settings)
    folder = Path(out_root) / "videos" / video_name(path)
    marker = folder / RESULT_FILE
    try:
        key = content_key(path, settings_obj)
    except OSError as exc:
        return {"path": path, "status": "failed", "reason": f"cannot read: {exc.strerror}",
                "folder": str(folder)}
    if marker.exists():
        previous = json.loads(marker.read_text())
        if previous.get("key") == key and previous.get("status") == "done":
            return {**previous, "skipped": True}
    started = time.time()
    try:
        analysis = analyze(path, mirrored=settings_obj.mirrored)
        write_outputs(analysis, path, folder)
        report = json.loads((folder / "report.json").read_text())
        result = {"path": path, "status": "done", "key": key, "folder": str(folder),
                  "rows": tidy_rows(report), "seconds": time.time() - started}
    except FacescoreError as exc:
        folder.mkdir(parents=True, exist_ok=True)
        result = {"path": path, "status": "failed", "key": key, "folder": str(folder),
                  "reason": str(exc), "seconds": time.time() - started}
    _write_json_atomic(marker, result)
    return result


# --- running -------------------------------------------------------------------------------------

def _run_local(paths: list[str], out_root: str, settings: dict, workers: int,
               on_done: Callable[[dict], None]) -> None:
    from concurrent.futures import ProcessPoolExecutor, as_completed

    if workers <= 1:
        for path in paths:
            on_done(process_video(path, out_root, settings))
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(process_video, p, out_root, settings) for p in paths]
        for future in as_completed(futures):
            on_done(future.result())


def _run_dask(paths: list[str], out_root: str, settings: dict, scheduler: str,
              on_done: Callable[[dict], None]) -> None:
    from distributed import Client, as_completed

    with Client(scheduler) as client:
        futures = [client.submit(process_video, p, out_root, settings, pure=False)
                   for p in paths]
        for future in as_completed(futures):
            on_done(future.result())


def assemble(out_dir: str | Path, inputs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build the tidy table and the failures table from the per-video markers."""
    out_dir = Path(out_dir)
    rows, failures = [], []
    metadata = inputs.set_index("path")
    for path in inputs["path"]:
        marker = out_dir / "videos" / video_name(path) / RESULT_FILE
        if not marker.exists():
            continue
        result = json.loads(marker.read_text())
        meta = metadata.loc[path].to_dict() if len(metadata.columns) else {}
        video = {"video": video_name(path), "path": path, **meta}
        if result["status"] == "done":
            rows += [{**video, **row} for row in result["rows"]]
        else:
            failures.append({**video, "reason": result["reason"]})
    columns = ["video", "path", *metadata.columns, "movement", "rep", "start_s", "end_s",
               "weaker_side", "metric", "side", "value"]
    table = pd.DataFrame(rows, columns=columns)
    failures_table = pd.DataFrame(failures, columns=["video", "path", *metadata.columns,
                                                     "reason"])
    return table, failures_table


def run_batch(inputs: Iterable[str | Path], out_dir: str | Path, workers: int | None = None,
              scheduler: str | None = None, mirrored: bool = False,
              progress: Callable[[int, int, dict], None] | None = None) -> BatchResult:
    """Analyse many videos; resumable, parallel, with tidy outputs in ``out_dir``.

    Parameters
    ----------
    inputs : iterable of str or Path
        Files, directories, globs or manifest CSVs (see :func:`collect_inputs`).
    out_dir : str or Path
    workers : int, optional
        Local worker processes (default: the number of cores).
    scheduler : str, optional
        Address of a Dask distributed scheduler; when given, the work runs there.
    progress : callable, optional
        ``progress(done, total, result)`` after each video.

    Returns
    -------
    BatchResult
        Also written as ``table.parquet``/``table.csv``, ``failures.csv`` and ``run.json``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    videos = collect_inputs(inputs)
    settings = Settings(mirrored=mirrored).as_dict()
    paths = list(videos["path"])
    started = time.time()
    counts = {"done": 0, "skipped": 0, "failed": 0}

    def on_done(result: dict) -> None:
        counts["skipped" if result.get("skipped") else result["status"]] += 1
        if progress is not None:
            progress(sum(counts.values()), len(paths), result)

    workers = workers or os.cpu_count() or 1
    if scheduler:
        _run_dask(paths, str(out_dir), settings, scheduler, on_done)
    else:
        _run_local(paths, str(out_dir), settings, workers, on_done)
    table, failures = assemble(out_dir, videos)
    run = {
        "facescore_version": __version__, "model_sha256": model.MODEL_SHA256,
        "settings": settings, "engine": f"dask {scheduler}" if scheduler
        else f"local processes x{workers}",
        "n_videos": len(paths), **counts, "n_rows": len(table),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
        "seconds": round(time.time() - started, 2),
    }
    table.to_parquet(out_dir / "table.parquet.partial", index=False)
    os.replace(out_dir / "table.parquet.partial", out_dir / "table.parquet")
    table.to_csv(out_dir / "table.csv.partial", index=False)
    os.replace(out_dir / "table.csv.partial", out_dir / "table.csv")
    failures.to_csv(out_dir / "failures.csv.partial", index=False)
    os.replace(out_dir / "failures.csv.partial", out_dir / "failures.csv")
    _write_json_atomic(out_dir / "run.json", run)
    return BatchResult(table, failures, run)


def load_results(out_dir: str | Path) -> BatchResult:
    """Read a finished batch's outputs back as pandas frames."""
    out_dir = Path(out_dir)
    return BatchResult(pd.read_parquet(out_dir / "table.parquet"),
                       pd.read_csv(out_dir / "failures.csv"),
                       json.loads((out_dir / "run.json").read_text()))
