"""The book's TensorFlow experiments print the same numbers on every processor.

TensorFlow's own CPU kernels split the sums of convolutions and matrix products as the
processor suggests (its caches, its vector width), and training makes those last digits
grow: Chapter 4's deep networks printed other accuracies on another machine, and its
text then stated numbers the book did not show. So the notebook pins the kernels before
TensorFlow is imported: oneDNN's, held to AVX2, which every current x86-64 processor
has (Chapter 6 likewise). Here a convolution and its weight gradient, in float32 with the chapter's settings,
come out to the same bytes in processes that split their sums as two different processors
would (TensorFlow's Eigen contractions with and without their oneDNN blocks,
``TENSORFLOW_USE_CUSTOM_CONTRACTION_KERNEL``); without those settings they do not, which
shows that the comparison can tell.
"""

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.course import CHAPTERS
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


# What a chapter sets before it first imports TensorFlow.
PINNED = {"TF_ENABLE_ONEDNN_OPTS": "1", "ONEDNN_MAX_CPU_ISA": "AVX2"}


def first_import_settings(module):
    """The ``os.environ[NAME] = "value"`` lines of the first cell of a chapter's notebook
    that imports Keras or TensorFlow, as a dict; None if none does."""
    nb = nbformat.read(REPO / "book" / f"{module}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code" or not re.search(r"^import (keras|tensorflow)", cell.source, re.M):
            continue
        settings = {}
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Subscript):
                target = node.targets[0]
                if ast.unparse(target.value) == "os.environ" and isinstance(node.value, ast.Constant):
                    settings[ast.literal_eval(target.slice)] = node.value.value
        return settings
    return None


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


def trains_with_keras(module):
    """A chapter's notebook trains a Keras model (``.fit(``) in some cell."""
    nb = nbformat.read(REPO / "book" / f"{module}.ipynb", as_version=4)
    return any(c.cell_type == "code" and ".fit(" in c.source for c in nb.cells)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.module)
def test_a_chapter_that_trains_pins_the_kernels_before_it_imports_tensorflow(chapter):
    """Training makes the last digits grow; a chapter that only compares a float64
    convolution with TensorFlow's (Chapter 2) prints no digits that depend on them."""
    if not trains_with_keras(chapter.module):
        pytest.skip(f"{chapter.module} trains no Keras model")
    settings = first_import_settings(chapter.module)
    assert settings is not None and settings.items() >= PINNED.items(), settings


def test_the_pinned_kernels_sum_alike_on_every_processor():
    pinned = digests(PINNED)
    assert pinned[0] == pinned[1]
    own = digests({"TF_ENABLE_ONEDNN_OPTS": "0"})  # TensorFlow's own kernels
    assert own[0] != own[1]
    if " avx512f" in Path("/proc/cpuinfo").read_text():
        unheld = digests({"TF_ENABLE_ONEDNN_OPTS": "1"})  # oneDNN as the processor allows
        assert unheld[0] != unheld[1]
