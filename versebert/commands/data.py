"""``versebert data``: inspect the verse corpus.

``versebert data check`` compares the installed translations verse by verse and reports those
whose text does not belong to its id (these are left out of training); ``versebert data stats``
shows token lengths per translation for a tokenizer, to choose ``max_length``; ``versebert data
export-beir`` writes OpenBible topic votes and a translation as a BEIR benchmark that ``datasets`` loads.
"""

from __future__ import annotations

import argparse
import json
import math

from ..conventions import DEFAULT_TRANSLATION


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "data", help="check and describe the verse corpus", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")

    check = commands.add_parser(
        "check",
        help="report missing and misaligned verses per translation",
        description="Compare translations verse by verse; report missing verses and verses that do not belong to "
        "their id (flagged verses are excluded from training).",
    )
    _add_translations(check, "translations to check and compare (default: all installed)")
    check.add_argument("--examples", type=int, default=3, metavar="N", help="flagged verses shown per translation")
    check.add_argument("--json", action="store_true", help="print the full report as JSON")
    check.set_defaults(run=run_check)

    stats = commands.add_parser(
        "stats",
        help="token-length statistics per translation for a tokenizer",
        description="Token lengths (with [CLS] and [SEP]) of the cleaned verses, and how many a max length truncates.",
    )
    stats.add_argument("--tokenizer", required=True, metavar="DIR", help="tokenizer directory (any BERT tokenizer)")
    stats.add_argument("--max-length", type=int, default=128, metavar="N", help="max length to evaluate (default 128)")
    _add_translations(stats, "translations to measure (default: all installed)")
    stats.add_argument("--json", action="store_true", help="print the statistics as JSON")
    stats.set_defaults(run=run_stats)

    export = commands.add_parser(
        "export-beir",
        help="write topic votes + a translation as a BEIR benchmark (JSONL, qrels, a datasets card)",
        description="Write corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv and .jsonl and a README.md dataset card, so "
        "that BEIR tools and datasets.load_dataset(DIR, 'corpus'|'queries'|'qrels') both read it.",
    )
    export.add_argument("--judgments", required=True, metavar="PATH", help="OpenBible topic-votes TSV (any path)")
    export.add_argument("--output", required=True, metavar="DIR", help="directory to write (created)")
    export.add_argument("--translation", default=DEFAULT_TRANSLATION, metavar="CODE",
                        help=f"corpus translation (default {DEFAULT_TRANSLATION})")
    export.add_argument("--split", help="name of the qrels split (default: dev, train or test from the file name)")
    export.set_defaults(run=run_export_beir)


