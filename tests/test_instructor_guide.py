"""Every command of the instructor guide (book/instructor.md) is run by a test, as written.

The commands are those of the guide's ```bash blocks, one a line (prose mentions
such as `jupyter lab` are not commands to run). The fixtures that run them record
every command line in ``conftest.RAN``; the guide test requests them all, so they
have run before it whatever the order, and then looks each command up there with
exactly the guide's arguments, in the guide's order. The only differences allowed:

- the guide's example scheduler address (``tcp://10.0.0.5:8786``) is the test
  cluster's real address on loopback;
- the test's ``dask scheduler`` has conftest's ``DASK_SCHEDULER_LOOPBACK`` arguments
  after the guide's (loopback, a free port, no dashboard), and nothing else;
- ``bash scripts/test.sh`` is not run by a test (the suite cannot run itself): CI
  runs it, which ``test_ci_runs_the_test_suite`` checks.

Here too: ``autograder links`` against a fixture book whose links point at a
local HTTP server, one link answering 200 and one 404.
"""

import re
import shlex
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from autograder.course import CHAPTERS, Course
from conftest import DASK_SCHEDULER_LOOPBACK, RAN, REPO, autograder

GUIDE = REPO / "book" / "instructor.md"
VENV_BIN = ".venv/bin/"
# The guide's example address of a Dask scheduler, whatever it is: replaced by the real one.
SCHEDULER_ADDRESS = re.compile(r"tcp://[\w.-]+:\d+")
# Extra arguments the tests add to a guide command, after the guide's own (see conftest).
EXTRA_ARGS = {("dask", "scheduler"): DASK_SCHEDULER_LOOPBACK}
# Guide commands no test runs, with the reason.
NOT_RUN = {
    ("bash", "scripts/test.sh"): "the test suite cannot run itself; CI runs it "
    "(.ci/run, see test_ci_runs_the_test_suite)"
}


def bash_commands(markdown):
    """``(line, argv)`` for every command of the ```bash blocks of ``markdown``, in order.

    One command a line (a line ending in a backslash goes on), trailing ``# comments``
    dropped, ``.venv/bin/`` dropped from the program; ``line`` is the command as the
    guide writes it, without its comment.
    """
    commands, block, pending = [], False, ""
    for raw in markdown.splitlines():
        text = raw.strip()
        if not block:
            block = text.startswith("```") and text[3:].strip() == "bash"
            continue
        if text.startswith("```"):
            block = False
            continue
        if text.endswith("\\"):
            pending += text[:-1] + " "
            continue
        text, pending = pending + text, ""
        argv = shlex.split(text, comments=True)
        if argv:
            line = shlex.join(argv)
            if argv[0].startswith(VENV_BIN):
                argv[0] = argv[0][len(VENV_BIN) :]
            commands.append((line, tuple(argv)))
    return commands


def guide_commands():
    return bash_commands(GUIDE.read_text(encoding="utf-8"))


def as_guide_writes_it(argv):
    """A recorded command line without the extra arguments the tests add to it."""
    for program, extra in EXTRA_ARGS.items():
        if argv[: len(program)] == program and argv[len(argv) - len(extra) :] == extra:
            return argv[: len(argv) - len(extra)]
    return argv


def test_the_parser_reads_bash_blocks_only():
    markdown = "\n".join(
        [
            "Run `bash scripts/setup.sh` first, or `jupyter lab`.",
            "```bash",
            ".venv/bin/autograder grade --workers 2   # a comment",
            "# a line of comment",
            "",
            "dask worker tcp://10.0.0.5:8786 \\",
            "    --nthreads 1",
            "```",
            "```python",
            "print('not a command')",
            "```",
            "1. a list item:",
            "   ```bash",
            "   autograder export",
            "   ```",
            "```console",
            "$ autograder table",
            "```",
        ]
    )
    assert bash_commands(markdown) == [
        (".venv/bin/autograder grade --workers 2", ("autograder", "grade", "--workers", "2")),
        (
            "dask worker tcp://10.0.0.5:8786 --nthreads 1",
            ("dask", "worker", "tcp://10.0.0.5:8786", "--nthreads", "1"),
        ),
        ("autograder export", ("autograder", "export")),
    ]


def test_the_parser_finds_the_guides_commands():
    found = {argv for _, argv in guide_commands()}
    expected = {
        ("autograder", cmd)
        for cmd in (
            "release",
            "sample-class",
            "grade",
            "export",
            "table",
            "report",
            "validate",
            "book",
            "links",
        )
    }
    expected |= {
        ("dask", "scheduler"),
        ("dask", "worker", "tcp://10.0.0.5:8786", "--nworkers", "-1", "--nthreads", "1"),
        ("autograder", "grade", "--scheduler", "tcp://10.0.0.5:8786"),
        ("autograder", "edition", "../nnfs-student"),
    }
    assert expected <= found, f"not found in the guide's bash blocks: {expected - found}"


def test_ci_runs_the_test_suite():
    """The one guide command no test runs (NOT_RUN) is run by CI."""
    ci = (REPO / ".ci" / "run").read_text()
    assert ["bash", "scripts/test.sh"] in [shlex.split(line, comments=True) for line in ci.splitlines()]


