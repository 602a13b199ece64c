"""From the LMS and back: a learning-management system's submissions download into
``assignments/submitted``, and grades and feedback out in the files it imports.

Collect (``collect``) reads the .zip an LMS gives for "download all submissions":

- **Canvas**: one flat folder, every file named ``<name>_<user id>_<attachment id>_<file>``
  (``<name>_LATE_...`` when late). ``<name>`` is the student's sortable name without
  separators (``lovelaceada``); ``<file>`` is what the student uploaded, with ``-1``,
  ``-2``... added by Canvas when they uploaded a file of the same name again. Canvas's
  re-upload of feedback files matches a file to its submission by the first two
  all-digit parts of its name: the user id and the id of a file of that submission.
- **Moodle**: a folder per participant, ``<Full Name>_<participant id>_assignsubmission_file_``,
  holding the files as the student uploaded them (folders kept); older versions put
  the same prefix on flat file names. Moodle's feedback-files upload (a zip of such
  folders) and its grading worksheet identify a student by that participant id
  (``Participant <id>``).

A student's ``source_lib`` may come as a zip (of the folder, or of the whole
assignment folder), as a folder, or as loose ``.py`` files (Canvas flattens names):
every ``.py`` file ends up under ``source_lib/`` (below the ``source_lib`` folder it
was in, or by its own name), the chapter notebook next to it. Of several uploads of
the same file, the latest counts (Canvas: the highest attachment id; otherwise the
newest time stamp, then the highest copy number: ``feedforward (2).ipynb`` after
``feedforward (1).ipynb``). A notebook renamed by the student is taken for the
chapter's when it is their only one. Anything else is a stray file: ignored and
reported; what cannot be told apart as a student's is reported as not placed.

Nothing of the archive is extracted as it stands: each entry is read (at most the
caps of ``intake.Caps`` per file, ``MAX_ARCHIVE_BYTES`` in all, nested zips
``MAX_NESTING`` deep), its path checked (no absolute path, no ``..``, no link, no
odd character), and written by name below a staging folder, which
``intake.sanitize`` then copies into ``submitted/<student>/<assignment>``.

Student ids: nbgrader's student id must be a safe folder name (``SAFE_ID``). It is
the LMS login when a roster says it (Canvas: ``SIS Login ID`` of the gradebook
export; Moodle: the part of ``Email address`` before the ``@`` in the grading
worksheet), else the LMS's own number (Canvas user id, Moodle participant id).
What collect learned is kept in ``assignments/lms/roster.csv`` (identities) and
``assignments/lms/<assignment>.json`` (who handed in what, for the feedback).
"""

import csv
import io
import json
import os
import re
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from .course import Chapter, Course, chapter_for
from .grading.lock import course_lock
from .nbgrader_ext import intake

LMS = ("canvas", "moodle")
FORMATS = ("nbgrader", "canvas", "moodle")
LMS_DIR = "lms"  # assignments/lms: the roster, what collect placed, the feedback bundles

SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_ARCHIVE_ENTRIES = 50_000  # entries looked at, nested ones included
MAX_ARCHIVE_BYTES = 1024**3  # bytes read from the archive, uncompressed, in all
MAX_NESTING = 2  # a zip inside a zip inside the download, no deeper
CHUNK = 1024**2

CANVAS_FILE = re.compile(
    r"(?P<name>[^_/]+)_(?:(?P<late>LATE)_)?(?P<user>\d+)_(?P<attachment>\d+)_"
    r"(?P<file>.+)"
)
CANVAS_TEXT = re.compile(r"[^_/]+_(?:LATE_)?\d+_(?:text|link)\.html")  # a text entry, a URL
MOODLE_FOLDER = re.compile(r"(?P<name>.+)_(?P<id>\d+)_(?P<plugin>assign(?:submission|feedback)_[a-z]+)_?")
MOODLE_FLAT = re.compile(r"(?P<name>[^_/]+)_(?P<id>\d+)_assignsubmission_file_(?P<file>.+)")
COPY = re.compile(r"(?:-(?P<dash>\d+)| \((?P<paren>\d+)\))(?=\.[A-Za-z0-9]+$)")
SILENT = {"__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini"}

