"""A model's fusion weights: how much say its dense ranking gets against BM25 in hybrid search.

Equal-weight RRF assumes both rankings are about as good. A weak dense model then drags the fusion
below BM25 alone (the tiny preset: hybrid NDCG@10 0.072 against BM25's 0.095 on the dev topics), and
a strong one deserves more than half the say. So the pipeline measures hybrid NDCG@10 for a grid of
dense weights (BM25's weight fixed at 1; see :mod:`versebert.evaluation.fusion_tuning`) and
writes the best into the model directory, where :class:`~.searcher.VerseSearcher` finds it. The
grid holds 0 (BM25 alone), so on the topics it was chosen on the fusion is never worse than BM25.

The file changes no embedding, so it is left out of the model's fingerprint: writing it does not
invalidate an index built before.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import UserError

FUSION_FILE = "versebert_fusion.json"


@dataclass(frozen=True)
class FusionWeights:
    """RRF weights of the BM25 and dense rankings, and how they were chosen.

    ``chosen_on`` says which topics the sweep ran on; ``sweep`` maps each dense weight tried to the
    hybrid NDCG@10 it reached there.
    """

    bm25_weight: float = 1.0
    dense_weight: float = 1.0
    chosen_on: str = ""
    sweep: dict[float, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("bm25_weight", "dense_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.bm25_weight == 0 and self.dense_weight == 0:
            raise ValueError("bm25_weight and dense_weight cannot both be 0")

    def save(self, model_dir: str | Path) -> Path:
        path = Path(model_dir) / FUSION_FILE
        data = asdict(self) | {"sweep": [[weight, ndcg] for weight, ndcg in self.sweep.items()]}
        path.write_text(json.dumps(data, indent=2) + "\n")
        return path

    @classmethod
    def load(cls, model_dir: str | Path) -> FusionWeights | None:
        """The weights saved in ``model_dir``, or ``None`` if it has none (a model trained elsewhere)."""
        path = Path(model_dir) / FUSION_FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
            sweep = {float(weight): float(ndcg) for weight, ndcg in data.pop("sweep", [])}
            return cls(**data, sweep=sweep)
        except (json.JSONDecodeError, TypeError, ValueError) as error:
            raise UserError(
                f"{path} is not a valid fusion-weights file ({error}); delete it to use equal weights"
            ) from None


__all__ = ["FUSION_FILE", "FusionWeights"]
