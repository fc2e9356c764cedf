"""SIGKILL a real MLM training at a random step, resume it, and get the uninterrupted run's weights.

The in-process resume test (tests/test_training_mlm.py) interrupts at a chosen micro-batch with an
exception, which runs every ``finally``; a killed process runs none, may die inside a checkpoint
save and leaves whatever it had half-written. Only a separate process killed for real shows that
the checkpoints, the state file written last and the fallback to an intact checkpoint hold up.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from versebert.training.mlm import list_checkpoints

from .test_training_mlm import corpus, mlm_driver, state_of, tokenizer  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow

DRIVER = mlm_driver(batch_size=8, epochs=16, learning_rate=3e-3, warmup=0.1, mixed_precision="no",
                    length_group_batches=4, log_every=1, eval_every=40, save_every=7, keep_last=2,
                    eval_batch_size=8, plot_curves=False)
TOTAL_STEPS = 160  # 10 batches per epoch, 16 epochs


def logged_step(run) -> int:
    metrics = run / "logs" / "metrics.jsonl"
    steps = [0]
    if metrics.is_file():
        for line in metrics.read_text().splitlines():
            try:
                steps.append(json.loads(line).get("step", 0))
            except ValueError:  # being appended right now
                pass
    return max(steps)


def test_a_run_killed_at_a_random_step_resumes_to_the_uninterrupted_weights(tmp_path, tokenizer, corpus):  # noqa: F811
    tokenizer.save_pretrained(tmp_path / "data" / "tokenizer")
    corpus.save_to_disk(str(tmp_path / "data" / "corpus"))
    (tmp_path / "driver.py").write_text(DRIVER)
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    seed = random.randrange(2**32)
    kill_at = random.Random(seed).randrange(8, TOTAL_STEPS - 10)  # after the first checkpoint (step 7)

    def command(run, mode):
        return [sys.executable, str(tmp_path / "driver.py"), str(tmp_path / "data"), str(run), mode]

    def finish(run, mode):
        result = subprocess.run(command(run, mode), env=environment, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, f"seed {seed}: {result.stderr[-3000:]}"
        return result

    finish(tmp_path / "reference", "fresh")
    reference = state_of(tmp_path / "reference" / "model")

    run = tmp_path / "killed"
    process = subprocess.Popen(command(run, "fresh"), env=environment, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        while process.poll() is None and not (logged_step(run) >= kill_at and list_checkpoints(run / "checkpoints")):
            time.sleep(0.005)
        assert process.poll() is None, f"seed {seed}: the run ended before step {kill_at}"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    assert not (run / "model").exists()

    resumed = finish(run, "resume")
    assert "resumed from" in resumed.stdout, f"seed {seed}: {resumed.stdout[-2000:]}"
    weights = state_of(run / "model")
    assert weights.keys() == reference.keys()
    assert all(torch.equal(weights[name], reference[name]) for name in reference), f"seed {seed}, killed at {kill_at}"
