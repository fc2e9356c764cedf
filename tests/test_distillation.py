"""The distillation stage on a tiny teacher/student pair built here: the loss falls, the teacher's
embeddings are cached by content, the projection travels with checkpoints but not with the model, and
a resumed run reproduces the uninterrupted one."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from safetensors.numpy import load_file

from tests.test_contrastive import (  # noqa: F401 (fixtures)
    TOY_PROBE,
    mlm_checkpoint,
    random_mlm_checkpoint,
    tiny_training,
    toy_data,
)
from versebert.errors import UserError
from versebert.training.config import DistillationConfig
from versebert.training.distillation import (
    PROJECTION_FILE,
    clauses,
    distillation_texts,
    soft_target_kl,
    teacher_embeddings,
)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VERSEBERT_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def teacher(tmp_path_factory, tiny_tokenizer_dir):
    """A wider (48) random VerseBERT sentence model: what the 32-wide student must imitate."""
    from versebert.training.sentence_model import build_sentence_model, save_sentence_model

    mlm = random_mlm_checkpoint(tmp_path_factory.mktemp("teacher-mlm"), tiny_tokenizer_dir, hidden_size=48,
                                num_hidden_layers=1, intermediate_size=64, seed=1)
    directory = tmp_path_factory.mktemp("teacher") / "model"
    save_sentence_model(build_sentence_model(mlm), directory)
    return directory


def config_for(teacher, **training):
    settings = dict(max_steps=6, eval_steps=3, learning_rate=5e-3) | training
    return DistillationConfig(enabled=True, teacher=str(teacher), translations=("KJV", "WEB"), probe=TOY_PROBE,
                              phrases_per_verse=1, training=tiny_training(**settings))


def losses_of(work_dir):
    curve = [json.loads(line) for line in (work_dir / "logs" / "metrics.jsonl").read_text().splitlines()]
    return [entry["train/loss"] for entry in curve if "train/loss" in entry]


def test_texts_are_topics_then_verses_then_clauses_without_held_out_verses(toy_data):  # noqa: F811
    config = config_for("unused")
    texts, verse_ids = distillation_texts(config, toy_data.texts, ["love", "hope"], held_out=frozenset({43001001}))
    assert texts[:2] == ["love", "hope"] and verse_ids[:2] == [0, 0]
    assert 43001001 not in verse_ids
    assert len({text.lower() for text in texts}) == len(texts), "each text once"
    assert clauses("For God so loved the world, that he gave his only Son.") == [
        "For God so loved the world", "that he gave his only Son"]


def test_teacher_words_are_whole_words_after_the_topics_and_before_the_verses(tmp_path, toy_data):  # noqa: F811
    from versebert.training.distillation import teacher_words

    (tmp_path / "vocab.txt").write_text("[PAD]\n[CLS]\n##ing\nthe\nanxiety\n1984\nvaccinations\nhope\nx\n")
    words = teacher_words(tmp_path)
    assert words == ["the", "anxiety", "vaccinations", "hope"]
    texts, verse_ids = distillation_texts(config_for("unused"), toy_data.texts, ["love", "hope"], frozenset(), words)
    assert texts[:5] == ["love", "hope", "the", "anxiety", "vaccinations"]  # "hope" once, as a topic
    assert verse_ids[:5] == [0] * 5 and verse_ids[5] != 0
    with pytest.raises(UserError, match="has no vocab.txt"):
        teacher_words(tmp_path / "elsewhere")


def test_the_teachers_embeddings_are_cached_by_content(teacher, tmp_path):
    first = teacher_embeddings(["Jesus wept.", "God is love."], str(teacher))
    assert first.shape == (2, 48) and np.allclose(np.linalg.norm(first, axis=1), 1, atol=1e-5)
    (store,) = (tmp_path / "cache" / "embeddings").iterdir()  # one directory per model
    (shard,) = store.glob("shard-*.npz")
    keys = np.load(shard)["keys"]
    np.savez(shard, keys=keys, embeddings=np.zeros((2, 48), dtype=np.float32) + 7)  # a recognisable cached value
    assert np.all(teacher_embeddings(["God is love.", "Jesus wept."], str(teacher)) == 7), "read from the cache"
    both = teacher_embeddings(["Jesus wept.", "Pray without ceasing."], str(teacher))
    assert np.all(both[0] == 7) and np.allclose(np.linalg.norm(both[1]), 1, atol=1e-5), "only the new text encoded"


def test_the_soft_target_term_reads_the_students_own_embeddings(teacher, mlm_checkpoint, toy_data):  # noqa: F811
    """The projection is dropped at export, so the KL must not see it: the mse+kl loss minus its MSE part
    does not change when the projection is scrambled."""
    import torch
    from sentence_transformers import SentenceTransformer

    from versebert.training.distillation import build_distillation_set, make_distillation_loss

    config = DistillationConfig(**{**config_for(teacher).__dict__, "loss": "mse+kl", "temperature": 0.5})
    rows = build_distillation_set(config, toy_data)
    model = SentenceTransformer(str(mlm_checkpoint), trust_remote_code=True, device="cpu")
    model.eval()
    loss = make_distillation_loss(model, config, rows)
    features = [model.tokenize(list(rows.texts[:6]))]
    labels = torch.tensor(rows.targets[:6])

    def kl_part() -> float:
        with torch.no_grad():
            student = model(dict(features[0]))["sentence_embedding"]
            return float(loss(features, labels) - loss.compute_loss_from_embeddings([student], [labels]))

    before = kl_part()
    with torch.no_grad():
        loss.projection.weight.normal_(std=1.0)
    assert before > 0.001 and kl_part() == pytest.approx(before, abs=1e-5)


def test_length_sorted_forwards_give_the_one_forward_loss_and_gradients_on_shorter_inputs(
    teacher, mlm_checkpoint, toy_data  # noqa: F811
):
    """mini_batch_size cuts a distillation batch into forwards of similar-length rows: the loss over the
    whole batch and its gradients are those of one forward, while no forward is as wide as the batch."""
    import torch
    from sentence_transformers import SentenceTransformer

    from versebert.training.distillation import build_distillation_set, make_distillation_loss

    def loss_and_gradients(mini_batch_size: int):
        config = config_for(teacher, batch_size=8, mini_batch_size=mini_batch_size)
        config = DistillationConfig(**{**config.__dict__, "loss": "kl", "temperature": 0.5})
        rows = build_distillation_set(config, toy_data)
        model = SentenceTransformer(str(mlm_checkpoint), trust_remote_code=True, device="cpu").eval()
        widths = []
        model[0].register_forward_pre_hook(lambda _, args: widths.append(args[0]["input_ids"].shape[1]))
        short_and_long = [min(rows.texts, key=len), *sorted(rows.texts, key=len)[-3:], *rows.texts[:4]]
        features = model.tokenize(short_and_long)
        loss = make_distillation_loss(model, config, rows)([dict(features)], torch.tensor(rows.targets[:8]))
        loss.backward()
        gradients = torch.cat([parameter.grad.flatten() for parameter in model.parameters()
                               if parameter.grad is not None])
        return float(loss.detach()), gradients, widths, features["input_ids"].shape[1]

    whole, whole_gradients, whole_widths, width = loss_and_gradients(8)
    sorted_loss, sorted_gradients, sorted_widths, _ = loss_and_gradients(2)
    assert whole_widths == [width] and len(sorted_widths) == 4
    assert max(sorted_widths) == width and min(sorted_widths) < width, sorted_widths
    assert sorted_loss == pytest.approx(whole, rel=1e-5) and whole > 0.01
    assert torch.allclose(sorted_gradients, whole_gradients, rtol=1e-3, atol=1e-6)


def test_soft_targets_are_zero_when_the_student_matches_the_teacher():
    import torch

    teacher = torch.nn.functional.normalize(torch.randn(8, 16), dim=-1)
    assert float(soft_target_kl(teacher * 3, teacher, 0.05)) == pytest.approx(0, abs=1e-6)
    assert float(soft_target_kl(torch.randn(8, 16), teacher, 0.05)) > 0.1


@pytest.mark.parametrize("loss", ["mse", "mse+kl", "kl"])
def test_distillation_loss_falls_and_the_projection_stays_out_of_the_model(
    loss, teacher, mlm_checkpoint, toy_data, tmp_path  # noqa: F811
):
    from versebert.training.contrastive import train_stage

    config = config_for(teacher, max_steps=20, eval_steps=10, batch_size=16, learning_rate=2e-3)
    config = DistillationConfig(**{**config.__dict__, "loss": loss, "temperature": 0.5})
    result = train_stage(config, toy_data, model=mlm_checkpoint, output=tmp_path / "model")
    values = losses_of(result.work_dir)
    assert np.mean(values[-5:]) < 0.8 * np.mean(values[:5]), values
    checkpoints = sorted((result.work_dir / "checkpoints").glob("checkpoint-*"))
    if loss == "kl":  # similarity distributions compare for any width: nothing to project
        assert checkpoints and not any((checkpoint / PROJECTION_FILE).exists() for checkpoint in checkpoints)
    else:
        assert checkpoints and all((checkpoint / PROJECTION_FILE).is_file() for checkpoint in checkpoints)
        assert load_file(str(checkpoints[0] / PROJECTION_FILE))["weight"].shape == (48, 32)
    assert not list((tmp_path / "model").rglob(PROJECTION_FILE)), "the exported student has no projection"
    from sentence_transformers import SentenceTransformer

    student = SentenceTransformer(str(tmp_path / "model"), trust_remote_code=True, device="cpu")
    assert student.encode(["Jesus wept."]).shape == (1, 32)


def test_length_grouped_distillation_batches_hold_texts_of_similar_length():
    from datasets import Dataset

    from versebert.training.distillation import DistillationSet
    from versebert.training.verse_batch_sampler import encode_row_keys

    texts = tuple(f"{'word ' * (1 + (index * 7) % 40)}{index}" for index in range(64))
    keys = encode_row_keys([[("text", text)] for text in texts])
    spread = {}
    for group_batches in (1, 8):
        rows = DistillationSet(texts, np.zeros((64, 4)), (0,) * 64, keys, length_group_batches=group_batches)
        sampler = rows.batch_sampler()(Dataset.from_dict({"text": list(texts)}), batch_size=8, drop_last=False)
        batches = list(sampler)
        assert sorted(row for batch in batches for row in batch) == list(range(64))
        lengths = [[len(texts[row]) for row in batch] for batch in batches]
        spread[group_batches] = np.mean([max(batch) - min(batch) for batch in lengths])
    assert spread[8] < 0.25 * spread[1], spread


@pytest.mark.parametrize(
    "batching",
    [{}, {"length_group_batches": 2}, {"clusters": 4, "cluster_rows": 3}],
    ids=["random", "length", "clusters"],
)
def test_resuming_a_distillation_run_reproduces_the_uninterrupted_one(
    batching, teacher, mlm_checkpoint, toy_data, tmp_path  # noqa: F811
):
    from versebert.training.contrastive import train_stage

    config = config_for(teacher)
    config = DistillationConfig(**{**config.__dict__, **batching})
    whole = train_stage(config, toy_data, model=mlm_checkpoint, output=tmp_path / "whole" / "model")
    interrupted = tmp_path / "resumed" / "model-run"
    shutil.copytree(whole.work_dir, interrupted)
    shutil.rmtree(interrupted / "checkpoints" / "checkpoint-6")
    (interrupted / "metrics.json").unlink()
    resumed = train_stage(config, toy_data, model=mlm_checkpoint, output=tmp_path / "resumed" / "model", resume=True)
    runs = (whole.model_dir, resumed.model_dir)
    weights = [load_file(str(model_dir / "model.safetensors")) for model_dir in runs]
    for name in weights[0]:
        np.testing.assert_allclose(weights[0][name], weights[1][name], atol=1e-6, err_msg=name)


def test_teacher_clusters_group_neighbours_and_are_seeded():
    from versebert.training.distillation import teacher_clusters

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(5, 16))
    truth = np.repeat(np.arange(5), 40)
    points = centres[truth] + 0.05 * rng.normal(size=(200, 16))
    clusters = teacher_clusters(points.astype(np.float32), 5, seed=1)
    assert len(clusters) == 200
    for centre in range(5):  # every true neighbourhood lands in one cluster
        assert len({clusters[row] for row in np.flatnonzero(truth == centre)}) == 1
    assert clusters == teacher_clusters(points.astype(np.float32), 5, seed=1)
    assert len(set(teacher_clusters(points[:3].astype(np.float32), 50))) <= 3  # never more clusters than texts


def test_cluster_batches_come_from_the_teachers_neighbourhoods(teacher, toy_data):  # noqa: F811
    from versebert.training.distillation import build_distillation_set

    config = DistillationConfig(**{**config_for(teacher).__dict__, "clusters": 3, "cluster_rows": 4})
    rows = build_distillation_set(config, toy_data)
    assert rows.clusters is not None and len(rows.clusters) == len(rows) and len(set(rows.clusters)) == 3
    factory = rows.batch_sampler()
    assert factory.clusters == rows.clusters and factory.cluster_rows == 4


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"clusters": -1}, "distillation.clusters must be a non-negative integer"),
        ({"teacher_words": 1}, "distillation.teacher_words must be true or false"),
        ({"clusters": 8, "cluster_rows": 0}, "distillation.cluster_rows must be a positive integer"),
        ({"clusters": 8, "length_group_batches": 4}, "set one of them"),
        ({"loss": "cosine"}, "distillation.loss must be one of"),
        ({"length_group_batches": 0}, "distillation.length_group_batches must be a positive integer"),
        ({"length_group_batches": 2.5}, "distillation.length_group_batches must be a positive integer"),
        ({"temperature": 0}, "distillation.temperature must be a positive number"),
        ({"teacher_tuning_epochs": -1.0}, "distillation.teacher_tuning_epochs must be 0 or a positive number"),
        ({"teacher_tuning_epochs": True}, "distillation.teacher_tuning_epochs must be 0 or a positive number"),
    ],
)
def test_bad_distillation_settings_are_refused_by_name(setting, message):
    with pytest.raises(ValueError, match=message):
        DistillationConfig(**setting)


def test_teacher_tuning_alone_is_refused_with_the_commands_that_do_it(toy_data):  # noqa: F811
    from versebert.training.distillation import build_distillation_set

    config = DistillationConfig(**{**config_for("unused").__dict__, "teacher_tuning_epochs": 1.0})
    with pytest.raises(UserError, match="step of the pipeline .*--stage query_pairs .*distillation.teacher="):
        build_distillation_set(config, toy_data)
