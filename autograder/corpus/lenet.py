"""Fixture submissions for Chapter 6 (LeNet)."""

from . import Edit, Submission, chapter_checks

BUILD = frozenset({"lenet.build_lenet5"})
LOSS = frozenset({"lenet.ThreeLayerConvNet.loss"})
SGD = frozenset({"lenet.sgd_momentum"})
ALL = chapter_checks("lenet")  # one per task: autograder/tasks.py

ANSWER = (
    "LeNet shares each 5x5 filter over every position, so it has far fewer weights per "
    "layer than a dense network and the same feature is detected wherever it appears."
)

# Realistic bugs: each names the checks it must fail; every check has one.
MUTANTS = [
    Submission(
        "bug-keras-missing-relu",
        "the second convolution has no ReLU",
        edits=(
            Edit("*activated(layers.Conv2D(16, 5, activation=relu)),", "*activated(layers.Conv2D(16, 5)),"),
        ),
        fails=BUILD,
    ),
    Submission(
        "bug-keras-softmax-twice",
        "a Softmax layer after the softmax output layer",
        edits=(
            Edit(
                'layers.Dense(num_classes, activation="softmax"),',
                'layers.Dense(num_classes, activation="softmax"), layers.Softmax(),',
                function="build_lenet5",
            ),
        ),
        fails=BUILD,
    ),
    Submission(
        "bug-keras-valid-first-conv",
        "'valid' instead of 'same' padding in the first convolution",
        edits=(
            Edit(
                'layers.Conv2D(6, 5, padding="same", activation=relu)', "layers.Conv2D(6, 5, activation=relu)"
            ),
        ),
        fails=BUILD,
    ),
    Submission(
        "bug-keras-dense-order",
        "the dense layers in the wrong order",
        edits=(
            Edit(
                """\
        *activated(layers.Dense(84, activation=relu)),
        *dropped(),
        layers.Dense(num_classes, activation="softmax"),""",
                """\
        *activated(layers.Dense(num_classes, activation=relu)),
        *dropped(),
        layers.Dense(84, activation="softmax"),""",
            ),
        ),
        fails=BUILD,
    ),
    Submission(
        "bug-missing-hidden-relu",
        "no ReLU after the hidden affine layer",
        edits=(
            Edit(
                "hidden, hidden_act_cache = relu_forward(hidden_in)",
                "hidden, hidden_act_cache = hidden_in, None",
            ),
            Edit("dhidden_in = relu_backward(dhidden, hidden_act_cache)", "dhidden_in = dhidden"),
        ),
        fails=LOSS,
    ),
    Submission(
        "bug-softmax-twice",
        "scores turned into probabilities before softmax_loss",
        edits=(
            Edit(
                "data_loss, dscores = softmax_loss(scores, y)",
                "probs = np.exp(scores - scores.max(axis=1, keepdims=True))\n"
                "        probs /= probs.sum(axis=1, keepdims=True)\n"
                "        data_loss, dscores = softmax_loss(probs, y)",
            ),
        ),
        fails=LOSS,
    ),
    Submission(
        "bug-reg-missing-from-gradients",
        "the L2 penalty in the loss but not in the gradients",
        edits=(Edit("            grads[w] = grads[w] + self.reg * p[w]\n", "            pass\n"),),
        fails=LOSS,
    ),
    Submission(
        "bug-reg-not-halved",
        "the L2 penalty without its 1/2 (gradients right)",
        edits=(Edit("loss = data_loss + 0.5 * self.reg * sum(", "loss = data_loss + self.reg * sum("),),
        fails=LOSS,
    ),
    Submission(
        "bug-loss-not-averaged",
        "the network computes its own softmax loss and sums it over the batch instead of averaging",
        edits=(
            Edit(
                "data_loss, dscores = softmax_loss(scores, y)",
                "shifted = scores - scores.max(axis=1, keepdims=True)\n"
                "        probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)\n"
                "        data_loss = -np.sum(np.log(probs[np.arange(len(y)), y]))\n"
                "        dscores = probs.copy()\n"
                "        dscores[np.arange(len(y)), y] -= 1",
            ),
        ),
        fails=LOSS,
    ),
    # A loss summed instead of averaged over the batch, written in Chapter 1's
    # softmax_loss: it costs Chapter 1's points there, and nothing here.
    Submission(
        "bug-softmax-loss-summed",
        "Chapter 1's softmax_loss sums over the batch "
        "(no double penalty: Chapter 6 is graded with the reference layers)",
        edits=(
            Edit(
                "loss = float(-np.mean(log_probs[np.arange(N), y]))",
                "loss = float(-np.sum(log_probs[np.arange(N), y]))",
                module="feedforward",
            ),
            Edit("    dx /= N\n", "", module="feedforward"),
        ),
        fails=frozenset(),
    ),
    Submission(
        "bug-velocity-not-stored",
        "the velocity is never written back to config",
        edits=(Edit('    config["velocity"] = v\n', ""),),
        fails=SGD,
    ),
    Submission(
        "bug-momentum-without-learning-rate",
        "the gradient enters the velocity without the learning rate",
        edits=(
            Edit(
                'v = config["momentum"] * v - config["learning_rate"] * dw', 'v = config["momentum"] * v - dw'
            ),
        ),
        fails=SGD,
    ),
]

