"""A grading worker: one submission through ``nbgrader autograde``, gradebook read only.

Run as ``python -m autograder.nbgrader_ext.autograde_one ASSIGNMENT --student=ID --force
--CourseDirectory.submitted_directory=intake`` in the nbgrader course root
(``grading.executors`` does), or as a long-lived worker, ``python -m
autograder.nbgrader_ext.autograde_one --serve`` with the same options, that grades one
submission per JSON line on stdin (``{"assignment", "student", "tmp"}``; with
``"action": "feedback"``, writes its feedback page instead) and answers each
with a JSON line on stdout, so that the local pool loads nbgrader once per
worker instead of once per submission. Run as a command, it writes the same
answer as the last line of its stdout. The answer is data, not a log to search::

    {"student": "...", "ok": false, "restart": false,
     "problems": {"<notebook>": {"kind": "unreadable-notebook", "detail": "..."}},
     "problem": {"kind": "grader-error", "detail": "..."}}

``problems``: why each notebook that failed did, decided where it failed
(``Classifying``); ``problem``: a failure outside any one notebook (or null);
``restart``: the job ran out of memory, so the worker is not to be trusted with
another. The kinds are in ``KINDS``; the grader chooses its hint by kind.

It does what ``nbgrader autograde`` does with the course's configuration
(copies the submission into ``autograded/``, sanitizes it against the
gradebook's source cells, executes it in the sandboxed kernel, lets the
trusted checks decide the grade cells) except write the gradebook:
the scores stay in the autograded notebook, and the one process that writes
the gradebook records them. Many workers can then run at once, on one machine
or on a Dask cluster, with SQLite as the gradebook.

The grader points ``submitted_directory`` at the intake's sanitized copies
(``autograder/intake.py``): what students handed in is never read here.
"""

import ctypes
import json
import os
import re
import resource
import shutil
import signal
import sys
import tempfile
import threading
import traceback
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TextIO

import jinja2
import jinja2.bccache
import nbformat
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbconvert.exporters import HTMLExporter, TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.strings import clean_html
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter
from nbgrader import utils
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps.autogradeapp import AutogradeApp
from nbgrader.converters import Autograde, GenerateFeedback, NbGraderException
from nbgrader.converters.base import BaseConverter
from nbgrader.preprocessors import AssignLatePenalties, SaveAutoGrades
from nbgrader.preprocessors.execute import UnresponsiveKernelError
from traitlets import Bool, default

from . import warm
from .engines import keep_engines

# The worker's own temporary folder; each job's is set in TMPDIR while it runs.
WORKER_TMP = tempfile.gettempdir()

# The preprocessors of the autograde pipeline that write the gradebook.
GRADEBOOK_WRITERS = (SaveAutoGrades, AssignLatePenalties)

# Why a notebook could not be graded. The worker decides all but two: "missing-notebook"
# (the grader, from the intake's copy) and, when the worker never answered, "timeout"
# (the grader stopped it) or "worker-died".
KINDS = (
    "missing-notebook",
    "unreadable-notebook",
    "timeout",
    "out-of-memory",
    "kernel-died",
    "worker-died",
    "grader-error",
)
DETAIL_CHARS = 300  # a detail is a line for the student's page and the grading log


def problem(kind: str, detail: object) -> dict[str, str]:
    """A failure as it crosses to the grader: its kind (one of ``KINDS``) and a short detail."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of problem: {kind!r}")
    return {"kind": kind, "detail": " ".join(str(detail).split())[:DETAIL_CHARS]}


def _first_line(exc):
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def memory_problem() -> dict[str, str]:
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    size = (
        ""
        if limit == resource.RLIM_INFINITY
        else f" (its limit is {limit / 1024**3:g} GiB, NNFS_WORKER_MEMORY)"
    )
    return problem("out-of-memory", f"the grading worker ran out of memory{size}")


class Unreadable(Exception):
    """The submitted file is not a notebook nbformat can read."""


def read_submitted(filename: str) -> None:
    """Read ``filename`` as nbgrader will, so that a file that is no notebook is told apart."""
    try:
        nbformat.read(filename, as_version=4)  # as nbgrader reads it
    except MemoryError:
        raise
    except Exception as exc:
        raise Unreadable(
            f"{os.path.basename(filename)} is not a notebook that Jupyter can open: {_first_line(exc)}"
        ) from exc


def classify(exc: BaseException) -> dict[str, str]:
    """The ``problem`` of an exception that stopped a notebook's conversion."""
    if isinstance(exc, Unreadable):
        return problem("unreadable-notebook", str(exc))
    if isinstance(exc, MemoryError):
        return memory_problem()
    if isinstance(exc, CellTimeoutError):
        # nbgrader interrupts a cell at its time limit; this one went on regardless
        return problem(
            "timeout",
            f"a cell ran past its time limit and did not stop when interrupted ({_first_line(exc)})",
        )
    if isinstance(exc, UnresponsiveKernelError):
        return problem("timeout", "the kernel stopped responding and could not be interrupted")
    if isinstance(exc, DeadKernelError):
        return problem(
            "kernel-died", "the Python kernel running the notebook died (it exited, crashed or was killed)"
        )
    return problem("grader-error", f"the grader failed: {type(exc).__name__}: {_first_line(exc)}")