# Moodle's grading worksheet (mod/assign, English strings): the importer needs
# Identifier, Grade and Last modified (grade); Feedback comments fills the comments.
MOODLE_HEADER = [
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
MOODLE_PARTICIPANT = "Participant "
# Canvas's gradebook CSV: identity columns, then one column per assignment, "Name (id)"
# or a name; the second row gives each assignment's points possible.
CANVAS_HEADER = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
POINTS_POSSIBLE = "Points Possible"
ROSTER_FIELDS = ["student", "lms", "lms_id", "name", "email", "sis_user_id", "sis_login_id", "section"]


class LmsError(ValueError):
    """The archive or a roster cannot be read at all."""


@dataclass
class Identity:
    """A student as the LMS knows them; ``student`` is the nbgrader student id."""

    student: str
    lms: str
    lms_id: str
    name: str = ""
    email: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""


@dataclass
class Entry:
    """An archive entry that was not placed: its path in the archive and why."""

    path: str
    reason: str


@dataclass
class Placed:
    """One student's submission as placed: where it came from and its files."""

    student: str
    lms_id: str
    name: str
    files: list  # relative paths in submitted/<student>/<assignment>
    late: bool = False
    attachment: str = ""  # Canvas: the id of the notebook file, for the feedback re-upload
    folder: str = ""  # Moodle: the participant's folder name, for the feedback zip
    canvas_name: str = ""  # Canvas: the name part of the file names


@dataclass
class Collected:
    """What ``collect`` did: placed submissions, ignored (stray, older) and unplaced entries."""

    lms: str
    assignment: str
    placed: list = field(default_factory=list)  # Placed
    ignored: list = field(default_factory=list)  # Entry: strays, earlier uploads
    unplaced: list = field(default_factory=list)  # Entry: what could not be placed, and why
    notes: list = field(default_factory=list)  # Entry: placed, but not as handed in (renamed)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)


# ---------------------------------------------------------------- reading the archive


@dataclass
class _Member:
    where: str  # shown path: outer/entry.zip!inner/path
    outer: tuple  # path parts of the entry in the download
    inner: tuple  # path parts inside the nested zips (empty for a top-level file)
    data: bytes
    time: tuple  # the entry's date_time


def _parts(name):
    """Path parts of a zip entry name, or None if it is absolute or climbs out (``..``)."""
    name = name.replace("\\", "/")
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        return None
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    return None if ".." in parts else parts


class _Reader:
    def __init__(self, caps):
        self.caps, self.entries, self.bytes = caps, 0, 0
        self.members, self.problems = [], []

    def read(self, zf, outer, inner, prefix, depth):
        for info in zf.infolist():
            self.entries += 1
            where = prefix + info.filename
            if self.entries > MAX_ARCHIVE_ENTRIES:
                self.problems.append(
                    Entry(
                        where,
                        f"the archive holds more than {MAX_ARCHIVE_ENTRIES} entries: the rest was not read",
                    )
                )
                return False
            parts = _parts(info.filename)
            if parts is None:
                self.problems.append(
                    Entry(where, "its path leaves the archive's folder (absolute or with ..): not written")
                )
                continue
            if not parts or info.is_dir() or (parts[-1] in SILENT or parts[0] in SILENT):
                continue
            if any(intake._odd(ch) for p in parts for ch in p):
                self.problems.append(Entry(intake.shown(where), "its name has control characters"))
                continue
            kind = (info.external_attr >> 16) & 0o170000
            if kind and kind != stat.S_IFREG:
                self.problems.append(
                    Entry(
                        where,
                        "a symbolic link or special file, not a file: not written"
                        if kind == stat.S_IFLNK
                        else "not a regular file: not written",
                    )
                )
                continue
            if info.flag_bits & 0x1:
                self.problems.append(Entry(where, "encrypted: cannot be read"))
                continue
            data = self._data(zf, info, where)
            if data is None:
                continue
            names = (outer or parts, inner + parts if outer else ())
            if parts[-1].lower().endswith(".zip") and depth < MAX_NESTING:
                try:
                    nested = zipfile.ZipFile(io.BytesIO(data))
                except (zipfile.BadZipFile, ValueError):
                    self.problems.append(Entry(where, "not a zip archive that can be read"))
                    continue
                with nested:
                    # the members of a nested zip belong to whoever handed in the zip
                    if not self.read(
                        nested, names[0], names[1][:-1] if outer else (), where + "!", depth + 1
                    ):
                        return False
                continue
            self.members.append(_Member(where, *names, data, info.date_time))
        return True

    def _data(self, zf, info, where):
        cap = min(self.caps.file_bytes, MAX_ARCHIVE_BYTES - self.bytes)
        if info.file_size > cap:
            self.problems.append(Entry(where, self._too_big(cap)))
            return None
        chunks, size = [], 0
        try:
            with zf.open(info) as fh:
                while size <= cap:  # the header may lie about the size: never past cap + 1
                    chunk = fh.read(min(CHUNK, cap + 1 - size))
                    if not chunk:
                        break
                    chunks.append(chunk)
                    size += len(chunk)
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError) as exc:
            self.problems.append(Entry(where, f"cannot be read ({type(exc).__name__})"))
            return None
        if size > cap:
            self.problems.append(Entry(where, self._too_big(cap)))
            return None
        self.bytes += size
        return b"".join(chunks)

    def _too_big(self, cap):
        if cap < self.caps.file_bytes:
            return f"the archive unpacks to more than {MAX_ARCHIVE_BYTES / 1024**2:g} MiB: not read"
        return f"larger than the {self.caps.file_bytes / 1024**2:g} MiB a file may be: not read"


