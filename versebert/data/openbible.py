"""OpenBible.info topic votes: parse the original TSV, turn votes into graded relevance judgments.

The file is the "topic-votes" download of the OpenBible.info Topical Bible (CC-BY, attribution:
www.openbible.info/topics): a header line whose last column holds a comment, then rows of

    Topic <TAB> Start Verse ID <TAB> End Verse ID <TAB> Votes

with verse ids ``bbcccvvv`` (book 01 = Genesis ... 66 = Revelation) and an empty end id for a single
verse. A row judges a whole passage, which can be one verse or several chapters, so it is not yet a
judgment about verses. :class:`RelevanceRule` makes it one: short passages count verse by verse
(their voters were pointing at those few verses), long passages are skipped (thirty verses sharing
one vote count would flood the judgments with weak, mostly off-topic verses), and more votes mean a
higher grade on a log scale.

Ranges are expanded over the canonical verse list (:func:`.bible.canonical_verse_ids`, pythonbible's
verse structure), never over a translation, so the judgments do not depend on which Bible text is
loaded. Rows naming a verse that structure does not know are set aside and reported
(:attr:`TopicVotes.unknown`), never used.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from .bible import canonical_verse_ids

logger = logging.getLogger(__name__)

HEADER_FIRST_COLUMN = "Topic"


class TopicVotesFormatError(UserError):
    """A topic-votes file that does not follow the documented format; the message names file and line."""


@dataclass(frozen=True)
class VoteRow:
    """One row of the file: ``votes`` people judged the passage ``start``..``end`` relevant to ``topic``."""

    topic: str
    start: int
    end: int  # equal to ``start`` for a single verse
    votes: int
    line: int  # 1-based line number in the file, for messages
    verse_ids: tuple[int, ...]  # the passage expanded over the canonical verse structure

    @property
    def same_chapter(self) -> bool:
        return self.start // 1000 == self.end // 1000


@dataclass(frozen=True)
class UnknownVerse:
    """A verse id the canonical structure does not know; its row was set aside."""

    path: str
    line: int
    verse_id: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: unknown verse id {self.verse_id:08d}"


@dataclass(frozen=True)
class TopicVotes:
    """The rows of a topic-votes file, in file order, and the rows set aside for unknown verse ids."""

    path: str
    rows: tuple[VoteRow, ...]
    unknown: tuple[UnknownVerse, ...] = ()


@dataclass(frozen=True)
class RelevanceRule:
    """How rows become graded verse judgments (the README's rule by default).

    - A row counts if its passage has at most ``max_range_verses`` verses and, unless
      ``allow_cross_chapter``, lies within one chapter; each of its verses is then judged.
    - ``grade = min(max_grade, 1 + floor(log2(votes / vote_unit)))``; rows whose grade is below 1
      (fewer than ``vote_unit`` votes) judge nothing.
    - A verse judged by several rows of one topic keeps its highest grade.
    """

    max_range_verses: int = 3
    allow_cross_chapter: bool = False
    vote_unit: int = 10
    max_grade: int = 5

    def __post_init__(self) -> None:
        for name in ("max_range_verses", "vote_unit", "max_grade"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"RelevanceRule.{name} must be a positive integer, got {value!r}")
        if not isinstance(self.allow_cross_chapter, bool):
            raise ValueError(
                f"RelevanceRule.allow_cross_chapter must be a bool, got {self.allow_cross_chapter!r}"
            )

    def counts(self, row: VoteRow) -> bool:
        """Whether the row's passage is short enough to judge verse by verse."""
        return len(row.verse_ids) <= self.max_range_verses and (self.allow_cross_chapter or row.same_chapter)

    def grade(self, votes: int) -> int:
        """Graded relevance of a passage with ``votes`` votes; 0 means not judged relevant.

        Computed in integers: for ``x >= 1``, ``floor(log2(x)) == floor(log2(floor(x)))``, so
        ``1 + floor(log2(votes / unit))`` is the bit length of ``votes // unit`` (no float edge cases
        at exact powers of two).
        """
        if votes < self.vote_unit:
            return 0
        return min(self.max_grade, (votes // self.vote_unit).bit_length())


@dataclass
class Judgments:
    """Graded relevance per topic, built from topic votes by a :class:`RelevanceRule`.

    ``qrels[topic][verse_id]`` is the grade (>= 1) and ``votes[topic][verse_id]`` the highest vote
    count of a counted row that judged the verse. Topics keep their first-appearance order; topics
    left without any judged verse are absent.
    """

    qrels: dict[str, dict[int, int]]
    votes: dict[str, dict[int, int]]
    rule: RelevanceRule
    source: str
    skipped_rows: int = 0  # rows whose passage the rule does not count (long or cross-chapter)
    unknown: tuple[UnknownVerse, ...] = field(default_factory=tuple)

    @property
    def topics(self) -> list[str]:
        return list(self.qrels)

    def __len__(self) -> int:
        return len(self.qrels)


@dataclass(frozen=True)
class TopicVersePair:
    """A (topic, verse) training pair for contrastive fine-tuning, with the votes that support it."""

    topic: str
    verse_id: int
    votes: int


@functools.lru_cache(maxsize=1)
def _canonical_set() -> frozenset[int]:
    return frozenset(canonical_verse_ids())


def expand_passage(start: int, end: int) -> tuple[int, ...]:
    """Canonical verse ids from ``start`` to ``end`` inclusive (both must be canonical)."""
    ids = canonical_verse_ids()
    return ids[bisect.bisect_left(ids, start) : bisect.bisect_right(ids, end)]


def verse_doc_id(verse_id: int) -> str:
    """The file's zero-padded ``bbcccvvv`` form, used as document id in qrels and runs."""
    return f"{verse_id:08d}"


def topic_query_id(topic: str) -> str:
    """A stable query id for a topic (its text may hold spaces and punctuation)."""
    return "t" + hashlib.sha1(topic.encode("utf-8")).hexdigest()[:12]


def _parse_verse_id(value: str, where: str, column: str) -> int:
    value = value.strip()
    if not value.isdigit() or not 7 <= len(value) <= 8:
        raise TopicVotesFormatError(f"{where}: {column} must be a bbcccvvv verse id, got {value!r}")
    return int(value)


def _parse_row(parts: list[str], where: str) -> tuple[str, int, int, int]:
    if len(parts) != 4:
        raise TopicVotesFormatError(
            f"{where}: expected 4 tab-separated columns (Topic, Start Verse ID, End Verse ID, Votes), "
            f"got {len(parts)}"
        )
    topic = parts[0].strip()
    if not topic:
        raise TopicVotesFormatError(f"{where}: empty topic")
    start = _parse_verse_id(parts[1], where, "Start Verse ID")
    end = _parse_verse_id(parts[2], where, "End Verse ID") if parts[2].strip() else start
    if end < start:
        raise TopicVotesFormatError(f"{where}: End Verse ID {end:08d} comes before Start Verse ID {start:08d}")
    try:
        votes = int(parts[3].strip())
    except ValueError:
        raise TopicVotesFormatError(f"{where}: Votes must be an integer, got {parts[3].strip()!r}") from None
    if votes < 0:  # the file counts up-votes; a negative count is a corrupt or foreign file, not a judgment
        raise TopicVotesFormatError(f"{where}: Votes must be a non-negative count, got {votes}")
    return topic, start, end, votes


def _read_lines(path: Path) -> list[str]:
    """The file's lines; a missing file, a directory or bytes that are not UTF-8 name the path (and line)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"topic-votes file not found: {path}") from None
    except IsADirectoryError:
        raise UserError(f"{path} is a directory; pass the topic-votes TSV file inside it") from None
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise TopicVotesFormatError(
            f"{path}:{line}: not UTF-8 text ({error.reason} at byte {error.start})"
        ) from None


def read_topic_votes(path: str | Path) -> TopicVotes:
    """Parse a topic-votes TSV (any path) into rows with expanded passages.

    Raises :class:`TopicVotesFormatError` (a :class:`UserError`) naming the file and line for a
    missing or wrong header, a malformed row, or a file without rows. Blank lines are ignored.
    Rows with a verse id outside the canonical structure are left out and listed in ``unknown``.
    """
    path = Path(path)
    lines = _read_lines(path)
    if not lines or not any(line.strip() for line in lines):
        raise TopicVotesFormatError(f"{path}: empty file (expected a header line and topic-vote rows)")
    if lines[0].split("\t")[0].strip().lstrip("\ufeff") != HEADER_FIRST_COLUMN:
        raise TopicVotesFormatError(
            f"{path}:1: expected the header line 'Topic<TAB>Start Verse ID<TAB>End Verse ID<TAB>Votes...', "
            f"got {lines[0][:80]!r}"
        )
    known = _canonical_set()
    rows, unknown = [], []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        topic, start, end, votes = _parse_row(line.split("\t"), f"{path}:{number}")
        missing = [verse_id for verse_id in dict.fromkeys((start, end)) if verse_id not in known]
        if missing:
            unknown.extend(UnknownVerse(str(path), number, verse_id) for verse_id in missing)
            continue
        rows.append(VoteRow(topic, start, end, votes, number, expand_passage(start, end)))
    if not rows and not unknown:
        raise TopicVotesFormatError(f"{path}: no topic-vote rows after the header")
    if unknown:
        logger.warning(
            "%s: %d row(s) name verse ids outside the canonical structure and were skipped, e.g. %s",
            path,
            len(unknown),
            unknown[0],
        )
    return TopicVotes(str(path), tuple(rows), tuple(unknown))


def judge(votes: TopicVotes, rule: RelevanceRule | None = None) -> Judgments:
    """Apply ``rule`` (default: the README's) to parsed rows, giving graded judgments per topic."""
    rule = rule or RelevanceRule()
    qrels: dict[str, dict[int, int]] = {}
    best_votes: dict[str, dict[int, int]] = {}
    skipped = 0
    for row in votes.rows:
        if not rule.counts(row):
            skipped += 1
            continue
        grade = rule.grade(row.votes)
        if grade < 1:
            continue
        topic_grades = qrels.setdefault(row.topic, {})
        topic_votes = best_votes.setdefault(row.topic, {})
        for verse_id in row.verse_ids:
            topic_grades[verse_id] = max(grade, topic_grades.get(verse_id, 0))
            topic_votes[verse_id] = max(row.votes, topic_votes.get(verse_id, 0))
    return Judgments(qrels, best_votes, rule, votes.path, skipped, votes.unknown)


def load_judgments(path: str | Path, rule: RelevanceRule | None = None) -> Judgments:
    """Read a topic-votes file and grade it: ``judge(read_topic_votes(path), rule)``.

    A file that grades no topic at all is refused here, naming why, rather than much later inside
    the metric library (which cannot rank against empty judgments).
    """
    votes = read_topic_votes(path)
    judgments = judge(votes, rule)
    if not judgments.qrels:
        raise TopicVotesFormatError(f"{path}: no gradable topic ({_why_nothing_graded(votes, judgments)})")
    return judgments


def _why_nothing_graded(votes: TopicVotes, judgments: Judgments) -> str:
    rule = judgments.rule
    below_unit = sum(rule.counts(row) and rule.grade(row.votes) < 1 for row in votes.rows)
    reasons = [
        f"{count} {what}"
        for count, what in (
            (len(votes.unknown), "row(s) with unknown verse ids"),
            (judgments.skipped_rows, f"row(s) longer than {rule.max_range_verses} verses or across chapters"),
            (below_unit, f"row(s) with fewer than vote_unit={rule.vote_unit} votes"),
        )
        if count
    ]
    return "; ".join(reasons) + " and no other rows"


def topic_verse_pairs(
    judgments: Judgments, *, min_votes: int = 10, max_per_topic: int | None = 3
) -> list[TopicVersePair]:
    """The most-voted judged verses of each topic, as training pairs for a contrastive stage.

    Topics come in judgment order; within a topic, verses by votes (descending), then verse id, and
    at most ``max_per_topic`` of them (``None``: all) with at least ``min_votes`` votes.
    """
    if max_per_topic is not None and max_per_topic < 1:
        raise ValueError(f"max_per_topic must be a positive integer or None, got {max_per_topic!r}")
    pairs = []
    for topic, verse_votes in judgments.votes.items():
        ranked = sorted(verse_votes.items(), key=lambda item: (-item[1], item[0]))
        kept = [(verse_id, votes) for verse_id, votes in ranked if votes >= min_votes][:max_per_topic]
        pairs.extend(TopicVersePair(topic, verse_id, votes) for verse_id, votes in kept)
    return pairs


def export_beir(
    judgments: Judgments, corpus: Mapping[int, str] | str, output_dir: str | Path, *, split: str = "dev"
) -> Path:
    """Write the judgments in the BEIR layout: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``.

    ``corpus`` is a translation code ("WEB", loaded cleaned) or a mapping from verse id to text.
    Document ids are the zero-padded ``bbcccvvv`` form, query ids come from :func:`topic_query_id`.
    Judged verses the corpus lacks stay in the qrels (they are relevant; a system simply cannot find
    them in this translation) and are logged.
    """
    if isinstance(corpus, str):
        from .bible import load_translation

        dataset = load_translation(corpus)
        corpus = dict(zip(dataset["verse_id"], dataset["text"], strict=True))
    output = Path(output_dir)
    (output / "qrels").mkdir(parents=True, exist_ok=True)
    with open(output / "corpus.jsonl", "w", encoding="utf-8") as handle:
        for verse_id in sorted(corpus):
            record = {"_id": verse_doc_id(verse_id), "title": "", "text": corpus[verse_id]}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    with open(output / "queries.jsonl", "w", encoding="utf-8") as handle:
        for topic in judgments.qrels:
            handle.write(json.dumps({"_id": topic_query_id(topic), "text": topic}, ensure_ascii=False) + "\n")
    missing = set()
    with open(output / "qrels" / f"{split}.tsv", "w", encoding="utf-8") as handle:
        handle.write("query-id\tcorpus-id\tscore\n")
        for topic, grades in judgments.qrels.items():
            for verse_id, grade in sorted(grades.items()):
                handle.write(f"{topic_query_id(topic)}\t{verse_doc_id(verse_id)}\t{grade}\n")
                if verse_id not in corpus:
                    missing.add(verse_id)
    if missing:
        logger.warning("%d judged verse(s) are not in the exported corpus", len(missing))
    return output


def describe(judgments: Judgments) -> dict[str, object]:
    """Counts worth printing next to any result computed on these judgments."""
    return {
        "source": judgments.source,
        "rule": dataclasses.asdict(judgments.rule),
        "topics": len(judgments.qrels),
        "judged_verses": sum(len(grades) for grades in judgments.qrels.values()),
        "skipped_rows": judgments.skipped_rows,
        "unknown_verse_ids": len(judgments.unknown),
    }
