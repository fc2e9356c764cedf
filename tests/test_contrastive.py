"""Both contrastive stages end to end on tiny data, their configs, and the graded dev evaluator.

The saved models are loaded in a subprocess whose import system refuses ``modeling_versebert``, as on a
machine without our package, so a broken ``auto_map`` or missing remote code cannot hide behind the
locally registered classes.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import shutil
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from tests.test_remote_code import BLOCK_OUR_PACKAGE, run_without_our_package
from versebert.conventions import work_dir_for
from versebert.data.openbible import Judgments, RelevanceRule, topic_query_id, verse_doc_id
from versebert.errors import UserError
from versebert.training.contrastive import (
    ContrastiveTrainingConfig,
    QueryPairsConfig,
    StageData,
    TranslationPairsConfig,
    curve_tag,
    dev_evaluator,
    graded_information_retrieval_evaluator,
    make_loss,
    resume_checkpoint,
    stage_config,
    stage_evaluator,
    train_stage,
)
from versebert.training.contrastive_probe import ProbeConfig
from versebert.training.sentence_model import build_sentence_model

WORDS = "lord god love heart faith hope grace peace sin light world spirit king son father shepherd".split()
SYNONYMS = {"lord": "yahweh", "love": "charity", "heart": "mind", "king": "ruler", "son": "child"}
TOPICS = {"love": {43001001: 3, 43001002: 1}, "hope": {43002005: 2}, "peace": {43003007: 1, 43003008: 4}}


def toy_texts():
    """Three translations of 60 verses: KJV, a synonym-swapped WEB, and a reordered BBE."""
    texts = {"KJV": {}, "WEB": {}, "BBE": {}}
    for chapter in (1, 2, 3):
        for verse in range(1, 21):
            verse_id = 43_000_000 + chapter * 1000 + verse
            rng = random.Random(verse_id)
            words = [rng.choice(WORDS) for _ in range(7)]
            texts["KJV"][verse_id] = " ".join(words) + "."
            texts["WEB"][verse_id] = " ".join(SYNONYMS.get(word, word) for word in words) + "."
            texts["BBE"][verse_id] = " ".join(reversed(words)) + "!"
    return texts


def toy_judgments():
    votes = {topic: {verse_id: 10 * 2 ** (grade - 1) for verse_id, grade in grades.items()}
             for topic, grades in TOPICS.items()}
    return Judgments(qrels=TOPICS, votes=votes, rule=RelevanceRule(), source="toy")


def tiny_training(**overrides):
    settings = dict(batch_size=8, max_steps=2, eval_steps=1, logging_steps=1, eval_batch_size=32, max_seq_length=32,
                    warmup=0, learning_rate=1e-3)
    return ContrastiveTrainingConfig(**{**settings, **overrides})


TOY_PROBE = ProbeConfig(held_out_per_mille=200, num_distractors=3, max_verses=50, distractors="same_chapter")


def random_mlm_checkpoint(directory, tokenizer_dir, *, hidden_size=32, num_hidden_layers=2, intermediate_size=37,
                          seed=0):
    """A randomly initialised VerseBERT MLM checkpoint with the tiny tokenizer, saved in ``directory``."""
    import torch
    from transformers import AutoTokenizer

    from modeling_versebert import VerseBertConfig, VerseBertForMaskedLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = VerseBertConfig(vocab_size=tokenizer.vocab_size, hidden_size=hidden_size,
                             num_hidden_layers=num_hidden_layers, num_attention_heads=4,
                             intermediate_size=intermediate_size, max_position_embeddings=64)
    torch.manual_seed(seed)
    VerseBertForMaskedLM(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def mlm_checkpoint(tmp_path_factory, tiny_tokenizer_dir):
    return random_mlm_checkpoint(tmp_path_factory.mktemp("mlm"), tiny_tokenizer_dir)


@pytest.fixture(scope="module")
def toy_data():
    texts = toy_texts()
    return StageData(texts=texts, corpus=texts["WEB"], dev=toy_judgments(), train=toy_judgments())


@pytest.fixture(scope="module")
def stage_a(mlm_checkpoint, toy_data, tmp_path_factory):
    config = TranslationPairsConfig(translations=("KJV", "WEB", "BBE"), probe=TOY_PROBE,
                                    training=tiny_training(symmetric=True))
    output = tmp_path_factory.mktemp("stage-a") / "model"
    return train_stage(config, toy_data, model=mlm_checkpoint, output=output)


@pytest.fixture(scope="module")
def stage_b(stage_a, toy_data, tmp_path_factory):
    config = QueryPairsConfig(translations=("WEB", "KJV"), probe=TOY_PROBE,
                              training=tiny_training(loss="cached_mnrl", mini_batch_size=4))
    output = tmp_path_factory.mktemp("stage-b") / "model"
    return train_stage(config, toy_data, model=stage_a.model_dir, output=output)


# ---------------------------------------------------------------------------------------------
# The graded dev evaluator


def test_graded_ndcg_matches_a_hand_computation():
    relevant = {"q1": {"d1": 3, "d2": 1}, "q2": {"d3": 2}}
    evaluator = graded_information_retrieval_evaluator(
        {"q1": "first", "q2": "second"}, {d: d for d in ("d1", "d2", "d3", "d4")}, relevant, ndcg_at_k=[2, 10]
    )
    hits = [
        [{"corpus_id": "d2", "score": 0.9}, {"corpus_id": "d4", "score": 0.8}, {"corpus_id": "d1", "score": 0.7}],
        [{"corpus_id": "d4", "score": 0.9}, {"corpus_id": "d3", "score": 0.5}],
    ]
    ndcg = evaluator.compute_metrics(hits)["ndcg@k"]
    # q1: gains 1, 0, 3 -> DCG = 1/1 + 0 + 3/2 = 2.5; ideal 3, 1 -> 3 + 1/log2(3)
    # q2: gains 0, 2 -> DCG = 2/log2(3); ideal 2 -> 2
    q1_at_10 = 2.5 / (3 + 1 / math.log2(3))
    q2 = (2 / math.log2(3)) / 2
    assert ndcg[10] == pytest.approx((q1_at_10 + q2) / 2)
    assert ndcg[2] == pytest.approx((1 / (3 + 1 / math.log2(3)) + q2) / 2)


def test_dev_evaluator_agrees_with_an_independent_ranking(mlm_checkpoint, toy_data):
    model = build_sentence_model(mlm_checkpoint, max_seq_length=32)
    corpus = toy_data.texts["WEB"]
    metrics = dev_evaluator(toy_data.dev, corpus, batch_size=16)(model)

    ids = sorted(corpus)
    verses = model.encode([corpus[verse_id] for verse_id in ids], normalize_embeddings=True)
    expected = []
    for topic, grades in TOPICS.items():
        scores = verses @ model.encode([topic], normalize_embeddings=True)[0]
        ranking = sorted(range(len(ids)), key=lambda i: (-scores[i], verse_doc_id(ids[i])))[:10]
        dcg = sum(grades.get(ids[i], 0) / math.log2(rank + 2) for rank, i in enumerate(ranking))
        ideal = sum(grade / math.log2(rank + 2) for rank, grade in enumerate(sorted(grades.values(), reverse=True)))
        expected.append(dcg / ideal)
    assert metrics["dev_cosine_ndcg@10"] == pytest.approx(np.mean(expected), abs=1e-6)
    assert topic_query_id("love").startswith("t")


def test_grades_must_be_a_mapping():
    with pytest.raises(ValueError, match="relevant_docs\\['q'\\] must map doc ids to positive grades"):
        graded_information_retrieval_evaluator({"q": "x"}, {"d": "y"}, {"q": {"d"}})


# ---------------------------------------------------------------------------------------------
# Configs


def test_configs_name_the_bad_field():
    with pytest.raises(ValueError, match="training.batch_size"):
        ContrastiveTrainingConfig(batch_size=0)
    with pytest.raises(ValueError, match="training.loss"):
        ContrastiveTrainingConfig(loss="triplet")
    with pytest.raises(ValueError, match="training.mini_batch_size"):
        ContrastiveTrainingConfig(loss="cached_mnrl", batch_size=16, mini_batch_size=32)
    with pytest.raises(ValueError, match="training.warmup"):
        ContrastiveTrainingConfig(warmup=10)
    with pytest.raises(ValueError, match="training.mixed_precision"):
        ContrastiveTrainingConfig(mixed_precision="fp32")
    with pytest.raises(ValueError, match="translation_pairs.translations needs two different"):
        TranslationPairsConfig(translations=("KJV", "kjv"))
    with pytest.raises(ValueError, match="query_pairs.max_per_topic"):
        QueryPairsConfig(max_per_topic=0)


def typed_preset(sections):
    """A preset with a tiny model section and the given stage sections, as a YAML file would give them."""
    from versebert.training.config import preset_from_mapping

    shape = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}
    return preset_from_mapping({"model": shape, **sections})


def test_stage_sections_are_read_from_a_preset_mapping():
    preset = {
        "translation_pairs": {"translations": ["kjv", "bbe"], "probe": {"target": "WEB", "held_out_per_mille": 50},
                              "training": {"batch_size": 32, "scale": 20}},
        "query_pairs": {"min_votes": 20},
    }
    stage_a = stage_config("translation_pairs", typed_preset(preset))
    assert stage_a.translations == ("KJV", "BBE") and stage_a.training.batch_size == 32
    stage_b = stage_config("query_pairs", typed_preset(preset))
    assert stage_b.probe == stage_a.probe and stage_b.probe.held_out_per_mille == 50
    assert stage_b.min_votes == 20 and stage_b.translations == ("WEB",)
    with pytest.raises(UserError, match="translation_pairs.training.batchsize"):
        stage_config("translation_pairs", typed_preset({"translation_pairs": {"training": {"batchsize": 8}}}))
    preset["query_pairs"]["probe"] = {"target": "BBE"}
    with pytest.raises(UserError, match="query_pairs.probe is not a setting"):
        stage_config("query_pairs", typed_preset(preset))


@pytest.mark.parametrize("name", ["tiny", "mini", "small", "small-minilm", "minilm-l3", "minilm-l2", "base"])
def test_every_preset_has_both_stages(name):
    from versebert.training.config import load_preset

    preset = load_preset(name)
    stage_a, stage_b = stage_config("translation_pairs", preset), stage_config("query_pairs", preset)
    assert stage_b.probe == stage_a.probe
    assert stage_a.training.max_seq_length <= preset.model.max_position_embeddings


def test_the_script_explains_a_missing_input(tmp_path, capsys):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
    from train_contrastive import main

    code = main(["--stage", "query_pairs", "--config", "tiny", "--model", str(tmp_path), "--output",
                 str(tmp_path / "out"), "--dev-topics", str(tmp_path / "dev.tsv")])
    assert code == 2 and "needs the train topic votes (--train-topics)" in capsys.readouterr().err


def test_trainer_logs_become_curve_tags():
    assert curve_tag("eval_probe_accuracy") == "eval/probe_accuracy"
    assert curve_tag("loss") == "train/loss"
    assert curve_tag("train_loss") == "summary/loss"


def test_losses_follow_the_config(mlm_checkpoint):
    from sentence_transformers.sentence_transformer import losses

    model = build_sentence_model(mlm_checkpoint)
    plain = make_loss(model, ContrastiveTrainingConfig())
    assert type(plain) is losses.MultipleNegativesRankingLoss and plain.directions == ("query_to_doc",)
    cached = make_loss(model, ContrastiveTrainingConfig(loss="cached_mnrl", symmetric=True, mini_batch_size=8))
    assert isinstance(cached, losses.CachedMultipleNegativesRankingLoss) and cached.mini_batch_size == 8
    assert cached.directions == ("query_to_doc", "doc_to_query")


# ---------------------------------------------------------------------------------------------
# Two-step runs of each stage


def test_stage_a_runs_two_steps_and_records_before_and_after(stage_a):
    metrics = json.loads((stage_a.work_dir / "metrics.json").read_text())
    assert metrics["stage"] == "translation_pairs" and metrics["selection_metric"] == "probe_accuracy"
    for moment in ("before", "after"):
        assert 0 <= metrics[moment]["probe_accuracy"] <= 1 and 0 <= metrics[moment]["dev_cosine_ndcg@10"] <= 1
    curve = [json.loads(line) for line in (stage_a.work_dir / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in curve if "eval/probe_accuracy" in entry] == [0, 1, 2]
    assert curve[-1]["step"] == 2 and "best/dev_cosine_ndcg@10" in curve[-1]
    assert any("train/loss" in entry for entry in curve)
    assert (stage_a.work_dir / "curves.png").is_file()
    assert stage_a.best_checkpoint is not None
    readme = (stage_a.model_dir / "README.md").read_text()
    assert "trust_remote_code=True)" in readme and 'SentenceTransformer("sentence_transformers_model_id")' not in readme


def test_stage_b_trains_from_the_stage_a_model(stage_a, stage_b, toy_data):
    from sentence_transformers import SentenceTransformer

    metrics = json.loads((stage_b.work_dir / "metrics.json").read_text())
    assert metrics["selection_metric"] == "dev_cosine_ndcg@10"
    assert metrics["model"] == str(stage_a.model_dir)
    assert stage_b.pairs == 10  # 5 (topic, verse) pairs, each in WEB and KJV
    first = load_file(str(stage_a.model_dir / "model.safetensors"))
    trained = load_file(str(stage_b.work_dir / "checkpoints" / "checkpoint-2" / "model.safetensors"))
    assert any(not np.array_equal(first[name], trained[name]) for name in first), "stage B did not train"
    # the reported "after" metrics are those of the saved model (the restored best checkpoint)
    config = QueryPairsConfig(translations=("WEB", "KJV"), probe=TOY_PROBE, training=tiny_training())
    saved = SentenceTransformer(str(stage_b.model_dir), trust_remote_code=True, device="cpu")
    again = stage_evaluator(config, toy_data)(saved)
    for name in ("probe_accuracy", "dev_cosine_ndcg@10", "dev_cosine_mrr@10"):
        assert again[name] == pytest.approx(metrics["after"][name], abs=1e-6), name


def test_stage_b_starts_from_the_evaluation_stage_a_recorded_for_its_model(stage_a, stage_b):
    recorded = json.loads((stage_a.work_dir / "metrics.json").read_text())
    assert stage_b.before == recorded["after"]


def copy_of_stage_a(stage_a, directory, **after):
    """Stage A's model and record elsewhere, its recorded "after" numbers replaced by ``after``."""
    model = directory / "model"
    shutil.copytree(stage_a.model_dir, model)
    record = json.loads((stage_a.work_dir / "metrics.json").read_text())
    record["after"] |= after
    work_dir_for(model).mkdir()
    (work_dir_for(model) / "metrics.json").write_text(json.dumps(record))
    return model


