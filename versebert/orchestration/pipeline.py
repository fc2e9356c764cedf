"""The main job: data check → tokenizer + MLM → teacher tuning and distillation (when enabled) →
stage A (unless disabled) → stage B → search index (with the model's fusion weights) → evaluation →
model card.

Each stage records a marker (``stages/<name>.json``) holding a fingerprint of the settings it ran
with. A stage whose marker matches and whose output exists is skipped, so an interrupted pipeline
resumes where it stopped; a stage interrupted mid-training resumes from its own checkpoints. Changing
a stage's settings reruns it and every stage after it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic import filesystem_error, write_json_atomically, write_text_atomically
from ..conventions import work_dir_for
from ..errors import UserError
from .run_layout import RunLayout

logger = logging.getLogger(__name__)

DEFAULT_TOPICS_DIR = Path("../shared/data/openbible")


@dataclass(frozen=True)
class PipelineConfig:
    """Everything the main job needs besides the preset's own settings."""

    preset: str
    output: Path
    train_topics: Path = DEFAULT_TOPICS_DIR / "topic-votes.train.tsv"
    dev_topics: Path = DEFAULT_TOPICS_DIR / "topic-votes.dev.tsv"
    overrides: tuple[str, ...] = ()
    init_from: str | None = None  # a BERT checkpoint directory or a known name (all-MiniLM-L6-v2)
    include_peer: bool | None = None  # None: the preset's ``evaluation.include_peer``
    repo_id: str | None = None
    restart: bool = False  # discard the partial work (checkpoints) of the stages that run, instead of resuming

    def __post_init__(self):
        for name in ("output", "train_topics", "dev_topics"):
            object.__setattr__(self, name, Path(getattr(self, name)))
        for name in ("train_topics", "dev_topics"):
            path = getattr(self, name)
            if not path.is_file():
                raise UserError(
                    f"--{name.replace('_', '-')} {path} not found: download the OpenBible.info topic votes "
                    "(www.openbible.info/topics) and pass the file's path"
                )
        if self.init_from is not None:
            from ..training.warm_start import resolve_warm_start

            object.__setattr__(self, "init_from", str(self.init_from))
            resolve_warm_start(self.init_from)  # a wrong path fails now, not after the data check


class StageFailed(UserError):
    """A pipeline stage raised: one line for the terminal, the traceback in the run's ``pipeline.log``."""


@dataclass
class Stage:
    name: str
    settings: Callable[[], object]  # what the stage's output depends on
    run: Callable[[], None]
    output: Callable[[], Path]
    work: Callable[[], list[Path]] = list  # derived directories to discard when the settings change


@dataclass
class PipelineReport:
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def _fingerprint(value: object) -> str:
    return hashlib.sha256(json.dumps(_plain(value), sort_keys=True, default=str).encode()).hexdigest()[:16]


