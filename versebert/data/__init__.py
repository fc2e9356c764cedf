"""Data layer: verse corpus, cleaning, validation, MLM corpus and tokenizer.

Importing this package is cheap (no ``datasets``/``tokenizers`` import); submodules import their
heavy dependencies where they need them.
"""

from .bible import (
    TRANSLATIONS,
    Verse,
    installed_translations,
    load_translation,
    load_verses,
    missing_verse_ids,
    reference,
)

__all__ = [
    "TRANSLATIONS",
    "Verse",
    "installed_translations",
    "load_translation",
    "load_verses",
    "missing_verse_ids",
    "reference",
]
