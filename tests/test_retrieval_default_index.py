"""The default index: built once, cached by content, loaded without torch, datasets or bm25s."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.test_retrieval_support import KJV_VERSES, WEB_VERSES, kjv_corpus, web_corpus
from versebert.retrieval import VerseCorpus, VerseSearcher
from versebert.retrieval.default_index import CACHE_NAME, default_search_index
from versebert.retrieval.index import SearchIndex

HEAVY = ("torch", "transformers", "sentence_transformers", "datasets")
CODES = ("WEB", "KJV")


@pytest.fixture
def toy_bibles(monkeypatch, tmp_path):
    """The default index over the toy WEB and KJV verses, in a private cache directory."""
    monkeypatch.setenv("VERSEBERT_CACHE", str(tmp_path / "cache"))
    corpora = {"WEB": web_corpus(), "KJV": kjv_corpus()}
    loads = []

    def from_translation(cls, code):
        loads.append(code)
        return corpora[code]

    monkeypatch.setattr(VerseCorpus, "from_translation", classmethod(from_translation))
    return tmp_path / "cache", loads


def entry(cache):
    (directory,) = (cache / CACHE_NAME).iterdir()
    return directory


def test_the_default_index_is_built_once_then_loaded_from_the_cache(toy_bibles):
    cache, loads = toy_bibles
    built = default_search_index(CODES, show_progress=False)
    assert loads == list(CODES)
    loaded = default_search_index(CODES, show_progress=False)
    assert loads == list(CODES), "the second call reads the cache, not the translations"
    assert loaded.translations == list(CODES) and loaded.knowledge is not None
    query = "do not worry about tomorrow"
    assert [h.to_dict() for h in VerseSearcher(loaded).search(query)] == \
        [h.to_dict() for h in VerseSearcher(built).search(query)]
    assert not list((cache / CACHE_NAME).glob("*.tmp")), "written through a temporary directory"


def test_the_default_search_uses_joined_documents_prior_and_memory(toy_bibles):
    searcher = VerseSearcher(default_search_index(CODES, show_progress=False))
    assert searcher.retrievers == ("bm25", "prior", "memory_bm25")
    assert dict(KJV_VERSES)[46013004].startswith("Charity")  # only the KJV says it so
    hits = {hit.verse_id: hit for hit in searcher.search("charity suffereth long", k=5)}
    hit = hits[46013004]
    assert hit.text == dict(WEB_VERSES)[46013004]
    assert ("bm25", "joined", 1) in [(m.retriever, m.translation, m.rank) for m in hit.matches]


def test_a_damaged_cache_entry_is_rebuilt_with_one_warning(toy_bibles, capsys):
    cache, loads = toy_bibles
    default_search_index(CODES, show_progress=False)
    vocab = entry(cache) / "bm25" / "joined" / "vocab.json"
    vocab.write_text(vocab.read_text()[:-20])
    capsys.readouterr()
    index = default_search_index(CODES, show_progress=False)
    warning = capsys.readouterr().err.strip().splitlines()
    assert len(warning) == 1 and "damaged" in warning[0] and "rebuilding" in warning[0]
    assert loads == list(CODES) * 2
    assert SearchIndex.load(entry(cache)).translations == list(CODES)  # the rebuilt entry is whole
    assert VerseSearcher(index).search("Jesus wept", k=1)[0].verse_id == 43011035


def test_other_translations_are_another_cache_entry(toy_bibles):
    cache, _ = toy_bibles
    default_search_index(CODES, show_progress=False)
    default_search_index(("WEB",), show_progress=False)
    assert len(list((cache / CACHE_NAME).iterdir())) == 2


def test_bm25_search_from_the_command_line_imports_no_heavy_package(toy_bibles, tmp_path):
    """The query path in a fresh process: parse, load the cached index, search, print."""
    cache, _ = toy_bibles
    default_search_index(CODES, show_progress=False)  # the subprocess finds this entry by its content key
    script = (
        "import json, sys\n"
        "from versebert.cli import main\n"
        "code = main(['search', 'do not worry about tomorrow', '-t', 'WEB,KJV', '--json'])\n"
        f"print(json.dumps({{'code': code, 'loaded': [m for m in {HEAVY + ('bm25s',)!r} if m in sys.modules]}}))\n"
    )
    env = {**os.environ, "VERSEBERT_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    *answer, status = result.stdout.strip().splitlines()
    status = json.loads(status)
    assert status == {"code": 0, "loaded": []}, status
    hits = json.loads("\n".join(answer))["hits"]
    assert hits and any("topic memory" in (m["detail"] or "") for hit in hits for m in hit["matches"])
    assert "building" not in result.stderr, "the cached entry was used"
