"""Typed settings of a training run, read from a preset YAML file.

A preset is one YAML file with a section per concern::

    model:      VerseBERT shape (hidden size, layers, heads, ...)
    tokenizer:  WordPiece vocabulary size and the context length
    data:       translations in the MLM corpus, validation share
    mlm:        masked-LM pre-training (MlmConfig)
    translation_pairs, query_pairs:  the contrastive stages (parsed by their own module)
    evaluation: the pipeline's final evaluation on the dev topics (EvaluationSettings)

The presets ``tiny``, ``mini``, ``small`` and ``base`` ship in ``training/presets/``; any other
YAML file with the same sections works too. Each section is a frozen dataclass validated on
construction, and unknown settings are refused with their dotted name, so a typo in a YAML file
fails at load time instead of being silently ignored.

Adding a stage: give it a dataclass and a typed field of :class:`Preset`; loading validates it with
every other section, before any stage runs.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..conventions import DEFAULT_TRANSLATION, WHOLE_BIBLES
from ..errors import UserError

PRESETS_DIR = Path(__file__).resolve().parent / "presets"
DEFAULT_TRANSLATIONS = WHOLE_BIBLES  # every whole Bible: the MLM corpus and stage A
MIXED_PRECISIONS = ("auto", "bf16", "fp16", "no")


# ---------------------------------------------------------------------------------------------
# Validation helpers


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_mixed_precision(owner: str, value) -> None:
    if value not in MIXED_PRECISIONS:
        raise ValueError(f"{owner}.mixed_precision must be one of {MIXED_PRECISIONS}, got {value!r}")


def _positive_int(owner: str, name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{owner}.{name} must be a positive integer, got {value!r}")


def _non_negative_int(owner: str, name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{owner}.{name} must be a non-negative integer, got {value!r}")


def _fraction(owner: str, name: str, value, *, low_open: bool = False, high_open: bool = True) -> None:
    """``value`` in [0, 1) by default; ``low_open``/``high_open`` exclude the ends."""
    ok = _is_number(value) and (value > 0 if low_open else value >= 0) and (value < 1 if high_open else value <= 1)
    if not ok:
        interval = f"{'(' if low_open else '['}0, 1{')' if high_open else ']'}"
        raise ValueError(f"{owner}.{name} must be a number in {interval}, got {value!r}")


# ---------------------------------------------------------------------------------------------
# Sections


@dataclass(frozen=True)
class ModelShape:
    """The VerseBertConfig fields a preset chooses; the vocabulary and special ids come from the tokenizer.

    ``type_vocab_size`` is 0 by default: verses are single segments, and a segment embedding that MLM
    never trains would still be added at inference by tokenizers that send ``token_type_ids``.
    ``max_position_embeddings`` costs nothing (the sinusoid table is computed, not learned), so it is
    kept above the MLM context for the longer passages of later stages.
    """

    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int = 512
    type_vocab_size: int = 0
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1

    def __post_init__(self) -> None:
        try:  # VerseBertConfig's own checks name the field
            self.to_config(vocab_size=1, pad_token_id=0)
        except ValueError as error:
            raise ValueError(f"model: {error}") from None

    def to_config(self, *, vocab_size: int, **special_token_ids):
        """A VerseBertConfig of this shape; ``special_token_ids`` are e.g. ``pad_token_id=0``."""
        from modeling_versebert import VerseBertConfig

        return VerseBertConfig(vocab_size=vocab_size, **dataclasses.asdict(self), **special_token_ids)


@dataclass(frozen=True)
class TokenizerSettings:
    """The WordPiece tokenizer trained on the corpus; ``max_length`` is the MLM context in tokens
    (with [CLS] and [SEP]; longer verses are truncated by the corpus builder)."""

    vocab_size: int = 16000
    max_length: int = 128
    lowercase: bool = True

    def __post_init__(self) -> None:
        _positive_int("tokenizer", "vocab_size", self.vocab_size)
        _positive_int("tokenizer", "max_length", self.max_length)
        if self.max_length < 3:
            raise ValueError(f"tokenizer.max_length must leave room for [CLS] x [SEP], got {self.max_length}")
        if not isinstance(self.lowercase, bool):
            raise ValueError(f"tokenizer.lowercase must be true or false, got {self.lowercase!r}")


@dataclass(frozen=True)
class DataSettings:
    """Which translations make up the MLM corpus, and the share of verses held out for validation.

    ``exclude_flagged`` leaves out verses the alignment check flagged; ``drop_quotes`` removes
    quotation marks (see :func:`versebert.data.mlm_corpus.build_mlm_corpus`).

    The split is by verse (every translation of a validation verse is held out), so validation loss
    is not flattered by a memorised parallel verse.
    """

    translations: tuple[str, ...] = DEFAULT_TRANSLATIONS
    validation_fraction: float = 0.02
    exclude_flagged: bool = True
    drop_quotes: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.translations, str) or not self.translations:
            raise ValueError(f"data.translations must be a non-empty list of codes, got {self.translations!r}")
        object.__setattr__(self, "translations", tuple(str(code).upper() for code in self.translations))
        _fraction("data", "validation_fraction", self.validation_fraction, low_open=True)
        for name in ("exclude_flagged", "drop_quotes"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"data.{name} must be true or false, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class MlmConfig:
    """Masked-LM pre-training: the recipe, the optimiser, the schedule and the bookkeeping.

    Steps are optimizer steps. ``batch_size`` is per process and per micro-batch, so one step sees
    ``batch_size * gradient_accumulation_steps * num_processes`` verses. Training lasts ``epochs``
    passes over the corpus unless ``max_steps`` is set. ``warmup`` is a fraction of the total steps
    (linear warmup from 0, then linear decay to 0).

    Masking (BERT): ``mask_probability`` of the non-special tokens are chosen; of those
    ``mask_token_fraction`` become [MASK], ``random_token_fraction`` a random non-special token, and
    the rest stay unchanged. Wettig et al. (2023) found 40% better than 15% for BERT-sized models;
    ``mask_probability`` sets the rate. ``whole_word_masking`` chooses whole words instead of pieces.
    Validation masks at ``eval_mask_probability`` whatever the training rate, so the validation
    losses of runs at different rates compare (a 40% mask is a harder test than a 15% one).

    ``mixed_precision: auto`` uses bf16 where the hardware computes it natively (CUDA with bf16,
    CPUs with AVX512-BF16/AMX) and fp32 elsewhere: on a CPU without native bf16 (plain AVX2), bf16
    matrix products are emulated and an order of magnitude slower than fp32.

    ``length_group_batches``: batches are formed from groups of this many batches' worth of
    shuffled verses sorted by length, so a batch pads to similar lengths (1 = no grouping).

    ``plot_curves`` writes ``curves.png`` at the end (matplotlib takes seconds, which tiny runs notice).

    ``init_from`` warm-starts from a BERT checkpoint (a directory, or ``all-MiniLM-L6-v2``) instead of a
    random init, with its tokenizer; the model's width must be the checkpoint's. ``--init-from`` wins.
    ``init_layers`` names the checkpoint's layer each of the model's layers starts from (a shallower model
    than the checkpoint: ``[1, 3, 5]`` takes every other layer of a 6-layer one); default: the first ones.
    """

    batch_size: int = 64
    gradient_accumulation_steps: int = 1
    learning_rate: float = 5e-4
    weight_decay: float = 0.01
    adam_beta1: float = 0.9
    adam_beta2: float = 0.98
    adam_epsilon: float = 1e-6
    max_grad_norm: float = 1.0
    epochs: float = 1
    max_steps: int | None = None
    warmup: float = 0.06
    mask_probability: float = 0.15
    eval_mask_probability: float = 0.15
    mask_token_fraction: float = 0.8
    random_token_fraction: float = 0.1
    whole_word_masking: bool = False
    mixed_precision: str = "auto"
    length_group_batches: int = 50
    project_masked_only: bool = True
    log_every: int = 50
    eval_every: int = 500
    eval_batch_size: int = 128
    eval_max_batches: int | None = None
    save_every: int = 1000
    keep_last: int = 3
    plot_curves: bool = True
    init_from: str | None = None
    init_layers: tuple[int, ...] | None = None
    seed: int = 42

    def __post_init__(self) -> None:
        owner = "mlm"
        for name in (
            "batch_size",
            "gradient_accumulation_steps",
            "length_group_batches",
            "log_every",
            "eval_every",
            "eval_batch_size",
            "save_every",
            "keep_last",
        ):
            _positive_int(owner, name, getattr(self, name))
        for name in ("max_steps", "eval_max_batches"):
            if getattr(self, name) is not None:
                _positive_int(owner, name, getattr(self, name))
        for name in ("learning_rate", "adam_epsilon", "max_grad_norm", "epochs"):
            if not _is_number(getattr(self, name)) or getattr(self, name) <= 0:
                raise ValueError(f"{owner}.{name} must be a positive number, got {getattr(self, name)!r}")
        if not _is_number(self.weight_decay) or self.weight_decay < 0:
            raise ValueError(f"{owner}.weight_decay must be >= 0, got {self.weight_decay!r}")
        for name in ("adam_beta1", "adam_beta2", "warmup"):
            _fraction(owner, name, getattr(self, name))
        for name in ("mask_probability", "eval_mask_probability"):
            _fraction(owner, name, getattr(self, name), low_open=True, high_open=False)
        for name in ("mask_token_fraction", "random_token_fraction"):
            _fraction(owner, name, getattr(self, name), high_open=False)
        if self.mask_token_fraction + self.random_token_fraction > 1:
            raise ValueError(
                f"{owner}.mask_token_fraction + random_token_fraction must be <= 1, got "
                f"{self.mask_token_fraction} + {self.random_token_fraction}"
            )
        check_mixed_precision(owner, self.mixed_precision)
        for name in ("project_masked_only", "plot_curves", "whole_word_masking"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{owner}.{name} must be true or false, got {getattr(self, name)!r}")
        _non_negative_int(owner, "seed", self.seed)
        if self.init_from is not None and (not isinstance(self.init_from, str) or not self.init_from):
            raise ValueError(f"{owner}.init_from must be a checkpoint directory or name, got {self.init_from!r}")
        if self.init_layers is not None:
            if not isinstance(self.init_layers, tuple) or not self.init_layers:
                raise ValueError(f"{owner}.init_layers must be a list of layer numbers, got {self.init_layers!r}")
            for layer in self.init_layers:
                _non_negative_int(owner, "init_layers", layer)
            if self.init_from is None:
                raise ValueError(f"{owner}.init_layers needs {owner}.init_from (the checkpoint the layers come from)")


@dataclass(frozen=True)
class EvaluationSettings:
    """The pipeline's final evaluation on the dev topics.

    ``include_peer`` adds all-MiniLM-L6-v2's dense and hybrid rows (when its package is installed).
    The first time on a machine that embeds the whole Bible with it (the index is then cached
    machine-wide), which the tiny preset's time budget does not hold.
    """

    include_peer: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.include_peer, bool):
            raise ValueError(f"evaluation.include_peer must be true or false, got {self.include_peer!r}")


# ---------------------------------------------------------------------------------------------
# The contrastive stages: ``translation_pairs`` (stage A) and ``query_pairs`` (stage B)

DISTRACTOR_KINDS = ("lexical", "same_chapter", "random")


@dataclass(frozen=True)
class ProbeConfig:
    """Which verses are held out and how the probe ranks them (see the module docstring)."""

    source: str = "KJV"
    target: str = "BBE"
    held_out_per_mille: int = 20  # share of all verses held out of stage A, in thousandths
    max_verses: int = 1000  # probe at most this many held-out verses (evaluation cost)
    num_distractors: int = 9
    distractors: str = "lexical"
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("source", "target"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"ProbeConfig.{name} must be a translation code such as 'KJV'")
        if self.source.upper() == self.target.upper():
            raise ValueError(f"ProbeConfig.source and target must differ, both are {self.source!r}")
        if not 1 <= self.held_out_per_mille <= 500:
            raise ValueError(f"ProbeConfig.held_out_per_mille must be in [1, 500], got {self.held_out_per_mille}")
        for name in ("max_verses", "num_distractors"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ProbeConfig.{name} must be a positive integer, got {value!r}")
        if self.distractors not in DISTRACTOR_KINDS:
            raise ValueError(f"ProbeConfig.distractors must be one of {DISTRACTOR_KINDS}, got {self.distractors!r}")


LOSSES = ("mnrl", "cached_mnrl")


def _check_positive(owner: str, name: str, value, kind=int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int) or value <= 0:
        what = "positive integer" if kind is int else "positive number"
        raise ValueError(f"{owner}.{name} must be a {what}, got {value!r}")


@dataclass(frozen=True)
class ContrastiveTrainingConfig:
    """Optimisation settings (the ``training`` subsection of both stages).

    ``batch_size`` is also the number of in-batch negatives + 1, so it is a quality setting, not just a
    speed one; gradient accumulation would not add negatives. ``loss: cached_mnrl`` keeps the whole
    batch as negatives while computing gradients in chunks of ``mini_batch_size`` (GradCache), trading
    time for memory. ``symmetric`` adds the positive → anchor direction. ``warmup`` is a fraction of the
    total steps (transformers 5 reads a float ``warmup_steps`` < 1 as a ratio). ``mixed_precision`` as
    in the ``mlm`` section: ``auto`` is bf16 only where the hardware computes it natively. A checkpoint
    is saved at every evaluation (``eval_steps``) and the best one is restored at the end.
    """

    batch_size: int = 64
    loss: str = "mnrl"
    mini_batch_size: int = 32
    symmetric: bool = False
    scale: float = 20.0
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup: float = 0.1
    epochs: float = 1
    max_steps: int | None = None
    max_seq_length: int = 128
    eval_steps: int = 200
    logging_steps: int = 20
    save_total_limit: int = 2
    eval_batch_size: int = 128
    mixed_precision: str = "auto"
    seed: int = 42
    min_batch_size: int = 2

    def __post_init__(self) -> None:
        owner = "training"
        for name in (
            "batch_size",
            "mini_batch_size",
            "max_seq_length",
            "eval_steps",
            "logging_steps",
            "save_total_limit",
            "eval_batch_size",
        ):
            _check_positive(owner, name, getattr(self, name))
        for name in ("scale", "learning_rate", "epochs"):
            _check_positive(owner, name, getattr(self, name), float)
        if self.max_steps is not None:
            _check_positive(owner, "max_steps", self.max_steps)
        if self.batch_size < 2:
            raise ValueError(f"{owner}.batch_size must be >= 2 for in-batch negatives, got {self.batch_size}")
        if isinstance(self.min_batch_size, bool) or not isinstance(self.min_batch_size, int) or not (
            2 <= self.min_batch_size <= self.batch_size
        ):
            raise ValueError(
                f"{owner}.min_batch_size must be an integer in [2, batch_size={self.batch_size}], "
                f"got {self.min_batch_size!r}"
            )
        if self.loss not in LOSSES:
            raise ValueError(f"{owner}.loss must be one of {LOSSES}, got {self.loss!r}")
        if self.loss == "cached_mnrl" and self.mini_batch_size > self.batch_size:
            raise ValueError(
                f"{owner}.mini_batch_size ({self.mini_batch_size}) must not exceed batch_size ({self.batch_size})"
            )
        if (
            isinstance(self.weight_decay, bool)
            or not isinstance(self.weight_decay, (int, float))
            or (self.weight_decay < 0)
        ):
            raise ValueError(f"{owner}.weight_decay must be >= 0, got {self.weight_decay!r}")
        if isinstance(self.warmup, bool) or not isinstance(self.warmup, (int, float)) or not 0 <= self.warmup < 1:
            raise ValueError(f"{owner}.warmup must be a fraction of the steps in [0, 1), got {self.warmup!r}")
        check_mixed_precision(owner, self.mixed_precision)
        if not isinstance(self.symmetric, bool):
            raise ValueError(f"{owner}.symmetric must be true or false, got {self.symmetric!r}")
        _non_negative_int(owner, "seed", self.seed)


@dataclass(frozen=True)
class ContrastiveStageConfig:
    """What both stages share: the translations their pairs are made of, the translation searched in
    the dev evaluation (the display translation), the translation probe, and the optimisation settings."""

    section = ""  # the preset section, for messages
    translations: tuple[str, ...] = DEFAULT_TRANSLATIONS
    display_translation: str = DEFAULT_TRANSLATION
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    training: ContrastiveTrainingConfig = field(default_factory=ContrastiveTrainingConfig)

    def __post_init__(self) -> None:
        if not isinstance(self.display_translation, str) or not self.display_translation:
            raise ValueError(f"{self.section}.display_translation must be a translation code such as 'WEB'")
        object.__setattr__(self, "display_translation", self.display_translation.upper())
        if isinstance(self.translations, str) or not self.translations:
            raise ValueError(f"{self.section}.translations must be a non-empty list of codes, got {self.translations}")
        object.__setattr__(self, "translations", tuple(str(code).upper() for code in self.translations))


@dataclass(frozen=True)
class TranslationPairsConfig(ContrastiveStageConfig):
    """Stage A: up to ``pairs_per_verse`` pairs of two different ``translations`` per verse. The
    probe's held-out verses are never trained on.

    ``enabled: false`` leaves the stage out of the pipeline: stage B then starts from the distilled
    (or the MLM) model. Measured with ``tiny`` (README, "Distillation"): after KL distillation, stage A
    lowers dense dev NDCG@10 (0.0214 -> 0.0091) and stage B after it ends lower (0.0253) than stage B
    straight from the distilled model (0.0316); without distillation, stage A is what aligns the
    translations."""

    section = "translation_pairs"
    enabled: bool = True
    pairs_per_verse: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.enabled, bool):
            raise ValueError(f"{self.section}.enabled must be true or false, got {self.enabled!r}")
        if len(set(self.translations)) < 2:
            raise ValueError(f"{self.section}.translations needs two different translations, got {self.translations}")
        _check_positive(self.section, "pairs_per_verse", self.pairs_per_verse)


@dataclass(frozen=True)
class QueryPairsConfig(ContrastiveStageConfig):
    """Stage B: (topic, verse) pairs from the train topics, the verse side in each of ``translations``.

    Per topic, the ``max_per_topic`` most-voted short judgments with at least ``min_votes`` votes
    (``null``: all of them). ``block_judged_negatives`` keeps every verse judged relevant to a topic out
    of its batch's negatives. The probe is ``translation_pairs.probe`` (one held-out split).

    ``hard_negatives`` > 0 gives each row that many BM25-mined negatives (:mod:`.hard_negatives`:
    from the top ``negative_depth`` of BM25 over the display translation, never a verse judged for the
    topic, its duplicates, or one within ``negative_exclude_window`` verses of a judged one).
    ``topic_pairs`` adds (topic, topic) rows for train topics whose judged verses overlap by at least
    ``topic_pair_min_overlap`` (Jaccard), up to ``topic_pairs_per_topic`` partners each.
    ``teacher`` (a SentenceTransformer directory or ``all-MiniLM-L6-v2``; none by default) adds
    ``teacher_weight`` x the KL divergence between the teacher's query → candidate distribution over the
    batch (its cosines over ``teacher_temperature``) and the student's (:mod:`.teacher_guidance`): the
    labels say which candidate is right, the teacher how the others rank. A training-time teacher only,
    named in the card; it needs ``training.loss: mnrl``.
    """

    section = "query_pairs"
    translations: tuple[str, ...] = (DEFAULT_TRANSLATION,)
    min_votes: int = 10
    max_per_topic: int | None = 3
    block_judged_negatives: bool = True
    hard_negatives: int = 0
    negative_depth: int = 100
    negative_exclude_window: int = 1
    topic_pairs: bool = False
    topic_pair_min_overlap: float = 0.5
    topic_pairs_per_topic: int = 2
    teacher: str | None = None
    teacher_weight: float = 1.0
    teacher_temperature: float = 0.05

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.teacher is not None:
            if not isinstance(self.teacher, str) or not self.teacher:
                raise ValueError(
                    f"{self.section}.teacher must name a SentenceTransformer or be null, got {self.teacher!r}"
                )
            if self.training.loss != "mnrl":
                raise ValueError(
                    f"{self.section}.teacher needs {self.section}.training.loss: mnrl (the teacher's soft targets "
                    f"compare whole batches, which {self.training.loss} splits), got {self.training.loss!r}"
                )
        _check_positive(self.section, "teacher_weight", self.teacher_weight, float)
        _check_positive(self.section, "teacher_temperature", self.teacher_temperature, float)
        _check_positive(self.section, "min_votes", self.min_votes)
        if self.max_per_topic is not None:
            _check_positive(self.section, "max_per_topic", self.max_per_topic)
        for name in ("hard_negatives", "negative_exclude_window"):
            _non_negative_int(self.section, name, getattr(self, name))
        _check_positive(self.section, "negative_depth", self.negative_depth)
        _check_positive(self.section, "topic_pairs_per_topic", self.topic_pairs_per_topic)
        if not isinstance(self.topic_pairs, bool):
            raise ValueError(f"{self.section}.topic_pairs must be true or false, got {self.topic_pairs!r}")
        _fraction(self.section, "topic_pair_min_overlap", self.topic_pair_min_overlap, low_open=True, high_open=False)
        if not isinstance(self.block_judged_negatives, bool):
            raise ValueError(
                f"{self.section}.block_judged_negatives must be true or false, got {self.block_judged_negatives!r}"
            )


@dataclass(frozen=True)
class DistillationConfig(ContrastiveStageConfig):
    """Embedding distillation between MLM and stage A (Reimers & Gurevych 2020): the student learns to
    reproduce ``teacher``'s normalized embeddings of verses of ``translations``, the train topic texts
    (``include_topics``) and up to ``phrases_per_verse`` clauses cut from each verse (queries are short);
    ``teacher_words`` adds every whole word of the teacher's WordPiece vocabulary, alone (today's words
    that scripture never uses, such as the "anxiety" of a query).

    The teacher (``all-MiniLM-L6-v2``, the offline package, or a SentenceTransformer directory) is a
    training-time teacher only: it is never needed at inference, and the card names it. Its embeddings
    are cached machine-wide by content. ``loss``: ``mse`` on the embeddings (through a learned projection
    when the widths differ, dropped at export), ``mse+kl`` adds ``kl_weight`` x the KL divergence between
    the teacher's and the student's own in-batch similarity distributions at ``temperature`` (soft
    targets), ``kl`` trains on that divergence alone (no projection: it holds for any width).
    Off unless ``enabled``; the probe's held-out verses are never distilled on. ``max_texts`` caps the
    set (0: no cap), keeping the most useful first: topics, then words, then verses, then phrases.
    ``length_group_batches`` > 1 batches texts of similar length, sorted within groups of that many
    batches (1: random batches, which pad three-word topics to the longest verse beside them).
    ``clusters`` > 0 clusters the teacher's embeddings (spherical k-means) and builds each batch from
    runs of ``cluster_rows`` texts of one cluster (topic-aware sampling, Hofstätter et al. 2021), so the
    in-batch distributions rank near neighbours rather than texts that are all unrelated (0: random).
    ``training.mini_batch_size`` < ``batch_size`` runs each batch's forward in chunks of that many
    texts of similar length, each padded to its own longest text: the same loss over the same batch
    (every in-batch negative kept), on far fewer padding tokens.
    ``teacher_tuning_epochs`` > 0: the pipeline first fine-tunes the teacher with stage B (the
    ``query_pairs`` settings, for this many epochs) and distils that model, so the student learns
    what the train topics teach from a teacher that already knows it (one such epoch took
    all-MiniLM-L6-v2 from 0.114 to 0.175 and 0.193 dense dev NDCG@10 in two runs); 0 distils the
    teacher as it is.
    """

    section = "distillation"
    enabled: bool = False
    teacher: str = "all-MiniLM-L6-v2"
    translations: tuple[str, ...] = (DEFAULT_TRANSLATION, "KJV")
    include_topics: bool = True
    teacher_words: bool = False
    phrases_per_verse: int = 1
    loss: str = "mse"
    kl_weight: float = 1.0
    temperature: float = 0.05
    max_texts: int = 0
    length_group_batches: int = 1
    clusters: int = 0
    cluster_rows: int = 32
    teacher_tuning_epochs: float = 0.0

    @property
    def teacher_name(self) -> str:
        """The teacher as the model card names it."""
        if not self.teacher_tuning_epochs:
            return self.teacher
        epochs = f"{self.teacher_tuning_epochs:g} epoch" + ("" if self.teacher_tuning_epochs == 1 else "s")
        return f"{self.teacher} fine-tuned by stage B on the train topics ({epochs})"

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("enabled", "include_topics", "teacher_words"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{self.section}.{name} must be true or false, got {getattr(self, name)!r}")
        if not isinstance(self.teacher, str) or not self.teacher:
            raise ValueError(f"{self.section}.teacher must name a SentenceTransformer, got {self.teacher!r}")
        if self.loss not in DISTILLATION_LOSSES:
            raise ValueError(f"{self.section}.loss must be one of {tuple(DISTILLATION_LOSSES)}, got {self.loss!r}")
        for name in ("phrases_per_verse", "max_texts"):
            _non_negative_int(self.section, name, getattr(self, name))
        _check_positive(self.section, "length_group_batches", self.length_group_batches, int)
        _non_negative_int(self.section, "clusters", self.clusters)
        _check_positive(self.section, "cluster_rows", self.cluster_rows, int)
        if self.clusters and self.length_group_batches > 1:
            raise ValueError(
                f"{self.section}.clusters and {self.section}.length_group_batches both choose what shares a "
                "batch: set one of them (training.mini_batch_size removes the padding either way)"
            )
        _check_positive(self.section, "kl_weight", self.kl_weight, float)
        _check_positive(self.section, "temperature", self.temperature, float)
        epochs = self.teacher_tuning_epochs
        if not _is_number(epochs) or epochs < 0:
            raise ValueError(f"{self.section}.teacher_tuning_epochs must be 0 or a positive number, got {epochs!r}")


# Each loss, as the model card describes it.
DISTILLATION_LOSSES = {
    "mse": "MSE on its normalized embeddings",
    "mse+kl": "MSE on its normalized embeddings + KL of in-batch similarity distributions",
    "kl": "KL divergence of in-batch similarity distributions",
}
StageConfig = TranslationPairsConfig | QueryPairsConfig | DistillationConfig



@dataclass(frozen=True)
class Preset:
    """A whole preset, every section typed and validated: what the stages train with is what it says.

    ``query_pairs`` and ``distillation`` have no probe of their own: they are probed on the verses
    stage A holds out, so their ``probe`` is ``translation_pairs.probe`` (set by :func:`preset_from_mapping`).
    """

    name: str
    model: ModelShape
    tokenizer: TokenizerSettings = field(default_factory=TokenizerSettings)
    data: DataSettings = field(default_factory=DataSettings)
    mlm: MlmConfig = field(default_factory=MlmConfig)
    distillation: DistillationConfig = field(default_factory=DistillationConfig)
    translation_pairs: TranslationPairsConfig = field(default_factory=TranslationPairsConfig)
    query_pairs: QueryPairsConfig = field(default_factory=QueryPairsConfig)
    evaluation: EvaluationSettings = field(default_factory=EvaluationSettings)

    @property
    def display_translation(self) -> str:
        """The translation searched and shown: stage B's dev evaluation, the index and the evaluation."""
        return self.query_pairs.display_translation

    @property
    def teacher_tuning(self) -> QueryPairsConfig | None:
        """Stage B's settings for ``distillation.teacher_tuning_epochs`` epochs, the stage that tunes the
        distillation teacher; ``None`` when the run distils an untuned teacher (or does not distil)."""
        epochs = self.distillation.teacher_tuning_epochs
        if not (self.distillation.enabled and epochs):
            return None
        stage_b = self.query_pairs
        # the teacher learns from the labels alone: guided by itself it would be pulled back to where it began
        return dataclasses.replace(
            stage_b, teacher=None, training=dataclasses.replace(stage_b.training, epochs=epochs)
        )

    def section(self, name: str) -> object:
        """A section's typed settings by its YAML name."""
        return getattr(self, name)

    def __post_init__(self) -> None:
        if self.tokenizer.max_length > self.model.max_position_embeddings:
            raise ValueError(
                f"tokenizer.max_length ({self.tokenizer.max_length}) exceeds model.max_position_embeddings "
                f"({self.model.max_position_embeddings})"
            )


