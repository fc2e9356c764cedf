"""The JSON answers a searcher gives: one search (as ``versebert search --json`` prints it) and one
passage named by reference.

They live here, free of any web import, so the command line and the HTTP API cannot drift apart:
a client that parses one parses the other.
"""

from __future__ import annotations

from ..errors import UserError

# "Gen 1 - Rev 22" is a valid reference to 31,102 verses; nobody reads that much in one answer, and
# it would make one request cost a whole Bible's worth of JSON. A long book chapter range still fits.
MAX_PASSAGE_VERSES = 1000


class NotFound(UserError):
    """A well-formed request for something that is not there (a reference naming no indexed verse)."""


def search_answer(searcher, query: str, hits) -> dict:
    """One query's answer: what was searched (translations, display, retrievers) and the hits with
    their per-retriever explanation, so a client can show why each verse matched."""
    return {
        "query": query,
        "translations": list(searcher.index.translations),
        "display": searcher.display.translation,
        "retrievers": list(searcher.retrievers),
        "notices": searcher.notices(query),
        "hits": [hit.to_dict() for hit in hits],
    }


def passage_answer(searcher, reference: str) -> dict:
    """The verses ``reference`` names ("John 3:16", "1 Cor 13:4-7"), each in the display translation
    or else the first indexed translation that has it (as search hits are shown)."""
    from ..data.bible import reference as verse_reference
    from ..retrieval.references import reference_verse_ids

    verse_ids = reference_verse_ids(reference)
    if not verse_ids:
        raise NotFound(f'no Bible reference found in {reference!r}; write one like "John 3:16" or "1 Cor 13:4-7"')
    if len(verse_ids) > MAX_PASSAGE_VERSES:
        raise UserError(f"{reference!r} names {len(verse_ids):,} verses; the limit is {MAX_PASSAGE_VERSES:,} "
                        f"(ask for a chapter or a few)")
    corpora = (searcher.display, *searcher.index.corpora.values())
    verses = []
    for verse_id in verse_ids:
        corpus = next((corpus for corpus in corpora if verse_id in corpus), None)
        if corpus is not None:
            verses.append({"verse_id": verse_id, "reference": verse_reference(verse_id),
                           "translation": corpus.translation, "text": corpus.text(verse_id)})
    if not verses:
        translations = ", ".join(dict.fromkeys(corpus.translation for corpus in corpora))
        raise NotFound(f"{reference!r} names no verse of the served translations ({translations})")
    return {"reference": reference, "display": searcher.display.translation, "verses": verses}
