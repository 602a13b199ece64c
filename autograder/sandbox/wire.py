"""What crosses the sandbox boundary: plain values in a format checked before it is read.

Student code (in the sandbox) and the trusted side exchange values through
files (a probe's inputs and results) and a Unix socket (calls to a function
the course lends the student's code, see ``lending.py``). A value is a tree
of None, bool, int, float, str, list, tuple, dict with str keys, and numpy
arrays of a numeric or bool dtype: no pickle, no objects, no compression.

Encoding: ``MAGIC``, the tree as JSON (4-byte length first; arrays appear as
``{"a": index}``, tuples as ``{"t": [...]}``, dicts as ``{"d": {...}}``),
then each array as an 8-byte length and its ``.npy`` bytes (format 1.0).
``decode`` checks every length, and every ``.npy`` header (dtype on the
whitelist, shape x itemsize within the cap, exact size) before it allocates
anything, so a hostile message costs at most ``Caps`` bytes.

Standard library and numpy only: a copy of this file runs inside the sandbox.
"""

import io
import json
import math
import os
import socket
import stat
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

MAGIC = b"NNFSWIRE1\n"
DTYPE_KINDS = "biuf"  # bool, signed and unsigned integers, floats


class WireError(ValueError):
    """A message that is malformed, or larger than its caps."""


@dataclass(frozen=True)
class Caps:
    """The most a message may hold (bytes, except ``arrays`` and ``depth``)."""

    total: int = 256 * 1024**2
    array: int = 64 * 1024**2
    json: int = 1024**2
    arrays: int = 4096
    depth: int = 32


def _tree(value, arrays, depth=0):
    if depth > 64:
        raise WireError("value nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, np.generic):
        return value
    if isinstance(value, (np.ndarray, np.generic)):
        arr = np.asarray(value)
        if arr.dtype.kind not in DTYPE_KINDS or arr.dtype.fields is not None:
            raise WireError(f"cannot send an array of dtype {arr.dtype}")
        arrays.append(np.array(arr, subok=False))
        return {"a": len(arrays) - 1}
    if isinstance(value, tuple):
        return {"t": [_tree(v, arrays, depth + 1) for v in value]}
    if isinstance(value, list):
        return [_tree(v, arrays, depth + 1) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"d": {k: _tree(v, arrays, depth + 1) for k, v in value.items()}}
    raise WireError(f"cannot send a {type(value).__name__}")


def encode(value: Any) -> bytes:
    """``value`` (see the module docstring) as bytes; ``WireError`` for anything else."""
    arrays = []
    head = json.dumps(_tree(value, arrays)).encode()
    out = [MAGIC, struct.pack("<I", len(head)), head]
    for arr in arrays:
        buf = io.BytesIO()
        np.lib.format.write_array(buf, arr, version=(1, 0), allow_pickle=False)
        out += [struct.pack("<Q", buf.tell()), buf.getvalue()]
    return b"".join(out)


def _array(blob, caps):
    """One ``.npy`` blob, its header checked before any allocation."""
    f = io.BytesIO(blob)
    try:
        if np.lib.format.read_magic(f) != (1, 0):
            raise WireError("array: not .npy format 1.0")
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f, max_header_size=1024)
    except WireError:
        raise
    except Exception as exc:  # numpy says ValueError, but a hostile header may say more
        raise WireError(f"array: bad header ({type(exc).__name__})") from None
    if dtype.kind not in DTYPE_KINDS or dtype.hasobject or dtype.fields is not None:
        raise WireError(f"array: dtype {dtype} is not allowed")
    if not all(isinstance(n, int) and n >= 0 for n in shape):
        raise WireError("array: bad shape")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > caps.array:
        raise WireError(f"array of shape {shape} and dtype {dtype} is larger than {caps.array // 2**20} MiB")
    if len(blob) - f.tell() != nbytes:
        raise WireError("array: size does not match its header")
    arr = np.frombuffer(blob, dtype=dtype, count=math.prod(shape), offset=f.tell())
    return arr.reshape(shape, order="F" if fortran else "C").copy()


