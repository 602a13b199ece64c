"""The instructor's Chapter 6 networks against independent oracles.

Oracles: the numpy ConvNet and the provided numpy LeNet-5 written again in
TensorFlow ops (``tf.nn.conv2d`` with explicit padding, ``tf.nn.max_pool2d``,
``tf.matmul``, ``tf.nn.sparse_softmax_cross_entropy_with_logits``) and differentiated by
``tf.GradientTape``; centered-difference numerical gradients on a tiny net;
Keras's own SGD optimizer for the momentum update; the published LeNet-5
shapes and parameter count (LeCun et al., 1998, as in Keras's classic
version: 61,706); and, for the Keras model, a numpy forward pass with the
Keras weights.
"""

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from source_lib import lenet  # noqa: E402
from source_lib.convolution import network_cost  # noqa: E402
from source_lib.gradcheck import eval_numerical_gradient, rel_error  # noqa: E402

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

PARAMS = ("W1", "b1", "W2", "b2", "W3", "b3")
CLASSIC = [(28, 28, 6), (14, 14, 6), (10, 10, 16), (5, 5, 16), (1, 1, 120), (120,), (84,), (10,)]


def tiny_net(seed, reg=0.1, filter_size=3):
    rng = np.random.default_rng(seed)
    C, H, W = int(rng.integers(1, 3)), 6, 8
    net = lenet.ThreeLayerConvNet(
        input_dim=(C, H, W),
        num_filters=3,
        filter_size=filter_size,
        hidden_dim=5,
        num_classes=4,
        reg=reg,
        seed=seed,
    )
    net.params = {k: rng.standard_normal(v.shape) * 0.5 for k, v in net.params.items()}
    X = rng.standard_normal((3, C, H, W))
    y = rng.integers(0, 4, 3)
    return net, X, y


def tf_convnet(net, X, y):
    """The same network in TensorFlow; returns scores, loss and autodiff gradients."""
    v = {k: tf.Variable(p) for k, p in net.params.items()}
    pad = net.conv_param["pad"]
    with tf.GradientTape() as tape:
        x = tf.transpose(tf.constant(X), (0, 2, 3, 1))  # NHWC
        kernel = tf.transpose(v["W1"], (2, 3, 1, 0))  # OIHW -> HWIO
        conv = tf.nn.conv2d(x, kernel, 1, [[0, 0], [pad, pad], [pad, pad], [0, 0]]) + v["b1"]
        pooled = tf.nn.max_pool2d(tf.nn.relu(conv), 2, 2, "VALID")
        flat = tf.reshape(tf.transpose(pooled, (0, 3, 1, 2)), (len(X), -1))  # numpy's C,H,W order
        hidden = tf.nn.relu(tf.matmul(flat, v["W2"]) + v["b2"])
        scores = tf.matmul(hidden, v["W3"]) + v["b3"]
        data = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, scores))
        loss = data + 0.5 * net.reg * sum(tf.reduce_sum(v[k] ** 2) for k in ("W1", "W2", "W3"))
    grads = tape.gradient(loss, [v[k] for k in PARAMS])
    return scores.numpy(), float(loss.numpy()), {k: g.numpy() for k, g in zip(PARAMS, grads)}


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("filter_size", [3, 5])
def test_convnet_matches_tensorflow(seed, filter_size):
    net, X, y = tiny_net(seed, filter_size=filter_size)
    tf_scores, tf_loss, tf_grads = tf_convnet(net, X, y)
    assert rel_error(net.loss(X), tf_scores) < 1e-9
    loss, grads = net.loss(X, y)
    assert rel_error(loss, tf_loss) < 1e-9
    for k in PARAMS:
        assert grads[k].shape == net.params[k].shape
        assert rel_error(grads[k], tf_grads[k]) < 1e-7, k


@pytest.mark.parametrize("seed", range(3))
def test_convnet_gradients_match_numerical_gradients(seed):
    net, X, y = tiny_net(seed)
    _, grads = net.loss(X, y)
    for k in PARAMS:

        def f(_):
            return net.loss(X, y)[0]

        numeric = eval_numerical_gradient(f, net.params[k], h=1e-6)
        error = np.linalg.norm(grads[k] - numeric) / np.linalg.norm(grads[k] + numeric)
        assert error < 1e-6, k


