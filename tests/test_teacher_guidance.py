"""Stage B guided by a teacher's soft targets: the KL term compares the right candidates, the targets
line up with the rows' texts, the term moves the student toward the teacher's ranking, and the
settings and the card say what the run learned from."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from tests.test_contrastive import TOY_PROBE, mlm_checkpoint, tiny_training, toy_data  # noqa: F401 (fixtures)
from tests.test_distillation import private_cache, teacher  # noqa: F401 (fixtures)
from versebert.training.config import QueryPairsConfig
from versebert.training.teacher_guidance import ranking_kl


def unit(rows, width=16, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(rows, width, generator=generator), dim=-1)


def test_the_ranking_kl_is_zero_only_when_the_student_ranks_every_candidate_as_the_teacher_does():
    anchors, positives, negatives = unit(6, seed=1), unit(6, seed=2), unit(6, seed=3)
    targets = torch.stack([anchors, positives, negatives], dim=1)  # (rows, columns, width)
    student = [anchors * 2, positives, negatives]  # the scale of an embedding does not matter
    assert float(ranking_kl(student, targets, scale=20.0, temperature=0.05)) == pytest.approx(0, abs=1e-5)
    # the teacher's negatives compared in the wrong order (each row's negative swapped with another's)
    shuffled = targets.clone()
    shuffled[:, 2] = targets[torch.roll(torch.arange(6), 1), 2]
    assert float(ranking_kl(student, shuffled, scale=20.0, temperature=0.05)) > 0.1
    # a temperature that is not the student's scale is a different distribution
    assert float(ranking_kl(student, targets, scale=20.0, temperature=0.1)) > 0.01
    with pytest.raises(ValueError, match="teacher targets of shape"):
        ranking_kl(student, targets[:, :2], scale=20.0, temperature=0.05)


def query_config(**settings):
    training = dict(batch_size=8, max_steps=16, eval_steps=16, learning_rate=3e-3, min_batch_size=2)
    return QueryPairsConfig(translations=("WEB", "KJV"), probe=TOY_PROBE, hard_negatives=1,
                            training=tiny_training(**training), **settings)


def test_each_rows_targets_are_the_teachers_embeddings_of_its_own_texts(teacher, toy_data):  # noqa: F811
    from versebert.training.contrastive import PAIR_SOURCES
    from versebert.training.distillation import teacher_embeddings

    pairs = PAIR_SOURCES[QueryPairsConfig].build(query_config(teacher=str(teacher)), toy_data)
    assert pairs.teacher_targets.shape == (len(pairs), 3, 48)
    for row in (0, len(pairs) // 2, len(pairs) - 1):
        texts = [pairs.anchors[row], pairs.positives[row], pairs.negatives[row][0]]
        np.testing.assert_allclose(pairs.teacher_targets[row], teacher_embeddings(texts, str(teacher)), atol=1e-5)
    dataset = pairs.dataset()
    assert dataset.column_names == ["anchor", "positive", "negative_1", "label"]
    np.testing.assert_allclose(dataset[1]["label"], pairs.teacher_targets[1].reshape(-1), atol=1e-6)


def student_kl(model_dir, pairs, config) -> float:
    """The ranking KL of a trained student against the teacher over the whole pair set as one batch."""
    from sentence_transformers import SentenceTransformer

    student = SentenceTransformer(str(model_dir), device="cpu", trust_remote_code=True)
    columns = [pairs.anchors, pairs.positives, [row[0] for row in pairs.negatives]]
    embeddings = [torch.from_numpy(student.encode(list(column))) for column in columns]
    targets = torch.from_numpy(pairs.teacher_targets)
    return float(ranking_kl(embeddings, targets, config.training.scale, config.teacher_temperature))


def test_the_teachers_soft_targets_move_the_student_toward_the_teachers_ranking(
    teacher, mlm_checkpoint, toy_data, tmp_path  # noqa: F811
):
    from versebert.training.contrastive import PAIR_SOURCES, train_stage

    guided = query_config(teacher=str(teacher), teacher_weight=4.0)
    pairs = PAIR_SOURCES[QueryPairsConfig].build(guided, toy_data)
    kl = {}
    for name, config in (("labels only", dataclasses.replace(guided, teacher=None)), ("guided", guided)):
        result = train_stage(config, toy_data, model=mlm_checkpoint, output=tmp_path / name / "model")
        kl[name] = student_kl(result.model_dir, pairs, guided)
    assert kl["guided"] < 0.8 * kl["labels only"], kl


def test_teacher_settings_are_checked_and_the_teacher_tunes_without_itself():
    with pytest.raises(ValueError, match="needs query_pairs.training.loss: mnrl"):
        QueryPairsConfig(teacher="all-MiniLM-L6-v2", training=tiny_training(loss="cached_mnrl", mini_batch_size=4))
    with pytest.raises(ValueError, match="teacher_weight must be a positive number"):
        QueryPairsConfig(teacher="all-MiniLM-L6-v2", teacher_weight=0)
    with pytest.raises(ValueError, match="teacher must name a SentenceTransformer"):
        QueryPairsConfig(teacher="")
    from versebert.training.config import load_preset

    preset = load_preset("mini", ["query_pairs.teacher=all-MiniLM-L6-v2", "distillation.teacher_tuning_epochs=1"])
    assert preset.query_pairs.teacher == "all-MiniLM-L6-v2"
    assert preset.teacher_tuning.teacher is None


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ([], ["all-MiniLM-L6-v2"]),
        (["query_pairs.teacher=all-MiniLM-L6-v2"], ["all-MiniLM-L6-v2"]),
        (["distillation.enabled=false", "query_pairs.teacher=/models/teacher"], ["/models/teacher"]),
        (["query_pairs.teacher=/models/teacher"], ["all-MiniLM-L6-v2", "/models/teacher"]),
        (["distillation.enabled=false"], []),
    ],
)
def test_the_card_names_every_training_time_teacher(overrides, named):
    from versebert.orchestration.model_card_facts import training_teachers
    from versebert.training.config import load_preset

    assert training_teachers(load_preset("mini", overrides)) == named


def test_targets_of_another_shape_are_refused(toy_data):  # noqa: F811
    from versebert.training.contrastive import PAIR_SOURCES

    pairs = PAIR_SOURCES[QueryPairsConfig].build(query_config(), toy_data)
    with pytest.raises(ValueError, match="teacher_targets has shape"):
        dataclasses.replace(pairs, teacher_targets=np.zeros((len(pairs), 2, 4), dtype=np.float32))
