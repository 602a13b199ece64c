"""Trusted checks: the hidden tests that decide a graded function's points.

A check draws inputs from a seed derived from the student and the check (so a
hard-coded answer fails, and a regrade gives the same inputs), runs the
student's function on them in the sandbox, and compares what comes back with
the instructor's ``source_lib`` using ``source_lib.checking.compare``.

Tolerances: a value passes when ``|actual - expected| <= atol + rtol *
|expected|`` elementwise, with ``rtol = 1e-5`` and ``atol = 1e-6`` times the
largest magnitude in the expected array. Any correct float64 or float32
implementation passes (float32 keeps ~7 digits); every bug in the mutant corpus
is off by far more.

A chapter's checks live in ``checks/<module>.py`` and register themselves with
``@check``; a notebook's grade cell names its check in its hidden part as
``# trusted check: <module>.<function>``.
"""
import copy
import hashlib
import importlib
import re
from dataclasses import dataclass, field

import numpy as np

from ..sandbox import Limits, Probe, run_probes

RTOL = 1e-5
ATOL_SCALE = 1e-6
CHECK_RE = re.compile(r"#\s*trusted check:\s*([\w.]+)")


@dataclass
class Trial:
    """One hidden test case: inputs, the calls to make, and the expected outputs."""

    description: str  # worded for the student: "a random batch, X of shape (7, 4)"
    inputs: dict
    steps: list
    expected: dict  # return name -> expected array (the probe returns these names)
    refs: dict = field(default_factory=dict)  # return name -> reference ("@y"); default "@<name>"
    rtol: float = RTOL  # looser for float32 code such as Keras layers
    atol_scale: float = ATOL_SCALE
    # For results with many right answers, such as trained parameters: names
    # whose expected value is None are left to ``judge(outputs)``, called after
    # the other names compared equal; it returns a message for the student or None.
    judge: callable = None
    # Functions of the module under test replaced by the instructor's for this
    # trial, so that a function is graded apart from the ones it builds on.
    reference_functions: tuple = ()

    def probe(self, probe_id, group=""):
        returns = {name: self.refs.get(name, "@" + name) for name in self.expected}
        inputs = dict(self.inputs)

        def lift(value):  # arrays inside step arguments travel as inputs, not JSON
            if isinstance(value, np.ndarray):
                name = f"_arg{len(inputs)}"
                inputs[name] = value
                return "$" + name
            if isinstance(value, dict):
                return {k: lift(v) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [lift(v) for v in value]
            return value

        return Probe(probe_id, inputs, lift(self.steps), returns, list(self.reference_functions),
                     group)


@dataclass
class Check:
    name: str  # "<module>.<function>"
    task: str  # "1.1"
    make_trials: callable  # (rng, reference module or None) -> list of Trial
    reference: bool = True  # import the instructor's module for make_trials
    # earlier chapters' modules graded as the instructor's (COURSE_SPEC 6, no double penalty)
    reference_modules: tuple = ()

    @property
    def module(self):
        return self.name.split(".")[0]

    @property
    def function(self):
        return self.name.split(".", 1)[1]  # "sigmoid", or "BatchNormLayer.call" for a method

    @property
    def title(self):
        return f"Task {self.task} ({self.function})"


@dataclass
class Verdict:
    check: str
    passed: bool
    message: str


REGISTRY = {}


def distinct(rng, low, high, k):
    """``k`` different ints from ``[low, high)``.

    Hidden inputs draw their dimensions with it: with no two equal, a
    transposed or mis-shaped result shows as a wrong shape, not wrong values.
    """
    return tuple(int(v) for v in rng.choice(np.arange(low, high), size=k, replace=False))


def all_distinct(*values):
    return len(set(values)) == len(values)


def layer_trial(rng, ref, description, inputs, forward, backward=None, params=(),
                grads=("dx",), lend=()):
    """A trial of a ``forward(*inputs, *params) -> (out, cache)`` layer, or of its backward.

    Without ``backward`` the trial checks ``out``. With it, the student's own
    forward makes the cache, a random ``dout`` is drawn, and the trial checks
    the gradients named ``grads`` (the return values of ``backward``, in order).
    ``lend`` are the graded functions of the module that the student's code
    gets in the instructor's version (``Trial.reference_functions``); a
    backward check lends them to the forward step too, so a lent backward
    gets the cache of the lent forward.
    """
    names = list(inputs)
    ref_args = [inputs[n].copy() for n in names] + copy.deepcopy(list(params))
    out, cache = getattr(ref, forward)(*ref_args)
    steps = [call(forward, *("$" + n for n in names), *params, as_="fwd")]
    if backward is None:
        return Trial(description, inputs, steps, {"out": out}, {"out": "@fwd.0"},
                     reference_functions=tuple(lend))
    dout = rng.standard_normal(out.shape)
    result = getattr(ref, backward)(dout.copy(), cache)
    steps.append(call(backward, "$dout", "@fwd.1", as_="bwd"))
    if len(grads) == 1:
        expected, refs = {grads[0]: result}, {grads[0]: "@bwd"}
    else:
        expected = dict(zip(grads, result))
        refs = {g: f"@bwd.{i}" for i, g in enumerate(grads)}
    return Trial(description, {**inputs, "dout": dout}, steps, expected, refs,
                 reference_functions=tuple(lend))


def layer_pair(module, forward, backward, tasks, cases, grads=("dx",), lend=((), ())):
    """Register the trusted checks of a ``forward``/``backward`` pair of layer functions.

    ``cases(rng)`` yields ``(description, inputs, params)`` per trial; the
    forward check compares ``out``, the backward check the gradients ``grads``
    (see ``layer_trial``). ``tasks`` is the pair of task numbers, ``lend`` the
    pair of ``layer_trial`` lends.
    """
    def make_trials(with_backward):
        def make(rng, ref):
            return [layer_trial(rng, ref, description, inputs, forward,
                                backward if with_backward else None, params, grads,
                                lend[with_backward])
                    for description, inputs, params in cases(rng)]
        return make

    check(f"{module}.{forward}", tasks[0])(make_trials(False))
    check(f"{module}.{backward}", tasks[1])(make_trials(True))


def call(fn, *args, as_="out", **kwargs):
    """A probe step: call the student's ``fn``; ``"$name"`` args are inputs, ``"@step"`` results."""
    return {"call": fn, "args": list(args), "kwargs": kwargs, "as": as_}


def check(name, task, reference=True, reference_modules=()):
    """Register ``make_trials(rng, ref) -> [Trial]`` as the trusted check ``name``.

    With ``reference=False`` the check computes its expected values itself and
    gets ``ref=None`` (no instructor module imported, e.g. no TensorFlow).
    ``reference_modules`` are the ``source_lib`` modules the student's code
    runs with in the instructor's version.
    """
    def register(make_trials):
        REGISTRY[name] = Check(name, task, make_trials, reference, tuple(reference_modules))
        return make_trials
    return register


def get(name):
    module = name.split(".")[0]
    importlib.import_module(f"{__name__}.{module}")
    if name not in REGISTRY:
        raise KeyError(f"no trusted check named {name!r}")
    return REGISTRY[name]


def checks_named_in(source):
    """The trusted check names in a grade cell's source."""
    return CHECK_RE.findall(source)


def seed_for(student, check_name):
    """A stable 64-bit seed per (student, check): regrades draw the same inputs."""
    digest = hashlib.sha256(f"{student}\0{check_name}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _judge(chk, trial, result, compare):
    if result.error:
        return result.error
    for name, expected in trial.expected.items():
        if name in result.types:
            shape = "" if expected is None else f" of shape {np.shape(expected)}"
            return f"{name}: expected a numpy array{shape}, got {result.types[name]}"
        if name not in result.outputs:
            return f"{name}: nothing was returned"
        if expected is None:
            continue
        scale = float(np.max(np.abs(expected))) if np.size(expected) else 0.0
        problem = compare(name, result.outputs[name], expected,
                          rtol=trial.rtol, atol=trial.atol_scale * max(scale, 1e-12))
        if problem:
            return problem
    return trial.judge(result.outputs) if trial.judge is not None else None


def run_checks(course, submission, student, names, limits=Limits()):
    """Decide the named checks for one student's submission.

    Args:
        course: the ``Course`` whose instructor ``source_lib`` is the reference.
        submission: folder holding the student's ``source_lib``.
        student: student id (seeds the inputs).
        names: trusted check names.
        limits: sandbox ``Limits``; each check has its own ``wall_seconds``.

    Returns:
        Dict name -> ``Verdict``.
    """
    compare = course.import_reference("checking").compare
    verdicts, by_module = {}, {}
    for name in names:
        chk = get(name)
        ref = course.import_reference(chk.module) if chk.reference else None
        rng = np.random.default_rng(seed_for(student, name))
        trials = chk.make_trials(rng, ref)
        # Checks run in one process per set of lent instructor functions (and
        # modules): a lent function is then reachable only from the checks that
        # lend it, never from its own (back_propagation lends forward_propagation).
        lends = frozenset(f for t in trials for f in t.reference_functions)
        by_module.setdefault((chk.module, lends, chk.reference_modules), []).append((chk, trials))
    for (module, lends, modules), items in by_module.items():
        probes = [t.probe(f"{chk.function}-{i}", chk.function) for chk, trials in items
                  for i, t in enumerate(trials)]
        reference = course.source_lib / f"{module}.py" if lends else None
        substitute = [course.source_lib / f"{m}.py" for m in modules]
        results = run_probes(submission, module, probes, limits, reference=reference,
                             substitute=substitute)
        for chk, trials in items:
            problem = None
            for i, trial in enumerate(trials):
                problem = _judge(chk, trial, results[f"{chk.function}-{i}"], compare)
                if problem:
                    verdicts[chk.name] = Verdict(
                        chk.name, False, f"{chk.title} failed on {trial.description}:\n{problem}")
                    break
            if not problem:
                verdicts[chk.name] = Verdict(
                    chk.name, True, f"{chk.title} passed "
                    + ("its hidden test case." if len(trials) == 1
                       else f"all {len(trials)} hidden test cases."))
    return verdicts
