"""Fixtures of tests/test_lms.py, session-wide so that the instructor guide's test sees
their commands run: nbgrader's exchange with two student accounts, graded by the course's
grader; LMS downloads built as Canvas and Moodle make them (from the sample class, with
hostile entries); the guide's LMS commands on them.

The LMS formats are facts found in the LMSs' sources and documentation, written down
here with where they come from.
"""

import csv
import io
import json
import os
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from autograder import lms
from autograder.corpus import corpus, make_submission
from autograder.course import CHAPTERS, Course
from autograder.grading import table
from conftest import RAN, autograder, chapter_one_course

EXCHANGE_STUDENTS = {"ada": "solution", "grace": "bug-bias-axis"}  # account -> corpus student


def nbgrader_cmd(cwd, *args, env=None, record=True):
    """Run the real ``nbgrader`` in ``cwd`` (its configuration is read from there and from
    the HOME of ``env``); instructor commands are recorded in ``RAN`` as ``("nbgrader", ...)``."""
    args = [str(a) for a in args]
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("nbgrader")), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    if record:
        RAN.append((("nbgrader", *args), proc.returncode))
    if proc.returncode != 0:
        raise AssertionError(f"nbgrader {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def student_account(folder, name, exchange):
    """A simulated JupyterHub account: its own HOME (with the course's nbgrader settings,
    as a hub's image provides them), USER and LOGNAME, and working folder."""
    home = Path(folder) / f"home-{name}"
    (home / ".jupyter").mkdir(parents=True)
    (home / ".jupyter" / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.course_id = 'nnfs'\nc.Exchange.root = {str(exchange)!r}\n"
    )
    (home / "work").mkdir()
    env = dict(
        os.environ,
        HOME=str(home),
        USER=name,
        LOGNAME=name,
        JUPYTER_CONFIG_DIR=str(home / ".jupyter"),
        JUPYTER_DATA_DIR=str(home / ".local" / "share" / "jupyter"),
    )
    env.pop("JUPYTER_PATH", None)
    return SimpleNamespace(name=name, home=home, work=home / "work", env=env)


@pytest.fixture(scope="session")
def exchange_round_trip(tmp_path_factory):
    """Chapter 1 through nbgrader's exchange with two student accounts, graded by the
    course's grader. A namespace: ``course``, ``exchange``, ``accounts`` (by name),
    ``fetched`` (the files each account fetched), ``collected`` (relative path -> bytes
    of what nbgrader's collect placed, by account), ``out`` (grade's output), ``seconds``
    (the grading's wall time)."""
    from autograder.corpus import corpus, make_submission

    folder = tmp_path_factory.mktemp("exchange")
    exchange = folder / "exchange"
    exchange.mkdir()
    os.chmod(exchange, 0o777)  # as nbgrader's documentation sets it up
    course = chapter_one_course(folder, [], config=f"\nc.Exchange.root = {str(exchange)!r}\n")
    chapter = CHAPTERS[0]
    root = course.nbgrader_root
    nbgrader_cmd(root, "release_assignment", chapter.assignment)
    subs = {s.student: s for s in corpus(chapter.module).SAMPLE_CLASS}
    accounts, fetched = {}, {}
    for name, student in EXCHANGE_STUDENTS.items():
        acct = accounts[name] = student_account(folder, name, exchange)
        nbgrader_cmd(acct.work, "fetch_assignment", chapter.assignment, env=acct.env, record=False)
        mine = acct.work / chapter.assignment
        fetched[name] = sorted(str(p.relative_to(mine)) for p in mine.rglob("*") if p.is_file())
        make_submission(course, chapter, subs[student], mine)  # the student's work, in place
        # nbgrader 0.9.6 names a submission after the OS account (pwd, not USER): these
        # simulated accounts share one, so each says who it is, as nbgrader allows
        nbgrader_cmd(acct.work, "submit", chapter.assignment, f"--student={name}", env=acct.env, record=False)
    nbgrader_cmd(root, "collect", chapter.assignment)
    # what nbgrader's collect placed, as it placed it (lms_class collects into this course again)
    collected = {
        name: {str(p.relative_to(got)): p.read_bytes() for p in got.rglob("*") if p.is_file()}
        for name in accounts
        for got in [course.folder("submitted", name, chapter.assignment)]
    }
    started = time.monotonic()
    out = autograder(course, "grade").stdout
    seconds = time.monotonic() - started
    nbgrader_cmd(root, "release_feedback", chapter.assignment)
    for acct in accounts.values():
        nbgrader_cmd(
            acct.work,
            "fetch_feedback",
            chapter.assignment,
            f"--student={acct.name}",
            env=acct.env,
            record=False,
        )
    return SimpleNamespace(
        course=course,
        exchange=exchange,
        accounts=accounts,
        fetched=fetched,
        collected=collected,
        out=out,
        seconds=seconds,
    )


CHAPTER = CHAPTERS[0]

# Canvas, gradebook import (Instructor Guide, "How do I import grades in the Gradebook?",
# community.canvaslms.com/t5/Instructor-Guide/How-do-I-import-grades-in-the-Gradebook/ta-p/807,
# and its gradebook export): identity columns, then one column per assignment, named
# "Name (assignment id)" or a name; the second row, "Points Possible", gives the points.
CANVAS_IDENTITY_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
# Canvas, submissions download: flat files named <name>_<user id>_<file id>_<file>, with
# LATE_ before the user id when late, and -1, -2 added to a re-uploaded file's name.
# Canvas's re-upload of marked files (instructure/canvas-lms, app/models/assignment.rb,
# infer_comment_context_from_filename) splits a name at "_" and takes its first two
# all-digit parts as the user id and the id of a file of that user's submission.
# Moodle, mod/assign (lang/en/assign.php; gradingtable.php's download columns;
# feedback/offline/importgradeslib.php): the grading worksheet's columns, English strings.
MOODLE_WORKSHEET_COLUMNS = [
    "Identifier",
    "Full name",
    "Email address",
    "Status",
    "Grade",
    "Maximum Grade",
    "Grade can be changed",
    "Last modified (submission)",
    "Last modified (grade)",
    "Feedback comments",
]
MOODLE_IMPORT_NEEDS = {"Identifier", "Grade", "Last modified (grade)"}  # importer's init()
MOODLE_IDENTIFIER = "Participant {}"  # $string['hiddenuser'] = 'Participant ' + unique id
# Moodle's download (mod/assign/classes/downloader.php): a folder per participant,
# clean_filename(str_replace('_', ' ', fullname) . '_' . unique id), then
# _assignsubmission_file_; its feedback-files zip import
# (feedback/file/importziplib.php) splits each path part at "_" into full name,
# participant id, plugin type and plugin name.

ROSTER = {  # account -> (Canvas user id, sortable name, Canvas file name part, Moodle id)
    "ada": ("101", "Lovelace, Ada", "lovelaceada", "9001", "Ada Lovelace"),
    "grace": ("102", "Hopper, Grace", "hoppergrace", "9002", "Grace Hopper"),
}


def canvas_gradebook_csv(path):
    """A Canvas gradebook export, the roster collect and export read."""
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(CANVAS_IDENTITY_COLUMNS + ["Quiz 1 (4001)"])
        w.writerow(["    Points Possible", "", "", "", "", "10"])
        for login, (user, name, *_) in ROSTER.items():
            w.writerow([name, user, f"S{user}", login, "NNFS 2026", "7"])
    return path


def moodle_worksheet_csv(path):
    """A Moodle grading worksheet as downloaded, the roster for Moodle."""
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(MOODLE_WORKSHEET_COLUMNS)
        for login, (*_, number, full) in ROSTER.items():
            w.writerow(
                [
                    MOODLE_IDENTIFIER.format(number),
                    full,
                    f"{login}@example.edu",
                    "Submitted for grading",
                    "",
                    "14.00",
                    "Yes",
                    "",
                    "-",
                    "",
                ]
            )
    return path


def submission_files(course, student, folder):
    """The corpus submission ``student`` as files: relative path -> bytes."""
    sub = {s.student: s for s in corpus(CHAPTER.module).SAMPLE_CLASS}[student]
    dest = make_submission(course, CHAPTER, sub, Path(folder) / student)
    return {str(p.relative_to(dest)): p.read_bytes() for p in sorted(dest.rglob("*")) if p.is_file()}


def zip_bytes(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def link(zf, name, target):
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    zf.writestr(info, target)


BOMB_BYTES = 65 * 1024**2  # over the intake's 64 MiB a file; about 64 KiB compressed


def hostile(zf, prefix):
    """Entries no collect may write: outside the target, links, a zip bomb."""
    zf.writestr("../../escaped.py", "print('outside')")
    zf.writestr("/tmp/nnfs-lms-absolute.py", "print('absolute')")
    zf.writestr(f"{prefix}../../../escaped-too.py", "print('outside')")
    zf.writestr(f"{prefix}source_lib/{'../' * 6}escaped-three.py", "print('outside')")
    link(zf, f"{prefix}link.py", "/etc/passwd")
    zf.writestr(f"{prefix}bomb.zip", zip_bytes({"zeros.bin": bytes(BOMB_BYTES)}))


def canvas_archive(path, files):
    """The Canvas download of ``files`` (account -> relative path -> bytes)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        user, _, name, *_ = ROSTER["ada"]
        ada = files["ada"]
        # the notebook twice (-1: uploaded again, a later file id), source_lib as a zip
        zf.writestr(f"{name}_{user}_5001_feedforward.ipynb", b'{"an": "earlier upload"}')
        zf.writestr(f"{name}_{user}_5002_feedforward-1.ipynb", ada["feedforward.ipynb"])
        zf.writestr(
            f"{name}_{user}_5003_source_lib.zip",
            zip_bytes({k: v for k, v in ada.items() if k.startswith("source_lib/")}),
        )
        zf.writestr(f"{name}_{user}_5004_screenshot.png", b"\x89PNG stray")
        # late, the notebook renamed by the browser, source_lib's files loose (flattened)
        user, _, name, *_ = ROSTER["grace"]
        grace = files["grace"]
        zf.writestr(f"{name}_LATE_{user}_6001_feedforward (1).ipynb", grace["feedforward.ipynb"])
        for i, (rel, data) in enumerate(sorted(grace.items())):
            if rel.startswith("source_lib/") and rel.count("/") == 1:  # a folder's own files
                zf.writestr(f"{name}_LATE_{user}_{6100 + i}_{Path(rel).name}", data)
        zf.writestr("babbagecharles_103_text.html", b"<p>a text entry</p>")
        # a zip of the whole assignment folder (a student not in the roster: the Canvas id)
        zf.writestr(
            "babbagecharles_103_7001_ch01_feedforward.zip",
            zip_bytes({f"{CHAPTER.assignment}/{rel}": data for rel, data in ada.items()}),
        )
        zf.writestr("notes.txt", b"not a submission")
        hostile(zf, f"{name}_LATE_{user}_6900_")


def moodle_archive(path, files):
    """The Moodle download of ``files``: a folder per participant, nested folders kept."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        *_, number, full = ROSTER["ada"]
        ada = f"{full}_{number}_assignsubmission_file_"
        for rel, data in files["ada"].items():  # the assignment folder as the student had it
            zf.writestr(f"{ada}/{CHAPTER.assignment}/{rel}", data)
        zf.writestr(f"{ada}/{CHAPTER.assignment}/.ipynb_checkpoints/feedforward-checkpoint.ipynb", b"{}")
        *_, number, full = ROSTER["grace"]
        grace = f"{full}_{number}_assignsubmission_file_"
        old = zipfile.ZipInfo(f"{grace}/feedforward.ipynb", (2026, 11, 1, 10, 0, 0))
        zf.writestr(old, b'{"an": "earlier attempt"}')
        new = zipfile.ZipInfo(f"{grace}/feedforward (1).ipynb", (2026, 11, 2, 10, 0, 0))
        zf.writestr(new, files["grace"]["feedforward.ipynb"])
        zf.writestr(
            f"{grace}/source_lib.zip",
            zip_bytes({k: v for k, v in files["grace"].items() if k.startswith("source_lib/")}),
        )
        zf.writestr(f"{full}_{number}_assignsubmission_onlinetext_/onlinetext.html", b"<p/>")
        zf.writestr("stray.txt", b"not in a participant's folder")
        hostile(zf, f"{grace}/")


@pytest.fixture(scope="session")
def lms_class(exchange_round_trip, tmp_path_factory):
    """The exchange's graded course, then the guide's LMS commands on it: Canvas's download
    collected (the same two students, as they also handed in on Canvas), grades and
    feedback for Canvas and for Moodle; and a Moodle download collected into a course of
    its own."""
    course = exchange_round_trip.course
    folder = tmp_path_factory.mktemp("lms")
    files = {a: submission_files(course, s, folder / "made") for a, s in EXCHANGE_STUDENTS.items()}
    canvas_archive(course.root / "submissions.zip", files)
    canvas_gradebook_csv(course.root / "gradebook.csv")
    moodle_worksheet_csv(course.root / "worksheet.csv")
    out = {
        "collect": autograder(
            course, "collect", "submissions.zip", CHAPTER.assignment, "--roster", "gradebook.csv"
        ).stdout,
        "canvas": autograder(course, "export", "--format", "canvas").stdout,
        "canvas-feedback": autograder(
            course, "feedback-bundle", CHAPTER.assignment, "--format", "canvas"
        ).stdout,
        "moodle": autograder(course, "export", "--format", "moodle", "--roster", "worksheet.csv").stdout,
        "moodle-feedback": autograder(
            course, "feedback-bundle", CHAPTER.assignment, "--format", "moodle", "--roster", "worksheet.csv"
        ).stdout,
    }
    moodle_course = Course(folder / "moodle")  # a course on Moodle: its own folder
    moodle_course.nbgrader_root.mkdir(parents=True)
    moodle_archive(moodle_course.root / "submissions.zip", files)
    moodle_worksheet_csv(moodle_course.root / "worksheet.csv")
    out["moodle-collect"] = autograder(
        moodle_course, "collect", "submissions.zip", CHAPTER.assignment, "--roster", "worksheet.csv"
    ).stdout
    record = json.loads(lms.record_path(moodle_course, CHAPTER.assignment).read_text())
    moodle_done = lms.Collected(
        **{k: record[k] for k in ("lms", "assignment")},
        **{
            k: [(lms.Placed if k == "placed" else lms.Entry)(**e) for e in record[k]]
            for k in ("placed", "ignored", "unplaced", "notes")
        },
    )
    return SimpleNamespace(
        course=course,
        files=files,
        out=out,
        folder=folder,
        moodle_course=moodle_course,
        moodle=moodle_done,
        canvas=lms.read_record(course, CHAPTER.assignment),
        rows={r.student: r for r in table(course, [CHAPTER])},
    )
