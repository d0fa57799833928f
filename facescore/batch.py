"""Many recordings: parallel, resumable, one tidy table.

Each video is analysed in its own worker (local processes, or a Dask cluster) and writes its
analyze outputs plus a ``result.json`` marker into ``OUTDIR/videos/<name>-<hash>/``; the marker is
written last and atomically, and names the video's content hash and the settings, so a rerun
skips what is already done and a run killed at any moment loses at most the videos in flight.
The tidy tables are assembled from the markers at the end of every run, so they never hold a
row twice.

Everything is checked before any work: the output folder, every input (a manifest's files
exist, are listed once, and the manifest parses), the cluster extra when a scheduler is named.
Ctrl-C or SIGTERM stops a run within about a second: pending videos are cancelled, the local
workers are stopped (each removes what it had half-written) and finished videos are kept.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import io
import json
import multiprocessing
import os
import shutil
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path

import pandas as pd

from . import __version__, model
from .checks import read_text_utf8
from .display import is_missing, path_text
from .errors import FacescoreError, Interrupted, raise_interrupted
from .outputs import check_output_folder
from .protocol import MOVEMENTS

VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv",
                  ".3gp", ".ts", ".mts", ".m2ts", ".gif"}
RESULT_FILE = "result.json"
#: Columns of the tidy table; a manifest's metadata columns may not reuse these names.
TABLE_COLUMNS = ("video", "path", "movement", "rep", "start_s", "end_s", "weaker_side", "sides",
                 "scored", "flags", "metric", "side", "value", "status", "reason")
#: Seconds a stopped local worker gets to clean up and exit before it is killed.
STOP_GRACE_S = 1.0
#: Seconds to wait for a Dask scheduler to answer.
CONNECT_TIMEOUT_S = 10
CLUSTER_MISSING = ("--scheduler needs Dask's distributed scheduler, which is not installed: "
                   "pip install 'facescore[cluster]'")
#: The rest measures copied into the per-video table.
REST_MEASURES = ("brow_height", "palpebral_fissure", "mouth_corner_height")


@dataclass(frozen=True)
class Settings:
    """Everything that changes a video's result; part of its resume key."""

    mirrored: bool = False
    #: The landmark model on key frames (the default) or on every frame.
    key_frames: bool = True
    facescore_version: str = __version__
    model_sha256: str = model.MODEL_SHA256
    #: What a marker holds; a new format makes old markers be redone.
    marker_format: int = 2

    def as_dict(self) -> dict:
        return dict(vars(self))


@dataclass
class BatchResult:
    """What a batch run produced (also on disk in OUTDIR)."""

    table: pd.DataFrame  # one row per (video, movement, rep, metric, side)
    failures: pd.DataFrame  # one row per video that could not be analysed
    run: dict  # the run record
    videos: pd.DataFrame | None = None  # one row per video: quality, rest, symmetry, provenance

    @property
    def n_failed(self) -> int:
        return len(self.failures)


# --- inputs --------------------------------------------------------------------------------------

