"""``versebert train --preset tiny --output runs/tiny``: the whole pipeline, resumable.

data check → tokenizer + MLM pre-training → stage A (translation pairs) → stage B (query pairs) →
evaluation → model card. Stages already done with the same settings are skipped; a stage
interrupted mid-training resumes from its newest intact checkpoint if that was saved with the same
settings, and ``--restart`` starts such a stage over. For several processes or GPUs:
``accelerate launch -m versebert.cli train ...``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..orchestration.pipeline import DEFAULT_TOPICS_DIR
from ..training.config import add_mixed_precision_argument, precision_overrides


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train, evaluate and document VerseBERT end to end (resumable)",
        description="Train, evaluate and document VerseBERT end to end; stages already done are skipped.",
    )
    parser.add_argument("--preset", default="tiny", help="tiny, mini, small, base, or a preset YAML path")
    parser.add_argument("--output", type=Path, required=True, help="run directory (created; reused to resume)")
    parser.add_argument(
        "--train-topics",
        type=Path,
        default=DEFAULT_TOPICS_DIR / "topic-votes.train.tsv",
        help="OpenBible.info topic votes for training (original TSV format)",
    )
    parser.add_argument(
        "--dev-topics",
        type=Path,
        default=DEFAULT_TOPICS_DIR / "topic-votes.dev.tsv",
        help="OpenBible.info topic votes for model selection and evaluation",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a preset setting, e.g. --set mlm.epochs=2 (repeatable)",
    )
    parser.add_argument(
        "--init-from",
        help="warm-start the MLM from a BERT checkpoint directory or all-MiniLM-L6-v2 (its offline package), "
        "with its tokenizer; use a preset of its shape (small for all-MiniLM-L6-v2)",
    )
    parser.add_argument(
        "--peer",
        action=argparse.BooleanOptionalAction,
        help="evaluate all-MiniLM-L6-v2 beside our model (default: the preset's evaluation.include_peer; "
        "off for tiny, whose time budget cannot hold the peer's first embedding of the Bible)",
    )
    add_mixed_precision_argument(parser)
    parser.add_argument("--repo-id", help="Hub repository id written into the model card's usage snippets")
    parser.add_argument(
        "--restart",
        action="store_true",
        help="discard the partial work (checkpoints, logs) of the stages still to run and start them over, "
        "instead of resuming them; finished stages are kept",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..atomic import make_directory
    from ..orchestration.pipeline import Pipeline, PipelineConfig

    config = PipelineConfig(
        preset=args.preset,
        output=args.output,
        train_topics=args.train_topics,
        dev_topics=args.dev_topics,
        overrides=(*args.overrides, *precision_overrides(args.mixed_precision)),
        init_from=args.init_from,
        include_peer=args.peer,
        repo_id=args.repo_id,
        restart=args.restart,
    )
    pipeline = Pipeline(config)  # the preset is validated here, before anything is written
    make_directory(args.output, "--output")  # a file or a read-only directory fails now, not after the data check
    report = pipeline.run()
    timings = ", ".join(f"{name} {seconds:.0f}s" for name, seconds in report.seconds.items())
    print(f"done: {args.output} (ran: {timings or 'nothing'}; skipped: {', '.join(report.skipped) or 'nothing'})")
    return 0
