"""Contrastive fine-tuning of the encoder into a search model: one runner, two pair sources.

The steps read like a sentence-transformers example, for both stages:

1. pairs: the stage's :class:`PairSource` builds a :class:`~.pairs.PairSet` (text pairs + batch keys);
2. arguments: batches from :class:`~.verse_batch_sampler.VerseAwareBatchSampler`, checkpoints every
   evaluation, the best one (by the stage's selection metric) restored at the end;
3. model: the previous checkpoint as a normalized mean-pooling SentenceTransformer;
4. loss: MultipleNegativesRankingLoss (cached for big batches on small memory; optionally symmetric);
5. evaluators: the translation probe and graded NDCG@10 on the dev topics, run before training;
6. train (resumable from the trainer's checkpoints);
7. save the restored best checkpoint as a SentenceTransformer with a fixed model card, and record its
   metrics next to the ones before training, with the curves.

Stage A (``translation_pairs``) selects its best checkpoint by probe accuracy, stage B
(``query_pairs``) by dev NDCG@10. Everything stage-specific lives in :data:`PAIR_SOURCES`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm
from transformers import TrainerCallback

from ..atomic import write_json_atomically
from ..conventions import (
    DEV_EVALUATOR,
    METRICS_BEFORE_FILE,
    METRICS_FILE,
    PROBE_ACCURACY,
    PROBE_EVALUATOR,
    dev_metric,
    work_dir_for,
)
from ..data.openbible import Judgments, load_judgments, topic_query_id, topic_verse_pairs, verse_doc_id
from ..errors import UserError
from .config import (
    STAGE_CONFIGS,
    ContrastiveTrainingConfig,
    DistillationConfig,
    Preset,
    QueryPairsConfig,
    StageConfig,
    TranslationPairsConfig,
)
from .contrastive_probe import ContrastiveProbeEvaluator, build_probe, held_out_verse_ids
from .hard_negatives import NegativeRule, mine_negatives
from .memory import release_freed_memory
from .pairs import (
    PairSet,
    VerseTexts,
    duplicate_verse_groups,
    overlapping_topic_pairs,
    query_pairs,
    translation_pairs,
)
from .precision import resolve_mixed_precision, uses_cuda
from .resume import discard_run
from .run_logging import RunLogger
from .sentence_model import build_sentence_model, save_sentence_model

# ---------------------------------------------------------------------------------------------
# Configuration: the preset sections ``translation_pairs`` and ``query_pairs`` (typed in config.py)


def stage_config(stage: str, preset: Preset) -> StageConfig:
    """The typed config of ``stage`` (a preset section name), validated when the preset was loaded."""
    if stage not in STAGE_CONFIGS:
        raise UserError(f"unknown stage {stage!r}; choose one of {', '.join(STAGE_CONFIGS)}")
    return getattr(preset, stage)


# ---------------------------------------------------------------------------------------------
# Data


@dataclass(frozen=True)
class StageData:
    """What a stage reads: verse texts per translation without the validator's flagged verses (for
    pairs and the probe), the whole display translation (the dev corpus, as the search index holds
    it), the dev judgments and, for stage B, the train judgments. Tests build it in memory."""

    texts: VerseTexts
    corpus: Mapping[int, str]
    dev: Judgments
    train: Judgments | None = None


def required_translations(config: StageConfig) -> list[str]:
    codes = [*config.translations, config.probe.source, config.probe.target]
    return list(dict.fromkeys(code.upper() for code in codes))


def load_verse_texts(codes: list[str]) -> dict[str, dict[int, str]]:
    """Cleaned verse texts of ``codes`` without the verses the data validator flagged."""
    from ..data.bible import load_verses
    from ..data.validation import exclude_flagged

    texts = {}
    for code in tqdm(codes, desc="loading translations"):
        texts[code] = exclude_flagged(code, {verse.verse_id: verse.text for verse in load_verses(code)})
    return texts


def load_stage_data(
    config: StageConfig, *, dev_topics: str | Path, train_topics: str | Path | None = None
) -> StageData:
    """Read the Bible texts and the topic votes a stage needs (``train_topics`` only for stage B)."""
    from ..data.bible import load_verses

    needs_train = isinstance(config, QueryPairsConfig) or (
        isinstance(config, DistillationConfig) and config.include_topics
    )
    if needs_train and train_topics is None:
        raise UserError(f"the {config.section} stage needs the train topic votes (--train-topics)")
    corpus = {verse.verse_id: verse.text for verse in load_verses(config.display_translation)}
    train = load_judgments(train_topics) if needs_train else None
    return StageData(load_verse_texts(required_translations(config)), corpus, load_judgments(dev_topics), train)


# ---------------------------------------------------------------------------------------------
# Pair sources: all that differs between the stages


def _translation_pair_set(config: TranslationPairsConfig, data: StageData) -> PairSet:
    every_verse = set().union(*(verses.keys() for verses in data.texts.values()))
    return translation_pairs(
        {code: data.texts[code] for code in config.translations},
        pairs_per_verse=config.pairs_per_verse,
        exclude_verse_ids=held_out_verse_ids(every_verse, config.probe.held_out_per_mille),
        seed=config.training.seed,
    )


def _query_pair_set(config: QueryPairsConfig, data: StageData) -> PairSet:
    if data.train is None:
        raise UserError("the query_pairs stage needs the train topic votes")
    chosen = topic_verse_pairs(data.train, min_votes=config.min_votes, max_per_topic=config.max_per_topic)
    judged = {topic: grades.keys() for topic, grades in data.train.qrels.items()}
    groups = duplicate_verse_groups(data.texts)
    topics = [pair.topic for pair in chosen]
    negatives = None
    if config.hard_negatives:
        rows_per_topic = max(Counter(topics).values()) * len(config.translations)
        rule = NegativeRule(
            per_topic=config.hard_negatives * rows_per_topic,
            depth=config.negative_depth,
            exclude_window=config.negative_exclude_window,
        )
        negatives = mine_negatives(topics, judged, data.corpus, rule, groups=groups)
    pairs_of_topics = (
        overlapping_topic_pairs(
            judged, min_overlap=config.topic_pair_min_overlap, max_per_topic=config.topic_pairs_per_topic
        )
        if config.topic_pairs
        else []
    )
    pairs = query_pairs(
        [(pair.topic, pair.verse_id) for pair in chosen],
        {code: data.texts[code] for code in config.translations},
        judged=judged if config.block_judged_negatives else None,
        groups=groups,
        negatives=negatives,
        negatives_per_row=config.hard_negatives,
        topic_pairs=pairs_of_topics,
    )
    if config.teacher is None:
        return pairs
    from .teacher_guidance import with_teacher_targets

    return with_teacher_targets(pairs, config.teacher, batch_size=config.training.eval_batch_size)


def _pair_loss(model, config: StageConfig, pairs: PairSet):
    if pairs.teacher_targets is None:
        return make_loss(model, config.training)
    from .teacher_guidance import make_teacher_guided_loss

    return make_teacher_guided_loss(
        model, weight=config.teacher_weight, temperature=config.teacher_temperature, **ranking_settings(config.training)
    )


def _distillation_set(config: DistillationConfig, data: StageData):
    from .distillation import build_distillation_set

    return build_distillation_set(config, data)


def _distillation_loss(model, config: DistillationConfig, rows):
    from .distillation import make_distillation_loss

    return make_distillation_loss(model, config, rows)


def _distillation_callbacks(loss, checkpoint: str | None) -> list:
    from .distillation import SaveProjection, restore_projection

    restore_projection(loss, checkpoint)
    return [SaveProjection(loss)] if loss.projection is not None else []


@dataclass(frozen=True)
class PairSource:
    """A stage: how it builds its rows and its loss, and which evaluator metric chooses its best
    checkpoint. ``callbacks`` (given the loss and the checkpoint resumed from) adds trainer callbacks
    for state the loss keeps outside the model."""

    name: str
    build: Callable[[StageConfig, StageData], PairSet]
    selection_metric: str
    description: str
    loss: Callable = _pair_loss
    callbacks: Callable | None = None


PAIR_SOURCES: dict[type, PairSource] = {
    DistillationConfig: PairSource(
        "distillation",
        _distillation_set,
        dev_metric("ndcg@10"),
        "verses, OpenBible.info train topics and verse clauses embedded by the teacher (embedding distillation)",
        loss=_distillation_loss,
        callbacks=_distillation_callbacks,
    ),
    TranslationPairsConfig: PairSource(
        "translation_pairs",
        _translation_pair_set,
        PROBE_ACCURACY,
        "the same verse in two public-domain English translations",
    ),
    QueryPairsConfig: PairSource(
        "query_pairs",
        _query_pair_set,
        dev_metric("ndcg@10"),
        "OpenBible.info topics (train split) and the verses people voted relevant",
    ),
}


# ---------------------------------------------------------------------------------------------
# Evaluation


def graded_information_retrieval_evaluator(queries, corpus, relevant_docs, **kwargs):
    """sentence-transformers' ``InformationRetrievalEvaluator`` with graded NDCG.

    The stock evaluator scores NDCG with binary gains; our judgments are graded (1..5 by votes), and the
    project's anchors (BM25 ≈ 0.095, all-MiniLM-L6-v2 ≈ 0.114 on dev) are graded NDCG@10 with linear
    gains (ranx's ``ndcg``), so the in-training number must be too. ``relevant_docs`` maps query id →
    {doc id: grade}; the other metrics (MRR, recall, ...) count every judged doc as relevant, as before.
    """
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    class GradedInformationRetrievalEvaluator(InformationRetrievalEvaluator):
        def compute_metrics(self, queries_result_list):
            scores = super().compute_metrics(queries_result_list)
            for k in self.ndcg_at_k:
                values = []
                for query_id, hits in zip(self.queries_ids, queries_result_list, strict=True):
                    grades = self.relevant_docs[query_id]
                    ranked = sorted(hits, key=lambda hit: (-hit["score"], hit["corpus_id"]))[:k]
                    gains = [grades.get(hit["corpus_id"], 0) for hit in ranked]
                    ideal = sorted(grades.values(), reverse=True)
                    values.append(self.compute_dcg_at_k(gains, k) / self.compute_dcg_at_k(ideal, k))
                scores["ndcg@k"][k] = float(sum(values) / len(values))
            return scores

    for query_id, grades in relevant_docs.items():
        if not isinstance(grades, Mapping) or any(grade <= 0 for grade in grades.values()):
            raise ValueError(f"relevant_docs[{query_id!r}] must map doc ids to positive grades")
    return GradedInformationRetrievalEvaluator(queries, corpus, relevant_docs, **kwargs)


def dev_evaluator(judgments: Judgments, corpus: Mapping[int, str], *, batch_size: int = 128):
    """Graded retrieval of the judged topics over ``corpus`` (verse id → text), with the ids of the
    BEIR export (judged verses missing from the corpus still count in the ideal ranking)."""
    queries = {topic_query_id(topic): topic for topic in judgments.qrels}
    relevant = {
        topic_query_id(topic): {verse_doc_id(verse_id): grade for verse_id, grade in grades.items()}
        for topic, grades in judgments.qrels.items()
    }
    return graded_information_retrieval_evaluator(
        queries,
        {verse_doc_id(verse_id): text for verse_id, text in sorted(corpus.items())},
        relevant,
        name=DEV_EVALUATOR,
        ndcg_at_k=[10],
        mrr_at_k=[10],
        accuracy_at_k=[10],
        precision_recall_at_k=[10, 100],
        map_at_k=[100],
        batch_size=batch_size,
        show_progress_bar=True,
        write_csv=False,
    )


def stage_evaluator(config: StageConfig, data: StageData):
    """The translation probe, then graded retrieval of the dev topics; the trainer logs both."""
    from sentence_transformers.base.evaluation.sequential import SequentialEvaluator

    probe = build_probe(data.texts[config.probe.source], data.texts[config.probe.target], config.probe)
    batch_size = config.training.eval_batch_size
    return SequentialEvaluator(
        [
            ContrastiveProbeEvaluator(probe, name=PROBE_EVALUATOR, batch_size=batch_size),
            dev_evaluator(data.dev, data.corpus, batch_size=batch_size),
        ]
    )


# ---------------------------------------------------------------------------------------------
# Training


def evaluation_identity(config: StageConfig, data: StageData) -> str:
    """A digest of what :func:`stage_evaluator`'s numbers depend on besides the model: the probe and
    its texts, the dev judgments, the corpus and the sequence length. Stages A and B share it when
    they share the probe and the display translation."""
    probe = config.probe
    value = {
        "probe": dataclasses.asdict(probe),
        "probe_texts": [sorted(data.texts[probe.source].items()), sorted(data.texts[probe.target].items())],
        "dev": sorted((topic, sorted(grades.items())) for topic, grades in data.dev.qrels.items()),
        "corpus": sorted(data.corpus.items()),
        "max_seq_length": config.training.max_seq_length,
    }
    return hashlib.sha256(json.dumps(value, default=str).encode()).hexdigest()[:16]


def model_digest(model_dir: Path) -> str:
    """A digest of every file of a saved model but its card: the weights, tokenizer and modules."""
    digest = hashlib.sha256()
    for path in sorted(item for item in Path(model_dir).rglob("*") if item.is_file() and item.name != "README.md"):
        digest.update(str(path.relative_to(model_dir)).encode())
        with path.open("rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()[:16]


def recorded_evaluation(model_dir: str | Path, identity: str) -> dict[str, float] | None:
    """The metrics a previous stage recorded for ``model_dir`` (its output) with the same evaluation,
    if the directory still holds exactly the model it saved; else ``None``.

    Stage B starts from stage A's output, and both evaluate over the whole display Bible (minutes on
    a CPU): stage B's "before" is stage A's "after", so it is not computed twice.
    """
    record_path = work_dir_for(model_dir) / METRICS_FILE
    if not record_path.is_file():
        return None
    record = json.loads(record_path.read_text(encoding="utf-8"))
    if record.get("evaluation") != identity or record.get("model_digest") != model_digest(Path(model_dir)):
        return None
    return record.get("after") or None


def ranking_settings(training: ContrastiveTrainingConfig) -> dict:
    """MultipleNegativesRankingLoss's scale and directions: one-directional, or symmetric with a softmax
    per direction."""
    directions = ("query_to_doc", "doc_to_query") if training.symmetric else ("query_to_doc",)
    partition_mode = "per_direction" if training.symmetric else "joint"
    return dict(scale=training.scale, directions=directions, partition_mode=partition_mode)


def make_loss(model, training: ContrastiveTrainingConfig):
    """MultipleNegativesRankingLoss, cached (GradCache) or not, one- or two-directional."""
    from sentence_transformers.sentence_transformer import losses

    common = ranking_settings(training)
    if training.loss == "cached_mnrl":
        return losses.CachedMultipleNegativesRankingLoss(model, mini_batch_size=training.mini_batch_size, **common)
    return losses.MultipleNegativesRankingLoss(model, **common)


def training_arguments(training: ContrastiveTrainingConfig, checkpoints: Path, pairs: PairSet, selection_metric: str):
    """Trainer arguments: verse-aware batches, a checkpoint at every evaluation, the best one restored.
    Curves go through :class:`RunLogger` (JSONL, TensorBoard, PNG), so the trainer reports nowhere."""
    from sentence_transformers.sentence_transformer.training_args import SentenceTransformerTrainingArguments

    precision = resolve_mixed_precision(training.mixed_precision)
    return SentenceTransformerTrainingArguments(
        output_dir=str(checkpoints),
        per_device_train_batch_size=training.batch_size,
        per_device_eval_batch_size=training.eval_batch_size,
        num_train_epochs=float(training.epochs),
        max_steps=training.max_steps or -1,
        learning_rate=training.learning_rate,
        weight_decay=training.weight_decay,
        warmup_steps=float(training.warmup),
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=not uses_cuda(),  # transformers refuses bf16 on a CPU unless told it is one
        batch_sampler=pairs.batch_sampler(training.min_batch_size),
        eval_strategy="steps",
        eval_steps=training.eval_steps,
        save_strategy="steps",
        save_steps=training.eval_steps,
        save_total_limit=training.save_total_limit,
        load_best_model_at_end=True,
        metric_for_best_model=f"eval_{selection_metric}",
        greater_is_better=True,
        logging_steps=training.logging_steps,
        logging_first_step=True,
        report_to="none",
        seed=training.seed,
        data_seed=training.seed,
        dataloader_pin_memory=False,
        disable_tqdm=False,
    )


class EvaluateLastStep(TrainerCallback):
    """Evaluate and checkpoint the end of training as well, so the final weights compete for "best".

    Training ends at ``max_steps`` (fractional epochs, or ``max_steps`` set) or when the last epoch's
    batches run out. The verse-aware sampler can end an epoch a few batches before the length it
    announced (the mini run's three stage-B epochs: 604 steps of an expected 609), so the step count
    alone misses that end and the last ~200 steps were never evaluated or kept.
    """

    def on_step_end(self, args, state, control, **kwargs):
        if state.max_steps and state.global_step >= state.max_steps:
            control.should_evaluate = True
            control.should_save = True
        return control

    def on_epoch_end(self, args, state, control, **kwargs):
        last_epoch = state.epoch is not None and state.epoch > math.ceil(args.num_train_epochs) - 1
        if last_epoch and not _evaluated_at(state, state.global_step):
            control.should_evaluate = True
            control.should_save = True
        return control


def _evaluated_at(state, step: int) -> bool:
    return any(
        entry.get("step") == step and any(key.startswith("eval_") for key in entry) for entry in state.log_history
    )


class ReleaseFreedMemory(TrainerCallback):
    """Hand freed heap pages back to the OS at every log step (see :mod:`.memory`): batches of varying
    length fragment glibc's heap, and the resident size of a CPU run would climb step after step."""

    def on_log(self, args, state, control, **kwargs):
        release_freed_memory()


def curve_tag(key: str) -> str:
    """Trainer log keys as :class:`RunLogger` tags: ``eval_probe_accuracy`` → ``eval/probe_accuracy``,
    ``loss`` → ``train/loss``, the end-of-training summary ``train_loss`` → ``summary/loss``."""
    if key.startswith("eval_"):
        return "eval/" + key.removeprefix("eval_")
    if key.startswith("train_"):
        return "summary/" + key.removeprefix("train_")
    return "train/" + key


class CurveLogger(TrainerCallback):
    """Forward the trainer's logs (loss, learning rate, evaluations) to a :class:`RunLogger`."""

    def __init__(self, run_logger: RunLogger):
        self.run_logger = run_logger

    def on_log(self, args, state, control, logs=None, **kwargs):
        numbers = {
            curve_tag(key): value
            for key, value in (logs or {}).items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)
        }
        self.run_logger.log(state.global_step, numbers)


