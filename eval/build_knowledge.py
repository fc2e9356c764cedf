"""Build the packaged topic knowledge from the OpenBible train topics and choose its fusion weights.

    python eval/build_knowledge.py --train ../shared/data/openbible/topic-votes.train.tsv \\
        --dev ../shared/data/openbible/topic-votes.dev.tsv

Writes ``versebert/retrieval/knowledge/openbible-train-v1.json.gz`` (train topics only) and, beside
it, ``versebert_fusion.json``: the RRF weights of bm25, prior and memory_bm25 for the default search
(joined documents over the eight whole Bibles), chosen on the **dev** topics by coordinate ascent.
Dev numbers of the tuned default are therefore optimistic; the file records the equal-weight NDCG@10
on dev too.
"""

import argparse
import sys
from pathlib import Path

from versebert.data.bible import WHOLE_BIBLES
from versebert.data.openbible import load_judgments
from versebert.evaluation.fusion_tuning import choose_fusion_weights
from versebert.retrieval.bm25 import BM25Config
from versebert.retrieval.default_index import build_default_index
from versebert.retrieval.topic_knowledge import TopicKnowledge, packaged_knowledge_path
from versebert.retrieval.verse_documents import VerseDocuments


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True, help="train topic-votes TSV (the knowledge)")
    parser.add_argument("--dev", type=Path, required=True, help="dev topic-votes TSV (chooses the weights)")
    parser.add_argument("--output", type=Path, default=packaged_knowledge_path(), help="knowledge file to write")
    args = parser.parse_args()

    knowledge = TopicKnowledge.load_topic_votes(args.train)
    dev = load_judgments(args.dev)
    overlap = knowledge.overlap(dev.topics)
    if overlap:
        sys.exit(f"{len(overlap)} dev topics are also train topics (e.g. {overlap[0]!r}): refusing to tune on them")
    knowledge.save(args.output)
    print(f"wrote {args.output}: {len(knowledge):,} topics, {len(knowledge.prior):,} judged verses, "
          f"{args.output.stat().st_size / 1024:.0f} KiB")
    index = build_default_index(WHOLE_BIBLES, VerseDocuments(), args.output, BM25Config())
    index.fusion = None  # choose afresh, from equal weights
    chosen_on = f"{args.dev.name} ({len(dev)} topics) over joined {','.join(WHOLE_BIBLES)}"
    weights = choose_fusion_weights(index, dev, chosen_on=chosen_on)
    path = weights.save(args.output.parent)
    print(f"wrote {path}: {weights.as_mapping()}; dev NDCG@10 {weights.tuned_ndcg:.4f} tuned, "
          f"{weights.equal_ndcg:.4f} with equal weights")
    return 0


if __name__ == "__main__":
    sys.exit(main())
