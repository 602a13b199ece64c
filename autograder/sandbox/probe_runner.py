"""Runs a student's ``source_lib`` functions on given inputs: the untrusted side.

Started by ``probes.run_probes`` as ``python -I probe_runner.py REQUEST_DIR`` in a
scratch copy of the submission, under resource limits. Everything here may be
tampered with by the student's code it imports, so it decides nothing: it only
writes plain values in ``wire.py``'s format, which the trusted side reads only
after checking their size and headers.

``REQUEST_DIR/request.json``::

    {"module": "feedforward",
     "probes": [{"id": "sigmoid-0", "inputs": "sigmoid-0.in",
                 "steps": [{"call": "sigmoid", "args": ["$z"], "as": "y"}],
                 "returns": {"sigmoid(z)": "@y"}}]}

References: ``"$name"`` is a fresh copy of an input array, ``"@step"`` a step's
result, ``"@step.0"`` / ``"@step.W1"`` an item or attribute of it (a dict's
method when it has no such key, as in ``"@net.params.update"``); dicts and
lists are resolved recursively; anything else is a literal. A step's ``call``
is a function of the module, or a reference to a callable (``"@layer"``,
``"@layer.build"``). A step ``{"value": ..., "as": name}`` makes an object that
later steps share (a ``bn_param`` dict the student's code updates in place).

Once the module is imported the worker writes ``ready`` (or ``import.out``
with the error), then for each probe, once the grader has written its inputs
``<id>.in``, ``<id>.out``: ``{"status": "ok", "arrays": {name: array},
"types": {name: type name}, "warnings": [...]}`` or ``{"status": "error",
"error": {...}}``; a probe with no ``.out`` did not finish. A probe's
``reference`` lists functions of the module that are replaced, for that probe
only, by stand-ins for the course's versions in
``source_lib/_reference_<module>.py`` (see ``lending.py``).
"""

import importlib
import json
import os
import sys
import time
import traceback
import warnings
from types import ModuleType
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # wire.py, beside this file
import wire  # noqa: E402

MAX_MESSAGE = 300  # characters of an exception's message sent back (the grader cuts again)
WAIT = 0.001  # seconds between looks for the next probe's inputs


def resolve(ref: Any, inputs: dict[str, Any], results: dict[str, Any]) -> Any:
    if isinstance(ref, str) and ref.startswith("$"):
        return np.array(inputs[ref[1:]], copy=True)
    if isinstance(ref, str) and ref.startswith("@"):
        name, *path = ref[1:].split(".")
        value = results[name]
        for key in path:
            if isinstance(value, (list, tuple)):
                if int(key) >= len(value):
                    raise TypeError(
                        f"{_what(name, results)} returned {len(value)} value(s); "
                        f"the task asks for more (see its docstring)"
                    )
                value = value[int(key)]
            elif key.isdigit() and not hasattr(value, key):
                raise TypeError(
                    f"{_what(name, results)} returned a {type(value).__name__}; "
                    f"the task asks for a tuple (see its docstring)"
                )
            elif isinstance(value, dict) and (key in value or not hasattr(value, key)):
                value = value[key]
            else:  # an object the student's code made, e.g. a Keras layer's weight
                value = getattr(value, key)
        return value
    if isinstance(ref, dict):
        return {k: resolve(v, inputs, results) for k, v in ref.items()}
    if isinstance(ref, list):
        return [resolve(v, inputs, results) for v in ref]
    return ref


def _what(step, results):
    """The name of the function whose result is ``step``, for messages."""
    return results.get("_calls", {}).get(step, step)


def to_plain(value: Any) -> tuple[np.ndarray | None, str | None]:
    """A base-class float64/int ndarray, or the name of the type that could not be one."""
    if isinstance(value, (bool, np.bool_)):
        return None, type(value).__name__
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            return None, f"ndarray of dtype {value.dtype}"
        return np.array(value, subok=False, copy=True), None
    if isinstance(value, (int, float, np.integer, np.floating)):
        return np.array(float(value)), None
    if hasattr(value, "__array__"):  # TensorFlow tensors and Keras variables
        try:
            return to_plain(np.asarray(value))
        except Exception:
            pass
    return None, type(value).__name__


