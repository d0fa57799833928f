"""The face tracker in a child process, fed frames through shared memory.

MediaPipe's Python wrapper takes and drops the GIL many times per frame (one ctypes call each),
so in a shared process every frame waits behind the measuring code for the interpreter: a busy
Python thread beside it cuts the model from ~110 to ~20 frames/s here (benchmarks/throughput.py
explains). In its own process the model keeps its speed, and the parent's decoding and measuring
run beside it on the other core.

Frames go through a ring of slots in one anonymous shared-memory file (memfd) that the child
inherits, so nothing is left behind however either process ends (copying a 1080p frame there
costs ~0.3 ms); landmarks come back pickled through a pipe, in the order the frames were
handed over. The child also keeps the last faces it found, so that a key frame's region of
interest can be placed there, from the last key face carried by the skin
(:meth:`LandmarkWorker.track_carried_soon`): the key frame is then handed over before that face
has come back, and the model does not wait for the parent between key frames.

    with LandmarkWorker((height, width)) as worker:
        for frame, face in worker.track_all(frames):
            ...
        most_faces = worker.finish()
"""

from __future__ import annotations

import atexit
import contextlib
import mmap
import os
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import numpy as np

from .concurrency import Handoff, child_environment, process_setting
from .model import verified_model_path
from .sources import Frame, SourceInfo, pack_i420, unpack_i420

if TYPE_CHECKING:  # (the child imports it in serve, where it is used)
    from .model_schedule import Carry

#: Frames handed to the worker before the first result is awaited: enough to keep it busy
#: while the parent measures, few enough to keep the shared ring small (6 x 3 MB at 1080p).
DEPTH = 6
#: Faces the child keeps to carry a later key frame's region from (:meth:`track_carried_soon`
#: asks for the last key frame's, with at most a key gap of frames modelled since: 31 at
#: 240 fps). Each keeps a small reduced picture (~15 KB at 1080p).
KEPT_SOURCES = 64
#: Seconds a stopping worker gets to finish before it is killed.
STOP_TIMEOUT_S = 5.0
#: Videos at least this large (px per frame) and long (frames) get the landmark model in its
#: own process. There the measuring competes hardest with the model for the interpreter
#: (1080p: 97 fps against 74 in a thread), while starting the process costs ~0.7 s, more than
#: it saves on small or short videos (480 px, 900 frames: 92 fps against 94; 720p: 87 against
#: 84; a 216-frame exam: 3.2 s against 2.4 s).
PROCESS_MIN_PIXELS = 1280 * 720 + 1
PROCESS_MIN_FRAMES = 300


_CHILD = "import sys; from facescore.landmark_worker import main; main(sys.argv[1:])"


def _child_environment() -> dict[str, str]:
    """This environment, with this copy of facescore importable and MediaPipe quiet."""
    return {**child_environment(), "GLOG_minloglevel": "2"}


def wants_landmark_process(info: SourceInfo) -> bool:
    """Whether this source is measured sooner with the landmark model in a child process.

    ``FACESCORE_LANDMARK_PROCESS=1`` (or ``0``) in the environment decides instead, e.g. on a
    one-core cluster worker that should not start a second process.
    """
    setting = process_setting()
    if setting is not None:
        return setting
    long_enough = info.n_frames is None or info.n_frames >= PROCESS_MIN_FRAMES
    return (info.kind == "video" and info.width * info.height >= PROCESS_MIN_PIXELS
            and long_enough)


class WorkerError(RuntimeError):
    """The landmark worker process failed or stopped unexpectedly."""