def _parser_message(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.replace("Error tokenizing data. C error: ", "")


def read_manifest(path: Path) -> list[dict]:
    """The rows of a manifest CSV: ``path`` (absolute) and its metadata columns.

    Relative paths are taken from the manifest's folder.

    Raises
    ------
    FacescoreError
        Not UTF-8; not parseable CSV (an unquoted comma or an unbalanced quote in a name); no
        ``path`` column, or metadata columns named like the table's own; a row without a path;
        a video listed twice; listed videos that do not exist.
    """
    text = read_text_utf8(path, "manifest")
    try:
        manifest = pd.read_csv(io.StringIO(text), dtype={"path": str})
    except pd.errors.EmptyDataError:
        raise FacescoreError(f"manifest {path} is empty") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise FacescoreError(f"manifest {path}: {_parser_message(exc)} (a name holding a comma "
                             "or a quote must be in double quotes, with its quotes doubled)"
                             ) from None
    if "path" not in manifest:
        raise FacescoreError(f"manifest {path} has no 'path' column")
    clashes = sorted(set(manifest.columns) & set(TABLE_COLUMNS) - {"path"})
    if clashes:
        raise FacescoreError(f"manifest {path}: column(s) {', '.join(clashes)} clash with the "
                             "table's own columns; rename them")
    rows, seen, missing = [], {}, []
    # Line numbers as a text editor shows them (the header is line 1).
    for line, record in enumerate(manifest.to_dict("records"), start=2):
        listed = record.pop("path")
        if is_missing(listed) or not str(listed).strip():
            raise FacescoreError(f"manifest {path}, line {line}: no path")
        video = Path(str(listed))
        video = (video if video.is_absolute() else path.parent / video).resolve()
        if str(video) in seen:
            raise FacescoreError(f"manifest {path} lists {listed} twice (lines {seen[str(video)]} "
                                 f"and {line})")
        seen[str(video)] = line
        if not video.is_file():
            missing.append((line, listed))
        rows.append({"path": str(video), **record})
    if missing:
        line, listed = missing[0]
        raise FacescoreError(f"manifest {path}: {len(missing)} listed video(s) not found "
                             f"(first: line {line}, {listed})")
    return rows


def _plain_rows(item: str) -> list[dict]:
    """Rows for an input that is not a manifest: a file, a folder or a glob."""
    path = Path(item)
    if path.is_dir():
        return [{"path": str(p.resolve())} for p in sorted(path.rglob("*"))
                if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()]
    if path.is_file():
        return [{"path": str(path.resolve())}]
    if any(ch in item for ch in "*?["):
        matches = [Path(p) for p in sorted(glob.glob(item, recursive=True))]
        matches = [p for p in matches if p.is_file()]
        if not matches:
            raise FacescoreError(f"no file matches {item}")
        return [{"path": str(p.resolve())} for p in matches]
    raise FacescoreError(f"no such file or folder: {item}")


def collect_inputs(inputs: Iterable[str | Path]) -> pd.DataFrame:
    """Expand files, directories (searched recursively), globs and manifest CSVs.

    A manifest is a ``.csv`` with a ``path`` column and any metadata columns (subject,
    session, lesion side …), which are carried into every output row (see
    :func:`read_manifest`). A video both in a manifest and found in a folder or glob is taken
    once, with the manifest's metadata; two manifests may not list the same video.

    Returns
    -------
    pandas.DataFrame
        ``path`` (absolute, unique) and the manifests' metadata columns.

    Raises
    ------
    FacescoreError
        A manifest is unusable (see :func:`read_manifest`), an input does not exist, two
        manifests list the same video, or there is no input at all.
    """
    listed: dict[str, dict] = {}
    from_manifest: dict[str, Path] = {}
    for item in inputs:
        item = str(item)
        path = Path(item)
        if path.suffix.lower() == ".csv" and path.is_file():
            for row in read_manifest(path):
                first = from_manifest.get(row["path"])
                if first is not None:
                    raise FacescoreError(f"{row['path']} is listed in both {first} and {path}")
                from_manifest[row["path"]] = path
                listed[row["path"]] = row  # a manifest's row (with metadata) wins
        else:
            for row in _plain_rows(item):
                listed.setdefault(row["path"], row)
    if not listed:
        raise FacescoreError("no input videos found")
    return pd.DataFrame(list(listed.values())).reset_index(drop=True)


def video_name(path: str) -> str:
    """A folder name for a video: its file name, made unique by a hash of its full path."""
    digest = hashlib.sha1(os.fsencode(path)).hexdigest()[:8]
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(path).stem)[:80]
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
                "end_s": m["end_s"], "weaker_side": m["weaker_side"],
                # which sides moved, whether it was scored, and why not or with what caveat
                "sides": m.get("sides"), "scored": m.get("scored"),
                "flags": "; ".join(m.get("flags", []))}
        for side in ("left", "right"):
            for metric, value in m[side].items():
                rows.append({**base, "metric": metric, "side": side, "value": value})
        # symmetry with its 95 % interval (each side's excursion_mm has low_mm / high_mm)
        for metric in ("symmetry_pct", "symmetry_low_pct", "symmetry_high_pct", "onset_lag_s"):
            rows.append({**base, "metric": metric, "side": None, "value": m.get(metric)})
    return rows


