"""The trusted checks, run directly (no nbgrader) on hostile code and on corpus cases.

That every corpus submission fails exactly the checks it names is tested end to
end, through nbgrader, on the students' own ids, in ``test_grading.py``; that every
bug is caught, and nothing else fails, whatever the student's id, by ``autograder
validate`` over many ids (``test_validate.py``).
"""

import io
import os
import resource
import shutil
import struct
import tempfile
import time

import numpy as np
import pytest

from autograder.checks import REGISTRY, get, run_checks, seed_for
from autograder.corpus import corpus, library_texts
from autograder.course import CHAPTERS, Course
from autograder.probes import Limits, Probe, run_probes
from autograder.probes.lending import ZYGOTE_ADDRESS, Lender, LendingZygote, server_env
from autograder.sandbox import wire
from conftest import _parent

COURSE = Course.find()


def write_library(dest, texts):
    for rel, text in texts.items():
        (dest / "source_lib" / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / "source_lib" / rel).write_text(text)
    return dest


def test_every_registered_check_is_in_the_corpus_list():
    for chapter in CHAPTERS:
        names = corpus(chapter.module).ALL
        for name in names:
            get(name)
        mine = {n for n in REGISTRY if n.split(".")[0] in chapter.modules}
        assert mine == set(names)


def test_seeds_are_per_student_and_stable():
    assert seed_for("ada", "feedforward.sigmoid") == seed_for("ada", "feedforward.sigmoid")
    assert seed_for("ada", "feedforward.sigmoid") != seed_for("bob", "feedforward.sigmoid")


def test_wrong_shape_message_names_both_shapes(tmp_path):
    chapter = CHAPTERS[0]
    sub = next(s for s in corpus("feedforward").MUTANTS if s.student == "bug-transposed-dw1")
    write_library(tmp_path, library_texts(COURSE, chapter, sub))
    verdict = run_checks(COURSE, tmp_path, "ada", ["feedforward.back_propagation"])[
        "feedforward.back_propagation"
    ]
    assert not verdict.passed
    assert "gradient dW1: wrong shape: expected (" in verdict.message
    assert (
        "Task 1.5 (back_propagation) failed 2 of 2 hidden test cases. The smallest that failed, a random network"
        in verdict.message
    )


def module(tmp_path, body):
    (tmp_path / "source_lib").mkdir(parents=True)
    (tmp_path / "source_lib" / "__init__.py").write_text("")
    (tmp_path / "source_lib" / "m.py").write_text(body)
    return tmp_path


def probe(ref="@out"):
    return Probe("p", {"x": np.arange(3.0)}, [{"call": "f", "args": ["$x"], "as": "out"}], {"y": ref})


def test_plain_arrays_come_back(tmp_path):
    res = run_probes(module(tmp_path, "def f(x):\n    return 2 * x\n"), "m", [probe()])["p"]
    assert res.error is None
    np.testing.assert_array_equal(res.outputs["y"], [0.0, 2.0, 4.0])


@pytest.mark.parametrize(
    "body, said",
    [
        ("def f(x):\n    while True:\n        pass\n", "did not finish within 3 seconds"),
        ("import os\ndef f(x):\n    os._exit(0)\n", "stopped early"),
        ("import sys\nsys.exit(0)\n", "importing source_lib.m failed: SystemExit"),
        ("def f(x):\n    return 1 / 0\n", "ZeroDivisionError: division by zero (in m.py, line 2, in f)"),
        ("import numpy as np\ndef f(x):\n    return np.ones(1 << 31)\n", "MemoryError"),
        (
            "class Liar:\n    def __eq__(self, other):\n        return True\ndef f(x):\n    return Liar()\n",
            None,
        ),
        (
            "import numpy as np\nclass Sub(np.ndarray):\n    pass\ndef f(x):\n    return (2 * x).view(Sub)\n",
            None,
        ),
    ],
)
def test_hostile_or_broken_code_is_contained(tmp_path, body, said):
    limits = Limits(wall_seconds=3, cpu_seconds=10, memory_bytes=2 * 1024**3)
    res = run_probes(module(tmp_path, body), "m", [probe()], limits)["p"]
    if "Liar" in body:
        assert res.types == {"y": "Liar"} and not res.outputs
    elif "Sub" in body:
        assert type(res.outputs["y"]) is np.ndarray
    else:
        assert said in res.error


