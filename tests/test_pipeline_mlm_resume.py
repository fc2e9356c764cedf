"""The issue's scenario through the real pipeline: the MLM stage crashes after a checkpoint, the
rerun changes ``mlm.learning_rate``. It used to resume under the old rate and record the new one in
``stages/mlm.json``; now it stops with one line naming the key, and ``--restart`` starts it over."""

from __future__ import annotations

import dataclasses
import itertools
import json

import pytest

from versebert.orchestration.pipeline import Pipeline, PipelineConfig, StageFailed
from versebert.training.mlm import MlmTrainer, list_checkpoints

from .test_pipeline_end_to_end import MICRO, SHARED, _only_three_books

pytestmark = pytest.mark.slow


class UpToMlm(Pipeline):
    """The real data check and MLM stages, nothing after them."""

    def stages(self):
        return [stage for stage in super().stages() if stage.name in ("data-check", "mlm")]


def test_a_changed_learning_rate_after_a_crash_is_refused_and_restart_uses_it(tmp_path, monkeypatch):
    if not SHARED.is_dir():
        pytest.skip("../shared/data/openbible is not beside the repository")
    _only_three_books(monkeypatch, tmp_path)
    config = PipelineConfig(preset="tiny", output=tmp_path / "run", train_topics=SHARED / "topic-votes.train.tsv",
                            dev_topics=SHARED / "topic-votes.dev.tsv", overrides=MICRO)  # fmt: skip
    original, calls = MlmTrainer.train_batch, itertools.count(1)

    def killed_in_step_8(self, batch):
        if next(calls) == 8:
            raise KeyboardInterrupt
        return original(self, batch)

    with monkeypatch.context() as patch:
        patch.setattr(MlmTrainer, "train_batch", killed_in_step_8)
        with pytest.raises(KeyboardInterrupt):
            UpToMlm(config).run()
    checkpoints = config.output / "mlm-run" / "checkpoints"
    assert [path.name for path in list_checkpoints(checkpoints)] == ["step-00000006"]

    changed = dataclasses.replace(config, overrides=(*MICRO, "mlm.learning_rate=1e-5"))
    with pytest.raises(StageFailed) as failure:
        UpToMlm(changed).run()
    message = str(failure.value)
    assert message.startswith("stage mlm: ") and "\n" not in message
    assert "was saved with other settings: mlm.learning_rate: 0.001 → 1e-05." in message
    assert "--restart" in message
    assert not (config.output / "stages" / "mlm.json").exists(), "nothing may record settings that were not used"

    UpToMlm(dataclasses.replace(changed, restart=True)).run()
    assert (config.output / "stages" / "mlm.json").exists()
    state = json.loads((list_checkpoints(checkpoints)[-1] / "trainer_state.json").read_text())
    assert state["settings"]["mlm"]["learning_rate"] == 1e-5 and state["step"] == 12
