"""Chapter 6 - LeNet: a convolutional network in numpy and in Keras.

The networks here:

* ``ThreeLayerConvNet``, a small convolutional network in numpy, built from
  the layers you wrote in earlier chapters (``affine_*``, ``relu_*`` and
  ``softmax_loss`` of Chapter 1, the fast convolution of Chapter 2 and the
  fast max pooling of Chapter 3), trained by ``Solver`` with
  ``sgd_momentum``;
* ``LeNet5`` (provided), LeNet-5 in numpy from the same layers, with the same
  ``loss`` interface, so that ``Solver`` trains it too;
* ``build_lenet5``, LeCun et al.'s LeNet-5 in Keras, and ``build_baseline``,
  a fully connected network to compare it with.

numpy code is channels first (N, C, H, W); Keras code is channels last
(N, H, W, C). Keras is imported only inside the Keras functions, so the numpy
half of the chapter runs without TensorFlow.

Every function marked "Task" is yours to write, between the solution markers.
When your work is graded, the earlier chapters' layers are the course's
reference versions, so a bug there is not paid for twice.
"""
from typing import TYPE_CHECKING

import numpy as np

from ._tasks import unwritten  # noqa: F401 (the student release's stubs call it)
from .convolution import conv_backward_fast, conv_forward_fast
from .feedforward import affine_backward, affine_forward, relu_backward, relu_forward, softmax_loss
from .pooling import max_pool_backward_fast, max_pool_forward_fast

if TYPE_CHECKING:
    import keras


def build_lenet5(input_shape=(28, 28, 1), num_classes=10, dropout=None, batchnorm=False):
    """Task 6.1: LeNet-5 as a ``keras.Sequential`` model.

    Layers, in order (every convolution has 5x5 kernels and stride 1):

    =====================  ==============================  =================
    layer                  Keras                           output (28x28x1)
    =====================  ==============================  =================
    input                  ``keras.Input(input_shape)``    (28, 28, 1)
    conv 6, 'same', ReLU   ``Conv2D``                      (28, 28, 6)
    max pool 2x2           ``MaxPooling2D(2)``             (14, 14, 6)
    conv 16, ReLU          ``Conv2D`` ('valid')            (10, 10, 16)
    max pool 2x2           ``MaxPooling2D(2)``             (5, 5, 16)
    conv 120, ReLU         ``Conv2D`` ('valid')            (1, 1, 120)
    flatten                ``Flatten``                     (120,)
    dense 84, ReLU         ``Dense``                       (84,)
    dense, softmax         ``Dense(num_classes)``          (10,)
    =====================  ==============================  =================

    That is 61,706 trainable parameters for the defaults.

    Variants:

    * ``dropout=rate``: a ``Dropout(rate)`` layer right before each of the two
      dense layers (after the flatten and after the 84-unit layer).
    * ``batchnorm=True``: each convolution and the 84-unit dense layer lose
      their activation and are followed by ``BatchNormalization()`` (Keras
      defaults) and then ``Activation("relu")``.

    Args:
        input_shape: (H, W, C) of the images.
        num_classes: number of output units.
        dropout: dropout rate, or None for no dropout.
        batchnorm: whether to add batch normalization.

    Returns:
        The ``keras.Sequential`` model, built (not compiled).
    """
    import keras
    from keras import layers

    ### BEGIN SOLUTION
    relu = None if batchnorm else "relu"

    def activated(layer):
        if not batchnorm:
            return [layer]
        return [layer, layers.BatchNormalization(), layers.Activation("relu")]

    def dropped():  # a fresh layer at each use: a layer belongs to one place
        return [layers.Dropout(dropout)] if dropout else []

    return keras.Sequential([
        keras.Input(shape=input_shape),
        *activated(layers.Conv2D(6, 5, padding="same", activation=relu)),
        layers.MaxPooling2D(2),
        *activated(layers.Conv2D(16, 5, activation=relu)),
        layers.MaxPooling2D(2),
        *activated(layers.Conv2D(120, 5, activation=relu)),
        layers.Flatten(),
        *dropped(),
        *activated(layers.Dense(84, activation=relu)),
        *dropped(),
        layers.Dense(num_classes, activation="softmax"),
    ], name="lenet5")
    ### END SOLUTION