# Correct code written differently: the functional Keras API, another
# bookkeeping of the penalty's gradients, and an in-place momentum update.
ALTERNATIVE = (
    Edit(
        """\
    def dropped():  # a fresh layer at each use: a layer belongs to one place
        return [layers.Dropout(dropout)] if dropout else []

    return keras.Sequential([""",
        """\
    inputs = keras.Input(shape=tuple(input_shape))
    h = inputs
    for filters, padding in ((6, "same"), (16, "valid"), (120, "valid")):
        h = layers.Conv2D(filters, (5, 5), strides=1, padding=padding,
                          activation=None if batchnorm else "relu")(h)
        if batchnorm:
            h = layers.Activation("relu")(layers.BatchNormalization()(h))
        if filters != 120:
            h = layers.MaxPooling2D(pool_size=(2, 2))(h)
    h = layers.Flatten()(h)
    if dropout:
        h = layers.Dropout(rate=dropout)(h)
    h = layers.Dense(84)(h)
    h = layers.Activation("relu")(layers.BatchNormalization()(h) if batchnorm else h)
    if dropout:
        h = layers.Dropout(rate=dropout)(h)
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax")(h))
    def dropped():  # a fresh layer at each use: a layer belongs to one place
        return [layers.Dropout(dropout)] if dropout else []

    return keras.Sequential([""",
    ),
    Edit(
        """\
        for w in weights:
            grads[w] = grads[w] + self.reg * p[w]
        return float(loss), grads""",
        """\
        grads = {k: g + self.reg * p[k] if k.startswith("W") else g for k, g in grads.items()}
        return float(loss), grads""",
    ),
    Edit(
        """\
    v = config.get("velocity", np.zeros_like(w))
    v = config["momentum"] * v - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config""",
        """\
    v = config["velocity"] if "velocity" in config else np.zeros(w.shape)
    config["velocity"] = v * config["momentum"] - dw * config["learning_rate"]
    next_w = w.copy()
    next_w += config["velocity"]
    return next_w, config""",
    ),
)

# A student who works in single precision: the network casts X and its
# parameters to float32 and keeps its gradients float32 (the provided max-pool
# backward returns float64), and the momentum update is float32. The Keras
# model is float32 already.
FLOAT32 = (
    Edit(
        """\
        p = self.params
        conv, conv_cache = conv_forward_fast(X, p["W1"], p["b1"], self.conv_param)
""",
        """\
        p = {k: np.asarray(v, dtype=np.float32) for k, v in self.params.items()}
        X = np.asarray(X, dtype=np.float32)
        conv, conv_cache = conv_forward_fast(X, p["W1"], p["b1"], self.conv_param)
""",
    ),
    Edit(
        "dact = max_pool_backward_fast(dpooled, pool_cache)",
        "dact = max_pool_backward_fast(dpooled, pool_cache).astype(np.float32)",
    ),
    Edit(
        'v = config.get("velocity", np.zeros_like(w))',
        "w, dw = np.asarray(w, dtype=np.float32), np.asarray(dw, dtype=np.float32)\n"
        '    v = np.asarray(config.get("velocity", np.zeros_like(w)), dtype=np.float32)',
    ),
)

SAMPLE_CLASS = [
    Submission("solution", "the instructor solution", answer=ANSWER, kind="correct"),
    Submission(
        "alt-formulas",
        "correct with the functional Keras API and other formulas",
        edits=ALTERNATIVE,
        kind="correct",
    ),
    Submission(
        "alt-float32",
        "correct in single precision: the three-layer network's loss "
        "and gradients and the momentum update computed and returned in float32 "
        "(build_lenet5 is Keras float32 as written)",
        edits=FLOAT32,
        kind="correct",
    ),
    Submission("blank", "the untouched release", library="release", fails=ALL, kind="blank"),
    *MUTANTS,
]
