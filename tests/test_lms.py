"""From the LMS and back: LMS downloads into submitted/, grades and feedback out in the
files Canvas and Moodle import, and nbgrader's own exchange with two student accounts.

The archives are built as each LMS makes them, from the sample class (corpus), with hostile
entries among them, in ``lms_fixtures.py``; the formats checked here are facts found in the
LMSs' sources and documentation, written down there with where they come from.
"""

import csv
import zipfile
from pathlib import Path

import pytest
from lms_fixtures import (
    CANVAS_IDENTITY_COLUMNS,
    CHAPTER,
    EXCHANGE_STUDENTS,
    MOODLE_IDENTIFIER,
    MOODLE_IMPORT_NEEDS,
    MOODLE_WORKSHEET_COLUMNS,
    ROSTER,
    canvas_archive,
)

from autograder import lms
from autograder.course import Course
from autograder.grading import table
from conftest import autograder


def placed_files(course, student):
    root = course.folder("submitted", student, CHAPTER.assignment)
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ---- nbgrader's exchange


def test_the_exchange_carries_source_lib_both_ways(exchange_round_trip):
    ex = exchange_round_trip
    for name, fetched in ex.fetched.items():
        assert CHAPTER.notebook in fetched and "source_lib/feedforward.py" in fetched, fetched
        got = ex.collected[name]
        mine = ex.accounts[name].work / CHAPTER.assignment  # as the student handed it in
        for rel in (CHAPTER.notebook, "source_lib/feedforward.py", "source_lib/__init__.py"):
            assert got[rel] == (mine / rel).read_bytes(), (name, rel)
        assert "timestamp.txt" in got  # nbgrader's collect, not a copy by hand


def test_the_exchange_students_are_graded_by_the_course_grader(exchange_round_trip):
    rows = {r.student: r for r in table(exchange_round_trip.course, [CHAPTER])}
    assert set(rows) == set(EXCHANGE_STUDENTS)
    auto = {name: [c for c in row.cells if c.grade_id.startswith("task_")] for name, row in rows.items()}
    assert auto["ada"] and all(c.score == c.max_score for c in auto["ada"])  # the solution
    lost = {c.grade_id for c in auto["grace"] if c.score < c.max_score}  # one bug: one task
    assert lost == {"task_1_5_back_propagation"}, lost


def test_each_account_fetches_its_own_feedback(exchange_round_trip):
    scores = {}
    for name, acct in exchange_round_trip.accounts.items():
        pages = list(acct.work.glob(f"{CHAPTER.assignment}/feedback/*/feedforward.html"))
        assert len(pages) == 1, list(acct.work.rglob("*"))
        text = pages[0].read_text()
        own = exchange_round_trip.course.folder(
            "feedback", name, CHAPTER.assignment, "feedforward.html"
        ).read_text()
        assert text == own
        scores[name] = text
    assert scores["ada"] != scores["grace"]
    # what one account has is not the other's
    assert not list(exchange_round_trip.accounts["ada"].home.rglob("*grace*"))


# ---- collect


def test_canvas_collect_places_each_students_latest_files(lms_class):
    for account in EXCHANGE_STUDENTS:
        wanted = lms_class.files[account]
        if account == "grace":  # loose uploads: source_lib's own files, not its subfolders'
            wanted = {rel: data for rel, data in wanted.items() if rel.count("/") <= 1}
        assert placed_files(lms_class.course, account) == wanted, account
    # not in the roster, named by the Canvas user id; a zip of the whole assignment folder
    assert placed_files(lms_class.course, "103") == lms_class.files["ada"]
    out = lms_class.out["collect"]
    assert f"ada (Lovelace, Ada): {len(lms_class.files['ada'])} files" in out, out
    loose = [rel for rel in lms_class.files["grace"] if rel.count("/") <= 1]
    assert f"grace (Hopper, Grace, late): {len(loose)} files" in out, out
    grace = lms_class.canvas["grace"]
    assert grace.late and grace.lms_id == "102" and grace.name == "Hopper, Grace"
    assert lms_class.canvas["ada"].attachment == "5002"  # the re-upload counts