def test_symlinks_to_instructor_files_are_not_followed(tmp_path):
    (tmp_path / "source_lib").mkdir()
    os.symlink(COURSE.source_lib / "feedforward.py", tmp_path / "source_lib" / "feedforward.py")
    res = run_probes(tmp_path, "feedforward", [probe()])["p"]
    assert "source_lib/feedforward.py is a symbolic link" in res.error and not res.outputs


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.module)
def test_every_check_is_proven_by_a_realistic_bug(chapter):
    caught = set().union(*(m.fails for m in corpus(chapter.module).MUTANTS))
    assert caught == set(corpus(chapter.module).ALL)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.module)
def test_every_check_passes_a_correct_alternative(chapter):
    alternatives = [
        s for s in corpus(chapter.module).SAMPLE_CLASS if s.student.startswith("alt-") and s.edits
    ]
    assert alternatives and all(not s.fails for s in alternatives)


def test_no_double_penalty_a_chapter_1_bug_costs_only_chapter_1_points(tmp_path):
    """Chapter 6's network runs on the reference layers, so the bug of the corpus
    student 'bug-softmax-loss-summed' (in Chapter 1's softmax_loss) fails
    Chapter 1's check and no Chapter 6 check (the corpus test shows the latter)."""
    lenet = next(c for c in CHAPTERS if c.module == "lenet")
    sub = next(s for s in corpus("lenet").MUTANTS if s.student == "bug-softmax-loss-summed")
    assert not sub.fails
    write_library(tmp_path, library_texts(COURSE, lenet, sub))
    verdict = run_checks(COURSE, tmp_path, sub.student, ["feedforward.softmax_loss"])
    assert not verdict["feedforward.softmax_loss"].passed


def test_reference_functions_are_used_only_where_a_check_asks(tmp_path):
    """Task 5.3 runs on the course's cost; Task 5.2 on the student's own."""
    chapter = next(c for c in CHAPTERS if c.module == "autoencoder")
    sub = next(s for s in corpus("autoencoder").MUTANTS if s.student == "bug-kl-gradient-sign")
    write_library(tmp_path, library_texts(COURSE, chapter, sub))
    names = ["autoencoder.sparse_autoencoder_loss", "autoencoder.train_autoencoder"]
    verdicts = run_checks(COURSE, tmp_path, sub.student, names)
    assert not verdicts[names[0]].passed and verdicts[names[1]].passed
    # the substitution lives in the scratch copy only
    assert not (tmp_path / "source_lib" / "_reference_autoencoder.py").exists()


SOLUTION = next(s for s in corpus("feedforward").SAMPLE_CLASS if s.student == "solution")


@pytest.mark.parametrize(
    "change, said",
    [
        (
            lambda lib: (lib / "feedforward.py").unlink(),
            "source_lib/feedforward.py is missing from your submission",
        ),
        (
            lambda lib: (lib / "feedforward.py").rename(lib / "feed_forward.py"),
            "source_lib/feedforward.py is missing from your submission",
        ),
        (
            lambda lib: (lib / "feedforward.py").write_text(
                (lib / "feedforward.py").read_text().replace("def sigmoid(z):", "def sigmoid(z)")
            ),
            "importing source_lib.feedforward failed: SyntaxError",
        ),
        (
            lambda lib: (lib / "feedforward.py").write_text(
                (lib / "feedforward.py")
                .read_text()
                .replace("def sigmoid(z):", "def sigmoid(z):\n    return [str(v) for v in z]\n", 1)
            ),
            "sigmoid(z): expected a numpy array of shape (7,), got a list",
        ),
        (
            lambda lib: (lib / "feedforward.py").write_text(
                (lib / "feedforward.py")
                .read_text()
                .replace("def sigmoid(z):", "def sigmoid(z):\n    return z * np.nan\n", 1)
            ),
            "sigmoid(z): contains NaN at index (0,) (7 non-finite value(s) in all)",
        ),
    ],
)
def test_bad_submissions_are_told_what_is_wrong(tmp_path, change, said):
    write_library(tmp_path, library_texts(COURSE, CHAPTERS[0], SOLUTION))
    change(tmp_path / "source_lib")
    verdict = run_checks(COURSE, tmp_path, "ada", ["feedforward.sigmoid"])["feedforward.sigmoid"]
    assert not verdict.passed and said in verdict.message, verdict.message