def _add_translations(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--translations", "-t", nargs="+", metavar="CODE", help=f"{help_text}; e.g. KJV WEB or KJV,WEB")


def _codes(values: list[str] | None) -> list[str]:
    from ..data.bible import installed_translations, translation_info

    if not values:
        return installed_translations()
    codes = [code for value in values for code in value.split(",") if code.strip()]
    return list(dict.fromkeys(translation_info(code).code for code in codes))


def run_check(args: argparse.Namespace) -> int:
    from ..data.validation import validate_translations
    from ..errors import UserError

    if args.examples < 0:
        raise UserError(f"--examples must be >= 0, got {args.examples}")
    report = validate_translations(_codes(args.translations))
    print(report.to_json(indent=2, ensure_ascii=False) if args.json else format_report(report, args.examples))
    return 0


def format_report(report, examples: int = 3) -> str:
    """The validation report as a table, then a few flagged verses per translation."""
    from ..data.bible import TRANSLATIONS
    from ..data.validation import REASONS

    header = f"{'translation':<12}{'verses':>8}{'missing':>9}{'extra':>7}{'flagged':>9}{'typical':>9}  reasons"
    lines = [
        f"Verse alignment check ({len(report.references)} translations compared with each other)",
        "",
        header,
        "-" * len(header),
    ]
    for code, result in report.translations.items():
        reasons = ", ".join(f"{count} {reason}" for reason, count in result.reasons.items())
        lines.append(
            f"{code:<12}{result.verses:>8}{result.missing:>9}{result.extra:>7}{len(result.flagged):>9}"
            f"{result.typical_agreement:>9.2f}  {reasons or '-'}"
        )
    lines += [
        "",
        "missing: canonical verses without text; extra: package verses outside the canon (left out);",
        "flagged: verses whose text does not belong to their id (left out of training), because the verse",
        *(f"  {reason}: {description}" for reason, description in REASONS.items()),
        "typical: median agreement with the other translations (TF-IDF cosine of content words).",
    ]
    for code, result in report.translations.items():
        if not result.flagged or examples == 0:
            continue
        lines += ["", f"{code} ({TRANSLATIONS[code].name}): {len(result.flagged)} flagged, e.g."]
        for verse in result.flagged[:examples]:
            lines += [
                f"  {verse.reference}: {verse.reason} "
                f"(agreement {verse.agreement:.2f}, neighbour {verse.neighbour_agreement:.2f}, "
                f"length x{verse.length_ratio:.2f})",
                f"    {code:>5}: {verse.text}",
                f"    {verse.compared_with:>5}: {verse.compared_text}",
            ]
    return "\n".join(lines)


def run_stats(args: argparse.Namespace) -> int:
    from ..data.mlm_corpus import token_length_report
    from ..data.tokenizer import load_tokenizer
    from ..errors import UserError

    if args.max_length < 2:
        raise UserError(f"--max-length must be at least 2 ([CLS] and [SEP]), got {args.max_length}")
    tokenizer = load_tokenizer(args.tokenizer)
    report = token_length_report(tokenizer, _codes(args.translations), args.max_length)
    if args.json:
        print(
            json.dumps(
                {code: {**vars(stats), "truncation_rate": stats.truncation_rate} for code, stats in report.items()},
                indent=2,
            )
        )
    else:
        print(format_stats(report, args.max_length))
    return 0


def split_name(judgments_path: str) -> str:
    """``topic-votes.train.tsv`` → ``train``: the split a shared topic-votes file holds, ``dev`` otherwise."""
    from pathlib import Path

    parts = Path(judgments_path).name.lower().split(".")
    return next((split for split in ("train", "dev", "test") if split in parts), "dev")


def run_export_beir(args: argparse.Namespace) -> int:
    from ..data.beir_export import export_benchmark
    from ..data.openbible import describe, load_judgments

    judgments = load_judgments(args.judgments)
    split = args.split or split_name(args.judgments)
    output = export_benchmark(judgments, args.translation, args.output, split=split)
    counts = describe(judgments)
    print(f"wrote {counts['topics']} topics and {counts['judged_verses']} judgments ({split}) over "
          f"{args.translation.upper()} to {output}; load with datasets.load_dataset({str(output)!r}, 'corpus')")
    return 0


def format_stats(report, max_length: int) -> str:
    header = (
        f"{'translation':<12}{'verses':>8}{'max':>6}{'p99':>7}{'p99.9':>7}{'mean':>7}{f'> {max_length}':>9}{'rate':>8}"
    )
    lines = ["Token lengths with [CLS] and [SEP]", "", header, "-" * len(header)]
    for code, stats in report.items():
        lines.append(
            f"{code:<12}{stats.verses:>8}{stats.max:>6}{stats.p99:>7.0f}{stats.p999:>7.0f}{stats.mean:>7.1f}"
            f"{stats.truncated:>9}{stats.truncation_rate:>8.2%}"
        )
    widest = max(stats.p999 for stats in report.values())
    lines += ["", f"max_length {max_length} truncates the verses counted under '> {max_length}';"]
    lines.append(f"covering 99.9% of verses in every translation needs {8 * math.ceil(widest / 8)} (multiple of 8).")
    return "\n".join(lines)