def read_archive(
    archive: str | os.PathLike[str], caps: intake.Caps = intake.Caps()
) -> tuple[list[_Member], list[Entry]]:
    """The files of a submissions download: ``(members, problems)``; raises ``LmsError``."""
    reader = _Reader(caps)
    try:
        with zipfile.ZipFile(archive) as zf:
            reader.read(zf, (), (), "", 0)
    except (zipfile.BadZipFile, OSError) as exc:
        raise LmsError(f"{archive} is not a zip archive that can be read: {exc}") from None
    return reader.members, reader.problems


# ---------------------------------------------------------------- rosters


def safe_id(text: str) -> bool:
    return bool(text) and SAFE_ID.fullmatch(text) is not None


def _student_id(lms, lms_id, login):
    return login if safe_id(login) else lms_id


def read_roster(path: str | os.PathLike[str]) -> dict[str, Identity]:
    """Identities from an LMS's own export: Canvas's gradebook CSV (``Student, ID, SIS User
    ID, SIS Login ID, Section``) or Moodle's grading worksheet (``Identifier, Full name,
    Email address``); by LMS id."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    header = set(rows[0]) if rows else set()
    found = {}
    if {"Student", "ID"} <= header:
        for row in rows:
            user = (row.get("ID") or "").strip()
            if not user.isdigit():  # the "Points Possible" row, blank lines
                continue
            login = (row.get("SIS Login ID") or "").strip()
            found[user] = Identity(
                _student_id("canvas", user, login),
                "canvas",
                user,
                (row.get("Student") or "").strip(),
                "",
                (row.get("SIS User ID") or "").strip(),
                login,
                (row.get("Section") or "").strip(),
            )
    elif "Identifier" in header:
        for row in rows:
            ident = (row.get("Identifier") or "").strip()
            number = (
                ident[len(MOODLE_PARTICIPANT) :].strip()
                if ident.startswith(MOODLE_PARTICIPANT.strip())
                else ""
            )
            if not number.isdigit():
                continue
            email = (row.get("Email address") or "").strip()
            found[number] = Identity(
                _student_id("moodle", number, email.split("@")[0]),
                "moodle",
                number,
                (row.get("Full name") or "").strip(),
                email,
            )
    else:
        raise LmsError(
            f"{path}: neither a Canvas gradebook export (Student, ID, ...) nor a "
            f"Moodle grading worksheet (Identifier, Full name, ...)"
        )
    taken = {}
    for ident in found.values():  # two logins the same once cut short: keep the LMS ids
        taken.setdefault(ident.student, []).append(ident)
    for same in taken.values():
        if len(same) > 1:
            for ident in same:
                ident.student = ident.lms_id
    return found


def roster_path(course: Course) -> Path:
    return course.nbgrader_root / LMS_DIR / "roster.csv"


def recorded_roster(course: Course) -> dict[str, Identity]:
    """The identities collect recorded, by student id."""
    path = roster_path(course)
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as fh:
        return {
            row["student"]: Identity(**{k: row.get(k, "") for k in ROSTER_FIELDS})
            for row in csv.DictReader(fh)
        }


def _record_roster(course, identities):
    known = recorded_roster(course)
    known.update({i.student: i for i in identities})
    path = roster_path(course)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, ROSTER_FIELDS)
        writer.writeheader()
        for student in sorted(known):
            writer.writerow(asdict(known[student]))


def record_path(course: Course, assignment: str) -> Path:
    return course.nbgrader_root / LMS_DIR / f"{assignment}.json"


def read_record(course: Course, assignment: str) -> dict[str, Placed]:
    """What collect placed for ``assignment``: student -> ``Placed``."""
    try:
        data = json.loads(record_path(course, assignment).read_text())
    except (OSError, ValueError):
        return {}
    return {p["student"]: Placed(**p) for p in data.get("placed", [])}


# ---------------------------------------------------------------- collect


@dataclass
class _Candidate:
    target: str  # path in the submission folder
    name: str  # the file's name as handed in (copy number stripped)
    data: bytes
    order: tuple  # larger is later
    where: str


def detect_lms(members: Iterable[_Member]) -> str:
    """``moodle`` if the download has Moodle's participant folders or names, else ``canvas``."""
    for m in members:
        if MOODLE_FOLDER.fullmatch(m.outer[0]) or MOODLE_FLAT.fullmatch(m.outer[-1]):
            return "moodle"
    return "canvas"


