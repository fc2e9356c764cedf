"""Recognise Bible references in a query ("John 3:16", "1 Cor 13:4-7", "Ps 23").

A user who types a reference wants that passage, not verses that happen to contain the words
"John" or "Cor"; the searcher puts the named verses first. pythonbible does the parsing; this module
decides what counts as a reference for search.
"""

from __future__ import annotations

CANON_BOOKS = 66


def reference_verse_ids(query: str) -> list[int]:
    """Verse ids named by the references in ``query``, in the order written, without repeats.

    Only references with at least a chapter count: pythonbible also reads a bare book name as a
    reference to the whole book, and topics such as "job security", "mark of the beast" or
    "wisdom" (a deuterocanonical book) are searches, not requests for thousands of verses. Books
    outside the 66-book canon are ignored for the same reason.
    """
    import pythonbible

    verse_ids: dict[int, None] = {}
    for ref in pythonbible.get_references(query):
        if ref.start_chapter is None or ref.book.value > CANON_BOOKS or ref.end_book.value > CANON_BOOKS:
            continue
        verse_ids.update(dict.fromkeys(pythonbible.convert_reference_to_verse_ids(ref)))
    return list(verse_ids)
