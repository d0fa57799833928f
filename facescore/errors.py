"""Errors that mean "the input cannot be measured", as opposed to bugs.

The CLI turns each of these into one line on stderr and exit code 2.
"""

import signal


class FacescoreError(Exception):
    """Base class: a problem with the input or set-up that a user can fix."""


class ModelError(FacescoreError):
    """The shipped landmark model is missing or altered."""


class SourceError(FacescoreError):
    """A video, image or camera cannot be opened or decoded."""


class FaceError(FacescoreError):
    """No usable face: none found, too small, turned away or lost."""


class Interrupted(KeyboardInterrupt):
    """The user stopped the run: Ctrl-C (SIGINT) or SIGTERM.

    A KeyboardInterrupt, so that everything that cleans up after Ctrl-C (staging folders,
    child processes, partial files) does the same for SIGTERM.

    Parameters
    ----------
    signum : int
        The signal that stopped the run.
    detail : str, optional
        What was kept, e.g. how many videos of a batch are done.
    """

    def __init__(self, signum: int = signal.SIGINT, detail: str = ""):
        super().__init__(detail)
        self.signum = int(signum)
        self.detail = detail


def raise_interrupted(signum: int, _frame: object = None) -> None:
    """A signal handler: stop the main thread's work with :class:`Interrupted`."""
    raise Interrupted(signum)
