"""Trusted checks: the hidden tests that decide a graded function's points.

A check draws inputs from a seed derived from the student and the check (so a
hard-coded answer fails, and a regrade gives the same inputs), runs the
student's function on them in the sandbox, and compares what comes back with
the instructor's ``source_lib`` under the course's one tolerance policy,
``source_lib.checking`` (the visible checks use it too): an error of at most
1e-4 relative to the scale of the expected array.

Every hidden case of a check is run; a failed check says how many cases
failed, and for the smallest failing one (its shapes only) every result that
was wrong and why, naming the common mistake it matches
(``source_lib.mistakes``).

A chapter's checks live in ``checks/<module>.py`` and register themselves with
``@check("<module>.<function>")``, the task's function (``autograder/tasks.py``); the
notebook grade cell of that task, ``task_<chapter>_<n>_<function>``, names it in its
hidden part, ``# trusted check: <module>.<function>``, and ``tests/test_tasks.py``
checks that every grade cell names its own task's check.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import re
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from ..probes import Limits, Probe, ProbeResult, run_probes
from ..tasks import SOURCE_LIB, task_named, task_of_grade_id

if TYPE_CHECKING:
    from ..course import Course

# How a grade cell's hidden part names the check that decides it (COURSE_SPEC 5)
CHECK_RE = re.compile(r"#\s*trusted check:\s*([\w.]+)")


@dataclass
class Trial:
    """One hidden test case: inputs, the calls to make, and the expected outputs."""

    description: str  # worded for the student: "a random batch, X of shape (7, 4)"
    inputs: dict
    steps: list
    expected: dict  # return name -> expected array (the probe returns these names)
    refs: dict = field(default_factory=dict)  # return name -> reference ("@y"); default "@<name>"
    # return name -> the scale its error is measured against, where the whole
    # expected array cancels to near zero (``source_lib.checking``)
    scales: dict = field(default_factory=dict)
    # For results with many right answers, such as trained parameters: names
    # whose expected value is None are left to ``judge(outputs)``, called after
    # the other names compared equal; it returns a message for the student or None.
    judge: callable = None
    # Functions of the module under test replaced by the instructor's for this
    # trial, so that a function is graded apart from the ones it builds on.
    reference_functions: tuple = ()

    def probe(self, probe_id: str, group: str = "") -> Probe:
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

        return Probe(probe_id, inputs, lift(self.steps), returns, list(self.reference_functions), group)


@dataclass
class Check:
    name: str  # "<module>.<function>"
    task: str  # "1.1"
    make_trials: callable  # (rng, reference module or None) -> list of Trial
    reference: bool = True  # import the instructor's module for make_trials
    # earlier chapters' modules graded as the instructor's (COURSE_SPEC 6, no double penalty)
    reference_modules: tuple = ()
    keras: bool = False  # builds Keras models (slow: ``validate`` runs it on fewer ids)

    @property
    def module(self) -> str:
        return self.name.split(".")[0]

    @property
    def function(self) -> str:
        return self.name.split(".", 1)[1]  # "sigmoid", or "BatchNormLayer.call" for a method

    @property
    def title(self) -> str:
        return f"Task {self.task} ({self.function})"


@dataclass
class Verdict:
    """A check's decision, as data; ``message`` is the text the student reads."""

    check: str
    passed: bool
    message: str
    cases: int = 0  # hidden test cases run
    failed: int = 0  # of which failed
    findings: list = field(default_factory=list)  # ``checking.Finding`` of the smallest failing case


REGISTRY = {}

# a check's ``make_trials(rng, ref) -> [Trial]``; ``ref`` is the instructor's
# module, or None for a check registered with ``reference=False``
_MakeTrials = TypeVar("_MakeTrials", bound=Callable[..., list[Trial]])


def distinct(rng: np.random.Generator, low: int, high: int, k: int) -> tuple[int, ...]:
    """``k`` different ints from ``[low, high)``.

    Hidden inputs draw their dimensions with it: with no two equal, a
    transposed or mis-shaped result shows as a wrong shape, not wrong values.
    """
    return tuple(int(v) for v in rng.choice(np.arange(low, high), size=k, replace=False))


def all_distinct(*values: Hashable) -> bool:
    return len(set(values)) == len(values)


