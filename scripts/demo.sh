#!/usr/bin/env bash
# The main job: install, build the book, release the course (and write its student
# edition), grade the bundled sample class, print the grade table and where everything is.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=2 TF_ENABLE_ONEDNN_OPTS=0
.venv/bin/autograder book
.venv/bin/autograder release
.venv/bin/autograder edition _build/student-edition
.venv/bin/autograder sample-class
.venv/bin/autograder grade
echo "HTML book:  $PWD/_build/html/index.html"
echo "Release:    $PWD/assignments/release/<assignment>/ (hand this folder to students)"
echo "Student edition: $PWD/_build/student-edition/ (publish it as its own repository)"