PROBED_ON_STAGE_A = ("distillation", "query_pairs")
SECTIONS = tuple(item.name for item in dataclasses.fields(Preset) if item.name != "name")
STAGE_CONFIGS: dict[str, type] = {
    "distillation": DistillationConfig,
    "translation_pairs": TranslationPairsConfig,
    "query_pairs": QueryPairsConfig,
}
"""The contrastive stages by preset section (their runner is :mod:`.contrastive`)."""


# ---------------------------------------------------------------------------------------------
# Loading


def from_mapping(cls: type, values: Mapping | None, where: str):
    """Build dataclass ``cls`` from a YAML mapping.

    Nested dataclasses recurse, lists become tuples, float fields accept integers and ``5e-4``
    (a string to YAML), and unknown keys are refused with their dotted name (``mlm.batchsize``).
    """
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise ValueError(f"{where} must be a mapping of settings, got {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    known = [item.name for item in dataclasses.fields(cls) if item.init]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(
            f"unknown setting(s) {', '.join(f'{where}.{key}' for key in unknown)}; known: {', '.join(known)}"
        )
    kwargs = {}
    for name, value in values.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            value = from_mapping(hint, value, f"{where}.{name}")
        elif isinstance(value, list) and _accepts(hint, tuple):
            value = tuple(value)
        elif isinstance(value, int) and not isinstance(value, bool) and _accepts(hint, float):
            value = float(value)
        elif isinstance(value, str) and _accepts(hint, float):
            value = _float_or_text(value)
        elif isinstance(value, bool) and hint is str:  # YAML 1.1 reads an unquoted no/off as false
            value = "yes" if value else "no"
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except TypeError as error:  # a required setting is missing
        raise ValueError(f"{where}: {error}") from None
    except ValueError as error:
        raise ValueError(_qualified(str(error), where)) from None


