"""A resumed MLM run is the run that was started, or it does not resume.

A changed setting after a crash used to be silently ignored (the steps after the checkpoint were
bit-identical to the old settings') while the new settings were recorded as used; a damaged newest
checkpoint stopped the resume with a safetensors traceback although the previous one was intact.
"""

from __future__ import annotations

import itertools

import datasets
import pytest
import torch

from versebert.training.mlm import MlmTrainer, list_checkpoints
from versebert.training.resume import ChangedSettingsError

from .test_training_mlm import corpus, reset_accelerate, state_of, tokenizer, train  # noqa: F401 (fixtures)


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    yield
    reset_accelerate()


def interrupt_after(monkeypatch, batches: int) -> None:
    """Make the next run die (as a KeyboardInterrupt) before micro-batch ``batches + 1``."""
    original, calls = MlmTrainer.train_batch, itertools.count(1)

    def train_batch(self, batch):
        if next(calls) > batches:
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(MlmTrainer, "train_batch", train_batch)


@pytest.fixture
def interrupted(tmp_path, tokenizer, corpus, monkeypatch):  # noqa: F811 (fixtures)
    """A run of 20 steps (checkpoints every 4, the newest 2 kept) killed in step 11: step-4 and step-8 exist."""
    with monkeypatch.context() as patch:
        interrupt_after(patch, 10)
        with pytest.raises(KeyboardInterrupt):
            train(tmp_path, tokenizer, corpus, name="interrupted")
    run = tmp_path / "interrupted"
    assert [path.name for path in list_checkpoints(run / "checkpoints")] == ["step-00000004", "step-00000008"]
    return run


@pytest.fixture
def reference(tmp_path, tokenizer, corpus):  # noqa: F811 (fixtures)
    _, model_dir = train(tmp_path, tokenizer, corpus, name="reference")
    return state_of(model_dir)


def assert_same_weights(model_dir, expected):
    found = state_of(model_dir)
    assert found.keys() == expected.keys()
    assert all(torch.equal(found[name], expected[name]) for name in expected)


def test_a_changed_learning_rate_is_refused_naming_the_key_and_restart(interrupted, tmp_path, tokenizer, corpus):  # noqa: F811
    with pytest.raises(ChangedSettingsError) as failure:
        train(tmp_path, tokenizer, corpus, name="interrupted", resume=True, learning_rate=1e-5)
    message = str(failure.value)
    assert "\n" not in message
    assert "step-00000008 was saved with other settings: mlm.learning_rate: 0.003 → 1e-05." in message
    assert "--restart" in message
    assert not (interrupted / "model").exists()
    assert [path.name for path in list_checkpoints(interrupted / "checkpoints")] == ["step-00000004", "step-00000008"]


def test_other_training_sequences_are_refused(interrupted, tmp_path, tokenizer, corpus):  # noqa: F811
    """Same settings, but a rebuilt corpus (another tokenizer or cleaning rule): not the same run."""
    rows = corpus["train"]["input_ids"]
    changed = datasets.DatasetDict(
        train=datasets.Dataset.from_dict({"input_ids": [rows[1], rows[0], *rows[2:]]}), validation=corpus["validation"]
    )
    with pytest.raises(ChangedSettingsError, match=r"other settings: sequences\.train: \"[0-9a-f]{16}\" → \""):
        train(tmp_path, tokenizer, changed, name="interrupted", resume=True)


def test_bookkeeping_changes_resume_to_the_uninterrupted_weights(
    interrupted, reference, tmp_path, tokenizer, corpus, capsys  # noqa: F811
):
    capsys.readouterr()
    _, model_dir = train(
        tmp_path, tokenizer, corpus, name="interrupted", resume=True, save_every=5, log_every=3, keep_last=3
    )
    assert "resuming with changed bookkeeping settings: mlm.keep_last: 2 → 3, mlm.log_every: 1 → 3" in (
        capsys.readouterr().out
    )
    assert_same_weights(model_dir, reference)