def video_summary(report: dict) -> dict:
    """One video's row of the per-video table: quality, rest, overall symmetry, provenance.

    Shares are 0-1, lengths mm, times s; rest values are per anatomical side.
    """
    quality, rest, summary = report["quality"], report["rest"], report["summary"]
    provenance, source = report["provenance"], report["input"]
    warnings = quality.get("warnings", [])
    row = {
        "kind": source.get("kind", "video"), "duration_s": source["duration_s"],
        "n_frames": source["n_frames"], "damaged": source.get("damage") is not None,
        # report.json's names (quality.*), so that a column means the same everywhere
        "face_found_fraction": quality["face_found_fraction"],
        "pose_ok_fraction": quality.get("pose_ok_fraction"),
        "max_faces_seen": quality.get("max_faces_seen"),
        "landmark_model_share": quality.get("landmark_model_share"),
        "n_warnings": len(warnings), "warnings": "; ".join(warnings),
        "n_movements": len(report["movements"]),
        "not_performed": ", ".join(report["not_performed"]),
        "overall_symmetry_pct": summary.get("overall_symmetry"),
        "overall_symmetry_low_pct": summary.get("overall_symmetry_low"),
        "overall_symmetry_high_pct": summary.get("overall_symmetry_high"),
        "affected_side": summary.get("affected_side"),
        "affected_side_support": summary.get("affected_side_support"),
        # why no affected side or grade (e.g. "no consistent weaker side: ...")
        "summary_note": summary.get("note"),
        "other_expressions": "; ".join(o["label"] for o in report.get("other_expressions", [])),
        "rest_n_frames": rest.get("n_frames"),
    }
    row.update(movement_columns(summary))
    blinks = report.get("blinks", {}).get("summary", {})
    row["blink_count"] = blinks.get("count")
    row["blink_rate_per_min"] = blinks.get("rate_per_min")
    for side in ("left", "right"):
        # median share of the resting aperture each eye closed in a blink (0-1)
        row[f"blink_completeness_{side}"] = blinks.get(f"completeness_{side}")
    # median per-blink left minus right (0-1), and the eye named as closing less (or None)
    row["blink_completeness_left_minus_right"] = blinks.get("completeness_left_minus_right")
    row["blink_less_complete_side"] = blinks.get("less_complete_side")
    for name in REST_MEASURES:
        for side in ("left", "right"):
            row[f"rest_{name}_mm_{side}"] = rest[name][side]
        row[f"rest_{name}_left_minus_right_mm"] = rest[name]["left_minus_right_mm"]
    row.update({
        "facescore_version": provenance["facescore_version"],
        "model_sha256": provenance["model_sha256"],
        "mirrored": provenance.get("mirrored"), "segments": provenance.get("segments"),
        "options": json.dumps({k: provenance[k] for k in ("mirrored", "detector")
                               if k in provenance}, sort_keys=True),
    })
    return row


def movement_columns(summary: dict) -> dict:
    """Each protocol movement over its repetitions (symmetry %, its 95 % interval, the weaker
    side or in words why none, how many repetitions were scored) and the scale estimates, as
    per-video columns named alike for every video (None where not performed or withheld)."""
    per_movement = summary.get("per_movement", {})
    columns = {}
    for movement in MOVEMENTS:
        m = per_movement.get(movement, {})
        for key in ("symmetry_pct", "symmetry_low_pct", "symmetry_high_pct", "weaker_side",
                    "side_call"):
            columns[f"{movement}_{key}"] = m.get(key)
        columns[f"{movement}_scored_repetitions"] = m.get("scored_repetitions", 0)
    estimates = summary.get("estimates", {})
    columns["efface_dynamic_mean"] = estimates.get("efface_dynamic", {}).get("mean")
    columns["sunnybrook_voluntary_score"] = estimates.get("sunnybrook_voluntary", {}).get("score")
    columns["house_brackmann_grade"] = estimates.get("house_brackmann", {}).get("grade")
    return columns


