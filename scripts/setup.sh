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
# (the last line: bump it when the way .venv is installed changes)
stamp=$( (cat requirements.lock requirements-exclude.txt pyproject.toml; echo compiled) | sha256sum | cut -c1-16)
if [ -x .venv/bin/python ] && [ "$(cat .venv/.nnfs-installed 2>/dev/null)" = "$stamp" ]; then
    exit 0
fi
echo "Installing the pinned environment into .venv (a few minutes the first time)"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# Packages are installed with uv (pinned in requirements.lock), which keeps every wheel
# in its cache (~/.cache/uv): the student-edition tests make fresh environments from
# it offline in seconds, as Colab and Binder make theirs. A throwaway environment
# made first puts all of them there, however much of .venv was installed already.
uv_version=$(sed -n 's/^uv==//p' requirements.lock)
.venv/bin/python -m pip install --quiet --disable-pip-version-check "uv==$uv_version"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
.venv/bin/uv venv --quiet --seed --python "$PYTHON" "$scratch/venv"
.venv/bin/uv pip install --quiet --python "$scratch/venv/bin/python" -r requirements.lock
.venv/bin/uv pip install --quiet --python .venv/bin/python -r requirements.lock --excludes requirements-exclude.txt
# ... and out of a .venv made before they were excluded
excluded=$(grep -v '^#' requirements-exclude.txt | xargs)
if [ -n "$excluded" ] && .venv/bin/python -m pip show --quiet $excluded >/dev/null 2>&1; then
    .venv/bin/uv pip uninstall --quiet --python .venv/bin/python $excluded
fi
.venv/bin/uv pip install --quiet --python .venv/bin/python --no-deps -e .
# Compiled to bytecode once, here: where PYTHONDONTWRITEBYTECODE is set (this CI machine's
# environment) every process would compile nbgrader, SQLAlchemy, ... from source again
# (nbgrader's import: 2.2 s of CPU, 1.1 s with bytecode), and the suite starts hundreds.
# A few third-party files that are not Python 3 (templates, test data) do not compile.
.venv/bin/python -m compileall -q -j 0 .venv/lib/python3.11/site-packages >/dev/null || true
# The book and nbval run notebooks on the "python3" kernel: make it this venv's.
.venv/bin/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3" >/dev/null
echo "$stamp" > .venv/.nnfs-installed