class Classifying:
    """A converter mixin that records why each notebook failed, where it fails (``problems``).

    nbgrader's ``convert_notebooks`` catches what a notebook's conversion raises,
    logs it and goes on; by then only the log text is left. Here the exception is
    classified first, then nbgrader handles it as it would have.
    """

    problems = None  # notebook name (None: the submission as a whole) -> ``problem``

    def start(self) -> None:
        self.problems = {}
        super().start()

    def _classified(self, name, step, *args):
        try:
            return step(*args)
        except NbGraderException as exc:  # nbgrader's own refusal, logged already
            if name not in self.problems:
                self.problems[name] = problem("grader-error", f"nbgrader: {_first_line(exc)}")
            raise
        except Exception as exc:  # MemoryError included
            if name not in self.problems:
                self.problems[name] = classify(exc)  # nbgrader logs the traceback
            raise

    def init_assignment(self, assignment_id: str, student_id: str) -> None:
        self._classified(None, self._init_assignment, assignment_id, student_id)

    def convert_single_notebook(self, notebook_filename: str) -> None:
        name = os.path.splitext(os.path.basename(notebook_filename))[0]
        self._classified(name, self._convert, notebook_filename)

    # what the converter does, for subclasses to change
    def _init_assignment(self, assignment_id, student_id):
        super().init_assignment(assignment_id, student_id)

    def _convert(self, notebook_filename):
        super().convert_single_notebook(notebook_filename)

    def verdict(self) -> tuple[dict[str, dict[str, str]], dict[str, str] | None]:
        """``(problems, problem)``: per notebook, and for the submission as a whole."""
        problems = {name: p for name, p in (self.problems or {}).items() if name is not None}
        return problems, (self.problems or {}).get(None)


class _CompiledTemplates(jinja2.BytecodeCache):
    """Compiled Jinja templates, kept in memory for the worker's life. Jinja checks each
    against its template's source before use, so an edited template is compiled again."""

    def __init__(self) -> None:
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if bucket.key in self.compiled:
            bucket.bytecode_from_string(self.compiled[bucket.key])

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.compiled[bucket.key] = bucket.bytecode_to_string()


# an <img> tag without an alt attribute (the page's markup is nbconvert's, so tags are whole)
IMAGE_WITHOUT_ALT = re.compile(r"<img(?![^>]*\salt=)(?=[\s/>])", re.IGNORECASE)
NO_ALT = '<img alt="No description has been provided for this image"'


class _Rendered:
    """Highlighted code, rendered Markdown and cleaned HTML, kept for the worker's life (at
    most ``size`` in all, the least recently used dropped first): a chapter's pages share most of their cells (its
    text, its check cells), and rendering them again took most of a page's time. A key
    holds all its rendering depends on (the source whole, the language, the settings), so
    a student's page gets only what rendering their own cells gives."""

    def __init__(self, size: int = 4096) -> None:
        self.size, self.kept = size, OrderedDict[tuple[Any, ...], str]()
        self.lock = threading.Lock()  # a worker writes one page at a time; a library user may not

    def get(self, key: tuple[Any, ...], render: Callable[[], str]) -> str:
        with self.lock:
            if key in self.kept:
                self.kept.move_to_end(key)
                return self.kept[key]
        value = render()
        with self.lock:
            self.kept[key] = value
            if len(self.kept) > self.size:
                self.kept.popitem(last=False)
        return value


