"""``autograder validate``: do the trusted checks grade as they should, for any student?

Every chapter's sample class (``autograder/corpus/<module>.py``) goes through
the trusted checks, the code that decides the points, over many student ids
(each id draws its own hidden inputs):

- the instructor solution and every correct alternative (``alt-*``) must pass
  every check on every id: a check's *false failures* are the ids on which it
  fails one of them (``--ids``, 1,000 by default; ``--keras-ids``, 200, for
  the checks that build Keras models);
- every realistic bug (``bug-*``) must fail every check that names it
  (``Submission.fails``) on at least 99% of the ids (its *catch rate*, over
  ``--mutant-ids``, 100) and no other check on any id (a *double penalty*);
- the blank release and the attacks (``attack-*``), and any other submission,
  are graded as in a real batch, in the sandbox, on one id: the blank must
  fail every check without crashing the grader, an attack every check it names.

The correct versions and the bugs are the course's own code, so they run in
this process tree, without the sandbox: each submission's ``source_lib`` is
imported as a package of its own (``_nnfs_validate_<n>``, never as
``source_lib``, so the instructor's modules the checks use stay untouched),
and the probes run through the sandbox worker's ``execute``. A check's hidden
inputs and expected values depend only on the student id, so they are drawn
once per (check, id) and reused for every submission. Work units, one per
check (the Keras checks in chunks of ids), run in a pool of processes.
"""

import atexit
import contextlib
import importlib
import importlib.util
import io
import multiprocessing
import os
import random
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from .checks import Check, decide, get, probe_id, run_checks, trials_for
from .corpus import TRUSTED_KINDS, Submission, corpus, library_texts
from .course import Chapter, Course, chapter_for
from .grading import default_workers
from .probes import ProbeResult, collect, error_text
from .sandbox.policy import ONE_THREAD, QUIET_TENSORFLOW

IDS, KERAS_IDS, MUTANT_IDS = 1000, 200, 100  # the defaults of the command
CATCH_GOAL = 0.99  # a bug must be caught on at least this share of the ids
KERAS_CHUNK = 20  # ids per work unit of a Keras check (they are slow: spread them)
MAX_MESSAGE = 400  # characters of an example failure kept per row


def kind_of(sub: Submission) -> str:
    """``"correct"``, ``"mutant"`` (both run in-process) or ``"sandboxed"``.

    Only the fixtures of a trusted kind (``corpus.TRUSTED_KINDS``: the instructor's
    code and its mutants) run without the sandbox; the blank release and the attacks
    never do, whatever their names.
    """
    return sub.kind if sub.kind in TRUSTED_KINDS else "sandboxed"


def student_ids(count: int, seed: int = 0) -> list[str]:
    """``count`` distinct random student ids (the same for a given ``seed``)."""
    rng, ids, seen = random.Random(seed), [], set()
    while len(ids) < count:
        sid = f"v{rng.getrandbits(48):012x}"
        if sid not in seen:
            seen.add(sid)
            ids.append(sid)
    return ids


def is_keras(chk: Check) -> bool:
    return bool(getattr(chk, "keras", False))


# -- results ------------------------------------------------------------------


@dataclass
class CheckRow:
    """One check against the correct submissions: false failures over ids."""

    check: str
    ids: int  # ids each correct submission ran on
    false_failures: dict  # student -> number of ids on which the check failed it
    examples: dict = field(default_factory=dict)  # student -> (id, verdict message)
    error: str = None  # the check itself broke (drawing its trials, say)

    @property
    def ok(self) -> bool:
        return self.error is None and not any(self.false_failures.values())


@dataclass
class MutantRow:
    """One bug: on what share of the ids every check naming it failed, and what else failed."""

    student: str
    expected: frozenset  # the checks that must fail
    ids: int
    caught: int  # ids on which every expected check failed
    double: dict  # check not named -> number of ids on which it failed
    examples: dict = field(default_factory=dict)  # check -> (id, message) (a miss or a double)

    @property
    def rate(self) -> float:
        return self.caught / self.ids if self.ids else 0.0

    @property
    def ok(self) -> bool:
        return self.ids > 0 and self.rate >= CATCH_GOAL and not self.double


@dataclass
class Result:
    """How one sandboxed submission (blank, attack) fared against a chapter's checks."""

    student: str
    kind: str
    expected: frozenset  # the checks it must fail
    failed: frozenset = field(default_factory=frozenset)
    error: str = None  # the grader itself broke

    @property
    def caught(self) -> bool:
        """Caught when every check that names it fails."""
        return self.error is None and self.expected <= self.failed

    @property
    def false_failures(self) -> frozenset[str]:
        """Checks failed that should have passed."""
        return self.failed - self.expected

    @property
    def ok(self) -> bool:
        return self.caught and not self.false_failures


