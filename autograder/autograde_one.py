"""A grading worker: one submission through ``nbgrader autograde``, gradebook read only.

Run as ``python -m autograder.autograde_one ASSIGNMENT --student=ID --force
--CourseDirectory.submitted_directory=intake`` in the nbgrader course root
(``grading.py`` does, on a Dask worker), or as a long-lived worker, ``python -m
autograder.autograde_one --serve`` with the same options, that grades one
submission per JSON line on stdin (``{"assignment", "student", "tmp"}``; with
``"action": "feedback"``, writes its feedback page instead) and answers each
with a JSON line on stdout (``{"student", "ok", "log", "restart"}``; restart:
the job ran out of memory, so the worker is not to be trusted with another),
so that the local pool loads nbgrader once per worker instead of once per
submission. It does what ``nbgrader autograde`` does with the course's
configuration (copies the submission into ``autograded/``, sanitizes it
against the gradebook's source cells, executes it in the sandboxed kernel,
lets the trusted checks decide the grade cells) except write the gradebook:
the scores stay in the autograded notebook, and the one process that writes
the gradebook records them. Many workers can then run at once, on one machine
or on a Dask cluster, with SQLite as the gradebook.

The grader points ``submitted_directory`` at the intake's sanitized copies
(``autograder/intake.py``): what students handed in is never read here.
"""
import ctypes
import json
import logging
import os
import resource
import shutil
import signal
import sys
import tempfile
import traceback

from nbgrader import utils
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps.autogradeapp import AutogradeApp
from nbgrader.converters import Autograde, GenerateFeedback, NbGraderException
from nbgrader.converters.base import BaseConverter
from nbgrader.preprocessors import AssignLatePenalties, SaveAutoGrades
from traitlets import Bool

# The preprocessors of the autograde pipeline that write the gradebook.
GRADEBOOK_WRITERS = (SaveAutoGrades, AssignLatePenalties)


class ReadOnlyAutograde(Autograde):
    """nbgrader's ``Autograde`` without its gradebook writes."""

    def _init_preprocessors(self):
        super()._init_preprocessors()
        self.exporter._preprocessors = [p for p in self.exporter._preprocessors
                                        if not isinstance(p, GRADEBOOK_WRITERS)]

    def init_assignment(self, assignment_id, student_id):
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


class _Capture(logging.Handler):
    """Keeps the log of the submission being graded, for the grader's report."""

    def __init__(self):
        super().__init__()
        self.lines = []
        self.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))

    def emit(self, record):
        self.lines.append(self.format(record))


class AutogradeWorkerApp(AutogradeApp):
    name = "autograder-autograde-one"
    serve = Bool(False, help="Grade the submissions named on stdin, one JSON line each.").tag(config=True)
    flags = dict(AutogradeApp.flags, serve=({"AutogradeWorkerApp": {"serve": True}}, serve.help))

    def start(self):
        super(AutogradeApp, self).start()  # nbgrader's checks, not AutogradeApp's converter
        if self.serve:
            return self.serve_forever()
        if len(self.extra_args) != 1 or not self.coursedir.student_id.strip("*"):
            self.fail("usage: python -m autograder.autograde_one ASSIGNMENT --student=ID")
        self.coursedir.assignment_id = self.extra_args[0]
        try:
            ReadOnlyAutograde(coursedir=self.coursedir, parent=self).start()
        except NbGraderException:
            sys.exit(1)

    def serve_forever(self):
        replies = os.fdopen(os.dup(1), "w", buffering=1)
        os.dup2(2, 1)  # whatever else prints goes to stderr, not into the replies
        capture = _Capture()
        self.log.addHandler(capture)
        for line in sys.stdin:
            job = json.loads(line)
            # this submission's temporary files (kernel sockets, sandboxes) in the
            # folder the grader made for it and removes, however grading ends
            tempfile.tempdir = os.environ["TMPDIR"] = job["tmp"]
            self.coursedir.assignment_id, self.coursedir.student_id = job["assignment"], job["student"]
            capture.lines.clear()
            ok = restart = False
            converter = GenerateFeedback if job.get("action") == "feedback" else ReadOnlyAutograde
            try:
                # the grader decides what to (re)do: always overwrite
                converter(coursedir=self.coursedir, parent=self, force=True).start()
                ok = True
            except NbGraderException:  # the reason is in the log already
                pass
            except MemoryError:  # this submission fails; the grader restarts the worker
                restart = True
                limit = resource.getrlimit(resource.RLIMIT_AS)[0]
                self.log.error("MemoryError: the grading worker ran out of memory (its limit is "
                               "%g GiB, NNFS_WORKER_MEMORY)", limit / 1024**3)
            except Exception:  # a bug: this submission fails, not the worker
                self.log.error(traceback.format_exc())
            tempfile.tempdir = None
            # nbgrader logs a MemoryError of its own conversion and goes on
            restart = restart or any("MemoryError" in line for line in capture.lines)
            log = "\n".join(capture.lines)[-4000:]
            replies.write(json.dumps({"student": job["student"], "ok": ok, "log": log,
                                      "restart": restart}) + "\n")


def die_with_parent():
    """Exit when the grader that started this worker dies, even by SIGKILL (Linux).

    Otherwise a worker orphaned by a crashed grader would go on writing the
    submission's autograded folder while the rerun grades it again. The kernel
    it starts polls its own parent, this process, and follows.
    """
    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: only the wall-time limit applies
        return
    if os.getppid() != parent:  # the parent died before prctl
        os._exit(1)


if __name__ == "__main__":
    die_with_parent()
    AutogradeWorkerApp.launch_instance()