def test_each_check_has_its_own_time_budget(tmp_path):
    """A slow function fails alone; the checks after it still run (in a fresh process)."""
    body = "import time\ndef slow(x):\n    time.sleep(60)\ndef fast(x):\n    return 2 * x\n"
    probes = [
        Probe(
            f"{name}-0",
            {"x": np.arange(3.0)},
            [{"call": name, "args": ["$x"], "as": "out"}],
            {"y": "@out"},
            group=name,
        )
        for name in ("fast", "slow", "fast2")
    ]
    probes[2].steps[0]["call"] = "fast"
    limits = Limits(wall_seconds=2, cpu_seconds=10)
    started = time.monotonic()
    res = run_probes(module(tmp_path, body), "m", probes, limits)
    assert time.monotonic() - started < 10
    assert res["slow-0"].error.startswith("slow did not finish within 2 seconds")
    for fast in ("fast-0", "fast2-0"):
        assert res[fast].error is None, res[fast].error
        np.testing.assert_array_equal(res[fast].outputs["y"], [0.0, 2.0, 4.0])


def test_a_slow_import_is_told_as_such_once(tmp_path):
    body = "while True:\n    pass\ndef f(x):\n    return x\n"
    probes = [
        Probe(
            f"p{i}",
            {"x": np.arange(3.0)},
            [{"call": "f", "args": ["$x"], "as": "out"}],
            {"y": "@out"},
            group=f"g{i}",
        )
        for i in range(5)
    ]
    started = time.monotonic()
    res = run_probes(module(tmp_path, body), "m", probes, Limits(wall_seconds=2, cpu_seconds=10))
    assert time.monotonic() - started < 6  # one budget, not one per check
    assert all(
        r.error.startswith("importing source_lib.m did not finish within 2 seconds") for r in res.values()
    )


def test_a_timeout_in_grading_names_the_function(tmp_path):
    write_library(tmp_path, library_texts(COURSE, CHAPTERS[0], SOLUTION))
    lib = tmp_path / "source_lib" / "feedforward.py"
    lib.write_text(
        lib.read_text().replace(
            "def relu_forward(x):", "def relu_forward(x):\n    while True:\n        pass\n", 1
        )
    )
    names = ["feedforward.relu_forward", "feedforward.sigmoid", "feedforward.softmax_loss"]
    verdicts = run_checks(COURSE, tmp_path, "ada", names, Limits(wall_seconds=3, cpu_seconds=8))
    assert "relu_forward did not finish within 3 seconds" in verdicts[names[0]].message
    assert verdicts[names[1]].passed and verdicts[names[2]].passed


def test_student_exceptions_reach_the_verdict_short_and_plain(tmp_path):
    """A message cannot carry a payload out: type, 200 characters, the student's file and line."""
    body = "class Leak(Exception):\n    pass\ndef f(x):\n    raise Leak('\\x1b[31m' + 'A' * 100_000)\n"
    res = run_probes(module(tmp_path, body), "m", [probe()])["p"]
    assert res.error.startswith("Leak: [31m" + "A" * 190)
    assert res.error.endswith("[...] (in m.py, line 4, in f)") and len(res.error) < 260
    assert "\x1b" not in res.error


FORGED_ERROR = """
import sys, wire
_save = wire.save
def _forge(path, value):
    if isinstance(value, dict) and value.get("status") == "error":
        value["error"] = {"type": "X" * 500 + " <script>", "message": "m", "file": "/etc/passwd",
                          "line": "1; rm", "function": "f" * 1000, "inside": "\\n"}
    _save(path, value)
wire.save = _forge
def f(x):
    raise ValueError("boom")
"""


