"""The MediaPipe Face Landmarker bundle that ships in ``models/``.

The bundle is read by path, never downloaded. Its size and SHA-256 are checked on every load so
that a truncated or swapped file cannot silently change the measurements.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

from .errors import ModelError

MODEL_FILENAME = "face_landmarker.task"
MODEL_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
MODEL_BYTES = 3_758_596

#: Environment variable that points at another copy of the same bundle (e.g. a site install).
MODEL_ENV = "FACESCORE_MODEL"


def default_model_path() -> Path:
    """Where the model is looked for: ``$FACESCORE_MODEL``, else ``<repository>/models/``."""
    if os.environ.get(MODEL_ENV):
        return Path(os.environ[MODEL_ENV])
    return Path(__file__).resolve().parent.parent / "models" / MODEL_FILENAME


@lru_cache(maxsize=4)
def _sha256(path: Path, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verified_model_path(path: str | Path | None = None) -> Path:
    """Return the model path after checking that it is the bundle facescore was validated with.

    Raises
    ------
    ModelError
        If the file is missing, has the wrong size or the wrong SHA-256.
    """
    model = Path(path) if path is not None else default_model_path()
    if not model.is_file():
        raise ModelError(
            f"landmark model not found at {model}; it ships in the repository's models/ folder "
            f"(or set {MODEL_ENV})"
        )
    stat = model.stat()
    if stat.st_size != MODEL_BYTES or _sha256(model, stat.st_mtime_ns) != MODEL_SHA256:
        raise ModelError(
            f"landmark model at {model} is altered (expected sha256 {MODEL_SHA256[:12]}…, "
            f"{MODEL_BYTES} bytes); restore it from models/"
        )
    return model
