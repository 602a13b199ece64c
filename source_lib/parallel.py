"""Blocks of a batch on the process's cores (provided; nothing to complete here).

The fast layers of Chapters 2 and 3 cut a batch into blocks of images, fixed by the
shapes alone, and hand them to ``map_blocks``. numpy lets go of Python's lock in its
matrix products and copies, so threads work on the blocks side by side. How many
threads run them changes how long a layer takes, never a single bit of what it
returns: the blocks, and the order their sums are added in, are the same on every
machine.

``OMP_NUM_THREADS`` caps the threads, as it caps numpy's BLAS: the grading sandbox
and the book's kernels set it to 1 (one student, or one chapter, per core), and then
no thread is started.
"""

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

Block = TypeVar("Block")
Result = TypeVar("Result")

_pools: dict[int, ThreadPoolExecutor] = {}
_lock = threading.Lock()
_inside = threading.local()  # set in the pool's threads: a block that maps blocks runs them itself


def threads() -> int:
    """The threads the fast layers may use: the cores this process may run on, at most
    ``OMP_NUM_THREADS`` when that is set to a positive number."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    try:
        cap = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        cap = 0
    return max(1, min(cores, cap) if cap > 0 else cores)


def map_blocks(fn: Callable[[Block], Result], blocks: Sequence[Block]) -> list[Result]:
    """``[fn(block) for block in blocks]``, the calls spread over up to ``threads()`` threads.

    ``fn`` must write only what its own block owns; the results come back in the
    order of ``blocks``, whichever thread finished first.
    """
    n = min(threads(), len(blocks))
    if n <= 1 or getattr(_inside, "yes", False):
        return [fn(block) for block in blocks]
    return list(_pool(n).map(fn, blocks))


def _pool(n):
    with _lock:
        if n not in _pools:
            _pools[n] = ThreadPoolExecutor(n, "source_lib", initializer=_mark_inside)
        return _pools[n]


def _mark_inside():
    _inside.yes = True


def _forget_pools():
    # a child forked from this process has none of the pools' threads: it starts its own
    _pools.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools)
