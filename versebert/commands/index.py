"""``versebert index build|info``: prebuild a search index (BM25 + dense embeddings) once, search it often."""

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
    build.add_argument("--output", "-o", type=Path, required=True, help="directory to write the index to")
    build.set_defaults(run=run_build)

    info = actions.add_parser("info", help="print an index's metadata")
    info.add_argument("directory", type=Path, metavar="DIR")
    info.set_defaults(run=run_info)


def run_build(args: argparse.Namespace) -> int:
    import time

    from ..retrieval import DenseEncoder, SearchIndex, VerseCorpus
    from ..retrieval.dense import check_model_dir

    codes = translation_codes(args.translation)
    model = check_model_dir(args.model) if args.model else None
    start = time.perf_counter()
    corpora = [VerseCorpus.from_translation(code) for code in codes]
    index = SearchIndex.build(corpora, DenseEncoder(model) if model else None)
    index.save(args.output)
    kind = f"BM25 + {index.encoder.name} embeddings" if index.encoder else "BM25"
    print(f"indexed {', '.join(codes)} ({kind}) in {time.perf_counter() - start:.1f}s: {args.output}")
    return 0


def run_info(args: argparse.Namespace) -> int:
    from ..retrieval.index import read_metadata

    print(json.dumps(read_metadata(args.directory), indent=2))
    return 0
