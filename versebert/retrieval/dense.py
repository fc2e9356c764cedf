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


# The two kinds of model directory a run holds, and what tells them apart: a SentenceTransformer has
# modules.json (its pipeline: encoder, pooling); a masked-LM checkpoint's weights carry the head.
SENTENCE_TRANSFORMER = "sentence-transformer"
MASKED_LM = "masked-lm"
MLM_HEAD_PREFIXES = ("lm_head.", "cls.predictions.")  # ours, and BERT's
MLM_ARCHITECTURE_SUFFIXES = ("ForMaskedLM", "ForPreTraining")


def weight_names(path: Path) -> list[str] | None:
    """The tensor names of a checkpoint's safetensors weights (headers only), or ``None`` without any."""
    import json

    index = path / "model.safetensors.index.json"
    if index.is_file():
        return list(json.loads(index.read_text(encoding="utf-8")).get("weight_map", {}))
    files = sorted(path.glob("*.safetensors"))
    if not files:
        return None
    from safetensors import safe_open

    names: list[str] = []
    for file in files:
        with safe_open(str(file), framework="numpy") as handle:
            names.extend(handle.keys())
    return names


def has_mlm_head(path: Path) -> bool:
    """Whether ``path``'s checkpoint holds a trained masked-LM head.

    The weights decide (transformers initialises a missing head at random, with only a log line);
    a checkpoint without safetensors falls back to the architectures its config.json names.
    """
    import json

    names = weight_names(path)
    if names is not None:
        return any(name.startswith(MLM_HEAD_PREFIXES) for name in names)
    config = path / "config.json"
    if not config.is_file():
        return False
    architectures = json.loads(config.read_text(encoding="utf-8")).get("architectures") or []
    return any(name.endswith(MLM_ARCHITECTURE_SUFFIXES) for name in architectures)


def _other_kind_hint(path: Path, name: str, fits) -> str:
    """`` (…/<name>)``: the directory of the kind the user needs, when the run beside ``path`` (``runs/x/mlm``
    for ``runs/x/model``) or the published repository in it (a Hub snapshot's ``mlm/``) has one."""
    for candidate in (path.parent / name, path / name):
        if candidate != path and candidate.is_dir() and fits(candidate):
            return f" ({candidate})"
    return ""


def check_model_dir(path: str | Path, *, kind: str = SENTENCE_TRANSFORMER, flag: str = "--model") -> Path:
    """``path`` (a directory or an ``ORG/NAME`` Hub id) as a directory holding a model of ``kind``, or a
    :class:`UserError` saying what is wrong and which directory to pass instead.

    Both kinds load without complaint from the other's directory and then compute the wrong thing for
    minutes: a SentenceTransformer built from an MLM checkpoint embeds the Bible with an encoder that
    never saw the contrastive stages, and a masked LM built from a SentenceTransformer's encoder scores
    a randomly initialised head. So the kind is checked here, before anything loads.
    """
    from ..hub import resolve_model_path

    if kind not in (SENTENCE_TRANSFORMER, MASKED_LM):
        raise ValueError(f"kind must be {SENTENCE_TRANSFORMER!r} or {MASKED_LM!r}, got {kind!r}")
    path = resolve_model_path(path, flag=flag)
    if not path.exists():
        raise UserError(f"model directory not found: {path}")
    if not path.is_dir():
        raise UserError(f"{flag} must be a directory holding a saved model, got the file {path}")
    if not any((path / marker).is_file() for marker in MODEL_MARKERS):
        raise UserError(f"{path} does not hold a saved model (no {' or '.join(MODEL_MARKERS)})")
    is_sentence_transformer = (path / "modules.json").is_file()
    if kind == SENTENCE_TRANSFORMER and not is_sentence_transformer and has_mlm_head(path):
        hint = _other_kind_hint(path, "model", lambda sibling: (sibling / "modules.json").is_file())
        raise UserError(
            f"{path} is a masked-LM checkpoint (a run's mlm/), not a sentence-transformers model (no modules.json): "
            f"pass the run's model/ directory{hint}"
        )
    if kind == MASKED_LM and not has_mlm_head(path):
        hint = _other_kind_hint(path, "mlm", has_mlm_head)
        what = "a SentenceTransformer (a run's model/)" if is_sentence_transformer else "a checkpoint"
        raise UserError(
            f"{path} is {what} without a trained masked-LM head, so the probe would score a random one: "
            f"pass the run's mlm/ directory{hint}"
        )
    return path.resolve()


