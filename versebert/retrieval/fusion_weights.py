"""Fusion weights: how much say each ranking (signal) gets in weighted Reciprocal Rank Fusion.

Equal-weight RRF assumes every ranking is about as good. A weak dense model then drags the fusion
below BM25 alone (the tiny preset: hybrid NDCG@10 0.072 against BM25's 0.095 on the dev topics),
while the topic memory deserves more say than the verse prior. So the weights are chosen on judged
topics by a search over them (:mod:`versebert.evaluation.fusion_tuning`) and saved beside what they
were chosen for: a model directory (hybrid search with that model), an index directory, or the
packaged knowledge file (the default search without a model). The search includes 0 for every
signal, so on the topics it ran on the fusion is never worse than any subset of its signals.

The file changes no embedding, so it is left out of a model's fingerprint: writing it does not
invalidate an index built before.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..errors import UserError

FUSION_FILE = "versebert_fusion.json"
SIGNALS = ("bm25", "dense", "prior", "memory_bm25", "memory_dense")


@dataclass(frozen=True)
class FusionWeights:
    """RRF weight of each signal, and how they were chosen.

    ``chosen_on`` says which topics the search ran on; ``sweep`` maps each dense weight tried (the
    others at their chosen values) to the NDCG@10 it reached there; ``tuned_ndcg`` and
    ``equal_ndcg`` are NDCG@10 there with these weights and with all weights 1.
    """

    bm25_weight: float = 1.0
    dense_weight: float = 1.0
    prior_weight: float = 1.0
    memory_bm25_weight: float = 1.0
    memory_dense_weight: float = 1.0
    chosen_on: str = ""
    sweep: dict[float, float] = field(default_factory=dict)
    tuned_ndcg: float | None = None
    equal_ndcg: float | None = None

    def __post_init__(self) -> None:
        for signal in SIGNALS:
            value = getattr(self, f"{signal}_weight")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{signal}_weight must be a finite number >= 0, got {value!r}")
        if all(getattr(self, f"{signal}_weight") == 0 for signal in SIGNALS):
            raise ValueError("the weights cannot all be 0 (bm25_weight and dense_weight cannot both be 0)")

    @classmethod
    def from_mapping(cls, weights: dict[str, float], **info) -> FusionWeights:
        return cls(**{f"{signal}_weight": float(weight) for signal, weight in weights.items()}, **info)

    def weight(self, signal: str) -> float:
        return float(getattr(self, f"{signal}_weight"))

    def as_mapping(self) -> dict[str, float]:
        return {signal: self.weight(signal) for signal in SIGNALS}

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / FUSION_FILE
        data = asdict(self) | {"sweep": [[weight, ndcg] for weight, ndcg in self.sweep.items()]}
        path.write_text(json.dumps(data, indent=2) + "\n")
        return path

    @classmethod
    def load(cls, directory: str | Path) -> FusionWeights | None:
        """The weights saved in ``directory``, or ``None`` if it has none (a model trained elsewhere).

        Files from before the prior and memory signals existed load with those weights at 1."""
        path = Path(directory) / FUSION_FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
            sweep = {float(weight): float(ndcg) for weight, ndcg in data.pop("sweep", [])}
            known = {f.name for f in fields(cls)}
            unknown = set(data) - known
            if unknown:
                raise TypeError(f"unknown field(s) {', '.join(sorted(unknown))}")
            return cls(**data, sweep=sweep)
        except (json.JSONDecodeError, TypeError, ValueError, AttributeError) as error:
            raise UserError(
                f"{path} is not a valid fusion-weights file ({error}); delete it to use equal weights"
            ) from None


__all__ = ["FUSION_FILE", "SIGNALS", "FusionWeights"]
