"""The MLM trainer: optimiser groups, schedule, clipping, masks per epoch, resume, crash safety,
non-finite stops, memory, and the saved model. Tiny model, synthetic verses, a few seconds each."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

from modeling_versebert import VerseBertConfig, VerseBertForMaskedLM
from versebert.training.config import MlmConfig
from versebert.training.mlm import (
    NonFiniteLossError,
    list_checkpoints,
    lr_multiplier,
    parameter_groups,
    train_mlm,
)
from versebert.training.run_logging import read_metrics

from .conftest import TINY_VERSES

TRAIN_SIZE = 80  # 10 batches of 8


def reset_accelerate():
    """accelerate keeps process-wide singletons (an interrupted run leaves its dataloader
    registered); every run here starts from a clean slate."""
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    yield
    reset_accelerate()


@pytest.fixture(scope="module")
def tokenizer():
    """A BERT tokenizer over the words of TINY_VERSES with the project's fixed special ids."""
    from transformers import BertTokenizer

    words = sorted({word for verse in TINY_VERSES for word in re.findall(r"\w+|[^\w\s]", verse.lower())})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    return BertTokenizer(vocab={token: index for index, token in enumerate(vocab)})


@pytest.fixture(scope="module")
def corpus(tokenizer):
    """Random verses of 5-24 words: every sequence distinct, lengths varied enough to group."""
    import datasets

    generator = torch.Generator().manual_seed(0)

    def verses(count):
        rows = []
        for _ in range(count):
            length = int(torch.randint(5, 25, (1,), generator=generator))
            words = torch.randint(5, len(tokenizer), (length,), generator=generator).tolist()
            rows.append([tokenizer.cls_token_id, *words, tokenizer.sep_token_id])
        return datasets.Dataset.from_dict({"input_ids": rows})

    return datasets.DatasetDict(train=verses(TRAIN_SIZE), validation=verses(16))


MODEL = VerseBertConfig(
    vocab_size=8,  # replaced by the tokenizer's
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=37,
    max_position_embeddings=64,
    type_vocab_size=0,
)
BASE = MlmConfig(
    batch_size=8,
    epochs=2,
    learning_rate=3e-3,
    warmup=0.2,
    mixed_precision="no",
    length_group_batches=4,
    log_every=1,
    eval_every=5,
    save_every=4,
    keep_last=2,
    eval_batch_size=8,
    plot_curves=False,
)


def train(tmp_path, tokenizer, corpus, *, name="run", resume=False, **settings):
    reset_accelerate()
    config = dataclasses.replace(BASE, **settings)
    output = tmp_path / name
    model_dir = train_mlm(
        config, model_config=MODEL, tokenizer=tokenizer, dataset=corpus, output_dir=output, resume=resume
    )
    return output, model_dir


@pytest.fixture
def recorded(monkeypatch):
    """Every training forward's (masked input, labels); ``recorded.fail_at`` makes forward number N
    raise ``recorded.error`` (an interruption or a NaN loss)."""

    class Recorder(list):
        fail_at = None
        error = None

    calls = Recorder()
    original = VerseBertForMaskedLM.forward

    def forward(self, input_ids=None, attention_mask=None, labels=None, **kwargs):
        output = original(self, input_ids, attention_mask, labels=labels, **kwargs)
        if self.training:
            calls.append((input_ids.clone(), labels.clone()))
            if calls.fail_at == len(calls):
                if calls.error == "nan":
                    output.loss = output.loss * float("nan")
                else:
                    raise calls.error
        return output

    monkeypatch.setattr(VerseBertForMaskedLM, "forward", forward)
    return calls


def state_of(model_dir):
    from safetensors.torch import load_file

    return load_file(str(model_dir / "model.safetensors"))


# -- pure pieces ---------------------------------------------------------------------------


