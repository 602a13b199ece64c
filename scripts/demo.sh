#!/usr/bin/env bash
# The main job: install, build the book, release the course, grade the bundled
# sample class, print the grade table and where everything is.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=2 TF_ENABLE_ONEDNN_OPTS=0
.venv/bin/autograder book
.venv/bin/autograder release
.venv/bin/autograder sample-class
.venv/bin/autograder grade
echo "HTML book:  $PWD/_build/html/index.html"
echo "Release:    $PWD/assignments/release/<assignment>/ (hand this folder to students)"