def test_a_damaged_newest_checkpoint_is_set_aside_and_the_previous_one_resumed(
    interrupted, reference, tmp_path, tokenizer, corpus, capsys  # noqa: F811
):
    weights = interrupted / "checkpoints" / "step-00000008" / "model.safetensors"
    damaged = weights.read_bytes()[: weights.stat().st_size // 2]  # a copy cut short
    weights.write_bytes(damaged)
    capsys.readouterr()
    _, model_dir = train(tmp_path, tokenizer, corpus, name="interrupted", resume=True)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("checkpoint ")]
    assert lines == [
        f"checkpoint {weights.parent} is damaged (model.safetensors does not match its recorded SHA-256): "
        "moved it to damaged-step-00000008; resuming from step-00000004"
    ]
    aside = interrupted / "checkpoints" / "damaged-step-00000008" / "model.safetensors"
    assert aside.read_bytes() == damaged  # kept for inspection, not deleted
    assert_same_weights(model_dir, reference)


def test_a_fresh_run_never_mixes_into_an_earlier_run_s_checkpoints(interrupted, tmp_path, tokenizer, corpus):  # noqa: F811
    with pytest.raises(Exception, match="already holds checkpoints of a run; resume it, or rerun with --restart"):
        train(tmp_path, tokenizer, corpus, name="interrupted")


def test_a_full_disk_while_saving_a_checkpoint_is_one_line_and_keeps_the_previous_one(
    tmp_path, tokenizer, corpus, monkeypatch  # noqa: F811
):
    """torch reports a full disk as "unexpected pos 7680 vs 7572"; the user must read "no space left"."""
    from accelerate import Accelerator

    from versebert.atomic import FilesystemError

    original, calls = Accelerator.save_state, itertools.count(1)

    def save_state(self, output_dir=None, **kwargs):
        if next(calls) == 2:
            original(self, output_dir, **kwargs)  # files half there, then the disk is full
            raise RuntimeError("[enforce fail at inline_container.cc:603] . unexpected pos 7680 vs 7572")
        return original(self, output_dir, **kwargs)

    monkeypatch.setattr(Accelerator, "save_state", save_state)
    with pytest.raises(FilesystemError) as failure:
        train(tmp_path, tokenizer, corpus)
    message, checkpoints = str(failure.value), tmp_path / "run" / "checkpoints"
    assert "\n" not in message
    expected = f"saving the checkpoint {checkpoints / 'step-00000008'} failed, most likely no space left on device"
    assert message.startswith(expected)
    assert [path.name for path in checkpoints.iterdir()] == ["step-00000004"]  # the partial save is gone


def test_restart_discards_the_interrupted_run_and_trains_it_afresh(interrupted, reference, tmp_path, tokenizer, corpus):  # noqa: F811
    from versebert.training.resume import discard_run

    discard_run(interrupted)
    _, model_dir = train(tmp_path, tokenizer, corpus, name="interrupted", learning_rate=3e-3)
    assert_same_weights(model_dir, reference)


def test_the_pretrain_script_passes_restart_and_refuses_it_with_resume(tmp_path, monkeypatch):
    import importlib.util
    from pathlib import Path

    from versebert.training import mlm

    script = Path(__file__).resolve().parents[1] / "train" / "pretrain_mlm.py"
    spec = importlib.util.spec_from_file_location("pretrain_mlm", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    seen = {}
    monkeypatch.setattr(mlm, "pretrain_from_preset", lambda preset, **kwargs: seen.update(kwargs) or tmp_path)
    monkeypatch.setattr("accelerate.PartialState.print", lambda self, *args: None)
    assert module.main(["--config", "tiny", "--output-dir", str(tmp_path), "--restart"]) == 0
    assert seen["restart"] is True and seen["resume"] is False
    with pytest.raises(SystemExit):
        module.main(["--config", "tiny", "--output-dir", str(tmp_path), "--restart", "--resume"])