def _owner(lms, member):
    """``(lms id, name, file parts, info)`` of a member, or a reason it has no owner."""
    if lms == "canvas":
        base = member.outer[-1]
        if CANVAS_TEXT.fullmatch(base):
            return "a text entry or link, not a file"
        m = CANVAS_FILE.fullmatch(base)
        if not m or len(member.outer) > 1:
            return "not named as Canvas names a submitted file (<name>_<user id>_<file id>_<file>)"
        parts = member.inner or (m["file"],)
        return (
            m["user"],
            m["name"],
            parts,
            {"late": bool(m["late"]), "attachment": int(m["attachment"]), "canvas_name": m["name"]},
        )
    m = MOODLE_FOLDER.fullmatch(member.outer[0]) if len(member.outer) > 1 else None
    if m:
        if m["plugin"] != "assignsubmission_file":
            return f"not a file submission ({m['plugin']})"
        parts = member.outer[1:] + member.inner
        return m["id"], m["name"], parts, {"folder": member.outer[0]}
    m = MOODLE_FLAT.fullmatch(member.outer[-1]) if len(member.outer) == 1 else None
    if m:
        parts = member.inner or (m["file"],)
        name = m["name"]
        return m["id"], name, parts, {"folder": f"{name}_{m['id']}_assignsubmission_file_"}
    return "not in a participant's folder (<Full Name>_<id>_assignsubmission_file_)"


def _copy_number(name):
    m = COPY.search(name)
    if not m:
        return name, 0
    return name[: m.start()] + name[m.end() :], int(m["dash"] or m["paren"])


