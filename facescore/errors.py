"""Errors that mean "the input cannot be measured", as opposed to bugs.

The CLI turns each of these into one line on stderr and exit code 2.
"""


class FacescoreError(Exception):
    """Base class: a problem with the input or set-up that a user can fix."""


class ModelError(FacescoreError):
    """The shipped landmark model is missing or altered."""


class SourceError(FacescoreError):
    """A video, image or camera cannot be opened or decoded."""


class FaceError(FacescoreError):
    """No usable face: none found, too small, turned away or lost."""
