"""Render ``model_card.md`` (the repository's template) into a Hub README from a run's facts.

The template holds the prose; this module computes what depends on the run: the YAML metadata
(including ``model-index`` with the evaluation metrics), the architecture table, the training summary
and the evaluation table. Rendering fails on a missing fact rather than publishing a placeholder.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

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
    license: str = "apache-2.0"

    def __post_init__(self):
        if not self.evaluation:
            raise ValueError("ModelCardFacts.evaluation is empty: run the evaluation before rendering the card.")
        for row in self.evaluation:
            unknown = set(row.metrics) - set(METRIC_NAMES)
            if unknown:
                raise ValueError(f"ModelCardFacts.evaluation[{row.system!r}] has unknown metrics {sorted(unknown)}.")


def default_template() -> str:
    return resources.files("versebert.orchestration").joinpath("templates/model_card.md").read_text(encoding="utf-8")


def card_metadata(facts: ModelCardFacts) -> dict:
    """The Hub's YAML header: what the Hub filters on, and ``model-index`` for the leaderboard widgets."""
    results = [
        {
            "task": {"type": "text-retrieval", "name": f"Verse retrieval ({row.system})"},
            "dataset": {
                "type": "openbible-topic-votes",
                "name": "OpenBible.info topic votes (dev topics)",
                "split": "dev",
            },
            "metrics": [
                {"type": key.replace("@", "_at_"), "name": METRIC_NAMES[key], "value": round(value, 4)}
                for key, value in row.metrics.items()
            ],
        }
        for row in facts.evaluation
        if row.ours
    ]
    metadata = {
        "library_name": "sentence-transformers",
        "pipeline_tag": "sentence-similarity",
        "license": facts.license,
        "language": ["en"],
        "tags": [
            "sentence-transformers",
            "feature-extraction",
            "sentence-similarity",
            "custom_code",
            "bible",
            "scripture",
            "semantic-search",
        ],
        "datasets": ["openbible-topic-votes"],
        "model-index": [{"name": facts.model_name, "results": results}],
    }
    if facts.base_model:
        metadata["base_model"] = facts.base_model
    return metadata


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
    """How the weights began, for the card's first sentence."""
    if facts.warm_started_from is None:
        return "trained from scratch"
    name = facts.warm_started_from
    link = f"[{name}](https://huggingface.co/{name})" if facts.base_model == name else f"`{name}`"
    return f"warm-started from {link} (its weights mapped into VerseBERT's pre-LN blocks), then trained"


def render_model_card(facts: ModelCardFacts, template: str | None = None) -> str:
    template = default_template() if template is None else template
    values = {
        "metadata": yaml.safe_dump(card_metadata(facts), sort_keys=False, allow_unicode=True).strip(),
        "model_name": facts.model_name,
        "origin": origin(facts),
        "repo_id": facts.repo_id,
        "hidden_size": facts.model_config["hidden_size"],
        "architecture_table": architecture_table(facts.model_config),
        "training_summary": training_summary(facts.training),
        "evaluation_table": evaluation_table(facts.evaluation),
        "dev_topics": facts.dev_topics,
        "corpus_translation": facts.corpus_translation,
        "corpus_size": f"{facts.corpus_size:,}",
        "translations": ", ".join(facts.translations),
    }
    return string.Template(template).substitute(values)


def write_model_card(facts: ModelCardFacts, path: str | Path, template: str | None = None) -> Path:
    path = Path(path)
    path.write_text(render_model_card(facts, template), encoding="utf-8")
    return path
