"""Recognise Bible references in a query ("John 3:16", "1 Cor 13:4-7", "Ps 23").

A user who types a reference wants that passage, not verses that happen to contain the words
"John" or "Cor"; the searcher puts the named verses first. pythonbible does the parsing; this module
decides what counts as a reference for search.
"""

from __future__ import annotations

import re

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


# How a book is written before its chapter ("1 Cor", "Ps.", "Song of Solomon").
_BOOK = r"(?:[1-3]\s*)?[A-Za-z]+(?:\s+of\s+[A-Za-z]+)?"
# A written reference, with an optional range ("1 Cor 13:4-7", "Gen 1:1-2:3", "Song of Solomon 2:4").
_SPAN = re.compile(
    rf"\b{_BOOK}\.?\s+\d{{1,3}}(?:\s*:\s*\d{{1,3}})?(?:\s*[-\u2013]\s*\d{{1,3}}(?:\s*:\s*\d{{1,3}})?)?\b"
)
_WORD = re.compile(r"[^\W\d_]")


def words_outside_references(query: str) -> str:
    """The query without the references it names: what is left to search for by words and meaning.

    "1 Cor 13:4-7" asks for four verses; searching its words as well would add verses that contain
    "cor" (Ezekiel 45:14) after them. "John 3:16 eternal life" still searches "eternal life". Returns ""
    when nothing but references (and punctuation) is left, and the query unchanged when it names none.
    """
    if not any(character.isdigit() for character in query):
        return query
    pieces, position, found = [], 0, False
    while (match := _SPAN.search(query, position)) is not None:
        if reference_verse_ids(match.group(0)):
            pieces.append(query[position : match.start()])
            position, found = match.end(), True
        else:  # "in 1 John 4:8" first matches "in 1": look again from the next word
            following = re.search(r"\s\S", query[match.start() :])
            if following is None:
                break
            pieces.append(query[position : match.start() + following.start() + 1])
            position = match.start() + following.start() + 1
    if not found:
        return query
    rest = "".join(pieces) + query[position:]
    return " ".join(rest.split()) if _WORD.search(rest) else ""


_CANDIDATE = re.compile(rf"\b({_BOOK})\.?\s+(\d{{1,3}})(?:\s*:\s*(\d{{1,3}}))?\b")


def reference_notices(query: str) -> list[str]:
    """What is wrong with a reference the query seems to name but no verse answers ("John 99:99").

    pythonbible silently drops such references, and the query then becomes a word search for "John"
    and "99": say "John has 21 chapters" so the user learns why the passage did not come first.
    """
    import pythonbible

    notices: list[str] = []
    for match in _CANDIDATE.finditer(query):
        if pythonbible.get_references(match.group(0)):
            continue  # a valid reference
        books = pythonbible.get_references(f"{match.group(1)} 1")
        if not books or books[0].book.value > CANON_BOOKS:
            continue  # not a book name: words and a number ("psalm 151" of another canon, "top 10")
        book, chapter = books[0].book, int(match.group(2))
        chapters = pythonbible.get_number_of_chapters(book)
        if chapter > chapters or chapter == 0:
            plural = "chapter" if chapters == 1 else "chapters"
            notices.append(f"{book.title} has {chapters} {plural}; searching the words instead")
        elif match.group(3) is not None:
            verses = pythonbible.get_number_of_verses(book, chapter)
            notices.append(f"{book.title} {chapter} has {verses} verses; searching the words instead")
    return list(dict.fromkeys(notices))
