"""facescore: left-right facial asymmetry measured from video.

The package reads as its pipeline:

``sources`` (video, image, webcam → frames with timestamps)
→ ``landmarks`` (MediaPipe; the only module that imports it; ``landmark_worker`` runs it in a
child process so that it never waits for the measuring)
→ ``geometry`` (head pose, head-fixed frame, mm scale) and ``features`` (per-side positions)
→ ``motion`` (per-side movement by optical flow, no left-right prior)
→ ``table`` (the per-frame table) → ``segments`` (rest and movements) → ``scores``
(per-side excursion, symmetry) → ``analysis`` (one video's results) → ``report`` (JSON, HTML).

``measure_video`` runs the chain up to the per-frame table and ``analyze`` to the results;
``phantom`` makes ground-truth videos and ``validation`` compares measurements with their truth;
``cli`` is the command line.

A measurement aid, not a diagnostic device: scores are not validated against clinical grading.
"""

# _signal: the interpreter's own C module, already loaded ('signal' would first build its
# enums, which takes a while on a busy machine, unprotected).
import _signal
import os as _os
import sys as _sys


def _started_as_command() -> bool:
    """Whether this import is the ``facescore`` command starting (its script or ``python -m
    facescore``), not a program or notebook importing the library."""
    argv = getattr(_sys, "orig_argv", [])
    script = _os.path.basename(_sys.argv[0]) if _sys.argv else ""
    return script == "facescore" or any(argv[i:i + 2] == ["-m", "facescore"]
                                        for i in range(len(argv) - 1))


def _interrupted_while_starting(signum: int, _frame: object = None) -> None:
    """Ctrl-C or SIGTERM before the command's own handling is in place (``cli.main``): nothing
    has been started or written yet, so end at once with the command's one line and status,
    not with a traceback from whichever import the signal happened to land in."""
    _os.write(2, b"facescore: interrupted\n")
    _os._exit(128 + signum)


#: Installed first thing, so that the command's start (its imports take a while on a busy
#: machine) is covered; cli.main replaces them. Left alone when the signal is ignored (a
#: background job) or when the library is imported by other code.
if _started_as_command():
    for _sig, _default in ((_signal.SIGINT, _signal.default_int_handler),
                           (_signal.SIGTERM, _signal.SIG_DFL)):
        if _signal.getsignal(_sig) is _default:
            _signal.signal(_sig, _interrupted_while_starting)

# facescore's linear algebra is on small matrices, where a threaded BLAS gains nothing and,
# on a busy machine, loses a great deal (scipy's Delaunay took 1.3 s instead of 1 ms with
# OpenBLAS threads competing for 2 cores). Set before numpy loads its BLAS.
_os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# OpenCV's own thread pool likewise: its calls here are on face-sized pictures (Lucas-Kanade on
# a dozen points, a crop's resize) inside a pipeline whose decoder threads, landmark worker and
# measuring threads already keep every core busy, so splitting each call costs hand-offs and
# shortens nothing (1080p, 60 s: 1.1-1.7 CPU-s less a run and 4-5 % less wall time, the same
# files byte for byte; docs/throughput.md, stop 36). Read when OpenCV loads, so set before it
# (and inherited by the landmark worker); not cv2.setNumThreads, with which a forked batch
# worker waits forever on its parent's pool. A value the user set is kept.
_os.environ.setdefault("OPENCV_FOR_THREADS_NUM", "1")

__version__ = "0.1.0"

from .errors import FaceError, FacescoreError, ModelError, SourceError  # noqa: E402

#: The public API's names and the modules they live in. They are imported on first use, so
#: that ``import facescore`` (and so the command line's start, its --help and its Ctrl-C) does
#: not wait for OpenCV, pandas and MediaPipe.
_LAZY = {"Analysis": "analysis", "analyze": "analysis", "Measurement": "pipeline",
         "measure_video": "pipeline"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "__version__",
    "FacescoreError",
    "FaceError",
    "ModelError",
    "SourceError",
    "Measurement",
    "measure_video",
    "Analysis",
    "analyze",
]
