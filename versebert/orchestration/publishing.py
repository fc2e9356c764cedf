"""Publish a finished run to the Hugging Face Hub, in one commit.

The repository root is the SentenceTransformer (encoder weights, tokenizer, our remote code, pooling
config and the model card), so ``SentenceTransformer(repo, trust_remote_code=True)`` and
``AutoModel.from_pretrained(repo, trust_remote_code=True)`` both work. The MLM checkpoint (with its
tied head and its own short card) goes to the ``mlm`` subfolder.

Both cards are rendered at push time from the facts the run recorded, for the repository being
pushed to: a card rendered at training time names the repository chosen then. Everything goes in
one ``create_commit``, so the repository never shows a half-uploaded model, and a pull request
(``create_pr``) holds the whole run for review.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

from ..errors import UserError, require
from .model_card import load_facts, render_mlm_card, render_model_card
from .run_layout import RunLayout

logger = logging.getLogger(__name__)

REQUIRED_MODEL_FILES = ("config.json", "modules.json", "modeling_versebert.py", "configuration_versebert.py")
CARD = "README.md"
MLM_FOLDER = "mlm"


def check_publishable(layout: RunLayout) -> None:
    """Fail before any upload if the run is incomplete, instead of publishing a model that cannot load."""
    if not layout.model.is_dir():
        raise UserError(f"{layout.model} does not exist: run `versebert train --output {layout.root}` first.")
    missing = [name for name in REQUIRED_MODEL_FILES if not (layout.model / name).exists()]
    if not list(layout.model.glob("*.safetensors")):
        missing.append("*.safetensors")
    if missing:
        raise UserError(f"{layout.model} is missing {', '.join(missing)}; it is not a finished VerseBERT model.")
    auto_map = json.loads((layout.model / "config.json").read_text()).get("auto_map", {})
    if "AutoModel" not in auto_map:
        raise UserError(f"{layout.model}/config.json has no AutoModel in auto_map; remote loading would fail.")


def check_repo_id(repo_id: str) -> None:
    from ..hub import looks_like_hub_id

    if not looks_like_hub_id(repo_id):
        raise UserError(f"--repo-id must look like ORG/NAME, got {repo_id!r}.")


@dataclasses.dataclass(frozen=True)
class PushPlan:
    """What one push uploads and where: ``files`` maps each path in the repository to a local file or to
    the rendered text of a card."""

    repo_id: str
    revision: str | None
    create_pr: bool
    commit_message: str
    files: dict[str, Path | str]

    @property
    def card(self) -> str:
        return self.files[CARD]

    @property
    def target(self) -> str:
        branch = self.revision or "main"
        where = f"a pull request against {branch}" if self.create_pr else f"branch {branch}"
        return f"https://huggingface.co/{self.repo_id} ({where})"

    def size(self, path_in_repo: str) -> int:
        source = self.files[path_in_repo]
        return source.stat().st_size if isinstance(source, Path) else len(source.encode("utf-8"))

    def describe(self) -> str:
        """The listing ``--dry-run`` prints: every file with its size and origin, then the cards."""
        total = sum(self.size(name) for name in self.files)
        lines = [f"would upload {len(self.files)} files ({total / 1e6:.1f} MB) to {self.target} "
                 f"in one commit: {self.commit_message!r}"]
        for name, source in sorted(self.files.items()):
            origin = str(source) if isinstance(source, Path) else "rendered for this repository"
            lines.append(f"  {name:<40} {self.size(name):>12,} B  {origin}")
        for name in (CARD, f"{MLM_FOLDER}/{CARD}"):
            if name in self.files:
                lines += ["", f"----- {name} -----", self.files[name]]
        return "\n".join(lines)

    def operations(self) -> list:
        from huggingface_hub import CommitOperationAdd

        return [
            CommitOperationAdd(
                path_in_repo=name,
                path_or_fileobj=str(source) if isinstance(source, Path) else source.encode("utf-8"),
            )
            for name, source in sorted(self.files.items())
        ]


def _folder_files(folder: Path, prefix: str = "") -> dict[str, Path]:
    """Every file of ``folder`` by its path in the repository, except its card and hidden files (caches)."""
    files = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and relative.as_posix() != CARD and not any(part.startswith(".") for part in relative.parts):
            files[prefix + relative.as_posix()] = path
    return files


def plan_push(
    run_dir: str | Path,
    repo_id: str,
    *,
    revision: str | None = None,
    create_pr: bool = False,
    commit_message: str | None = None,
) -> PushPlan:
    """What pushing ``run_dir`` to ``repo_id`` uploads, with both cards rendered for ``repo_id`` (no network)."""
    check_repo_id(repo_id)
    layout = RunLayout(run_dir)
    check_publishable(layout)
    facts = dataclasses.replace(load_facts(layout.root), repo_id=repo_id)
    files: dict[str, Path | str] = {**_folder_files(layout.model), CARD: render_model_card(facts)}
    if layout.mlm.is_dir():
        files |= _folder_files(layout.mlm, f"{MLM_FOLDER}/")
        files[f"{MLM_FOLDER}/{CARD}"] = render_mlm_card(facts)
    else:
        logger.warning("%s not found: publishing without the MLM checkpoint", layout.mlm)
    return PushPlan(repo_id, revision, create_pr, commit_message or f"Upload {facts.model_name}", files)


def push_run(
    run_dir: str | Path,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool | None = None,
    revision: str | None = None,
    create_pr: bool = False,
    commit_message: str | None = None,
) -> str:
    """Upload the plan of :func:`plan_push` in one commit; the commit's (or pull request's) URL."""
    plan = plan_push(run_dir, repo_id, revision=revision, create_pr=create_pr, commit_message=commit_message)
    huggingface_hub = require("huggingface_hub", "train")
    api = huggingface_hub.HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    if revision is not None:
        # A new branch starts from main; a pull request against it needs the branch to exist too.
        api.create_branch(repo_id, branch=revision, exist_ok=True, repo_type="model")
    logger.info("uploading %d files to %s", len(plan.files), plan.target)
    info = api.create_commit(
        repo_id,
        plan.operations(),
        commit_message=plan.commit_message,
        revision=revision,
        create_pr=create_pr,
        repo_type="model",
    )
    return info.pr_url or info.commit_url
