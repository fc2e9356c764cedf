"""`versebert push` against a fake Hub: every file arrives, and the pushed folder loads remotely."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from modeling_versebert import VerseBertForMaskedLM
from tests.test_remote_code import LOAD_WITHOUT_PACKAGE, run_without_our_package
from versebert.errors import UserError
from versebert.orchestration.model_card import EvaluationRow, ModelCardFacts, write_model_card
from versebert.orchestration.publishing import push_run
from versebert.orchestration.run_layout import RunLayout


@dataclass
class FakeRepoUrl:
    repo_id: str


@dataclass
class FakeCommit:
    commit_url: str


class FakeHub:
    """Stands in for `huggingface_hub.HfApi`: repositories are folders under ``root``."""

    root: Path
    uploads: list[tuple[str, str]] = []

    def __init__(self, token=None, **kwargs):
        pass

    def create_repo(self, repo_id, private=None, exist_ok=False, repo_type=None, **kwargs):
        (self.root / repo_id).mkdir(parents=True, exist_ok=True)
        return FakeRepoUrl(repo_id)

    def upload_folder(self, repo_id, folder_path, path_in_repo=None, commit_message=None, **kwargs):
        destination = self.root / repo_id / (path_in_repo or "")
        shutil.copytree(folder_path, destination, dirs_exist_ok=True)
        FakeHub.uploads.append((path_in_repo or "", commit_message))
        return FakeCommit(f"fake://{repo_id}/commit/{len(FakeHub.uploads)}")


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    import huggingface_hub
    import sentence_transformers.base.model as sentence_model_module

    FakeHub.root = tmp_path / "hub"
    FakeHub.uploads = []
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeHub)
    monkeypatch.setattr(sentence_model_module, "HfApi", FakeHub)
    return FakeHub


@pytest.fixture
def finished_run(tiny_config, tiny_tokenizer_dir, tmp_path):
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer

    layout = RunLayout(tmp_path / "run")
    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    tiny_config.vocab_size = tokenizer.vocab_size
    torch.manual_seed(0)
    VerseBertForMaskedLM(tiny_config).save_pretrained(layout.mlm)
    tokenizer.save_pretrained(layout.mlm)
    SentenceTransformer(str(layout.mlm), trust_remote_code=True, device="cpu").save_pretrained(str(layout.model))
    facts = ModelCardFacts(
        model_name="versebert-test",
        repo_id="org/versebert-test",
        model_config=tiny_config.to_dict(),
        translations=["WEB"],
        corpus_translation="WEB",
        corpus_size=10,
        dev_topics=1,
        evaluation=[EvaluationRow("VerseBERT dense", {"ndcg@10": 0.5}, ours=True)],
    )
    write_model_card(facts, layout.model_card)
    return layout


def test_push_uploads_every_file_and_the_card_wins(fake_hub, finished_run):
    push_run(finished_run.root, "org/versebert-test")
    repo = fake_hub.root / "org/versebert-test"
    for path in finished_run.model.rglob("*"):
        if path.is_file():
            assert (repo / path.relative_to(finished_run.model)).read_bytes() == path.read_bytes(), path
    for path in finished_run.mlm.rglob("*"):
        if path.is_file():
            assert (repo / "mlm" / path.relative_to(finished_run.mlm)).read_bytes() == path.read_bytes(), path
    assert [path for path, _ in fake_hub.uploads] == ["mlm", ""], "the SentenceTransformer must be pushed last"
    assert "trust_remote_code=True" in (repo / "README.md").read_text()


def test_pushed_repository_loads_in_a_fresh_process_without_our_package(fake_hub, finished_run, tmp_path):
    from sentence_transformers import SentenceTransformer

    push_run(finished_run.root, "org/versebert-test")
    repo = fake_hub.root / "org/versebert-test"
    texts = ["a new heart", "the lord is my shepherd"]
    for checkpoint in (repo, repo / "mlm"):
        result = run_without_our_package(
            LOAD_WITHOUT_PACKAGE, str(checkpoint), json.dumps(texts), str(tmp_path / "out.npz"), cwd=tmp_path
        )
        report = json.loads(result.stdout.strip().splitlines()[-1])
        assert not report["our_package_imported"]
        remote = np.load(tmp_path / "out.npz")
        local = SentenceTransformer(str(checkpoint), trust_remote_code=True, device="cpu")
        np.testing.assert_allclose(remote["embeddings"], local.encode(texts), atol=1e-5, rtol=1e-5)


def test_push_refuses_an_unfinished_run(fake_hub, tmp_path):
    with pytest.raises(UserError, match="versebert train"):
        push_run(tmp_path / "nothing", "org/name")
    assert fake_hub.uploads == []


def test_push_refuses_a_bad_repo_id(fake_hub, finished_run):
    with pytest.raises(UserError, match="ORG/NAME"):
        push_run(finished_run.root, "no-slash")
