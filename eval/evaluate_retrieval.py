"""Evaluate verse retrieval on OpenBible topic votes: substring, BM25, dense and hybrid rows.

A thin wrapper around ``versebert evaluate retrieval`` (same arguments), for running from a checkout::

    python eval/evaluate_retrieval.py --judgments ../shared/data/openbible/topic-votes.dev.tsv \\
        --translation WEB --model runs/tiny/model --index-cache cache/indexes --output outputs/eval

Writes ``retrieval.json``, ``retrieval.md`` and ``retrieval.png`` to ``--output``; the logic lives in
:mod:`versebert.evaluation.harness`.
"""

import sys

from versebert.cli import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", "retrieval", *sys.argv[1:]]))
