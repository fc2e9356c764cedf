"""Topic-votes files that cannot judge anything are refused when loaded, naming the file, the line and why.

Without these checks such a file loads "fine" and the run crashes minutes later inside ranx (which
cannot rank against empty judgments), or grades passages by a negative vote count.
"""

from __future__ import annotations

import pytest

from versebert.data.openbible import TopicVotesFormatError, load_judgments, read_topic_votes
from versebert.errors import UserError

from .test_openbible import HEADER, write_votes


@pytest.mark.parametrize(
    ("rows", "why"),
    [
        (["t\t64001015\t\t20", "u\t64001016\t\t40"], "2 row(s) with unknown verse ids and no other rows"),
        (["t\t43003016\t\t9", "u\t43003017\t\t1"], "2 row(s) with fewer than vote_unit=10 votes and no other rows"),
        (
            ["t\t46013001\t46013009\t50", "t\t43003016\t\t3"],
            "1 row(s) longer than 3 verses or across chapters; 1 row(s) with fewer than vote_unit=10 votes",
        ),
    ],
    ids=["only-unknown-verses", "only-below-the-vote-unit", "long-passages-and-few-votes"],
)
def test_a_file_without_a_gradable_topic_is_refused_with_the_reason(tmp_path, rows, why):
    path = write_votes(tmp_path, rows)
    with pytest.raises(TopicVotesFormatError) as failure:
        load_judgments(path)
    message = str(failure.value)
    assert message.startswith(f"{path}: no gradable topic (") and why in message and "\n" not in message


def test_a_negative_vote_count_is_rejected_with_its_line(tmp_path):
    path = write_votes(tmp_path, ["t\t43003016\t\t20", "t\t43003017\t\t-12"])
    with pytest.raises(TopicVotesFormatError, match=f"^{path}:3: Votes must be a non-negative count, got -12$"):
        read_topic_votes(path)


def test_only_negative_votes_fail_at_the_first_line_not_inside_the_metrics(tmp_path):
    path = write_votes(tmp_path, ["t\t43003016\t\t-20", "u\t43003017\t\t-12"])
    with pytest.raises(TopicVotesFormatError, match=f"^{path}:2: Votes must be a non-negative"):
        load_judgments(path)


def test_a_directory_passed_as_the_file_names_the_path(tmp_path):
    with pytest.raises(UserError, match=f"^{tmp_path} is a directory; pass the topic-votes TSV file inside it$"):
        load_judgments(tmp_path)


def test_invalid_utf8_names_the_path_and_the_line(tmp_path):
    path = tmp_path / "latin1.tsv"
    path.write_bytes((HEADER + "t\t43003016\t\t20\n").encode() + "Gnade\t43003017\t\t30 für\n".encode("latin-1"))
    with pytest.raises(TopicVotesFormatError, match=f"^{path}:3: not UTF-8 text \\(invalid start byte at byte"):
        read_topic_votes(path)
