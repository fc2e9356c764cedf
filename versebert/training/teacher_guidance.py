"""Stage B guided by a teacher: the human label says which candidate is right, the teacher says how
the wrong ones rank.

MultipleNegativesRankingLoss treats every other verse of a batch as equally wrong. A teacher that
already searches well (all-MiniLM-L6-v2: dense dev NDCG@10 0.114, against 0.078 for our mini after
stage B) knows that "fear not, for I am with you" is a better wrong answer to "anxiety" than a
genealogy. Adding the KL divergence between the teacher's and the student's query → candidate
distributions over the same batch (in-batch soft targets, as in RocketQAv2 and TCT-ColBERT) passes
that ranking on, while the labels keep the student from copying the teacher's mistakes.

The teacher is a training-time teacher only: its embeddings of the stage's texts are computed once
(cached machine-wide by content, :func:`~.distillation.teacher_embeddings`) and ride along as each
row's label; inference never needs it.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from .distillation import distribution_kl, teacher_embeddings
from .pairs import PairSet


def with_teacher_targets(pairs: PairSet, teacher: str, *, batch_size: int = 128) -> PairSet:
    """``pairs`` with the teacher's normalized embedding of every text of every row, shaped (rows,
    columns, width) in the loss's column order (anchor, positive, negatives...). A text that stands in
    many rows is encoded once: the teacher's store encodes each missing text once."""
    columns = [pairs.anchors, pairs.positives, *zip(*pairs.negatives, strict=True)]
    embeddings = teacher_embeddings([text for column in columns for text in column], teacher, batch_size=batch_size)
    by_column = embeddings.reshape(len(columns), len(pairs), -1)
    return dataclasses.replace(pairs, teacher_targets=np.ascontiguousarray(by_column.transpose(1, 0, 2)))


def ranking_kl(embeddings: list[torch.Tensor], teacher: torch.Tensor, scale: float, temperature: float) -> torch.Tensor:
    """KL(teacher ‖ student) between each query's distributions over every candidate of the batch.

    ``embeddings``: the student's (anchors, positives, negatives...) as the loss receives them;
    ``teacher``: (rows, columns, width), the same texts embedded by the teacher. The student's logits
    are its cosines times ``scale`` (what MultipleNegativesRankingLoss ranks by), the teacher's its
    cosines over ``temperature``.
    """
    rows = embeddings[0].shape[0]
    if teacher.shape[:2] != (rows, len(embeddings)):
        raise ValueError(
            f"teacher targets of shape {tuple(teacher.shape)} for {rows} rows of {len(embeddings)} columns"
        )
    normalize = torch.nn.functional.normalize
    queries = normalize(embeddings[0].float(), dim=-1)
    candidates = normalize(torch.cat(embeddings[1:]).float(), dim=-1)  # positives, then each negative column
    teacher = normalize(teacher.float(), dim=-1)
    teacher_candidates = teacher[:, 1:].transpose(0, 1).reshape(-1, teacher.shape[-1])
    log_student = torch.log_softmax(queries @ candidates.T * scale, dim=-1)
    log_teacher = torch.log_softmax(teacher[:, 0] @ teacher_candidates.T / temperature, dim=-1)
    return distribution_kl(log_teacher, log_student)


def make_teacher_guided_loss(model, *, weight: float, temperature: float, **ranking_settings):
    """MultipleNegativesRankingLoss plus ``weight`` x :func:`ranking_kl` against the teacher targets
    each batch carries as its labels."""
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    class TeacherGuidedRankingLoss(MultipleNegativesRankingLoss):
        def compute_loss_from_embeddings(self, embeddings, labels):
            if labels is None:
                raise ValueError("a teacher-guided stage needs the teacher's embeddings as labels")
            ranking = super().compute_loss_from_embeddings(embeddings, labels)
            teacher = labels.detach().view(embeddings[0].shape[0], len(embeddings), -1)
            return ranking + weight * ranking_kl(embeddings, teacher.to(embeddings[0].device), self.scale, temperature)

    return TeacherGuidedRankingLoss(model, **ranking_settings)


__all__ = ["make_teacher_guided_loss", "ranking_kl", "with_teacher_targets"]
