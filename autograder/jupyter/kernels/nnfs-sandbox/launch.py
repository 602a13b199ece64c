"""Start an IPython kernel for a student's notebook, confined by ``autograder/jail.py``.

nbgrader's ``Execute`` starts this kernel (``c.Execute.kernel_name``) in the
student's autograded folder. The kernel runs on a throwaway copy of that folder,
shown at the same path, with no network (it talks to nbgrader over ZMQ ``ipc``
sockets: ``c.KernelManager.transport = "ipc"`` in the course's nbgrader
configuration, in a folder of this kernel's own that ``autograder/kernel.py``
makes), as an unprivileged user who sees nothing of the course but its
own copy, and with these limits from the environment (defaults in brackets):
NNFS_KERNEL_MEMORY, bytes of address space [8 GiB: TensorFlow reserves much
virtual memory]; NNFS_KERNEL_CPU, CPU seconds per process [600];
NNFS_KERNEL_FILE, largest file written [64 MiB]; NNFS_KERNEL_PROCESSES,
processes and threads [256].
"""

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))  # autograder/, for jail.py alone

import jail  # noqa: E402

# Only these reach the student's code: not the grader's secrets (a gradebook URL),
# nor JPY_PARENT_PID (the kernel's parent is the sandbox's PID 1).
PASSED = {"LANG", "LC_ALL", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"}


def limits():
    def env(name, default):
        return int(os.environ.get(name, default))

    return {
        "AS": env("NNFS_KERNEL_MEMORY", 8 * 1024**3),
        "CPU": env("NNFS_KERNEL_CPU", 600),
        "FSIZE": env("NNFS_KERNEL_FILE", 64 * 1024**2),
        "NPROC": env("NNFS_KERNEL_PROCESSES", 256),
        "NOFILE": 1024,
        "CORE": 0,
    }


def kernel_env(home):
    spec_env = json.loads((HERE / "kernel.json").read_text())["env"]
    env = {k: v for k, v in os.environ.items() if k in PASSED or k in spec_env}
    env.update(
        PATH=f"{os.path.dirname(sys.executable)}:/usr/bin:/bin",
        HOME=home,
        MPLCONFIGDIR=f"{home}/.matplotlib",
        IPYTHONDIR=f"{home}/.ipython",
    )
    return env


def main():
    connection_file = sys.argv[sys.argv.index("-f") + 1]
    with open(connection_file) as fh:
        connection = json.load(fh)
    if connection.get("transport") != "ipc":
        sys.exit(
            "the nnfs-sandbox kernel has no network, so it needs ZMQ's ipc transport: "
            "set c.KernelManager.transport = 'ipc' (assignments/nbgrader_config.py does)"
        )
    folder = os.getcwd()
    sockets = os.path.dirname(os.path.abspath(connection["ip"]))
    # The sandbox user may write there: only a fresh folder of this kernel's own, never
    # one that other kernels share (a student's files would wait there for the next).
    if os.path.islink(sockets) or os.listdir(sockets):
        sys.exit(
            f"the nnfs-sandbox kernel needs an empty socket folder of its own, not {sockets}: "
            "grade with autograder.kernel.GradingKernelManager, which makes one per kernel"
        )
    with tempfile.TemporaryDirectory(prefix="nnfs-kernel-") as tmp:
        work, run = os.path.join(tmp, "work"), os.path.join(tmp, "run")
        shutil.copytree(folder, work, ignore=jail.ignore_links)
        os.mkdir(run)
        shutil.copyfile(connection_file, os.path.join(run, "connection.json"))
        home = "/tmp" if os.geteuid() == 0 else tmp  # the sandbox's own /tmp when jailed
        rlimits = limits()
        spec = {
            "cwd": folder,
            "env": kernel_env(home),
            "limits": rlimits,
            "cgroup": {"memory": rlimits["AS"]},
            "binds": [[work, folder, True], [run, run, False], [sockets, sockets, True]],
            "own": [work, sockets],
        }
        if "NNFS_JAIL_PARENT" in os.environ:  # the kernel manager's process (autograder/kernel.py)
            spec["parent"] = int(os.environ["NNFS_JAIL_PARENT"])
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", os.path.join(run, "connection.json")]
        status = jail.run(spec, argv)
    jail.end_like(status)


if __name__ == "__main__":
    main()