def _anonymous_file(size: int) -> int:
    """A file descriptor of ``size`` bytes of shared memory with no name on any file system."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("facescore-frames")
    else:  # no memfd (not Linux): a temporary file, unlinked at once
        handle, path = tempfile.mkstemp(prefix="facescore-frames-")
        os.unlink(path)
        fd = handle
    try:
        os.ftruncate(fd, size)
        if hasattr(os, "posix_fallocate"):
            os.posix_fallocate(fd, 0, size)  # no room fails here, not as SIGBUS on a write
    except OSError:
        os.close(fd)
        raise
    return fd


def _slot_bytes(height: int, width: int) -> int:
    """Bytes of one slot: room for an RGB frame, the larger of the two layouts."""
    return height * width * 3


def _write_slot(view: np.ndarray, frame: Frame) -> None:
    if frame.planar:
        pack_i420(frame.gray, *frame.chroma, out=view)
    else:
        view[:frame.rgb.size].reshape(frame.rgb.shape)[:] = frame.rgb


def _read_slot(view: np.ndarray, index: int, t_s: float, height: int, width: int,
               planar: bool) -> Frame:
    if planar:
        y, u, v = unpack_i420(view, height, width)
        return Frame(index, t_s, gray=y, chroma=(u, v))
    return Frame.from_rgb(index, t_s, view[:height * width * 3].reshape(height, width, 3))


class LandmarkWorker:
    """A :class:`~facescore.landmarks.FaceTracker` running in a child Python process.

    The child starts (and loads the model) as soon as this object is made, overlapping with
    whatever the parent does before its first frame.

    Parameters
    ----------
    frame_size : (height, width)
        Size of the frames to come, px.
    model_path : str or Path, optional
        The Face Landmarker bundle (verified here, in the parent, so a bad model is a one-line
        :class:`~facescore.errors.ModelError` before any process starts).
    depth : int
        Frames in flight.

    Raises
    ------
    OSError
        When the shared memory or the child process cannot be had.
    """

    def __init__(self, frame_size: tuple[int, int], model_path: str | Path | None = None,
                 depth: int = DEPTH):
        model = verified_model_path(model_path)
        self.model_path = str(model)
        self.frame_size = tuple(frame_size)
        self.depth = depth
        height, width = self.frame_size
        self.slot_bytes = _slot_bytes(height, width)
        ring_fd = _anonymous_file(self.slot_bytes * depth)
        to_child_read, to_child_write = os.pipe()
        from_child_read, from_child_write = os.pipe()
        inherited = (to_child_read, from_child_write, ring_fd)
        try:
            self._ring = mmap.mmap(ring_fd, self.slot_bytes * depth)
            self._process = subprocess.Popen(
                [sys.executable, "-c", _CHILD, *(str(fd) for fd in inherited)],
                pass_fds=inherited, stdin=subprocess.DEVNULL, env=_child_environment(),
                # Its own session: a terminal's Ctrl-C reaches only the parent, which stops it.
                start_new_session=True)
        except BaseException:
            os.close(to_child_write)
            os.close(from_child_read)
            raise
        finally:
            for fd in inherited:
                os.close(fd)
        self._outbox = Connection(to_child_write, readable=False)
        self._inbox = Connection(from_child_read, writable=False)
        self._outbox.send((str(model), self.frame_size, depth))
        self._submitted = 0  # calls, each answered once
        self._slots_used = 0  # frames written to the ring (a call may write two)
        #: Answers read for calls of :meth:`track_soon` not yet asked for, by call number.
        self._answers: dict[int, object] = {}
        #: The same for the skin carried by calls of :meth:`track_carried_soon`.
        self._carries: dict[int, Carry] = {}
        self._answered = 0
        self._n_faces_seen: int | None = None

    # --- parent side --------------------------------------------------------------------
    def submit(self, frame: Frame, near: np.ndarray | None = None,
               carry: tuple[Frame, int] | None = None, keep: bool = False) -> None:
        """Hand one frame to the worker (at most ``depth`` frames ahead of the answers read:
        the ring has that many slots); ``near`` as for
        :meth:`facescore.landmarks.FaceTracker.track`; ``carry``: (the frame before, a frame
        number) to place the region in the child instead, as :meth:`track_carried_soon`;
        ``keep``: the child keeps the face it finds to carry a later frame's region from.
        Its face comes through :meth:`track_soon`, which calls this."""
        helper = None
        if carry is not None:
            before, source = carry
            helper = (self._write(before), before.index, before.t_s, before.planar, source)
        message = (self._write(frame), frame.index, frame.t_s, frame.planar,
                   None if near is None else np.ascontiguousarray(near[:, :2], dtype=np.float32),
                   helper, keep)
        self._outbox.send(message)
        self._submitted += 1

    def _write(self, frame: Frame) -> int:
        """Copy ``frame`` into the ring's next slot; returns the slot."""
        if frame.shape != self.frame_size:
            height, width = frame.shape
            raise WorkerError(f"frame {frame.index} is {width}x{height}, not the "
                              f"{self.frame_size[1]}x{self.frame_size[0]} announced")
        slot = self._slots_used % self.depth
        view = np.frombuffer(self._ring, dtype=np.uint8, count=self.slot_bytes,
                             offset=slot * self.slot_bytes)
        _write_slot(view, frame)
        del view  # a live view would keep the map from closing
        self._slots_used += 1
        return slot

    def _receive(self):
        try:
            message = self._inbox.recv()
        except EOFError:
            code = self._process.wait()
            raise WorkerError(f"landmark worker stopped unexpectedly (exit code {code})") from None
        if message[0] == "error":
            raise WorkerError(f"landmark worker failed: {message[1]}")
        return message

    def track(self, frame: Frame, near: np.ndarray | None = None):
        """The face in this one frame (or None), waiting for it: a drop-in for
        :meth:`facescore.landmarks.FaceTracker.track` where the caller chooses the frames
        (:class:`facescore.model_schedule.SparseLandmarker`, run a stage ahead of the measuring).
        Only the frames asked about are copied to the child."""
        return self.track_soon(frame, near)()

    def track_soon(self, frame: Frame, near: np.ndarray | None = None,
                   keep: bool = True) -> Callable[[], object]:
        """:meth:`track` begun: the frame is handed to the child at once; calling what this
        returns waits for its face (the child answers in order: answers to calls made earlier
        and not yet asked for are kept until they are). ``keep``: as for :meth:`submit`."""
        self.submit(frame, near, keep=keep)
        answer = self._answer(self._submitted - 1)
        return lambda: answer()[1]

    def track_carried_soon(self, frame: Frame, before: Frame, source: int
                           ) -> tuple[Callable[[], Carry | None],
                                      Callable[[], tuple[bool, object]]]:
        """:meth:`track_soon` with the region of interest placed in the child: from the face it
        found in frame number ``source`` (one it modelled earlier), carried by the skin to
        ``before`` (the frame before this one) by
        :meth:`facescore.model_schedule.SkinSource.carry`. The child then needs nothing from
        this side to model the frame, so it can be handed over before that earlier face has
        come back. Returns ``(carry, answer)``: ``carry()`` waits for that
        :class:`~facescore.model_schedule.Carry` (sent before the model runs; None where not
        carried), ``answer()`` for ``(carried, face)``; not carried (that frame had no face,
        or the skin could not be followed), the child left the frame alone:
        ``(False, None)``. Ask ``carry()`` first, if at all."""
        self.submit(frame, carry=(before, source), keep=True)
        ticket = self._submitted - 1

        def carry():
            while ticket not in self._carries and ticket >= self._answered:
                self._read_one()
            return self._carries.pop(ticket, None)

        return carry, self._answer(ticket)

    def _read_one(self) -> None:
        """The child's next message, kept for the call it belongs to."""
        kind, _, payload = self._receive()
        if kind == "carried":  # the skin work of the call answered next, ahead of its answer
            self._carries[self._answered] = payload
            return
        self._answers[self._answered] = (kind == "face", payload)
        self._answered += 1

    def _answer(self, ticket: int) -> Callable[[], tuple[bool, object]]:
        def answer():
            while ticket not in self._answers:
                self._read_one()
            self._carries.pop(ticket, None)  # not asked for (the schedule did not need it)
            return self._answers.pop(ticket)

        return answer

    def track_all(self, frames: Iterable[Frame]) -> Iterator[tuple[Frame, object]]:
        """(frame, face) for every frame, in order, keeping ``depth`` frames in flight."""
        pending: deque[tuple[Frame, Callable[[], object]]] = deque()
        source = iter(frames)
        exhausted = False
        while True:
            while not exhausted and len(pending) < self.depth:
                frame = next(source, None)
                if frame is None:
                    exhausted = True
                else:
                    pending.append((frame, self.track_soon(frame, keep=False)))
            if not pending:
                return
            frame, face = pending.popleft()
            yield frame, face()

    def finish(self) -> int:
        """Stop the worker after the frames submitted; returns the most faces seen at once."""
        if self._n_faces_seen is None:
            self._outbox.send(None)
            while (message := self._receive())[0] != "end":
                pass  # results nobody asked for (none in normal use)
            self._n_faces_seen = int(message[1])
        return self._n_faces_seen

    def close(self) -> None:
        """Stop the worker (killing it if it does not stop in time) and free the ring."""
        if self._process.poll() is None:
            try:
                self._outbox.send(None)
                # Drain replies so the child never blocks writing to a full pipe.
                while wait([self._inbox], timeout=STOP_TIMEOUT_S):
                    if self._inbox.recv()[0] in ("end", "error"):
                        break
            except (OSError, EOFError):
                pass  # the child is already gone
            try:
                self._process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        for connection in (self._outbox, self._inbox):
            connection.close()
        self._ring.close()

    def __enter__(self) -> LandmarkWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- a worker started early ---------------------------------------------------------------
