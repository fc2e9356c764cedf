"""MLM training throughput: our trainer's step against transformers' BertForMaskedLM in its plain setup.

Both train the same shape (a preset's layers and width, the same vocabulary) on the same batches
of real verses with the same masks:

- ``plain``: ``BertForMaskedLM`` as a first script would run it: batches padded to ``max_length``,
  logits over the whole vocabulary at every position, fp32, ``torch.optim.AdamW`` defaults;
- ``ours``: :class:`~versebert.training.mlm.MlmTrainer.train_batch` (length-grouped dynamic
  padding, SDPA, vocabulary projection at masked positions only, fused AdamW, the preset's mixed
  precision; ``auto`` is fp32 on CPUs without native bf16);
- ``ours_bf16`` or ``ours_fp32``: the same step in the precision ``auto`` did not pick, so every run
  shows what bf16 buys (CPUs with AVX512-BF16/AMX) or costs (AVX2 only, where it is emulated).

The report names the CPU kind (native bf16 or not, as :func:`cpu_has_native_bf16` detects it) and
what ``auto`` picked, and measures a matmul peak for each precision it reports.

Reported per preset: real (non-padding) tokens per second, the ratio to ``plain``, the same per
CPU-second of this process (robust to other load on a shared machine), and the FLOP/s executed
(matmul FLOPs of the step as run, padding included) against a matmul peak measured on this machine
in the same run. The variants alternate over ``--rounds`` and the best round counts,
so a briefly busy machine hurts less. Output: ``<output>/mlm_throughput.json`` and ``.md``.

Usage::

    python eval/bench_mlm_throughput.py --presets tiny mini small --output outputs/bench
    python eval/bench_mlm_throughput.py --corpus runs/tiny/corpus --vocab-size 16000   # a saved DatasetDict
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as train/pretrain_mlm.py does, before torch loads

import torch  # noqa: E402


def matmul_peak(dtype: torch.dtype, size: int = 1024, repeats: int = 5) -> float:
    """Best FLOP/s of a square matmul, the ceiling a training step can approach."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def update_peaks(peaks: dict[str, float]) -> None:
    """Raise each dtype's peak to a new measurement: on a shared machine the best one is the truest."""
    for dtype in DTYPES:
        peaks[dtype] = max(peaks.get(dtype, 0.0), matmul_peak(DTYPES[dtype]))


def step_flops(shape, batch: dict, projected: int, vocab_size: int) -> float:
    """Matmul FLOPs of one training step as executed: 3x the forward (forward + backward)."""
    rows, width = batch["input_ids"].shape
    h, layers, inner = shape.hidden_size, shape.num_hidden_layers, shape.intermediate_size
    per_token = layers * (2 * (4 * h * h + 2 * h * inner) + 4 * width * h)  # projections + attention
    head = projected * (2 * h * h + 2 * h * vocab_size)
    return 3 * (rows * width * per_token + head)


def load_corpus(args, vocab_size: int):
    """Real verses: a saved DatasetDict (``--corpus``) or one built by the data layer."""
    import datasets

    if args.corpus:
        return datasets.load_from_disk(args.corpus)["train"]
    from versebert.data.bible import load_verses
    from versebert.data.mlm_corpus import build_mlm_corpus
    from versebert.data.tokenizer import load_tokenizer, train_wordpiece_tokenizer

    work = Path(args.work_dir)
    tokenizer_dir = work / "tokenizer"
    if (tokenizer_dir / "tokenizer.json").is_file():
        tokenizer = load_tokenizer(tokenizer_dir)
    else:
        texts = [verse.text for code in args.translations for verse in load_verses(code)]
        tokenizer = train_wordpiece_tokenizer(texts, vocab_size=vocab_size, output_dir=tokenizer_dir)
    corpus = build_mlm_corpus(
        tokenizer, args.translations, max_length=args.max_length, seed=0, cache_dir=work / "cache"
    )
    return corpus["train"]


