#!/usr/bin/env bash
# Create .venv and install VerseBERT with every extra. torch is pinned here (a CPU wheel on this
# machine's disk); pyproject.toml itself only asks for torch>=2.4.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet torch==2.13.0
.venv/bin/python -m pip install --quiet -e ".[all]"