class FeedbackPage(HTMLExporter):
    """nbconvert's HTML exporter, with the worker's compiled templates and without its
    final pass. nbgrader makes a new exporter, and so a new Jinja environment, for every
    page: compiling the feedback template again took about a quarter of a page's time.
    That pass parses and writes out again the whole page (300 kB, most of it inlined CSS)
    with BeautifulSoup to mark some elements: over half of a page's time, to give images
    without alt text nbconvert's default (done here with a pattern) and to make the lab
    template's cells focusable (the feedback template, nbgrader's, is the classic one: it
    has none)."""

    compiled = _CompiledTemplates()
    rendered = _Rendered()

    @jinja2.pass_context
    def markdown2html(self, context: Any, source: str) -> str:
        cell = context.get("cell", {})
        if cell.get("attachments") or self.embed_images:  # what it renders is not all in the source
            return super().markdown2html(context, source)
        settings = (self.anchor_link_text, self.exclude_anchor_links, repr(self.lexer_options))
        return self.rendered.get(
            ("markdown", source, settings), lambda: super(FeedbackPage, self).markdown2html(context, source)
        )

    def _create_environment(self) -> jinja2.Environment:
        environment = super()._create_environment()
        environment.bytecode_cache = self.compiled
        return environment

    def from_notebook_node(
        self, nb: nbformat.NotebookNode, resources: dict[str, Any] | None = None, **kw: Any
    ) -> tuple[str, dict[str, Any]]:
        # HTMLExporter.from_notebook_node (nbconvert 7), up to its BeautifulSoup pass
        langinfo = nb.metadata.get("language_info", {})
        lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
        highlight = self.filters.get("highlight_code", _KeptHighlight(pygments_lexer=lexer, parent=self))
        resources = self._init_resources(resources)
        widgets = WidgetsDataTypeFilter(notebook_metadata=self._nb_metadata, parent=self, resources=resources)
        self.register_filter("highlight_code", highlight)
        self.register_filter("clean_html", _kept_clean_html)
        self.register_filter("filter_data_type", widgets)
        html, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        return IMAGE_WITHOUT_ALT.sub(NO_ALT, html), resources


def _kept_clean_html(element: str | bytes) -> str:
    """nbconvert's ``clean_html`` (bleach, which the template runs on every code cell's
    highlighted source: most of a page's time), each input's result kept like the rest."""
    text = element.decode() if isinstance(element, bytes) else str(element)
    return FeedbackPage.rendered.get(("clean", text), lambda: clean_html(text))


class _KeptHighlight(Highlight2HTML):
    """nbconvert's code highlighting, each cell's kept in ``FeedbackPage.rendered``."""

    def __call__(self, source: str, language: str | None = None, metadata: Any = None) -> str:
        magics = metadata.get("magics_language") if metadata else None  # the lexer it picks
        key = ("code", source, language or self.pygments_lexer, magics, repr(self.extra_formatter_options))
        return FeedbackPage.rendered.get(
            key, lambda: super(_KeptHighlight, self).__call__(source, language, metadata)
        )


class Feedback(Classifying, GenerateFeedback):
    """nbgrader's ``GenerateFeedback``, telling why a page could not be written."""

    @default("exporter_class")
    def _exporter_class_default(self) -> type[HTMLExporter]:
        return FeedbackPage


class ReadOnlyAutograde(Classifying, Autograde):
    """nbgrader's ``Autograde`` without its gradebook writes."""

    def _convert(self, notebook_filename):
        read_submitted(notebook_filename)  # the submitted file, before nbgrader sanitizes it
        super()._convert(notebook_filename)

    def _init_preprocessors(self):
        super()._init_preprocessors()
        self.exporter._preprocessors = [
            p for p in self.exporter._preprocessors if not isinstance(p, GRADEBOOK_WRITERS)
        ]

    def _init_assignment(self, assignment_id, student_id):
        # Autograde.init_assignment also creates the student and the submission
        # in the gradebook; the writer process has done that.
        BaseConverter.init_assignment(self, assignment_id, student_id)
        dest = self._format_dest(assignment_id, student_id)
        source = self.coursedir.format_path(self.coursedir.source_directory, ".", assignment_id)
        keep = {os.path.join(source, x) for x in self.exclude_overwriting.get(assignment_id, [])}
        for filename in set(utils.find_all_files(source, self.coursedir.ignore + ["*.ipynb"])) - keep:
            target = os.path.join(dest, os.path.relpath(filename, source))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy(filename, target)
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            self.notebooks = [nb for nb in self.notebooks if _known(gb, nb, assignment_id)]
        if not self.notebooks:
            raise NbGraderException(f"none of the submitted notebooks belongs to {assignment_id}")


def _known(gb, notebook, assignment_id):
    try:
        gb.find_notebook(os.path.splitext(os.path.basename(notebook))[0], assignment_id)
    except MissingEntry:
        return False
    return True


