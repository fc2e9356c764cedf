"""Fine-tune an encoder into a search model with one contrastive stage.

Usage::

    # stage A: the same verse in two translations, from the MLM checkpoint
    python train/train_contrastive.py --stage translation_pairs --config tiny \\
        --model runs/tiny/mlm --output runs/tiny/stage-a-translation-pairs \\
        --dev-topics ../shared/data/openbible/topic-votes.dev.tsv
    # stage B: OpenBible topics and their verses, from the stage-A model
    accelerate launch train/train_contrastive.py --stage query_pairs --config tiny \\
        --model runs/tiny/stage-a-translation-pairs --output runs/tiny/model \\
        --train-topics ../shared/data/openbible/topic-votes.train.tsv \\
        --dev-topics ../shared/data/openbible/topic-votes.dev.tsv
    # continue an interrupted run from its newest checkpoint, or discard it and start over
    python train/train_contrastive.py ... --resume
    python train/train_contrastive.py ... --restart

``--model`` is an MLM checkpoint or a SentenceTransformer directory (all-MiniLM-L6-v2 works too).
``--output`` receives the SentenceTransformer; checkpoints, logs, curves and ``metrics.json`` go to
``--work-dir`` (default: OUTPUT-run). ``--set translation_pairs.training.max_steps=100`` overrides any
preset setting. Several processes on a CPU machine::

    ACCELERATE_USE_CPU=true accelerate launch --multi_gpu --num_processes 2 train/train_contrastive.py ...

(without ``--multi_gpu`` accelerate starts a single process when it finds no GPU).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from versebert.conventions import PROBE_ACCURACY, dev_metric
from versebert.errors import UserError
from versebert.training.config import (
    STAGE_CONFIGS,
    add_mixed_precision_argument,
    load_preset,
    precision_overrides,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", required=True, choices=list(STAGE_CONFIGS))
    parser.add_argument("--config", required=True, help="preset name (tiny, mini, small, base) or YAML file")
    parser.add_argument("--model", required=True, type=Path, help="MLM checkpoint or SentenceTransformer directory")
    parser.add_argument("--output", required=True, type=Path, help="where the SentenceTransformer is saved")
    parser.add_argument("--work-dir", type=Path, help="checkpoints, logs and metrics (default: OUTPUT-run)")
    parser.add_argument("--dev-topics", required=True, type=Path, help="OpenBible dev topic-votes TSV")
    parser.add_argument("--train-topics", type=Path, help="OpenBible train topic-votes TSV (query_pairs only)")
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--resume", nargs="?", const=True, default=False, metavar="CHECKPOINT",
                       help="continue from the newest checkpoint in WORK_DIR (or from CHECKPOINT)")
    start.add_argument("--restart", action="store_true",
                       help="discard the checkpoints, logs and metrics in WORK_DIR and start over")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    add_mixed_precision_argument(parser)
    args = parser.parse_args(argv)

    from versebert.training.contrastive import load_stage_data, stage_config, train_stage

    try:
        preset = load_preset(args.config, [*args.overrides, *precision_overrides(args.mixed_precision)])
        config = stage_config(args.stage, preset)
        data = load_stage_data(config, dev_topics=args.dev_topics, train_topics=args.train_topics)
        result = train_stage(
            config, data, model=args.model, output=args.output, work_dir=args.work_dir, resume=args.resume,
            restart=args.restart,
        )
    except UserError as error:
        print(f"train_contrastive: error: {error}", file=sys.stderr)
        return 2
    if result.after:  # the main process
        for name in (PROBE_ACCURACY, dev_metric("ndcg@10")):
            print(f"{name}: {result.before[name]:.4f} before, {result.after[name]:.4f} after")
        print(f"saved the SentenceTransformer to {result.model_dir} (run records in {result.work_dir})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
