"""Run nbgrader's command line in the course's nbgrader root."""

import os
import subprocess
import sys

from ..course import Course
from ..sandbox.policy import QUIET_TENSORFLOW


class NbgraderError(RuntimeError):
    """An nbgrader command failed; the message holds the end of its log."""


def nbgrader_env(course: Course) -> dict[str, str]:
    """The environment of nbgrader's processes: the sandbox kernel on JUPYTER_PATH, quiet TensorFlow."""
    env = dict(os.environ)
    # nbgrader runs helper programs (alembic) from the environment's bin folder
    env["PATH"] = os.pathsep.join((os.path.dirname(sys.executable), env.get("PATH", "")))
    env["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(course.kernels), env.get("JUPYTER_PATH", "")) if p)
    for key, value in QUIET_TENSORFLOW.items():
        env.setdefault(key, value)
    env.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    return env


def nbgrader(course: Course, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run an nbgrader command in the course root."""
    env = nbgrader_env(course)
    cmd = [sys.executable, "-m", "nbgrader", *args]
    proc = subprocess.run(
        cmd, cwd=course.nbgrader_root, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    if check and proc.returncode != 0:
        raise NbgraderError(f"nbgrader {' '.join(args)} failed:\n{proc.stdout[-6000:]}")
    return proc
