"""Where the data layer keeps derived files, and the fingerprints that key them.

Derived data (validation reports, tokenized corpora) is cached under ``$VERSEBERT_CACHE`` (default
``$XDG_CACHE_HOME/versebert`` or ``~/.cache/versebert``). A cache entry is keyed by everything
its content depends on — settings, the installed translation packages and the source of the
modules that computed it — so editing a cleaning rule or upgrading a package never serves a
stale result.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from ..atomic import write_text_atomically as write_text_atomically  # the one atomic writer, re-exported


def cache_dir(*parts: str) -> Path:
    """The data cache directory (or a subdirectory of it), created if needed."""
    base = os.environ.get("VERSEBERT_CACHE")
    if not base:
        base = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "versebert")
    path = Path(base, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def package_version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def fingerprint(settings: object, modules: tuple[ModuleType, ...] = (), packages: tuple[str, ...] = ()) -> str:
    """SHA-256 (16 hex digits) of JSON-able ``settings``, module sources and package versions."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for module in modules:
        digest.update(Path(module.__file__).read_bytes())
    for package in packages:
        digest.update(f"{package}=={package_version(package)}".encode())
    return digest.hexdigest()[:16]


def save_directory_atomically(path: Path, save: Callable[[Path], None]) -> None:
    """Let ``save`` fill a private temporary directory, then rename it to ``path``; if another
    process got there first, keep its copy (same key, same content) and drop ours."""
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    save(temporary)
    try:
        temporary.rename(path)
    except OSError:
        if not path.is_dir():
            raise
        shutil.rmtree(temporary)
