"""`versebert evaluate fusion`: a model's fusion weights chosen on dev topics and saved where search and
the evaluation read them, never chosen on the topics the knowledge was built from."""

from __future__ import annotations

import pytest

from tests.test_retrieval_support import build_tiny_sentence_transformer, write_toy_topic_votes
from versebert import cli
from versebert.errors import UserError
from versebert.evaluation.fusion_tuning import tune_model_fusion
from versebert.retrieval.fusion_weights import SIGNALS, FusionWeights

DEV_VOTES = """Topic\tStart Verse ID\tEnd Verse ID\tVotes\t#toy dev topics
money worries\t47009007\t\t40
a new heart\t26036026\t\t30
love one another\t43013034\t\t50
"""


@pytest.fixture(autouse=True, scope="module")
def private_cache(tmp_path_factory):
    """One cache for the module: the joined BM25 and the model's embeddings are built once."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("VERSEBERT_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture
def files(tmp_path):
    dev = tmp_path / "dev.tsv"
    dev.write_text(DEV_VOTES, encoding="utf-8")
    return write_toy_topic_votes(tmp_path / "train.tsv"), dev, build_tiny_sentence_transformer(tmp_path / "st")




def test_weights_for_every_signal_are_chosen_on_dev_and_saved_with_the_model(files):
    train, dev, model = files
    assert FusionWeights.load(model) is None
    index, weights = tune_model_fusion(model, "WEB", train, dev, joined=("WEB", "KJV"), show_progress=False)
    saved = FusionWeights.load(model)
    assert saved is not None and saved.as_mapping() == weights.as_mapping()
    assert set(saved.as_mapping()) == set(SIGNALS) and saved.as_mapping()["bm25"] == 1.0
    assert "dev.tsv" in saved.chosen_on and saved.tuned_ndcg >= saved.equal_ndcg
    assert index.encoder is not None and index.memory is not None


def test_dev_topics_the_knowledge_holds_are_refused_before_anything_is_embedded(files, monkeypatch):
    train, _, model = files
    import versebert.evaluation.harness as harness

    monkeypatch.setattr(harness, "model_search_index", lambda *a, **k: pytest.fail("embedded before the check"))
    with pytest.raises(UserError, match="evaluated topics are in the knowledge"):
        tune_model_fusion(model, "WEB", train, train, joined=("WEB", "KJV"), show_progress=False)


def test_the_command_saves_the_weights_and_says_so(files, capsys, monkeypatch):
    train, dev, model = files
    import versebert.evaluation.fusion_tuning as fusion_tuning

    real = fusion_tuning.tune_model_fusion
    monkeypatch.setattr(fusion_tuning, "tune_model_fusion",
                        lambda *a, **k: real(*a, **{**k, "joined": ("WEB", "KJV"), "show_progress": False}))
    code = cli.main(["evaluate", "fusion", "--model", str(model), "--judgments", str(dev), "--knowledge", str(train)])
    assert code == 0 and FusionWeights.load(model) is not None
    assert f"saved in {model.resolve()}" in capsys.readouterr().out


def test_the_command_refuses_a_directory_that_is_no_model(tmp_path, files):
    train, dev, _ = files
    assert cli.main(["evaluate", "fusion", "--model", str(tmp_path / "nope"), "--judgments", str(dev)]) != 0
