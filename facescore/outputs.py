"""Where outputs go: checked before any work, written whole or not at all.

:func:`check_output_folder` and :func:`check_output_file` refuse, in one line and before any
measuring, an output path that is an existing file, lies inside a file, has a name too long,
or is in a place that cannot be written. :func:`atomic_directory` then writes a folder's files
into a staging folder beside it and moves them into place only when all are complete, so a
failure (a full disk, Ctrl-C) leaves neither a half-written folder nor the staging folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .display import path_text
from .errors import FacescoreError

#: Longest file or folder name most file systems take, bytes.
NAME_MAX_BYTES = 255


def _nearest_existing(path: Path) -> Path:
    """``path`` itself when it exists, else its closest existing ancestor."""
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(path.anchor or ".")


def check_output_folder(path: str | Path, what: str = "output folder") -> Path:
    """Refuse an output folder that cannot be made or written, before any work.

    Parameters
    ----------
    path : str or Path
        The folder outputs go to; it may not exist yet.
    what : str
        What it is, for the message.

    Returns
    -------
    Path
        ``path``, unchanged.

    Raises
    ------
    FacescoreError
        It is an existing file; a file stands where one of its parent folders should be; a
        name in it is too long; or the nearest existing folder is not writable (permissions,
        read-only file system).
    """
    path = Path(path)
    long = [part for part in path.parts if len(os.fsencode(part)) > NAME_MAX_BYTES]
    if long:
        raise FacescoreError(f"{what} {path}: a name in it is longer than {NAME_MAX_BYTES} bytes")
    absolute = Path(os.path.abspath(path))
    existing = _nearest_existing(absolute)
    if existing == absolute and not existing.is_dir():
        raise FacescoreError(f"{what} {path} is an existing file, not a folder")
    if not existing.is_dir():
        raise FacescoreError(f"{what} {path} cannot be made: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise FacescoreError(f"{what} {path} cannot be written: no permission to write in "
                             f"{existing}")
    _probe(existing, f"{what} {path}")
    return path


def _probe(folder: Path, what: str) -> None:
    """Make and remove an empty folder in ``folder``: the one sure test that something can be
    made there (permissions, a read-only or virtual file system, a full inode table)."""
    try:
        probe = tempfile.mkdtemp(prefix=".facescore-check-", dir=folder)
    except OSError as exc:
        raise FacescoreError(f"{what} cannot be written: {exc.strerror or exc} in "
                             f"{folder}") from None
    os.rmdir(probe)


def check_not_another_report(folder: str | Path, recording: str | Path) -> None:
    """Refuse to write a report over one of another recording, before any work.

    A report folder named after the wrong patient, or the default folder reused, would
    otherwise lose an earlier report without a word. The report of the same recording (by
    file name: a re-run) is replaced.

    Raises
    ------
    FacescoreError
        ``folder`` holds a ``report.json`` whose input has another file name.
    """
    import json

    report = Path(folder) / "report.json"
    try:
        earlier = json.loads(report.read_text(encoding="utf-8"))["input"]["path"]
    except (OSError, ValueError, KeyError, TypeError):
        return  # no report there (or not one of ours)
    if Path(str(earlier)).name != Path(recording).name:
        raise FacescoreError(f"output folder {path_text(folder)} holds the report of "
                             f"{path_text(Path(str(earlier)).name)}: choose another folder "
                             "(-o), or pass --overwrite to replace it")


def check_output_file(path: str | Path, what: str = "output file") -> Path:
    """Refuse an output file that cannot be written, before any work.

    Raises
    ------
    FacescoreError
        It is an existing folder, or its folder cannot be made or written (see
        :func:`check_output_folder`), or it exists and cannot be replaced.
    """
    path = Path(path)
    if path.is_dir():
        raise FacescoreError(f"{what} {path} is an existing folder, not a file")
    check_output_folder(path.parent if str(path.parent) else Path("."), f"the folder of {what}")
    if len(os.fsencode(path.name)) > NAME_MAX_BYTES:
        raise FacescoreError(f"{what} {path}: its name is longer than {NAME_MAX_BYTES} bytes")
    return path


@contextmanager
def atomic_directory(target: str | Path):
    """Yield a staging folder; on success its files replace those of ``target``.

    Raises
    ------
    FacescoreError
        When the folder cannot be made or written (no permission, a full disk): the staging
        folder is removed and ``target`` is left as it was.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except OSError as exc:
        raise FacescoreError(f"cannot write {path_text(target)}: "
                             f"{exc.strerror or exc}") from None
    try:
        staging.chmod(0o755)  # mkdtemp makes it private; a report folder is an ordinary folder
        yield staging
        if not target.exists():
            staging.replace(target)
            return
        for item in staging.iterdir():
            item.replace(target / item.name)
        staging.rmdir()
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise FacescoreError(f"cannot write {path_text(target)}: "
                             f"{exc.strerror or exc}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
