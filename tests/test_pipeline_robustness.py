"""``versebert train`` under faults: bad settings and unusable outputs fail before any stage runs, a
full disk is one line naming the file, records are never left half-written, and ``--restart``
starts a stage over instead of resuming it."""

from __future__ import annotations

import errno
import json
import os

import pytest

from versebert import atomic, cli
from versebert.evaluation.harness import RetrievalEvalReport, SystemResult
from versebert.evaluation.report import write_report
from versebert.orchestration.pipeline import Pipeline, Stage, StageFailed

from .test_pipeline import FakeStages, config  # noqa: F401 (fixture)


def train_command(config, *extra):  # noqa: F811
    return ["train", "--preset", "tiny", "--output", str(config.output),
            "--train-topics", str(config.train_topics), "--dev-topics", str(config.dev_topics), *extra]  # fmt: skip


@pytest.fixture
def no_stage_may_run(monkeypatch):
    """Any stage that starts fails the test: the error must come first."""

    def stages(self):
        pytest.fail("a stage ran although the command should have been refused")

    monkeypatch.setattr(Pipeline, "stages", stages)


def test_an_unknown_stage_b_setting_fails_before_any_stage_naming_it(config, capsys, no_stage_may_run):  # noqa: F811
    code = cli.main(train_command(config, "--set", "query_pairs.training.bogus=1"))
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("versebert train: error: ") and "query_pairs.training.bogus" in err
    assert not config.output.exists()


def test_an_output_that_is_a_file_is_one_line_before_any_stage(config, capsys, no_stage_may_run):  # noqa: F811
    config.output.write_text("I am a file")
    code = cli.main(train_command(config))
    assert code == 2
    assert capsys.readouterr().err == f"versebert train: error: --output {config.output} is a file, not a directory\n"


def test_a_read_only_output_is_one_line_before_any_stage(config, capsys, no_stage_may_run):  # noqa: F811
    config.output.mkdir()
    config.output.chmod(0o555)
    try:
        if os.access(config.output, os.W_OK):
            pytest.skip("running as root: a read-only mode does not stop writes")
        code = cli.main(train_command(config))
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1
        assert err == f"versebert train: error: permission denied writing into --output {config.output}\n"
    finally:
        config.output.chmod(0o755)


def test_a_read_only_file_system_under_output_is_one_line(config, capsys, monkeypatch, no_stage_may_run):  # noqa: F811
    """The same through an injected EROFS, which also holds for root (a mode bit does not stop root)."""

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(atomic.os, "open", read_only)
    code = cli.main(train_command(config))
    assert code == 2
    expected = f"versebert train: error: read-only file system writing into --output {config.output}\n"
    assert capsys.readouterr().err == expected


class PartialWork(FakeStages):
    """Stage ``a`` leaves partial work (as a crashed training leaves checkpoints) before finishing."""

    def _stage(self, name):
        stage = super()._stage(name)
        partial = self.layout.root / name / "checkpoint"

        def run():
            self.found_partial_work = partial.exists()
            partial.parent.mkdir(parents=True, exist_ok=True)
            partial.write_text("partial")
            stage.run()

        return Stage(name, stage.settings, run, stage.output, stage.work)


def test_restart_discards_the_partial_work_of_a_crashed_stage(config):  # noqa: F811
    import dataclasses

    settings = {"a": 1, "b": 1, "c": 1}
    with pytest.raises(StageFailed):
        PartialWork(config, settings, fail_at="b").run()
    resumed = PartialWork(config, settings, fail_at="b")
    with pytest.raises(StageFailed):
        resumed.run()
    assert resumed.found_partial_work, "without --restart the stage resumes from its partial work"
    restarted = PartialWork(dataclasses.replace(config, restart=True), settings)
    restarted.run()
    assert restarted.calls == ["b", "c"] and not restarted.found_partial_work


def test_a_full_disk_inside_a_stage_is_one_line_naming_the_file(config):  # noqa: F811
    class FullDisk(FakeStages):
        def stages(self):
            def run():
                raise OSError(errno.ENOSPC, "No space left on device", str(self.layout.root / "index" / "dense.npy"))

            return [Stage("search-index", lambda: 1, run, lambda: self.layout.root / "index")]

    with pytest.raises(StageFailed) as failure:
        FullDisk(config, {}).run()
    message = str(failure.value)
    assert "\n" not in message
    assert message.startswith(f"stage search-index: no space left on device writing {config.output}/index/dense.npy")


def test_a_marker_cut_short_by_an_old_crash_reruns_its_stage(config):  # noqa: F811
    settings = {"a": 1, "b": 1, "c": 1}
    FakeStages(config, settings).run()
    (config.output / "stages" / "b.json").write_text("")
    again = FakeStages(config, settings)
    again.run()
    assert again.calls == ["b"]
    assert json.loads((config.output / "stages" / "b.json").read_text())["fingerprint"]


def small_report(ndcg: float) -> RetrievalEvalReport:
    scores = {"ndcg@10": ndcg}
    system = SystemResult("bm25", "bm25", None, scores, {"ndcg@10": 1.0}, {"ndcg@10": False}, 0.1)
    judgments = {"topics": 2, "source": "dev.tsv", "judged_verses": 3, "skipped_rows": 0, "rule": {}}
    return RetrievalEvalReport(judgments, "WEB", 10, "bm25", "student", 0.05, ("ndcg@10",), (system,))


def test_a_full_disk_during_evaluation_keeps_the_previous_report_whole(tmp_path, monkeypatch):
    paths = write_report(small_report(0.5), tmp_path)
    before = {name: path.read_bytes() for name, path in paths.items()}
    monkeypatch.setattr(atomic.os, "write", lambda *args: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full")))
    with pytest.raises(atomic.FilesystemError) as failure:
        write_report(small_report(0.7), tmp_path)
    monkeypatch.undo()
    assert str(failure.value) == f"no space left on device writing {tmp_path / 'retrieval.json'}"
    assert {name: path.read_bytes() for name, path in paths.items()} == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["retrieval.json", "retrieval.md", "retrieval.png"]


def test_a_metrics_line_cut_short_by_a_kill_is_dropped_on_resume(tmp_path):
    """A process killed while appending leaves half a JSON line; the resumed run must still start."""
    from versebert.training.run_logging import RunLogger, read_metrics

    logs = tmp_path / "logs"
    logs.mkdir()
    lines = ['{"step": 1, "train/loss": 4.0}', '{"step": 2, "train/loss": 3.9}', '{"step": 3, "tr']
    (logs / "metrics.jsonl").write_text("\n".join(lines))
    RunLogger(logs, resume_step=2).close()
    assert [record["step"] for record in read_metrics(logs / "metrics.jsonl")] == [1, 2]