def test_weight_decay_applies_to_matrices_and_embeddings_only():
    model = VerseBertForMaskedLM(dataclasses.replace(MODEL, type_vocab_size=2))
    names = {id(parameter): name for name, parameter in model.named_parameters()}
    decay, no_decay = parameter_groups(model, 0.01)
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    decayed = {names[id(parameter)] for parameter in decay["params"]}
    expected = {"versebert.embeddings.word_embeddings.weight", "versebert.embeddings.token_type_embeddings.weight"}
    for layer in range(2):
        expected |= {
            f"versebert.layers.{layer}.{part}.weight"
            for part in ("attention.qkv", "attention.output", "feed_forward.up", "feed_forward.down")
        }
    expected.add("lm_head.dense.weight")
    assert decayed == expected  # the tied decoder weight is the embedding, listed once
    not_decayed = {names[id(parameter)] for parameter in no_decay["params"]}
    assert all(name.endswith(".bias") or "norm" in name for name in not_decayed)
    assert len(decayed) + len(not_decayed) == len(list(model.parameters()))


def test_schedule_warms_up_linearly_then_decays_linearly_to_zero():
    values = [lr_multiplier(step, warmup_steps=4, total_steps=10) for step in range(11)]
    assert values[:4] == [0.25, 0.5, 0.75, 1.0]
    assert values[4] == 1.0
    assert values[4:] == pytest.approx([(10 - step) / 6 for step in range(4, 11)])
    assert values[-1] == 0.0
    assert [lr_multiplier(step, warmup_steps=0, total_steps=4) for step in range(5)] == [1.0, 0.75, 0.5, 0.25, 0.0]


# -- the loop --------------------------------------------------------------------------------


def test_schedule_counts_optimizer_steps_under_gradient_accumulation(tmp_path, tokenizer, corpus, monkeypatch):
    steps = []
    handle = register_optimizer_step_post_hook(lambda *args: steps.append(1))
    try:
        output, _ = train(tmp_path, tokenizer, corpus, gradient_accumulation_steps=3, save_every=100, eval_every=100)
    finally:
        handle.remove()
    # 10 micro-batches per epoch -> 4 optimizer steps (3+3+3+1, the last one at the epoch's end); 2 epochs
    assert len(steps) == 8
    logged = [record for record in read_metrics(output / "logs" / "metrics.jsonl") if "train/lr" in record]
    assert [record["step"] for record in logged] == list(range(1, 9))
    warmup = round(0.2 * 8)
    expected = [BASE.learning_rate * lr_multiplier(step, warmup_steps=warmup, total_steps=8) for step in range(8)]
    assert [record["train/lr"] for record in logged] == pytest.approx(expected)


def test_gradients_are_clipped_to_the_global_norm_before_each_update(tmp_path, tokenizer, corpus):
    norms = []

    def measure(optimizer, args, kwargs):
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        norms.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))))

    handle = register_optimizer_step_pre_hook(measure)
    try:
        output, _ = train(tmp_path, tokenizer, corpus, max_grad_norm=0.05, epochs=1, save_every=100)
    finally:
        handle.remove()
    logged = [
        record["train/grad_norm"]
        for record in read_metrics(output / "logs" / "metrics.jsonl")
        if "train/grad_norm" in record
    ]
    assert len(norms) == len(logged) == 10
    assert min(logged) > 0.05  # the model's raw gradients exceed the limit...
    assert max(norms) <= 0.05 * (1 + 1e-4)  # ...and the optimizer only sees clipped ones


def test_mlm_masks_differ_between_epochs_for_the_same_verse(tmp_path, tokenizer, corpus, recorded):
    train(tmp_path, tokenizer, corpus, save_every=100)
    seen: dict[tuple[int, ...], list[tuple[int, ...]]] = {}
    for input_ids, labels in recorded:
        original = torch.where(labels != -100, labels, input_ids)
        for row in range(original.shape[0]):
            verse = tuple(token for token in original[row].tolist() if token != tokenizer.pad_token_id)
            seen.setdefault(verse, []).append(tuple((labels[row] != -100).nonzero().flatten().tolist()))
    assert len(seen) == TRAIN_SIZE and all(len(masks) == 2 for masks in seen.values())  # each verse once per epoch
    differing = sum(first != second for first, second in seen.values())
    assert differing >= 0.9 * TRAIN_SIZE