def _write_json_atomic(path: Path, data: dict) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=2))
    os.replace(partial, path)


def process_video(path: str, out_root: str, settings: dict) -> dict:
    """Analyse one video into ``out_root/videos/<name>-<hash>/`` unless already done; never raises
    for a bad video (the failure is returned and recorded), only when stopped (Ctrl-C)."""
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
        with contextlib.suppress(OSError, ValueError):
            previous = json.loads(marker.read_text())
            if previous.get("key") == key and previous.get("status") == "done":
                return {**previous, "skipped": True}
    started = time.time()
    try:
        analysis = analyze(path, mirrored=settings_obj.mirrored,
                           key_frames=settings_obj.key_frames)
        write_outputs(analysis, path, folder)
        report = json.loads((folder / "report.json").read_text())
        result = {"path": path, "status": "done", "key": key, "folder": str(folder),
                  "rows": tidy_rows(report), "video": video_summary(report),
                  "seconds": time.time() - started}
    except FacescoreError as exc:
        result = {"path": path, "status": "failed", "key": key, "folder": str(folder),
                  "reason": str(exc), "seconds": time.time() - started}
    except Exception as exc:  # a bug, on one video: recorded, and the batch goes on
        result = {"path": path, "status": "failed", "key": key, "folder": str(folder),
                  "reason": f"internal error ({type(exc).__name__}: {exc})",
                  "seconds": time.time() - started}
    folder.mkdir(parents=True, exist_ok=True)
    _write_json_atomic(marker, result)
    return result


# --- running -------------------------------------------------------------------------------------