def model_display_name(path: Path) -> str:
    """How reports and hits name a model: its directory, or ``run/model`` for a run's ``model/``."""
    return path.name if path.name != "model" else f"{path.parent.name}/model"


class DenseEncoder:
    """A SentenceTransformer from a local directory, with the fingerprint an index records.

    ``store_embeddings``: :meth:`encode` keeps every embedding in the machine-wide store of this model
    (:mod:`.embedding_store`) and takes the texts it has embedded before from there, for a model that
    every run embeds the same texts with (the distillation teacher, the evaluation's peer), not for the
    model a run trains.
    """

    def __init__(
        self, path: str | Path, *, name: str | None = None, device: str = "cpu", batch_size: int = 64,
        store_embeddings: bool = False,
    ) -> None:
        self.path = check_model_dir(path)
        self.name = name or model_display_name(self.path)
        self.batch_size = batch_size
        self.store_embeddings = store_embeddings
        sentence_transformers = require("sentence_transformers", "retrieval")
        try:
            self.model = sentence_transformers.SentenceTransformer(
                str(self.path), device=device, trust_remote_code=True, local_files_only=True
            )
        except Exception as error:  # noqa: BLE001 (a truncated or garbled model: name it, not a traceback)
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise UserError(f"could not load a SentenceTransformer from {self.path} ({type(error).__name__}: "
                            f"{first_line}); is the directory complete? retrain or copy it again") from None
        self.model.eval()

    @functools.cached_property
    def fingerprint(self) -> str:
        return model_fingerprint(self.path)

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    def knows_any_word(self, text: str) -> bool:
        """Whether the model's tokenizer has at least one of ``text``'s tokens (not all [UNK]): a query
        of unknown tokens still gets an embedding, and confident-looking but meaningless neighbours."""
        tokenizer = self.model.tokenizer
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        return any(token != tokenizer.unk_token_id for token in ids)

    @functools.cached_property
    def fusion_weights(self) -> FusionWeights | None:
        """The hybrid-search weights chosen for this model by the pipeline, if it has them."""
        return FusionWeights.load(self.path)

    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        """Unit-length float32 embeddings, one row per text (so dot product = cosine)."""
        if not self.store_embeddings:
            return self._encode(texts, show_progress=show_progress)
        from .embedding_store import store_directory, stored_embeddings

        return stored_embeddings(
            texts, store_directory(self.fingerprint), lambda missing: self._encode(missing, show_progress=show_progress)
        )

    def _encode(self, texts: Sequence[str], *, show_progress: bool) -> np.ndarray:
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
            return self._encode(queries, show_progress=False)  # never the store: a search reads no shards
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
        rebuild = "rebuild the index with `versebert index build`"
        try:
            tensors = load_file(str(path))
            index = cls(tensors["verse_ids"], tensors["embeddings"])
        except Exception as error:  # noqa: BLE001 (a truncated or garbled file: say which and what to do)
            raise UserError(f"dense embeddings {path} cannot be read ({type(error).__name__}): {rebuild}") from None
        index.check_unit_rows(path, rebuild)
        return index

    def check_unit_rows(self, path, remedy: str) -> None:
        """Every row must be a finite unit vector, as the encoder normalizes them: NaN, zero or garbled
        rows (bytes changed inside a file of the right size) would silently rank wrong or vanish."""
        norms = np.linalg.norm(self.embeddings, axis=1)
        bad = ~np.isfinite(norms) | (np.abs(norms - 1) > 1e-3)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise UserError(
                f"dense embeddings {path}: {int(bad.sum())} of {len(self)} rows are not finite unit vectors "
                f"(first: verse {int(self.verse_ids[first])}, norm {norms[first]:.4g}); {remedy}"
            )
