#!/usr/bin/env bash
# The main job: set up, train a preset end to end (data check → tokenizer → MLM → the preset's stages of
# distillation, stage A and stage B → evaluation → model card), then show a few searches and the evaluation table.
# Usage: bash scripts/run.sh [OUTPUT_DIR]   (PRESET=mini bash scripts/run.sh runs/mini for a bigger model)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
# Idle OpenMP threads sleep instead of spinning: on a shared CPU a spinning thread takes the core its
# partner needs (the small kernels of an MLM step ran ~6x slower that way; see eval/bench_mlm_throughput.py).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
preset="${PRESET:-tiny}"
output="${1:-runs/$preset}"
# The run ends with the model's search index over WEB in $output/index, used by the searches below.
.venv/bin/versebert train --preset "$preset" --output "$output"
# One process for the four queries: loading the model and the index is most of a search's time.
.venv/bin/versebert search "give you a new heart" "do not worry about tomorrow" "love your enemies" "1 Cor 13:4-7" \
    --index "$output/index" -k 5
cat "$output/evaluation/retrieval.md"