def _worker_main(connection, out_root: str, settings: dict) -> None:
    """A local worker process: analyse the videos the parent sends until told to stop.

    Ctrl-C reaches a terminal's whole process group; the worker leaves it to the parent, which
    stops the workers with SIGTERM, raised here as :class:`~facescore.errors.Interrupted` so
    that whatever the analysis holds (a staging folder, the landmark process) is cleaned up.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, raise_interrupted)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        while (path := connection.recv()) is not None:
            connection.send(process_video(path, out_root, settings))
    except (KeyboardInterrupt, EOFError, OSError):
        pass  # stopped by the parent, or the parent is gone


class _Worker:
    """One local worker process and the pipe to it."""

    def __init__(self, context, out_root: str, settings: dict):
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(child, out_root, settings),
                                       daemon=True, name="facescore-batch-worker")
        # Signals stay blocked while the child starts, so that a Ctrl-C at that moment is
        # handled by the parent (which stops everything) rather than half-way into the child.
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            self.process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        child.close()
        self.path: str | None = None

    def give(self, path: str | None) -> None:
        self.path = path
        self.connection.send(path)


def _stop_workers(workers: list[_Worker]) -> None:
    """SIGTERM to every worker still running; kill those that have not exited in time."""
    for worker in workers:
        if worker.process.is_alive():
            with contextlib.suppress(OSError):
                worker.process.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    for worker in workers:
        worker.process.join(max(0.0, deadline - time.monotonic()))
    for worker in workers:
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        worker.connection.close()


def _run_local(paths: list[str], out_root: str, settings: dict, workers: int,
               on_done: Callable[[dict], None]) -> None:
    if workers <= 1:
        for path in paths:
            on_done(process_video(path, out_root, settings))
        return
    context = multiprocessing.get_context()
    pending = deque(paths)
    pool = [_Worker(context, out_root, settings) for _ in range(min(workers, len(paths)))]
    busy: dict = {}
    try:
        for worker in pool:
            worker.give(pending.popleft())
            busy[worker.connection] = worker
        while busy:
            for connection in wait(list(busy)):
                worker = busy.pop(connection)
                try:
                    result = connection.recv()
                except (EOFError, OSError):  # the worker died (killed, out of memory)
                    worker.process.join()
                    result = {"path": worker.path, "status": "failed",
                              "reason": "worker process ended unexpectedly (exit code "
                                        f"{worker.process.exitcode})"}
                    worker.connection.close()
                    worker = _Worker(context, out_root, settings) if pending else None
                    if worker is not None:
                        pool.append(worker)
                on_done(result)
                if worker is not None and pending:
                    worker.give(pending.popleft())
                    busy[worker.connection] = worker
                elif worker is not None:
                    worker.give(None)  # no more work: it exits
        for worker in pool:
            worker.process.join()
    finally:
        _stop_workers(pool)


def _dask_client_class():
    try:
        from distributed import Client
    except ImportError:
        raise FacescoreError(CLUSTER_MISSING) from None
    return Client


def connect_scheduler(scheduler: str):
    """A Dask client connected to ``scheduler``.

    Raises
    ------
    FacescoreError
        The cluster extra is not installed, or the scheduler does not answer.
    """
    client_class = _dask_client_class()
    try:
        return client_class(scheduler, timeout=CONNECT_TIMEOUT_S)
    except Exception as exc:  # OSError, TimeoutError, ValueError: all mean "not reachable"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FacescoreError(f"cannot reach the Dask scheduler at {scheduler}: {first}") from None


def _run_dask(paths: list[str], out_root: str, settings: dict, client,
              on_done: Callable[[dict], None]) -> None:
    from distributed import as_completed

    futures: list = []
    try:
        futures = [client.submit(process_video, p, out_root, settings, pure=False)
                   for p in paths]
        for future in as_completed(futures):
            on_done(future.result())
    except BaseException:
        # Pending videos are cancelled; one already running on a worker finishes there and
        # is kept (its marker makes the next run skip it).
        with contextlib.suppress(Exception):
            client.cancel(futures, force=True)
        raise


def assemble(out_dir: str | Path, inputs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame,
                                                                 pd.DataFrame]:
    """Build the tidy table, the failures table and the per-video table from the markers."""
    out_dir = Path(out_dir)
    rows, failures, videos = [], [], []
    metadata = inputs.set_index("path")
    for path in inputs["path"]:
        marker = out_dir / "videos" / video_name(path) / RESULT_FILE
        try:
            result = json.loads(marker.read_text())
        except (OSError, ValueError):
            continue
        meta = metadata.loc[path].to_dict() if len(metadata.columns) else {}
        video = {"video": video_name(path), "path": path_text(path), **meta}
        if result["status"] == "done":
            rows += [{**video, **row} for row in result["rows"]]
            videos.append({**video, "status": "done", "reason": None, **result["video"]})
        else:
            failures.append({**video, "reason": result["reason"]})
            videos.append({**video, "status": "failed", "reason": result["reason"]})
    # Every column tidy_rows gives (sides, scored and flags let a study leave out one-sided,
    # unscored or flagged repetitions), in TABLE_COLUMNS' order.
    columns = ["video", "path", *metadata.columns,
               *(c for c in TABLE_COLUMNS if c not in ("video", "path", "status", "reason"))]
    table = pd.DataFrame(rows, columns=columns)
    failures_table = pd.DataFrame(failures, columns=["video", "path", *metadata.columns,
                                                     "reason"])
    videos_table = pd.DataFrame(videos)
    return table, failures_table, videos_table


def _clear_leftovers(out_dir: Path) -> None:
    """Remove what a stopped or killed run may have left half-written: staging folders of
    reports (hidden, in ``videos/``) and ``.partial`` files."""
    for partial in [*out_dir.glob("*.partial"), *out_dir.glob("videos/*/*.partial")]:
        with contextlib.suppress(OSError):
            partial.unlink()
    videos = out_dir / "videos"
    if videos.is_dir():
        for staging in videos.glob(".*"):
            if staging.is_dir():
                shutil.rmtree(staging, ignore_errors=True)


def _write_frame(frame: pd.DataFrame, path: Path, parquet: bool = True) -> None:
    partial = path.with_name(path.name + ".partial")
    if parquet:
        frame.to_parquet(partial, index=False)
    else:
        frame.to_csv(partial, index=False)
    os.replace(partial, path)


def run_batch(inputs: Iterable[str | Path], out_dir: str | Path, workers: int | None = None,
              scheduler: str | None = None, mirrored: bool = False,
              progress: Callable[[int, int, dict], None] | None = None,
              key_frames: bool | None = None) -> BatchResult:
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
    key_frames : bool or None
        The landmark model on key frames or on every frame (None: as
        :func:`facescore.pipeline.wants_key_frames`, key frames by default); part of each
        video's resume key.

    Returns
    -------
    BatchResult
        Also written as ``table.parquet``/``table.csv`` (per movement), ``videos.parquet``/
        ``videos.csv`` (per video), ``failures.csv`` and ``run.json``.

    Raises
    ------
    FacescoreError
        Before any work, for unusable outputs or inputs (nothing is written then).
    facescore.errors.Interrupted
        Stopped by Ctrl-C or SIGTERM; the videos finished are kept for the next run.
    """
    from .pipeline import wants_key_frames  # the measuring's libraries: only when needed

    out_dir = check_output_folder(out_dir)
    videos = collect_inputs(inputs)
    if workers is not None and workers < 1:
        raise FacescoreError(f"--workers {workers}: must be 1 or more")
    # The cluster is reached before anything is written.
    client = connect_scheduler(scheduler) if scheduler else None
    try:
        return _run(videos, out_dir, workers, scheduler, client,
                    Settings(mirrored=mirrored, key_frames=wants_key_frames(key_frames)),
                    progress)
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                client.close(timeout=1)


