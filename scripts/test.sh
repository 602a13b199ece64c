#!/usr/bin/env bash
# The whole test suite (installs .venv first if needed). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=2 TF_ENABLE_ONEDNN_OPTS=0
# The project's own habits first (seconds): lint, format, the import layers.
.venv/bin/ruff check --quiet .
.venv/bin/ruff format --check --quiet .
.venv/bin/lint-imports --no-cache >/dev/null
# Every core: tests sharing the session's builds stay on one worker (conftest.py).
exec .venv/bin/python -m pytest -n auto "$@"
