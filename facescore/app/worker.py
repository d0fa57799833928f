"""The analysis worker: a separate process that takes queued visits one at a time.

It runs ``facescore.analyze`` and ``facescore.report.write_outputs`` on each visit's recording
and records the result in the store, with its progress while it runs. The queue lives in the
store, so visits queued when the server stopped are analysed when it starts again. The server
starts one worker (``python -m facescore.app.worker DATA PARENT_PID``) and stops it; the worker
also stops by itself when its parent is gone.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
import traceback
from pathlib import Path

from ..errors import FacescoreError
from .store import Store, one_line

#: One line per visit, to the worker's log file (the server points stdout there).
log = logging.getLogger("facescore.app.worker")

POLL_S = 0.4
PROGRESS_EVERY_S = 0.3


def analyse_visit(store: Store, visit: dict) -> None:
    """Analyse one claimed visit; its outcome (report or one-line reason) goes to the store."""
    from .. import analyze
    from ..report import write_outputs

    visit_id = visit["id"]
    folder = store.visit_dir(visit)
    recording = store.recording_path(visit)
    segments = None
    if visit["segments"]:
        segments = folder / "segments.csv"
        segments.write_text(visit["segments"])
    expected = visit["n_frames"]
    last = [0.0]

    def progress(done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - last[0] < PROGRESS_EVERY_S:
            return
        last[0] = now
        total = total or expected
        share = min(done / total, 1.0) if total else 0.0
        store.set_progress(visit_id, 0.9 * share, f"measuring frame {done}"
                           + (f" of {total}" if total else ""))

    try:
        store.set_progress(visit_id, 0.0, "measuring")
        analysis = analyze(recording, mirrored=bool(visit["mirrored"]), segments=segments,
                           progress=progress)
        store.set_progress(visit_id, 0.92, "writing the report")
        write_outputs(analysis, recording, store.report_dir(visit))
    except Exception as exc:
        if _stop_requested:
            # The server's stop arrived inside an extension's import or native code, which
            # turns the SystemExit into another error: stop, and leave the visit to be
            # requeued when the server starts again — it did not fail.
            raise SystemExit(0) from exc
        if isinstance(exc, FacescoreError):
            store.fail_visit(visit_id, str(exc))
            return
        # A bug: the visit says so in one line, the log has the rest.
        traceback.print_exc()
        store.fail_visit(visit_id, f"internal error ({type(exc).__name__}: {one_line(exc)}); "
                                   f"see {store.root / 'logs' / 'worker.log'}")
        return
    if not store.finish_visit(visit_id, analysis.summary, store.report_dir(visit) / "report.html"):
        store._remove_inside(folder)  # deleted while it was being analysed


def _parent_alive(parent_pid: int) -> bool:
    if os.getppid() != parent_pid:
        return False
    try:
        os.kill(parent_pid, 0)
    except OSError:
        return False
    return True


def run(data_dir: Path, parent_pid: int | None = None) -> None:
    store = Store(data_dir)
    while parent_pid is None or _parent_alive(parent_pid):
        visit = store.claim_next()
        if visit is None:
            time.sleep(POLL_S)
            continue
        log.info("visit %s: analysing", visit["id"])
        analyse_visit(store, visit)
        done = store.get_visit(visit["id"])
        log.info("visit %s: %s%s", visit["id"], done["status"] if done else "deleted",
                 f" ({done['error']})" if done and done["error"] else "")


#: Set when the server asks the worker to stop (SIGTERM).
_stop_requested = False


def _stop(*_: object) -> None:
    global _stop_requested
    _stop_requested = True
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # The server stops the worker (SIGTERM, raised as SystemExit so that open files and the
    # landmark model are closed); a terminal's Ctrl-C is the server's to handle.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop)
    os.environ.setdefault("GLOG_minloglevel", "2")
    # The worker is its own process (python -m): its MediaPipe must not report usage either.
    from ..offline import refuse_network

    refuse_network()
    logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                        format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    run(Path(argv[0]), int(argv[1]) if len(argv) > 1 else None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