def test_a_forged_error_report_is_not_trusted(tmp_path):
    res = run_probes(module(tmp_path, FORGED_ERROR), "m", [probe()])["p"]
    assert res.error == "Exception: m"


def bomb_writer(payload):
    """source_lib code that makes the probe process write ``payload`` as every result."""
    return f"""
import os, wire
def _bomb(path, value, _data={payload!r}):
    with open(str(path) + ".part", "wb") as fh:  # whole, as wire.save: the reader's checks speak,
        fh.write(_data)                          # not a race with a half-written file
    os.replace(str(path) + ".part", path)
wire.save = _bomb
def f(x):
    return x
"""


def test_oversized_or_foreign_results_are_refused_unread(tmp_path):
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        head, {"descr": "<f8", "fortran_order": False, "shape": (100_000, 100_000)}
    )
    huge = wire.encode({"status": "ok", "arrays": {"y": np.zeros(1)}, "types": {}})
    huge = huge[: huge.rindex(b"\x93NUMPY") - 8] + struct.pack("<Q", len(head.getvalue())) + head.getvalue()
    zipped = io.BytesIO()
    np.savez_compressed(zipped, a0=np.zeros(10**7))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for name, payload, said in (
        ("huge", huge, "larger than 32 MiB"),
        ("zip", zipped.getvalue(), "not a message"),
    ):
        res = run_probes(module(tmp_path / name, bomb_writer(payload)), "m", [probe()])["p"]
        assert res.error.startswith("the results of your code could not be read back"), res.error
        assert said in res.error and not res.outputs
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024  # KiB


LINK_RESULTS = """
import os, wire
def _link(path, value):
    os.symlink("/etc/shadow", path)
wire.save = _link
def f(x):
    return x
"""


def test_a_result_that_is_a_link_is_not_followed(tmp_path):
    res = run_probes(module(tmp_path, LINK_RESULTS), "m", [probe()])["p"]
    assert res.error.startswith("the results of your code could not be read back: cannot open")
    assert "root:" not in res.error


# Task 5.3 lends the course's cost to train_autoencoder. This one hands back, as
# its "W1", every source or bytecode of that cost it can reach in its process.
READ_LENT = """
def train_autoencoder(X, hidden_size, **kwargs):
    import glob, inspect, marshal, os, sys
    found = []
    ref = sys.modules.get("source_lib._reference_autoencoder")
    fn = getattr(ref, "sparse_autoencoder_loss", None)
    for get in (lambda: inspect.getsource(fn), lambda: inspect.getsource(ref),
                lambda: marshal.dumps(fn.__code__).decode("latin-1"),
                lambda: repr([c.cell_contents for c in fn.__closure__ or ()])):
        try:
            found.append(get())
        except Exception:
            pass
    for path in glob.glob(os.path.join(os.path.dirname(__file__), "**"), recursive=True):
        try:
            found.append(open(path, encoding="latin-1").read())
        except OSError:
            pass
    text = "\\n".join(found).encode("latin-1", "replace")
    return {"W1": np.frombuffer(text, np.uint8), "b1": 0, "W2": 0, "b2": 0}, np.zeros(1)
"""


def test_lent_code_cannot_be_read_from_the_students_process(tmp_path):
    chapter = next(c for c in CHAPTERS if c.module == "autoencoder")
    write_library(
        tmp_path,
        library_texts(
            COURSE,
            chapter,
            next(  # stubs, no solution
                s for s in corpus("autoencoder").SAMPLE_CLASS if s.student == "blank"
            ),
        ),
    )
    lib = tmp_path / "source_lib" / "autoencoder.py"
    text = lib.read_text()
    start = text.index("def train_autoencoder(")
    end = text.index("\ndef ", start + 1) if "\ndef " in text[start + 1 :] else len(text)
    lib.write_text(text[:start] + READ_LENT.lstrip() + text[end:])
    chk = get("autoencoder.train_autoencoder")
    trial = chk.make_trials(np.random.default_rng(0), COURSE.import_reference("autoencoder"))[0]
    res = run_probes(
        tmp_path,
        "autoencoder",
        [trial.probe("t", "train_autoencoder")],
        reference=COURSE.source_lib / "autoencoder.py",
    )["t"]
    seen = res.outputs["W1"].astype(np.uint8).tobytes().decode("latin-1")
    assert "_stand_in(" in seen  # it did read the stand-in module
    secret = [line.strip() for line in solution_lines("autoencoder", "sparse_autoencoder_loss")]
    assert [line for line in secret if line in seen] == []