RUN_SETTINGS_FILE = "run-settings.json"  # beside the checkpoint-* folders: the settings they were saved with
SAFE_TO_CHANGE_ON_RESUME = frozenset(
    f"{section}.training.{name}"
    for section in ("translation_pairs", "query_pairs")
    for name in ("logging_steps", "save_total_limit")
)
"""Stage settings that cannot change a weight (``eval_steps`` can: it decides which checkpoint is best)."""


def resume_settings(config: StageConfig, data: StageData, model: str | Path) -> dict:
    """What a stage's result depends on: its settings, the starting model's files, the evaluation
    data and the texts and judgments its pairs are drawn from (digests, not copies)."""
    from .resume import digest

    texts = (json.dumps(sorted(data.texts[code].items())).encode() for code in config.translations)
    judged = json.dumps(sorted(data.train.votes.items()) if data.train is not None else None).encode()
    return {
        config.section: config,
        "starting_model": model_digest(Path(model)) if Path(model).is_dir() else str(model),
        "evaluation": evaluation_identity(config, data),
        "pair_sources": digest([*texts, judged]),
    }


def resume_checkpoint(resume: bool | str | Path, checkpoints: Path, settings: Mapping | None = None) -> str | None:
    """``True``: the latest checkpoint (which must exist); a path: that checkpoint; ``False``: none, and
    then ``checkpoints`` must not already hold a run that would be silently mixed into this one.

    With ``settings`` (:func:`resume_settings`), a fresh run records them beside its checkpoints and a
    resume is refused if they changed outside :data:`SAFE_TO_CHANGE_ON_RESUME`, naming each key. A
    checkpoint named explicitly may continue under another starting model (its weights replace the
    model's); the latest one, which the pipeline resumes after a crash, may not: a retrained MLM must
    not be silently continued from checkpoints of the old one.
    """
    from transformers.trainer_utils import get_last_checkpoint

    from ..atomic import write_json_atomically
    from .resume import check_resume_settings, plain

    existing = get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
    if resume is True:
        if existing is None:
            raise UserError(f"nothing to resume: {checkpoints} holds no checkpoint-* directory")
        checkpoint = existing
    elif resume:
        if not Path(resume).is_dir():
            raise UserError(f"checkpoint to resume from not found: {resume}")
        checkpoint = str(resume)
    elif existing is not None:
        raise UserError(
            f"{checkpoints} already holds checkpoints ({Path(existing).name}); "
            "resume with --resume or choose another --work-dir"
        )
    else:
        if settings is not None:
            checkpoints.mkdir(parents=True, exist_ok=True)
            write_json_atomically(checkpoints / RUN_SETTINGS_FILE, plain(settings))
        return None
    if settings is not None:
        record = Path(checkpoint).parent / RUN_SETTINGS_FILE
        recorded = json.loads(record.read_text(encoding="utf-8")) if record.is_file() else None
        safe = SAFE_TO_CHANGE_ON_RESUME if resume is True else SAFE_TO_CHANGE_ON_RESUME | {"starting_model"}
        check_resume_settings(recorded, settings, checkpoint=checkpoint, safe=safe)
    return checkpoint