@pytest.fixture(scope="module")
def links_checked(tmp_path_factory):
    """``autograder links`` on a fixture book whose two external links point at a local
    server: first with one that answers 404 (``broken``), then without it (``fixed``)."""
    requested = []

    class Server(BaseHTTPRequestHandler):
        def answer(self, body):
            requested.append(self.path)
            found = self.path == "/good"
            text = b"<html><body>here</body></html>" if found else b"not found"
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            if body:
                self.wfile.write(text)

        def do_HEAD(self):
            self.answer(False)

        def do_GET(self):
            self.answer(True)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    good, bad = f"{base}/good", f"{base}/missing"

    book = Course(tmp_path_factory.mktemp("links") / "book")
    book.root.mkdir()
    (book.root / "_config.yml").write_text(
        "title: Links\n"
        "execute:\n  execute_notebooks: 'off'\n"
        "sphinx:\n  config:\n    linkcheck_timeout: 10\n    linkcheck_retries: 1\n"
    )
    (book.root / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: page\n")
    (book.root / "intro.md").write_text(f"# Intro\n\nA [working link]({good}).\n")
    page = book.root / "page.md"
    page.write_text(f"# Page\n\nThe [same link]({good}).\n\nA [broken link]({bad}).\n")
    try:
        with pytest.MonkeyPatch.context() as mp:  # never through a proxy
            mp.setenv("NO_PROXY", "127.0.0.1,localhost")
            mp.setenv("no_proxy", "127.0.0.1,localhost")
            broken = autograder(book, "links", check=False)
            page.write_text(f"# Page\n\nThe [same link]({good}).\n")
            fixed = autograder(book, "links", check=False)
    finally:
        server.shutdown()
        server.server_close()
    return dict(broken=broken, fixed=fixed, good=good, bad=bad, requested=requested)


def reported(out):
    """The links ``autograder links`` reports broken, one line each, after Sphinx's own log."""
    return [line for line in out.splitlines() if line.startswith(("broken: ", "timeout: "))]


def test_links_names_the_broken_link_and_fails(links_checked):
    proc, bad = links_checked["broken"], links_checked["bad"]
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert {"/good", "/missing"} <= set(links_checked["requested"])  # both really checked
    assert reported(proc.stdout) == [
        f"broken: {bad} (page.md:5) 404 Client Error: Not Found for url: {bad}"
    ], proc.stdout
    assert "2 external links checked, 1 broken" in proc.stdout, proc.stdout


def test_links_passes_once_the_broken_link_is_gone(links_checked):
    proc = links_checked["fixed"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert reported(proc.stdout) == []
    assert "1 external links checked, 0 broken" in proc.stdout, proc.stdout


def test_export_table_and_report_as_in_the_guide(graded, exported):
    """Without arguments, as in the guide: every chapter."""
    assert str(graded.grades_csv) in exported["export"]
    for chapter in CHAPTERS:
        assert f"{chapter.assignment}: {chapter.title}" in exported["table"]
        report = graded.nbgrader_root / "reports" / f"{chapter.assignment}.html"
        assert f"{chapter.assignment}: class summary in {report}" in exported["report"]


def not_run(commands, ran, address):
    """The guide's commands (``bash_commands``) that no run of ``ran`` (``conftest.RAN``)
    matches with exit status 0, each with the runs of the same command that came closest."""
    done = {as_guide_writes_it(argv) for argv, status in ran if status == 0}
    missing = []
    for line, argv in commands:
        if argv in NOT_RUN:
            continue
        expected = tuple(address if SCHEDULER_ADDRESS.fullmatch(a) else a for a in argv)
        if expected not in done:
            near = sorted(
                {" ".join(a) + ("" if s == 0 else f" (exit status {s})") for a, s in ran if a[:2] == argv[:2]}
            )
            missing.append(f"  {line}\n    (ran instead: {'; '.join(near) or 'nothing like it'})")
    return missing


def test_a_command_run_otherwise_than_written_is_named():
    address = "tcp://127.0.0.1:41234"
    commands = bash_commands(
        "```bash\n.venv/bin/autograder report\ndask scheduler\n"
        "dask worker tcp://10.0.0.5:8786 --nthreads 1\n"
        "bash scripts/test.sh\n```\n"
    )
    ran = [
        (("autograder", "report", "ch01_feedforward"), 0),
        (("dask", "scheduler", *DASK_SCHEDULER_LOOPBACK), 0),
        (("dask", "worker", address, "--nthreads", "1"), 0),
    ]
    assert not_run(commands, ran, address) == [
        "  .venv/bin/autograder report\n    (ran instead: autograder report ch01_feedforward)"
    ]
    ran = [
        (("autograder", "report"), 1),
        (("dask", "scheduler", "--port", "8786"), 0),
        (("dask", "worker", "tcp://10.0.0.5:8786", "--nthreads", "1"), 0),
    ]
    assert [m.split("\n")[0] for m in not_run(commands, ran, address)] == [
        "  .venv/bin/autograder report",
        "  dask scheduler",
        "  dask worker tcp://10.0.0.5:8786 --nthreads 1",
    ]


@pytest.mark.last  # the book, the edition: other workers build them meanwhile
def test_every_guide_command_is_run_by_a_test(
    released, graded, exported, validated, book_html, dask_graded, links_checked, student_edition, lms_class
):
    """Each fixture requested here runs guide commands (conftest, and links above)."""
    missing = not_run(guide_commands(), RAN, dask_graded.address)
    assert not missing, (
        "guide commands that no test ran as written, with exit status 0:\n"
        + "\n".join(missing)
        + "\n(`autograder book` is not run when NNFS_BOOK_HTML is set)"
    )
