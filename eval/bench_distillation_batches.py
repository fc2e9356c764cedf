"""Distillation step throughput: random batches against length-grouped ones (``distillation.length_group_batches``)
and against random batches embedded in length-sorted forwards (``distillation.training.mini_batch_size``).

The distillation set mixes three-word train topics, clauses and ninety-token verses. A random batch
pads every text to its longest one; a length-grouped batch holds texts of similar length; a random
batch in length-sorted forwards keeps its texts (and so its in-batch negatives) but pads each chunk
of similar-length texts only to that chunk's longest. All variants train the same student (a
preset's shape, random weights, all-MiniLM-L6-v2's tokenizer) with the stage's KL loss on batches of
the preset's size, cut by the stage's own sampler from the preset's real distillation texts (the
teacher is not run: a step's cost does not depend on its targets).

Reported per variant: seconds per step, real and padded tokens per batch (padded: what the forwards
saw), real tokens per second, and the speed-up: real tokens per second as a ratio to random batches
in the same run (grouped batches are another sample of texts, so seconds per step alone would compare
different texts); the CPU kind is named.
The variants alternate over ``--rounds`` and each one's best round counts. Quality is not measured
here: grouping also changes which texts are each other's in-batch negatives (see the README); sorted
forwards do not (their loss is the single forward's, ``tests/test_distillation.py``).

Usage::

    python eval/bench_distillation_batches.py --preset mini --steps 6 --output outputs/bench
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the training scripts run, before torch loads

import torch  # noqa: E402

DEFAULT_DEV = Path(__file__).resolve().parents[2] / "shared/data/openbible/topic-votes.dev.tsv"
DEFAULT_TRAIN = DEFAULT_DEV.with_name("topic-votes.train.tsv")


def distillation_sets(preset, train_topics: Path, dev_topics: Path):
    """The preset's distillation texts, as the stage builds them, and a function giving their
    distillation set for a ``length_group_batches``, without the teacher's embeddings."""
    import numpy as np

    from versebert.training.contrastive import load_stage_data
    from versebert.training.distillation import DistillationSet, distillation_rows, text_row_keys

    config = preset.distillation
    data = load_stage_data(config, dev_topics=dev_topics, train_topics=train_topics)
    texts, verse_ids = distillation_rows(config, data)
    keys, no_targets = text_row_keys(texts), np.zeros((len(texts), 1), dtype=np.float32)
    return tuple(texts), lambda group_batches: DistillationSet(
        tuple(texts), no_targets, tuple(verse_ids), keys, group_batches
    )


def first_batches(rows, batch_size: int, count: int, seed: int) -> list[list[int]]:
    from datasets import Dataset

    sampler = rows.batch_sampler()(Dataset.from_dict({"text": ["x"] * len(rows)}), batch_size=batch_size,
                                   drop_last=False, seed=seed)
    return list(sampler)[:count]


def student(preset, tokenizer):
    from modeling_versebert import VerseBertModel

    config = preset.model.to_config(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id)
    return VerseBertModel(config).train()