def test_canvas_collect_reports_what_it_left(lms_class):
    out = lms_class.out["collect"]
    lines = out.splitlines()

    def said(prefix, path):
        return [line for line in lines if line.startswith(prefix) and f" {path}:" in line]

    assert said("ignored:", "lovelaceada_101_5001_feedforward.ipynb")  # the earlier upload
    assert said("ignored:", "lovelaceada_101_5004_screenshot.png")
    assert said("ignored:", "babbagecharles_103_text.html")
    # a browser's " (1)" is a copy number, not a rename: placed without a word
    assert not [line for line in lines if "6001_feedforward (1).ipynb" in line]
    assert said("COULD NOT PLACE:", "notes.txt")
    for hostile_entry in (
        "../../escaped.py",
        "/tmp/nnfs-lms-absolute.py",
        "hoppergrace_LATE_102_6900_link.py",
        "hoppergrace_LATE_102_6900_bomb.zip!zeros.bin",
    ):
        assert said("COULD NOT PLACE:", hostile_entry), (hostile_entry, out)


def test_a_hostile_archive_writes_nothing_outside_the_submissions(lms_class):
    # below the course's folder, the test's folder, and up to the session's folder
    for root in (lms_class.course.root.parent, lms_class.folder):
        assert not [p for p in root.rglob("escaped*.py")], root
    for up in lms_class.course.root.parents[:4]:
        assert not [p for p in up.glob("escaped*.py")], up
    assert not Path("/tmp/nnfs-lms-absolute.py").exists()
    for account in EXCHANGE_STUDENTS:
        for course in (lms_class.course, lms_class.moodle_course):
            placed = course.folder("submitted", account, CHAPTER.assignment)
            assert not [p for p in placed.rglob("*") if p.is_symlink()]
            assert not [p for p in placed.rglob("*") if p.name in ("link.py", "zeros.bin")]
    assert sorted(p.name for p in lms_class.moodle_course.folder("submitted").iterdir()) == sorted(
        EXCHANGE_STUDENTS
    )


def test_moodle_collect_places_nested_folders_and_the_latest_attempt(lms_class):
    done = lms_class.moodle
    assert sorted(p.student for p in done.placed) == sorted(EXCHANGE_STUDENTS)
    for account in EXCHANGE_STUDENTS:
        assert placed_files(lms_class.moodle_course, account) == lms_class.files[account]
    ignored = {e.path: e.reason for e in done.ignored}
    grace = "Grace Hopper_9002_assignsubmission_file_"
    assert "earlier upload" in ignored[f"{grace}/feedforward.ipynb"]
    assert f"{grace}/feedforward (1).ipynb" not in ignored
    assert "Grace Hopper_9002_assignsubmission_onlinetext_/onlinetext.html" in ignored
    unplaced = {e.path for e in done.unplaced}
    assert {
        "stray.txt",
        "../../escaped.py",
        "/tmp/nnfs-lms-absolute.py",
        f"{grace}/link.py",
        f"{grace}/bomb.zip!zeros.bin",
    } <= unplaced, unplaced
    assert f"{grace}/../../../escaped-too.py" in unplaced, unplaced
    assert f"{grace}/source_lib/{'../' * 6}escaped-three.py" in unplaced, unplaced
    assert {p.student: p.folder for p in done.placed}["ada"] == "Ada Lovelace_9001_assignsubmission_file_"


def test_collect_without_a_roster_names_students_by_lms_id(lms_class, tmp_path):
    course = Course(tmp_path / "c")
    course.nbgrader_root.mkdir(parents=True)
    canvas_archive(tmp_path / "canvas.zip", lms_class.files)
    done = lms.collect(course, tmp_path / "canvas.zip", CHAPTER.assignment)
    assert done.lms == "canvas"
    assert sorted(p.student for p in done.placed) == ["101", "102", "103"]
    assert placed_files(course, "101") == lms_class.files["ada"]


