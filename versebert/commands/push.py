"""``versebert push --repo-id ORG/NAME RUN_DIR``: publish a finished run to the Hugging Face Hub."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "push",
        help="push a finished run (model, tokenizer, code, card, MLM checkpoint) to the Hub",
        description=(
            "Upload RUN_DIR/mlm to the repository's mlm/ folder, then the SentenceTransformer in "
            "RUN_DIR/model (with its rendered model card) to the repository root."
        ),
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="output directory of `versebert train`")
    parser.add_argument("--repo-id", required=True, help="Hub repository, ORG/NAME")
    parser.add_argument("--token", default=None, help="Hub token (default: the logged-in one)")
    parser.add_argument("--private", action="store_true", help="create the repository as private")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..orchestration.publishing import push_run

    url = push_run(args.run_dir, args.repo_id, token=args.token, private=args.private or None)
    print(f"pushed {args.run_dir} to {args.repo_id}: {url}")
    return 0
