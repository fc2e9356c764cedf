"""OpenBible topic votes: parsing, range expansion, the relevance rule, exports and training pairs."""

from __future__ import annotations

import json
import math

import pytest

from versebert.data.openbible import (
    RelevanceRule,
    TopicVotesFormatError,
    export_beir,
    judge,
    load_judgments,
    read_topic_votes,
    topic_query_id,
    topic_verse_pairs,
)
from versebert.errors import UserError

HEADER = "Topic\tStart Verse ID\tEnd Verse ID\tVotes\t#Generated 2016-04-04. CC-BY License: www.openbible.info/topics\n"
DEV_FILE = "/work/shared/data/openbible/topic-votes.dev.tsv"


def write_votes(tmp_path, rows, header=HEADER, name="votes.tsv"):
    path = tmp_path / name
    path.write_text(header + "".join(row + "\n" for row in rows), encoding="utf-8")
    return path


def test_single_verse_row_judges_that_verse(tmp_path):
    path = write_votes(tmp_path, ["new heart\t26036026\t\t40"])
    votes = read_topic_votes(path)
    assert [(row.topic, row.verse_ids, row.votes, row.line) for row in votes.rows] == [
        ("new heart", (26036026,), 40, 2)
    ]
    assert load_judgments(path).qrels == {"new heart": {26036026: 3}}


def test_range_within_a_chapter_expands_to_each_verse(tmp_path):
    path = write_votes(tmp_path, ["love\t46013004\t46013007\t25"])
    assert read_topic_votes(path).rows[0].verse_ids == (46013004, 46013005, 46013006, 46013007)


def test_range_across_chapters_uses_the_canonical_chapter_lengths(tmp_path):
    # Genesis 1 has 31 verses: 1:30, 1:31, 2:1, 2:2.
    path = write_votes(tmp_path, ["creation\t01001030\t01002002\t12"])
    row = read_topic_votes(path).rows[0]
    assert row.verse_ids == (1001030, 1001031, 1002001, 1002002)
    assert not row.same_chapter


def test_range_across_books_expands_over_the_book_boundary(tmp_path):
    path = write_votes(tmp_path, ["end and beginning\t39004006\t40001001\t12"])  # Malachi 4:6 → Matthew 1:1
    assert read_topic_votes(path).rows[0].verse_ids == (39004006, 40001001)


def test_short_ranges_count_long_and_cross_chapter_ranges_are_skipped(tmp_path):
    path = write_votes(tmp_path, [
        "t\t46013004\t46013006\t10",  # 3 verses, same chapter: judged
        "t\t46013001\t46013004\t10",  # 4 verses: skipped
        "t\t01001031\t01002001\t10",  # 2 verses across chapters: skipped
    ])
    judgments = load_judgments(path)
    assert judgments.qrels == {"t": {46013004: 1, 46013005: 1, 46013006: 1}}
    assert judgments.skipped_rows == 2


def test_relevance_rule_is_configurable(tmp_path):
    path = write_votes(tmp_path, ["t\t46013001\t46013004\t10", "t\t01001031\t01002001\t10"])
    rule = RelevanceRule(max_range_verses=4, allow_cross_chapter=True)
    assert sorted(load_judgments(path, rule).qrels["t"]) == [1001031, 1002001, 46013001, 46013002, 46013003, 46013004]


@pytest.mark.parametrize("votes", [10, 11, 19, 20, 39, 40, 79, 80, 159, 160, 161, 1000, 5000])
def test_grade_follows_the_documented_formula(votes):
    assert RelevanceRule().grade(votes) == min(5, 1 + math.floor(math.log2(votes / 10)))


@pytest.mark.parametrize("votes", [9, 5, 1, 0])  # negative counts are refused: test_openbible_refusals.py
def test_fewer_votes_than_the_unit_judge_nothing(votes, tmp_path):
    assert RelevanceRule().grade(votes) == 0
    path = write_votes(tmp_path, [f"t\t01001001\t\t{votes}", "u\t01001002\t\t10"])
    assert "t" not in load_judgments(path).qrels


def test_verse_judged_twice_for_a_topic_keeps_the_highest_grade(tmp_path):
    path = write_votes(tmp_path, [
        "t\t43003016\t\t12",
        "t\t43003015\t43003017\t85",  # grade 4, covers 3:16 again
        "t\t43003016\t\t30",
    ])
    judgments = load_judgments(path)
    assert judgments.qrels["t"] == {43003015: 4, 43003016: 4, 43003017: 4}
    assert judgments.votes["t"][43003016] == 85


def test_invalid_rule_fields_are_named():
    with pytest.raises(ValueError, match="max_range_verses"):
        RelevanceRule(max_range_verses=0)
    with pytest.raises(ValueError, match="vote_unit"):
        RelevanceRule(vote_unit=2.5)


