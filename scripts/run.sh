#!/usr/bin/env bash
# The main job: set up, train a preset end to end (data check → tokenizer → MLM → stage A → stage B →
# evaluation → model card), then show a few searches and the evaluation table.
# Usage: bash scripts/run.sh [OUTPUT_DIR]   (PRESET=mini bash scripts/run.sh runs/mini for a bigger model)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
preset="${PRESET:-tiny}"
output="${1:-runs/$preset}"
.venv/bin/versebert train --preset "$preset" --output "$output"
for query in "give you a new heart" "do not worry about tomorrow" "love your enemies" "1 Cor 13:4-7"; do
    .venv/bin/versebert search "$query" --model "$output/model" -k 5
done
cat "$output/evaluation/retrieval.md"
