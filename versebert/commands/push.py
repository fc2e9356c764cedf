"""``versebert push --repo-id ORG/NAME RUN_DIR``: publish a finished run to the Hugging Face Hub."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "push",
        help="push a finished run (model, tokenizer, code, cards, MLM checkpoint) to the Hub in one commit",
        description=(
            "Upload the SentenceTransformer in RUN_DIR/model to the repository root and RUN_DIR/mlm to its mlm/ "
            "folder, in one commit, with both model cards rendered for --repo-id."
        ),
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="output directory of `versebert train`")
    parser.add_argument("--repo-id", required=True, help="Hub repository, ORG/NAME (created if missing)")
    parser.add_argument("--revision", metavar="BRANCH", help="commit to this branch (created from main if missing)")
    parser.add_argument("--create-pr", action="store_true",
                        help="open a pull request (against --revision, default main) instead of committing")
    parser.add_argument("--commit-message", help="default: 'Upload versebert-<preset>'")
    parser.add_argument("--dry-run", action="store_true",
                        help="list what would be uploaded and where, and print the rendered cards; no network")
    parser.add_argument("--token", default=None, help="Hub token (default: the logged-in one)")
    parser.add_argument("--private", action="store_true", help="create the repository as private")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..orchestration.publishing import plan_push, push_run

    options = dict(revision=args.revision, create_pr=args.create_pr, commit_message=args.commit_message)
    if args.dry_run:
        print(plan_push(args.run_dir, args.repo_id, **options).describe())
        return 0
    url = push_run(args.run_dir, args.repo_id, token=args.token, private=args.private or None, **options)
    print(f"pushed {args.run_dir} to {args.repo_id}: {url}")
    return 0
