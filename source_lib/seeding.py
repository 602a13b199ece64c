"""One call that makes an experiment repeat exactly: the same numbers on every run.

The book prints accuracies, losses and curves that its text discusses; two builds
must print the same ones. ``seed_everything`` seeds every generator an experiment
may draw from (Python's ``random``, numpy's global generator, and, when TensorFlow
is already imported, TensorFlow's and Keras's), and asks TensorFlow for
deterministic kernels. Call it at the top of each experiment cell, with the seed
the experiment states, so that a cell run on its own gives what the book shows.
"""
import os
import random
import sys

import numpy as np


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, numpy and (if imported) TensorFlow/Keras with ``seed``.

    Returns a fresh ``np.random.default_rng(seed)`` for the experiment's own draws.
    TensorFlow is not imported here: a chapter that never uses it stays fast.
    """
    os.environ["PYTHONHASHSEED"] = str(seed)  # for subprocesses; this one's is fixed at start
    random.seed(seed)
    np.random.seed(seed)
    if "tensorflow" in sys.modules:
        import tensorflow as tf

        tf.keras.utils.set_random_seed(seed)  # Python, numpy and TensorFlow at once
        tf.config.experimental.enable_op_determinism()
    return np.random.default_rng(seed)