@pytest.mark.parametrize("change", ["nothing", "weights", "evaluation"])
def test_a_recorded_evaluation_is_reused_only_for_the_same_model_and_evaluation(stage_a, toy_data, tmp_path, change):
    model = copy_of_stage_a(stage_a, tmp_path, probe_accuracy=-1.0)  # a number no evaluation gives
    if change == "weights":
        from safetensors.torch import load_file, save_file

        weights = load_file(str(model / "model.safetensors"))
        weights = {name: tensor + 0.01 for name, tensor in weights.items()}
        save_file(weights, str(model / "model.safetensors"), metadata={"format": "pt"})
    length = 24 if change == "evaluation" else 32  # max_seq_length is part of what is evaluated
    config = QueryPairsConfig(probe=TOY_PROBE, training=tiny_training(max_steps=1, max_seq_length=length))
    result = train_stage(config, toy_data, model=model, output=tmp_path / "stage-b")
    assert (result.before["probe_accuracy"] == -1.0) is (change == "nothing")
    assert 0 <= result.after["probe_accuracy"] <= 1


LOAD_SENTENCE_MODELS_WITHOUT_PACKAGE = BLOCK_OUR_PACKAGE + textwrap.dedent(
    """
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel, AutoTokenizer

    texts, output, directories = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3:]
    arrays, classes = {}, []
    for index, directory in enumerate(directories):
        model = SentenceTransformer(directory, trust_remote_code=True, device="cpu")
        arrays[f"st{index}"] = model.encode(texts, convert_to_numpy=True)
        tokenizer = AutoTokenizer.from_pretrained(directory, trust_remote_code=True)
        encoder = AutoModel.from_pretrained(directory, trust_remote_code=True).eval()
        batch = tokenizer(texts, padding=True, return_tensors="pt")
        with torch.no_grad():
            states = encoder(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        pooled = torch.nn.functional.normalize((states * mask).sum(1) / mask.sum(1), dim=-1)
        arrays[f"auto{index}"] = pooled.numpy()
        classes += [type(model[0].model), type(encoder)]
    np.savez(output, **arrays)
    print("REPORT", json.dumps({
        "classes": [f"{c.__module__}.{c.__name__}" for c in classes],
        "our_package_imported": any(m.split(".")[0] == "modeling_versebert" for m in sys.modules),
    }))
    """
)


