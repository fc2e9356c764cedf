"""``versebert data check`` and ``versebert data stats``: the real command line in a subprocess, and in-process."""

from __future__ import annotations

import json
import subprocess
import sys

from versebert import cli
from versebert.commands.data import format_report, format_stats
from versebert.data import bible
from versebert.data.mlm_corpus import TokenLengthStats
from versebert.data.tokenizer import load_tokenizer
from versebert.data.validation import FlaggedVerse, TranslationReport, ValidationReport


def test_data_check_json_in_a_subprocess_on_two_translations():
    result = subprocess.run(
        [sys.executable, "-m", "versebert.cli", "data", "check", "--translations", "kjv,WEB", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert list(report["translations"]) == ["KJV", "WEB"] and report["references"] == ["KJV", "WEB"]
    web = report["translations"]["WEB"]
    assert web["verses"] == 31102 - 7 and web["missing"] == 7 and web["extra"] == 3
    assert 0.5 < web["typical_agreement"] < 1
    for verse in web["flagged"]:
        assert set(verse) >= {"verse_id", "reference", "reason", "text", "compared_with", "compared_text"}


def test_unknown_translation_is_a_one_line_error(capsys):
    assert cli.main(["data", "check", "--translations", "XYZ"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("versebert data: error: unknown translation 'XYZ'") and "Traceback" not in error


def test_stats_needs_an_existing_tokenizer(capsys, tmp_path):
    assert cli.main(["data", "stats", "--tokenizer", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_data_stats_prints_a_table(monkeypatch, capsys, tiny_tokenizer_dir):
    verses = [bible.Verse(43011035, "John", 11, 35, "KJV", "Jesus wept.", "Jesus wept.")] * 3
    monkeypatch.setattr(bible, "load_verses", lambda code, **kwargs: verses)
    assert cli.main(["data", "stats", "--tokenizer", str(tiny_tokenizer_dir), "-t", "KJV", "--max-length", "4"]) == 0
    output = capsys.readouterr().out
    longest = len(load_tokenizer(tiny_tokenizer_dir)("Jesus wept.")["input_ids"])
    row = next(line for line in output.splitlines() if line.startswith("KJV"))
    assert row.split()[:3] == ["KJV", "3", str(longest)] and longest > 4
    assert "100.00%" in row  # every verse is longer than 4 tokens


def test_format_report_shows_counts_and_examples():
    flagged = FlaggedVerse(
        43001040, "John 1:40", "shifted_back", 0.0, 0.67, 1.1, "He said to them, Come and see.", "KJV", "One of the two"
    )
    report = ValidationReport(
        {"BBE": TranslationReport("BBE", 31041, 61, 26, 0.44, (flagged,))}, references=("BBE", "KJV")
    )
    text = format_report(report, examples=1)
    assert "BBE            31041       61     26        1     0.44  1 shifted_back" in text
    assert "John 1:40: shifted_back" in text and "KJV: One of the two" in text
    assert "John 1:40" not in format_report(report, examples=0)


def test_format_stats_suggests_a_max_length():
    stats = {"KJV": TokenLengthStats("KJV", 10, 90, 70.0, 85.0, 30.0, 64, 2)}
    text = format_stats(stats, 64)
    assert "20.00%" in text and "needs 88" in text