def _qualified(message: str, where: str) -> str:
    """A nested section's message with its full name: a ``training`` subsection validates itself as
    ``training.learning_rate``, which in ``translation_pairs`` is ``translation_pairs.training.learning_rate``."""
    parent, _, own = where.rpartition(".")
    return f"{parent}.{message}" if parent and message.startswith(f"{own}.") else message


def _float_or_text(value: str) -> float | str:
    """YAML 1.1 reads ``5e-4`` (no dot) as a string; a float setting takes it as the number it means."""
    try:
        return float(value)
    except ValueError:
        return value  # refused by the section's own validation, which names the field


def _accepts(hint, kind: type) -> bool:
    """Whether annotation ``hint`` is ``kind`` or a union containing it (``float | None``)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_accepts(member, kind) for member in typing.get_args(hint))
    return hint is kind or typing.get_origin(hint) is kind


def available_presets() -> list[str]:
    return sorted(path.stem for path in PRESETS_DIR.glob("*.yaml"))


def preset_path(name_or_path: str | Path) -> Path:
    """A preset name (``tiny``) or a YAML file path, resolved to the file."""
    path = Path(name_or_path).expanduser()
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise UserError(f"preset file {path} does not exist")
        return path
    candidate = PRESETS_DIR / f"{name_or_path}.yaml"
    if not candidate.is_file():
        raise UserError(f"unknown preset {str(name_or_path)!r}; choose one of {', '.join(available_presets())}")
    return candidate


def merge_settings(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` applied: mappings merge key by key, any other value (lists too) replaces."""
    merged = dict(base)
    for key, value in changes.items():
        inherited = merged.get(key)
        both_mappings = isinstance(value, Mapping) and isinstance(inherited, Mapping)
        merged[key] = merge_settings(inherited, value) if both_mappings else value
    return merged