def test_both_stage_outputs_load_without_our_package(stage_a, stage_b, tmp_path):
    from sentence_transformers import SentenceTransformer

    texts = ["In the beginning God created the heaven and the earth.", "Jesus wept.", "love"]
    output = tmp_path / "embeddings.npz"
    directories = [str(stage_a.model_dir), str(stage_b.model_dir)]
    result = run_without_our_package(
        LOAD_SENTENCE_MODELS_WITHOUT_PACKAGE, json.dumps(texts), str(output), *directories, cwd=tmp_path
    )
    report = json.loads(next(line for line in result.stdout.splitlines() if line.startswith("REPORT "))[7:])
    assert not report["our_package_imported"]
    assert all(name.startswith("transformers_modules.") for name in report["classes"]), report["classes"]

    remote = np.load(output)
    for index, directory in enumerate(directories):
        local = SentenceTransformer(directory, trust_remote_code=True, device="cpu").encode(texts)
        np.testing.assert_allclose(remote[f"st{index}"], local, atol=1e-5)
        np.testing.assert_allclose(remote[f"auto{index}"], local, atol=1e-5)  # mean pooling + normalize
        np.testing.assert_allclose(np.linalg.norm(local, axis=1), 1, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# Resuming


def test_resuming_from_a_checkpoint_reproduces_the_uninterrupted_run(stage_a, toy_data, tmp_path, tiny_tokenizer_dir):
    """Resume from step 1 of stage A's run, handing in a *different* starting model: only weights,
    optimizer and data order restored from the checkpoint can reproduce step 2 exactly."""
    import torch
    from transformers import AutoTokenizer

    from modeling_versebert import VerseBertConfig, VerseBertForMaskedLM

    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    torch.manual_seed(123)
    other = tmp_path / "other-mlm"
    VerseBertForMaskedLM(VerseBertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                                         num_attention_heads=4, intermediate_size=37,
                                         max_position_embeddings=64)).save_pretrained(other)
    tokenizer.save_pretrained(other)
    checkpoints = stage_a.work_dir / "checkpoints"
    config = TranslationPairsConfig(translations=("KJV", "WEB", "BBE"), probe=TOY_PROBE,
                                    training=tiny_training(symmetric=True))
    resumed = train_stage(config, toy_data, model=other, output=tmp_path / "model", resume=checkpoints / "checkpoint-1")
    assert not (resumed.work_dir / "checkpoints" / "checkpoint-1").exists(), "step 1 was trained again"
    straight = load_file(str(checkpoints / "checkpoint-2" / "model.safetensors"))
    again = load_file(str(resumed.work_dir / "checkpoints" / "checkpoint-2" / "model.safetensors"))
    assert straight.keys() == again.keys()
    for name in straight:
        np.testing.assert_allclose(again[name], straight[name], atol=1e-6, err_msg=name)


