"""Evaluation: the retrieval harness on OpenBible topic votes (ranx metrics) and the MLM cloze probe."""