def test_validation_masks_at_its_own_rate_whatever_the_training_rate(tmp_path, tokenizer, corpus, monkeypatch):
    """Validation losses of runs at different masking rates compare only if validation masks alike."""
    rates = {True: [], False: []}  # training? -> masked share of each batch's maskable tokens
    original = VerseBertForMaskedLM.forward

    def forward(self, input_ids=None, attention_mask=None, labels=None, **kwargs):
        special = torch.tensor(tokenizer.all_special_ids)
        maskable = attention_mask.bool() & ~torch.isin(torch.where(labels != -100, labels, input_ids), special)
        rates[self.training].append(((labels != -100).sum() / maskable.sum()).item())
        return original(self, input_ids, attention_mask, labels=labels, **kwargs)

    monkeypatch.setattr(VerseBertForMaskedLM, "forward", forward)
    train(tmp_path, tokenizer, corpus, mask_probability=0.5, eval_mask_probability=0.15, save_every=100)
    assert rates[True] and rates[False]
    assert sum(rates[True]) / len(rates[True]) == pytest.approx(0.5, abs=0.06)
    assert sum(rates[False]) / len(rates[False]) == pytest.approx(0.15, abs=0.06)


def test_resume_reproduces_the_batches_masks_and_weights_of_an_uninterrupted_run(tmp_path, tokenizer, corpus, recorded):
    settings = dict(gradient_accumulation_steps=2, save_every=3)  # the model has dropout 0.1
    _, reference_dir = train(tmp_path, tokenizer, corpus, name="reference", **settings)
    reference = list(recorded)
    recorded.clear()

    # 5 optimizer steps per epoch, checkpoints after steps 3, 6, 9; interrupted in step 8 (micro-batch 15)
    recorded.fail_at, recorded.error = 15, KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt):
        train(tmp_path, tokenizer, corpus, name="interrupted", **settings)
    checkpoints = list_checkpoints(tmp_path / "interrupted" / "checkpoints")
    assert [path.name for path in checkpoints] == ["step-00000003", "step-00000006"]
    recorded.clear()
    recorded.fail_at = None

    _, resumed_dir = train(tmp_path, tokenizer, corpus, name="interrupted", resume=True, **settings)
    assert len(recorded) == len(reference) - 12  # step 6 ended with micro-batch 12, mid-epoch 2
    for (ids, labels), (expected_ids, expected_labels) in zip(recorded, reference[12:], strict=True):
        assert torch.equal(ids, expected_ids) and torch.equal(labels, expected_labels)
    resumed, expected = state_of(resumed_dir), state_of(reference_dir)
    assert resumed.keys() == expected.keys()
    assert all(torch.equal(resumed[name], expected[name]) for name in expected)  # dropout too


def test_a_crash_while_saving_leaves_the_previous_checkpoint_intact(tmp_path, tokenizer, corpus, monkeypatch):
    from accelerate import Accelerator

    original = Accelerator.save_state
    calls = []

    def crashing_save_state(self, output_dir=None, **kwargs):
        calls.append(output_dir)
        result = original(self, output_dir, **kwargs)
        if len(calls) == 2:  # the files are there, but the process dies before the save completes
            raise OSError("No space left on device")
        return result

    monkeypatch.setattr(Accelerator, "save_state", crashing_save_state)
    with pytest.raises(OSError):
        train(tmp_path, tokenizer, corpus)
    checkpoints_dir = tmp_path / "run" / "checkpoints"
    assert [path.name for path in list_checkpoints(checkpoints_dir)] == ["step-00000004"]
    # the half-written one never got its name, and its space is given back (a full disk needs it)
    assert not (checkpoints_dir / ".tmp-step-00000008").exists()
    monkeypatch.setattr(Accelerator, "save_state", original)

    output, model_dir = train(tmp_path, tokenizer, corpus, resume=True)
    assert (model_dir / "model.safetensors").is_file()
    assert not (checkpoints_dir / ".tmp-step-00000008").exists()
    steps = [record["step"] for record in read_metrics(output / "logs" / "metrics.jsonl") if "train/loss" in record]
    assert steps == list(range(1, 21))  # resumed after step 4, lines of the crashed run replaced