def test_resume_needs_a_checkpoint_and_a_fresh_run_needs_an_empty_directory(stage_a, tmp_path):
    with pytest.raises(ValueError, match="nothing to resume"):
        resume_checkpoint(True, tmp_path / "checkpoints")
    with pytest.raises(ValueError, match="already holds checkpoints"):
        resume_checkpoint(False, stage_a.work_dir / "checkpoints")
    assert resume_checkpoint(True, stage_a.work_dir / "checkpoints").endswith("checkpoint-2")


def test_restart_discards_a_finished_run_and_trains_it_afresh(stage_a, mlm_checkpoint, toy_data, tmp_path):
    """A copy of stage A's finished run holds checkpoints: a fresh run refuses it, a changed setting
    cannot resume it, and a restart trains the same two steps again from the start."""
    config = TranslationPairsConfig(translations=("KJV", "WEB", "BBE"), probe=TOY_PROBE,
                                    training=tiny_training(symmetric=True))
    work_dir = tmp_path / "model-run"
    shutil.copytree(stage_a.work_dir, work_dir)
    (work_dir / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="already holds checkpoints"):
        train_stage(config, toy_data, model=mlm_checkpoint, output=tmp_path / "model")
    changed = dataclasses.replace(config, training=tiny_training(symmetric=True, learning_rate=5e-4))
    with pytest.raises(ValueError, match="rerun with --restart"):
        train_stage(changed, toy_data, model=mlm_checkpoint, output=tmp_path / "model", resume=True)
    with pytest.raises(ValueError, match="exclude each other"):
        train_stage(config, toy_data, model=mlm_checkpoint, output=tmp_path / "model", resume=True, restart=True)
    restarted = train_stage(config, toy_data, model=mlm_checkpoint, output=tmp_path / "model", restart=True)
    assert (work_dir / "notes.txt").read_text() == "mine", "only the run's own records are discarded"
    for step in ("checkpoint-1", "checkpoint-2"):
        straight = load_file(str(stage_a.work_dir / "checkpoints" / step / "model.safetensors"))
        again = load_file(str(restarted.work_dir / "checkpoints" / step / "model.safetensors"))
        for name in straight:
            np.testing.assert_allclose(again[name], straight[name], atol=1e-6, err_msg=name)


