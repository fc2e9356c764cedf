"""``versebert evaluate retrieval|fusion|cloze``: the retrieval harness on topic votes, a model's fusion
weights chosen on dev topics, and the MLM cloze probe."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..conventions import DEFAULT_TRANSLATION

DEFAULT_OUTPUT = Path("outputs/eval")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("evaluate", help="evaluate retrieval on OpenBible topic votes, or probe an MLM")
    tasks = parser.add_subparsers(dest="task", required=True, metavar="TASK")

    retrieval = tasks.add_parser(
        "retrieval",
        help="substring, BM25, the default (joined BM25 + prior + topic memory), dense and hybrid search on a "
             "topic-votes file, with an ablation (NDCG@10, P@10, Recall@100, MRR@10)",
    )
    retrieval.add_argument("--judgments", type=Path, required=True, help="OpenBible topic-votes TSV (any path)")
    retrieval.add_argument("--translation", default=DEFAULT_TRANSLATION,
                           help=f"translation of the substring and single-translation BM25 rows "
                           f"(default {DEFAULT_TRANSLATION})")
    retrieval.add_argument("--translations", metavar="CODES",
                           help="translations joined in each verse document (default: the eight whole Bibles)")
    retrieval.add_argument("--knowledge", type=Path,
                           help="train topic-votes TSV or knowledge .json.gz the verse prior and topic memory come "
                                "from (default: the packaged OpenBible train topics); never the evaluated topics")
    retrieval.add_argument("--system", action="append", default=[], metavar="SIGNALS",
                           help="also evaluate this combination of signals (bm25, dense, prior, memory_bm25, "
                                "memory_dense joined by '+', e.g. bm25+prior; with dense or memory_dense, one row per "
                                "model); repeatable")
    retrieval.add_argument("--no-ablation", action="store_true", help="skip the rows with each signal removed")
    retrieval.add_argument("--model", type=Path, action="append", default=[],
                           help="model directory to evaluate (dense and hybrid rows); repeatable")
    retrieval.add_argument("--no-peer", action="store_true", help="skip the all-MiniLM-L6-v2 peer rows")
    retrieval.add_argument("--index-cache", type=Path, help="directory to save and reuse built indexes")
    retrieval.add_argument("--stat-test", default="student", choices=("student", "fisher", "tukey"),
                           help="paired significance test against BM25 (default: two-sided paired t-test)")
    retrieval.add_argument("--max-p", type=float, default=0.05, help="significance level (default 0.05)")
    retrieval.add_argument("--output", "-o", type=Path, default=DEFAULT_OUTPUT, help=f"default {DEFAULT_OUTPUT}")
    retrieval.set_defaults(run=run_retrieval)

    fusion = tasks.add_parser(
        "fusion",
        help="choose a model's RRF weights (bm25, dense, prior, both topic memories) on dev topic votes and save "
             "them in the model directory, where search and the evaluation read them (the pipeline does this)",
    )
    fusion.add_argument("--model", type=Path, required=True, help="model directory (SentenceTransformer-loadable)")
    fusion.add_argument("--judgments", type=Path, required=True,
                        help="dev topic-votes TSV the weights are chosen on (never the knowledge's topics)")
    fusion.add_argument("--knowledge", type=Path,
                        help="train topic-votes TSV or knowledge .json.gz of the prior and memory (default: packaged)")
    fusion.add_argument("--translation", default=DEFAULT_TRANSLATION,
                        help=f"translation of the dense embeddings (default {DEFAULT_TRANSLATION})")
    fusion.add_argument("--index-cache", type=Path, help="directory to save and reuse built indexes")
    fusion.set_defaults(run=run_fusion)

    cloze = tasks.add_parser("cloze", help="mask meaningful words in verses and check the MLM's top-k guesses")
    cloze.add_argument("--model", type=Path, required=True, help="masked-LM checkpoint directory")
    cloze.add_argument("--items", type=Path, help="JSON items file (default: the packaged ~30 items)")
    cloze.add_argument("--translation", help="verse text to mask (default: the items file's, WEB)")
    cloze.add_argument("-k", type=int, default=5, help="candidates per item (default 5)")
    cloze.add_argument("--output", "-o", type=Path, help="also write the full report as JSON here")
    cloze.set_defaults(run=run_cloze)


def run_retrieval(args: argparse.Namespace) -> int:
    from ..data.bible import translation_info
    from ..evaluation.harness import RetrievalEvalConfig, evaluate_retrieval
    from ..evaluation.report import to_markdown, write_report
    from ..retrieval.dense import check_model_dir
    from .search import translation_codes

    config = RetrievalEvalConfig(
        judgments=args.judgments,
        translation=translation_info(args.translation).code,
        models=tuple(check_model_dir(model) for model in args.model),
        include_peer=not args.no_peer,
        index_cache=args.index_cache,
        stat_test=args.stat_test,
        max_p=args.max_p,
        translations=tuple(translation_codes([args.translations] if args.translations else None)),
        knowledge=args.knowledge,
        systems=tuple(args.system),
        ablation=not args.no_ablation,
    )
    report = evaluate_retrieval(config)
    paths = write_report(report, args.output)
    print(to_markdown(report))
    print("wrote " + ", ".join(str(path) for path in paths.values()))
    return 0


def run_fusion(args: argparse.Namespace) -> int:
    from ..data.bible import translation_info
    from ..evaluation.fusion_tuning import tune_model_fusion
    from ..retrieval.dense import check_model_dir

    model = check_model_dir(args.model)
    _, weights = tune_model_fusion(model, translation_info(args.translation).code, args.knowledge, args.judgments,
                                   index_cache=args.index_cache)
    print(f"fusion weights chosen on {weights.chosen_on}: {weights.as_mapping()} (NDCG@10 "
          f"{weights.tuned_ndcg:.4f}, equal weights {weights.equal_ndcg:.4f}); saved in {model}")
    return 0


def run_cloze(args: argparse.Namespace) -> int:
    from ..evaluation.cloze import format_report, probe_checkpoint

    report = probe_checkpoint(args.model, items_path=args.items, translation=args.translation, top_k=args.k)
    print(format_report(report))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
        print(f"wrote {args.output}")
    return 0
