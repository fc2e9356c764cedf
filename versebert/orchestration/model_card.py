"""Render a run's documents from its facts: the Hub model card, the ``mlm/`` card and the run's README.

The templates hold the prose (``model_card.md`` at the repository root, ``templates/mlm_card.md``,
``templates/run_readme.md``); this module computes what depends on the run: the YAML metadata (built
with ``huggingface_hub.ModelCardData`` and ``EvalResult``, so field names and ``model-index`` follow
the Hub's schema instead of hand-written YAML), the architecture table, the training summary and the
evaluation table. Rendering fails on a missing fact rather than publishing a placeholder.

The facts are kept beside the run (:data:`FACTS_FILE`) so ``versebert push --repo-id X`` re-renders
every card for the repository it pushes to, instead of publishing one that names another.
"""

from __future__ import annotations

import dataclasses
import json
import string
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

FACTS_FILE = "model-card-facts.json"
"""The card's facts as JSON at the run's root, written with the card and read back by ``versebert push``."""
METRIC_NAMES = {"ndcg@10": "NDCG@10", "precision@10": "P@10", "recall@100": "Recall@100", "mrr@10": "MRR@10"}
ARCHITECTURE_FIELDS = (
    "num_hidden_layers",
    "hidden_size",
    "num_attention_heads",
    "intermediate_size",
    "vocab_size",
    "max_position_embeddings",
)


@dataclass(frozen=True)
class EvaluationRow:
    """One retrieval system's scores; ``ours`` rows go into ``model-index``."""

    system: str
    metrics: dict[str, float]
    ours: bool = False


@dataclass
class ModelCardFacts:
    model_name: str
    repo_id: str
    model_config: dict
    translations: list[str]
    corpus_translation: str
    corpus_size: int
    dev_topics: int
    evaluation: list[EvaluationRow]
    training: dict[str, dict[str, object]] = field(default_factory=dict)
    base_model: str | None = None  # the Hub id of the warm start's checkpoint
    warm_started_from: str | None = None  # its name (the Hub id, or a local directory's name)
    warm_start_layers: list[int] | None = None  # the checkpoint's layers taken, when not all of its first ones
    # every training-time teacher (distillation, stage B's soft targets)
    distilled_from: list[str] = field(default_factory=list)
    license: str = "apache-2.0"
    run_dir: str | None = None  # the run these facts describe; writing the card then documents the run too

    def __post_init__(self):
        if not self.evaluation:
            raise ValueError("ModelCardFacts.evaluation is empty: run the evaluation before rendering the card.")
        for row in self.evaluation:
            unknown = set(row.metrics) - set(METRIC_NAMES)
            if unknown:
                raise ValueError(f"ModelCardFacts.evaluation[{row.system!r}] has unknown metrics {sorted(unknown)}.")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> ModelCardFacts:
        """The facts :meth:`to_json` wrote, validated again (a hand-edited file fails here, not on the Hub)."""
        values = json.loads(text)
        teachers = values.get("distilled_from") or []
        return cls(**values | {"evaluation": [EvaluationRow(**row) for row in values["evaluation"]],
                               # runs before 2026-12-05 recorded one teacher, or null
                               "distilled_from": [teachers] if isinstance(teachers, str) else teachers})


def default_template(name: str = "model_card.md") -> str:
    return resources.files("versebert.orchestration").joinpath(f"templates/{name}").read_text(encoding="utf-8")


# The sentence-similarity widget on the model page: a searcher's phrase and WEB verses to rank.
WIDGET_QUERY = "give you a new heart"
WIDGET_VERSES = (
    "I will also give you a new heart, and I will put a new spirit within you.",
    "Yahweh is my shepherd; I shall lack nothing.",
    "Create in me a clean heart, O God. Renew a right spirit within me.",
)
TAGS = ("sentence-transformers", "feature-extraction", "sentence-similarity", "custom_code", "bible", "scripture",
        "semantic-search")
# Where the evaluation topics come from. The Hub has no dataset of them, so the card names none in
# ``datasets:`` (a reader could not find it) and links the source in its text instead.
EVAL_DATASET_TYPE = "openbible-topic-votes"
EVAL_DATASET_NAME = "OpenBible.info topic votes (dev topics)"


def eval_results(facts: ModelCardFacts) -> list:
    """``model-index`` entries: one per metric of each of our systems (baselines stay in the text)."""
    from huggingface_hub import EvalResult

    return [
        EvalResult(
            task_type="text-retrieval",
            task_name=f"Verse retrieval ({row.system})",
            dataset_type=EVAL_DATASET_TYPE,
            dataset_name=EVAL_DATASET_NAME,
            dataset_split="dev",
            metric_type=key.replace("@", "_at_"),
            metric_name=METRIC_NAMES[key],
            metric_value=round(value, 4),
        )
        for row in facts.evaluation
        if row.ours
        for key, value in row.metrics.items()
    ]


def card_data(facts: ModelCardFacts):
    """The Hub's YAML header as ``ModelCardData``: what the Hub filters on, the widget, and ``model-index``."""
    from huggingface_hub import ModelCardData

    return ModelCardData(
        model_name=facts.model_name,
        library_name="sentence-transformers",
        pipeline_tag="sentence-similarity",
        license=facts.license,
        language=["en"],
        tags=list(TAGS),
        base_model=facts.base_model,
        eval_results=eval_results(facts) or None,
        widget=[{"source_sentence": WIDGET_QUERY, "sentences": list(WIDGET_VERSES)}],
    )