def solution_lines(module, function):
    """The lines of ``function``'s solution region in the instructor's module."""
    text = (COURSE.source_lib / f"{module}.py").read_text()
    body = text[text.index(f"def {function}(") :]
    region = body[body.index("### BEGIN SOLUTION") : body.index("### END SOLUTION")]
    return [line for line in region.splitlines()[1:] if len(line.strip()) > 12]


# Equal dimensions by design: LeNet-5's classic 28x28 images and 5x5 kernels;
# ThreeLayerConvNet's square filters (one filter_size in its API).
SQUARE_BY_DESIGN = {"lenet.build_lenet5": None, "lenet.ThreeLayerConvNet.loss": {"W1"}}


def scalars_differ(step):
    """Stride and pad, and each pair of heights and widths, differ in a probe step's arguments."""
    args = step.get("args", [])
    if step.get("call") == "conv_output_size":
        return args[2] != args[3]
    if step.get("call") == "conv_layer_cost":
        hw, cin, cout, kernel, stride, pad = args
        return hw[0] != hw[1] and cin != cout and kernel[0] != kernel[1] and stride != pad
    for param in (a for a in args if isinstance(a, dict)):
        if {"stride", "pad"} <= param.keys() and param["stride"] == param["pad"]:
            return False
        if param.get("pool_height", 0) == param.get("pool_width", 1):
            return False
    return True


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.module)
def test_hidden_inputs_have_no_two_equal_dimensions(chapter):
    """Over 300 students, no input array has two equal dimensions (a square W1 told a
    transposed dW1 "wrong values" instead of "wrong shape"), nor a stride its padding."""
    equal = []
    for name in sorted(set(corpus(chapter.module).ALL) - {"lenet.build_lenet5"}):
        chk = get(name)
        ref = COURSE.import_reference(chk.module) if chk.reference else None
        # drawing train_autoencoder's trials trains the reference: fewer students
        for student in range(20 if name == "autoencoder.train_autoencoder" else 300):
            rng = np.random.default_rng(seed_for(f"s{student}", name))
            for trial in chk.make_trials(rng, ref):
                probe = trial.probe("p")
                equal += [
                    (name, student, k, v.shape)
                    for k, v in probe.inputs.items()
                    if v.ndim >= 2 and len(set(v.shape)) < v.ndim and k not in SQUARE_BY_DESIGN.get(name, ())
                ]
                equal += [(name, student, s) for s in probe.steps if not scalars_differ(s)]
    assert equal == []


# A forward_propagation that answers zeros, and leaves a thread behind that waits
# until the course lends forward_propagation (to back_propagation's check, in the
# same process) and then rewrites its own check's results with the course's.
REWRITE_LATER = """
def forward_propagation(X, weights):
    import glob, os, sys, threading, time
    if not getattr(forward_propagation, "started", False):
        forward_propagation.started = True

        def rewrite():
            import wire
            from source_lib._reference_feedforward import forward_propagation as lent
            req, deadline = sys.argv[1], time.time() + 30
            while time.time() < deadline:
                for path in glob.glob(os.path.join(req, "forward_propagation-*.in")):
                    inputs = wire.load(path)
                    try:
                        Y, Z2, H, Z1 = lent(inputs["X"], {k: inputs[k] for k in ("W1", "b1", "W2", "b2")})
                    except Exception:
                        continue
                    wire.save(path[:-3] + ".out", {"status": "ok", "types": {}, "warnings": [],
                              "arrays": {"Y": Y, "Z2": Z2, "H": H, "Z1": Z1}})
                time.sleep(0.01)

        threading.Thread(target=rewrite, daemon=True).start()
    return (np.zeros(X.shape[0]),) * 4


def back_propagation(X, Y_T, weights):
    import time
    time.sleep(1.0)  # time for the thread, while forward_propagation is lent
    return _back_propagation(X, Y_T, weights)
"""


