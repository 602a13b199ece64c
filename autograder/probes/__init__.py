"""The trusted side of the sandbox: start a jailed process on a student's code, read its results.

Rule: runs in the grader's process; uses ``autograder.sandbox`` (which it copies into
each jail) and nothing above it. No student object ever reaches here: results are
plain values in ``sandbox/wire.py``'s format, checked before they are read.

- ``runner``: run probes against a submission's module under ``Limits``.
- ``lending``: the instructor's functions a check lends to student code, called over a socket.
"""

from ..sandbox.jail import kill_session
from .runner import Limits, Probe, ProbeResult, collect, error_text, run_probes, sandbox_env

__all__ = [
    "Limits",
    "Probe",
    "ProbeResult",
    "collect",
    "error_text",
    "kill_session",
    "run_probes",
    "sandbox_env",
]
