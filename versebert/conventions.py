"""Names the whole application agrees on, each defined once.

The default translation, where a training stage keeps its records beside its model, and the keys
its metrics are stored under: the training stages write them, the pipeline, the model card and the
scripts read them. Nothing here imports anything heavy, so the command line can use it freely.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_TRANSLATION = "WEB"
"""The translation searched and shown unless told otherwise: the World English Bible (modern, public domain)."""
WHOLE_BIBLES = ("KJV", "WEB", "ASV", "YLT", "DAR", "BBE", "NHEB", "WBS")
"""The installed translations with every book of the Protestant canon: the MLM corpus and the verse documents."""

WORK_DIR_SUFFIX = "-run"
"""A stage's model in ``X`` keeps its checkpoints, logs, curves and metrics in ``X-run``."""
METRICS_FILE = "metrics.json"
"""A contrastive stage's record in its work directory: before/after metrics, settings, the model digest."""
METRICS_BEFORE_FILE = "metrics-before.json"

DEV_EVALUATOR = "dev"
PROBE_EVALUATOR = "probe"
PROBE_ACCURACY = f"{PROBE_EVALUATOR}_accuracy"


def dev_metric(name: str) -> str:
    """The key of a dev-topic retrieval metric (``ndcg@10`` → ``dev_cosine_ndcg@10``), as
    sentence-transformers' evaluator named ``dev`` reports it for cosine similarity."""
    return f"{DEV_EVALUATOR}_cosine_{name}"


def work_dir_for(model_dir: str | Path) -> Path:
    """Where the stage that produced ``model_dir`` keeps its records (``model`` → ``model-run``)."""
    model_dir = Path(model_dir)
    return model_dir.with_name(model_dir.name + WORK_DIR_SUFFIX)
