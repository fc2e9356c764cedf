"""Publish a finished run to the Hugging Face Hub.

The repository root is the SentenceTransformer (encoder weights, tokenizer, our remote code, pooling
config and the rendered model card), so ``SentenceTransformer(repo, trust_remote_code=True)`` and
``AutoModel.from_pretrained(repo, trust_remote_code=True)`` both work. The MLM checkpoint (with its
tied head) goes to the ``mlm`` subfolder. The SentenceTransformer is pushed last, so the README on the
Hub is our card and not an auto-generated one.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..errors import UserError, require
from .run_layout import RunLayout

logger = logging.getLogger(__name__)

REQUIRED_MODEL_FILES = ("config.json", "modules.json", "modeling_versebert.py", "configuration_versebert.py")


def check_publishable(layout: RunLayout) -> None:
    """Fail before any upload if the run is incomplete, instead of leaving a half-pushed repository."""
    if not layout.model.is_dir():
        raise UserError(f"{layout.model} does not exist: run `versebert train --output {layout.root}` first.")
    missing = [name for name in REQUIRED_MODEL_FILES if not (layout.model / name).exists()]
    if not list(layout.model.glob("*.safetensors")):
        missing.append("*.safetensors")
    if missing:
        raise UserError(f"{layout.model} is missing {', '.join(missing)}; it is not a finished VerseBERT model.")
    if not layout.model_card.exists():
        raise UserError(f"{layout.model_card} is missing: the model card is rendered by the evaluation stage.")
    if "trust_remote_code=True" not in layout.model_card.read_text(encoding="utf-8"):
        raise UserError(f"{layout.model_card} does not show trust_remote_code=True; re-render it.")
    auto_map = json.loads((layout.model / "config.json").read_text()).get("auto_map", {})
    if "AutoModel" not in auto_map:
        raise UserError(f"{layout.model}/config.json has no AutoModel in auto_map; remote loading would fail.")


def push_run(
    run_dir: str | Path,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool | None = None,
    commit_message: str = "Upload VerseBERT",
) -> str:
    """Push the MLM checkpoint (``mlm/``) and then the SentenceTransformer (repository root)."""
    huggingface_hub = require("huggingface_hub", "train")
    sentence_transformers = require("sentence_transformers", "retrieval")
    if "/" not in repo_id or repo_id.count("/") != 1:
        raise UserError(f"--repo-id must look like ORG/NAME, got {repo_id!r}.")
    layout = RunLayout(run_dir)
    check_publishable(layout)

    api = huggingface_hub.HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    if layout.mlm.is_dir():
        logger.info("uploading the MLM checkpoint %s to %s/mlm", layout.mlm, repo_id)
        api.upload_folder(
            repo_id=repo_id,
            folder_path=str(layout.mlm),
            path_in_repo="mlm",
            commit_message=f"{commit_message}: MLM checkpoint",
        )
    else:
        logger.warning("%s not found: publishing without the MLM checkpoint", layout.mlm)

    model = sentence_transformers.SentenceTransformer(str(layout.model), trust_remote_code=True, device="cpu")
    return model.push_to_hub(
        repo_id,
        token=token,
        private=private,
        local_model_path=str(layout.model),
        exist_ok=True,
        replace_model_card=True,
        commit_message=commit_message,
    )
