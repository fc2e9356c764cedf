"""Atomic file writes, and filesystem faults as one-line messages.

Every report and record a run writes (stage markers, metrics, evaluation reports, trainer states)
goes through :func:`atomic_path`: the content is written to a private temporary file beside the
target and renamed over it only once complete. A crash, a full disk or a killed process therefore
leaves either the old file or the new one, never a 0-byte or truncated one, and concurrent readers
(several training processes preparing data at once) see the whole file or none of it.

A fault the user can fix (no space left, a read-only file system, no permission, a path through a
file) becomes a :class:`~versebert.errors.UserError` naming the path and the cause, instead of a
traceback from deep inside a library.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from .errors import UserError

CAUSES = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOTDIR: "a parent is a file, not a directory, when",
    errno.EISDIR: "a directory is in the way when",
}
"""The OSErrors that are the user's to fix, by errno, in the words of the message."""

# torch's zip writer reports a failed write (typically a full disk) without an errno; safetensors
# (Rust) wraps the OS error in its own exception type, keeping only its text.
TORCH_WRITE_FAILURES = ("unexpected pos", "PytorchStreamWriter failed", "file write failed")
NO_SPACE_TEXTS = ("No space left on device", "os error 28")


class FilesystemError(UserError):
    """Writing or creating a path failed for a reason the user can fix; the message names both."""


def filesystem_error(error: BaseException, path: str | Path, action: str = "writing") -> FilesystemError | None:
    """The one-line :class:`FilesystemError` for ``error`` raised while ``action`` ``path``, or
    ``None`` if it is not a fault the user can fix (then the original error should propagate)."""
    if isinstance(error, OSError) and error.errno in CAUSES:
        return FilesystemError(f"{CAUSES[error.errno]} {action} {path}")
    if not isinstance(error, OSError) and any(text in str(error) for text in NO_SPACE_TEXTS):
        return FilesystemError(f"{CAUSES[errno.ENOSPC]} {action} {path}")
    if isinstance(error, RuntimeError) and any(text in str(error) for text in TORCH_WRITE_FAILURES):
        free = _free_megabytes(Path(path))
        return FilesystemError(
            f"{action} {path} failed, most likely no space left on device ({free} MB free there; "
            f"torch says: {str(error).strip().splitlines()[0][:120]})"
        )
    return None


def _free_megabytes(path: Path) -> str:
    for candidate in (path, *path.parents):
        with contextlib.suppress(OSError):
            return f"{shutil.disk_usage(candidate).free / 2**20:.0f}"
    return "?"


@contextlib.contextmanager
def filesystem_errors(path: str | Path, action: str = "writing") -> Iterator[None]:
    """Turn the user-fixable filesystem faults raised inside the block into a :class:`FilesystemError`."""
    try:
        yield
    except Exception as error:  # noqa: BLE001 (re-raised unless it is a fault the user can fix)
        translated = filesystem_error(error, path, action)
        if translated is None:
            raise
        raise translated from error


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for the block to write; rename it to ``path`` when the
    block succeeds, delete it when it fails. For writers that want a file name (``savefig``)."""
    path = Path(path)
    # The suffix stays last: writers that pick a format by extension (matplotlib) still see ".png".
    temporary = path.with_name(f".{path.stem}.{os.getpid()}-{secrets.token_hex(4)}.tmp{path.suffix}")
    with filesystem_errors(path):
        try:
            yield temporary
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise


def write_bytes_atomically(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, flushed to disk before the rename (so a power cut after
    it cannot leave the new name on empty blocks)."""
    with atomic_path(path) as temporary:
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(handle, view) :]
            os.fsync(handle)
        finally:
            os.close(handle)


def write_text_atomically(path: str | Path, text: str) -> None:
    write_bytes_atomically(path, text.encode("utf-8"))


def write_json_atomically(path: str | Path, value: object, *, indent: int | None = 2) -> None:
    """``value`` as JSON (non-JSON values by ``str``), with a final newline."""
    write_text_atomically(path, json.dumps(value, indent=indent, default=str) + "\n")


def make_directory(path: str | Path, what: str = "directory") -> Path:
    """Create ``path`` (and its parents) and check that files can be written there, so a run fails
    before its first stage, not hours later, when ``--output`` is a file or read-only."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise FilesystemError(f"{what} {path} is a file, not a directory")
    with filesystem_errors(f"{what} {path}", "creating"):
        path.mkdir(parents=True, exist_ok=True)
    probe = path / f".write-test-{os.getpid()}"
    with filesystem_errors(f"{what} {path}", "writing into"):
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        probe.unlink()
    return path


__all__ = [
    "FilesystemError",
    "atomic_path",
    "filesystem_error",
    "filesystem_errors",
    "make_directory",
    "write_bytes_atomically",
    "write_json_atomically",
    "write_text_atomically",
]
