"""A saved checkpoint must load on a machine without our package, through remote code only.

Loading runs in a subprocess whose import system refuses both of our packages (``modeling_versebert``
and ``versebert``): a locally registered
class would otherwise shadow the remote code and hide a broken ``auto_map`` or a missing file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import torch

from modeling_versebert import VerseBertForMaskedLM, VerseBertModel

TEXTS = ["A new heart also will I give you.", "Jesus wept.", "The Lord is my shepherd; I shall not want."]

BLOCK_OUR_PACKAGE = textwrap.dedent(
    """
    import json, sys

    class RefuseOurPackage:
        \"\"\"Make this interpreter a machine where `versebert` is not installed.\"\"\"
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("modeling_versebert", "versebert"):
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
            return None

    sys.meta_path.insert(0, RefuseOurPackage())
    """
)
"""The preamble of every script that must run as on a machine without this package."""

LOAD_WITHOUT_PACKAGE = BLOCK_OUR_PACKAGE + textwrap.dedent(
    """
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM, AutoTokenizer

    checkpoint, texts, output = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    config = AutoConfig.from_pretrained(checkpoint, trust_remote_code=True)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint, trust_remote_code=True)
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    base = AutoModel.from_pretrained(checkpoint, trust_remote_code=True).eval()
    mlm = AutoModelForMaskedLM.from_pretrained(checkpoint, trust_remote_code=True).eval()
    sentence_model = SentenceTransformer(checkpoint, trust_remote_code=True, device="cpu")
    with torch.no_grad():
        hidden = base(**batch).last_hidden_state
        logits = mlm(**batch).logits
    embeddings = sentence_model.encode(texts, convert_to_numpy=True, normalize_embeddings=False)
    np.savez(output, hidden=hidden.numpy(), logits=logits.numpy(), embeddings=embeddings)
    loaded = [type(config), type(base), type(mlm), type(sentence_model[0].auto_model)]
    print(json.dumps({
        "classes": [f"{c.__module__}.{c.__name__}" for c in loaded],
        "our_package_imported": any(m.split(".")[0] == "modeling_versebert" for m in sys.modules),
        "tied": mlm.lm_head.decoder.weight.data_ptr() == mlm.versebert.embeddings.word_embeddings.weight.data_ptr(),
    }))
    """
)
"""Load a checkpoint (argv: directory, JSON texts, .npz output) through every Auto class and
SentenceTransformer; print a JSON report as the last line."""


def run_without_our_package(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``script`` (starting with :data:`BLOCK_OUR_PACKAGE`) offline, with no standard input and a
    fresh remote-code module cache; it must succeed without asking whether to trust remote code."""
    environment = {**os.environ, "HF_MODULES_CACHE": str(cwd / "modules"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=cwd,
        env=environment,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "run the custom code?" not in result.stdout + result.stderr, "a loader asked for trust_remote_code"
    return result


def test_checkpoint_loads_as_remote_code_with_identical_outputs(tiny_config, tiny_tokenizer_dir, tmp_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    tiny_config.vocab_size = tokenizer.vocab_size
    torch.manual_seed(0)
    checkpoint = tmp_path / "checkpoint"
    VerseBertForMaskedLM(tiny_config).save_pretrained(checkpoint)
    tokenizer.save_pretrained(checkpoint)

    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = VerseBertModel.from_pretrained(checkpoint).eval()(**batch).last_hidden_state
        logits = VerseBertForMaskedLM.from_pretrained(checkpoint).eval()(**batch).logits
    mask = batch["attention_mask"].unsqueeze(-1).float()
    mean_pooled = (hidden * mask).sum(1) / mask.sum(1)

    output = tmp_path / "outputs.npz"
    arguments = (str(checkpoint), json.dumps(TEXTS), str(output))
    result = run_without_our_package(LOAD_WITHOUT_PACKAGE, *arguments, cwd=tmp_path)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert not report["our_package_imported"]
    assert all(name.startswith("transformers_modules.") for name in report["classes"]), report["classes"]
    assert report["tied"]

    remote = np.load(output)
    np.testing.assert_allclose(remote["hidden"], hidden.numpy(), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(remote["logits"], logits.numpy(), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(remote["embeddings"], mean_pooled.numpy(), atol=1e-5, rtol=1e-5)


def test_saved_checkpoint_carries_code_and_full_auto_map(tiny_config, tmp_path):
    VerseBertForMaskedLM(tiny_config).save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model_type"] == "versebert"
    assert {"AutoConfig", "AutoModel", "AutoModelForMaskedLM", "AutoModelForSequenceClassification"} <= set(
        saved["auto_map"]
    )
    assert (tmp_path / "modeling_versebert.py").exists() and (tmp_path / "configuration_versebert.py").exists()
    assert not list(tmp_path.glob("*.bin")), "checkpoints are safetensors only"