def time_steps(model, tokenizer, texts, batches, max_length: int, temperature: float, chunk_size: int) -> dict:
    """Seconds of each training step (tokenize, forward in chunks of ``chunk_size``, KL loss, backward,
    AdamW) over ``batches``; padded tokens count what the forwards saw."""
    from versebert.training.distillation import embed_length_sorted, soft_target_kl

    padded = 0

    def mean_pooled(features: dict) -> torch.Tensor:
        nonlocal padded
        mask = features["attention_mask"]
        padded += mask.numel()
        hidden = model(input_ids=features["input_ids"], attention_mask=mask).last_hidden_state
        return (hidden * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    seconds, real = [], 0
    for batch in batches:
        start = time.perf_counter()
        encoded = tokenizer([texts[row] for row in batch], padding=True, truncation=True, max_length=max_length,
                            return_tensors="pt")
        pooled = embed_length_sorted(mean_pooled, dict(encoded), chunk_size)
        targets = torch.nn.functional.normalize(torch.randn(len(batch), 384), dim=-1)
        loss = soft_target_kl(pooled, targets, temperature)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        seconds.append(time.perf_counter() - start)
        real += int(encoded["attention_mask"].sum())
    return {"seconds": seconds, "real_tokens": real, "padded_tokens": padded}


def markdown(report: dict) -> str:
    lines = [
        f"Distillation steps, preset `{report['preset']}` ({report['batch_size']} texts a batch, "
        f"{report['steps']} steps a round, best of {report['rounds']}; {report['machine']}, {report['cpu_kind']}, "
        f"fp32, {report['threads']} threads)",
        "",
        "| batches | s/step | real tokens/batch | padded tokens/batch | real tokens/s | speed-up |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, result in report["variants"].items():
        lines.append(
            f"| {name} | {result['seconds_per_step']:.2f} | {result['real_tokens_per_batch']:,.0f} | "
            f"{result['padded_tokens_per_batch']:,.0f} | {result['real_tokens_per_second']:,.0f} | "
            f"{result['speedup']:.2f}x |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="mini")
    parser.add_argument("--train-topics", type=Path, default=DEFAULT_TRAIN)
    parser.add_argument("--dev-topics", type=Path, default=DEFAULT_DEV)
    parser.add_argument("--group-batches", type=int, default=50, help="the grouped variant's length_group_batches")
    parser.add_argument("--sorted-chunk", type=int, default=32,
                        help="the sorted variant's mini_batch_size: texts per length-sorted forward")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--output", default="outputs/bench")
    args = parser.parse_args(argv)
    if args.group_batches < 2:
        parser.error(f"--group-batches must be at least 2 (1 is the random variant), got {args.group_batches}")
    if args.sorted_chunk < 1:
        parser.error(f"--sorted-chunk must be a positive number of texts, got {args.sorted_chunk}")
    for path in (args.train_topics, args.dev_topics):
        if not path.is_file():
            parser.error(f"topic votes not found: {path} (pass --train-topics and --dev-topics)")

    from transformers import AutoTokenizer

    from versebert.evaluation.harness import peer_model_dir
    from versebert.machine import cpu_model
    from versebert.training.config import load_preset
    from versebert.training.precision import cpu_kind

    torch.set_num_threads(args.threads)
    preset = load_preset(args.preset)
    training = preset.distillation.training
    texts, rows_for = distillation_sets(preset, args.train_topics, args.dev_topics)
    tokenizer = AutoTokenizer.from_pretrained(str(peer_model_dir()))
    # name: (length_group_batches, texts per forward)
    variants = {
        "random": (1, training.batch_size),
        f"length-grouped ({args.group_batches})": (args.group_batches, training.batch_size),
        f"random, length-sorted forwards of {args.sorted_chunk}": (1, args.sorted_chunk),
    }
    batches = {name: first_batches(rows_for(group), training.batch_size, args.steps, training.seed)
               for name, (group, _) in variants.items()}
    torch.manual_seed(0)
    model = student(preset, tokenizer)
    best: dict[str, dict] = {}
    for _ in range(args.rounds):
        for name, (_, chunk_size) in variants.items():
            result = time_steps(model, tokenizer, texts, batches[name], training.max_seq_length,
                                preset.distillation.temperature, chunk_size)
            if name not in best or sum(result["seconds"]) < sum(best[name]["seconds"]):
                best[name] = result
    report = {
        "preset": args.preset,
        "machine": cpu_model(),
        "cpu_kind": cpu_kind(),
        "threads": args.threads,
        "torch": torch.__version__,
        "texts": len(texts),
        "batch_size": training.batch_size,
        "steps": args.steps,
        "rounds": args.rounds,
        "variants": {},
    }
    baseline = best["random"]["real_tokens"] / sum(best["random"]["seconds"])
    for name, result in best.items():  # the samples of batches differ: compare tokens per second
        total = sum(result["seconds"])
        report["variants"][name] = {
            "seconds_per_step": total / len(result["seconds"]),
            "real_tokens_per_batch": result["real_tokens"] / len(result["seconds"]),
            "padded_tokens_per_batch": result["padded_tokens"] / len(result["seconds"]),
            "real_tokens_per_second": result["real_tokens"] / total,
            "speedup": result["real_tokens"] / total / baseline,
        }
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    stem = f"distillation_batches_{args.preset}"
    (output / f"{stem}.json").write_text(json.dumps(report, indent=2))
    (output / f"{stem}.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