def test_initial_loss_is_log_of_the_class_count():
    net = lenet.ThreeLayerConvNet(weight_scale=1e-3, seed=1)
    X = np.random.default_rng(1).random((20, 1, 28, 28))
    loss, _ = net.loss(X, np.arange(20) % 10)
    assert loss == pytest.approx(np.log(10), rel=1e-3)


def test_sgd_momentum_matches_keras_sgd():
    rng = np.random.default_rng(0)
    w0, grads = rng.standard_normal((3, 4)), [rng.standard_normal((3, 4)) for _ in range(3)]
    var = keras.Variable(w0.copy(), dtype="float64")
    opt = keras.optimizers.SGD(learning_rate=0.25, momentum=0.75)  # exact in float32
    config, w = {"learning_rate": 0.25, "momentum": 0.75}, w0.copy()
    for g in grads:
        opt.apply_gradients([(keras.ops.convert_to_tensor(g), var)])
        w, config = lenet.sgd_momentum(w, g, config)
    assert rel_error(w, keras.ops.convert_to_numpy(var)) < 1e-12


def test_solver_overfits_a_small_set():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 1, 8, 8)), rng.integers(0, 3, 40)
    net = lenet.ThreeLayerConvNet(
        input_dim=(1, 8, 8), num_filters=4, filter_size=3, hidden_dim=32, num_classes=3
    )
    data = {"X_train": X, "y_train": y, "X_val": X[:10], "y_val": y[:10]}
    solver = lenet.Solver(net, data, num_epochs=15, batch_size=10, learning_rate=0.05, verbose=False).train()
    assert solver.train_acc_history[-1] == 1.0
    assert len(solver.loss_history) == 15 * 4 and solver.loss_history[-1] < 0.1


def test_lenet5_has_the_classic_shapes_and_parameter_count():
    model = lenet.build_lenet5()
    shapes = [tuple(layer.output.shape[1:]) for layer in model.layers]
    assert shapes == CLASSIC
    assert (
        model.count_params()
        == 61_706
        == sum(
            r["parameters"]
            for r in network_cost(
                (28, 28, 1),
                [
                    ("conv", {"filters": 6, "kernel": 5, "pad": "same"}),
                    ("pool", {"size": 2}),
                    ("conv", {"filters": 16, "kernel": 5}),
                    ("pool", {"size": 2}),
                    ("conv", {"filters": 120, "kernel": 5}),
                    ("flatten",),
                    ("dense", {"units": 84}),
                    ("dense", {"units": 10}),
                ],
            )
        )
    )


def test_lenet5_variants():
    dropped = lenet.build_lenet5(dropout=0.4)
    rates = [layer.rate for layer in dropped.layers if isinstance(layer, keras.layers.Dropout)]
    assert rates == [0.4, 0.4]
    assert dropped.count_params() == 61_706
    normed = lenet.build_lenet5(batchnorm=True, num_classes=5, input_shape=(32, 32, 3))
    kinds = [type(layer).__name__ for layer in normed.layers]
    assert kinds.count("BatchNormalization") == 4
    assert normed.output_shape == (None, 5)