def test_the_script_refuses_restart_with_resume(tmp_path, capsys):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
    from train_contrastive import main

    with pytest.raises(SystemExit):
        main(["--stage", "query_pairs", "--config", "tiny", "--model", str(tmp_path), "--output",
              str(tmp_path / "out"), "--dev-topics", str(tmp_path / "dev.tsv"), "--resume", "--restart"])
    assert "not allowed with argument" in capsys.readouterr().err


def _trainer_end(epoch, global_step, log_history=(), num_train_epochs=3, max_steps=609):
    from types import SimpleNamespace

    from transformers import TrainerControl, TrainerState

    state = TrainerState(epoch=epoch, global_step=global_step, max_steps=max_steps, log_history=list(log_history))
    return SimpleNamespace(num_train_epochs=num_train_epochs), state, TrainerControl()


@pytest.mark.parametrize(
    ("epoch", "step", "history", "expected"),
    [
        (2.975, 604, [], True),  # the sampler's last epoch ran 5 batches short of the announced length
        (2.975, 604, [{"step": 604, "eval_loss": 1.0}], False),  # already evaluated there: not twice
        (2.0, 406, [], False),  # an epoch that is not the last
        (2.975, 604, [{"step": 604, "loss": 1.0}], True),  # a training log is not an evaluation
    ],
)
def test_the_end_of_the_last_epoch_is_evaluated_and_saved_even_when_it_comes_early(epoch, step, history, expected):
    from versebert.training.contrastive import EvaluateLastStep

    args, state, control = _trainer_end(epoch, step, history)
    EvaluateLastStep().on_epoch_end(args, state, control)
    assert control.should_evaluate is expected and control.should_save is expected