def _target(parts):
    """Where a handed-in file goes in the submission (None: a stray file) and its name."""
    if any(p in intake.IGNORED for p in parts):
        return None, parts[-1]
    name, _ = _copy_number(parts[-1])
    if name.endswith(".py"):
        if "source_lib" in parts[:-1]:
            at = len(parts) - 1 - parts[::-1].index("source_lib")  # the last source_lib folder
            below = parts[at + 1 : -1]
            return "/".join(("source_lib", *below, name)), name
        return f"source_lib/{name}", name
    if name.endswith(".ipynb"):
        return "notebook", name
    return None, name


def collect(
    course: Course,
    archive: str | os.PathLike[str],
    assignment: str,
    lms: str | None = None,
    roster: str | os.PathLike[str] | None = None,
    log: Callable[[str], object] = print,
) -> Collected:
    """Place the submissions of an LMS download ``archive`` into ``submitted/``; a ``Collected``.

    ``lms``: ``canvas`` or ``moodle`` (default: told from the archive's names);
    ``roster``: the LMS's roster export (``read_roster``), for student ids and identities.
    Holds the course's lock (``CourseBusy`` while another command changes the course).
    """
    with course_lock(course, "collect"):
        return _collect(course, archive, assignment, lms, roster)


def _collect(course, archive, assignment, lms, roster):
    chapter = chapter_for(assignment)
    members, problems = read_archive(archive)
    lms = lms or detect_lms(members)
    if lms not in LMS:
        raise LmsError(f"unknown LMS {lms!r}: {', '.join(LMS)}")
    known = read_roster(roster) if roster else {}
    result = Collected(lms, chapter.assignment, unplaced=list(problems))
    students, info, identities = {}, {}, {}
    for member in members:
        owner = _owner(lms, member)
        if isinstance(owner, str):
            (result.ignored if owner.startswith(("a text", "not a file")) else result.unplaced).append(
                Entry(member.where, owner)
            )
            continue
        lms_id, name, parts, extra = owner
        ident = known.get(lms_id) or Identity(lms_id, lms, lms_id, name)
        if ident.lms != lms:
            result.unplaced.append(Entry(member.where, f"the roster is a {ident.lms} roster"))
            continue
        identities[ident.student] = ident
        target, filename = _target(parts)
        if target is None:
            result.ignored.append(
                Entry(
                    member.where,
                    "not part of the assignment (the notebook and source_lib's .py files): ignored",
                )
            )
            continue
        attachment = extra.get("attachment", -1)
        order = (attachment, member.time, _copy_number(parts[-1])[1])
        students.setdefault(ident.student, []).append(
            _Candidate(target, filename, member.data, order, member.where)
        )
        previous = info.get(ident.student)
        if previous is None or order > previous[0]:
            info[ident.student] = (order, extra, name, lms_id)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=_lms_dir(course)))
    try:
        for student, candidates in sorted(students.items()):
            placed = _place(course, chapter, student, candidates, staging, result)
            _, extra, name, lms_id = info[student]
            ident = identities[student]
            result.placed.append(
                Placed(
                    student,
                    lms_id,
                    ident.name or name,
                    placed,
                    late=extra.get("late", False),
                    attachment=str(_notebook_attachment(candidates, chapter) or ""),
                    folder=extra.get("folder", ""),
                    canvas_name=extra.get("canvas_name", ""),
                )
            )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _record_roster(course, [identities[p.student] for p in result.placed])
    record_path(course, chapter.assignment).write_text(result.to_json())
    return result


def _lms_dir(course):
    folder = course.nbgrader_root / LMS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _notebook_attachment(candidates, chapter):
    """Canvas: the file id of the notebook that counts (Canvas attaches feedback to it)."""
    books = [c for c in candidates if c.target == "notebook"]
    if not books:
        return None
    best = max(books, key=lambda c: (c.name == chapter.notebook, c.order))
    return best.order[0] if best.order[0] >= 0 else None


