"""Pre-train VerseBERT with masked language modeling.

Usage::

    accelerate launch train/pretrain_mlm.py --config tiny --output-dir runs/tiny/mlm-run
    accelerate launch train/pretrain_mlm.py --config tiny --output-dir runs/tiny/mlm-run --resume
    accelerate launch train/pretrain_mlm.py --config tiny --output-dir runs/tiny/mlm-run --restart
    accelerate launch train/pretrain_mlm.py --config small --output-dir runs/minilm --init-from all-MiniLM-L6-v2
    ACCELERATE_USE_CPU=true accelerate launch --multi_gpu --num_processes 2 train/pretrain_mlm.py --config tiny ...

On CPUs, accelerate's launcher starts several processes only with ``--multi_gpu``, and they join
one group only with ``ACCELERATE_USE_CPU=true`` (the run refuses to start otherwise). Plain
``python train/pretrain_mlm.py`` works too (one process). ``--set mlm.max_steps=200`` overrides
any preset setting. Without ``--tokenizer`` a WordPiece tokenizer is trained on the preset's
translations; the corpus is built by the data layer. The trained model lands in ``--model-dir``
(default: ``<output-dir>/model``). ``--resume`` refuses a checkpoint saved with other settings
(only the logging, evaluation and saving frequencies, ``keep_last`` and ``plot_curves`` may change);
``--restart`` starts such a run over.
"""

from __future__ import annotations

import argparse
import os
import sys

# Before torch loads OpenMP: idle worker threads sleep instead of spinning. On a shared CPU a spinning
# thread takes the core its partner needs, and the many small kernels of a small model's step then
# crawl (measured ~6x slower at 2 threads under load; see eval/bench_mlm_throughput.py). Override by
# setting the variable yourself.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from versebert.errors import UserError  # noqa: E402 (after the OpenMP setting)
from versebert.training.config import (  # noqa: E402
    add_mixed_precision_argument,
    load_preset,
    precision_overrides,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="preset name (tiny, mini, small, base) or YAML file")
    parser.add_argument("--output-dir", required=True, help="checkpoints, logs and curves go here")
    parser.add_argument("--model-dir", help="where the final model is saved (default: OUTPUT_DIR/model)")
    parser.add_argument("--tokenizer", help="an existing tokenizer directory (default: train one)")
    parser.add_argument(
        "--init-from", help="warm start from a BERT checkpoint directory or all-MiniLM-L6-v2 (uses its tokenizer)"
    )
    restart = parser.add_mutually_exclusive_group()
    restart.add_argument(
        "--resume", action="store_true", help="continue from the newest intact checkpoint in OUTPUT_DIR"
    )
    restart.add_argument(
        "--restart",
        action="store_true",
        help="discard the checkpoints and logs in OUTPUT_DIR (and the tokenizer trained there) and start over",
    )
    parser.add_argument("--cache-dir", help="cache for the tokenized corpus")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    add_mixed_precision_argument(parser)
    args = parser.parse_args(argv)

    from versebert.training.mlm import pretrain_from_preset

    try:
        preset = load_preset(args.config, [*args.overrides, *precision_overrides(args.mixed_precision)])
        model_dir = pretrain_from_preset(
            preset,
            output_dir=args.output_dir,
            model_dir=args.model_dir,
            tokenizer_dir=args.tokenizer,
            resume=args.resume,
            restart=args.restart,
            init_from=args.init_from,
            cache_dir=args.cache_dir,
        )
    except UserError as error:
        print(f"pretrain_mlm: error: {error}", file=sys.stderr)
        return 2
    from accelerate import PartialState  # initialised by the run's Accelerator by now

    PartialState().print(f"saved the MLM model to {model_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