def layer_trial(
    rng: np.random.Generator,
    ref: ModuleType,
    description: str,
    inputs: dict[str, np.ndarray],
    forward: str,
    backward: str | None = None,
    params: Sequence[Any] = (),
    grads: Sequence[str] = ("dx",),
    lend: Iterable[str] = (),
    scales: Callable[[dict[str, np.ndarray], np.ndarray], dict[str, float]] | None = None,
) -> Trial:
    """A trial of a ``forward(*inputs, *params) -> (out, cache)`` layer, or of its backward.

    Without ``backward`` the trial checks ``out``. With it, the student's own
    forward makes the cache, a random ``dout`` is drawn, and the trial checks
    the gradients named ``grads`` (the return values of ``backward``, in order).
    ``lend`` are the graded functions of the module that the student's code
    gets in the instructor's version (``Trial.reference_functions``); a
    backward check lends them to the forward step too, so a lent backward
    gets the cache of the lent forward. ``scales(inputs, dout)`` gives the
    scale of gradients whose terms cancel (``Trial.scales``).
    """
    names = list(inputs)
    ref_args = [inputs[n].copy() for n in names] + copy.deepcopy(list(params))
    out, cache = getattr(ref, forward)(*ref_args)
    steps = [call(forward, *("$" + n for n in names), *params, as_="fwd")]
    if backward is None:
        return Trial(
            description, inputs, steps, {"out": out}, {"out": "@fwd.0"}, reference_functions=tuple(lend)
        )
    dout = rng.standard_normal(out.shape)
    result = getattr(ref, backward)(dout.copy(), cache)
    steps.append(call(backward, "$dout", "@fwd.1", as_="bwd"))
    if len(grads) == 1:
        expected, refs = {grads[0]: result}, {grads[0]: "@bwd"}
    else:
        expected = dict(zip(grads, result))
        refs = {g: f"@bwd.{i}" for i, g in enumerate(grads)}
    return Trial(
        description,
        {**inputs, "dout": dout},
        steps,
        expected,
        refs,
        scales=scales(inputs, dout) if scales else {},
        reference_functions=tuple(lend),
    )


def layer_pair(
    module: str,
    forward: str,
    backward: str,
    cases: Callable[[np.random.Generator], Iterable[tuple[str, dict[str, np.ndarray], tuple[Any, ...]]]],
    grads: Sequence[str] = ("dx",),
    lend: tuple[Sequence[str], Sequence[str]] = ((), ()),
    scales: Callable[[dict[str, np.ndarray], np.ndarray, tuple[Any, ...]], dict[str, float]] | None = None,
) -> None:
    """Register the trusted checks of a ``forward``/``backward`` pair of layer functions.

    ``cases(rng)`` yields ``(description, inputs, params)`` per trial; the
    forward check compares ``out``, the backward check the gradients ``grads``
    (see ``layer_trial``). ``lend`` is the
    pair of ``layer_trial`` lends; ``scales(inputs, dout, params)`` those of
    the backward check's gradients.
    """

    def make_trials(with_backward):
        def make(rng, ref):
            return [
                layer_trial(
                    rng,
                    ref,
                    description,
                    inputs,
                    forward,
                    backward if with_backward else None,
                    params,
                    grads,
                    lend[with_backward],
                    scales and (lambda i, d, p=params: scales(i, d, p)),
                )
                for description, inputs, params in cases(rng)
            ]

        return make

    check(f"{module}.{forward}")(make_trials(False))
    check(f"{module}.{backward}")(make_trials(True))


def call(fn: str, *args: Any, as_: str = "out", **kwargs: Any) -> dict[str, Any]:
    """A probe step: call the student's ``fn``; ``"$name"`` args are inputs, ``"@step"`` results."""
    return {"call": fn, "args": list(args), "kwargs": kwargs, "as": as_}


def check(
    name: str,
    reference: bool = True,
    reference_modules: Iterable[str] = (),
    keras: bool = False,
) -> Callable[[_MakeTrials], _MakeTrials]:
    """Register ``make_trials(rng, ref) -> [Trial]`` as the trusted check ``name``.

    ``name`` is its task's function, ``<module>.<qualified name>``; the task number
    comes from the task registry (``autograder/tasks.py``), so it is written once.

    With ``reference=False`` the check computes its expected values itself and
    gets ``ref=None`` (no instructor module imported, e.g. no TensorFlow).
    ``reference_modules`` are the ``source_lib`` modules the student's code
    runs with in the instructor's version. ``keras=True`` marks a check whose
    trials build Keras models (``autograder validate`` runs those on fewer ids).
    """

    def register(make_trials):
        task = task_named(name).number
        REGISTRY[name] = Check(name, task, make_trials, reference, tuple(reference_modules), keras)
        return make_trials

    return register


def get(name: str) -> Check:
    module = name.split(".")[0]
    importlib.import_module(f"{__name__}.{module}")
    if name not in REGISTRY:
        raise KeyError(f"no trusted check named {name!r}")
    return REGISTRY[name]


def checks_named_in(source: str) -> list[str]:
    """The trusted check names in a grade cell's hidden part (``# trusted check: <name>``)."""
    return CHECK_RE.findall(source)


def checks_for_grade_id(grade_id: str, source_lib: Path | None = None) -> list[str]:
    """The trusted checks that decide the notebook grade cell ``grade_id``: its task's
    (``task_1_1_sigmoid`` -> ``feedforward.sigmoid``); none for a written answer."""
    task = task_of_grade_id(grade_id, source_lib or SOURCE_LIB)
    return [task.name] if task else []