def _plain(value: object) -> object:
    """Typed settings as JSON-able data: dataclasses become their fields, recursively."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _read_marker(path: Path) -> dict:
    """A stage's marker; an unreadable one (cut short by an older, non-atomic write) counts as a
    stage finished with unknown settings, so the stage is redone rather than the run stopped."""
    if not path.exists():
        return {}
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"fingerprint": None}
    return recorded if isinstance(recorded, dict) else {"fingerprint": None}


class Pipeline:
    def __init__(self, config: PipelineConfig):
        from ..training.config import load_preset

        self.config = config
        self.layout = RunLayout(config.output)
        self.preset = load_preset(config.preset, config.overrides)
        self.include_peer = (
            self.preset.evaluation.include_peer if config.include_peer is None else config.include_peer
        )
        if config.init_from is None and self.preset.mlm.init_from is not None:
            from ..training.warm_start import resolve_warm_start

            resolve_warm_start(self.preset.mlm.init_from)  # a wrong checkpoint fails before the data check

    # -- stage bodies ------------------------------------------------------------------------

    def data_check(self) -> None:
        from ..commands.data import format_report
        from ..data.validation import default_report

        # The same report `exclude_flagged` uses, so what is printed is exactly what training drops.
        report = default_report()
        self.layout.root.mkdir(parents=True, exist_ok=True)
        write_text_atomically(self.layout.data_report, report.to_json(indent=2))
        print(format_report(report))
        print(f"flagged verses are excluded from training pairs; the full report is in {self.layout.data_report}")

    def mlm(self) -> None:
        from ..training.mlm import list_checkpoints, pretrain_from_preset

        resume = bool(list_checkpoints(self.layout.mlm_run / "checkpoints"))
        pretrain_from_preset(
            self.preset,
            output_dir=self.layout.mlm_run,
            model_dir=self.layout.mlm,
            tokenizer_dir=self.layout.tokenizer,
            resume=resume,
            init_from=self.config.init_from,
        )

    def stage_settings(self, stage: str):
        """The typed settings ``stage`` trains with: its preset section, except that ``teacher_tuning`` is
        the preset's :attr:`~Preset.teacher_tuning`, and distillation then learns from its output."""
        from ..training.contrastive import stage_config

        if stage == "teacher_tuning":
            return self.preset.teacher_tuning
        if stage == "distillation" and self.preset.teacher_tuning is not None:
            return dataclasses.replace(
                self.preset.distillation, teacher=str(self.layout.tuned_teacher), teacher_tuning_epochs=0.0
            )
        return stage_config(stage, self.preset)

    def tune_teacher(self) -> None:
        from ..training.distillation import teacher_directory

        teacher = teacher_directory(self.preset.distillation.teacher)
        self.contrastive("teacher_tuning", teacher, self.layout.tuned_teacher)

    def contrastive(self, stage: str, model: Path, output: Path) -> None:
        from transformers.trainer_utils import get_last_checkpoint

        from ..training.contrastive import load_stage_data, train_stage

        config = self.stage_settings(stage)
        data = load_stage_data(config, dev_topics=self.config.dev_topics, train_topics=self.config.train_topics)
        checkpoints = work_dir_for(output) / "checkpoints"
        resume = checkpoints.is_dir() and get_last_checkpoint(str(checkpoints)) is not None
        result = train_stage(config, data, model=model, output=output, resume=resume)
        print(f"{stage}: before {result.before}\n{stage}: after  {result.after}")

    @property
    def display_translation(self) -> str:
        """The translation searched and shown: stage B's dev evaluation, fusion weights and evaluation."""
        return self.preset.display_translation

    def search_index(self) -> None:
        """The final model's index with every signal (joined BM25 over the whole Bibles, dense over the
        display translation, verse prior and topic memory from the *train* topics), for ``versebert
        search --index``, and the model's fusion weights chosen for it on the dev topics."""
        from ..data.cache import cache_dir
        from ..evaluation.fusion_tuning import tune_model_fusion

        # The evaluation's cache: the index built here is the one it ranks with.
        index, weights = tune_model_fusion(self.layout.model, self.display_translation, self.config.train_topics,
                                           self.config.dev_topics, index_cache=cache_dir("indexes"))
        sweep = ", ".join(f"{weight:g}: {ndcg:.4f}" for weight, ndcg in weights.sweep.items())
        print(f"fusion weights chosen on {weights.chosen_on}: {weights.as_mapping()} "
              f"(NDCG@10 {weights.tuned_ndcg:.4f}, equal weights {weights.equal_ndcg:.4f}); "
              f"NDCG@10 by dense weight: {sweep}")
        index.save(self.layout.index)

    def evaluation(self) -> None:
        from ..data.cache import cache_dir
        from ..evaluation.cloze import format_report, probe_checkpoint
        from ..evaluation.harness import RetrievalEvalConfig, evaluate_retrieval
        from ..evaluation.report import to_markdown, write_report

        report = evaluate_retrieval(
            RetrievalEvalConfig(
                judgments=self.config.dev_topics,
                translation=self.display_translation,
                models=(self.layout.model,),
                include_peer=self.include_peer,
                # Machine-wide, keyed by corpus and model content: the peer's index (minutes to embed
                # the Bible with all-MiniLM-L6-v2) is built once, not in every run.
                index_cache=cache_dir("indexes"),
                knowledge=self.config.train_topics,  # prior and memory from train, evaluated on dev
            )
        )
        write_report(report, self.layout.evaluation, stem="retrieval")
        cloze = probe_checkpoint(self.layout.mlm)
        write_json_atomically(self.layout.evaluation / "cloze.json", dataclasses.asdict(cloze))
        print(to_markdown(report))
        print(format_report(cloze))

    def model_card(self) -> None:
        from .model_card import write_model_card
        from .model_card_facts import facts_from_run

        write_model_card(facts_from_run(self.layout, self.preset, repo_id=self.config.repo_id), self.layout.model_card)

    # -- orchestration -----------------------------------------------------------------------

    def stages(self) -> list[Stage]:
        preset, layout = self.preset, self.layout
        distilled, aligned = preset.distillation.enabled, preset.translation_pairs.enabled
        stage_a_start = layout.distilled if distilled else layout.mlm
        stage_b_start = layout.translation_pairs if aligned else stage_a_start
        teacher_tuning = Stage(
            "teacher-tuning",
            lambda: [preset.teacher_tuning, preset.distillation.teacher,
                     str(self.config.train_topics), str(self.config.dev_topics)],
            self.tune_teacher,
            lambda: layout.tuned_teacher,
            lambda: [layout.tuned_teacher, work_dir_for(layout.tuned_teacher)],
        )
        distillation = Stage(
            "distillation",
            lambda: [preset.distillation, str(self.config.train_topics), str(self.config.dev_topics)],
            lambda: self.contrastive("distillation", layout.mlm, layout.distilled),
            lambda: layout.distilled,
            lambda: [layout.distilled, work_dir_for(layout.distilled)],
        )
        translation_pairs = Stage(
            "translation-pairs",
            lambda: preset.translation_pairs,
            lambda: self.contrastive("translation_pairs", stage_a_start, layout.translation_pairs),
            lambda: layout.translation_pairs,
            lambda: [layout.translation_pairs, work_dir_for(layout.translation_pairs)],
        )
        return [
            Stage("data-check", lambda: None, self.data_check, lambda: layout.data_report),
            Stage(
                "mlm",
                lambda: {k: preset.section(k) for k in ("model", "tokenizer", "data", "mlm")}
                | {"init": self.config.init_from},
                self.mlm,
                lambda: layout.mlm,
                lambda: [layout.tokenizer, layout.mlm_run, layout.mlm],
            ),
            # after the MLM (a changed teacher tuning reruns only what follows it, not the MLM)
            *([teacher_tuning] if preset.teacher_tuning is not None else []),
            *([distillation] if distilled else []),
            *([translation_pairs] if aligned else []),
            Stage(
                "query-pairs",
                lambda: [preset.query_pairs, str(self.config.train_topics), str(self.config.dev_topics)],
                lambda: self.contrastive("query_pairs", stage_b_start, layout.model),
                lambda: layout.model,
                lambda: [layout.model, work_dir_for(layout.model)],
            ),
            Stage(
                "search-index",
                lambda: [str(self.config.dev_topics), self.display_translation],
                self.search_index,
                lambda: layout.index,
                lambda: [layout.index],
            ),
            Stage(
                "evaluation",
                lambda: [str(self.config.dev_topics), self.include_peer],
                self.evaluation,
                lambda: layout.retrieval_report,
                lambda: [layout.evaluation],
            ),
            Stage("model-card", lambda: self.config.repo_id, self.model_card, lambda: layout.model_card),
        ]

    def _run_stage(self, stage: Stage) -> None:
        """Run one stage; a failure becomes :class:`StageFailed` naming the stage, its cause and the log.

        A user's mistake (:class:`UserError`) already says what to do. Anything else is unexpected:
        its traceback goes to the run's log, and the terminal learns that finished stages are kept.
        """
        try:
            stage.run()
        except UserError as error:
            self._log_failure(stage, error)
            raise StageFailed(f"stage {stage.name}: {error}") from error
        except Exception as error:  # noqa: BLE001 (reported in one line; the traceback is in the log)
            log = self._log_failure(stage, error)
            full_disk = filesystem_error(error, getattr(error, "filename", None) or stage.output())
            if full_disk is not None:  # a write deep inside a library: still the user's to fix
                raise StageFailed(f"stage {stage.name}: {full_disk} (full traceback in {log})") from error
            cause = str(error).strip().splitlines()[0] if str(error).strip() else "(no message)"
            raise StageFailed(
                f"stage {stage.name} failed: {type(error).__name__}: {cause} (full traceback in {log}). "
                "Fix the cause and rerun the same command: finished stages are kept, and this one resumes "
                "from its newest checkpoint."
            ) from error

    def _log_failure(self, stage: Stage, error: BaseException) -> Path:
        log = self.layout.pipeline_log
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} stage {stage.name} failed (pid {os.getpid()})\n")
            handle.write("".join(traceback.format_exception(error)))
        return log

    def _marker(self, stage: Stage) -> Path:
        return self.layout.root / "stages" / f"{stage.name}.json"

    def run(self) -> PipelineReport:
        report = PipelineReport()
        upstream = ""  # a rerun stage invalidates everything after it
        for stage in self.stages():
            fingerprint = _fingerprint([upstream, stage.settings()])
            marker = self._marker(stage)
            recorded = _read_marker(marker)
            if recorded.get("fingerprint") == fingerprint and stage.output().exists():
                print(f"[{stage.name}] done before, skipped ({stage.output()})")
                report.skipped.append(stage.name)
            else:
                if recorded or self.config.restart:
                    # finished before with other settings or inputs, or --restart: discard its partial work
                    why = "--restart" if self.config.restart else "settings or inputs changed since the last run"
                    print(f"[{stage.name}] {why}: starting it over")
                    for directory in stage.work():
                        shutil.rmtree(directory, ignore_errors=True)
                print(f"[{stage.name}] running")
                marker.unlink(missing_ok=True)
                start = time.perf_counter()
                self._run_stage(stage)
                report.seconds[stage.name] = round(time.perf_counter() - start, 1)
                marker.parent.mkdir(parents=True, exist_ok=True)
                write_json_atomically(marker, {"fingerprint": fingerprint, "seconds": report.seconds[stage.name]})
                report.ran.append(stage.name)
            upstream = fingerprint
        return report
