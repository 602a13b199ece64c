"""Chapters 2 and 3 benchmark: convolution and pooling, forward + backward.

Side by side in one run, on the same float64 inputs at batch N=64: the
provided vectorized numpy layers (``conv_forward_fast`` + ``conv_backward_fast``,
``*_pool_forward_fast`` + ``*_pool_backward_fast``), TensorFlow computing the
same outputs and gradients (of sum(out * dout)) with ``tf.GradientTape``
inside a ``tf.function`` (NHWC, float64, default thread pools), and the
instructor's naive loops. The naive loops are slow, so they are timed on the
first N=2 examples only and scaled linearly to N=64 (their cost is linear in
N). Prints median times and ratios; no timed assertions. Run it with
``.venv/bin/python bench/conv_pool.py``.

Two more columns tell what the ratios can reach. "TF 1t": TensorFlow held to one
thread (in a child process: its thread pools are fixed when it starts), the numpy
layers' own setting. "products": for each conv, the three matrix products of the fast
layer alone (forward, ``dw``, ``dx``) on numpy's one BLAS thread: no im2col design on
one thread takes less, so where "products" exceeds TensorFlow's time (or the loops'
time / 300) the goal needs more threads, not better numpy.

Conv sizes (stride 1, pad 0 unless said): (a) 1->6 channels 28x28 5x5;
(b) 3->32 channels 32x32 3x3 pad 1; (c) 6->16 channels 14x14 5x5;
(d) 32->32 channels 16x16 3x3 stride 2 pad 1. Pooling (2x2 stride 2, max and
average) runs on the conv outputs of sizes (a) and (b).
"""

import json
import os
import subprocess
import sys
import timeit
from pathlib import Path

# With TensorFlow loaded in the same process, OpenBLAS's worker threads and
# TensorFlow's thread pools contend for the 2 cores: numpy's BLAS measured 17x
# slower (see bench/feedforward.py). One BLAS thread keeps the comparison fair.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autograder.sandbox.policy import QUIET_TENSORFLOW  # noqa: E402

os.environ.update(QUIET_TENSORFLOW)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from source_lib import convolution as cv  # noqa: E402
from source_lib import pooling as pl  # noqa: E402
from source_lib.gradcheck import rel_error  # noqa: E402

N, N_NAIVE = 64, 2
TF_ONLY = "--tf-one-thread" in sys.argv[1:]  # the child: TensorFlow on one thread, its times only
# name: (C, F, H=W, kernel, stride, pad)
CONV_SIZES = {
    "(a) 1->6 28x28 5x5": (1, 6, 28, 5, 1, 0),
    "(b) 3->32 32x32 3x3 p1": (3, 32, 32, 3, 1, 1),
    "(c) 6->16 14x14 5x5": (6, 16, 14, 5, 1, 0),
    "(d) 32->32 16x16 3x3 s2 p1": (32, 32, 16, 3, 2, 1),
}


def median_seconds(fn, repeat=7, min_time=0.05):
    """Median seconds per call over ``repeat`` runs of ``number`` calls, ``number`` chosen to last ~min_time."""
    fn()  # warm-up (tf.function traces here)
    t0 = timeit.default_timer()
    fn()
    once = timeit.default_timer() - t0
    number = max(1, int(min_time / max(once, 1e-9)))
    return float(np.median(timeit.repeat(fn, repeat=repeat, number=number))) / number


def naive_seconds(fn, repeat=3):
    """Median of a few single runs (the naive loops take ~0.01-1 s each)."""
    return float(np.median(timeit.repeat(fn, repeat=repeat, number=1)))


def nhwc(a):
    return tf.constant(np.ascontiguousarray(a.transpose(0, 2, 3, 1)))


def tf_conv_step(stride, pad):
    @tf.function
    def step(x, w, b, dout):
        with tf.GradientTape() as tape:
            tape.watch([x, w, b])
            out = tf.nn.conv2d(x, w, strides=stride, padding=[[0, 0], [pad, pad], [pad, pad], [0, 0]]) + b
            loss = tf.reduce_sum(out * dout)
        return out, tape.gradient(loss, [x, w, b])

    return step


def tf_pool_step(kind):
    op = tf.nn.max_pool2d if kind == "max" else tf.nn.avg_pool2d

    @tf.function
    def step(x, dout):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = op(x, ksize=2, strides=2, padding="VALID")
            loss = tf.reduce_sum(out * dout)
        return out, tape.gradient(loss, x)

    return step