class MaskingTokenizer:
    """The special ids the trainer needs, for a corpus given without its tokenizer."""

    pad_token_id, unk_token_id, cls_token_id, sep_token_id, mask_token_id = 0, 1, 2, 3, 4
    all_special_ids = [0, 1, 2, 3, 4]

    def __init__(self, vocab_size: int):
        self.vocab_size = vocab_size

    def __len__(self) -> int:
        return self.vocab_size


def bench_preset(name: str, args, sequences, peaks: dict) -> dict:
    from accelerate.state import AcceleratorState, GradientState
    from transformers import BertConfig, BertForMaskedLM

    from modeling_versebert import VerseBertForMaskedLM
    from versebert.training.batching import PaddingCollator
    from versebert.training.config import load_preset
    from versebert.training.mlm import MlmTrainer, config_for_tokenizer

    preset = load_preset(name)
    shape, tokenizer = preset.model, MaskingTokenizer(args.vocab_size)
    config = dataclasses.replace(preset.mlm, batch_size=args.batch_size, max_steps=10**6)

    def trainer_for(mixed_precision: str) -> MlmTrainer:
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
        torch.manual_seed(0)
        model_config = config_for_tokenizer(shape.to_config(vocab_size=args.vocab_size), tokenizer)
        model = VerseBertForMaskedLM(model_config)
        return MlmTrainer(
            dataclasses.replace(config, mixed_precision=mixed_precision),
            model=model,
            tokenizer=tokenizer,
            train=sequences,
        )

    ours = trainer_for(config.mixed_precision)
    steps = args.warmup + args.steps
    index_batches = ours.train_sampler.batches()[:steps]
    padded = PaddingCollator(0, pad_to_multiple_of=args.max_length)
    dynamic = PaddingCollator(0)

    bert = BertForMaskedLM(
        BertConfig(
            vocab_size=args.vocab_size,
            hidden_size=shape.hidden_size,
            num_hidden_layers=shape.num_hidden_layers,
            num_attention_heads=shape.num_attention_heads,
            intermediate_size=shape.intermediate_size,
            max_position_embeddings=max(512, args.max_length),
        )
    )
    bert_optimizer = torch.optim.AdamW(bert.parameters(), lr=config.learning_rate, weight_decay=0.01)

    def plain_step(indices, generator):
        batch = padded(sequences.__getitems__(indices))
        inputs = ours.mask(batch, generator)  # the same masking as ours, so only the setup differs
        loss = bert(**inputs).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(bert.parameters(), 1.0)
        bert_optimizer.step()
        bert_optimizer.zero_grad()
        return batch, batch["input_ids"].numel()  # every position goes through the vocabulary

    def our_step(trainer):
        def step(indices, generator):
            batch = dynamic(sequences.__getitems__(indices))
            trainer.masking.generator.set_state(generator.get_state())
            trainer.train_batch(batch)
            projected = int((trainer.mask(batch, generator)["labels"] != -100).sum())
            return batch, projected

        return step

    def measure(key: str, step, precision: str) -> None:
        """Time ``step`` over the batches; keep the best round of ``key``."""
        generator = torch.Generator().manual_seed(1)
        tokens = flops = 0
        for position, indices in enumerate(index_batches):
            if position == args.warmup:
                start, cpu_start = time.perf_counter(), time.process_time()
            batch, projected = step(indices, generator)
            if position >= args.warmup:
                tokens += int(batch["attention_mask"].sum())
                flops += step_flops(shape, batch, projected, args.vocab_size)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        result = results.setdefault(key, {"precision": "fp32" if precision == "no" else precision})
        if seconds < result.get("seconds", float("inf")):
            result.update(seconds=seconds, tokens_per_second=tokens / seconds, flops_per_second=flops / seconds)
        if cpu_seconds < result.get("cpu_seconds", float("inf")):
            result.update(cpu_seconds=cpu_seconds, tokens_per_cpu_second=tokens / cpu_seconds)

    results: dict[str, dict] = {}
    for _ in range(args.rounds):  # alternate, so a busy moment of the machine hits both
        update_peaks(peaks)
        measure("plain", plain_step, "fp32")
        measure("ours", our_step(ours), ours.accelerator.mixed_precision)
    other = "no" if ours.accelerator.mixed_precision == "bf16" else "bf16"
    contrast = trainer_for(other)  # built last: accelerate's state is process-wide
    for _ in range(args.rounds):
        update_peaks(peaks)
        measure("ours_fp32" if other == "no" else "ours_bf16", our_step(contrast), other)
    for result in results.values():
        result["speedup_vs_plain"] = result["tokens_per_second"] / results["plain"]["tokens_per_second"]
        result["cpu_speedup_vs_plain"] = result["tokens_per_cpu_second"] / results["plain"]["tokens_per_cpu_second"]
    return {"preset": name, "shape": dataclasses.asdict(shape), "variants": results}


