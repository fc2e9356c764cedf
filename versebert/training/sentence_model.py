"""The search model: an encoder checkpoint as a SentenceTransformer, and saving it so others can load it.

A VerseBERT MLM checkpoint becomes ``Transformer → mean Pooling → Normalize``: mean pooling over real
tokens (the attention mask keeps padding out), unit vectors, cosine similarity (the dot product of
unit vectors, which is what an index stores). A directory that already is a SentenceTransformer (a
stage-A output, or all-MiniLM-L6-v2 for the sanity check) is loaded as it is, gaining a
``Normalize`` if it lacks one.

Saved directories carry our remote code and its full ``auto_map`` (the encoder's ``save_pretrained``
copies them), so they load on machines without this package. sentence-transformers' generated card
shows ``SentenceTransformer("id")`` without ``trust_remote_code=True``, which fails there:
:func:`save_sentence_model` fixes the snippet and refuses to save a card it could not fix.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from ..errors import UserError

logger = logging.getLogger(__name__)

_LOAD_SNIPPET = re.compile(r"""SentenceTransformer\((["'][^"'\n]*["'])\)""")


def build_sentence_model(path: str | Path, *, max_seq_length: int | None = None, device: str | None = None):
    """Load ``path`` (an MLM checkpoint or a SentenceTransformer directory) as a normalized mean-pooling
    SentenceTransformer with cosine similarity."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling

    path = Path(path).expanduser()
    if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
        raise UserError(f"{path} holds no model (no config.json or modules.json); pass an MLM checkpoint directory")
    model = SentenceTransformer(str(path), trust_remote_code=True, device=device)
    pooling = next((module for module in model if isinstance(module, Pooling)), None)
    if pooling is None or pooling.pooling_mode != "mean":
        mode = pooling.pooling_mode if pooling is not None else "none"
        logger.warning("%s pools with %r, not mean pooling; keeping its own pooling", path, mode)
    if not any(isinstance(module, Normalize) for module in model):
        model.append(Normalize())
    model.similarity_fn_name = "cosine"
    if max_seq_length is not None:
        encoder_limit = getattr(model[0].model.config, "max_position_embeddings", None)
        if encoder_limit is not None and max_seq_length > encoder_limit:
            raise UserError(
                f"max_seq_length={max_seq_length} exceeds the encoder's max_position_embeddings={encoder_limit}"
            )
        model.max_seq_length = max_seq_length
    return model


def with_trust_remote_code(card: str) -> str:
    """Add ``trust_remote_code=True`` to every ``SentenceTransformer("id")`` call in a card's code."""
    fixed, count = _LOAD_SNIPPET.subn(r"SentenceTransformer(\1, trust_remote_code=True)", card)
    if count == 0 and "trust_remote_code=True" not in card:
        raise RuntimeError("the model card has no SentenceTransformer(...) usage snippet to fix")
    return fixed


def save_sentence_model(model, output_dir: str | Path) -> Path:
    """Save ``model`` with a card whose usage snippet loads it with ``trust_remote_code=True``."""
    output = Path(output_dir)
    model.save(str(output))
    readme = output / "README.md"
    if not readme.is_file():
        raise RuntimeError(f"sentence-transformers wrote no model card to {readme} (see the log above)")
    readme.write_text(with_trust_remote_code(readme.read_text(encoding="utf-8")), encoding="utf-8")
    return output