def test_a_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, tokenizer, corpus, recorded):
    recorded.fail_at, recorded.error = 7, "nan"
    with pytest.raises(NonFiniteLossError, match=r"step 7.*step-00000004"):
        train(tmp_path, tokenizer, corpus)
    run = tmp_path / "run"
    checkpoints = list_checkpoints(run / "checkpoints")
    assert [path.name for path in checkpoints] == ["step-00000004"]
    weights = state_of(checkpoints[0])
    assert all(torch.isfinite(tensor).all() for tensor in weights.values())
    assert not (run / "model").exists()
    assert read_metrics(run / "logs" / "metrics.jsonl")[-1]["event"] == "stopped"


def test_resident_memory_stays_flat_over_hundreds_of_steps(tmp_path, tokenizer, corpus):
    output, _ = train(tmp_path, tokenizer, corpus, max_steps=300, log_every=25, eval_every=1000, save_every=1000)
    rss = {
        record["step"]: record["system/rss_mb"]
        for record in read_metrics(output / "logs" / "metrics.jsonl")
        if "system/rss_mb" in record
    }
    assert len(rss) == 12
    assert rss[300] - rss[100] < 20, rss  # a leaked graph per step would add megabytes every step


def test_the_final_model_is_saved_with_its_tokenizer_special_ids_and_curves(tmp_path, tokenizer, corpus):
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    output, model_dir = train(tmp_path, tokenizer, corpus, plot_curves=True)
    config = json.loads((model_dir / "config.json").read_text())
    assert {key: config[f"{key}_token_id"] for key in ("pad", "unk", "cls", "sep", "mask")} == {
        "pad": 0,
        "unk": 1,
        "cls": 2,
        "sep": 3,
        "mask": 4,
    }
    assert config["vocab_size"] == len(tokenizer)
    assert {"AutoModel", "AutoModelForMaskedLM"} <= set(config["auto_map"])
    assert (model_dir / "modeling_versebert.py").is_file()
    reloaded = AutoTokenizer.from_pretrained(model_dir)
    assert reloaded.mask_token_id == tokenizer.mask_token_id
    model = AutoModelForMaskedLM.from_pretrained(model_dir)
    assert model.config.mask_token_id == 4

    records = read_metrics(output / "logs" / "metrics.jsonl")
    evals = [record for record in records if "eval/loss" in record]
    assert [record["step"] for record in evals] == [0, 5, 10, 15, 20]
    assert all(0 <= record["eval/accuracy"] <= 1 for record in evals)
    train_records = [record for record in records if "train/loss" in record]
    assert {"train/lr", "train/grad_norm", "train/tokens_per_second"} <= set(train_records[0])
    assert (output / "curves.png").stat().st_size > 0
    assert list((output / "logs" / "tensorboard").glob("events.out.tfevents.*"))
    assert [path.name for path in list_checkpoints(output / "checkpoints")] == ["step-00000016", "step-00000020"]


def mlm_driver(**settings) -> str:
    """A script that trains the test model on a saved corpus in its own process (argv: data, output,
    ``resume`` or not), with the MLM settings given here."""
    config = ", ".join(f"{key}={value!r}" for key, value in settings.items())
    return f"""
import sys
import datasets
from transformers import AutoTokenizer
from modeling_versebert import VerseBertConfig
from versebert.training.config import MlmConfig
from versebert.training.mlm import train_mlm

data, output, resume = sys.argv[1], sys.argv[2], sys.argv[3] == "resume"
config = MlmConfig({config})
model = VerseBertConfig(vocab_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=37, max_position_embeddings=64, type_vocab_size=0)
train_mlm(config, model_config=model, tokenizer=AutoTokenizer.from_pretrained(data + "/tokenizer"),
          dataset=datasets.load_from_disk(data + "/corpus"), output_dir=output, resume=resume)
"""


DRIVER = mlm_driver(batch_size=8, epochs=2, learning_rate=3e-3, warmup=0.2, mixed_precision="no",
                    length_group_batches=4, log_every=1, eval_every=5, save_every=4, keep_last=3,
                    eval_batch_size=8, plot_curves=False)


