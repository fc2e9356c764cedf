"""Atomic writes and filesystem faults: a failed write keeps the old file whole and says why in one line."""

from __future__ import annotations

import errno
import os

import pytest

from versebert import atomic
from versebert.atomic import (
    FilesystemError,
    atomic_path,
    make_directory,
    write_json_atomically,
    write_text_atomically,
)


def fail_with(code):
    def failing(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    return failing


@pytest.mark.parametrize("function", ["write", "replace", "open"])
def test_a_full_disk_keeps_the_old_file_and_is_one_line_naming_it(tmp_path, monkeypatch, function):
    """A write failing half-way must not leave a 0-byte or truncated report where a good one was."""
    path = tmp_path / "retrieval.json"
    write_json_atomically(path, {"ndcg@10": 0.5})
    before = path.read_bytes()
    monkeypatch.setattr(atomic.os, function, fail_with(errno.ENOSPC))
    with pytest.raises(FilesystemError) as failure:
        write_json_atomically(path, {"ndcg@10": 0.7})
    monkeypatch.undo()
    assert str(failure.value) == f"no space left on device writing {path}"
    assert path.read_bytes() == before
    assert [item.name for item in tmp_path.iterdir()] == ["retrieval.json"]  # the temporary file is gone


def test_a_read_only_file_system_names_the_cause(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic.os, "open", fail_with(errno.EROFS))
    with pytest.raises(FilesystemError, match=f"^read-only file system writing {tmp_path / 'a.txt'}$"):
        write_text_atomically(tmp_path / "a.txt", "x")


def test_torch_s_full_disk_message_becomes_a_full_disk_message(tmp_path):
    """torch's zip writer says "unexpected pos 7680 vs 7572" when the disk fills, with no errno."""
    with pytest.raises(FilesystemError) as failure, atomic_path(tmp_path / "model.safetensors"):
        raise RuntimeError("[enforce fail at inline_container.cc:603] . unexpected pos 7680 vs 7572")
    message = str(failure.value)
    assert "\n" not in message and "no space left on device" in message and "model.safetensors" in message


def test_a_full_disk_wrapped_by_safetensors_becomes_a_full_disk_message(tmp_path):
    """safetensors raises its own exception type and keeps only the OS error's text."""

    class SafetensorError(Exception):
        pass

    with pytest.raises(FilesystemError, match=f"^no space left on device writing {tmp_path / 'model.safetensors'}$"):
        with atomic_path(tmp_path / "model.safetensors"):
            raise SafetensorError('Error while serializing: IoError(Os { code: 28, message: "No space left on device"')


def test_errors_that_are_not_the_user_s_to_fix_propagate_unchanged(tmp_path):
    with pytest.raises(KeyError), atomic_path(tmp_path / "x"):
        raise KeyError("a bug")
    assert list(tmp_path.iterdir()) == []


def test_an_output_that_is_a_file_is_refused_with_its_path(tmp_path):
    output = tmp_path / "run"
    output.write_text("not a directory")
    with pytest.raises(FilesystemError, match=f"^--output {output} is a file, not a directory$"):
        make_directory(output, "--output")
    message = f"^a parent is a file, not a directory, when creating --output {output}/inside$"
    with pytest.raises(FilesystemError, match=message):
        make_directory(output / "inside", "--output")


def test_a_read_only_output_directory_is_refused_before_anything_runs(tmp_path):
    output = tmp_path / "read-only"
    output.mkdir()
    output.chmod(0o555)
    try:
        if os.access(output, os.W_OK):
            pytest.skip("running as root: a read-only mode does not stop writes")
        with pytest.raises(FilesystemError, match=f"^permission denied writing into --output {output}$"):
            make_directory(output, "--output")
    finally:
        output.chmod(0o755)