def decode(data: bytes, caps: Caps = Caps()) -> Any:
    """The value ``encode`` made; ``WireError`` if ``data`` breaks the format or ``caps``."""
    if len(data) > caps.total:
        raise WireError(f"message larger than {caps.total // 2**20} MiB")
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
        raise WireError("not a message of the grader's format")
    pos = len(MAGIC)
    (size,) = struct.unpack_from("<I", data, pos)
    if size > caps.json:
        raise WireError("message head too large")
    try:
        head = json.loads(data[pos + 4 : pos + 4 + size])
    except (ValueError, RecursionError):
        raise WireError("message head is not JSON") from None
    pos += 4 + size
    arrays = []
    while pos < len(data):
        if len(arrays) >= caps.arrays or pos + 8 > len(data):
            raise WireError("too many arrays, or a truncated one")
        (size,) = struct.unpack_from("<Q", data, pos)
        if pos + 8 + size > len(data):
            raise WireError("truncated array")
        arrays.append(_array(data[pos + 8 : pos + 8 + size], caps))
        pos += 8 + size
    return _value(head, arrays, caps.depth)


def _value(node, arrays, depth):
    if depth < 0:
        raise WireError("value nested too deeply")
    if isinstance(node, list):
        return [_value(v, arrays, depth - 1) for v in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"a"} and isinstance(node["a"], int) and 0 <= node["a"] < len(arrays):
        return arrays[node["a"]]
    if set(node) == {"t"} and isinstance(node["t"], list):
        return tuple(_value(v, arrays, depth - 1) for v in node["t"])
    if set(node) == {"d"} and isinstance(node["d"], dict):
        return {k: _value(v, arrays, depth - 1) for k, v in node["d"].items()}
    raise WireError("malformed value")


def read_file(path: str | os.PathLike[str], cap: int) -> bytes:
    """The bytes of the regular file ``path``, never following a link, at most ``cap`` of them.

    A link, FIFO, device or any other special file, or a file over ``cap``
    bytes, is a ``WireError``: nothing beyond ``cap`` is ever read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise WireError(f"cannot open {os.path.basename(path)}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise WireError(f"{os.path.basename(path)} is not a regular file")
        if st.st_size > cap:
            raise WireError(f"{os.path.basename(path)} is larger than {cap // 2**20} MiB")
        chunks, left = [], cap + 1
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
        if left <= 0:
            raise WireError(f"{os.path.basename(path)} is larger than {cap // 2**20} MiB")
        return b"".join(chunks)
    finally:
        os.close(fd)


def load(path: str | os.PathLike[str], caps: Caps = Caps()) -> Any:
    """``decode`` the file ``path`` (read with ``read_file``)."""
    return decode(read_file(path, caps.total), caps)


def save(path: str | os.PathLike[str], value: Any) -> None:
    """Write ``encode(value)`` to ``path`` whole or not at all (a reader never sees half)."""
    tmp = f"{path}.part"
    with open(tmp, "wb") as fh:
        fh.write(encode(value))
    os.replace(tmp, path)


# A call on a Unix socket: an 8-byte length, then the message; one call per connection.


def send(sock: socket.socket, value: Any) -> None:
    data = encode(value)
    sock.sendall(struct.pack("<Q", len(data)) + data)


def receive(sock: socket.socket, caps: Caps = Caps()) -> Any:
    size = struct.unpack("<Q", _exactly(sock, 8))[0]
    if size > caps.total:
        raise WireError(f"message larger than {caps.total // 2**20} MiB")
    return decode(_exactly(sock, size), caps)


def _exactly(sock, n):
    parts, left = [], n
    while left:
        part = sock.recv(min(left, 1 << 20))
        if not part:
            raise WireError("connection closed early")
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


class LentFunctionError(RuntimeError):
    """The course's function, called through a stand-in, raised (or could not be reached)."""


def stand_in(address: str, module: str, name: str) -> Callable[..., Any]:
    """A function that runs the course's ``module.name`` in the trusted process at ``address``.

    Its arguments and result travel as plain values (arrays, numbers, tuples,
    dicts): the course's code never enters this process. Dict arguments whose
    entries the course's function set come back and update the caller's.
    """

    def call(*args, **kwargs):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            try:
                sock.connect(address)
                send(sock, {"module": module, "function": name, "args": list(args), "kwargs": kwargs})
                reply = receive(sock)
            except (OSError, WireError) as exc:
                raise LentFunctionError(f"the course's {name} could not be called: {exc}") from None
        if "error" in reply:
            raise LentFunctionError(f"the course's {name} raised {reply['error']}")
        # dict arguments the course's function wrote into (a bn_param's running statistics)
        for key, new in reply.get("changed", {}).items():
            target = args[int(key)] if key.isdigit() else kwargs[key]
            target.clear()
            target.update(new)
        return reply["value"]

    call.__name__ = call.__qualname__ = name
    # tracebacks then say "inside the course's <name>", not "inside call"
    call.__code__ = call.__code__.replace(co_name=name, co_qualname=name)
    return call