def _place(course, chapter, student, candidates, staging, result):
    """Write the latest of each of a student's files into ``submitted/``: the paths written."""
    latest = {}
    notebooks = [c for c in candidates if c.target == "notebook"]
    exact = [c for c in notebooks if c.name == chapter.notebook]
    if notebooks:
        chosen = max(exact or notebooks, key=lambda c: c.order)
        for c in notebooks:
            if c is not chosen:
                why = (
                    "an earlier upload of the notebook: the latest counts"
                    if c.name == chosen.name
                    else f"another notebook; {chosen.name} counts"
                )
                result.ignored.append(Entry(c.where, why))
        if chosen.name != chapter.notebook:
            result.notes.append(
                Entry(chosen.where, f"taken as {chapter.notebook} (the student's only notebook)")
            )
        latest[chapter.notebook] = chosen
    else:
        result.unplaced.append(
            Entry(f"{student}/", f"no notebook: {chapter.notebook} is missing from {student}'s submission")
        )
    for c in candidates:
        if c.target == "notebook":
            continue
        have = latest.get(c.target)
        if have is None or c.order > have.order:
            if have is not None:
                result.ignored.append(Entry(have.where, "an earlier upload: the latest counts"))
            latest[c.target] = c
        else:
            result.ignored.append(Entry(c.where, "an earlier upload: the latest counts"))
    folder = staging / student
    for target, c in latest.items():
        parts = target.split("/")
        if any(part in ("", ".", "..") for part in parts):  # _parts let none through: twice sure
            result.unplaced.append(Entry(c.where, "its path leaves the submission: not written"))
            continue
        path = folder.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "xb") as fh:
            fh.write(c.data)
    dest = course.folder("submitted", student, chapter.assignment)
    report = intake.sanitize(folder, dest, base=staging)
    for p in report.problems:
        result.unplaced.append(Entry(f"{student}/{p.path}", p.message))
    return sorted(report.copied)


# ---------------------------------------------------------------- grades out


@dataclass
class Exported:
    """Grade files written, and the students left out of them (no LMS identity)."""

    paths: list
    missing: list  # student ids