@dataclass
class ChapterReport:
    chapter: object
    checks: list  # CheckRow per check
    correct: list  # names of the correct submissions
    mutants: list  # MutantRow per bug
    sandboxed: list  # Result per sandboxed submission
    seconds: float  # work time spent on the chapter (summed over processes)

    @property
    def ok(self) -> bool:
        return (
            all(r.ok for r in self.checks)
            and all(m.ok for m in self.mutants)
            and all(r.ok for r in self.sandboxed)
        )


# -- in-process runs (one work unit: one check, some ids, the trusted submissions) --


@dataclass(frozen=True)
class Unit:
    course_root: str
    chapter: str  # the chapter's module
    check: str
    ids: tuple  # (student id, run the correct submissions, run the bugs)
    correct: tuple  # Submissions
    mutants: tuple


# what ``run_unit`` gives: (unit, {student: ([ids run], [failed ids], example)}, error, seconds)
_UnitResult = tuple[Unit, dict[str, tuple[list[str], list[str], tuple[str, str] | None]], str | None, float]


_PACKAGES = {}  # (chapter, submission, substituted modules) -> imported package name
_SCRATCH = []


def _scratch():
    if not _SCRATCH:
        _SCRATCH.append(Path(tempfile.mkdtemp(prefix="nnfs-validate-")))
        atexit.register(shutil.rmtree, _SCRATCH[0], True)
    return _SCRATCH[0]


def _package(course, chapter, sub, substitute):
    """Import ``sub``'s ``source_lib`` as a package of its own; its name.

    The modules in ``substitute`` are the instructor's (``Check.reference_modules``).
    """
    key = (chapter.module, sub, substitute)
    if key not in _PACKAGES:
        texts = library_texts(course, chapter, sub)
        if substitute:
            ours = library_texts(course, chapter, Submission("solution", "the instructor's"))
            texts.update(
                {
                    rel: text
                    for rel, text in ours.items()
                    if rel.parent == Path(".") and rel.stem in substitute
                }
            )
        name = f"_nnfs_validate_{len(_PACKAGES)}"
        folder = _scratch() / name / "source_lib"  # "source_lib" in paths, as the worker expects
        for rel, text in texts.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_text(text)
        spec = importlib.util.spec_from_file_location(
            name, folder / "__init__.py", submodule_search_locations=[str(folder)]
        )
        package = importlib.util.module_from_spec(spec)
        sys.modules[name] = package
        spec.loader.exec_module(package)
        _PACKAGES[key] = name
    return _PACKAGES[key]


def _probe_runner():
    from .sandbox import probe_runner  # imports ``wire`` by path, beside it

    return probe_runner


def _import(course, chapter, sub, chk):
    """The submission's module under test, or the error text its import gave."""
    runner = _probe_runner()
    try:
        with _quiet():
            name = _package(course, chapter, sub, tuple(chk.reference_modules))
            return importlib.import_module(f"{name}.{chk.module}"), None
    except BaseException as exc:  # a bug that does not import fails its checks
        problem = error_text(runner.student_error(exc))
        return None, f"importing source_lib.{chk.module} failed: {problem}"


