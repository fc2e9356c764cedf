"""MLM cloze probe: mask ~30 theologically central words in well-known verses, report top-1/top-5.

A thin wrapper around ``versebert evaluate cloze`` (same arguments)::

    python eval/cloze_probe.py --model runs/tiny/mlm -k 5 --output outputs/eval/cloze.json

The logic lives in :mod:`versebert.evaluation.cloze`.
"""

import sys

from versebert.cli import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", "cloze", *sys.argv[1:]]))
