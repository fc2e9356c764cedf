"""Every precision branch, on whatever CPU runs the suite.

The hardware answer is forced both ways (native bf16 or not), and the real MLM trainer and a real
contrastive stage each take two optimizer steps under it: a machine with native bf16 must train in
bf16 on the CPU (transformers refuses that unless told the run is on a CPU), a machine without it in
fp32. The launcher's and the command line's explicit choice win over a preset's ``auto``.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from tests.test_contrastive import TOY_PROBE, mlm_checkpoint, tiny_training, toy_data  # noqa: F401 (fixtures)
from tests.test_training_mlm import BASE, MODEL, corpus, reset_accelerate, tokenizer  # noqa: F401 (fixtures)
from versebert.errors import UserError
from versebert.training import precision
from versebert.training.config import load_preset, precision_overrides
from versebert.training.contrastive import (
    TranslationPairsConfig,
    stage_config,
    train_stage,
    training_arguments,
)
from versebert.training.mlm import train_mlm

EXPECTED = {True: "bf16", False: "no"}


@pytest.fixture(params=[True, False], ids=["native-bf16", "no-native-bf16"])
def native_bf16(request, monkeypatch):
    """This CPU answers the hardware question as the parameter says; no GPU, no launcher."""
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: request.param)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv(precision.LAUNCHER_VARIABLE, raising=False)
    reset_accelerate()
    yield request.param
    reset_accelerate()


@pytest.fixture
def linear_dtypes():
    """The dtype of every nn.Linear output computed with gradients on (training forwards)."""
    seen: set[torch.dtype] = set()

    def hook(module, args, output):
        if isinstance(module, torch.nn.Linear) and torch.is_grad_enabled():
            seen.add(output.dtype)

    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    yield seen
    handle.remove()


def test_auto_follows_the_hardware(native_bf16):
    assert precision.resolve_mixed_precision("auto") == EXPECTED[native_bf16]


def test_the_launcher_wins_over_auto_and_an_explicit_setting_wins_over_the_launcher(native_bf16, monkeypatch):
    monkeypatch.setenv(precision.LAUNCHER_VARIABLE, "no")  # accelerate launch --mixed_precision no
    assert precision.resolve_mixed_precision("auto") == "no"
    monkeypatch.setenv(precision.LAUNCHER_VARIABLE, "bf16")
    assert precision.resolve_mixed_precision("auto") == "bf16"
    assert precision.resolve_mixed_precision("no") == "no"
    monkeypatch.setenv(precision.LAUNCHER_VARIABLE, "fp8")
    with pytest.raises(UserError, match="'fp8'"):
        precision.resolve_mixed_precision("auto")


def test_fp16_on_a_cpu_is_refused_with_a_message(native_bf16):
    with pytest.raises(UserError, match="fp16 needs a CUDA GPU"):
        precision.resolve_mixed_precision("fp16")


def test_the_command_line_sets_every_stage():
    preset = load_preset("tiny", precision_overrides("no"))
    assert preset.mlm.mixed_precision == "no"
    for section in ("translation_pairs", "query_pairs"):
        assert stage_config(section, preset).training.mixed_precision == "no"
    assert precision_overrides(None) == ()


def test_the_mlm_trainer_takes_real_steps_in_the_precision_the_hardware_supports(
    native_bf16, linear_dtypes, tmp_path, tokenizer, corpus  # noqa: F811
):
    config = dataclasses.replace(BASE, mixed_precision="auto", max_steps=2, eval_every=100, save_every=100)
    model_dir = train_mlm(config, model_config=MODEL, tokenizer=tokenizer, dataset=corpus, output_dir=tmp_path)
    from accelerate.state import AcceleratorState

    assert AcceleratorState().mixed_precision == EXPECTED[native_bf16]
    assert linear_dtypes == {torch.bfloat16 if native_bf16 else torch.float32}
    steps = [json.loads(line) for line in (tmp_path / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in steps if "train/loss" in entry] == [1, 2]
    assert all(torch.isfinite(torch.tensor(entry["train/loss"])) for entry in steps if "train/loss" in entry)
    assert (model_dir / "model.safetensors").is_file()


def test_a_contrastive_stage_takes_real_steps_in_the_precision_the_hardware_supports(
    native_bf16, linear_dtypes, mlm_checkpoint, toy_data, tmp_path  # noqa: F811
):
    training = tiny_training(mixed_precision="auto", eval_steps=100)
    config = TranslationPairsConfig(translations=("KJV", "WEB"), probe=TOY_PROBE, training=training)
    args = training_arguments(training, tmp_path / "checkpoints", config_pairs(config, toy_data), "probe_accuracy")
    assert (args.bf16, args.fp16, args.use_cpu) == (native_bf16, False, True)
    reset_accelerate()
    result = train_stage(config, toy_data, model=mlm_checkpoint, output=tmp_path / "model")
    metrics = json.loads((result.work_dir / "metrics.json").read_text())
    assert metrics["mixed_precision"] == EXPECTED[native_bf16]
    assert torch.bfloat16 in linear_dtypes if native_bf16 else linear_dtypes == {torch.float32}
    curve = [json.loads(line) for line in (result.work_dir / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert max(entry["step"] for entry in curve if "train/loss" in entry) == 2


def config_pairs(config, data):
    from versebert.training.contrastive import PAIR_SOURCES

    return PAIR_SOURCES[type(config)].build(config, data)


@pytest.mark.parametrize(("native", "kind"), [(True, "native bf16"), (False, "no native bf16")])
def test_benchmarks_name_the_cpu_kind_the_hardware_answer_gives(monkeypatch, native, kind):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    assert precision.cpu_kind().startswith(kind)
