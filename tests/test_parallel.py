"""The fast layers on several cores (source_lib/parallel.py): the same bits on any number.

The fast convolution and pooling layers cut a batch into blocks fixed by the shapes
and hand them to ``parallel.map_blocks``. The number of threads must change how long
they take, never a bit of what they return (the book and the grader run them on one
thread, a student's laptop on several). Each check below also runs the threads for
real: a barrier that only two threads at once can pass.
"""

import os
import signal
import threading
import time

import numpy as np
import pytest

from source_lib import convolution as cv
from source_lib import parallel
from source_lib import pooling as pl


@pytest.fixture
def threads(monkeypatch):
    """Set the number of threads the fast layers use."""

    def use(n):
        monkeypatch.setattr(parallel, "threads", lambda: n)

    return use


def test_blocks_run_side_by_side_and_come_back_in_order(threads):
    threads(2)
    barrier = threading.Barrier(2, timeout=30)  # broken unless two blocks run at once

    def block(k):
        barrier.wait()
        return k, threading.get_ident()

    results = parallel.map_blocks(block, range(4))
    assert [k for k, _ in results] == [0, 1, 2, 3]
    assert len({ident for _, ident in results}) == 2


def test_one_thread_starts_no_thread_and_a_block_that_maps_blocks_runs_them_itself(threads):
    threads(1)
    assert {parallel.map_blocks(lambda k: threading.get_ident(), range(3))[0]} == {threading.get_ident()}
    threads(2)
    inner = parallel.map_blocks(
        lambda k: parallel.map_blocks(lambda j: threading.get_ident(), range(4)), range(2)
    )
    assert all(len(set(idents)) == 1 for idents in inner)  # no deadlock, no new threads


@pytest.mark.parametrize(
    "value, expected",
    [("1", 1), ("3", 3), ("", None), ("0", None), ("many", None), ("-2", None)],
)
def test_omp_num_threads_caps_the_cores(monkeypatch, value, expected):
    cores = len(os.sched_getaffinity(0))
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    assert parallel.threads() == (min(cores, expected) if expected else cores)


def test_a_forked_child_starts_threads_of_its_own(threads):
    threads(2)
    parallel.map_blocks(abs, range(4))  # the parent's pool exists
    pid = os.fork()
    if pid == 0:  # the parent's threads are not in the child: a stale pool would hang
        try:
            barrier = threading.Barrier(2, timeout=20)
            parallel.map_blocks(lambda k: barrier.wait(), range(2))
        finally:
            os._exit(0 if not barrier.broken else 1)
    for _ in range(600):  # a stale pool hangs the child: 30 s, then it fails
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung in map_blocks")
    assert os.waitstatus_to_exitcode(status) == 0


def _conv(x, w, b, param, dout):
    out, cache = cv.conv_forward_fast(x, w, b, param)
    return (out, *cv.conv_backward_fast(dout, cache))


CONV = {  # (N, C, H, F, kernel, stride, pad): small images side by side, and large ones
    "small images": (64, 32, 16, 32, 3, 2, 1),
    "LeNet C3": (100, 6, 14, 16, 5, 1, 0),
    "large images": (40, 3, 32, 8, 3, 1, 1),
}


@pytest.mark.parametrize("shape", CONV.values(), ids=CONV)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv_gives_the_same_bits_on_one_two_and_three_threads(threads, shape, dtype):
    N, C, H, F, k, s, p = shape
    rng = np.random.default_rng(N)
    x, w, b = (rng.standard_normal(a).astype(dtype) for a in ((N, C, H, H), (F, C, k, k), (F,)))
    param = {"stride": s, "pad": p}
    Ho = (H + 2 * p - k) // s + 1
    dout = rng.standard_normal((N, F, Ho, Ho)).astype(dtype)
    assert len(cv._image_blocks(N, C * k * k, Ho, Ho, np.dtype(dtype).itemsize)[0]) > 1
    results = []
    for n in (1, 2, 3):
        threads(n)
        results.append(_conv(x, w, b, param, dout))
    for other in results[1:]:
        for a, b_ in zip(results[0], other):
            assert a.dtype == b_.dtype and np.array_equal(a, b_)


POOL = {  # (N, C, H, pool, stride): tiles, overlapping windows, windows with a gap
    "tiles": (64, 32, 32, 2, 2),
    "overlap": (40, 16, 33, 3, 2),
    "gaps": (40, 16, 33, 2, 3),
}


@pytest.mark.parametrize("shape", POOL.values(), ids=POOL)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_gives_the_same_bits_on_one_and_two_threads(threads, shape, kind):
    N, C, H, size, s = shape
    rng = np.random.default_rng(H)
    x = np.round(rng.standard_normal((N, C, H, H)) * 2)  # ties for the max
    x[0, 0, 0, 0] = np.nan
    param = {"pool_height": size, "pool_width": size, "stride": s}
    forward, backward = getattr(pl, f"{kind}_pool_forward_fast"), getattr(pl, f"{kind}_pool_backward_fast")
    assert len(pl._image_blocks(x)) > 1
    results = []
    for n in (1, 2):
        threads(n)
        out, cache = forward(x, param)
        dout = np.random.default_rng(0).standard_normal(out.shape)
        results.append((out, backward(dout, cache)))
    for a, b in zip(*results):
        assert np.array_equal(a, b, equal_nan=True)