#: The worker :func:`start_early` started, until :func:`take_early` hands it out.
_early: Handoff[LandmarkWorker] = Handoff()


def start_early(frame_size: tuple[int, int], model_path: str | Path | None = None) -> None:
    """Start the worker for a video about to be measured, so that its model loads while the
    caller loads the rest of its work (the command line: ~0.5 s of imports);
    :func:`facescore.pipeline.measure_video` takes it over (:func:`take_early`). One is kept
    at a time (a second call stops the first's); one nobody took is stopped at exit.

    Raises
    ------
    OSError
        When the shared memory or the child process cannot be had.
    """
    stop_early()
    _early.put(LandmarkWorker(frame_size, model_path))
    atexit.register(stop_early)  # registered once: atexit keeps one entry per function


def take_early(frame_size: tuple[int, int],
               model_path: str | Path | None = None) -> LandmarkWorker | None:
    """The worker :func:`start_early` started, if it was for frames of this size and this
    model (it is then no longer kept here: the caller closes it); None otherwise."""
    worker = _early.take()
    if worker is None:
        return None
    if worker.frame_size == tuple(frame_size) \
            and worker.model_path == str(verified_model_path(model_path)):
        return worker
    worker.close()
    return None


def stop_early() -> None:
    """Stop a worker started early that nobody took."""
    worker = _early.take()
    if worker is not None:
        worker.close()