def mlm_card_data(facts: ModelCardFacts):
    """The ``mlm/`` card's header: a fill-mask checkpoint with custom code."""
    from huggingface_hub import ModelCardData

    return ModelCardData(
        library_name="transformers",
        pipeline_tag="fill-mask",
        license=facts.license,
        language=["en"],
        tags=["fill-mask", "custom_code", "bible", "scripture"],
        base_model=facts.base_model,
    )


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def evaluation_table(rows: list[EvaluationRow]) -> str:
    keys = [key for key in METRIC_NAMES if any(key in row.metrics for row in rows)]
    body = [
        [f"**{row.system}**" if row.ours else row.system]
        + [f"{row.metrics[key]:.4f}" if key in row.metrics else "–" for key in keys]
        for row in rows
    ]
    return markdown_table(["system"] + [METRIC_NAMES[key] for key in keys], body)


def architecture_table(config: dict) -> str:
    return markdown_table(["setting", "value"], [[name, str(config[name])] for name in ARCHITECTURE_FIELDS])


def training_summary(training: dict[str, dict[str, object]]) -> str:
    if not training:
        return "No training record was provided."
    sections = []
    for stage, settings in training.items():
        items = "\n".join(f"- {key}: {value}" for key, value in settings.items())
        sections.append(f"**{stage}**\n\n{items}")
    return "\n\n".join(sections)


def origin(facts: ModelCardFacts) -> str:
    """How the weights began, for the card's first sentence (and the teacher it was distilled from)."""
    if facts.warm_started_from is None:
        start = "trained from scratch"
    else:
        name = facts.warm_started_from
        link = f"[{name}](https://huggingface.co/{name})" if facts.base_model == name else f"`{name}`"
        taken = f"layers {_listed(facts.warm_start_layers)} of " if facts.warm_start_layers else ""
        start = f"warm-started from {taken}{link} (its weights mapped into VerseBERT's pre-LN blocks), then trained"
    if not facts.distilled_from:
        return start
    teachers = _listed([f"`{teacher}`" for teacher in facts.distilled_from])
    only = ("a training-time teacher only: it is" if len(facts.distilled_from) == 1
            else "training-time teachers only: they are")
    return f"{start}, distilled from {teachers} ({only} not needed to use this model), and trained"


def _listed(items: list) -> str:
    """``[1, 3, 5]`` as "1, 3 and 5"."""
    words = [str(item) for item in items]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _common_values(facts: ModelCardFacts) -> dict[str, object]:
    return {
        "model_name": facts.model_name,
        "origin": origin(facts),
        "repo_id": facts.repo_id,
        "hidden_size": facts.model_config["hidden_size"],
        "architecture_table": architecture_table(facts.model_config),
        "translations": ", ".join(facts.translations),
    }


def render_model_card(facts: ModelCardFacts, template: str | None = None) -> str:
    """The repository root's README: the SentenceTransformer's card."""
    template = default_template() if template is None else template
    values = _common_values(facts) | {
        "metadata": card_data(facts).to_yaml(),
        "widget_query": WIDGET_QUERY,
        "widget_verse": WIDGET_VERSES[0],
        "training_summary": training_summary(facts.training),
        "evaluation_table": evaluation_table(facts.evaluation),
        "dev_topics": facts.dev_topics,
        "corpus_translation": facts.corpus_translation,
        "corpus_size": f"{facts.corpus_size:,}",
    }
    return string.Template(template).substitute(values)


def render_mlm_card(facts: ModelCardFacts) -> str:
    """The ``mlm/`` folder's README: what the pre-training checkpoint is and how to fill masks with it."""
    values = _common_values(facts) | {"metadata": mlm_card_data(facts).to_yaml()}
    return string.Template(default_template("mlm_card.md")).substitute(values)


def render_run_readme(facts: ModelCardFacts) -> str:
    """The run directory's README: what each folder holds, and how to search, serve and push the run."""
    if facts.run_dir is None:
        raise ValueError("ModelCardFacts.run_dir is not set: the run README describes a run directory.")
    values = _common_values(facts) | {"run_dir": facts.run_dir, "corpus_translation": facts.corpus_translation}
    return string.Template(default_template("run_readme.md")).substitute(values)


def write_model_card(facts: ModelCardFacts, path: str | Path, template: str | None = None) -> Path:
    """Write the model card to ``path``; for facts collected from a run, document the whole run too.

    The pipeline's model-card stage calls only this, so the run's other documents are written here:
    the facts (for ``versebert push`` to re-render), ``mlm/README.md`` and the run's ``README.md``.
    """
    path = Path(path)
    path.write_text(render_model_card(facts, template), encoding="utf-8")
    if facts.run_dir is not None:
        from .run_layout import RunLayout

        layout = RunLayout(facts.run_dir)
        (layout.root / FACTS_FILE).write_text(facts.to_json() + "\n", encoding="utf-8")
        if layout.mlm.is_dir():
            (layout.mlm / "README.md").write_text(render_mlm_card(facts), encoding="utf-8")
        (layout.root / "README.md").write_text(render_run_readme(facts), encoding="utf-8")
    return path


def load_facts(run_dir: str | Path) -> ModelCardFacts:
    """The facts the run's model-card stage recorded; a run without them gets a message saying what to run."""
    from ..errors import UserError

    path = Path(run_dir) / FACTS_FILE
    if not path.is_file():
        raise UserError(
            f"{path} is missing (the model-card stage writes it): delete {Path(run_dir) / 'model' / 'README.md'} "
            f"and rerun `versebert train --output {run_dir}` with the same settings (only that stage runs)"
        )
    return ModelCardFacts.from_json(path.read_text(encoding="utf-8"))
