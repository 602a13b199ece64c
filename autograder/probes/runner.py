"""Run a student's ``source_lib`` in a separate, limited process (trusted side).

The submission's ``source_lib`` is copied (symlinks dropped) into a scratch
folder that is thrown away afterwards; ``autograder/sandbox`` is copied beside it
as a unit, and its ``probe_runner.py`` runs there under ``python -I``, confined by
its ``jail.py`` (no network, nothing of the course but
the scratch folder, an unprivileged user) with limits on CPU time, address
space, file size and processes. Each check (a ``group`` of probes) has its own
wall-time budget, and so has importing the module: a check that runs out of
time, or crashes the process, fails alone, and the checks after it run in a
fresh process. Results come back in ``sandbox/wire.py``'s format, their size and
headers checked before they are read: no student object, and no more than
``MAX_RESULT_BYTES`` per submission, ever reaches this process. Verdict texts
made from a student's exception keep only its type, a short message and the
student's own file and line.
"""

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Self

import numpy as np

from ..sandbox import policy, wire, zygote
from ..sandbox.jail import ignore_links, kill_session
from .lending import Lender, public_functions, stand_in_module

SANDBOX = Path(__file__).resolve().parents[1] / "sandbox"  # copied into each jail as a unit
WIRE = SANDBOX / "wire.py"
RESULT_CAPS = wire.Caps(total=64 * 1024**2, array=32 * 1024**2)  # one probe's results
MAX_RESULT_BYTES = 256 * 1024**2  # all results of one submission's probes
POLL = 0.01  # seconds between looks at the probe process's progress
MAX_MESSAGE = 200  # characters of a student's exception message in a verdict


@dataclass(frozen=True)
class Limits:
    """Per-submission limits for student code run by the trusted checks."""

    wall_seconds: float = policy.PROBE_WALL_SECONDS  # importing the module, and each check
    cpu_seconds: int = int(policy.PROBE_WALL_SECONDS)  # per check (several checks: the sum)
    memory_bytes: int = policy.PROBE_MEMORY_BYTES
    file_bytes: int = policy.PROBE_FILE_BYTES
    processes: int = policy.PROBE_PROCESSES  # processes and threads of the sandbox user

    @classmethod
    def for_wall_time(cls, wall_seconds: float, **more: int) -> Self:
        """Limits whose CPU time is the wall time and the policy's grace."""
        return cls(
            wall_seconds=wall_seconds, cpu_seconds=int(wall_seconds) + policy.CPU_GRACE_SECONDS, **more
        )

    def rlimits(self) -> dict[str, int]:
        return {
            "AS": self.memory_bytes,
            "CPU": self.cpu_seconds,
            "FSIZE": self.file_bytes,
            "NPROC": self.processes,
            **policy.FIXED_RLIMITS,
        }


@dataclass
class Probe:
    """One call sequence to run in the student's process (see ``sandbox/probe_runner.py``)."""

    id: str
    inputs: dict
    steps: list
    returns: dict
    reference_functions: list = field(default_factory=list)  # see ``Trial``
    group: str = ""  # the function under test: probes of one group share a time budget


@dataclass
class ProbeResult:
    outputs: dict = field(default_factory=dict)  # name -> ndarray
    types: dict = field(default_factory=dict)  # name -> type name that was not an array
    error: str = None  # what went wrong, worded for the student
    warnings: list = field(default_factory=list)  # numerical warnings raised (overflow in exp)


def sandbox_env(home: str | os.PathLike[str]) -> dict[str, str]:
    """The probes' whole environment: the sandbox policy's (``sandbox/policy.py``)."""
    return policy.student_env(home, os.path.dirname(sys.executable))


def _crash_reason(returncode, limits, stderr_tail):
    if returncode is not None and returncode < 0:
        sig = signal.Signals(-returncode).name
        if sig == "SIGXCPU":
            return f"your code used more than {limits.cpu_seconds} s of CPU time"
        if sig == "SIGXFSZ":
            return f"your code wrote more than {limits.file_bytes // 2**20} MiB of output"
        return f"the process running your code was killed by {sig}"
    if "MemoryError" in stderr_tail:
        return f"your code ran out of memory (limit {limits.memory_bytes // 2**30} GiB)"
    return f"the process running your code stopped early (exit code {returncode})"


