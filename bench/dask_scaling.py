"""Dask scaling benchmark: one batch graded on a local Dask cluster of 1, then 2, workers.

The instructor guide's commands, on loopback: ``dask scheduler`` and ``dask worker
ADDRESS --nworkers W --nthreads 1`` (W single-threaded worker processes), then
``autograder grade ASSIGNMENT --scheduler ADDRESS --regrade``, timed
(time.monotonic) from start to end; the cluster's start is not timed. The same
submissions (default: 24 of Chapter 1, cycling through its sample class) in one
released course copy, graded again with ``--regrade`` for each cluster size.

Prints the machine's load, each size's time and rate, the speed-up of 2 workers
over 1 and the scaling efficiency (speed-up / 2), and checks that both runs gave
every student the same grades (exit code 1 if not). Timings are only meaningful
on an otherwise idle machine. Run it with ``.venv/bin/python bench/dask_scaling.py``
(``--chapter MODULE``, ``--n N``, ``--keep``).
"""

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grading as bench  # bench/grading.py: the course copy, release and class it sets up

from autograder.corpus import make_submission
from autograder.course import CHAPTERS, Course
from autograder.grading import table

DASK = Path(sys.executable).with_name("dask")


@contextlib.contextmanager
def local_cluster(size, folder):
    """A scheduler and ``size`` single-threaded worker processes on loopback; its address."""
    from distributed import Client

    log = folder / f"dask-{size}.log"
    with log.open("w") as out:
        scheduler = subprocess.Popen(
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        procs = [scheduler]
        try:
            deadline, address = time.monotonic() + 60, None
            while address is None and time.monotonic() < deadline and scheduler.poll() is None:
                found = re.search(r"Scheduler at:\s*(\S+)", log.read_text())
                address = found and found.group(1)
                time.sleep(0.2)
            if address is None:
                sys.exit(f"dask scheduler did not start:\n{log.read_text()}")
            worker = [DASK, "worker", address, "--nworkers", str(size), "--nthreads", "1"]
            procs.append(subprocess.Popen(worker, stdout=out, stderr=subprocess.STDOUT))
            with Client(address, timeout=60) as client:
                client.wait_for_workers(size, timeout=120)
            yield address
        finally:
            for proc in reversed(procs):
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()


def grades(course, chapter):
    return {r.student: [(c.grade_id, c.score) for c in r.cells] for r in table(course, [chapter])}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chapter", default="feedforward", choices=[c.module for c in CHAPTERS])
    parser.add_argument("--n", type=int, default=24, help="number of submissions")
    parser.add_argument("--keep", action="store_true", help="keep the course copy and logs")
    args = parser.parse_args()
    chapter = next(c for c in CHAPTERS if c.module == args.chapter)
    work = Path(tempfile.mkdtemp(prefix="bench-dask-"))
    try:
        ok = measure(chapter, args.n, work)
    finally:
        if args.keep:
            bench.say(f"Course copy and logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if ok else 1)


def measure(chapter, n, work):
    course = Course(work / "nnfs")
    shutil.copytree(bench.REPO, course.root, ignore=bench._ignore)
    bench.release(course, chapter, work / "release.log")
    for student, sub in bench.class_of(chapter, n).items():
        make_submission(course, chapter, sub, course.folder("submitted", student, chapter.assignment))
    bench.say(f"{chapter.assignment}: {n} submissions from the sample class, in {work}")
    load = os.getloadavg()
    seconds, seen = {}, {}
    for size in (1, 2):
        with local_cluster(size, work) as address:
            cmd = [str(bench.AUTOGRADER), "grade", chapter.assignment, "--scheduler", address, "--regrade"]
            seconds[size], rc = bench.run(
                [*cmd, "--course", str(course.root)],
                course.root,
                dict(os.environ),
                work / f"grade-{size}.log",
            )
        if rc:
            bench.say(
                f"autograder grade on {size} worker(s) exited with {rc}:\n{bench.tail(work / f'grade-{size}.log')}"
            )
            return False
        seen[size] = grades(course, chapter)
    bench.say(
        f"\nMachine load (1, 5, 15 min): before {load}, after {os.getloadavg()} on {os.cpu_count()} cores"
    )
    for size in (1, 2):
        rate = bench.per_minute(n, seconds[size])
        bench.say(f"  Dask, {size} worker process(es): {seconds[size]:7.1f} s {rate:7.1f} submissions/min")
    speedup = seconds[1] / seconds[2]
    bench.say(f"  speed-up 2 workers / 1: {speedup:.2f}x; scaling efficiency {speedup / 2:.0%}")
    same = seen[1] == seen[2]
    bench.say(f"  grades of both runs identical: {same}")
    return same


if __name__ == "__main__":
    main()