def test_a_file_that_is_not_a_zip_is_refused(tmp_path):
    (tmp_path / "c" / "assignments").mkdir(parents=True)
    (tmp_path / "not.zip").write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(lms.LmsError, match="not a zip archive"):
        lms.collect(Course(tmp_path / "c"), tmp_path / "not.zip", CHAPTER.assignment)


# ---- grades and feedback out


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def test_canvas_grades_file_is_canvas_gradebook_import(lms_class):
    path = lms_class.course.nbgrader_root / "grades-canvas.csv"
    assert f"Grades CSV: {path}" in lms_class.out["canvas"]
    rows = read_csv(path)
    assert rows[0] == CANVAS_IDENTITY_COLUMNS + [CHAPTER.assignment]
    max_score = lms_class.rows["ada"].max_score
    assert rows[1] == ["Points Possible", "", "", "", "", f"{max_score:g}"]
    by_login = {r[3]: r for r in rows[2:]}
    assert set(by_login) == set(EXCHANGE_STUDENTS)
    for login, (user, name, *_) in ROSTER.items():
        assert by_login[login][:5] == [name, user, f"S{user}", login, "NNFS 2026"]
        assert float(by_login[login][5]) == lms_class.rows[login].score


def test_moodle_grades_file_is_moodles_grading_worksheet(lms_class):
    path = lms_class.course.nbgrader_root / f"grades-moodle-{CHAPTER.assignment}.csv"
    rows = read_csv(path)
    assert rows[0] == MOODLE_WORKSHEET_COLUMNS and MOODLE_IMPORT_NEEDS <= set(rows[0])
    got = {r[0]: dict(zip(rows[0], r)) for r in rows[1:]}
    for login, (*_, number, full) in ROSTER.items():
        row = got[MOODLE_IDENTIFIER.format(number)]
        assert row["Full name"] == full and row["Email address"] == f"{login}@example.edu"
        assert float(row["Grade"]) == lms_class.rows[login].score
        assert float(row["Maximum Grade"]) == lms_class.rows[login].max_score
        assert row["Last modified (grade)"]


def test_export_keeps_nbgraders_csv_by_default(lms_class):
    out = autograder(lms_class.course, "export").stdout
    assert f"Grades CSV: {lms_class.course.grades_csv}" in out
    header = read_csv(lms_class.course.grades_csv)[0]
    assert header[:3] == ["assignment", "duedate", "timestamp"]


def test_canvas_feedback_is_named_for_canvas_re_upload(lms_class):
    bundle = lms_class.course.nbgrader_root / "lms" / f"feedback-canvas-{CHAPTER.assignment}.zip"
    with zipfile.ZipFile(bundle) as zf:
        names = zf.namelist()
        for login, (user, _, name, *_) in ROSTER.items():
            record = lms_class.canvas[login]
            entry = f"{name}_{user}_{record.attachment}_feedforward-feedback.html"
            assert entry in names, names
            # what Canvas reads from the name: the first two all-digit parts
            assert [p for p in entry.split("_") if p.isdigit()][:2] == [user, record.attachment]
            page = lms_class.course.folder("feedback", login, CHAPTER.assignment, "feedforward.html")
            assert zf.read(entry) == page.read_bytes()
    assert lms_class.canvas["ada"].attachment == "5002"
    assert lms_class.canvas["grace"].attachment == "6001"


def test_moodle_feedback_zip_has_a_folder_per_participant(lms_class):
    bundle = lms_class.course.nbgrader_root / "lms" / f"feedback-moodle-{CHAPTER.assignment}.zip"
    with zipfile.ZipFile(bundle) as zf:
        names = sorted(zf.namelist())
    assert names == [
        f"{full}_{number}_assignsubmission_file_/feedforward.html"
        for *_, number, full in sorted(ROSTER.values(), key=lambda r: r[4])
    ]
    for name in names:  # as Moodle's importer splits a path part
        full, number, plugin_type, plugin, _ = name.split("/")[0].split("_", 4)
        assert number.isdigit() and (plugin_type, plugin) == ("assignsubmission", "file")