# --- child side -------------------------------------------------------------------------
def serve(inbox: Connection, outbox: Connection, ring_fd: int) -> None:
    """The child's loop: load the model, then track each frame announced on ``inbox``."""
    from .landmarks import FaceTracker
    from .model_schedule import SkinSource

    model_path, (height, width), depth = inbox.recv()
    slot_bytes = _slot_bytes(height, width)
    ring = mmap.mmap(ring_fd, slot_bytes * depth)

    def read(slot: int, index: int, t_s: float, planar: bool) -> Frame:
        view = np.frombuffer(ring, dtype=np.uint8, count=slot_bytes, offset=slot * slot_bytes)
        return _read_slot(view, index, t_s, height, width, planar)

    #: The last faces found, by frame number, kept to carry a later frame's region from.
    sources: dict[int, SkinSource] = {}
    with FaceTracker(model_path) as tracker:
        while True:
            try:
                message = inbox.recv()
            except EOFError:  # the parent is gone
                return
            if message is None:
                outbox.send(("end", tracker.n_faces_seen))
                return
            slot, index, t_s, planar, near, helper, keep = message
            frame = read(slot, index, t_s, planar)
            if helper is not None:
                *before, source = helper
                kept = sources.get(source)
                carry = None if kept is None else kept.carry(read(*before))
                if carry is None:
                    outbox.send(("not carried", index, None))
                    continue
                # Ahead of the answer: the parent's schedule takes it instead of finding it.
                outbox.send(("carried", index, carry))
                near = np.ascontiguousarray(kept.carried(carry)[:, :2],
                                            dtype=np.float32)  # as submit sends
            face = tracker.track(frame, near)
            outbox.send(("face", index, face))
            if keep and face is not None:  # after the answer: the parent waits for that
                sources[index] = SkinSource(face.points, frame)
                while len(sources) > KEPT_SOURCES:
                    del sources[next(iter(sources))]


def main(argv: list[str]) -> NoReturn:
    inbox = Connection(int(argv[0]), writable=False)
    outbox = Connection(int(argv[1]), readable=False)
    status = 0
    try:
        serve(inbox, outbox, int(argv[2]))
    except Exception as exc:  # reported to the parent, which raises it as WorkerError
        with contextlib.suppress(OSError):
            outbox.send(("error", f"{type(exc).__name__}: {exc}"))
        status = 1
    # Everything the parent needs went through the pipe, which is unbuffered. Ending here
    # skips the interpreter's teardown of MediaPipe, OpenCV and numpy (~0.25 s), which the
    # parent would wait for when it stops this process.
    sys.stderr.flush()
    os._exit(status)
