"""Model arguments as local directories or Hugging Face Hub ids, resolved in one place.

``--model`` (search, index, evaluation, cloze) and ``--init-from`` (warm start) all take either a
directory or an ``ORG/NAME`` Hub id. A Hub id becomes a local directory through
``huggingface_hub.snapshot_download``, which reuses the local cache; with ``HF_HUB_OFFLINE=1`` it
looks only there, and a model that is not cached yet fails with a message saying how to fetch it,
instead of a stack of connection errors from deep inside huggingface_hub.

An existing path always wins over a Hub id, so ``runs/tiny`` (which looks like ``ORG/NAME``) is
the directory whenever it exists.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import UserError

# huggingface_hub's own rule (validate_repo_id), restricted to the ORG/NAME form model repos have.
HUB_ID = re.compile(r"^(?!.*(--|\.\.))[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,96}(?<!\.git)$")
TRUE_VALUES = {"1", "on", "yes", "true"}


def looks_like_hub_id(value: str) -> bool:
    """``ORG/NAME`` with the characters the Hub allows (no leading ``.``, ``/`` or ``~``)."""
    return bool(HUB_ID.match(value))


def hub_offline() -> bool:
    """``HF_HUB_OFFLINE`` read at call time (huggingface_hub reads it once, at import), else its constant."""
    value = os.environ.get("HF_HUB_OFFLINE")
    if value is not None:
        return value.strip().lower() in TRUE_VALUES
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def download_hint(repo_id: str) -> str:
    return f"download it once with `hf download {repo_id}` (or `HF_HUB_OFFLINE=0`), or pass a directory"


def resolve_model_path(value: str | Path, *, flag: str = "--model") -> Path:
    """``value`` as a local path: an existing path as it is, an ``ORG/NAME`` Hub id as its snapshot.

    A value that is neither is returned as a path, so the caller's own check says it does not exist.
    """
    path = Path(value).expanduser()
    text = str(value)
    if path.exists() or not looks_like_hub_id(text):
        return path
    import huggingface_hub
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    offline = hub_offline()
    try:
        return Path(huggingface_hub.snapshot_download(text, local_files_only=offline))
    except LocalEntryNotFoundError:
        if offline:
            raise UserError(
                f"{flag} {text}: {text} is not in the local Hugging Face cache and HF_HUB_OFFLINE=1 is set; "
                f"{download_hint(text)}"
            ) from None
        raise UserError(
            f"{flag} {text}: no such directory, and the Hub could not be reached to download it; "
            f"{download_hint(text)}"
        ) from None
    except (RepositoryNotFoundError, GatedRepoError, RevisionNotFoundError) as error:
        reason = str(error).strip().splitlines()[0]
        raise UserError(f"{flag} {text}: no such directory, and the Hub refused it ({reason})") from None
    except HfHubHTTPError as error:
        reason = str(error).strip().splitlines()[0]
        raise UserError(f"{flag} {text}: downloading from the Hub failed ({reason})") from None