def read_preset_mapping(path: Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A preset file's sections, with its ``base:`` preset (a name, or a path relative to the file)
    read first and overridden setting by setting, so a variant states only what it changes."""
    import yaml

    if path.resolve() in _seen:
        chain = " -> ".join(str(step) for step in (*_seen, path.resolve()))
        raise UserError(f"preset bases form a cycle: {chain}")
    with open(path, encoding="utf-8") as handle:
        raw = yaml.safe_load(handle) or {}
    if not isinstance(raw, dict):
        raise UserError(f"{path} must hold a mapping of sections, got {type(raw).__name__}")
    base = raw.pop("base", None)
    if base is None:
        return raw
    if not isinstance(base, str) or not base:
        raise UserError(f"{path}: base must name a preset or a YAML file, got {base!r}")
    relative = path.parent / base
    base_path = preset_path(relative if relative.suffix in (".yaml", ".yml") else base)
    return merge_settings(read_preset_mapping(base_path, (*_seen, path.resolve())), raw)


def load_preset(name_or_path: str | Path, overrides: Sequence[str] = ()) -> Preset:
    """Load and validate a preset (and the ``base:`` it builds on, see :func:`read_preset_mapping`);
    ``overrides`` are ``section.key=value`` strings (YAML values) applied on top, e.g.
    ``["mlm.max_steps=200"]``."""
    path = preset_path(name_or_path)
    raw = apply_overrides(read_preset_mapping(path), overrides)
    try:
        return preset_from_mapping(raw, name=path.stem)
    except ValueError as error:
        raise UserError(f"{path}: {error}") from None


def preset_from_mapping(raw: Mapping[str, Any], *, name: str = "custom") -> Preset:
    """Every section of ``raw`` typed and validated at once, so a bad setting of a late stage fails before
    the first stage runs; a :class:`UserError` names the section and the setting."""
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise ValueError(f"unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
    if "model" not in raw:
        raise ValueError("the preset has no 'model' section")
    stage_a = raw.get("translation_pairs")
    probe = (stage_a.get("probe") if isinstance(stage_a, Mapping) else None) or {}
    for section in PROBED_ON_STAGE_A:
        values = raw.get(section)
        if values is None or isinstance(values, Mapping):
            if "probe" in (values or {}):
                raise UserError(f"{section}.probe is not a setting: the probe is translation_pairs.probe")
            raw = {**raw, section: {**(values or {}), "probe": probe}}
    hints = typing.get_type_hints(Preset)
    try:
        sections = {key: from_mapping(hints[key], raw.get(key), key) for key in SECTIONS if key in raw}
        return Preset(name=name, **sections)
    except ValueError as error:  # the message names the section and the setting
        raise UserError(str(error)) from None


def add_mixed_precision_argument(parser) -> None:
    """``--mixed-precision`` for every training entry point; see :func:`precision_overrides`."""
    parser.add_argument(
        "--mixed-precision",
        choices=MIXED_PRECISIONS,
        help="precision of every training stage, over the preset's (auto: the launcher's --mixed_precision, "
        "else bf16 where the hardware computes it natively, fp32 elsewhere)",
    )


def precision_overrides(mixed_precision: str | None) -> tuple[str, ...]:
    """``--set`` overrides giving every training stage the command line's ``--mixed-precision``."""
    if mixed_precision is None:
        return ()
    if mixed_precision not in MIXED_PRECISIONS:
        raise UserError(f"--mixed-precision must be one of {', '.join(MIXED_PRECISIONS)}, got {mixed_precision!r}")
    keys = ("mlm", *(f"{section}.training" for section in STAGE_CONFIGS))
    return tuple(f"{key}.mixed_precision={mixed_precision}" for key in keys)


def apply_overrides(raw: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A deep copy of ``raw`` with each ``a.b.c=value`` set (value parsed as YAML)."""
    import copy

    import yaml

    result = copy.deepcopy(dict(raw))
    for override in overrides:
        key, separator, text = override.partition("=")
        if not separator or not key.strip():
            raise UserError(f"override {override!r} must look like section.setting=value")
        *parents, leaf = key.strip().split(".")
        target = result
        for part in parents:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise UserError(f"override {override!r}: {part!r} is not a section")
        target[leaf] = yaml.safe_load(text)
    return result


__all__ = [
    "DEFAULT_TRANSLATIONS",
    "SECTIONS",
    "STAGE_CONFIGS",
    "ContrastiveTrainingConfig",
    "DistillationConfig",
    "ProbeConfig",
    "QueryPairsConfig",
    "StageConfig",
    "TranslationPairsConfig",
    "DataSettings",
    "EvaluationSettings",
    "MlmConfig",
    "ModelShape",
    "Preset",
    "TokenizerSettings",
    "add_mixed_precision_argument",
    "check_mixed_precision",
    "apply_overrides",
    "available_presets",
    "from_mapping",
    "load_preset",
    "precision_overrides",
    "preset_from_mapping",
]
