"""Overlapping the pipeline's stages: decoding, landmarking and measuring run in step.

FFmpeg, OpenCV and MediaPipe release the GIL while they work, so a stage running in a thread
overlaps with the next stage's Python in the main thread.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")

_END = object()


def prefetch(items: Iterator[T], depth: int) -> Iterator[T]:
    """Run the iterator ``items`` in a background thread, up to ``depth`` items ahead.

    Exceptions raised while producing are re-raised in the consumer's thread, in order; when
    the consumer stops early, the producer is told to stop and its thread is joined.
    """
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put(_END)
        except BaseException as exc:  # handed to the consumer, raised in its thread
            buffer.put(exc)

    worker = threading.Thread(target=produce, name="facescore-stage", daemon=True)
    worker.start()
    try:
        while True:
            item = buffer.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():
            try:
                buffer.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.05)


def process_setting() -> bool | None:
    """``FACESCORE_LANDMARK_PROCESS`` in the environment: True (``1``) or False (``0``) where it
    decides whether facescore starts child processes of its own (e.g. False on a one-core
    cluster worker), None where facescore decides by the work."""
    setting = os.environ.get("FACESCORE_LANDMARK_PROCESS", "").strip()
    return setting == "1" if setting in ("0", "1") else None


def child_environment() -> dict[str, str]:
    """This environment, with this copy of facescore importable by a child Python process (it
    may not be installed)."""
    package_parent = str(Path(__file__).resolve().parent.parent)
    path = os.pathsep.join(p for p in (package_parent, os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path}


class Handoff(Generic[T]):
    """One thing started ahead of its use (a child process) and taken, once, by whoever uses
    it; the place is shared by threads, so it is swapped under a lock."""

    def __init__(self) -> None:
        self._item: T | None = None
        self._lock = threading.Lock()

    def put(self, item: T) -> None:
        """Keep ``item`` (its callers take and stop what was kept before)."""
        with self._lock:
            self._item = item

    def take(self) -> T | None:
        """What is kept, if anything; no longer kept."""
        with self._lock:
            item, self._item = self._item, None
        return item

    def peek(self) -> T | None:
        """What is kept, left in place."""
        return self._item
