"""The book's TensorFlow experiments print the same numbers on every processor.

TensorFlow's own CPU kernels split the sums of convolutions and matrix products as the
processor suggests (its caches, its vector width), and training makes those last digits
grow: Chapter 4's deep networks printed other accuracies on another machine, and its
text then stated numbers the book did not show. So the notebook pins the kernels before
TensorFlow is imported: oneDNN's, held to AVX2, which every current x86-64 processor
has. Here a convolution and its weight gradient, in float32 with the chapter's settings,
come out to the same bytes in processes that split their sums as two different processors
would (TensorFlow's Eigen contractions with and without their oneDNN blocks,
``TENSORFLOW_USE_CUSTOM_CONTRACTION_KERNEL``); without those settings they do not, which
shows that the comparison can tell.
"""

import ast
import os
import subprocess
import sys
from pathlib import Path

import nbformat

from conftest import REPO

# One convolution and the gradient of its weights, whose sum runs over 64 x 14 x 14
# positions, as in Chapter 4's deep networks; the bytes' digest.
SCRIPT = """
import hashlib
import numpy as np
import tensorflow as tf

rng = np.random.default_rng(0)
x = tf.constant(rng.standard_normal((64, 14, 14, 16)).astype("float32"))
w = tf.Variable(rng.standard_normal((3, 3, 16, 16)).astype("float32"))
with tf.GradientTape() as tape:
    y = tf.nn.conv2d(x, w, 1, "SAME")
    loss = tf.reduce_sum(y * y)
g = tape.gradient(loss, w)
print(hashlib.sha256(y.numpy().tobytes() + g.numpy().tobytes()).hexdigest())
"""


def notebook_settings(module, cell_id):
    """The ``os.environ[NAME] = "value"`` lines of a notebook cell, as a dict."""
    nb = nbformat.read(REPO / "book" / f"{module}.ipynb", as_version=4)
    (cell,) = [c for c in nb.cells if c.get("id") == cell_id]
    settings = {}
    for node in ast.walk(ast.parse(cell.source)):
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Subscript):
            target = node.targets[0]
            if ast.unparse(target.value) == "os.environ" and isinstance(node.value, ast.Constant):
                settings[ast.literal_eval(target.slice)] = node.value.value
    return settings


# Two processors, as far as one machine can play them: TensorFlow's Eigen contractions
# with and without their oneDNN blocks, oneDNN with AVX-512 (where there is one) or AVX2.
MACHINES = (
    {"TENSORFLOW_USE_CUSTOM_CONTRACTION_KERNEL": "1", "ONEDNN_MAX_CPU_ISA": "AVX512_CORE"},
    {"TENSORFLOW_USE_CUSTOM_CONTRACTION_KERNEL": "0", "ONEDNN_MAX_CPU_ISA": "AVX2"},
)


def digests(settings):
    """The script's digest on each of ``MACHINES``, with a notebook's ``settings``."""
    out = []
    for machine in MACHINES:
        env = {**os.environ, **machine, **settings}
        proc = subprocess.run(
            [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, proc.stderr
        out.append(proc.stdout.strip())
    return out


def test_chapter_4_pins_kernels_that_sum_alike_on_every_processor():
    settings = notebook_settings("normalization", "keras-setup")
    assert settings.get("TF_ENABLE_ONEDNN_OPTS") == "1", settings
    assert settings.get("ONEDNN_MAX_CPU_ISA") == "AVX2", settings
    pinned = digests(settings)
    assert pinned[0] == pinned[1]
    own = digests({"TF_ENABLE_ONEDNN_OPTS": "0"})  # TensorFlow's own kernels
    assert own[0] != own[1]
    if " avx512f" in Path("/proc/cpuinfo").read_text():
        unheld = digests({"TF_ENABLE_ONEDNN_OPTS": "1"})  # oneDNN as the processor allows
        assert unheld[0] != unheld[1]