@pytest.mark.parametrize(
    "row, message",
    [
        ("t\t01001001\t\tmany", "Votes must be an integer"),
        ("t\t0100100x\t\t12", "Start Verse ID must be a bbcccvvv verse id"),
        ("t\t01001001\t01001\t12", "End Verse ID must be a bbcccvvv verse id"),
        ("t\t01001001\t12", "expected 4 tab-separated columns"),
        ("\t01001001\t\t12", "empty topic"),
        ("t\t01001005\t01001001\t12", "comes before"),
    ],
)
def test_malformed_row_error_names_file_and_line(tmp_path, row, message):
    path = write_votes(tmp_path, ["fine\t01001001\t\t12", row], name="bad.tsv")
    with pytest.raises(TopicVotesFormatError, match=message) as error:
        read_topic_votes(path)
    assert f"{path}:3:" in str(error.value)
    assert isinstance(error.value, UserError)


def test_empty_file_is_a_clear_error(tmp_path):
    path = tmp_path / "empty.tsv"
    path.write_text("")
    with pytest.raises(TopicVotesFormatError, match="empty file"):
        read_topic_votes(path)


def test_header_only_file_is_a_clear_error(tmp_path):
    with pytest.raises(TopicVotesFormatError, match="no topic-vote rows"):
        read_topic_votes(write_votes(tmp_path, []))


def test_missing_header_is_reported_on_line_1(tmp_path):
    path = write_votes(tmp_path, ["t\t01001001\t\t12"], header="")
    with pytest.raises(TopicVotesFormatError, match=":1: expected the header"):
        read_topic_votes(path)


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="not found"):
        read_topic_votes(tmp_path / "nope.tsv")


def test_unknown_verse_ids_are_reported_not_used(tmp_path, caplog):
    path = write_votes(tmp_path, [
        "t\t64001015\t\t20",  # 3 John 1:15 is not in the canonical (KJV) structure
        "t\t64001001\t64001015\t20",  # a range ending there
        "t\t43003016\t\t20",
    ])
    with caplog.at_level("WARNING"):
        votes = read_topic_votes(path)
    assert [(unknown.line, unknown.verse_id) for unknown in votes.unknown] == [(2, 64001015), (3, 64001015)]
    assert str(votes.unknown[1]) == f"{path}:3: unknown verse id 64001015"
    assert load_judgments(path).qrels == {"t": {43003016: 2}}
    assert "outside the canonical structure" in caplog.text


def test_blank_lines_and_crlf_are_tolerated(tmp_path):
    path = tmp_path / "crlf.tsv"
    path.write_bytes((HEADER.rstrip("\n") + "\r\nt\t43003016\t\t20\r\n\r\n").encode())
    assert load_judgments(path).qrels == {"t": {43003016: 2}}


def test_topic_verse_pairs_take_the_most_voted_verses_per_topic(tmp_path):
    path = write_votes(tmp_path, [
        "a\t01001001\t\t15",
        "a\t01001002\t\t90",
        "a\t01001003\t\t40",
        "a\t01001004\t\t40",
        "b\t02001001\t\t11",
    ])
    pairs = topic_verse_pairs(load_judgments(path), min_votes=12, max_per_topic=3)
    assert [(p.topic, p.verse_id, p.votes) for p in pairs] == [
        ("a", 1001002, 90), ("a", 1001003, 40), ("a", 1001004, 40)
    ]
    assert len(topic_verse_pairs(load_judgments(path), max_per_topic=None)) == 5


def test_export_beir_layout(tmp_path):
    path = write_votes(tmp_path, ["new heart\t26036026\t\t40", "new heart\t26036027\t\t10"])
    judgments = load_judgments(path)
    corpus = {26036026: "I will also give you a new heart.", 26036027: "I will put my Spirit within you."}
    out = export_beir(judgments, corpus, tmp_path / "beir", split="dev")
    documents = [json.loads(line) for line in (out / "corpus.jsonl").read_text().splitlines()]
    queries = [json.loads(line) for line in (out / "queries.jsonl").read_text().splitlines()]
    qrels = (out / "qrels" / "dev.tsv").read_text().splitlines()
    assert documents[0] == {"_id": "26036026", "title": "", "text": "I will also give you a new heart."}
    assert queries == [{"_id": topic_query_id("new heart"), "text": "new heart"}]
    assert qrels == ["query-id\tcorpus-id\tscore", f"{topic_query_id('new heart')}\t26036026\t3",
                     f"{topic_query_id('new heart')}\t26036027\t1"]


def test_judge_reuses_parsed_rows_with_another_rule(tmp_path):
    votes = read_topic_votes(write_votes(tmp_path, ["t\t01001001\t\t20"]))
    assert judge(votes, RelevanceRule(vote_unit=20)).qrels == {"t": {1001001: 1}}
    assert judge(votes).qrels == {"t": {1001001: 2}}


@pytest.mark.slow
def test_dev_file_parses_with_its_known_counts():
    judgments = load_judgments(DEV_FILE)
    assert len(judgments) == 340
    assert [u.verse_id for u in judgments.unknown] == [64001015]
    assert 6_000 < sum(len(grades) for grades in judgments.qrels.values()) < 8_000


@pytest.mark.slow
def test_export_beir_from_a_translation_code(tmp_path):
    path = write_votes(tmp_path, ["new heart\t26036026\t\t40"])
    out = export_beir(load_judgments(path), "WEB", tmp_path / "beir")
    documents = (out / "corpus.jsonl").read_text().splitlines()
    assert len(documents) > 31_000
    assert json.loads(documents[0]) == {"_id": "01001001", "title": "",
                                        "text": "In the beginning God created the heavens and the earth."}
