"""`versebert push` against a fake Hub: one commit holding every file, cards rendered for the target
repository, branches and pull requests, a dry run that touches nothing, and a pushed folder that loads
remotely."""

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
from versebert.orchestration.model_card import FACTS_FILE, EvaluationRow, ModelCardFacts, write_model_card
from versebert.orchestration.publishing import push_run
from versebert.orchestration.run_layout import RunLayout


@dataclass
class FakeRepoUrl:
    repo_id: str


@dataclass
class FakeCommitInfo:
    commit_url: str
    pr_url: str | None = None


@dataclass
class FakeCommit:
    repo_id: str
    revision: str
    create_pr: bool
    message: str
    paths: list[str]


class FakeHub:
    """Stands in for `huggingface_hub.HfApi`: each branch of a repository is a folder under ``root``."""

    root: Path
    commits: list[FakeCommit] = []
    branches: list[tuple[str, str]] = []

    def __init__(self, token=None, **kwargs):
        pass

    @classmethod
    def repo(cls, repo_id: str, revision: str = "main") -> Path:
        return cls.root / repo_id / revision

    def create_repo(self, repo_id, private=None, exist_ok=False, repo_type=None, **kwargs):
        self.repo(repo_id).mkdir(parents=True, exist_ok=True)
        return FakeRepoUrl(repo_id)

    def create_branch(self, repo_id, *, branch, exist_ok=False, **kwargs):
        if not self.repo(repo_id, branch).exists():
            shutil.copytree(self.repo(repo_id), self.repo(repo_id, branch))
        FakeHub.branches.append((repo_id, branch))

    def create_commit(self, repo_id, operations, *, commit_message, revision=None, create_pr=None, **kwargs):
        revision = revision or "main"
        number = len(FakeHub.commits) + 1
        destination = self.repo(repo_id, f"pr-{number}" if create_pr else revision)
        if create_pr and not destination.exists():
            shutil.copytree(self.repo(repo_id, revision), destination)
        for operation in operations:
            target = destination / operation.path_in_repo
            target.parent.mkdir(parents=True, exist_ok=True)
            with operation.as_file() as handle:
                target.write_bytes(handle.read())
        FakeHub.commits.append(FakeCommit(repo_id, revision, bool(create_pr), commit_message,
                                          sorted(operation.path_in_repo for operation in operations)))
        url = f"fake://{repo_id}/commit/{number}"
        return FakeCommitInfo(url, f"fake://{repo_id}/discussions/{number}" if create_pr else None)


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    import huggingface_hub

    FakeHub.root = tmp_path / "hub"
    FakeHub.commits, FakeHub.branches = [], []
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeHub)
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
        run_dir=str(layout.root),
    )
    write_model_card(facts, layout.model_card)
    return layout


def repo_files(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def test_push_uploads_every_file_in_one_commit_with_cards_rendered_for_the_target(fake_hub, finished_run):
    url = push_run(finished_run.root, "other/pushed-here")
    repo = fake_hub.repo("other/pushed-here")
    uploaded = repo_files(repo)
    expected = {name for name in repo_files(finished_run.model)} | {
        f"mlm/{name}" for name in repo_files(finished_run.mlm)
    }
    assert set(uploaded) == expected | {"README.md", "mlm/README.md"}
    for name, data in repo_files(finished_run.model).items():
        if name != "README.md":
            assert uploaded[name] == data, name
    for name, data in repo_files(finished_run.mlm).items():
        if name != "README.md":
            assert uploaded[f"mlm/{name}"] == data, name
    assert [(c.repo_id, c.revision, c.create_pr) for c in fake_hub.commits] == [("other/pushed-here", "main", False)]
    assert fake_hub.commits[0].message == "Upload versebert-test"
    assert url == "fake://other/pushed-here/commit/1"

    card, mlm_card = uploaded["README.md"].decode(), uploaded["mlm/README.md"].decode()
    assert 'SentenceTransformer("other/pushed-here", trust_remote_code=True)' in card
    assert 'from_pretrained("other/pushed-here", subfolder="mlm", trust_remote_code=True)' in mlm_card
    assert "org/versebert-test" not in card + mlm_card  # the repository the run was rendered for
    assert "pipeline_tag: fill-mask" in mlm_card


def test_a_branch_and_a_pull_request_are_one_commit_each(fake_hub, finished_run):
    push_run(finished_run.root, "org/name", revision="experiment", commit_message="try the tiny run")
    assert fake_hub.branches == [("org/name", "experiment")]
    assert (fake_hub.repo("org/name", "experiment") / "README.md").is_file()
    assert not (fake_hub.repo("org/name") / "README.md").exists()  # main is untouched

    url = push_run(finished_run.root, "org/name", create_pr=True)
    assert url == "fake://org/name/discussions/2"
    assert [(c.revision, c.create_pr, c.message) for c in fake_hub.commits] == [
        ("experiment", False, "try the tiny run"),
        ("main", True, "Upload versebert-test"),
    ]
    assert fake_hub.commits[0].paths == fake_hub.commits[1].paths


def test_dry_run_lists_the_upload_and_prints_the_card_without_touching_the_hub(finished_run, monkeypatch, capsys):
    import huggingface_hub

    from versebert.cli import main

    def no_network(*args, **kwargs):
        raise AssertionError("a dry run must not create an HfApi client")

    monkeypatch.setattr(huggingface_hub, "HfApi", no_network)
    code = main(["push", str(finished_run.root), "--repo-id", "other/name", "--revision", "dev", "--create-pr",
                 "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0
    assert "to https://huggingface.co/other/name (a pull request against dev) in one commit" in out
    assert "mlm/model.safetensors" in out and "model.safetensors" in out
    assert 'SentenceTransformer("other/name", trust_remote_code=True)' in out  # the rendered card
    assert "----- mlm/README.md -----" in out


def test_pushed_repository_loads_in_a_fresh_process_without_our_package(fake_hub, finished_run, tmp_path):
    from sentence_transformers import SentenceTransformer

    push_run(finished_run.root, "org/versebert-test")
    repo = fake_hub.repo("org/versebert-test")
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
    assert fake_hub.commits == []


def test_push_refuses_a_run_without_recorded_card_facts(fake_hub, finished_run):
    (finished_run.root / FACTS_FILE).unlink()
    with pytest.raises(UserError, match="the model-card stage writes it"):
        push_run(finished_run.root, "org/name")
    assert fake_hub.commits == []


def test_push_refuses_a_bad_repo_id(fake_hub, finished_run):
    with pytest.raises(UserError, match="ORG/NAME"):
        push_run(finished_run.root, "no-slash")


def test_the_mlm_cards_fill_mask_snippet_runs_as_written(finished_run):
    """Rendered for the run directory itself: ``from_pretrained(run, subfolder="mlm")`` reads run/mlm."""
    import dataclasses
    import re

    from versebert.orchestration.model_card import load_facts, render_mlm_card

    facts = dataclasses.replace(load_facts(finished_run.root), repo_id=str(finished_run.root))
    snippet = re.search(r"```python\n(.*?)```", render_mlm_card(facts), re.S).group(1)
    namespace: dict = {}
    exec(compile(snippet.replace("print(", "result = ("), "mlm-card-snippet", "exec"), namespace)
    assert len(namespace["result"]) == 5 and all("[MASK]" not in guess["sequence"] for guess in namespace["result"])
