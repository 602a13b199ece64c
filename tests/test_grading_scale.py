"""Grading at scale: resume after SIGKILL, a Dask cluster, a PostgreSQL gradebook.

Each grades a few Chapter 1 submissions of the sample class in a course of its
own (conftest's ``small_course``) and compares with the end-to-end run of
``test_grading`` (the local pool, uninterrupted) on the same submissions.
"""

import csv
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from autograder.course import CHAPTERS
from autograder.grading import scratch, table
from conftest import AUTOGRADER, REPO, autograder, small_course
from conftest import SMALL_CLASS as STUDENTS

CHAPTER = CHAPTERS[0]


def csv_rows(course, students=STUDENTS):
    with open(course.grades_csv, newline="") as fh:
        return {
            r["student_id"]: r
            for r in csv.DictReader(fh)
            if r["assignment"] == CHAPTER.assignment and r["student_id"] in students
        }


def cell_scores(course):
    return {
        (r.student, c.grade_id): (c.score, c.needs_manual_grade)
        for r in table(course, [CHAPTER])
        if r.student in STUDENTS
        for c in r.cells
    }


def assert_same_grades(course, graded):
    assert csv_rows(course) == csv_rows(graded)
    assert cell_scores(course) == cell_scores(graded)


def recorded(course):
    return list((course.nbgrader_root / ".grading" / CHAPTER.assignment).glob("*.json"))


