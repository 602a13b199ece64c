"""Chapter 1 benchmark: one training step of the two-layer sigmoid network.

Side by side in one run, on the same MNIST-sized batch (N=256, D=784, H=64,
C=10): the instructor's numpy ``back_propagation`` and TensorFlow computing the
same loss and gradients with ``tf.GradientTape`` (eager, and as a
``tf.function``). Prints median times and ratios to numpy; run it with
``.venv/bin/python bench/feedforward.py``.
"""

import os
import sys
import timeit
from pathlib import Path

# With TensorFlow loaded in the same process, OpenBLAS's worker threads and
# TensorFlow's thread pools contend for the 2 cores: numpy's step measured 17x
# slower (24 ms instead of 1.4 ms). One BLAS thread keeps the comparison fair.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autograder.sandbox.policy import QUIET_TENSORFLOW  # noqa: E402

os.environ.update(QUIET_TENSORFLOW)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from source_lib import feedforward as ff  # noqa: E402


def median_seconds(fn, repeat=15, number=5):
    fn()  # warm-up (tf.function traces here)
    return float(np.median(timeit.repeat(fn, repeat=repeat, number=number))) / number


def main():
    load = os.getloadavg()[0]
    rng = np.random.default_rng(0)
    N, D, H, C = 256, 784, 64, 10
    X, Y_T = rng.random((N, D)), np.eye(C)[rng.integers(0, C, N)]
    w = {
        "W1": rng.standard_normal((H, D)) * 0.05,
        "b1": np.zeros(H),
        "W2": rng.standard_normal((C, H)) * 0.1,
        "b2": np.zeros(C),
    }
    tw = {k: tf.Variable(v) for k, v in w.items()}
    tX, tY = tf.constant(X), tf.constant(Y_T)

    def tf_step():
        with tf.GradientTape() as tape:
            Hh = tf.sigmoid(tf.matmul(tX, tw["W1"], transpose_b=True) + tw["b1"])
            Y = tf.sigmoid(tf.matmul(Hh, tw["W2"], transpose_b=True) + tw["b2"])
            loss = tf.reduce_sum((Y - tY) ** 2) / (2 * N)
        return tape.gradient(loss, tw)

    graph_step = tf.function(tf_step)
    times = {
        "numpy back_propagation": median_seconds(lambda: ff.back_propagation(X, Y_T, w)),
        "TensorFlow eager GradientTape": median_seconds(tf_step),
        "TensorFlow tf.function": median_seconds(graph_step),
    }
    base = times["numpy back_propagation"]
    print(f"One step, N={N} D={D} H={H} C={C} (float64), median of 15x5 runs")
    print(f"1-minute load average at start: {load:.1f} on {os.cpu_count()} cores")
    for name, t in times.items():
        print(f"  {name:32s} {t * 1e3:8.3f} ms   {t / base:6.2f}x numpy")


if __name__ == "__main__":
    main()