class AutogradeWorkerApp(AutogradeApp):
    name = "autograder-autograde-one"
    serve = Bool(False, help="Grade the submissions named on stdin, one JSON line each.").tag(config=True)
    flags = dict(AutogradeApp.flags, serve=({"AutogradeWorkerApp": {"serve": True}}, serve.help))

    def start(self) -> None:
        super(AutogradeApp, self).start()  # nbgrader's checks, not AutogradeApp's converter
        replies = os.fdopen(os.dup(1), "w", buffering=1)
        os.dup2(2, 1)  # whatever else prints goes to stderr, not into the answers
        if self.serve:
            return self.serve_forever(replies)
        if len(self.extra_args) != 1 or not self.coursedir.student_id.strip("*"):
            self.fail("usage: python -m autograder.nbgrader_ext.autograde_one ASSIGNMENT --student=ID")
        answer = self.do({"assignment": self.extra_args[0], "student": self.coursedir.student_id})
        replies.write(json.dumps(answer) + "\n")
        sys.exit(0 if answer["ok"] else 1)

    def serve_forever(self, replies: TextIO) -> None:
        for line in sys.stdin:
            job = json.loads(line)
            # this submission's temporary files (kernel sockets, sandboxes) in the
            # folder the grader made for it and removes, however grading ends
            tempfile.tempdir = os.environ["TMPDIR"] = job["tmp"]
            try:
                answer = self.do(job)
            finally:
                tempfile.tempdir = None
            replies.write(json.dumps(answer) + "\n")

    zygotes = None  # the warm start of this worker's kernels and probes (``warm.py``)

    def warm_up(self, assignment: str) -> None:
        """Have the zygotes ready for ``assignment``'s libraries; without them, grading goes
        on cold (every kernel and probe process a new interpreter)."""
        if self.zygotes is None:
            self.zygotes = warm.Zygotes(WORKER_TMP)
        try:
            self.zygotes.ready_for(warm.course_of(self.coursedir.root), assignment)
        except Exception:
            self.log.warning("grading without a warm start: %s", traceback.format_exc())
            self.zygotes.stop()

    def do(self, job: dict[str, str]) -> dict[str, Any]:
        """Grade a submission (or write its feedback); the answer for the grader."""
        self.coursedir.assignment_id, self.coursedir.student_id = job["assignment"], job["student"]
        make = Feedback if job.get("action") == "feedback" else ReadOnlyAutograde
        if make is ReadOnlyAutograde:
            self.warm_up(job["assignment"])
        converter, ok, whole, summary = None, False, None, False
        try:
            # the grader decides what to (re)do: always overwrite
            converter = make(coursedir=self.coursedir, parent=self, force=True)
            converter.start()
            ok = True
        except NbGraderException as exc:  # nbgrader's summary, or a refusal of its own
            whole = problem("grader-error", f"nbgrader: {_first_line(exc)}")
            summary = True
        except MemoryError:  # this submission fails; the grader restarts the worker
            whole, summary = memory_problem(), False
        except Exception as exc:  # a bug: this submission fails, not the worker
            self.log.error(traceback.format_exc())
            whole, summary = classify(exc), False
        problems, where = converter.verdict() if converter else ({}, None)
        if where:  # it failed before any notebook, classified where it did
            whole = where
        elif problems and summary:  # nbgrader's summary of the notebooks' failures: no news
            whole = None
        # out of memory, in nbgrader's conversion (which goes on) or outside it
        restart = any(p["kind"] == "out-of-memory" for p in [*problems.values(), whole] if p)
        return {
            "student": job["student"],
            "ok": ok,
            "problems": problems,
            "problem": whole,
            "restart": restart,
        }


def die_with_parent() -> None:
    """Exit when the grader that started this worker dies, even by SIGKILL (Linux).

    Otherwise a worker orphaned by a crashed grader would go on writing the
    submission's autograded folder while the rerun grades it again. The kernel
    it starts polls its own parent, this process, and follows. The grader states
    its process id (``NNFS_GRADER_PID``): if it died before this started, the
    parent seen here would already be PID 1.
    """
    parent = int(os.environ.get("NNFS_GRADER_PID", os.getppid()))
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: only the wall-time limit applies
        return
    if os.getppid() != parent:  # the parent died before prctl
        print(f"the grader (process {parent}) is gone", file=sys.stderr, flush=True)
        os._exit(1)


if __name__ == "__main__":
    die_with_parent()
    keep_engines()
    AutogradeWorkerApp.launch_instance()
