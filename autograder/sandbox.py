"""Run a student's ``source_lib`` in a separate, limited process (trusted side).

The submission's ``source_lib`` is copied (symlinks dropped) into a scratch
folder that is thrown away afterwards; ``worker.py`` runs there under
``python -I``, confined by ``jail.py`` (no network, nothing of the course but
the scratch folder, an unprivileged user) with limits on wall time, CPU time,
address space, file size and processes. Results come back as ``.npz`` arrays
read with ``allow_pickle=False``: no student object ever reaches this process.
"""
import ast
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .jail import ignore_links

WORKER = Path(__file__).resolve().parent / "worker.py"
JAIL = Path(__file__).resolve().parent / "jail.py"


@dataclass(frozen=True)
class Limits:
    """Per-submission limits for student code run by the trusted checks."""

    wall_seconds: float = 60.0
    cpu_seconds: int = 60
    memory_bytes: int = 4 * 1024**3
    file_bytes: int = 64 * 1024**2
    processes: int = 256  # processes and threads of the sandbox user

    def rlimits(self):
        return {"AS": self.memory_bytes, "CPU": self.cpu_seconds, "FSIZE": self.file_bytes,
                "NPROC": self.processes, "NOFILE": 1024, "CORE": 0}


@dataclass
class Probe:
    """One call sequence to run in the student's process (see ``worker.py``)."""

    id: str
    inputs: dict
    steps: list
    returns: dict
    reference_functions: list = field(default_factory=list)  # see ``Trial``


@dataclass
class ProbeResult:
    outputs: dict = field(default_factory=dict)  # name -> ndarray
    types: dict = field(default_factory=dict)  # name -> type name that was not an array
    error: str = None  # what went wrong, worded for the student


def sandbox_env(home):
    """A minimal environment: no proxies, one BLAS thread, offline data, quiet TensorFlow."""
    env = {
        "PATH": os.path.dirname(sys.executable) + ":/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "NNFS_OFFLINE": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "TF_ENABLE_ONEDNN_OPTS": "0",
        "PYTHONHASHSEED": "0",
        "MPLBACKEND": "Agg",
    }
    # Set on some processors because older OpenBLAS builds miscompute there.
    for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def _crash_reason(returncode, timed_out, limits, stderr_tail):
    if timed_out:
        return (f"your code did not finish within {limits.wall_seconds:g} seconds "
                f"(an infinite loop, or far too slow?)")
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


def kill_session(proc):
    """Kill ``proc``'s whole session (started with ``start_new_session``) and reap it.

    Whatever the process started, a kernel or student code, dies with it.
    """
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def run_probes(submission, module, probes, limits=Limits(), reference=None, substitute=()):
    """Run ``probes`` against ``submission/source_lib/<module>.py``.

    Args:
        submission: folder holding the student's ``source_lib``.
        module: ``source_lib`` module name, e.g. ``"feedforward"``.
        probes: list of ``Probe``.
        limits: ``Limits`` for the whole run.
        reference: the instructor's version of the module, copied into the
            scratch folder as ``source_lib/_reference_<module>.py`` when a
            probe substitutes some of its functions (``reference_functions``).
        substitute: instructor module files that replace the student's of the
            same name in the scratch folder (earlier chapters' layers, so that
            a function building on them is graded on its own code).

    Returns:
        Dict probe id -> ``ProbeResult``.
    """
    results = {p.id: ProbeResult() for p in probes}
    lib = Path(submission) / "source_lib"
    if not (lib / f"{module}.py").is_file():
        for res in results.values():
            res.error = (f"source_lib/{module}.py is missing from your submission; "
                         f"submit the whole source_lib folder next to the notebook")
        return results
    with tempfile.TemporaryDirectory(prefix="nnfs-") as tmp:
        box = Path(tmp) / "box"  # all the sandbox sees and may write
        scratch, req = box / "work", box / "io"
        shutil.copytree(lib, scratch / "source_lib", ignore=ignore_links)
        if reference is not None and any(p.reference_functions for p in probes):
            needed = sorted({f for p in probes for f in p.reference_functions})
            (scratch / "source_lib" / f"_reference_{module}.py").write_text(
                only_functions(Path(reference).read_text(), needed))
        for path in substitute:
            shutil.copyfile(path, scratch / "source_lib" / Path(path).name)
        req.mkdir()
        shutil.copyfile(WORKER, box / "worker.py")
        for p in probes:
            np.savez(req / f"{p.id}.in.npz", **p.inputs)
        request = {"module": module,
                   "probes": [{"id": p.id, "inputs": f"{p.id}.in.npz", "steps": p.steps,
                               "returns": p.returns, "reference": p.reference_functions}
                              for p in probes]}
        (req / "request.json").write_text(json.dumps(request))
        spec = {"cwd": str(scratch), "env": sandbox_env(scratch), "limits": limits.rlimits(),
                "binds": [[str(box), str(box), True]], "own": [str(box)],
                "cgroup": {"memory": limits.memory_bytes, "pids": limits.processes}}
        log = (Path(tmp) / "output.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-I", str(JAIL), json.dumps(spec), "--",
             sys.executable, "-I", str(box / "worker.py"), str(req)],
            cwd=tmp, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        timed_out = False
        try:
            proc.wait(timeout=limits.wall_seconds)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            kill_session(proc)
            log.close()
        tail = (Path(tmp) / "output.log").read_bytes()[-4000:].decode("utf-8", "replace")
        crash = _crash_reason(proc.returncode, timed_out, limits, tail)
        import_note = req / "import.json"
        if import_note.exists():
            message = _read_note(import_note).get("error", "unknown error")
            for res in results.values():
                res.error = f"importing source_lib.{module} failed: {message}"
            return results
        for p in probes:
            _collect(req, p, results[p.id], crash)
    return results


def only_functions(source, names):
    """``source`` with only the top-level functions and classes that ``names`` need.

    The instructor's module lent to a probe (``reference_functions``) keeps
    those functions and whatever they use; the rest, the function under test
    above all, is not in the sandbox for student code to import or read.
    """
    tree = ast.parse(source)
    defs = {node.name: node for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    keep, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in defs and name not in keep:
            keep.add(name)
            todo += [n.id for n in ast.walk(defs[name]) if isinstance(n, ast.Name)]
    tree.body = [node for node in tree.body if getattr(node, "name", None) not in defs
                 or node.name in keep]
    return ast.unparse(tree) + "\n"


def _read_note(path):
    try:
        note = json.loads(path.read_text()[:100_000])
    except (OSError, ValueError):
        return {}
    return note if isinstance(note, dict) else {}


def _collect(req, probe, res, crash):
    note_path = req / f"{probe.id}.out.json"
    if not note_path.exists():
        res.error = crash
        return
    note = _read_note(note_path)
    if note.get("status") != "ok":
        res.error = str(note.get("error", "unknown error"))[:2000]
        return
    names = note.get("names", [])
    try:
        with np.load(req / f"{probe.id}.out.npz", allow_pickle=False) as data:
            arrays = [data[f"a{i}"] for i in range(len(names))]
    except Exception as exc:  # a tampered or truncated file is the student's loss
        res.error = f"the results of your code could not be read back ({type(exc).__name__})"
        return
    for name, arr in zip(names, arrays):
        if name in probe.returns and arr.dtype.kind in "biuf":
            res.outputs[name] = np.asarray(arr, dtype=np.float64)
    types = note.get("types", {})
    if isinstance(types, dict):
        res.types = {str(k)[:200]: str(v)[:200] for k, v in types.items() if k in probe.returns}
