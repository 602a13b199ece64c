"""Attack batch benchmark: do attackers slow the grading of honest students?

Side by side in one run, with ``autograder grade`` on throwaway copies of the
course (Chapter 1, the attack batch's short limits: 5 s per cell, 10 s per
check, 45 s per submission):

* honest: the attack batch's honest students alone;
* attackers: its attackers alone (every attack of the corpus, the tamperers
  and the student with a slow function), whose time is the time limits they
  run into;
* together: the whole batch, as ``tests/conftest.py`` grades it.

Prints the three wall times and ``together / (honest + attackers)``: at most
1.5 means attackers cost the batch no more than their own limits. Only the
grading command is timed, never the setup. Run it on an otherwise idle
machine with ``.venv/bin/python bench/attack_batch.py`` (``--workers N``).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from autograder.corpus import make_submission  # noqa: E402
from autograder.corpus.attack_batch import BATCH  # noqa: E402
from autograder.corpus.attacks import HONEST  # noqa: E402
from autograder.course import CHAPTERS, Course  # noqa: E402

CHAPTER = CHAPTERS[0]
LIMITS = "\nc.Execute.timeout = 5\nc.TrustedChecks.wall_seconds = 10\n"
GENERATED = {".venv", "_build", ".git", "__pycache__", ".pytest_cache", "test-artifacts", "bench"}


def ignore(folder, names):
    skip = [n for n in names if n in GENERATED]
    if Path(folder).name == "assignments":
        skip += [n for n in names if n != "nbgrader_config.py"]
    return skip


def autograder(course, *args):
    cmd = [str(Path(sys.executable).with_name("autograder")), *args, "--course", str(course.root)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)


def grade(folder, submissions, workers):
    """Seconds ``autograder grade`` takes for ``submissions`` in a fresh course copy."""
    course = Course(Path(folder) / "nnfs")
    shutil.copytree(REPO, course.root, ignore=ignore)
    with open(course.nbgrader_root / "nbgrader_config.py", "a") as fh:
        fh.write(LIMITS)
    autograder(course, "release", CHAPTER.assignment)
    for sub in submissions:
        make_submission(course, CHAPTER, sub, course.folder("submitted", sub.student, CHAPTER.assignment))
    started = time.monotonic()
    autograder(course, "grade", CHAPTER.assignment, "--timeout", "45", "--workers", str(workers))
    return time.monotonic() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    honest = {s.student for s in HONEST}
    runs = {
        "honest": [s for s in BATCH if s.student in honest],
        "attackers": [s for s in BATCH if s.student not in honest],
        "together": BATCH,
    }
    seconds, load = {}, os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="nnfs-bench-") as tmp:
        for name, subs in runs.items():
            seconds[name] = grade(Path(tmp) / name, subs, args.workers)
            print(f"{name:>10}: {len(subs):3d} submissions in {seconds[name]:6.1f} s", flush=True)
    ratio = seconds["together"] / (seconds["honest"] + seconds["attackers"])
    print(f"together / (honest + attackers) = {ratio:.2f} (goal: at most 1.5)")
    print(f"machine load (1, 5, 15 min): before {load}, after {os.getloadavg()} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
