"""The pipeline's stage bookkeeping: skip what is done, resume after a crash, redo what changed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from versebert.errors import UserError
from versebert.orchestration.pipeline import Pipeline, PipelineConfig, Stage, StageFailed

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "openbible"


class FakeStages(Pipeline):
    """The real orchestration with stages that only write a file (and can be told to fail)."""

    def __init__(self, config, settings, fail_at=None, fail_at_user_error=None):
        super().__init__(config)
        self.settings, self.fail_at, self.calls = settings, fail_at, []
        self.fail_at_user_error = fail_at_user_error

    def stages(self):
        return [self._stage(name) for name in ("a", "b", "c")]

    def _stage(self, name):
        output = self.layout.root / name / "done.txt"

        def run():
            self.calls.append(name)
            if name == self.fail_at:
                raise RuntimeError("crash\n  with a second line")
            if name == self.fail_at_user_error:
                raise UserError("the user must fix this")
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(name)

        return Stage(name, lambda: self.settings[name], run, lambda: output, lambda: [output.parent])


@pytest.fixture
def config(tmp_path):
    if not SHARED.is_dir():
        pytest.skip("../shared/data/openbible is not beside the repository")
    return PipelineConfig(
        preset="tiny",
        output=tmp_path / "run",
        train_topics=SHARED / "topic-votes.train.tsv",
        dev_topics=SHARED / "topic-votes.dev.tsv",
    )


def test_finished_stages_are_skipped(config):
    settings = {"a": 1, "b": 1, "c": 1}
    FakeStages(config, settings).run()
    again = FakeStages(config, settings)
    report = again.run()
    assert again.calls == [] and report.skipped == ["a", "b", "c"]


def test_a_crash_resumes_at_the_failed_stage(config):
    settings = {"a": 1, "b": 1, "c": 1}
    with pytest.raises(StageFailed):
        FakeStages(config, settings, fail_at="b").run()
    resumed = FakeStages(config, settings)
    resumed.run()
    assert resumed.calls == ["b", "c"]


def test_a_crash_is_one_line_naming_the_stage_with_the_traceback_in_the_run_log(config):
    with pytest.raises(StageFailed) as failure:
        FakeStages(config, {"a": 1, "b": 1, "c": 1}, fail_at="b").run()
    message = str(failure.value)
    assert "\n" not in message
    assert message.startswith("stage b failed: RuntimeError: crash (full traceback in ")
    assert "rerun the same command" in message
    log = (config.output / "pipeline.log").read_text()
    assert "stage b failed" in log and "Traceback (most recent call last)" in log and "with a second line" in log


def test_a_user_error_in_a_stage_keeps_its_message_and_names_the_stage(config):
    with pytest.raises(StageFailed, match="^stage c: the user must fix this$"):
        FakeStages(config, {"a": 1, "b": 1, "c": 1}, fail_at_user_error="c").run()


def test_the_command_line_prints_a_stage_crash_as_one_line(config, monkeypatch, capsys):
    from versebert import cli

    monkeypatch.setattr(Pipeline, "stages", lambda self: [FakeStages._stage(self, "a")])
    monkeypatch.setattr(Pipeline, "settings", {"a": 1}, raising=False)
    monkeypatch.setattr(Pipeline, "calls", [], raising=False)
    monkeypatch.setattr(Pipeline, "fail_at", "a", raising=False)
    monkeypatch.setattr(Pipeline, "fail_at_user_error", None, raising=False)
    code = cli.main(["train", "--preset", "tiny", "--output", str(config.output),
                     "--train-topics", str(config.train_topics), "--dev-topics", str(config.dev_topics)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("versebert train: error: stage a failed: RuntimeError: crash")


def test_changed_settings_redo_that_stage_and_everything_after(config):
    FakeStages(config, {"a": 1, "b": 1, "c": 1}).run()
    stale = config.output / "c" / "stale.txt"
    stale.write_text("from the old settings")
    changed = FakeStages(config, {"a": 1, "b": 2, "c": 1})
    changed.run()
    assert changed.calls == ["b", "c"]
    assert not stale.exists(), "work of the old settings must be discarded"


def test_a_deleted_output_reruns_its_stage(config):
    settings = {"a": 1, "b": 1, "c": 1}
    FakeStages(config, settings).run()
    (config.output / "c" / "done.txt").unlink()
    rerun = FakeStages(config, settings)
    rerun.run()
    assert rerun.calls == ["c"]


def test_missing_topic_votes_file_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="topic votes"):
        PipelineConfig(preset="tiny", output=tmp_path, train_topics=tmp_path / "nope.tsv")


def test_a_wrong_warm_start_checkpoint_fails_before_any_stage_runs(config, tmp_path):
    with pytest.raises(UserError, match="--init-from .*no such directory"):
        dataclasses.replace(config, init_from=tmp_path / "no-such-checkpoint")
    with pytest.raises(UserError, match="no such directory"):  # the preset's mlm.init_from
        Pipeline(dataclasses.replace(config, overrides=(f"mlm.init_from={tmp_path / 'nowhere'}",)))
    assert not config.output.exists()


@pytest.mark.parametrize(
    ("preset", "flag", "expected"),
    [("tiny", None, False), ("mini", None, True), ("tiny", True, True), ("mini", False, False)],
)
def test_the_peer_rows_follow_the_preset_unless_the_flag_says_otherwise(config, preset, flag, expected):
    pipeline = Pipeline(dataclasses.replace(config, preset=preset, include_peer=flag))
    assert pipeline.include_peer is expected
    evaluation = next(stage for stage in pipeline.stages() if stage.name == "evaluation")
    assert expected in evaluation.settings(), "a changed peer choice must rerun the evaluation"


def test_the_distillation_stage_runs_between_mlm_and_stage_a_when_enabled(config, monkeypatch):
    without = Pipeline(dataclasses.replace(config, overrides=("distillation.enabled=false",)))
    assert "distillation" not in [stage.name for stage in without.stages()]
    overrides = ("distillation.enabled=true", "translation_pairs.enabled=true")
    pipeline = Pipeline(dataclasses.replace(config, overrides=overrides))
    names = [stage.name for stage in pipeline.stages()]
    assert names[names.index("mlm") + 1] == "distillation" and names[names.index("mlm") + 2] == "translation-pairs"
    started_from = []
    monkeypatch.setattr(Pipeline, "contrastive", lambda self, stage, model, output: started_from.append((stage, model)))
    next(stage for stage in pipeline.stages() if stage.name == "translation-pairs").run()
    assert started_from == [("translation_pairs", pipeline.layout.distilled)]


def test_without_stage_a_stage_b_starts_from_the_distilled_model(config, monkeypatch):
    overrides = ("distillation.enabled=true", "translation_pairs.enabled=false")
    pipeline = Pipeline(dataclasses.replace(config, overrides=overrides))
    names = [stage.name for stage in pipeline.stages()]
    assert "translation-pairs" not in names and names[names.index("distillation") + 1] == "query-pairs"
    started_from = []
    monkeypatch.setattr(Pipeline, "contrastive", lambda self, stage, model, output: started_from.append((stage, model)))
    next(stage for stage in pipeline.stages() if stage.name == "query-pairs").run()
    assert started_from == [("query_pairs", pipeline.layout.distilled)]
    overrides = ("distillation.enabled=false", "translation_pairs.enabled=false")
    without_a = Pipeline(dataclasses.replace(config, overrides=overrides))
    next(stage for stage in without_a.stages() if stage.name == "query-pairs").run()
    assert started_from[-1] == ("query_pairs", without_a.layout.mlm)


def test_stage_a_enabled_must_be_a_boolean(config):
    with pytest.raises(UserError, match="translation_pairs.enabled must be true or false"):
        Pipeline(dataclasses.replace(config, overrides=("translation_pairs.enabled=maybe",)))


def test_teacher_tuning_runs_stage_b_on_the_teacher_and_distillation_learns_from_its_output(config, monkeypatch):
    from versebert.training.distillation import teacher_directory

    pipeline = Pipeline(dataclasses.replace(
        config, overrides=("distillation.enabled=true", "distillation.teacher_tuning_epochs=0.5")))
    names = [stage.name for stage in pipeline.stages()]
    assert names[names.index("mlm") + 1:names.index("mlm") + 3] == ["teacher-tuning", "distillation"]
    calls = []
    monkeypatch.setattr(Pipeline, "contrastive", lambda self, stage, model, output: calls.append(
        (stage, model, output, self.stage_settings(stage))))
    for name in ("teacher-tuning", "distillation"):
        next(stage for stage in pipeline.stages() if stage.name == name).run()
    (tuning, model, output, settings), distillation = calls
    stage_b = pipeline.preset.query_pairs
    teacher = teacher_directory("all-MiniLM-L6-v2")
    assert (tuning, model, output) == ("teacher_tuning", teacher, pipeline.layout.tuned_teacher)
    assert settings == dataclasses.replace(stage_b, training=dataclasses.replace(stage_b.training, epochs=0.5)), \
        "the teacher is tuned with stage B's settings, for the tuning's epochs"
    assert distillation[:3] == ("distillation", pipeline.layout.mlm, pipeline.layout.distilled)
    assert distillation[3].teacher == str(pipeline.layout.tuned_teacher) and not distillation[3].teacher_tuning_epochs

    untuned = Pipeline(dataclasses.replace(config, overrides=("distillation.enabled=true",)))
    assert "teacher-tuning" not in [stage.name for stage in untuned.stages()]
    assert untuned.stage_settings("distillation").teacher == "all-MiniLM-L6-v2"