def test_a_grader_killed_mid_batch_resumes_to_the_same_grades(graded, tmp_path, monkeypatch, request):
    course = small_course(graded, tmp_path)
    # the graders' temporary directory: short, as the kernels' socket paths must be
    temporary = Path(tempfile.mkdtemp(prefix="nnfs-test-"))
    request.addfinalizer(lambda: shutil.rmtree(temporary, ignore_errors=True))
    monkeypatch.setenv("TMPDIR", str(temporary))
    grader = subprocess.Popen(
        [str(AUTOGRADER), "grade", CHAPTER.assignment, "--workers", "2", "--course", str(course.root)],
        cwd=course.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while len(recorded(course)) < 2 and grader.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert grader.poll() is None, "the batch ended before it could be killed"
    grader.send_signal(signal.SIGKILL)  # the grader alone: its workers must follow it
    grader.wait()
    done = len(recorded(course))
    assert 2 <= done < len(STUDENTS)
    # killed, it could not remove its temporary files: its workers' and jobs' folders
    left = {p.name[: p.name.rindex("-") + 1] for p in temporary.iterdir()}
    assert left == {scratch.WORKER, scratch.JOB}, left

    out = autograder(course, "grade", CHAPTER.assignment).stdout
    assert list(temporary.iterdir()) == []  # the next batch removed them, and its own
    assert (
        f"grading {len(STUDENTS) - done} of {len(STUDENTS)} submissions" in out
        and f"({done} already graded)" in out
    ), out
    assert_same_grades(course, graded)
    # the crash came before any feedback was written: the rerun writes everyone's
    assert f"generating feedback for {len(STUDENTS)} of {len(STUDENTS)} students" in out
    for student in STUDENTS:
        page = course.folder("feedback", student, CHAPTER.assignment, f"{CHAPTER.module}.html")
        assert page.is_file(), page
    # nothing to grade again; only a page older than its grade is written again
    page = course.folder("feedback", "solution", CHAPTER.assignment, f"{CHAPTER.module}.html")
    page.write_text("an old page")
    os.utime(page, (0, 0))
    out = autograder(course, "grade", CHAPTER.assignment).stdout
    assert f"grading 0 of {len(STUDENTS)} submissions" in out
    assert f"generating feedback for 1 of {len(STUDENTS)} students" in out
    assert "Task 1.1 (sigmoid) passed" in page.read_text()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_dask_cluster_grades_like_the_local_pool(graded, dask_graded):
    """On a cluster started as the instructor guide says (conftest's ``dask_cluster``),
    with the guide's ``autograder grade --scheduler <address>``."""
    assert (
        f"{CHAPTER.assignment}: grading {len(STUDENTS)} of {len(STUDENTS)} submissions "
        f"on the Dask cluster at {dask_graded.address}"
    ) in dask_graded.out, dask_graded.out
    assert_same_grades(dask_graded.course, graded)


def postgres_bin(name):
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not found:
        pytest.fail("PostgreSQL is not installed: .ci/run installs Debian's postgresql package")
    return str(found[-1])


@pytest.fixture
def postgres_url():
    """A real PostgreSQL server on loopback, in a throwaway data folder, trusting local users."""
    folder = Path(tempfile.mkdtemp(prefix="nnfs-pg-"))  # readable by the postgres user
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:  # PostgreSQL refuses to run as root
        shutil.chown(folder, "postgres")
    data, port = folder / "data", free_port()

    def run(*cmd):
        return subprocess.run([*as_postgres, *cmd], check=True, capture_output=True)

    run(postgres_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust")
    run(
        postgres_bin("pg_ctl"),
        "-D",
        str(data),
        "-l",
        str(folder / "server.log"),
        "-w",
        "-o",
        f"-h 127.0.0.1 -p {port} -k {folder}",
        "start",
    )
    try:
        run(postgres_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "gradebook")
        yield f"postgresql://postgres@127.0.0.1:{port}/gradebook"
    finally:
        run(postgres_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def test_a_postgresql_gradebook_gets_the_same_grades_as_sqlite(graded, tmp_path, postgres_url, monkeypatch):
    monkeypatch.setenv("NNFS_GRADEBOOK", postgres_url)  # release, grading and table all use it
    course = small_course(graded, tmp_path)
    autograder(course, "grade", CHAPTER.assignment)
    assert not course.gradebook.exists()  # no SQLite file was written instead
    assert_same_grades(course, graded)


def test_the_default_pool_has_one_worker_per_core_the_grader_may_use():
    """A grader pinned to one core (a container given one of the machine's cores) grades
    one submission at a time by default, not one per core of the machine."""
    pinned = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
            "from autograder.grading import default_workers; print(default_workers())",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert pinned.stdout.strip() == "1"


def _cpu_group(quota_us, period_us=100_000):
    """A real cgroup v1 cpu group with this quota, or a skip where it cannot be made."""
    group = Path("/sys/fs/cgroup/cpu") / f"nnfs-test-quota-{os.getpid()}-{quota_us}"
    try:
        group.mkdir()
        (group / "cpu.cfs_period_us").write_text(str(period_us))
        (group / "cpu.cfs_quota_us").write_text(str(quota_us))
    except OSError as exc:
        if group.exists():
            group.rmdir()
        pytest.skip(f"no cgroup v1 cpu group can be made here: {exc}")
    return group


@pytest.mark.parametrize(("quota_us", "workers"), [(150_000, 1), (250_000, 2)])
def test_the_default_pool_fits_the_cpu_quota_of_the_graders_control_group(quota_us, workers):
    """A grader in a container limited to 1.5 CPUs (``docker run --cpus 1.5``, a Kubernetes
    CPU limit) on this 2-core machine starts one worker, not one per core it may run on:
    two would be throttled, and their students' kernels would run into the time limits."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs a grader that may run on at least 2 cores")
    group = _cpu_group(quota_us)
    try:
        joined = subprocess.run(
            [
                sys.executable,
                "-c",
                f"import os; open({str(group / 'cgroup.procs')!r}, 'w').write(str(os.getpid())); "
                "from autograder.grading import default_workers; print(default_workers())",
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        group.rmdir()  # its one process has ended
    assert joined.stdout.strip() == str(workers)


def _tree(root, files):
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


@pytest.mark.parametrize(
    ("proc_cgroup", "files", "quota"),
    [
        # cgroup v2 in a container: its own group is the mount, its path "/"
        ("0::/\n", {"cpu.max": "250000 100000\n"}, 2.5),
        ("0::/\n", {"cpu.max": "max 100000\n"}, None),
        # v2 on a host: the tightest quota on the way up the process's path
        (
            "0::/kubepods/pod7/c1\n",
            {"kubepods/cpu.max": "800000 100000\n", "kubepods/pod7/cpu.max": "150000 100000\n"},
            1.5,
        ),
        # v1 with cpu and cpuacct mounted together; an older Docker shows the host's path,
        # which does not exist under the container's mount: the mount itself is read
        (
            "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/\n",
            {"cpu,cpuacct/cpu.cfs_quota_us": "300000\n", "cpu,cpuacct/cpu.cfs_period_us": "100000\n"},
            3.0,
        ),
        (
            "3:cpu,cpuacct:/\n",
            {"cpu,cpuacct/cpu.cfs_quota_us": "-1\n", "cpu,cpuacct/cpu.cfs_period_us": "100000\n"},
            None,
        ),
        ("1:name=systemd:/\n", {}, None),  # no cpu controller at all
    ],
)
def test_the_cpu_quota_is_read_from_cgroup_v1_and_v2(tmp_path, proc_cgroup, files, quota):
    from autograder.sandbox.policy import cpu_quota, usable_cores

    _tree(tmp_path / "fs", files)
    (tmp_path / "cgroup").write_text(proc_cgroup)
    assert cpu_quota(str(tmp_path / "cgroup"), str(tmp_path / "fs")) == quota
    cores = len(os.sched_getaffinity(0))
    expected = cores if quota is None else max(1, min(cores, int(quota)))
    assert usable_cores(str(tmp_path / "cgroup"), str(tmp_path / "fs")) == expected