def student_error(exc: BaseException) -> dict[str, str | int]:
    """The exception's type, a short message, and the innermost frame in the student's files."""
    try:
        message = str(exc)[:MAX_MESSAGE]
    except Exception:  # a student exception whose __str__ raises
        message = ""
    error = {"type": type(exc).__name__, "message": message}
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "source_lib" in f.filename]
    theirs = [f for f in frames if not os.path.basename(f.filename).startswith("_")]
    if theirs:
        f = theirs[-1]
        error.update(file=os.path.basename(f.filename), line=f.lineno, function=f.name)
        if frames[-1] is not theirs[-1]:  # raised in a course function that line called
            error["inside"] = frames[-1].name
    return error


MAX_WARNINGS = 3  # distinct warning messages sent back per probe


def execute(
    module: ModuleType, probe: dict[str, Any], inputs: dict[str, Any], reference: ModuleType | None = None
) -> dict[str, Any]:
    """Run one probe's steps against ``module``; a note of what came back (plain values).

    ``reference`` is the module whose functions replace, for this probe only,
    those named in ``probe["reference"]`` (the course's versions, or their
    stand-ins). The note is ``{"status": "ok" | "error", "arrays": {...},
    "types": {...}, "warnings": [...], "error": {...}}``: the warnings are the
    distinct numerical warnings (an overflow in ``exp``) the student's code
    raised, which the feedback may name.
    """
    results, arrays, types = {}, {}, {}
    note = {"status": "ok"}
    replaced = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            for name in probe.get("reference") or ():
                replaced[name] = getattr(module, name, None)
                setattr(module, name, getattr(reference, name))
            results["_calls"] = {s["as"]: s["call"].lstrip("@") for s in probe["steps"] if "call" in s}
            for step in probe["steps"]:
                if "value" in step:  # an object later steps share, e.g. a bn_param dict
                    results[step["as"]] = resolve(step["value"], inputs, results)
                    continue
                if step["call"].startswith("@"):  # a method of an object made by an earlier step
                    func = resolve(step["call"], inputs, results)
                else:
                    func = getattr(module, step["call"], None)
                if not callable(func):
                    raise AttributeError(
                        f"source_lib.{module.__name__.split('.')[-1]} has no function {step['call']}"
                    )
                args = resolve(step.get("args", []), inputs, results)
                kwargs = resolve(step.get("kwargs", {}), inputs, results)
                results[step["as"]] = func(*args, **kwargs)
            for name, ref in probe["returns"].items():
                try:
                    value = resolve(ref, inputs, results)
                except (LookupError, TypeError, ValueError) as exc:
                    types[name] = f"nothing usable ({type(exc).__name__}: {exc})"
                    continue
                arr, bad_type = to_plain(value)
                if bad_type is None:
                    arrays[name] = arr
                else:
                    types[name] = bad_type
        except BaseException as exc:  # SystemExit from student code included
            note = {"status": "error", "error": student_error(exc)}
        finally:
            for name, original in replaced.items():
                setattr(module, name, original)
    numerical = []
    for w in caught:
        text = str(w.message)[:MAX_MESSAGE]
        if issubclass(w.category, RuntimeWarning) and text not in numerical:
            numerical.append(text)
    note.update(
        arrays=arrays, types={k: v[:MAX_MESSAGE] for k, v in types.items()}, warnings=numerical[:MAX_WARNINGS]
    )
    return note


def run_probe(module: ModuleType, probe: dict[str, Any], request_dir: str) -> None:
    # the grader hands over a probe's inputs once it has taken the results of
    # the one before (and changed what the course lends to suit this one)
    path = os.path.join(request_dir, probe["inputs"])
    while not os.path.exists(path):
        time.sleep(WAIT)
    inputs = wire.load(path)
    reference = None
    if probe.get("reference"):
        reference = importlib.import_module(f"source_lib._reference_{module.__name__.split('.')[-1]}")
    wire.save(os.path.join(request_dir, probe["id"] + ".out"), execute(module, probe, inputs, reference))


def main(request_dir: str) -> None:
    with open(os.path.join(request_dir, "request.json")) as fh:
        request = json.load(fh)
    sys.path.insert(0, os.getcwd())  # the scratch copy holding the student's source_lib
    try:
        module = importlib.import_module("source_lib." + request["module"])
    except BaseException as exc:
        wire.save(os.path.join(request_dir, "import.out"), {"error": student_error(exc)})
        return
    open(os.path.join(request_dir, "ready"), "w").close()
    for probe in request["probes"]:
        run_probe(module, probe, request_dir)


if __name__ == "__main__":
    main(sys.argv[1])
