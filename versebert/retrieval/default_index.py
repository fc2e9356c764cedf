"""The index ``versebert search`` uses without ``--index``: built once, then loaded from the cache.

Joined verse documents over the whole-Bible translations plus the packaged topic knowledge take
about 15 s to build (cleaned texts, analysis, bm25s); loading the saved index takes a fraction of a
second. So it is built on first use and kept under the data cache (``cache_dir("search-index")``),
keyed by everything its content depends on: the translations and document settings, the BM25
settings, the knowledge file's bytes, the source of the modules that read, clean and index the
texts, and the versions of the packages holding the texts and computing BM25. Computing the key
reads no Bible text, so a warm start loads nothing it does not show.

The entry is written to a private directory and renamed into place, so a concurrent search sees all
of it or none. A damaged entry (a file whose size or CRC-32 changed) is reported in one warning line
and rebuilt.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from ..data.bible import WHOLE_BIBLES
from .bm25 import BM25Config
from .fusion_weights import FusionWeights
from .index import SearchIndex
from .topic_knowledge import TopicKnowledge, file_digest, packaged_knowledge_path
from .verse_documents import VerseDocuments

CACHE_NAME = "search-index"


def default_knowledge_path() -> Path:
    return packaged_knowledge_path()


def index_key(codes: Sequence[str], documents: VerseDocuments, knowledge: Path | None,
              bm25_config: BM25Config) -> str:
    """Content key of the default index for these settings (see the module docstring)."""
    import dataclasses

    from ..data import bible, cleaning
    from ..data.cache import fingerprint
    from . import archaic, bm25, corpus, index, topic_knowledge, topic_memory, verse_documents

    settings = {
        "translations": list(codes), "documents": dataclasses.asdict(documents),
        "bm25": dataclasses.asdict(bm25_config), "index_format": index.FORMAT_VERSION,
        "knowledge": file_digest(knowledge) if knowledge is not None else None,
    }
    modules = (bible, cleaning, archaic, bm25, corpus, index, topic_knowledge, topic_memory, verse_documents)
    packages = ("pythonbible", *(bible.TRANSLATIONS[code].package for code in codes), "bm25s", "PyStemmer")
    return fingerprint(settings, modules=modules, packages=packages)


def default_search_index(
    codes: Sequence[str] = WHOLE_BIBLES, *, documents: VerseDocuments | None = None,
    knowledge: Path | None = None, use_knowledge: bool = True, bm25_config: BM25Config | None = None,
    show_progress: bool = True,
) -> SearchIndex:
    """The cached index of ``codes`` with the packaged (or given) knowledge and its fusion weights."""
    from ..data.cache import cache_dir, save_directory_atomically
    from ..errors import UserError

    documents = documents or VerseDocuments()
    bm25_config = bm25_config or BM25Config()
    knowledge = (Path(knowledge) if knowledge is not None else default_knowledge_path()) if use_knowledge else None
    key = index_key(codes, documents, knowledge, bm25_config)
    directory = cache_dir(CACHE_NAME) / f"{len(codes)}-translations-{key}"
    if directory.is_dir():
        try:
            return SearchIndex.load(directory)
        except UserError as error:
            print(f"versebert: warning: the cached search index is damaged ({error}); rebuilding it",
                  file=sys.stderr, flush=True)
            shutil.rmtree(directory, ignore_errors=True)
    index = build_default_index(codes, documents, knowledge, bm25_config, show_progress=show_progress)
    save_directory_atomically(directory, index.save)
    return index


def build_default_index(
    codes: Sequence[str], documents: VerseDocuments, knowledge: Path | None, bm25_config: BM25Config, *,
    show_progress: bool = True, encoder=None,
) -> SearchIndex:
    """Build (no cache) what :func:`default_search_index` caches; the fusion weights come from beside
    the knowledge file (chosen for it on the dev topics) when it has them."""
    from .corpus import VerseCorpus

    if show_progress:
        print(f"building the search index of {', '.join(codes)} once (it is cached for later searches)",
              file=sys.stderr, flush=True)
    corpora = [VerseCorpus.from_translation(code) for code in codes]
    topic_knowledge = TopicKnowledge.load(knowledge) if knowledge is not None else None
    fusion = FusionWeights.load(knowledge.parent) if knowledge is not None else None
    return SearchIndex.build(corpora, encoder, bm25_config=bm25_config, documents=documents,
                             knowledge=topic_knowledge, fusion=fusion, show_progress=show_progress)