@contextlib.contextmanager
def _quiet():
    """Whatever the course's code prints goes nowhere."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def _collect(note, probe):
    """A worker note as a ``ProbeResult``, read as the sandbox reads it."""
    res = ProbeResult()
    collect(note, probe, res)
    return res


def _verdict(module, problem, chk, trials, probes, reference, checking):
    if module is None:
        results = {p.id: ProbeResult(error=problem) for p in probes}
    else:
        execute = _probe_runner().execute
        results = {}
        with _quiet():
            for p in probes:
                note = execute(
                    module,
                    {"steps": p.steps, "returns": p.returns, "reference": list(p.reference_functions)},
                    p.inputs,
                    reference,
                )
                results[p.id] = _collect(note, p)
    return decide(chk, trials, results, checking)


def run_unit(unit: Unit) -> _UnitResult:
    """Run one work unit.

    Returns ``(unit, {student: ([ids run], [failed ids], example)}, error, seconds)``.
    """
    started = time.monotonic()
    outcome = {}
    try:
        course = Course(Path(unit.course_root))
        chapter = chapter_for(unit.chapter)
        chk = get(unit.check)
        checking = course.import_reference("checking")
        modules = {sub: _import(course, chapter, sub, chk) for sub in unit.correct + unit.mutants}
        for sid, with_correct, with_mutants in unit.ids:
            trials = trials_for(course, chk, sid)
            lends = any(t.reference_functions for t in trials)
            reference = course.import_reference(chk.module) if lends else None
            probes = [t.probe(probe_id(chk, i), chk.function) for i, t in enumerate(trials)]
            subs = (unit.correct if with_correct else ()) + (unit.mutants if with_mutants else ())
            for sub in subs:
                module, problem = modules[sub]
                verdict = _verdict(module, problem, chk, trials, probes, reference, checking)
                ran, failed, example = outcome.get(sub.student, ([], [], None))
                ran.append(sid)
                if not verdict.passed:
                    failed.append(sid)
                    example = example or (sid, verdict.message[:MAX_MESSAGE])
                outcome[sub.student] = (ran, failed, example)
        error = None
    except Exception:
        error = traceback.format_exc(limit=-3)
    finally:
        with contextlib.suppress(Exception):  # Keras keeps every model made: let them go
            if "keras" in sys.modules and is_keras(get(unit.check)):
                sys.modules["keras"].backend.clear_session()
    return unit, outcome, error, time.monotonic() - started


def plan(
    course: Course,
    chapter: Chapter,
    sample: Sequence[Submission],
    ids: int,
    keras_ids: int,
    mutant_ids: int,
    seed: int = 0,
) -> list[Unit]:
    """The work units of a chapter's in-process runs."""
    names = sorted(corpus(chapter.module).ALL)
    correct = tuple(s for s in sample if kind_of(s) == "correct")
    mutants = tuple(s for s in sample if kind_of(s) == "mutant")
    units = []
    for name in names:
        keras = is_keras(get(name))
        n_correct = keras_ids if keras else ids
        n_mutant = mutant_ids if mutants else 0
        every = student_ids(max(n_correct, n_mutant), seed)
        jobs = [(sid, i < n_correct and bool(correct), i < n_mutant) for i, sid in enumerate(every)]
        jobs = [job for job in jobs if job[1] or job[2]]
        size = KERAS_CHUNK if keras else max(len(jobs), 1)
        for start in range(0, max(len(jobs), 1), size):
            units.append(
                Unit(
                    str(course.root),
                    chapter.module,
                    name,
                    tuple(jobs[start : start + size]),
                    correct,
                    mutants,
                )
            )
    return units


def _worker_env(workers):
    """Environment for the pool's processes: one BLAS and TensorFlow thread each."""
    env = {**QUIET_TENSORFLOW, "MPLBACKEND": "Agg"}
    return {**env, **ONE_THREAD} if workers > 1 else env


@contextlib.contextmanager
def _environ(values):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_units(
    units: Iterable[Unit], workers: int, done: Callable[[_UnitResult], object] = lambda result: None
) -> list[_UnitResult]:
    """Run the units (the slowest first), in a pool of ``workers`` processes when > 1.

    ``done(result)`` is called as each unit's result comes in.
    """
    units = sorted(units, key=lambda u: not is_keras(get(u.check)))
    results = []
    if workers <= 1:
        with _environ({k: v for k, v in _worker_env(1).items() if k not in os.environ}):
            for unit in units:
                results.append(run_unit(unit))
                done(results[-1])
        return results
    with _environ(_worker_env(workers)):
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn")
        ) as pool:
            for future in as_completed([pool.submit(run_unit, u) for u in units]):
                results.append(future.result())
                done(results[-1])
    return results


# -- the sandboxed submissions ------------------------------------------------------


def _grade_one(course, chapter, sub, all_checks):
    """Grade one submission in the sandbox, as a real batch does, on one id (its name)."""
    expected = frozenset(all_checks if sub.fails is None else sub.fails)
    result = Result(sub.student, "blank" if sub.kind == "blank" else "attack", expected)
    try:
        with tempfile.TemporaryDirectory(prefix="nnfs-validate-") as tmp:
            for rel, text in library_texts(course, chapter, sub).items():
                path = Path(tmp) / "source_lib" / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
            verdicts = run_checks(course, tmp, sub.student, sorted(all_checks))
        result.failed = frozenset(name for name, v in verdicts.items() if not v.passed)
    except Exception as exc:  # reported in the table; the other submissions go on
        result.error = f"{type(exc).__name__}: {exc}"
    return result


# -- the whole run --------------------------------------------------------------


