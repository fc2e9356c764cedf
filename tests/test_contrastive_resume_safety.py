"""A contrastive stage resumes only the run its checkpoints belong to (same settings, same starting
model, same data), as the MLM stage does; a bookkeeping change (logging, checkpoint rotation) resumes."""

from __future__ import annotations

import dataclasses

import pytest

from versebert.training.config import TranslationPairsConfig
from versebert.training.contrastive import resume_checkpoint, resume_settings, train_stage
from versebert.training.resume import ChangedSettingsError

from .test_contrastive import TOY_PROBE, mlm_checkpoint, tiny_training, toy_data  # noqa: F401 (fixtures)

CONFIG = TranslationPairsConfig(translations=("KJV", "WEB"), probe=TOY_PROBE, training=tiny_training(max_steps=1))


@pytest.fixture(scope="module")
def finished(mlm_checkpoint, toy_data, tmp_path_factory):  # noqa: F811
    return train_stage(CONFIG, toy_data, model=mlm_checkpoint, output=tmp_path_factory.mktemp("stage-a") / "model")


def with_training(**changes):
    return dataclasses.replace(CONFIG, training=dataclasses.replace(CONFIG.training, **changes))


def test_a_changed_learning_rate_is_refused_before_training(finished, toy_data, mlm_checkpoint):  # noqa: F811
    with pytest.raises(ChangedSettingsError) as failure:
        train_stage(with_training(learning_rate=1e-4), toy_data, model=mlm_checkpoint, output=finished.model_dir,
                    resume=True)  # fmt: skip
    message = str(failure.value)
    assert "\n" not in message and "--restart" in message
    assert "was saved with other settings: translation_pairs.training.learning_rate: 0.001 → 0.0001." in message


def test_another_starting_model_is_refused(finished, toy_data, tmp_path):  # noqa: F811
    other = tmp_path / "other-mlm"
    other.mkdir()
    (other / "config.json").write_text("{}")
    with pytest.raises(ChangedSettingsError, match="other settings: starting_model: "):
        resume_checkpoint(True, finished.work_dir / "checkpoints", resume_settings(CONFIG, toy_data, other))


def test_logging_and_rotation_changes_resume(finished, toy_data, mlm_checkpoint):  # noqa: F811
    settings = resume_settings(with_training(logging_steps=7, save_total_limit=5), toy_data, mlm_checkpoint)
    assert resume_checkpoint(True, finished.work_dir / "checkpoints", settings).endswith("checkpoint-1")