def test_the_last_step_is_evaluated_when_training_stops_at_max_steps():
    from versebert.training.contrastive import EvaluateLastStep

    args, state, control = _trainer_end(1.25, 254, num_train_epochs=1.25, max_steps=254)
    EvaluateLastStep().on_step_end(args, state, control)
    assert control.should_evaluate and control.should_save


def test_stage_b_trains_on_triplets_with_mined_hard_negatives(stage_a, toy_data, tmp_path, monkeypatch):
    from versebert.training.contrastive import PAIR_SOURCES

    monkeypatch.setenv("VERSEBERT_CACHE", str(tmp_path / "cache"))
    config = QueryPairsConfig(translations=("WEB", "KJV"), probe=TOY_PROBE, hard_negatives=1,
                              training=tiny_training(min_batch_size=2))
    pairs = PAIR_SOURCES[QueryPairsConfig].build(config, toy_data)
    assert pairs.dataset().column_names == ["anchor", "positive", "negative_1"]
    for topic, negative in zip(pairs.anchors, (row[0] for row in pairs.negatives), strict=True):
        judged_texts = {texts[v] for texts in toy_data.texts.values() for v in TOPICS[topic] if v in texts}
        assert negative not in judged_texts
    result = train_stage(config, toy_data, model=stage_a.model_dir, output=tmp_path / "model")
    curve = [json.loads(line) for line in (result.work_dir / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert max(entry["step"] for entry in curve if "train/loss" in entry) == 2