def validate(
    course: Course,
    chapters: Sequence[Chapter],
    ids: int = IDS,
    keras_ids: int = KERAS_IDS,
    mutant_ids: int = MUTANT_IDS,
    workers: int | None = None,
    seed: int = 0,
    samples: Mapping[str, Iterable[Submission]] | None = None,
    log: Callable[[str], object] = print,
) -> list[ChapterReport]:
    """Validate the trusted checks on every chapter's sample class; one ``ChapterReport`` each.

    ``samples`` maps a chapter's module to the submissions to use instead of
    its ``SAMPLE_CLASS`` (tests); ``seed`` picks the random student ids.
    """
    workers = workers or default_workers()
    samples = samples or {}
    sample_of = {c.module: list(samples.get(c.module) or corpus(c.module).SAMPLE_CLASS) for c in chapters}
    units = [
        u for c in chapters for u in plan(course, c, sample_of[c.module], ids, keras_ids, mutant_ids, seed)
    ]
    left = {c.module: sum(u.chapter == c.module for u in units) for c in chapters}
    work = dict.fromkeys(left, 0.0)

    def progress(result):
        unit, seconds = result[0], result[3]
        left[unit.chapter] -= 1
        work[unit.chapter] += seconds
        if not left[unit.chapter]:
            log(
                f"{chapter_for(unit.chapter).assignment}: every check run in-process "
                f"({work[unit.chapter]:.0f} s of work)"
            )

    done = run_units(units, workers, progress)
    reports = []
    for chapter in chapters:
        started = time.monotonic()
        sample = sample_of[chapter.module]
        names = sorted(corpus(chapter.module).ALL)
        sandboxed = [s for s in sample if kind_of(s) == "sandboxed"]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(
                pool.map(partial(_grade_one, course, chapter, all_checks=frozenset(names)), sandboxed)
            )
        mine = [d for d in done if d[0].chapter == chapter.module]
        seconds = sum(d[3] for d in mine) + time.monotonic() - started
        report = _report(chapter, names, sample, mine, results, seconds)
        reports.append(report)
        _log_problems(report, log)
    return reports


def _report(chapter, names, sample, done, sandboxed, seconds):
    correct = [s.student for s in sample if kind_of(s) == "correct"]
    mutants = [s for s in sample if kind_of(s) == "mutant"]
    ran, failed, examples, errors = {}, {}, {}, {}  # keyed by (check, student)
    for unit, outcome, error, _ in done:
        if error:
            errors.setdefault(unit.check, error)
        for student, (ids, fails, example) in outcome.items():
            key = (unit.check, student)
            ran.setdefault(key, set()).update(ids)
            failed.setdefault(key, set()).update(fails)
            if example and key not in examples:
                examples[key] = example
    checks = []
    for name in names:
        count = max((len(ran.get((name, s), ())) for s in correct), default=0)
        checks.append(
            CheckRow(
                name,
                count,
                {s: len(failed.get((name, s), ())) for s in correct},
                {s: examples[name, s] for s in correct if (name, s) in examples},
                errors.get(name),
            )
        )
    rows = []
    for sub in mutants:
        expected = frozenset(names if sub.fails is None else sub.fails)
        ids = set().union(*(ran.get((n, sub.student), set()) for n in names))
        fails = {n: failed.get((n, sub.student), set()) for n in names}
        caught = [sid for sid in ids if all(sid in fails[n] for n in expected)]
        double = {n: len(fails[n]) for n in names if n not in expected and fails[n]}
        notes = {}
        for n in sorted(expected):
            missed = sorted(ids - fails[n])
            if missed:
                notes[n] = (missed[0], "passed, though it names this bug")
        for n in double:
            notes[n] = examples.get((n, sub.student), ("?", ""))
        rows.append(MutantRow(sub.student, expected, len(ids), len(caught), double, notes))
    return ChapterReport(chapter, checks, correct, rows, sandboxed, seconds)


def _log_problems(report, log):
    a = report.chapter.assignment
    for row in report.checks:
        if row.error:
            log(f"{a}: {row.check} could not run:\n{row.error}")
        for student, count in row.false_failures.items():
            if count:
                sid, message = row.examples.get(student, ("?", ""))
                log(
                    f"{a}: {row.check} fails {student} on {count} of {row.ids} ids, "
                    f"e.g. student {sid}: {message}"
                )
    for m in report.mutants:
        if m.rate < CATCH_GOAL:
            log(
                f"{a}: {m.student} caught on {m.caught} of {m.ids} ids ({m.rate:.1%}, "
                f"goal {CATCH_GOAL:.0%})"
                + "".join(
                    f"; {n} passes it, e.g. for student {e[0]}"
                    for n, e in sorted(m.examples.items())
                    if n in m.expected
                )
            )
        for n, count in sorted(m.double.items()):
            sid, message = m.examples.get(n, ("?", ""))
            log(
                f"{a}: {m.student} also fails {n} (double penalty) on {count} of {m.ids} ids, "
                f"e.g. student {sid}: {message}"
            )
    for r in report.sandboxed:
        if not r.ok:
            log(f"{a}: {r.student} ({r.kind}, sandboxed): " + (r.error or _problem(r)))


def _problem(result):
    parts = []
    if result.expected - result.failed:
        parts.append(
            "passed " + ", ".join(sorted(result.expected - result.failed)) + ", which should catch it"
        )
    if result.false_failures:
        parts.append("failed " + ", ".join(sorted(result.false_failures)) + ", which should pass")
    return "; ".join(parts)
