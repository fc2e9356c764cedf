"""Tiny in-process fixtures for retrieval tests: verses, a word-level tokenizer, a random SentenceTransformer.

Imported by the other ``test_retrieval*``, ``test_eval*`` and ``test_cli_search*`` modules; the tests
here check that the fixtures behave like the real thing where it matters (unit-length embeddings,
one fingerprint per set of weights).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

# Real verse ids, so references ("John 3:16") resolve; WEB-like and KJV-like wording.
WEB_VERSES = [
    (1001001, "In the beginning, God created the heavens and the earth."),
    (19023001, "Yahweh is my shepherd; I shall lack nothing."),
    (26036026, "I will also give you a new heart, and I will put a new spirit within you."),
    (43003016, "For God so loved the world, that he gave his one and only Son."),
    (43011035, "Jesus wept."),
    (46013004, "Love is patient and is kind. Love doesn't envy."),
    (46013005, "doesn't behave itself inappropriately, doesn't seek its own way, is not provoked."),
    (47009007, "Let each man give according as he has determined in his heart; for God loves a cheerful giver."),
    (49002008, "For by grace you have been saved through faith."),
    (62004008, "He who doesn't love doesn't know God, for God is love."),
]
KJV_VERSES = [
    (1001001, "In the beginning God created the heaven and the earth."),
    (19023001, "The LORD is my shepherd; I shall not want."),
    (26036026, "A new heart also will I give you, and a new spirit will I put within you."),
    (43003016, "For God so loved the world, that he gave his only begotten Son."),
    (43011035, "Jesus wept."),
    (46013004, "Charity suffereth long, and is kind; charity envieth not."),
    (46013005, "Doth not behave itself unseemly, seeketh not her own, is not easily provoked."),
    (47009007, "Every man according as he purposeth in his heart, so let him give; for God loveth a cheerful giver."),
    (49002008, "For by grace are ye saved through faith."),
    (62004008, "He that loveth not knoweth not God; for God is love."),
]
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def word_vocabulary(texts) -> list[str]:
    words = sorted({word for text in texts for word in re.findall(r"\w+|[^\w\s]", text.lower())})
    return SPECIAL_TOKENS + words


def build_tokenizer(directory: Path, texts, extra_tokens=()):
    """A fast BERT tokenizer over the texts' words (plus ``extra_tokens``, e.g. ``##`` pieces), saved."""
    from transformers import BertTokenizerFast

    vocab = list(dict.fromkeys(word_vocabulary(texts) + list(extra_tokens)))
    tokenizer = BertTokenizerFast(vocab={token: i for i, token in enumerate(vocab)}, do_lower_case=True)
    tokenizer.save_pretrained(directory)
    return tokenizer


def build_tiny_sentence_transformer(directory: Path, seed: int = 0) -> Path:
    """A randomly initialised 2-layer, 32-wide BERT with mean pooling, saved as a SentenceTransformer."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import BertConfig, BertModel

    backbone = directory / "backbone"
    tokenizer = build_tokenizer(backbone, [text for _, text in WEB_VERSES + KJV_VERSES] + ["new heart love"])
    assert tokenizer.unk_token_id not in tokenizer("a new heart")["input_ids"]
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=37, max_position_embeddings=128)
    BertModel(config).save_pretrained(backbone)
    transformer = Transformer(str(backbone), max_seq_length=64)
    model = SentenceTransformer(modules=[transformer, Pooling(transformer.get_embedding_dimension(), "mean")],
                                device="cpu")
    model.save(str(directory / "model"))
    return directory / "model"


def web_corpus():
    from versebert.retrieval import VerseCorpus

    return VerseCorpus.from_texts("WEB", WEB_VERSES)


def kjv_corpus():
    from versebert.retrieval import VerseCorpus

    return VerseCorpus.from_texts("KJV", KJV_VERSES)


# Training topics for the toy knowledge: none of them is a topic the tests evaluate on.
TOY_TOPIC_VOTES = """Topic\tStart Verse ID\tEnd Verse ID\tVotes\t#toy, CC-BY www.openbible.info/topics
a clean heart\t26036026\t\t40
worry\t19023001\t\t12
worry\t47009007\t\t90
gods love for the world\t43003016\t\t80
gods love for the world\t62004008\t\t30
saved by grace\t49002008\t\t50
patience\t46013004\t46013005\t60
creation\t01001001\t01001031\t70
generosity\t47009007\t\t25
few votes\t43011035\t\t3
"""


def write_toy_topic_votes(path: Path) -> Path:
    path.write_text(TOY_TOPIC_VOTES, encoding="utf-8")
    return path


def toy_knowledge(tmp_path: Path):
    from versebert.retrieval.topic_knowledge import TopicKnowledge

    return TopicKnowledge.load_topic_votes(write_toy_topic_votes(tmp_path / "toy-votes.tsv"))


def toy_knowledge_index(tmp_path: Path, **build):
    """Joined WEB+KJV documents with the toy knowledge: the default search in miniature."""
    from versebert.retrieval import SearchIndex
    from versebert.retrieval.verse_documents import VerseDocuments

    return SearchIndex.build([web_corpus(), kjv_corpus()], documents=VerseDocuments(),
                             knowledge=toy_knowledge(tmp_path), show_progress=False, **build)


def test_tiny_encoder_gives_unit_vectors_and_a_stable_fingerprint(tmp_path):
    from versebert.retrieval import DenseEncoder

    first = build_tiny_sentence_transformer(tmp_path / "a", seed=0)
    again = build_tiny_sentence_transformer(tmp_path / "b", seed=0)
    other = build_tiny_sentence_transformer(tmp_path / "c", seed=1)
    encoder = DenseEncoder(first)
    embeddings = encoder.encode(["a new heart", "Jesus wept."])
    assert embeddings.shape == (2, 32) and embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    assert encoder.fingerprint == DenseEncoder(again).fingerprint
    assert encoder.fingerprint != DenseEncoder(other).fingerprint
