"""Dense retrieval with any SentenceTransformer: normalized embeddings, exact top-k by dot product.

31k verses x 384 dimensions is 48 MB of float32 and one matrix product per query batch (a few
milliseconds), so an approximate index would add recall loss and a dependency for no gain.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import UserError, require
from .fusion_weights import FUSION_FILE, FusionWeights
from .topk import top_k

# Files that decide what a model computes; READMEs, caches, training logs and the fusion weights
# (how search combines its ranking with BM25's) do not.
FINGERPRINT_SUFFIXES = (".json", ".safetensors", ".bin", ".txt", ".model", ".py")
NOT_FINGERPRINTED = (FUSION_FILE,)
MODEL_MARKERS = ("modules.json", "config.json", "config_sentence_transformers.json")


def model_fingerprint(path: str | Path) -> str:
    """SHA-256 over the names and bytes of a model directory's weight, config, vocab and code files."""
    root = Path(path)
    digest = hashlib.sha256()
    files = sorted(
        file for file in root.rglob("*")
        if file.is_file() and file.suffix in FINGERPRINT_SUFFIXES and file.name not in NOT_FINGERPRINTED
        and not any(part.startswith(".") for part in file.relative_to(root).parts)
    )
    for file in files:
        digest.update(file.relative_to(root).as_posix().encode() + b"\0")
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def check_model_dir(path: str | Path) -> Path:
    """``path`` as a directory holding a model, or a :class:`UserError` saying what is wrong."""
    path = Path(path).expanduser()
    if not path.exists():
        raise UserError(f"model directory not found: {path}")
    if not path.is_dir():
        raise UserError(f"--model must be a directory holding a saved model, got the file {path}")
    if not any((path / marker).is_file() for marker in MODEL_MARKERS):
        raise UserError(f"{path} does not hold a saved model (no {' or '.join(MODEL_MARKERS)})")
    return path.resolve()


class DenseEncoder:
    """A SentenceTransformer from a local directory, with the fingerprint an index records."""

    def __init__(
        self, path: str | Path, *, name: str | None = None, device: str = "cpu", batch_size: int = 64
    ) -> None:
        self.path = check_model_dir(path)
        self.name = name or (self.path.name if self.path.name != "model" else f"{self.path.parent.name}/model")
        self.batch_size = batch_size
        sentence_transformers = require("sentence_transformers", "retrieval")
        try:
            self.model = sentence_transformers.SentenceTransformer(
                str(self.path), device=device, trust_remote_code=True, local_files_only=True
            )
        except (OSError, ValueError) as error:
            raise UserError(f"could not load a SentenceTransformer from {self.path}: {error}") from error
        self.model.eval()

    @functools.cached_property
    def fingerprint(self) -> str:
        return model_fingerprint(self.path)

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    @functools.cached_property
    def fusion_weights(self) -> FusionWeights | None:
        """The hybrid-search weights chosen for this model by the pipeline, if it has them."""
        return FusionWeights.load(self.path)

    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        """Unit-length float32 embeddings, one row per text (so dot product = cosine)."""
        import torch

        with torch.inference_mode():
            embeddings = self.model.encode(
                list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                convert_to_numpy=True, show_progress_bar=show_progress,
            )
        return np.ascontiguousarray(embeddings, dtype=np.float32)

    def encode_queries(self, queries: Sequence[str]) -> np.ndarray:
        """:meth:`encode` on one torch thread, the fast way for the few short texts of a search.

        A query is a handful of tiny matrix products: splitting them over an OpenMP team costs more
        than it saves, and on a shared machine the team waits for its slowest member to get a core.
        Measured on the 2-core development machine with other jobs running: all-MiniLM-L6-v2 takes
        ~30 ms per query on one thread and 90-500 ms on two.
        """
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self.encode(queries)
        finally:
            torch.set_num_threads(threads)


class DenseIndex:
    """Verse embeddings in corpus order; ``search`` takes query embeddings from the same encoder."""

    def __init__(self, verse_ids: Sequence[int], embeddings: np.ndarray) -> None:
        self.verse_ids = np.asarray(verse_ids, dtype=np.int64)
        self.embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        if self.embeddings.ndim != 2 or self.embeddings.shape[0] != len(self.verse_ids):
            raise ValueError(f"need one embedding row per verse id: {self.embeddings.shape} for "
                             f"{len(self.verse_ids)} ids")

    @classmethod
    def build(cls, encoder: DenseEncoder, verse_ids: Sequence[int], texts: Sequence[str], *,
              show_progress: bool = True) -> DenseIndex:
        return cls(verse_ids, encoder.encode(texts, show_progress=show_progress))

    @property
    def dimension(self) -> int:
        return self.embeddings.shape[1]

    def __len__(self) -> int:
        return len(self.verse_ids)

    def search(self, query_embeddings: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
        """For each query row, up to ``k`` ``(verse_id, cosine)`` best first (exact, ties in corpus order)."""
        query_embeddings = np.atleast_2d(query_embeddings).astype(np.float32, copy=False)
        if query_embeddings.shape[1] != self.dimension:
            raise ValueError(f"query embeddings have {query_embeddings.shape[1]} dimensions, "
                             f"the index {self.dimension}")
        similarities = query_embeddings @ self.embeddings.T
        return [
            [(int(self.verse_ids[i]), float(row[i])) for i in top_k(row, k)]
            for row in similarities
        ]

    def save(self, path: str | Path) -> None:
        """One safetensors file with ``embeddings`` and ``verse_ids`` (no pickle)."""
        from safetensors.numpy import save_file

        save_file({"embeddings": self.embeddings, "verse_ids": self.verse_ids}, str(path))

    @classmethod
    def load(cls, path: str | Path) -> DenseIndex:
        from safetensors.numpy import load_file

        if not Path(path).is_file():
            raise UserError(f"no dense embeddings at {path}")
        tensors = load_file(str(path))
        return cls(tensors["verse_ids"], tensors["embeddings"])