def markdown(report: dict) -> str:
    peak = report["peak_flops"]
    lines = [
        "# MLM training throughput",
        "",
        f"{report['machine']}, {report['cpu_kind']}; `auto` trains in {report['auto_precision']}; "
        f"{report['threads']} threads (OMP_WAIT_POLICY={report['omp_wait_policy']}); "
        f"vocabulary {report['vocab_size']}; batch "
        f"{report['batch_size']} verses; {report['steps']} timed steps after {report['warmup']} warmup, best of "
        f"{report['rounds']} rounds. Matmul peak: {report['peak_flops']['fp32'] / 1e9:.1f} GFLOP/s fp32, "
        f"{peak['bf16'] / 1e9:.1f} GFLOP/s bf16 ({peak['bf16'] / peak['fp32']:.2f}x fp32).",
        "",
        "Tokens are real (non-padding) tokens. On a shared machine wall time depends on the other load;",
        "tokens per CPU-second (this process's CPU time) depends on it much less, most of all with one thread.",
        "",
        "| preset | variant | precision | tokens/s | vs plain | tokens/CPU-s | vs plain | GFLOP/s | of peak |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for preset in report["presets"]:
        for key, result in preset["variants"].items():
            lines.append(
                f"| {preset['preset']} | {key} | {result['precision']} | {result['tokens_per_second']:,.0f} | "
                f"{result['speedup_vs_plain']:.1f}x | {result['tokens_per_cpu_second']:,.0f} | "
                f"{result['cpu_speedup_vs_plain']:.1f}x | {result['flops_per_second'] / 1e9:.1f} | "
                f"{result['fraction_of_peak']:.0%} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "mini", "small"])
    parser.add_argument("--corpus", help="a saved DatasetDict with input_ids (default: build one with the data layer)")
    parser.add_argument("--translations", nargs="+", default=["KJV", "WEB"])
    parser.add_argument("--work-dir", default="outputs/bench/work", help="tokenizer and corpus cache")
    parser.add_argument("--vocab-size", type=int, default=16000)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--output", default="outputs/bench")
    args = parser.parse_args(argv)

    from versebert.training.batching import TokenSequences

    torch.set_num_threads(args.threads)
    sequences = TokenSequences.from_dataset(load_corpus(args, args.vocab_size))
    from versebert.machine import cpu_model
    from versebert.training.precision import cpu_kind, hardware_precision

    peaks: dict[str, float] = {}
    update_peaks(peaks)
    report = {
        "machine": cpu_model(),
        "cpu_kind": cpu_kind(),
        "auto_precision": "fp32" if hardware_precision() == "no" else hardware_precision(),
        "threads": args.threads,
        "omp_wait_policy": os.environ["OMP_WAIT_POLICY"],
        "torch": torch.__version__,
        "vocab_size": args.vocab_size,
        "batch_size": args.batch_size,
        "steps": args.steps,
        "warmup": args.warmup,
        "rounds": args.rounds,
        "corpus_sequences": len(sequences),
        "peak_flops": peaks,
        "presets": [],
    }
    for name in args.presets:
        report["presets"].append(bench_preset(name, args, sequences, peaks))
    for preset in report["presets"]:  # against the best peak seen during the whole run
        for result in preset["variants"].values():
            peak = peaks["bf16" if result["precision"] == "bf16" else "fp32"]
            result["fraction_of_peak"] = result["flops_per_second"] / peak
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    (output / "mlm_throughput.json").write_text(json.dumps(report, indent=2))
    (output / "mlm_throughput.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