@pytest.fixture(params=["cold", "warm"])
def lending(request, monkeypatch):
    """The reference servers started as new interpreters ("cold"), or forked by a lending
    zygote as in a grading worker ("warm"): the checks that lend must hold either way."""
    if request.param == "cold":
        monkeypatch.delenv(ZYGOTE_ADDRESS, raising=False)
        yield None
        return
    worker = tempfile.mkdtemp(prefix="nnfs-test-")  # short: a socket's path has 107 bytes
    keeper = LendingZygote(worker)
    keeper.ready()
    try:
        yield keeper
    finally:
        keeper.stop()
        shutil.rmtree(worker)


def test_results_are_taken_before_anything_is_lent(tmp_path, lending):
    """Checks share one process; a function's check runs, and its results are read,
    before any check that lends it: rewriting them later changes nothing."""
    write_library(tmp_path, library_texts(COURSE, CHAPTERS[0], SOLUTION))
    lib = tmp_path / "source_lib" / "feedforward.py"
    text = lib.read_text().replace("def forward_propagation(X, weights):", "def _forward(X, weights):", 1)
    text = text.replace(
        "def back_propagation(X, Y_T, weights):", "def _back_propagation(X, Y_T, weights):", 1
    )
    lib.write_text(text + REWRITE_LATER)
    names = ["feedforward.back_propagation", "feedforward.forward_propagation"]
    verdicts = run_checks(COURSE, tmp_path, "ada", names)
    assert verdicts[names[0]].passed, verdicts[names[0]].message
    assert not verdicts[names[1]].passed
    assert "All zeros" in verdicts[names[1]].message or "Every value is 0" in verdicts[names[1]].message


def test_a_function_lent_to_one_check_cannot_pass_its_own(tmp_path, lending):
    """back_propagation is lent the course's forward_propagation; a forward_propagation
    that calls that stand-in gets nothing (it runs in a process that lends no such thing)."""
    write_library(tmp_path, library_texts(COURSE, CHAPTERS[0], SOLUTION))
    lib = tmp_path / "source_lib" / "feedforward.py"
    lib.write_text(
        lib.read_text().replace(
            "def forward_propagation(X, weights):\n",
            "def forward_propagation(X, weights):\n"
            "    from source_lib._reference_feedforward import forward_propagation as lent\n"
            "    return lent(X, weights)\n",
            1,
        )
    )
    names = ["feedforward.forward_propagation", "feedforward.back_propagation"]
    verdicts = run_checks(COURSE, tmp_path, "ada", names)
    assert not verdicts[names[0]].passed and verdicts[names[1]].passed


def _children(pid):
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and _parent(p) == pid]


def test_a_warm_reference_server_is_the_zygotes_fork_with_the_servers_environment(tmp_path):
    """A grading worker's lending zygote forks each reference server: it answers with the
    course's function, runs with a server's environment (a path, a language, one thread:
    none of the grader's), and is gone with its session when the Lender closes."""
    worker = tempfile.mkdtemp(prefix="nnfs-test-")  # short: a socket's path has 107 bytes
    keeper = LendingZygote(worker)
    keeper.ready()
    try:
        functions = {"feedforward": ["sigmoid"]}
        with Lender(COURSE.root / "source_lib", functions, tmp_path / "lend.sock", 30) as lender:
            assert lender.proc is None and _children(keeper.proc.pid) == [lender.pid]
            with open(f"/proc/{lender.pid}/environ", "rb") as fh:
                env = dict(v.split(b"=", 1) for v in fh.read().split(b"\0") if v)
            assert {k.decode() for k in env} == set(server_env()), env
            sigmoid = wire.stand_in(str(tmp_path / "lend.sock"), "feedforward", "sigmoid")
            np.testing.assert_allclose(sigmoid(np.array([0.0, np.log(3.0)])), [0.5, 0.75])
        deadline = time.monotonic() + 5
        while _children(keeper.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _children(keeper.proc.pid) == []
    finally:
        keeper.stop()
        shutil.rmtree(worker)