def bench_conv(rng, C, F, HW, k, stride, pad):
    x = rng.standard_normal((N, C, HW, HW))
    w = rng.standard_normal((F, C, k, k)) / np.sqrt(C * k * k)
    b = rng.standard_normal(F)
    cp = {"stride": stride, "pad": pad}
    out, cache = cv.conv_forward_fast(x, w, b, cp)
    dout = rng.standard_normal(out.shape)

    # the three agree before they are timed
    step = tf_conv_step(stride, pad)
    tx, tw, tb, tdout = nhwc(x), tf.constant(w.transpose(2, 3, 1, 0)), tf.constant(b), nhwc(dout)
    out_tf, (dx_tf, dw_tf, _) = step(tx, tw, tb, tdout)
    dx, dw, db = cv.conv_backward_fast(dout, cache)
    out_n, cache_n = cv.conv_forward_naive(x[:N_NAIVE], w, b, cp)
    dx_n = cv.conv_backward_naive(dout[:N_NAIVE], cache_n)[0]
    err = max(
        rel_error(out, out_tf.numpy().transpose(0, 3, 1, 2)),
        rel_error(dx, dx_tf.numpy().transpose(0, 3, 1, 2)),
        rel_error(dw, dw_tf.numpy().transpose(3, 2, 0, 1)),
        rel_error(out_n, out[:N_NAIVE]),
        rel_error(dx_n, dx[:N_NAIVE]),
    )
    assert err < 1e-7, err

    def fast():
        o, c = cv.conv_forward_fast(x, w, b, cp)
        return cv.conv_backward_fast(dout, c)

    def naive():
        o, c = cv.conv_forward_naive(x[:N_NAIVE], w, b, cp)
        return cv.conv_backward_naive(dout[:N_NAIVE], c)

    t_tf = median_seconds(lambda: step(tx, tw, tb, tdout))
    if TF_ONLY:
        return out, (np.nan, np.nan, t_tf), err
    t_fast = median_seconds(fast)
    t_naive = naive_seconds(naive) * N / N_NAIVE
    return out, (t_naive, t_fast, t_tf), err


def products_seconds(C, F, HW, k, stride, pad):
    """The fast conv's three matrix products alone, at the shapes it multiplies (the whole
    batch as one product; numpy's one BLAS thread): a floor for im2col on one thread."""
    rng = np.random.default_rng(0)
    K, P = C * k * k + 1, N * cv._windows(HW, k, stride, pad) ** 2  # the layer's own count
    wb, cols, d = rng.standard_normal((F, K)), rng.standard_normal((K, P)), rng.standard_normal((F, P))
    wt = np.ascontiguousarray(wb[:, :-1].T)
    return median_seconds(lambda: (wb @ cols, d @ cols.T, wt @ d))


def bench_pool(kind, x):
    pp = {"pool_height": 2, "pool_width": 2, "stride": 2}
    fwd_fast, bwd_fast, fwd_naive, bwd_naive = {
        "max": (
            pl.max_pool_forward_fast,
            pl.max_pool_backward_fast,
            pl.max_pool_forward_naive,
            pl.max_pool_backward_naive,
        ),
        "avg": (
            pl.avg_pool_forward_fast,
            pl.avg_pool_backward_fast,
            pl.avg_pool_forward_naive,
            pl.avg_pool_backward_naive,
        ),
    }[kind]
    out, cache = fwd_fast(x, pp)
    dout = np.random.default_rng(1).standard_normal(out.shape)
    step = tf_pool_step(kind)
    tx, tdout = nhwc(x), nhwc(dout)
    out_tf, dx_tf = step(tx, tdout)
    out_n, cache_n = fwd_naive(x[:N_NAIVE], pp)
    err = max(
        rel_error(out, out_tf.numpy().transpose(0, 3, 1, 2)),
        rel_error(bwd_fast(dout, cache), dx_tf.numpy().transpose(0, 3, 1, 2)),
        rel_error(out_n, out[:N_NAIVE]),
        rel_error(bwd_naive(dout[:N_NAIVE], cache_n), bwd_fast(dout, cache)[:N_NAIVE]),
    )
    assert err < 1e-7, err

    def fast():
        o, c = fwd_fast(x, pp)
        return bwd_fast(dout, c)

    def naive():
        o, c = fwd_naive(x[:N_NAIVE], pp)
        return bwd_naive(dout[:N_NAIVE], c)

    t_tf = median_seconds(lambda: step(tx, tdout))
    if TF_ONLY:
        return (np.nan, np.nan, t_tf), err
    return (naive_seconds(naive) * N / N_NAIVE, median_seconds(fast), t_tf), err


