"""``versebert search QUERY [QUERY ...]``: find verses by words or by reference.

Without ``--model`` it searches the default index: BM25 over one document per verse joining the
eight whole-Bible translations, the verse prior and the topic memory of the packaged OpenBible.info
train topics, fused by weighted RRF (built once, then loaded from the cache in a fraction of a
second). With ``--model`` it adds the model's dense rankings (hybrid), embedding the verses first
unless ``--index`` points to a prebuilt index (``versebert index build``). A query that names
verses ("John 3:16", "Ps 23") returns them first. Queries over 1,000 characters are refused rather
than silently cut. Several queries share one loading of the model and index.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import textwrap
from pathlib import Path


def add_translation_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--translation", "-t", action="append", metavar="CODE",
        help="translation(s) to search, repeatable or comma-separated, e.g. WEB,KJV "
             "(default: the eight whole Bibles, KJV,WEB,ASV,YLT,DAR,BBE,NHEB,WBS)",
    )


def translation_codes(values: list[str] | None, default: tuple[str, ...] | None = None) -> list[str]:
    """Validated, de-duplicated translation codes from ``--translation`` values (UserError if unknown);
    without values, ``default`` (the eight whole Bibles)."""
    from ..data.bible import translation_info
    from ..retrieval.default_index import WHOLE_BIBLES

    codes = [code for value in values or [] for code in value.split(",") if code.strip()]
    return list(dict.fromkeys(translation_info(code).code for code in codes or (default or WHOLE_BIBLES)))


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "search",
        help="search verses by words or reference (BM25; hybrid with --model or --index)",
        description=__doc__.replace("``", ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "queries", nargs="+", metavar="QUERY",
        help='words ("give you a new heart") or a reference ("1 Cor 13:4-7"); several are answered in turn',
    )
    parser.add_argument("--model", type=Path, help="model directory for hybrid search (SentenceTransformer-loadable)")
    parser.add_argument("--index", type=Path, help="prebuilt index directory from `versebert index build`")
    add_translation_argument(parser)
    parser.add_argument("--display", metavar="CODE", help="translation whose text is shown (default WEB if searched)")
    parser.add_argument("-k", type=int, default=10, help="number of verses to show (default 10)")
    parser.add_argument("--json", action="store_true", help="print the hits as JSON (a list for several queries)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..retrieval.searcher import validate_k, validate_query

    queries = [validate_query(query) for query in args.queries]  # cheap checks first: no loading for a refused query
    validate_k(args.k)
    searcher = build_searcher(args)
    results = [(query, searcher.search(query, args.k)) for query in queries]
    if args.json:
        from ..server.answers import search_answer  # the API's answers too: one shape for both

        answers = [search_answer(searcher, query, hits) for query, hits in results]
        print(json.dumps(answers[0] if len(answers) == 1 else answers, indent=2, ensure_ascii=False))
        return 0
    for query, _ in results:  # on stderr: the table on stdout stays what it was
        for notice in searcher.notices(query):
            print(f"note ({query}): {notice}" if len(results) > 1 else f"note: {notice}", file=sys.stderr)
    if len(results) == 1:
        print(format_hits(results[0][1], searcher))
    else:
        print("\n\n".join(f"query: {query}\n{format_hits(hits, searcher)}" for query, hits in results))
    return 0


def build_searcher(args: argparse.Namespace):
    """The searcher ``--index``, ``--model``, ``--translation`` and ``--display`` describe (also ``serve``'s).

    Only the dense path imports torch (through sentence-transformers): the default search loads
    its cached index with numpy alone."""
    from ..errors import UserError
    from ..retrieval.index import SearchIndex, read_metadata
    from ..retrieval.searcher import VerseSearcher

    if args.index is not None:
        codes = read_metadata(args.index)["translations"]
        if args.translation and translation_codes(args.translation) != codes:
            raise UserError(f"index {args.index} covers {', '.join(codes)}; drop --translation or rebuild the index")
        index = SearchIndex.load(args.index, encoder=_encoder(args.model) if args.model else None)
    elif args.model:
        from ..retrieval.bm25 import BM25Config
        from ..retrieval.default_index import build_default_index, default_knowledge_path
        from ..retrieval.dense import check_model_dir
        from ..retrieval.verse_documents import VerseDocuments

        codes = translation_codes(args.translation)
        model = check_model_dir(args.model)  # fail before loading the Bible
        print("embedding the verses for this search; `versebert index build` does it once for all searches",
              file=sys.stderr)
        index = build_default_index(codes, VerseDocuments(), default_knowledge_path(), BM25Config(),
                                    encoder=_encoder(model))
    else:
        from ..retrieval.default_index import default_search_index

        index = default_search_index(translation_codes(args.translation))
    display = translation_codes([args.display])[0] if args.display else None
    return VerseSearcher(index, display=display)


def _encoder(model: Path):
    from ..retrieval.dense import DenseEncoder

    return DenseEncoder(model)


def format_hits(hits, searcher) -> str:
    """A readable table: rank, reference, fused score and what matched, then the wrapped text."""
    if not hits:
        return "No verses matched."
    width = max(60, min(shutil.get_terminal_size((100, 24)).columns, 120))
    lines = [f"{'#':>3}  {'reference':<22} {'score':>7}  matched by", "-" * width]
    for hit in hits:
        score = "ref" if hit.score is None else f"{hit.score:.4f}"
        reference = hit.reference
        if hit.translation != searcher.display.translation:
            reference += f" ({hit.translation})"
        lines.append(f"{hit.rank:>3}  {reference:<22} {score:>7}  {hit.why}")
        lines.extend(textwrap.wrap(hit.text, width=width - 5, initial_indent="     ", subsequent_indent="     "))
    return "\n".join(lines)
