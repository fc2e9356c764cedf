"""What people looked for: judged topics (topic text → judged verses with their votes), as one file.

Built from topic votes (:mod:`versebert.data.openbible`, graded by a
:class:`~versebert.data.openbible.RelevanceRule`) and stored as compact gzipped JSON, so a search
can load it in milliseconds without the original download. It feeds two signals: the verse prior
(:mod:`.verse_prior`) and the topic memory (:mod:`.topic_memory`). It must come from *training*
topics only: evaluated on the topics it was built from, it would simply recall the answers.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError

FORMAT = "versebert-topic-knowledge"
FORMAT_VERSION = 1
PACKAGED_NAME = "openbible-train-v1.json.gz"


def packaged_knowledge_path() -> Path:
    """The knowledge file shipped in the package: OpenBible.info train topics (CC-BY,
    www.openbible.info/topics; see the README beside it)."""
    return Path(__file__).parent / "knowledge" / PACKAGED_NAME


@dataclass(frozen=True)
class TopicKnowledge:
    """``topics[i]`` judges the verses ``verses[i]``, each with ``votes[i][j]`` votes.

    ``source`` names the topic-votes file it came from and ``rule`` the relevance rule applied.
    """

    topics: tuple[str, ...]
    verses: tuple[tuple[int, ...], ...]
    votes: tuple[tuple[int, ...], ...]
    source: str = ""
    rule: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.topics:
            raise ValueError("TopicKnowledge.topics is empty: a knowledge file needs judged topics")
        if not len(self.topics) == len(self.verses) == len(self.votes):
            raise ValueError(f"TopicKnowledge has {len(self.topics)} topics, {len(self.verses)} verse lists and "
                             f"{len(self.votes)} vote lists")
        for topic, verses, votes in zip(self.topics, self.verses, self.votes, strict=True):
            if len(verses) != len(votes) or not verses:
                raise ValueError(f"TopicKnowledge topic {topic!r} needs one vote count per judged verse")

    @classmethod
    def from_topic_votes(cls, topic_votes, rule=None) -> TopicKnowledge:
        """Knowledge from parsed topic-votes rows: each row the ``rule`` counts judges its verses (as
        in :func:`~versebert.data.openbible.judge`), and a longer passage judges its first verse.

        The evaluation skips long passages (thirty verses sharing one vote are weak judgments of
        each), but for recall they are the strongest votes there are: "Psalm 23:1-6" is how voters
        judge "The LORD is my shepherd" (136 training topics name that passage, none Psalm 23:1
        alone). Its first verse is where a reader enters it, so that is the verse credited.
        """
        from ..data.openbible import RelevanceRule

        rule = rule or RelevanceRule()
        best: dict[str, dict[int, int]] = {}
        for row in topic_votes.rows:
            if rule.grade(row.votes) < 1:
                continue
            verse_ids = row.verse_ids if rule.counts(row) else row.verse_ids[:1]
            topic = best.setdefault(row.topic, {})
            for verse_id in verse_ids:
                topic[verse_id] = max(row.votes, topic.get(verse_id, 0))
        return cls._from_votes(best, str(topic_votes.path), dataclasses.asdict(rule) | {"long_passages": "first verse"})

    @classmethod
    def load_topic_votes(cls, path: str | Path) -> TopicKnowledge:
        """Knowledge from a topic-votes TSV in OpenBible.info's original format (any path)."""
        from ..data.openbible import read_topic_votes

        return cls.from_topic_votes(read_topic_votes(path))

    @classmethod
    def from_judgments(cls, judgments) -> TopicKnowledge:
        """Every judged topic of ``judgments`` with its verses, most-voted first."""
        return cls._from_votes(judgments.votes, str(judgments.source), dataclasses.asdict(judgments.rule))

    @classmethod
    def _from_votes(cls, topic_votes: dict[str, dict[int, int]], source: str, rule: dict) -> TopicKnowledge:
        topics, verses, votes = [], [], []
        for topic, verse_votes in topic_votes.items():
            ranked = sorted(verse_votes.items(), key=lambda item: (-item[1], item[0]))
            topics.append(topic)
            verses.append(tuple(verse_id for verse_id, _ in ranked))
            votes.append(tuple(count for _, count in ranked))
        return cls(tuple(topics), tuple(verses), tuple(votes), source, rule)

    def __len__(self) -> int:
        return len(self.topics)

    @functools.cached_property
    def prior(self) -> Counter:
        """How many topics judge each verse: the verses people look for most, whatever they ask."""
        return Counter(verse_id for verses in self.verses for verse_id in verses)

    @functools.cached_property
    def normalized_topics(self) -> frozenset[str]:
        return frozenset(normalize_topic(topic) for topic in self.topics)

    def overlap(self, topics) -> list[str]:
        """The ``topics`` that this knowledge also holds (compared case- and space-insensitively)."""
        known = self.normalized_topics
        return [topic for topic in topics if normalize_topic(topic) in known]

    def to_json(self) -> dict:
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION, "source": self.source, "rule": self.rule,
            "topics": list(self.topics), "verses": [list(v) for v in self.verses],
            "votes": [list(v) for v in self.votes],
        }

    def save(self, path: str | Path) -> Path:
        """Gzipped JSON (no name, mtime 0: the same knowledge gives the same bytes), written atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":")).encode()
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        with open(temporary, "wb") as raw:
            with gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0, compresslevel=9) as out:
                out.write(payload)
        os.replace(temporary, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> TopicKnowledge:
        path = Path(path)
        try:
            data = json.loads(gzip.decompress(path.read_bytes()))
        except FileNotFoundError:
            raise UserError(f"topic knowledge file not found: {path}") from None
        except (OSError, EOFError, ValueError) as error:
            raise UserError(f"{path} is not a readable topic knowledge file ({error}); rebuild it with "
                            f"`versebert index build --judgments TOPIC_VOTES.tsv`") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("format_version") != FORMAT_VERSION:
            raise UserError(f"{path}: not a version-{FORMAT_VERSION} {FORMAT} file")
        try:
            return cls(tuple(data["topics"]), tuple(tuple(v) for v in data["verses"]),
                       tuple(tuple(v) for v in data["votes"]), data.get("source", ""), data.get("rule", {}))
        except (KeyError, TypeError, ValueError) as error:
            raise UserError(f"{path}: malformed topic knowledge ({error})") from None


def normalize_topic(topic: str) -> str:
    return " ".join(topic.lower().split())


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes: what keys an index built with that knowledge."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
