"""``versebert index build|info``: prebuild a search index once, search it often.

An index holds BM25 over joined verse documents (or one per translation), the topic knowledge
(verse prior + topic memory: the packaged OpenBible.info train topics, or ``--judgments`` from your
own topic-votes download in its original TSV format) and, given ``--model``, dense embeddings.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .search import add_translation_argument, translation_codes


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("index", help="build or inspect a search index for `versebert search --index`")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    build = actions.add_parser("build", help="index translation(s) with BM25 and, given --model, embeddings")
    build.add_argument("--model", type=Path, help="model directory (SentenceTransformer-loadable); omit for BM25 only")
    add_translation_argument(build)
    build.add_argument("--judgments", type=Path,
                       help="topic-votes TSV (OpenBible.info's original format, any path) to build the verse prior "
                            "and topic memory from (default: the packaged train topics)")
    build.add_argument("--no-knowledge", action="store_true", help="leave out the verse prior and topic memory")
    build.add_argument("--per-translation", action="store_true",
                       help="one BM25 index per translation instead of one joined document per verse")
    build.add_argument("--neighbours", type=int, default=0,
                       help="chapter neighbours either side added to each joined verse document (default 0)")
    build.add_argument("--output", "-o", type=Path, required=True, help="directory to write the index to")
    build.set_defaults(run=run_build)

    info = actions.add_parser("info", help="print an index's metadata")
    info.add_argument("directory", type=Path, metavar="DIR")
    info.set_defaults(run=run_info)


def run_build(args: argparse.Namespace) -> int:
    import time

    from ..errors import UserError
    from ..retrieval import DenseEncoder, SearchIndex, VerseCorpus
    from ..retrieval.default_index import default_knowledge_path
    from ..retrieval.dense import check_model_dir
    from ..retrieval.fusion_weights import FusionWeights
    from ..retrieval.topic_knowledge import TopicKnowledge
    from ..retrieval.verse_documents import VerseDocuments

    if args.judgments is not None and args.no_knowledge:
        raise UserError("--judgments and --no-knowledge contradict each other; give one")
    try:
        documents = VerseDocuments(joined=not args.per_translation, neighbours=args.neighbours)
    except ValueError as error:
        raise UserError(str(error).replace("VerseDocuments.neighbours", "--neighbours")) from None
    codes = translation_codes(args.translation)
    model = check_model_dir(args.model) if args.model else None
    start = time.perf_counter()
    knowledge, fusion = None, None
    if args.judgments is not None:
        knowledge = TopicKnowledge.load_topic_votes(args.judgments)
    elif not args.no_knowledge:
        knowledge = TopicKnowledge.load(default_knowledge_path())
        fusion = FusionWeights.load(default_knowledge_path().parent)  # chosen for it on the dev topics
    corpora = [VerseCorpus.from_translation(code) for code in codes]
    index = SearchIndex.build(corpora, DenseEncoder(model) if model else None, documents=documents,
                              knowledge=knowledge, fusion=fusion)
    index.save(args.output)
    kind = " + ".join(["joined BM25" if documents.joined else "BM25"]
                      + ([f"{index.encoder.name} embeddings"] if index.encoder else [])
                      + ([f"knowledge of {len(knowledge):,} topics"] if knowledge else []))
    print(f"indexed {', '.join(codes)} ({kind}) in {time.perf_counter() - start:.1f}s: {args.output}")
    return 0


def run_info(args: argparse.Namespace) -> int:
    from ..retrieval.index import read_metadata

    print(json.dumps(read_metadata(args.directory), indent=2))
    return 0
