"""Start an IPython kernel for a student's notebook, confined by ``jail``.

nbgrader's ``Execute`` starts this kernel (``c.Execute.kernel_name``, the kernelspec
in ``autograder/jupyter/kernels/nnfs-sandbox``) in the student's autograded folder,
as ``python <this file>``: its folder (this package) is on ``sys.path``. The kernel runs
on a throwaway copy of that folder, shown at the same path, with no network (it
talks to nbgrader over ZMQ ``ipc`` sockets: ``c.KernelManager.transport = "ipc"``
in the course's nbgrader configuration, in a folder of this kernel's own that
``autograder/nbgrader_ext/kernel.py`` makes), as an unprivileged user who sees
nothing of the course but its own copy, with ``policy.kernel_rlimits()`` and
``policy.student_env()``. When the grading worker has a zygote (``zygote.py``), the
kernel is forked from it, in the same jail, with IPython and the chapter's libraries
already imported.
"""

import json
import os
import shutil
import sys
import tempfile

import jail
import policy
import zygote


def main() -> None:
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
            "grade with autograder.nbgrader_ext.kernel.GradingKernelManager, which makes one per kernel"
        )
    with tempfile.TemporaryDirectory(prefix="nnfs-kernel-") as tmp:
        work, run = os.path.join(tmp, "work"), os.path.join(tmp, "run")
        shutil.copytree(folder, work, ignore=jail.ignore_links)
        os.mkdir(run)
        shutil.copyfile(connection_file, os.path.join(run, "connection.json"))
        home = "/tmp" if os.geteuid() == 0 else tmp  # the sandbox's own /tmp when jailed
        rlimits = policy.kernel_rlimits()
        spec = {
            "cwd": folder,
            "env": policy.kernel_env(home, os.path.dirname(sys.executable)),
            "limits": rlimits,
            "cgroup": {"memory": rlimits["AS"], "pids": rlimits["NPROC"]},
            "binds": [[work, folder, True], [run, run, False], [sockets, sockets, True]],
            "own": [work, sockets],
        }
        if "NNFS_JAIL_PARENT" in os.environ:  # the kernel manager's process (nbgrader_ext/kernel.py)
            spec["parent"] = int(os.environ["NNFS_JAIL_PARENT"])
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", os.path.join(run, "connection.json")]
        address = os.environ.get(zygote.KERNEL_ADDRESS)  # the grading worker's, when it has one
        status = zygote.request(address, spec, argv) if address else jail.run(spec, argv)
    jail.end_like(status)


if __name__ == "__main__":
    main()