def _run(videos: pd.DataFrame, out_dir: Path, workers: int | None, scheduler: str | None,
         client, settings_obj: Settings, progress) -> BatchResult:
    """:func:`run_batch` once its inputs and outputs are checked."""
    settings = settings_obj.as_dict()
    paths = list(videos["path"])
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FacescoreError(f"cannot make {out_dir}: {exc.strerror}") from None
    _clear_leftovers(out_dir)
    started = time.time()
    counts = {"done": 0, "skipped": 0, "failed": 0}

    def on_done(result: dict) -> None:
        counts["skipped" if result.get("skipped") else result["status"]] += 1
        if progress is not None:
            progress(sum(counts.values()), len(paths), result)

    workers = workers or os.cpu_count() or 1
    try:
        if client is not None:
            _run_dask(paths, str(out_dir), settings, client, on_done)
        else:
            _run_local(paths, str(out_dir), settings, workers, on_done)
        table, failures, per_video = assemble(out_dir, videos)
        run = {
            "facescore_version": __version__, "model_sha256": model.MODEL_SHA256,
            "settings": settings, "engine": f"dask {scheduler}" if scheduler
            else f"local processes x{workers}",
            "n_videos": len(paths), **counts, "n_rows": len(table),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
            "seconds": round(time.time() - started, 2),
        }
        _write_frame(table, out_dir / "table.parquet")
        _write_frame(table, out_dir / "table.csv", parquet=False)
        _write_frame(per_video, out_dir / "videos.parquet")
        _write_frame(per_video, out_dir / "videos.csv", parquet=False)
        _write_frame(failures, out_dir / "failures.csv", parquet=False)
        _write_json_atomic(out_dir / "run.json", run)
    except KeyboardInterrupt as exc:
        _clear_leftovers(out_dir)
        kept = counts["done"] + counts["skipped"]
        raise Interrupted(getattr(exc, "signum", signal.SIGINT),
                          f"{kept} of {len(paths)} videos are analysed and kept; run the same "
                          "command again to do the rest") from None
    except OSError as exc:
        _clear_leftovers(out_dir)
        raise FacescoreError(f"cannot write the tables in {out_dir}: {exc.strerror}") from None
    return BatchResult(table, failures, run, per_video)


def load_results(out_dir: str | Path) -> BatchResult:
    """Read a finished batch's outputs back as pandas frames."""
    out_dir = Path(out_dir)
    videos = out_dir / "videos.parquet"
    return BatchResult(pd.read_parquet(out_dir / "table.parquet"),
                       pd.read_csv(out_dir / "failures.csv"),
                       json.loads((out_dir / "run.json").read_text()),
                       pd.read_parquet(videos) if videos.exists() else None)