def seed_for(student: str, check_name: str) -> int:
    """A stable 64-bit seed per (student, check): regrades draw the same inputs."""
    digest = hashlib.sha256(f"{student}\0{check_name}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _judge(trial, result, checking):
    """The ``checking.Finding`` list of one hidden case (empty when it passed)."""
    if result.error:
        return [checking.Finding("error", "", {"text": result.error})]
    findings = []
    for name, expected in trial.expected.items():
        if name in result.types:
            findings.append(
                checking.Finding(
                    "type",
                    name,
                    {
                        "expected_shape": np.shape(expected) if expected is not None else "any",
                        "got": ("a " if result.types[name].isidentifier() else "") + result.types[name],
                    },
                )
            )
        elif name not in result.outputs:
            findings.append(checking.Finding("error", name, {"text": f"{name}: nothing was returned"}))
        elif expected is not None:
            found = checking.difference(
                name,
                result.outputs[name],
                expected,
                scale=trial.scales.get(name),
                inputs=trial.inputs,
                warnings=result.warnings,
            )
            if found:
                findings.append(found)
    if not findings and trial.judge is not None:
        problem = trial.judge(result.outputs)
        if problem:
            findings.append(checking.Finding("error", "", {"text": problem}))
    return findings


def _size(trial):
    return sum(int(np.size(v)) for v in trial.inputs.values())


MAX_FINDINGS = 4  # results reported of the failing case


def trials_for(course: Course, chk: Check, student: str) -> list[Trial]:
    """The hidden test cases of check ``chk`` for ``student`` (drawn from their seed)."""
    ref = course.import_reference(chk.module) if chk.reference else None
    return chk.make_trials(np.random.default_rng(seed_for(student, chk.name)), ref)


def probe_id(chk: Check, index: int) -> str:
    return f"{chk.function}-{index}"


def decide(chk: Check, trials: list[Trial], results: dict[str, ProbeResult], checking: ModuleType) -> Verdict:
    """The ``Verdict`` of ``chk`` from its trials' probe results.

    Args:
        chk: the ``Check``.
        trials: its ``Trial`` list, as ``trials_for`` drew them.
        results: probe id (``probe_id(chk, i)``) -> ``ProbeResult``.
        checking: the instructor's ``source_lib.checking`` (the tolerance policy).
    """
    failing = []
    for i, trial in enumerate(trials):
        findings = _judge(trial, results[probe_id(chk, i)], checking)
        if findings:
            failing.append((_size(trial), i, trial, findings))
    n = len(trials)
    if not failing:
        return Verdict(
            chk.name,
            True,
            f"{chk.title} passed " + ("its hidden test case." if n == 1 else f"all {n} hidden test cases."),
            cases=n,
        )
    _, _, trial, findings = min(failing, key=lambda item: item[:2])
    if n == 1:
        head = f"{chk.title} failed its hidden test case, {trial.description}:"
    elif len(failing) == 1:
        head = f"{chk.title} failed 1 of {n} hidden test cases, {trial.description}:"
    else:
        head = (
            f"{chk.title} failed {len(failing)} of {n} hidden test cases. "
            f"The smallest that failed, {trial.description}:"
        )
    lines = [f.text() for f in findings[:MAX_FINDINGS]]
    if len(findings) > MAX_FINDINGS:
        lines.append(f"... and {len(findings) - MAX_FINDINGS} more result(s) wrong")
    return Verdict(
        chk.name, False, "\n".join([head, *lines]), cases=n, failed=len(failing), findings=findings
    )


def run_checks(
    course: Course, submission: str | Path, student: str, names: Iterable[str], limits: Limits = Limits()
) -> dict[str, Verdict]:
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
    checking = course.import_reference("checking")
    verdicts, by_module = {}, {}
    for name in names:
        chk = get(name)
        trials = trials_for(course, chk, student)
        # one sandboxed process per module (and set of earlier chapters'
        # modules run in the course's version); the functions a check lends are
        # lent only while its probes run, after the lent function's own check
        # (``sandbox.ordered``)
        by_module.setdefault((chk.module, chk.reference_modules), []).append((chk, trials))
    for (module, modules), items in by_module.items():
        probes = [
            t.probe(probe_id(chk, i), chk.function) for chk, trials in items for i, t in enumerate(trials)
        ]
        lends = any(p.reference_functions for p in probes)
        reference = course.source_lib / f"{module}.py" if lends else None
        substitute = [course.source_lib / f"{m}.py" for m in modules]
        results = run_probes(submission, module, probes, limits, reference=reference, substitute=substitute)
        for chk, trials in items:
            verdicts[chk.name] = decide(chk, trials, results, checking)
    return verdicts
