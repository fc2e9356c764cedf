"""The thin ``train/pretrain_mlm.py`` script: clear errors, and (slow) a real-corpus run end to end."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "train" / "pretrain_mlm.py"


def test_a_bad_preset_is_reported_in_one_line_without_a_traceback(tmp_path, capsys):
    main = runpy.run_path(str(SCRIPT))["main"]
    assert main(["--config", "tiny", "--output-dir", str(tmp_path), "--set", "mlm.learning_rate=-1"]) == 2
    error = capsys.readouterr().err
    assert "mlm.learning_rate must be a positive number" in error and "Traceback" not in error
    assert main(["--config", "enormous", "--output-dir", str(tmp_path)]) == 2
    assert "unknown preset 'enormous'" in capsys.readouterr().err


@pytest.mark.slow
def test_the_script_trains_the_tiny_preset_on_the_real_corpus(tmp_path):
    output = tmp_path / "run"
    command = [sys.executable, str(SCRIPT), "--config", "tiny", "--output-dir", str(output),
               "--cache-dir", str(tmp_path / "cache"), "--set", "data.translations=[KJV]",
               "--set", "mlm.max_steps=6", "--set", "mlm.batch_size=16", "--set", "mlm.eval_every=3",
               "--set", "mlm.eval_max_batches=2", "--set", "mlm.log_every=3"]  # fmt: skip
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads((output / "model" / "config.json").read_text())
    assert config["vocab_size"] <= 16000 and config["mask_token_id"] == 4
    assert (output / "tokenizer" / "tokenizer.json").is_file()
    records = [json.loads(line) for line in (output / "logs" / "metrics.jsonl").read_text().splitlines()]
    losses = [record["eval/loss"] for record in records if "eval/loss" in record]
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert (output / "curves.png").is_file()
