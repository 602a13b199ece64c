"""One policy for student code: limits and environment of the kernel and of the probes.

Standard library only: the kernel launcher reads it inside the jail's setup, and
the trusted side (``autograder.probes``, the nbgrader preprocessors) reads the same
values. An instructor changes a limit here, or through the named variables.
"""

import os
from collections.abc import Iterator, Mapping

# A notebook's kernel: TensorFlow reserves much virtual memory, and a notebook runs
# every cell of a chapter, so its limits are wider than a probe's.
KERNEL_LIMITS = {  # rlimit name -> (environment variable, default)
    "AS": ("NNFS_KERNEL_MEMORY", 8 * 1024**3),
    "CPU": ("NNFS_KERNEL_CPU", 600),
    "FSIZE": ("NNFS_KERNEL_FILE", 64 * 1024**2),
    "NPROC": ("NNFS_KERNEL_PROCESSES", 256),
}
# A trusted check's probes: one function at a time.
PROBE_WALL_SECONDS = 60.0  # for importing the module, and again for each check
PROBE_MEMORY_BYTES = 4 * 1024**3
PROBE_FILE_BYTES = 64 * 1024**2
PROBE_PROCESSES = 256  # processes and threads of the sandbox user
CPU_GRACE_SECONDS = 5  # CPU time beyond the wall time, so the wall limit speaks first
FIXED_RLIMITS = {"NOFILE": 1024, "CORE": 0}

# TensorFlow's C++ logging and oneDNN notice: quiet, and the same numbers on every run.
QUIET_TENSORFLOW = {"TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "0"}
# One BLAS and one TensorFlow thread: a batch runs one student per core (and the book two
# chapters on two), so more threads only wait on each other; and how TensorFlow splits
# a sum between threads then no longer depends on the machine's number of cores.
ONE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
}
# What every process running student code gets: offline data, no display, fixed hashing.
STUDENT_ENV = {
    **QUIET_TENSORFLOW,
    **ONE_THREAD,
    "NNFS_OFFLINE": "1",
    "MPLBACKEND": "Agg",
    "PYTHONHASHSEED": "0",
    "LANG": "C.UTF-8",
}
# Passed on from the grader when set: older OpenBLAS builds miscompute on some processors.
PASSED_ON = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def kernel_rlimits(environ: Mapping[str, str] = os.environ) -> dict[str, int]:
    """The notebook kernel's rlimits, with the instructor's ``NNFS_KERNEL_*`` overrides."""
    limits = {name: int(environ.get(var, default)) for name, (var, default) in KERNEL_LIMITS.items()}
    return {**limits, **FIXED_RLIMITS}


def student_env(
    home: str | os.PathLike[str], python_dir: str, environ: Mapping[str, str] = os.environ
) -> dict[str, str]:
    """The whole environment of a process running student code: nothing of the grader's
    (no secrets, no proxies), but ``PATH`` to ``python_dir`` and ``HOME`` at ``home``."""
    env = dict(STUDENT_ENV, PATH=f"{python_dir}:/usr/bin:/bin", HOME=str(home))
    env.update({k: environ[k] for k in PASSED_ON if k in environ})
    return env


def kernel_env(home: str | os.PathLike[str], python_dir: str) -> dict[str, str]:
    """A notebook kernel's whole environment: ``student_env``, and IPython's and
    matplotlib's homes in ``home``."""
    env = student_env(home, python_dir)
    env.update(MPLCONFIGDIR=f"{home}/.matplotlib", IPYTHONDIR=f"{home}/.ipython")
    return env


# --- how many processes run student code at once

CGROUP_ROOT = "/sys/fs/cgroup"


def usable_cores(proc_cgroup: str = "/proc/self/cgroup", root: str = CGROUP_ROOT) -> int:
    """The cores this process can keep busy, at least 1: those it may run on (its CPU
    affinity), or fewer when its control groups' CPU quota allows less (a container
    started with ``--cpus 2``, a Kubernetes CPU limit). Rounded down: a grading worker
    over the quota is throttled, and its students' kernels would run into their time
    limits."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    quota = cpu_quota(proc_cgroup, root)
    if quota is not None:
        cores = min(cores, int(quota))
    return max(1, cores)


def cpu_quota(proc_cgroup: str = "/proc/self/cgroup", root: str = CGROUP_ROOT) -> float | None:
    """CPU seconds per second that this process's control groups allow, the smallest along
    its path (cgroup v2 ``cpu.max``, v1 ``cpu.cfs_quota_us`` over ``cpu.cfs_period_us``);
    None when nothing limits it or nothing can be read."""
    try:
        lines = _read(proc_cgroup).splitlines()
    except OSError:
        return None
    quotas = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # cgroup v2: one hierarchy, "quota period" or "max period"
            mounts = [root, os.path.join(root, "unified")]
            read = _cpu_max
        elif "cpu" in controllers.split(","):  # cgroup v1's cpu controller
            mounts = [os.path.join(root, controllers), os.path.join(root, "cpu")]
            read = _cfs_quota
        else:
            continue
        for mount in mounts:
            for folder in _ancestors(mount, path):
                quota = read(folder)
                if quota is not None:
                    quotas.append(quota)
    return min(quotas, default=None)


def _ancestors(mount: str, path: str) -> Iterator[str]:
    """``mount``/``path`` and each of its parents up to ``mount`` itself. In a container
    the mount is often its own group, under which its path does not exist: then only
    the mount is read."""
    parts = [p for p in path.split("/") if p]
    for end in range(len(parts), -1, -1):
        yield os.path.join(mount, *parts[:end])


def _cpu_max(folder: str) -> float | None:
    try:
        quota, period = _read(os.path.join(folder, "cpu.max")).split()
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        return None


def _cfs_quota(folder: str) -> float | None:
    try:
        quota = int(_read(os.path.join(folder, "cpu.cfs_quota_us")))
        period = int(_read(os.path.join(folder, "cpu.cfs_period_us")))
        return None if quota <= 0 or period <= 0 else quota / period
    except (OSError, ValueError):
        return None


def _read(path: str) -> str:
    with open(path) as fh:
        return fh.read()
