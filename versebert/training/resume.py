"""Resume only what was started: compare a run's settings with those its checkpoint recorded.

A checkpoint records the whole effective configuration of the run that saved it (the stage's
settings, the model shape, the tokenizer and data settings, the warm start, and digests of the
data). Resuming with anything else would continue one run's optimiser state and schedule under
another's settings and then record the new settings as if they had been used throughout; so a
difference is refused, naming every differing key, unless the key is declared safe: it only
changes how often the run logs, evaluates or saves, which cannot change a weight.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..conventions import METRICS_BEFORE_FILE, METRICS_FILE
from ..errors import UserError

RESTART_HINT = "rerun with --restart to discard this stage's checkpoints and start it over"
# What a run leaves beside its model: MLM and contrastive runs alike (the latter add their metrics).
RUN_RECORDS = ("checkpoints", "logs", "curves.png", METRICS_FILE, METRICS_BEFORE_FILE)


def discard_run(run_dir: str | Path) -> None:
    """Remove what a run left in ``run_dir`` (checkpoints, logs, curves, metrics), so it starts over;
    anything else there is left alone."""
    for name in RUN_RECORDS:
        path = Path(run_dir) / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


class ChangedSettingsError(UserError):
    """A resume whose settings differ from those its checkpoint recorded, in keys not declared safe."""


def plain(value: object) -> object:
    """``value`` as JSON would give it back (dataclasses become their fields, tuples lists, paths
    strings), so a recorded record and a fresh one compare equal when they describe the same thing."""
    return json.loads(json.dumps(value, sort_keys=True, default=_jsonable))


def _jsonable(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)


def flatten(record: Mapping, prefix: str = "") -> dict[str, object]:
    """Nested mappings as ``{"section.key": value}``."""
    flat: dict[str, object] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def digest(chunks: Iterable[bytes]) -> str:
    """SHA-256 (16 hex digits) of a stream of bytes: a fingerprint of data too large to record."""
    hasher = hashlib.sha256()
    for chunk in chunks:
        hasher.update(chunk)
    return hasher.hexdigest()[:16]


def settings_changes(recorded: Mapping, current: Mapping) -> dict[str, tuple[object, object]]:
    """``{key: (old, new)}`` for every dotted key whose value differs (a missing key is ``None``)."""
    old, new = flatten(plain(recorded)), flatten(plain(current))
    keys = sorted(old.keys() | new.keys())
    return {key: (old.get(key), new.get(key)) for key in keys if old.get(key) != new.get(key)}


def check_resume_settings(
    recorded: Mapping | None, current: Mapping, *, checkpoint: str | Path, safe: frozenset[str]
) -> dict[str, tuple[object, object]]:
    """Refuse to resume ``checkpoint`` if ``current`` differs from ``recorded`` outside ``safe``;
    return the safe changes (for a one-line notice)."""
    if recorded is None:
        raise ChangedSettingsError(
            f"{checkpoint} records no settings (saved by an older version), so a resume cannot be checked; "
            f"{RESTART_HINT}"
        )
    changes = settings_changes(recorded, current)
    unsafe = {key: change for key, change in changes.items() if key not in safe}
    if unsafe:
        raise ChangedSettingsError(
            f"{checkpoint} was saved with other settings: {describe_changes(unsafe)}. Resume with the settings "
            f"it was saved with (only {', '.join(sorted(safe))} may change), or {RESTART_HINT}"
        )
    return changes


def describe_changes(changes: Mapping[str, tuple[object, object]], limit: int = 8) -> str:
    """``a.b: 1 → 2, c: x → y`` (at most ``limit`` keys, then how many more)."""
    shown = [f"{key}: {json.dumps(old)} → {json.dumps(new)}" for key, (old, new) in list(changes.items())[:limit]]
    if len(changes) > limit:
        shown.append(f"and {len(changes) - limit} more")
    return ", ".join(shown)


__all__ = [
    "RESTART_HINT",
    "RUN_RECORDS",
    "discard_run",
    "ChangedSettingsError",
    "check_resume_settings",
    "describe_changes",
    "digest",
    "flatten",
    "plain",
    "settings_changes",
]
