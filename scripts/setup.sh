#!/usr/bin/env bash
# Create .venv with the pinned versions of requirements.lock (once; again when
# the lock or pyproject.toml changes). Needs only Python 3.11.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    echo "error: Python 3.11 is required ($PYTHON is $("$PYTHON" --version 2>&1))" >&2
    exit 1
fi
stamp=$(cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)
if [ -x .venv/bin/python ] && [ "$(cat .venv/.nnfs-installed 2>/dev/null)" = "$stamp" ]; then
    exit 0
fi
echo "Installing the pinned environment into .venv (a few minutes the first time)"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
# The book and nbval run notebooks on the "python3" kernel: make it this venv's.
.venv/bin/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3" >/dev/null
echo "$stamp" > .venv/.nnfs-installed
