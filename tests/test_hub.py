"""Model arguments as Hub ids or directories, and the wrong kind of run directory named before loading."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from modeling_versebert import VerseBertForMaskedLM
from versebert.errors import UserError
from versebert.hub import looks_like_hub_id, resolve_model_path
from versebert.retrieval.dense import MASKED_LM, check_model_dir


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache for this test, offline as the test suite always is."""
    from huggingface_hub import constants

    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def cache_snapshot(cache, repo_id: str, files: dict[str, str]):
    """Lay out ``repo_id`` in the cache the way a finished ``hf download`` leaves it."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    for name, text in files.items():
        (snapshot / name).write_text(text)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    return snapshot


@pytest.mark.parametrize("value, expected", [
    ("org/name", True), ("sentence-transformers/all-MiniLM-L6-v2", True), ("runs/tiny", True),
    ("name", False), ("./org/name", False), ("/abs/path", False), ("~/models/x", False), ("a/b/c", False),
    ("org/na--me", False),
])
def test_hub_ids_are_org_slash_name(value, expected):
    assert looks_like_hub_id(value) is expected


def test_a_cached_hub_id_resolves_to_its_snapshot_offline(hub_cache):
    snapshot = cache_snapshot(hub_cache, "org/encoder", {"config.json": "{}", "modules.json": "[]"})
    assert resolve_model_path("org/encoder") == snapshot
    assert check_model_dir("org/encoder") == snapshot.resolve()


def test_an_uncached_hub_id_offline_says_how_to_get_it(hub_cache):
    with pytest.raises(UserError) as error:
        check_model_dir("org/missing")
    message = str(error.value)
    assert "org/missing is not in the local Hugging Face cache and HF_HUB_OFFLINE=1 is set" in message
    assert "hf download org/missing" in message and "pass a directory" in message
    assert "\n" not in message


def test_an_existing_directory_wins_over_the_hub_and_online_downloads_go_through_snapshot_download(
    tmp_path, monkeypatch
):
    import huggingface_hub

    calls = []
    downloaded = tmp_path / "downloaded"
    downloaded.mkdir()

    def fake_snapshot_download(repo_id, **kwargs):
        calls.append((repo_id, kwargs))
        return str(downloaded)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "tiny").mkdir(parents=True)
    assert resolve_model_path("runs/tiny") == Path("runs/tiny")
    assert calls == []  # a directory that exists is never looked up

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert resolve_model_path("org/name") == downloaded
    assert calls == [("org/name", {"local_files_only": False})]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    resolve_model_path("org/name")
    assert calls[-1] == ("org/name", {"local_files_only": True})


def test_warm_start_from_a_hub_id_records_the_id_for_the_card(hub_cache):
    from versebert.training.warm_start import resolve_warm_start

    snapshot = cache_snapshot(hub_cache, "org/bert", {"config.json": '{"model_type": "bert"}'})
    source = resolve_warm_start("org/bert")
    assert source.path == snapshot and source.hub_id == "org/bert" and source.name == "org/bert"
    with pytest.raises(UserError, match="--init-from org/absent: org/absent is not in the local"):
        resolve_warm_start("org/absent")


@pytest.fixture
def run_dirs(tiny_config, tiny_tokenizer_dir, tmp_path):
    """A run's two model directories: ``mlm/`` (masked LM with its head) and ``model/`` (SentenceTransformer)."""
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    tiny_config.vocab_size = tokenizer.vocab_size
    torch.manual_seed(0)
    mlm, model = tmp_path / "run" / "mlm", tmp_path / "run" / "model"
    VerseBertForMaskedLM(tiny_config).save_pretrained(mlm)
    tokenizer.save_pretrained(mlm)
    SentenceTransformer(str(mlm), trust_remote_code=True, device="cpu").save_pretrained(str(model))
    return mlm, model


def test_search_refuses_an_mlm_checkpoint_and_names_the_model_directory(run_dirs):
    mlm, model = run_dirs
    with pytest.raises(UserError) as error:
        check_model_dir(mlm)
    assert "masked-LM checkpoint" in str(error.value) and "no modules.json" in str(error.value)
    assert f"pass the run's model/ directory ({model})" in str(error.value)
    assert check_model_dir(model) == model.resolve()


def test_cloze_refuses_a_sentence_transformer_and_names_the_mlm_directory(run_dirs):
    from versebert.evaluation.cloze import probe_checkpoint

    mlm, model = run_dirs
    with pytest.raises(UserError) as error:
        probe_checkpoint(model)
    assert "SentenceTransformer" in str(error.value) and "without a trained masked-LM head" in str(error.value)
    assert f"pass the run's mlm/ directory ({mlm})" in str(error.value)
    assert check_model_dir(mlm, kind=MASKED_LM) == mlm.resolve()


def test_a_bare_encoder_without_a_head_is_still_a_dense_model(tiny_config, tmp_path):
    """A plain transformers encoder (no modules.json, no head) gets mean pooling from sentence-transformers,
    as the search benchmark's random-init model does; only a masked LM is refused."""
    from modeling_versebert import VerseBertModel

    VerseBertModel(tiny_config).save_pretrained(tmp_path / "encoder")
    assert check_model_dir(tmp_path / "encoder") == (tmp_path / "encoder").resolve()
    with pytest.raises(UserError, match="a checkpoint without a trained masked-LM head"):
        check_model_dir(tmp_path / "encoder", kind=MASKED_LM)


def test_cloze_on_a_published_repository_names_its_mlm_folder(run_dirs, tmp_path):
    """A pushed repository (or its Hub snapshot) is the SentenceTransformer with the MLM in ``mlm/``."""
    import shutil

    mlm, model = run_dirs
    published = tmp_path / "snapshot"
    shutil.copytree(model, published)
    shutil.copytree(mlm, published / "mlm")
    with pytest.raises(UserError, match=rf"pass the run's mlm/ directory \({published / 'mlm'}\)"):
        check_model_dir(published, kind=MASKED_LM)


def test_the_command_line_reports_an_uncached_model_in_one_line(hub_cache, capsys):
    from versebert.cli import main

    assert main(["evaluate", "cloze", "--model", "org/missing"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("versebert evaluate: error: --model org/missing: org/missing is not in the local")
    assert "\n" not in error