def export_grades(
    course: Course,
    fmt: str,
    chapters: Sequence[Chapter],
    roster: str | os.PathLike[str] | None = None,
    columns: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> Exported:
    """Write the grades in ``fmt``'s import format; an ``Exported``.

    ``nbgrader``: nbgrader's CSV (``grades.csv``). ``canvas``: ``grades-canvas.csv``, the
    gradebook import (one column per assignment, named by ``columns[assignment]`` or the
    assignment id, a ``Points Possible`` row). ``moodle``: ``grades-moodle-<assignment>.csv``
    per assignment, the grading worksheet. Identities: ``roster`` (the LMS's export) or
    what collect recorded.
    """
    from .grading import export, table

    if fmt == "nbgrader":
        return Exported([export(course)], [])
    if fmt not in LMS:
        raise LmsError(f"unknown format {fmt!r}: {', '.join(FORMATS)}")
    idents = _identities(course, roster)
    rows = table(course, chapters)
    done = [c for c in chapters if any(r.assignment == c.assignment for r in rows)]
    missing = sorted({r.student for r in rows if r.student not in idents or idents[r.student].lms != fmt})
    when = (now or datetime.now()).strftime("%A, %d %B %Y, %I:%M %p")
    paths = []
    if fmt == "canvas":
        path = course.nbgrader_root / "grades-canvas.csv"
        scores = {(r.student, r.assignment): r for r in rows}
        maxima = {r.assignment: r.max_score for r in rows}
        names = [(columns or {}).get(c.assignment, c.assignment) for c in done]
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(CANVAS_HEADER + names)
            w.writerow([POINTS_POSSIBLE, "", "", "", ""] + [f"{maxima[c.assignment]:g}" for c in done])
            for student in sorted({r.student for r in rows} - set(missing)):
                i = idents[student]
                w.writerow(
                    [i.name or student, i.lms_id, i.sis_user_id, i.sis_login_id, i.section]
                    + [_score(scores.get((student, c.assignment))) for c in done]
                )
        paths.append(path)
    else:
        for chapter in done:
            path = course.nbgrader_root / f"grades-moodle-{chapter.assignment}.csv"
            with open(path, "w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow(MOODLE_HEADER)
                for r in rows:
                    if r.assignment != chapter.assignment or r.student in missing:
                        continue
                    i = idents[r.student]
                    w.writerow(
                        [
                            f"{MOODLE_PARTICIPANT}{i.lms_id}",
                            i.name,
                            i.email,
                            "Submitted for grading",
                            f"{r.score:.2f}",
                            f"{r.max_score:.2f}",
                            "Yes",
                            "",
                            when,
                            f"Autograded: {r.score:g} of {r.max_score:g} points. The "
                            f"feedback file explains each task.",
                        ]
                    )
            paths.append(path)
    return Exported(paths, missing)


def _score(row):
    return "" if row is None else f"{row.score:g}"


def _identities(course, roster):
    if roster:
        return {i.student: i for i in read_roster(roster).values()}
    return recorded_roster(course)


# ---------------------------------------------------------------- feedback out


@dataclass
class Bundle:
    """A feedback zip for the LMS: its path, the name of each student's file in it, and
    the students left out, with the reason."""

    path: Path
    files: dict  # student -> [names in the zip]
    missing: dict  # student -> reason


FIXED_TIME = (2020, 1, 1, 0, 0, 0)


def feedback_bundle(
    course: Course, assignment: str, fmt: str, roster: str | os.PathLike[str] | None = None
) -> Bundle:
    """Zip each student's feedback pages named for ``fmt``'s upload; a ``Bundle``.

    Canvas (the assignment's "Re-upload submissions"): ``<name>_<user id>_<file id>_<page>``,
    the file id being the notebook the student handed in on Canvas (so only students
    collected from Canvas). Moodle ("Upload multiple feedback files in a zip"): the
    participant's download folder ``<Full Name>_<participant id>_assignsubmission_file_/``
    holding the pages.
    """
    chapter = chapter_for(assignment)
    if fmt not in LMS:
        raise LmsError(f"unknown format {fmt!r}: {', '.join(LMS)}")
    record = read_record(course, chapter.assignment)
    idents = _identities(course, roster)
    root = course.folder("feedback")
    students = (
        sorted(p.name for p in root.iterdir() if (p / chapter.assignment).is_dir()) if root.is_dir() else []
    )
    path = _lms_dir(course) / f"feedback-{fmt}-{chapter.assignment}.zip"
    files, missing = {}, {}
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for student in students:
            pages = sorted(
                p
                for p in (root / student / chapter.assignment).glob("*.html")
                if p.is_file() and not p.is_symlink()
            )
            placed, ident = record.get(student), idents.get(student)
            if fmt == "canvas":
                if not (placed and placed.attachment and placed.canvas_name):
                    missing[student] = (
                        "not collected from a Canvas download: Canvas attaches "
                        "a feedback file to a file the student handed in there"
                    )
                    continue
                names = [
                    f"{placed.canvas_name}_{placed.lms_id}_{placed.attachment}_{p.stem}-feedback.html"
                    for p in pages
                ]
            else:
                folder = placed.folder if placed and placed.folder else None
                if folder is None and ident and ident.lms == "moodle":
                    full = (ident.name or ident.student).replace("_", " ")
                    folder = f"{full}_{ident.lms_id}_assignsubmission_file_"
                if folder is None:
                    missing[student] = "no Moodle participant id (collect or --roster)"
                    continue
                names = [f"{folder}/{p.name}" for p in pages]
            for page, name in zip(pages, names):
                info = zipfile.ZipInfo(name, FIXED_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = (stat.S_IFREG | 0o644) << 16
                zf.writestr(info, page.read_bytes())
            files[student] = names
    os.replace(tmp, path)
    return Bundle(path, files, missing)
