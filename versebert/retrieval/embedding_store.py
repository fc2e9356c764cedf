"""A model's embeddings of texts, kept on disk one text at a time, so any later list of texts that
shares some of them encodes only the rest.

Distillation embeds 40,000 texts with all-MiniLM-L6-v2 (7.5 minutes on an AVX2 CPU); stage B's soft
targets want the same model's embeddings of topics and verses that are nearly all among them, and so
does the evaluation's peer row (its WEB verses and train topics: 6.5 minutes); an experiment that adds
texts wants the old ones back. Keyed by the whole list, each of these encoded everything again. Here
each call that meets new texts writes one shard (their SHA-256 keys and embeddings, atomically), and a
lookup reads every shard of the model: a torn or foreign shard is skipped and its texts encoded again.
"""

from __future__ import annotations

import hashlib
import secrets
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..data.cache import cache_dir

KEY_BYTES = 16


def text_key(text: str) -> bytes:
    """The text's key in a store: the first 16 bytes of its UTF-8 SHA-256."""
    return hashlib.sha256(text.encode("utf-8")).digest()[:KEY_BYTES]


def store_directory(fingerprint: str) -> Path:
    """The machine-wide store of one model's embeddings (by its :func:`~.dense.model_fingerprint`)."""
    return cache_dir("embeddings") / fingerprint[:16]


def read_store(directory: Path) -> dict[bytes, np.ndarray]:
    """Every embedding the shards in ``directory`` hold, by text key (unreadable shards left out)."""
    known: dict[bytes, np.ndarray] = {}
    for shard in sorted(directory.glob("shard-*.npz")):
        try:
            with np.load(shard, allow_pickle=False) as content:
                keys, embeddings = content["keys"], content["embeddings"]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):  # torn or not ours: its texts are encoded again
            continue
        if keys.dtype != np.dtype(f"S{KEY_BYTES}") or len(keys) != len(embeddings) or not np.isfinite(embeddings).all():
            continue
        known.update(zip(keys.tolist(), embeddings, strict=True))
    return known


def stored_embeddings(
    texts: Sequence[str], directory: Path, encode: Callable[[list[str]], np.ndarray]
) -> np.ndarray:
    """Embeddings of ``texts`` (one row each, float32): those of texts the store in ``directory`` has
    from it, the others from ``encode`` (called once, on each missing text once, in first-seen order),
    which are then added to the store as a new shard."""
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    directory.mkdir(parents=True, exist_ok=True)
    keys = [text_key(text) for text in texts]
    known = read_store(directory)
    missing = {key: text for key, text in zip(keys, texts, strict=True) if key not in known}
    if missing:
        new = np.ascontiguousarray(encode(list(missing.values())), dtype=np.float32)
        if new.shape[0] != len(missing):
            raise ValueError(f"the encoder returned {new.shape[0]} embeddings for {len(missing)} texts")
        shard = directory / f"shard-{secrets.token_hex(8)}.npz"
        with atomic_path(shard) as temporary, open(temporary, "wb") as handle:
            np.savez(handle, keys=np.array(list(missing), dtype=f"S{KEY_BYTES}"), embeddings=new)
        known.update(zip(missing, new, strict=True))
    return np.stack([known[key] for key in keys]).astype(np.float32, copy=False)


__all__ = ["read_store", "store_directory", "stored_embeddings", "text_key"]
