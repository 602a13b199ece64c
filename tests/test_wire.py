"""What student code hands back is checked before it is read (autograder/sandbox/wire.py).

Each hostile message must be refused without the trusted side allocating
what it claims: the checks read the header first.
"""

import io
import os
import resource
import socket
import struct
import threading
import time
import zipfile

import numpy as np
import pytest

from autograder.sandbox import wire

CAPS = wire.Caps(total=1024**2, array=256 * 1024)


def message(head, *blobs):
    head = head.encode()
    return (
        wire.MAGIC
        + struct.pack("<I", len(head))
        + head
        + b"".join(struct.pack("<Q", len(b)) + b for b in blobs)
    )


def npy_header(shape, descr="<f8", fortran=False):
    """An honest-looking .npy header that claims ``shape``, with no data after it."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": fortran, "shape": shape})
    return buf.getvalue()


def test_values_round_trip():
    value = {
        "x": np.arange(6.0).reshape(2, 3),
        "cache": (np.ones(2, np.float32), {"stride": 1}),
        "shape": (2, 3),
        "flags": [True, None, "ok", 1.5],
        "i": np.int64(3),
        "f": np.asfortranarray(np.arange(6).reshape(2, 3)),
        "empty": np.zeros((0, 4)),
    }
    back = wire.decode(wire.encode(value))
    np.testing.assert_array_equal(back["x"], value["x"])
    assert back["cache"][0].dtype == np.float32 and back["cache"][1] == {"stride": 1}
    assert back["shape"] == (2, 3) and back["flags"] == [True, None, "ok", 1.5]
    np.testing.assert_array_equal(back["f"], value["f"])
    assert back["i"] == 3 and back["empty"].shape == (0, 4)


@pytest.mark.parametrize(
    "value", [np.array(["a"]), np.array([object()]), {1: 2}, object(), np.zeros(2, dtype=[("a", "f8")])]
)
def test_only_plain_values_are_sent(value):
    with pytest.raises(wire.WireError):
        wire.encode(value)


def compressed_bomb():
    """The old format's hazard: 0.5 MB of zip that inflates to 512 MB."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("a0.npy", "w", force_zip64=True) as fh:
            np.lib.format.write_array_header_1_0(
                fh, {"descr": "<f8", "fortran_order": False, "shape": (2**26,)}
            )
            chunk = bytes(2**24)
            for _ in range(32):
                fh.write(chunk)
    return buf.getvalue()


@pytest.mark.parametrize(
    "data, said",
    [
        (message('{"a": 0}', npy_header((50_000, 50_000))), "larger than"),
        (message('{"a": 0}', npy_header((2**62, 2**62))), "larger than"),
        (message('{"a": 0}', npy_header((3,), "|O")), "not allowed"),
        (message('{"a": 0}', npy_header((3,), "<U4")), "not allowed"),
        (message('{"a": 0}', npy_header((4,)) + bytes(8)), "does not match"),
        (message('{"a": 0}', b"\x80\x04pickle"), "bad header"),
        (message('{"a": 1}', npy_header((0,))), "malformed"),
        (message("[" * 100_000 + "]" * 100_000), "not JSON"),
        (message('{"a": 0}', *[npy_header((0,))] * 5000), "too many"),
        (message('{"a": 0}') + struct.pack("<Q", 2**60), "truncated"),
        (wire.MAGIC + struct.pack("<I", 2**31), "too large"),
        (b"PK\x03\x04" + bytes(100), "not a message"),
    ],
    ids=[
        "huge-shape",
        "overflowing-shape",
        "object",
        "unicode",
        "short-data",
        "pickle",
        "bad-index",
        "deep-json",
        "many-arrays",
        "truncated",
        "huge-head",
        "zip",
    ],
)
def test_hostile_messages_are_refused_before_allocation(data, said):
    with pytest.raises(wire.WireError, match=said):
        wire.decode(data, CAPS)


def test_a_compressed_bomb_costs_no_memory(tmp_path):
    bomb = tmp_path / "p.out"
    bomb.write_bytes(compressed_bomb())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(wire.WireError):
        wire.load(bomb)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 * 1024  # KiB


def test_files_are_read_without_following_links_or_blocking(tmp_path):
    secret = tmp_path / "secret"
    secret.write_bytes(wire.encode({"stolen": 1}))
    os.symlink(secret, tmp_path / "link")
    os.mkfifo(tmp_path / "fifo")
    os.symlink("/dev/zero", tmp_path / "zero")
    big = tmp_path / "big"
    with big.open("wb") as fh:
        fh.truncate(10 * 1024**3)  # sparse: 10 GB that would take minutes to read
    for name, said in (
        ("link", "cannot open"),
        ("fifo", "not a regular file"),
        ("zero", "cannot open"),
        ("big", "larger than"),
    ):
        started = time.monotonic()
        with pytest.raises(wire.WireError, match=said):
            wire.read_file(tmp_path / name, 1024**2)
        assert time.monotonic() - started < 1, name


def test_a_stand_in_calls_the_lender_and_gets_plain_values(tmp_path):
    address = str(tmp_path / "s.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen()

    def serve():
        for _ in range(2):
            conn, _ = listener.accept()
            with conn:
                request = wire.receive(conn)
                if request["function"] == "double":
                    wire.send(conn, {"value": (2 * request["args"][0], request["kwargs"])})
                else:
                    wire.send(conn, {"error": "ValueError: no"})

    threading.Thread(target=serve, daemon=True).start()
    out, kwargs = wire.stand_in(address, "m", "double")(np.arange(3.0), pad=1)
    np.testing.assert_array_equal(out, [0, 2, 4])
    assert kwargs == {"pad": 1}
    with pytest.raises(wire.LentFunctionError, match="the course's other raised ValueError: no"):
        wire.stand_in(address, "m", "other")()
    listener.close()


def test_a_dict_the_lent_function_writes_into_is_updated_in_the_caller(tmp_path):
    """batchnorm_forward writes its running statistics into bn_param (COURSE_SPEC 4)."""
    from autograder.probes.lending import Lender

    lib = tmp_path / "source_lib"
    lib.mkdir()
    (lib / "__init__.py").write_text("")
    (lib / "m.py").write_text(
        "def write(param, other):\n    param['seen'] = param['n'] + 1\n    other.get('n')\n    return 7\n"
    )
    address = tmp_path / "lend.sock"
    param, other = {"n": 1}, {"n": 2}
    with Lender(lib, {"m": ["write"]}, address, cpu_seconds=10):
        assert wire.stand_in(str(address), "m", "write")(param, other=other) == 7
    assert param == {"n": 1, "seen": 2} and other == {"n": 2}
