import shutil

import pytest

from facescore.errors import ModelError
from facescore.model import MODEL_SHA256, default_model_path, verified_model_path


def test_shipped_model_verifies():
    assert verified_model_path() == default_model_path()


def test_missing_model_is_refused(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        verified_model_path(tmp_path / "face_landmarker.task")


def test_altered_model_is_refused(tmp_path):
    copy = tmp_path / "face_landmarker.task"
    shutil.copy(default_model_path(), copy)
    with open(copy, "r+b") as handle:
        handle.seek(1000)
        byte = handle.read(1)
        handle.seek(1000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelError, match=MODEL_SHA256[:12]):
        verified_model_path(copy)


def test_model_readme_states_the_checksum():
    readme = default_model_path().parent / "README.md"
    assert MODEL_SHA256 in readme.read_text()