def run_probes(
    submission: str | Path,
    module: str,
    probes: list[Probe],
    limits: Limits = Limits(),
    reference: str | Path | None = None,
    substitute: Sequence[str | Path] = (),
) -> dict[str, ProbeResult]:
    """Run ``probes`` against ``submission/source_lib/<module>.py``.

    Args:
        submission: folder holding the student's ``source_lib``.
        module: ``source_lib`` module name, e.g. ``"feedforward"``.
        probes: list of ``Probe``; consecutive probes of one ``group`` share a
            time budget of ``limits.wall_seconds``.
        limits: ``Limits``.
        reference: the instructor's version of the module, whose functions a
            probe's ``reference_functions`` replace by stand-ins (``lending.py``).
        substitute: instructor module files whose functions the student's
            code gets as stand-ins, instead of the student's modules of the
            same name (earlier chapters' layers, so that a function building
            on them is graded on its own code).

    Returns:
        Dict probe id -> ``ProbeResult``.
    """
    results = {p.id: ProbeResult() for p in probes}
    lib = Path(submission) / "source_lib"
    target = lib / f"{module}.py"
    if target.is_symlink() or not target.is_file():
        for res in results.values():
            res.error = (
                f"source_lib/{module}.py is a symbolic link, which the grader ignores; submit the file itself"
                if target.is_symlink()
                else f"source_lib/{module}.py is missing from your submission; "
                f"submit the whole source_lib folder next to the notebook"
            )
        return results
    probes = ordered(probes)
    # everything the run makes (the jail's mount point too) goes in here, removed however it ended
    with tempfile.TemporaryDirectory(prefix="nnfs-", ignore_cleanup_errors=True) as tmp:
        box = Path(tmp) / "box"  # all the sandbox sees and may write
        scratch, req = box / "work", box / "io"
        shutil.copytree(lib, scratch / "source_lib", ignore=ignore_links)
        req.mkdir()
        lent = _lend(scratch / "source_lib", module, probes, reference, substitute, req / "lend.sock")
        for path in SANDBOX.glob("*.py"):
            shutil.copyfile(path, box / path.name)
        groups = len({p.group for p in probes}) + 1
        lender = (
            Lender(lent[0], lent[1], req / "lend.sock", limits.cpu_seconds * groups, module=module)
            if lent
            else None
        )
        with lender or contextlib.nullcontext():
            run = _Run(box, Path(tmp) / "staging", lender, results)
            run.staging.mkdir()
            pending = list(probes)
            while pending:
                pending = _run_batch(run, module, pending, limits)
    return results


def ordered(probes: list[Probe]) -> list[Probe]:
    """``probes`` with each check (group) before every check that lends its function.

    The course lends a function only while a probe that lends it runs, and by
    then the results of that function's own check are taken (``_Run.take``).
    """
    groups = list(dict.fromkeys(p.group for p in probes))
    lends = {g: {f for p in probes if p.group == g for f in p.reference_functions} for g in groups}
    order = []
    while len(order) < len(groups):
        waiting = set(groups) - set(order)
        ready = [g for g in groups if g in waiting and not lends[g] & waiting]
        if not ready:
            raise ValueError(f"checks lend each other's functions in a cycle: {sorted(waiting)}")
        order.append(ready[0])
    return [p for g in order for p in probes if p.group == g]


@dataclass
class _Run:
    """One submission's run of probes: where they run, and what was taken back."""

    box: Path
    staging: Path  # the grader's own folder, outside the sandbox's reach
    lender: object
    results: dict
    notes: dict = field(default_factory=dict)  # probe id -> what its .out held, read at once
    budget: list = field(default_factory=lambda: [MAX_RESULT_BYTES])

    def release(self, probe):
        """Lend what ``probe`` lends (only that), then hand the sandbox its inputs."""
        if self.lender is not None:
            self.lender.allow(probe.reference_functions)
        staged = self.staging / f"{probe.id}.in"
        wire.save(staged, probe.inputs)
        try:
            os.replace(staged, self.box / "io" / f"{probe.id}.in")
        except OSError:  # the student's code put something in the way: its probe never starts
            pass

    def take(self, probe):
        """Read ``probe``'s results now: whatever runs later cannot change them."""
        self.notes[probe.id] = _load(self.box / "io" / f"{probe.id}.out", self.budget)