def build_baseline(input_shape: tuple[int, int, int] = (28, 28, 1),
                   num_classes: int = 10) -> "keras.Sequential":
    """A fully connected baseline: flatten, dense 128 ReLU, dense 64 ReLU, dense softmax (provided)."""
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input(shape=input_shape),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dense(64, activation="relu"),
        layers.Dense(num_classes, activation="softmax"),
    ], name="baseline")


class ThreeLayerConvNet:
    """conv - relu - 2x2 max pool - affine - relu - affine - softmax, in numpy.

    The convolution has ``num_filters`` filters of ``filter_size`` x
    ``filter_size``, stride 1 and the padding that keeps the height and width
    (``(filter_size - 1) // 2``, for odd sizes); the pooling halves them.

    Parameters, in ``self.params``:

    * ``W1`` (F, C, filter_size, filter_size), ``b1`` (F,): the convolution;
    * ``W2`` (F * H/2 * W/2, hidden_dim), ``b2`` (hidden_dim,): the hidden layer;
    * ``W3`` (hidden_dim, num_classes), ``b3`` (num_classes,): the output layer.
    """

    def __init__(self, input_dim: tuple[int, int, int] = (1, 28, 28), num_filters: int = 8,
                 filter_size: int = 5, hidden_dim: int = 100, num_classes: int = 10,
                 weight_scale: float | None = None, reg: float = 0.0, seed: int = 0):
        """Random weights and zero biases (provided).

        Args:
            input_dim: (C, H, W) of one image.
            num_filters, filter_size, hidden_dim, num_classes: the sizes above.
            weight_scale: standard deviation of the weights; None draws each
                layer's weights with He et al.'s sqrt(2 / fan_in), which suits ReLU.
            reg: L2 regularization strength.
            seed: seed of the random weights.
        """
        C, H, W = input_dim
        rng = np.random.default_rng(seed)
        self.reg = reg
        self.conv_param = {"stride": 1, "pad": (filter_size - 1) // 2}
        self.pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
        shapes = {"W1": (num_filters, C, filter_size, filter_size),
                  "W2": (num_filters * (H // 2) * (W // 2), hidden_dim),
                  "W3": (hidden_dim, num_classes)}
        self.params = {}
        for i, (name, shape) in enumerate(shapes.items(), start=1):
            fan_in = int(np.prod(shape[1:])) if name == "W1" else shape[0]
            scale = np.sqrt(2.0 / fan_in) if weight_scale is None else weight_scale
            self.params[name] = scale * rng.standard_normal(shape)
            self.params[f"b{i}"] = np.zeros(shape[0] if name == "W1" else shape[1])

    def loss(self, X, y=None):
        """Task 6.2: class scores, or the loss and the gradients of every parameter.

        Chain the layer functions imported at the top of this module:
        ``conv_forward_fast``, ``relu_forward``, ``max_pool_forward_fast``,
        ``affine_forward``, ``relu_forward``, ``affine_forward``; then
        ``softmax_loss``, and the backward functions in reverse order. Add the
        L2 penalty ``0.5 * reg * (sum(W1**2) + sum(W2**2) + sum(W3**2))`` to
        the loss (biases are not penalized) and its derivative ``reg * W`` to
        each weight's gradient.

        Args:
            X: images, shape (N, C, H, W).
            y: labels, shape (N,), integers in [0, num_classes); or None.

        Returns:
            Without ``y``: the scores (before softmax), shape (N, num_classes).
            With ``y``: a tuple ``(loss, grads)``, ``loss`` a float and
            ``grads`` a dict with the keys and shapes of ``self.params``.
        """
        ### BEGIN SOLUTION
        p = self.params
        conv, conv_cache = conv_forward_fast(X, p["W1"], p["b1"], self.conv_param)
        act, act_cache = relu_forward(conv)
        pooled, pool_cache = max_pool_forward_fast(act, self.pool_param)
        hidden_in, hidden_cache = affine_forward(pooled, p["W2"], p["b2"])
        hidden, hidden_act_cache = relu_forward(hidden_in)
        scores, scores_cache = affine_forward(hidden, p["W3"], p["b3"])
        if y is None:
            return scores
        data_loss, dscores = softmax_loss(scores, y)
        weights = ("W1", "W2", "W3")
        loss = data_loss + 0.5 * self.reg * sum(np.sum(p[w] ** 2) for w in weights)
        dhidden, dW3, db3 = affine_backward(dscores, scores_cache)
        dhidden_in = relu_backward(dhidden, hidden_act_cache)
        dpooled, dW2, db2 = affine_backward(dhidden_in, hidden_cache)
        dact = max_pool_backward_fast(dpooled, pool_cache)
        dconv = relu_backward(dact, act_cache)
        _, dW1, db1 = conv_backward_fast(dconv, conv_cache)
        grads = {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2, "W3": dW3, "b3": db3}
        for w in weights:
            grads[w] = grads[w] + self.reg * p[w]
        return float(loss), grads
        ### END SOLUTION


class LeNet5:
    """LeNet-5 in numpy, built from the layers of Chapters 1 to 3 (provided).

    The classic sizes (LeCun et al., 1998) with today's choices: ReLUs, 2x2 max
    pooling without weights, every map of C3 connected to all 6 maps of S2 and
    a softmax output. Shapes for a batch of N images of shape (1, 28, 28):

    ======  ============================================  ===============  ==========
    layer   computed by                                   output           parameters
    ======  ============================================  ===============  ==========
    input   the images; C1 pads them by 2 pixels on       (N, 1, 28, 28)
            every side, LeNet-5's 32 x 32 input
    C1      ``conv_forward_fast``, 6 filters 5x5, pad 2   (N, 6, 28, 28)          156
            and ``relu_forward``
    S2      ``max_pool_forward_fast``, 2x2, stride 2      (N, 6, 14, 14)            0
    C3      ``conv_forward_fast``, 16 filters 5x5, pad 0  (N, 16, 10, 10)       2,416
            and ``relu_forward``
    S4      ``max_pool_forward_fast``, 2x2, stride 2      (N, 16, 5, 5)             0
    C5      ``affine_forward`` on the 400 values of S4    (N, 120)             48,120
            (a 5x5 convolution that covers the 5x5
            maps whole) and ``relu_forward``
    F6      ``affine_forward`` and ``relu_forward``       (N, 84)              10,164
    output  ``affine_forward``: the scores                (N, 10)                 850
    ======  ============================================  ===============  ==========

    61,706 parameters in all, in ``self.params``:

    * ``W1`` (6, 1, 5, 5), ``b1`` (6,): C1;
    * ``W2`` (16, 6, 5, 5), ``b2`` (16,): C3;
    * ``W3`` (400, 120), ``b3`` (120,): C5, one row per value of the (16, 5, 5)
      maps of S4, in the order of ``reshape``;
    * ``W4`` (120, 84), ``b4`` (84,): F6;
    * ``W5`` (84, num_classes), ``b5`` (num_classes,): the output layer.

    The network is a list of layers, ``self.layers``; ``loss`` runs their
    forward functions in order, records each one's cache on a "tape", and then
    runs the backward functions in the reverse order of the tape, as automatic
    differentiation does. Its interface is that of ``ThreeLayerConvNet.loss``,
    so ``Solver`` and ``accuracy`` work with it. It calls your Chapter 1 layers
    (``affine_*``, ``relu_*``, ``softmax_loss``) and the provided fast
    convolution and max pooling.
    """

    def __init__(self, input_dim: tuple[int, int, int] = (1, 28, 28), num_classes: int = 10,
                 reg: float = 0.0, seed: int = 0):
        """He-initialized weights, sqrt(2 / fan_in), and zero biases (provided).

        Args:
            input_dim: (C, H, W) of one image; 28 x 28 images leave S4 with
                maps of 5 x 5, which C5 covers whole.
            num_classes: number of output units.
            reg: L2 regularization strength on the five weight arrays.
            seed: seed of the random weights.
        """
        C, H, W = input_dim
        rng = np.random.default_rng(seed)
        self.reg = reg
        pool = {"pool_height": 2, "pool_width": 2, "stride": 2}
        # (kind, number of its W and b, options); "relu" and "pool" have no parameters
        self.layers = [("conv", 1, {"stride": 1, "pad": 2}), ("relu", None, None),
                       ("pool", None, pool),                                       # C1, S2
                       ("conv", 2, {"stride": 1, "pad": 0}), ("relu", None, None),
                       ("pool", None, pool),                                       # C3, S4
                       ("affine", 3, None), ("relu", None, None),                  # C5
                       ("affine", 4, None), ("relu", None, None),                  # F6
                       ("affine", 5, None)]                                        # output
        h, w = (H // 2 - 4) // 2, (W // 2 - 4) // 2  # after C1 (same), S2, C3, S4: 5 for 28
        shapes = {"W1": (6, C, 5, 5), "W2": (16, 6, 5, 5), "W3": (16 * h * w, 120),
                  "W4": (120, 84), "W5": (84, num_classes)}
        self.params = {}
        for i, (name, shape) in enumerate(shapes.items(), start=1):
            fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else shape[0]
            self.params[name] = np.sqrt(2.0 / fan_in) * rng.standard_normal(shape)
            self.params[f"b{i}"] = np.zeros(shape[0] if len(shape) == 4 else shape[1])

    def loss(self, X: np.ndarray,
             y: np.ndarray | None = None) -> np.ndarray | tuple[float, dict[str, np.ndarray]]:
        """Class scores, or the loss and the gradients of every parameter (provided).

        Args:
            X: images, shape (N, C, 28, 28).
            y: labels, shape (N,), integers in [0, num_classes); or None.

        Returns:
            Without ``y``: the scores (before softmax), shape (N, num_classes).
            With ``y``: ``(loss, grads)``, the cross-entropy plus
            ``0.5 * reg * sum(W**2)`` over the five weight arrays, and a dict of
            gradients with the keys and shapes of ``self.params``.
        """
        p, tape, out = self.params, [], X
        for kind, i, options in self.layers:
            if kind == "conv":
                out, cache = conv_forward_fast(out, p[f"W{i}"], p[f"b{i}"], options)
            elif kind == "affine":
                out, cache = affine_forward(out, p[f"W{i}"], p[f"b{i}"])
            elif kind == "pool":
                out, cache = max_pool_forward_fast(out, options)
            else:
                out, cache = relu_forward(out)
            tape.append((kind, i, cache))
        if y is None:
            return out
        weights = [name for name in p if name.startswith("W")]
        data_loss, dout = softmax_loss(out, y)
        grads = {}
        for kind, i, cache in reversed(tape):
            if kind == "conv":
                dout, grads[f"W{i}"], grads[f"b{i}"] = conv_backward_fast(dout, cache)
            elif kind == "affine":
                dout, grads[f"W{i}"], grads[f"b{i}"] = affine_backward(dout, cache)
            elif kind == "pool":
                dout = max_pool_backward_fast(dout, cache)
            else:
                dout = relu_backward(dout, cache)
        penalty = 0.5 * self.reg * sum(np.sum(p[name] ** 2) for name in weights)
        for name in weights:
            grads[name] = grads[name] + self.reg * p[name]
        return float(data_loss + penalty), {name: grads[name] for name in p}


def sgd_momentum(w, dw, config):
    """Task 6.3: one step of stochastic gradient descent with momentum.

    v = momentum * v - learning_rate * dw,   next_w = w + v

    Args:
        w: a parameter, array of any shape.
        dw: its gradient, same shape.
        config: dict with ``learning_rate`` (default 1e-2), ``momentum``
            (default 0.9) and ``velocity`` (default zeros like ``w``). Store
            the new velocity back in ``config["velocity"]`` for the next step.

    Returns:
        Tuple ``(next_w, config)``.
    """
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    ### BEGIN SOLUTION
    v = config.get("velocity", np.zeros_like(w))
    v = config["momentum"] * v - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config
    ### END SOLUTION


def accuracy(model: ThreeLayerConvNet | LeNet5, X: np.ndarray, y: np.ndarray,
             batch_size: int = 500) -> float:
    """Fraction of ``X`` (N, C, H, W) that ``model`` classifies as ``y`` (provided)."""
    predictions = [np.argmax(model.loss(X[i:i + batch_size]), axis=1)
                   for i in range(0, len(X), batch_size)]
    return float(np.mean(np.concatenate(predictions) == y))


class Solver:
    """Mini-batch training of a numpy model with ``sgd_momentum`` (provided).

    After ``train()``: ``loss_history`` (one loss per iteration),
    ``train_acc_history`` and ``val_acc_history`` (one accuracy per epoch;
    training accuracy on at most ``num_train_samples`` examples), and
    ``best_params``, the parameters of the epoch with the best validation
    accuracy, which ``train`` leaves in the model.
    """

    def __init__(self, model: ThreeLayerConvNet | LeNet5, data: dict[str, np.ndarray],
                 num_epochs: int = 5, batch_size: int = 50, learning_rate: float = 1e-2,
                 momentum: float = 0.9, lr_decay: float = 0.9, num_train_samples: int = 1000,
                 seed: int = 0, verbose: bool = True):
        """``data`` holds ``X_train``, ``y_train``, ``X_val`` and ``y_val``.

        ``lr_decay`` multiplies the learning rate after each epoch.
        """
        self.model, self.data = model, data
        self.num_epochs, self.batch_size = num_epochs, batch_size
        self.lr_decay, self.num_train_samples = lr_decay, num_train_samples
        self.rng = np.random.default_rng(seed)
        self.verbose = verbose
        self.configs = {k: {"learning_rate": learning_rate, "momentum": momentum}
                        for k in model.params}
        self.loss_history, self.train_acc_history, self.val_acc_history = [], [], []
        self.best_val_acc, self.best_params = -1.0, None

    def _step(self, X, y):
        loss, grads = self.model.loss(X, y)
        self.loss_history.append(loss)
        for k, w in self.model.params.items():
            self.model.params[k], self.configs[k] = sgd_momentum(w, grads[k], self.configs[k])

    def train(self) -> "Solver":
        X, y = self.data["X_train"], self.data["y_train"]
        for epoch in range(1, self.num_epochs + 1):
            order = self.rng.permutation(len(X))
            for start in range(0, len(X), self.batch_size):
                batch = order[start:start + self.batch_size]
                self._step(X[batch], y[batch])
            for config in self.configs.values():
                config["learning_rate"] *= self.lr_decay
            sample = self.rng.choice(len(X), min(len(X), self.num_train_samples), replace=False)
            train_acc = accuracy(self.model, X[sample], y[sample])
            val_acc = accuracy(self.model, self.data["X_val"], self.data["y_val"])
            self.train_acc_history.append(train_acc)
            self.val_acc_history.append(val_acc)
            if val_acc > self.best_val_acc:
                self.best_val_acc = val_acc
                self.best_params = {k: v.copy() for k, v in self.model.params.items()}
            if self.verbose:
                print(f"epoch {epoch}/{self.num_epochs}: loss {self.loss_history[-1]:.3f}, "
                      f"train accuracy {train_acc:.3f}, validation accuracy {val_acc:.3f}")
        self.model.params = self.best_params
        return self
