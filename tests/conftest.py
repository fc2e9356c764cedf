"""Shared fixtures: a tiny VerseBERT config and a tiny WordPiece tokenizer, both built in-process."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tiny test models run fastest on one thread, and a second thread only adds scheduling noise.
torch.set_num_threads(1)

TINY_VERSES = [
    "In the beginning God created the heaven and the earth.",
    "For God so loved the world, that he gave his only begotten Son.",
    "The Lord is my shepherd; I shall not want.",
    "A new heart also will I give you, and a new spirit will I put within you.",
    "Jesus wept.",
    "Love is patient and is kind; love does not envy.",
    "For by grace you have been saved through faith.",
    "I am the light of the world.",
    "Trust in the Lord with all your heart.",
    "Be still, and know that I am God.",
]


@pytest.fixture
def tiny_config():
    from modeling_versebert import VerseBertConfig

    return VerseBertConfig(
        vocab_size=99,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=64,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tmp_path_factory):
    """A WordPiece tokenizer trained on ``TINY_VERSES`` with the project's fixed special ids."""
    from versebert.data.tokenizer import train_wordpiece_tokenizer

    directory = tmp_path_factory.mktemp("tokenizer")
    train_wordpiece_tokenizer(TINY_VERSES * 5, vocab_size=200, output_dir=directory)
    return directory