def _checkpoint_step(checkpoint: str | None) -> int | None:
    return int(checkpoint.rsplit("-", 1)[-1]) if checkpoint else None


def metrics_at_best(trainer_state, names) -> dict[str, float]:
    """The evaluator's metrics logged at the best checkpoint's step, which is the model restored at
    the end of training (so it need not be evaluated again: a pass over the Bible is minutes on a CPU).
    Empty if that evaluation is not in the log."""
    step = _checkpoint_step(trainer_state.best_model_checkpoint)
    for entry in trainer_state.log_history:
        if entry.get("step") == step and f"eval_{dev_metric('ndcg@10')}" in entry:
            return {name: entry[f"eval_{name}"] for name in names if f"eval_{name}" in entry}
    return {}


@dataclass(frozen=True)
class StageResult:
    model_dir: Path
    work_dir: Path
    pairs: int
    before: dict[str, float]
    after: dict[str, float]
    best_checkpoint: str | None


def _write_json(path: Path, value) -> None:
    """Atomically: a crash while writing leaves the previous record (or none), never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomically(path, value)


def train_stage(
    config: StageConfig,
    data: StageData,
    *,
    model: str | Path,
    output: str | Path,
    work_dir: str | Path | None = None,
    resume: bool | str | Path = False,
    restart: bool = False,
) -> StageResult:
    """Fine-tune ``model`` (an MLM checkpoint or a SentenceTransformer directory) on the stage's pairs
    and save the best checkpoint as a SentenceTransformer in ``output``.

    ``work_dir`` (default: ``output`` + ``-run``) receives ``checkpoints/``, ``logs/`` (JSONL and
    TensorBoard), ``curves.png`` and ``metrics.json`` (probe and dev metrics before and after).
    ``restart`` first discards what an earlier run left there (:func:`~.resume.discard_run`).
    """
    from accelerate import PartialState
    from sentence_transformers import SentenceTransformerTrainer

    source = PAIR_SOURCES[type(config)]
    output = Path(output)
    work_dir = Path(work_dir) if work_dir is not None else work_dir_for(output)
    training = config.training
    if restart and resume:
        raise UserError("restart and resume exclude each other: a restarted run starts from no checkpoint")
    settings = resume_settings(config, data, model)
    # checked before the pairs are built, so a refused resume fails at once; a restart waits for the
    # processes to exist, so that only the main one discards
    checkpoint = None if restart else resume_checkpoint(resume, work_dir / "checkpoints", settings)

    # 1. pairs (the batch sampler of the arguments needs them)
    pairs = source.build(config, data)
    # 2. arguments; they set up the processes, so they come before anything asks which one this is
    args = training_arguments(training, work_dir / "checkpoints", pairs, source.selection_metric)
    state = PartialState()
    if restart:
        if state.is_main_process:
            discard_run(work_dir)
        state.wait_for_everyone()
        checkpoint = resume_checkpoint(False, work_dir / "checkpoints", settings)
    state.print(f"{source.name}: {len(pairs)} pairs about {len(set(pairs.verse_ids))} verses")
    # 3. model
    sentence_model = build_sentence_model(model, max_seq_length=training.max_seq_length)
    card = sentence_model.model_card_data
    card.language, card.license, card.local_files_only = ["en"], "apache-2.0", True
    card.model_name = f"VerseBERT search encoder ({source.name})"
    card.train_datasets = [{"name": source.description}]
    # 4. loss
    loss = source.loss(sentence_model, config, pairs)
    # 5. evaluators, before training (a resumed run keeps the numbers of its starting point)
    evaluator = stage_evaluator(config, data)
    identity = evaluation_identity(config, data)
    run_logger = RunLogger(work_dir / "logs", enabled=state.is_main_process, resume_step=_checkpoint_step(checkpoint))
    before_path = work_dir / METRICS_BEFORE_FILE
    if state.is_main_process and (checkpoint is None or not before_path.exists()):
        before = recorded_evaluation(model, identity)
        if before is None:
            before = evaluator(sentence_model)
        else:
            state.print(f"{source.name}: before training = the evaluation recorded when {model} was saved")
        _write_json(before_path, before)
        run_logger.log(0, {f"eval/{key}": value for key, value in before.items()})
    state.wait_for_everyone()
    before = json.loads(before_path.read_text())
    # 6. train
    trainer = SentenceTransformerTrainer(
        model=sentence_model,
        args=args,
        train_dataset=pairs.dataset(),
        loss=loss,
        evaluator=evaluator,
        callbacks=[
            EvaluateLastStep(),
            CurveLogger(run_logger),
            ReleaseFreedMemory(),
            *(source.callbacks(loss, checkpoint) if source.callbacks else []),
        ],
    )
    trainer.train(resume_from_checkpoint=checkpoint)
    # 7. the restored best checkpoint's metrics, the model, the record of the run
    after: dict[str, float] = {}
    if state.is_main_process:
        after = metrics_at_best(trainer.state, before.keys()) or evaluator(sentence_model)
        run_logger.log(trainer.state.global_step, {f"best/{key}": value for key, value in after.items()})
        run_logger.close()
        run_logger.plot(work_dir / "curves.png")
        save_sentence_model(sentence_model, output)
        _write_json(
            work_dir / METRICS_FILE,
            {
                "stage": source.name,
                "model": str(model),
                "output": str(output),
                "pairs": len(pairs),
                "mixed_precision": "bf16" if args.bf16 else "fp16" if args.fp16 else "no",
                "selection_metric": source.selection_metric,
                "best_checkpoint": trainer.state.best_model_checkpoint,
                "before": before,
                "after": after,
                "evaluation": identity,  # with model_digest: lets the next stage reuse "after"
                "model_digest": model_digest(output),
                "config": dataclasses.asdict(config),
            },
        )
    state.wait_for_everyone()
    return StageResult(output, work_dir, len(pairs), before, after, trainer.state.best_model_checkpoint)
