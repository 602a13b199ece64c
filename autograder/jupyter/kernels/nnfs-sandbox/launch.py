"""Start an IPython kernel for a student's notebook under resource limits.

nbgrader's ``Execute`` starts this kernel (``c.Execute.kernel_name``) in the
student's autograded folder. Limits come from the environment with defaults:
NNFS_KERNEL_MEMORY (bytes of address space, default 8 GiB: TensorFlow reserves
a lot of virtual memory), NNFS_KERNEL_CPU (CPU seconds, default 600) and
NNFS_KERNEL_FILE (largest file written, default 64 MiB).
"""
import os
import resource
import sys


def _limit(which, env, default):
    value = int(os.environ.get(env, default))
    resource.setrlimit(which, (value, value))


_limit(resource.RLIMIT_AS, "NNFS_KERNEL_MEMORY", 8 * 1024**3)
_limit(resource.RLIMIT_CPU, "NNFS_KERNEL_CPU", 600)
_limit(resource.RLIMIT_FSIZE, "NNFS_KERNEL_FILE", 64 * 1024**2)
_limit(resource.RLIMIT_CORE, "NNFS_KERNEL_CORE", 0)

# This folder is not the student's business: import from their folder only.
here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]

from ipykernel.kernelapp import launch_new_instance  # noqa: E402

launch_new_instance()