@pytest.mark.slow
def test_two_cpu_processes_share_one_checkpoint_folder_a_correct_schedule_and_resume(tmp_path, tokenizer, corpus):
    import os
    import shutil
    import subprocess
    import sys

    tokenizer.save_pretrained(tmp_path / "data" / "tokenizer")
    corpus.save_to_disk(str(tmp_path / "data" / "corpus"))
    (tmp_path / "driver.py").write_text(DRIVER)
    environment = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}

    def launch(mode):
        # the shipped config (2 CPU processes, fp32), launched as the README says
        config = Path(__file__).resolve().parents[1] / "train" / "accelerate" / "cpu-2proc.yaml"
        command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config),
                   str(tmp_path / "driver.py"), str(tmp_path / "data"), str(tmp_path / "run"), mode]  # fmt: skip
        result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]

    launch("fresh")
    run = tmp_path / "run"
    # 10 batches per epoch shared by 2 processes: 5 optimizer steps per epoch, 10 in all
    assert [path.name for path in list_checkpoints(run / "checkpoints")] == [
        "step-00000004",
        "step-00000008",
        "step-00000010",
    ]
    assert sorted(path.name for path in run.iterdir()) == ["checkpoints", "logs", "model"]
    logged = [record for record in read_metrics(run / "logs" / "metrics.jsonl") if "train/lr" in record]
    expected = [3e-3 * lr_multiplier(step, warmup_steps=2, total_steps=10) for step in range(10)]
    assert [record["train/lr"] for record in logged] == pytest.approx(expected)  # not stepped twice per step
    states = torch.load(run / "checkpoints" / "step-00000008" / "custom_checkpoint_0.pkl", weights_only=False)["states"]
    assert len(states) == 2 and not torch.equal(states[0], states[1])  # one masking stream per process

    reference = state_of(run / "model")
    shutil.rmtree(run / "model")
    shutil.rmtree(run / "checkpoints" / "step-00000010")
    launch("resume")  # from step 8, in the middle of the second epoch
    resumed = state_of(run / "model")
    assert all(torch.equal(resumed[name], reference[name]) for name in reference)


def test_a_warm_started_run_begins_from_the_checkpoint_and_records_where_from(tmp_path, tokenizer, corpus):
    from transformers import BertConfig, BertModel

    from versebert.training.warm_start import WarmStartSource

    # a BERT one layer deeper than the model, whose layers 0 and 2 the preset's mlm.init_layers take
    shape = dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=37)
    BertModel(BertConfig(vocab_size=len(tokenizer), max_position_embeddings=64, **shape)).save_pretrained(
        tmp_path / "bert"
    )
    bert = state_of(tmp_path / "bert")
    reset_accelerate()
    # the preset's mlm.init_from; Adam moves each weight by about the learning rate a step
    config = dataclasses.replace(BASE, epochs=1, learning_rate=1e-6, init_from=str(tmp_path / "bert"),
                                 init_layers=(0, 2))
    model_dir = train_mlm(config, model_config=MODEL, tokenizer=tokenizer, dataset=corpus, output_dir=tmp_path / "warm")
    warm = state_of(model_dir)
    bert_embeddings = bert["embeddings.word_embeddings.weight"]
    assert torch.allclose(warm["versebert.embeddings.word_embeddings.weight"], bert_embeddings, atol=1e-4)
    assert torch.allclose(warm["versebert.layers.1.feed_forward.down.weight"],
                          bert["encoder.layer.2.output.dense.weight"], atol=1e-4)
    assert WarmStartSource.load(model_dir) == WarmStartSource(tmp_path / "bert", None, (0, 2))

    _, scratch_dir = train(tmp_path, tokenizer, corpus, name="scratch", epochs=1, learning_rate=1e-6)
    assert not torch.allclose(state_of(scratch_dir)["versebert.embeddings.word_embeddings.weight"], bert_embeddings)
    assert WarmStartSource.load(scratch_dir) is None
