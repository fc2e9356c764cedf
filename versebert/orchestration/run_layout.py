"""Where a training run keeps each stage's output, in one place.

The pipeline, ``versebert push`` and ``versebert search --model`` all find files through this layout,
so a run directory is self-describing: ``versebert push --repo-id org/name runs/tiny`` needs nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunLayout:
    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    @property
    def data_report(self) -> Path:
        """JSON report of the corpus validation (what was dropped and why)."""
        return self.root / "data-check.json"

    @property
    def pipeline_log(self) -> Path:
        """Full tracebacks of failed stages (the terminal gets one line naming the stage and this file)."""
        return self.root / "pipeline.log"

    @property
    def tokenizer(self) -> Path:
        return self.root / "tokenizer"

    @property
    def mlm_run(self) -> Path:
        """MLM working directory: resumable accelerate states, logs and curves."""
        return self.root / "mlm-run"

    @property
    def mlm(self) -> Path:
        """Final MLM checkpoint (model + tokenizer + remote code), published as the ``mlm`` subfolder."""
        return self.root / "mlm"

    @property
    def tuned_teacher(self) -> Path:
        """The distillation teacher after stage B on the train topics (``distillation.teacher_tuning_epochs``)."""
        return self.root / "stage-0-tuned-teacher"

    @property
    def distilled(self) -> Path:
        """SentenceTransformer after the optional distillation stage (the teacher's embeddings)."""
        return self.root / "stage-0-distilled"

    @property
    def translation_pairs(self) -> Path:
        """SentenceTransformer after stage A (same verse, two translations)."""
        return self.root / "stage-a-translation-pairs"

    @property
    def model(self) -> Path:
        """The final SentenceTransformer (after stage B), with README.md rendered from model_card.md."""
        return self.root / "model"

    @property
    def index(self) -> Path:
        """BM25 + dense index of the final model over the display translation (``search --index``)."""
        return self.root / "index"

    @property
    def evaluation(self) -> Path:
        return self.root / "evaluation"

    @property
    def retrieval_report(self) -> Path:
        """The evaluation as JSON; ``retrieval.md`` and ``retrieval.png`` sit beside it."""
        return self.evaluation / "retrieval.json"

    @property
    def model_card(self) -> Path:
        return self.model / "README.md"