def measure():
    """Every row: name -> (naive, fast, TF) seconds, the conv rows first; and the largest
    relative error between the three."""
    rng = np.random.default_rng(0)
    times, conv_outs, errs = {}, {}, []
    for name, size in CONV_SIZES.items():
        conv_outs[name], times["conv " + name], err = bench_conv(rng, *size)
        errs.append(err)
    for name in list(CONV_SIZES)[:2]:
        x = conv_outs[name]
        for kind in ("max", "avg"):
            row, err = bench_pool(kind, x)
            errs.append(err)
            times[f"{kind}pool 2x2/2 on {'x'.join(map(str, x.shape[1:]))} {name[:3]}"] = row
    return times, max(errs)


def tf_one_thread():
    """TensorFlow's time for every row on one thread: this script run again with
    ``--tf-one-thread`` (thread pools are set before TensorFlow starts them)."""
    child = subprocess.run(
        [sys.executable, __file__, "--tf-one-thread"], capture_output=True, text=True, check=True
    )
    return json.loads(child.stdout.strip().splitlines()[-1])


def main():
    if TF_ONLY:  # the child of tf_one_thread
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        print(json.dumps({name: t[2] for name, t in measure()[0].items()}))
        return
    print(f"Forward + backward, float64, batch N={N}; median times per call.")
    print(
        f"naive: timed at N={N_NAIVE} and scaled linearly x{N // N_NAIVE} to N={N} (its cost is linear in N)."
    )
    print(
        f"TF: tf.function + GradientTape, NHWC, {tf.config.threading.get_intra_op_parallelism_threads() or 'default'}"
        f" intra-op threads (TF 1t: one); numpy: OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}."
    )
    print(
        f"1-minute load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        " (other processes on the machine inflate and scatter these times, TF's two threads most)."
    )
    times, err = measure()
    one = tf_one_thread()
    products = {"conv " + name: products_seconds(*size) for name, size in CONV_SIZES.items()}
    fmt = "{:<34} {:>9} {:>8} {:>7} {:>7} {:>8} {:>8} {:>8} {:>10}"
    print(
        fmt.format(
            "size", "naive ms", "fast ms", "TF ms", "fast/TF", "TF 1t ms", "fast/1t", "products", "naive/fast"
        )
    )
    for name, (t_naive, t_fast, t_tf) in times.items():
        floor = products.get(name)
        print(
            fmt.format(
                name,
                f"{t_naive * 1e3:.1f}",
                f"{t_fast * 1e3:.2f}",
                f"{t_tf * 1e3:.2f}",
                f"{t_fast / t_tf:.2f}",
                f"{one[name] * 1e3:.2f}",
                f"{t_fast / one[name]:.2f}",
                "" if floor is None else f"{floor * 1e3:.2f}",
                f"{t_naive / t_fast:.0f}",
            )
        )
    print(f"largest relative error fast vs TF vs naive across all rows: {err:.1e}")

    # the goals of issue 19: every layer at most TensorFlow's time, conv 300x the loops
    convs = [n for n in times if n.startswith("conv ")]
    goals = {
        "fast/TF at most 1.0 for every conv and pooling row": {
            n: t[1] / t[2] <= 1.0 for n, t in times.items()
        },
        "fast conv at least 300x the naive loops at every size": {
            n: times[n][0] / times[n][1] >= 300.0 for n in convs
        },
        "(for comparison) fast at most TF on one thread, every row": {
            n: t[1] / one[n] <= 1.0 for n, t in times.items()
        },
        "(reachable on one numpy thread?) the products alone under TF's time": {
            n: products[n] < times[n][2] for n in convs
        },
        "(reachable on one numpy thread?) the products alone under the loops' time / 300": {
            n: products[n] < times[n][0] / 300.0 for n in convs
        },
    }
    for goal, met in goals.items():
        missed = [n for n, ok in met.items() if not ok]
        print(f"{goal}: " + ("yes" if not missed else f"NO (not at: {', '.join(missed)})"))


if __name__ == "__main__":
    main()