def _lend(scratch_lib, module, probes, reference, substitute, address):
    """Write the stand-in modules a run needs; ``(library, {module: [names]})`` to lend, or None."""
    functions = {}
    needed = sorted({f for p in probes for f in p.reference_functions})
    if reference is not None and needed:
        functions[module] = needed
        (scratch_lib / f"_reference_{module}.py").write_text(stand_in_module(module, needed, str(address)))
    for path in substitute:
        names = public_functions(path)
        functions[Path(path).stem] = names
        (scratch_lib / Path(path).name).unlink(missing_ok=True)  # the student's, or a link
        (scratch_lib / Path(path).name).write_text(stand_in_module(Path(path).stem, names, str(address)))
    if not functions:
        return None
    shutil.copyfile(WIRE, scratch_lib / "_nnfs_wire.py")
    library = Path(reference if reference is not None else substitute[0]).parent
    return library, functions


def _run_batch(run, module, pending, limits):
    """Run ``pending`` probes in one sandboxed process; the probes left for the next one.

    Importing the module has a budget of ``limits.wall_seconds``, and so has
    each group of probes, counted from the moment the group before it
    finished. A group that runs out of time, or during which the process
    ends, fails with that reason; the groups after it are returned.
    """
    box, results = run.box, run.results
    req, scratch = box / "io", box / "work"
    for stale in ("ready", "import.out"):
        (req / stale).unlink(missing_ok=True)
    request = {
        "module": module,
        "probes": [
            {
                "id": p.id,
                "inputs": f"{p.id}.in",
                "steps": p.steps,
                "returns": p.returns,
                "reference": p.reference_functions,
            }
            for p in pending
        ],
    }
    (req / "request.json").write_text(json.dumps(request))
    run.release(pending[0])
    groups = len({p.group for p in pending})
    rlimits = dict(limits.rlimits(), CPU=limits.cpu_seconds * (groups + 1))
    spec = {
        "cwd": str(scratch),
        "env": sandbox_env(scratch),
        "limits": rlimits,
        "binds": [[str(box), str(box), True]],
        "own": [str(box)],
        "cgroup": {"memory": limits.memory_bytes, "pids": limits.processes},
        "parent": os.getpid(),
    }
    log_path = box.parent / "output.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            zygote.command(
                spec,
                [sys.executable, "-I", str(box / "probe_runner.py"), str(req)],
                os.environ.get(zygote.PROBE_ADDRESS),  # the grading worker's, when it has one
            ),
            cwd=box.parent,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=dict(os.environ, TMPDIR=str(box.parent)),
            start_new_session=True,
        )
        try:
            ready, done, timed_out = _watch(proc, run, pending, limits.wall_seconds)
        finally:
            kill_session(proc)
    tail = log_path.read_bytes()[-4000:].decode("utf-8", "replace")
    crash = _crash_reason(proc.returncode, replace(limits, cpu_seconds=rlimits["CPU"]), tail)
    if not ready:
        note = _load(req / "import.out", run.budget)
        if isinstance(note, dict) and "error" in note:
            problem = f"importing source_lib.{module} failed: {error_text(note['error'])}"
        elif timed_out:
            problem = (
                f"importing source_lib.{module} did not finish within "
                f"{limits.wall_seconds:g} seconds (an infinite loop, or far too slow?)"
            )
        else:
            problem = f"importing source_lib.{module} failed: {crash}"
        for p in pending:
            results[p.id].error = problem
        return []
    for p in pending[:done]:
        collect(run.notes.pop(p.id, None), p, results[p.id])
    if done == len(pending):
        return []
    stuck = pending[done].group
    problem = (
        f"{stuck or 'your code'} did not finish within {limits.wall_seconds:g} seconds "
        f"(an infinite loop, or far too slow?)"
        if timed_out
        else crash
    )
    rest = pending[done:]
    for p in rest:
        if p.group == stuck:
            results[p.id].error = problem
    return [p for p in rest if p.group != stuck]


