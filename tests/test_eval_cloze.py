"""The MLM cloze probe with a tiny randomly initialised BERT and a tokenizer built here."""

from __future__ import annotations

import math

import pytest
import torch

from tests.test_retrieval_support import build_tokenizer
from versebert.errors import UserError
from versebert.evaluation.cloze import (
    ClozeItem,
    beam_candidates,
    load_items,
    mask_item,
    run_cloze,
)

TEXTS = {
    49002008: "For by grace you have been saved through faith.",
    19023001: "Yahweh is my shepherd: I shall lack nothing.",
    43011035: "Jesus wept.",
}
# "shepherd" is left out of the vocabulary and offered as two pieces, so it is masked as two.
PIECES = ("shep", "##herd")


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    texts = [text.replace("shepherd", "") for text in TEXTS.values()]
    return build_tokenizer(tmp_path_factory.mktemp("tok"), texts, extra_tokens=PIECES)


@pytest.fixture(scope="module")
def model(tokenizer):
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=37, max_position_embeddings=64)
    return BertForMaskedLM(config).eval()


def rigged(model, tokenizer, favourites: dict[str, float]):
    """The tiny model with its output bias pushed towards some tokens, so we know what it will predict."""
    import copy

    rigged_model = copy.deepcopy(model)
    with torch.no_grad():
        bias = rigged_model.cls.predictions.decoder.bias
        for token, boost in favourites.items():
            bias[tokenizer.convert_tokens_to_ids(token)] += boost
    return rigged_model


def test_each_wordpiece_of_the_word_gets_its_own_mask(tokenizer):
    ids, positions, targets = mask_item(TEXTS[19023001], "shepherd", tokenizer)
    assert tokenizer.convert_ids_to_tokens(targets) == list(PIECES)
    assert len(positions) == 2 and positions[1] == positions[0] + 1
    assert [ids[i] for i in positions] == [tokenizer.mask_token_id] * 2
    unmasked = tokenizer(TEXTS[19023001])["input_ids"]
    kept = [i for i in range(len(ids)) if i not in positions]
    assert [ids[i] for i in kept] == [unmasked[i] for i in kept]


def test_single_piece_word_gets_one_mask_and_matching_is_case_insensitive(tokenizer):
    ids, positions, targets = mask_item(TEXTS[49002008], "GRACE", tokenizer)
    assert len(positions) == 1 and tokenizer.convert_ids_to_tokens(targets) == ["grace"]
    assert ids.count(tokenizer.mask_token_id) == 1


def test_word_inside_another_word_is_not_matched(tokenizer):
    with pytest.raises(ValueError, match="does not occur"):
        mask_item(TEXTS[43011035], "wep", tokenizer)


def test_rigged_model_predicts_its_favourite_and_accuracy_counts_it(model, tokenizer):
    items = [ClozeItem(49002008, "grace"), ClozeItem(43011035, "wept")]
    report = run_cloze(rigged(model, tokenizer, {"grace": 50.0}), tokenizer, items, TEXTS, top_k=3)
    grace, wept = report.results
    assert grace.predictions[0] == "grace" and grace.target_rank == 1
    assert wept.predictions[0] == "grace" and wept.target_rank != 1
    assert report.top1_accuracy == 0.5


def test_multi_piece_target_is_ranked_by_joint_beam_search(model, tokenizer):
    # Both positions prefer "shep" (60) over "##herd" (50) over everything else, so the best
    # sequences are shep+shep, then shep+##herd / ##herd+shep (tied, broken by token ids).
    items = [ClozeItem(19023001, "shepherd")]
    report = run_cloze(rigged(model, tokenizer, {"shep": 60.0, "##herd": 50.0}), tokenizer, items, TEXTS, top_k=4)
    (result,) = report.results
    assert result.target == list(PIECES)
    assert result.predictions[0] == "shep shep"
    assert "shepherd" in result.predictions[1:3]
    assert result.target_rank in (2, 3)
    assert report.top1_accuracy == 0.0 and report.topk_accuracy == 1.0


def test_random_model_runs_on_a_batch_with_padding(model, tokenizer):
    items = [ClozeItem(v, w) for v, w in [(49002008, "faith"), (43011035, "Jesus"), (19023001, "shepherd")]]
    one_batch = run_cloze(model, tokenizer, items, TEXTS, top_k=5, batch_size=3)
    one_by_one = run_cloze(model, tokenizer, items, TEXTS, top_k=5, batch_size=1)
    assert [r.predictions for r in one_batch.results] == [r.predictions for r in one_by_one.results]
    assert all(len(r.predictions) == 5 for r in one_batch.results)


def test_beam_candidates_are_the_best_joint_sequences():
    log_probs = torch.log(torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1]]))
    candidates = beam_candidates(log_probs, beam=3)
    assert [pieces for pieces, _ in candidates] == [(0, 1), (1, 1), (0, 0)]
    assert candidates[0][1] == pytest.approx(math.log(0.6 * 0.7))


def test_items_naming_unknown_verses_or_words_are_user_errors(model, tokenizer):
    with pytest.raises(UserError, match="not in the corpus"):
        run_cloze(model, tokenizer, [ClozeItem(1001001, "beginning")], TEXTS)
    with pytest.raises(UserError, match="cloze item 43011035 'love'"):
        run_cloze(model, tokenizer, [ClozeItem(43011035, "love")], TEXTS)


def test_default_items_ship_with_the_package():
    translation, items = load_items()
    assert translation == "WEB"
    assert 30 <= len(items) <= 40
    assert {"grace", "faith", "shepherd", "light"} <= {item.word.lower() for item in items}


def test_bad_items_file_is_a_user_error(tmp_path):
    path = tmp_path / "items.json"
    path.write_text('{"items": [{"verse": 1}]}')
    with pytest.raises(UserError, match="expected"):
        load_items(path)
    with pytest.raises(UserError, match="not found"):
        load_items(tmp_path / "missing.json")


@pytest.mark.slow
def test_default_items_occur_in_their_web_verses():
    import re

    from versebert.retrieval import VerseCorpus

    translation, items = load_items()
    corpus = VerseCorpus.from_translation(translation)
    for item in items:
        assert re.search(rf"(?<!\w){re.escape(item.word)}(?!\w)", corpus.text(item.verse_id), re.IGNORECASE), item


def test_a_partial_translation_probes_the_items_it_holds_and_names_the_rest(model, tokenizer, tmp_path, monkeypatch):
    from versebert.evaluation import cloze
    from versebert.retrieval import VerseCorpus

    model_dir = tmp_path / "mlm"
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    items = tmp_path / "items.json"
    items.write_text('{"translation": "WEB", "items": [{"verse_id": 49002008, "word": "grace"},'
                     ' {"verse_id": 1001001, "word": "beginning"}]}')
    partial = VerseCorpus.from_texts("NT", [(49002008, TEXTS[49002008]), (43011035, TEXTS[43011035])])
    monkeypatch.setattr(VerseCorpus, "from_translation", classmethod(lambda cls, code: partial))

    report = cloze.probe_checkpoint(model_dir, items_path=items)
    assert [result.verse_id for result in report.results] == [49002008]
    assert report.skipped_verse_ids == [1001001]
    assert "1 item(s) skipped" in cloze.format_report(report)

    items.write_text('{"translation": "WEB", "items": [{"verse_id": 1001001, "word": "beginning"}]}')
    with pytest.raises(UserError, match="none of the 1 cloze items"):
        cloze.probe_checkpoint(model_dir, items_path=items)