def numpy_lenet(model, x):
    """Forward pass of a built LeNet-5 (no variants) with its Keras weights, in numpy."""
    out = x.astype(np.float64)
    for layer in model.layers:
        name = type(layer).__name__
        if name == "Conv2D":
            k, b = (w.astype(np.float64) for w in layer.get_weights())
            p = k.shape[0] // 2 if layer.padding == "same" else 0
            xp = np.pad(out, ((0, 0), (p, p), (p, p), (0, 0)))
            H, W = xp.shape[1] - k.shape[0] + 1, xp.shape[2] - k.shape[1] + 1
            out = np.zeros((len(xp), H, W, k.shape[3]))
            for i in range(k.shape[0]):
                for j in range(k.shape[1]):
                    out += np.einsum("nhwc,cf->nhwf", xp[:, i : i + H, j : j + W], k[i, j])
            out = np.maximum(out + b, 0)
        elif name == "MaxPooling2D":
            N, H, W, C = out.shape
            out = out[:, : H // 2 * 2, : W // 2 * 2].reshape(N, H // 2, 2, W // 2, 2, C).max(axis=(2, 4))
        elif name == "Flatten":
            out = out.reshape(len(out), -1)
        elif name == "Dense":
            k, b = (w.astype(np.float64) for w in layer.get_weights())
            out = out @ k + b
            if layer.activation.__name__ == "relu":
                out = np.maximum(out, 0)
            else:
                out = np.exp(out - out.max(axis=1, keepdims=True))
                out /= out.sum(axis=1, keepdims=True)
    return out


def test_lenet5_computes_what_its_layers_say():
    keras.utils.set_random_seed(3)
    model = lenet.build_lenet5(input_shape=(32, 28, 3), num_classes=7)
    x = np.random.default_rng(3).random((4, 32, 28, 3)).astype("float32")
    np.testing.assert_allclose(model(x, training=False).numpy(), numpy_lenet(model, x), rtol=1e-4, atol=1e-6)


def tf_lenet5(net, X, y):
    """The numpy LeNet-5 in TensorFlow ops; its scores, loss and autodiff gradients."""
    v = {k: tf.Variable(p) for k, p in net.params.items()}
    with tf.GradientTape() as tape:
        h = tf.transpose(tf.constant(X), (0, 2, 3, 1))  # NHWC
        for i, pad in ((1, 2), (2, 0)):  # C1-S2, C3-S4
            kernel = tf.transpose(v[f"W{i}"], (2, 3, 1, 0))  # OIHW -> HWIO
            h = tf.nn.conv2d(h, kernel, 1, [[0, 0], [pad, pad], [pad, pad], [0, 0]]) + v[f"b{i}"]
            h = tf.nn.max_pool2d(tf.nn.relu(h), 2, 2, "VALID")
        h = tf.reshape(tf.transpose(h, (0, 3, 1, 2)), (len(X), -1))  # numpy's C,H,W order
        for i in (3, 4):  # C5, F6
            h = tf.nn.relu(tf.matmul(h, v[f"W{i}"]) + v[f"b{i}"])
        scores = tf.matmul(h, v["W5"]) + v["b5"]
        data = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, scores))
        loss = data + 0.5 * net.reg * sum(tf.reduce_sum(v[f"W{i}"] ** 2) for i in range(1, 6))
    names = list(net.params)
    grads = tape.gradient(loss, [v[k] for k in names])
    return scores.numpy(), float(loss.numpy()), {k: g.numpy() for k, g in zip(names, grads)}


def test_lenet5_has_the_classic_shapes_and_61706_parameters():
    net = lenet.LeNet5()
    shapes = {k: v.shape for k, v in net.params.items()}
    assert shapes == {
        "W1": (6, 1, 5, 5),
        "b1": (6,),
        "W2": (16, 6, 5, 5),
        "b2": (16,),
        "W3": (400, 120),
        "b3": (120,),
        "W4": (120, 84),
        "b4": (84,),
        "W5": (84, 10),
        "b5": (10,),
    }
    assert sum(v.size for v in net.params.values()) == 61_706
    assert net.loss(np.zeros((2, 1, 28, 28))).shape == (2, 10)


@pytest.mark.parametrize("seed", range(2))
def test_lenet5_matches_tensorflow(seed):
    """Scores, loss and every gradient of the provided numpy LeNet-5, on random biases
    (zero biases put ReLU inputs at the kink on a blank background)."""
    rng = np.random.default_rng(seed)
    net = lenet.LeNet5(reg=0.05, seed=seed)
    for k in ("b1", "b2", "b3", "b4", "b5"):
        net.params[k] = 0.1 * rng.standard_normal(net.params[k].shape)
    X, y = rng.random((3, 1, 28, 28)), rng.integers(0, 10, 3)
    tf_scores, tf_loss, tf_grads = tf_lenet5(net, X, y)
    assert rel_error(net.loss(X), tf_scores) < 1e-9
    loss, grads = net.loss(X, y)
    assert rel_error(loss, tf_loss) < 1e-9
    assert set(grads) == set(net.params)
    for k in net.params:
        assert grads[k].shape == net.params[k].shape
        assert rel_error(grads[k], tf_grads[k]) < 1e-7, k