def _watch(proc, run, pending, seconds):
    """Wait for ``proc`` while it keeps within its budgets; take each probe's results
    as they appear and release the next probe's inputs.

    Returns ``(ready, done, timed_out)``: whether the module was imported, how
    many probes finished in order, and whether a budget ran out.
    """
    req = run.box / "io"
    ready, done, group = False, 0, None
    deadline = time.monotonic() + seconds
    while True:
        try:
            proc.wait(timeout=POLL)
            ended = True
        except subprocess.TimeoutExpired:
            ended = False
        now = time.monotonic()
        if not ready and os.path.lexists(req / "ready"):
            ready, deadline = True, now + seconds
        while ready and done < len(pending) and os.path.lexists(req / f"{pending[done].id}.out"):
            run.take(pending[done])
            done += 1
            if done < len(pending):
                run.release(pending[done])
        if ready and done < len(pending) and pending[done].group != group:
            group, deadline = pending[done].group, now + seconds  # a new check's budget
        if ended or (ready and done == len(pending)):
            return ready, done, False
        if now > deadline:
            return ready, done, True


def _load(path, budget):
    """A value the student's process wrote, or None if absent or unreadable (its size is
    charged to ``budget``, the bytes left to read for this submission)."""
    if not os.path.lexists(path):
        return None
    try:
        caps = wire.Caps(total=min(RESULT_CAPS.total, budget[0]), array=RESULT_CAPS.array)
        data = wire.read_file(path, caps.total)
        budget[0] -= len(data)
        return wire.decode(data, caps)
    except wire.WireError as exc:
        return exc


IDENTIFIER = re.compile(r"[A-Za-z_][\w.]{0,79}")
FILE_NAME = re.compile(r"[\w.-]{1,64}\.py")


def _short(text, limit=MAX_MESSAGE):
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", str(text)).strip()
    return text if len(text) <= limit else text[:limit] + " [...]"


def error_text(error: Any) -> str:
    """A student's exception, as the worker reported it, worded for the verdict.

    Only the exception type, a short message and the student's own file, line
    and function come through, each checked: the report is written by code
    the student controls.
    """
    if not isinstance(error, dict):
        return "your code raised an exception"

    def name(key):
        return (
            error.get(key) if isinstance(error.get(key), str) and IDENTIFIER.fullmatch(error[key]) else None
        )

    text = f"{name('type') or 'Exception'}: {_short(error.get('message', ''))}"
    line = error.get("line")
    if (
        isinstance(error.get("file"), str)
        and FILE_NAME.fullmatch(error["file"])
        and isinstance(line, int)
        and not isinstance(line, bool)
        and 0 < line < 10**7
    ):
        text += f" (in {error['file']}, line {line}, in {name('function') or '?'}"
        if name("inside"):
            text += f", inside the course's {name('inside')} it called"
        text += ")"
    return text


def collect(note: Any, probe: Probe, res: ProbeResult) -> None:
    """Read a worker's note of ``probe`` into ``res`` (a ``ProbeResult``), checking every field."""
    if isinstance(note, wire.WireError):  # too large, tampered or truncated: the student's loss
        res.error = f"the results of your code could not be read back: {note}"
        return
    if not isinstance(note, dict) or note.get("status") not in ("ok", "error"):
        res.error = "the results of your code could not be read back"
        return
    if note["status"] == "error":
        res.error = error_text(note.get("error"))
        return
    arrays, types = note.get("arrays"), note.get("types")
    for name, arr in arrays.items() if isinstance(arrays, dict) else ():
        if name in probe.returns and isinstance(arr, np.ndarray):
            res.outputs[name] = np.asarray(arr, dtype=np.float64)
    for name, kind in types.items() if isinstance(types, dict) else ():
        if name in probe.returns:
            res.types[name] = _short(kind)
    caught = note.get("warnings")
    res.warnings = [_short(w) for w in (caught if isinstance(caught, list) else ()) if isinstance(w, str)][:3]
