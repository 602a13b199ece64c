"""nbgrader's kernel manager for grading, without jupyter_client's fixed waits.

Grading starts and stops one kernel per submission. jupyter_client's client
then waits for 0.2 s of silence on IOPub once the kernel is ready, and its
manager polls a stopping kernel every 0.1 s: about 0.3 s of idle time per
submission, a sixth of a Chapter 1 submission's grading. Here the client is
ready as soon as the kernel has answered ``kernel_info`` and IOPub has reported
that request done (so IOPub is connected and drained), and a stopping kernel is
polled every 10 ms.

Each kernel also gets a socket folder of its own (ZMQ ``ipc`` transport: the
sandboxed kernel has no network), made in the job's temporary folder when it
starts and removed when it stops: the launcher hands that folder to the
sandbox user, so a folder shared by several kernels would carry what one
student wrote there into the next student's job. Everything else is
jupyter_client's.
"""

import os
import shutil
import tempfile
import time
from queue import Empty
from typing import Any

import zmq
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from traitlets import Type

SOCKET_PATH_MAX = 107  # bytes in a Unix socket's path (sun_path, less its final NUL)
IPC_PREFIX = "nnfs-ipc-"


def longest_socket_path(folder: str) -> int:
    """Bytes in the longest socket path of a kernel started in ``folder``: its socket
    folder (``tempfile``'s 8 characters after ``IPC_PREFIX``), then jupyter_client's
    ``kernel-<n>`` files."""
    return len(os.fsencode(os.path.join(folder, IPC_PREFIX + "x" * 8, "kernel-99999")))


class GradingKernelClient(AsyncKernelClient):
    async def _reply_to(self, channel, msg_id, done, timeout):
        """The first message on ``channel`` answering ``msg_id`` for which ``done(msg)``, or None."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = await channel.get_msg(timeout=left)
            except Empty:
                return None
            if msg["parent_header"].get("msg_id") == msg_id and done(msg):
                return msg
        return None

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
        while True:
            msg_id = self.kernel_info()
            reply = await self._reply_to(
                self.shell_channel, msg_id, lambda m: m["msg_type"] == "kernel_info_reply", 1
            )
            # IOPub may have connected after the kernel published this request's
            # status: then ask again, as jupyter_client does.
            if reply and await self._reply_to(
                self.iopub_channel,
                msg_id,
                lambda m: m["msg_type"] == "status" and m["content"]["execution_state"] == "idle",
                0.05,
            ):
                self._handle_kernel_info_reply(reply)
                return
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")


class GradingKernelManager(AsyncKernelManager):
    client_factory = Type(klass=GradingKernelClient)

    def client(self, **kwargs: Any) -> AsyncKernelClient:
        # The client's sockets connect before the kernel has made its socket
        # files; ZMQ tries again every RECONNECT_IVL ms (default 100).
        self.context.setsockopt(zmq.RECONNECT_IVL, 10)
        return super().client(**kwargs)

    async def _async_finish_shutdown(self, waittime=None, pollinterval=0.01, restart=False):
        await super()._async_finish_shutdown(waittime, pollinterval, restart)

    _sockets = None  # this kernel's socket folder

    async def _async_pre_start_kernel(self, **kw):
        if self.transport == "ipc" and self._sockets is None:
            self._sockets = tempfile.mkdtemp(prefix=IPC_PREFIX)
            self.ip = os.path.join(self._sockets, "kernel")
        cmd, kw = await super()._async_pre_start_kernel(**kw)
        # the launcher's jail exits if this process is gone before it starts (jail.py, ``parent``)
        kw["env"] = dict(kw.get("env") or os.environ, NNFS_JAIL_PARENT=str(os.getpid()))
        return cmd, kw

    async def _async_cleanup_resources(self, restart=False):
        await super()._async_cleanup_resources(restart)
        if self._sockets is not None:
            remove_tree(self._sockets)
            if restart:  # the connection file, which is kept, names the folder: a fresh one there
                os.mkdir(self._sockets, 0o700)
            else:
                self._sockets = None

    # nbclient calls it by this name too (AsyncKernelManager binds jupyter_client's own)
    cleanup_resources = _async_cleanup_resources


def remove_tree(path: str) -> None:
    """Remove ``path`` and whatever the sandbox user left there, never following a link.

    Root removes anything; a grader that is not root runs student code as itself,
    so it first opens up the folders the student made read only.
    """

    def open_up(folder):
        if not os.path.islink(folder):  # a link's target is not ours to change
            try:
                os.chmod(folder, 0o700)
            except OSError:
                pass

    open_up(path)
    for folder, dirs, _ in os.walk(path):  # top-down: each folder opens before it is read
        for name in dirs:
            open_up(os.path.join(folder, name))
    shutil.rmtree(path, ignore_errors=True)  # never follows links
