"""The instructor's Chapter 4 Keras layer (``source_lib.keras_layers``) against Keras.

Oracle: ``keras.layers.BatchNormalization`` (default ``axis=-1``) with the
same ``momentum`` and ``epsilon``, compared in float32 training and inference
outputs and moving statistics (eagerly and in ``tf.function``) and in float64
``tf.GradientTape`` gradients; numpy for the shared affine variant; and a small
conv net trained with ``model.fit`` on MNIST. Tolerance: relative 1e-5,
absolute 1e-6.
"""

import numpy as np  # noqa: E402
import pytest  # noqa: E402

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from source_lib.keras_layers import BatchNormLayer  # noqa: E402

SHAPES = [pytest.param((32, 6), id="N-D"), pytest.param((8, 5, 4, 3), id="N-H-W-C")]
HYPER = [
    pytest.param({}, id="defaults"),
    pytest.param({"momentum": 0.8, "epsilon": 1e-5}, id="momentum0.8-eps1e-5"),
]
STEPS = 5


def close(actual, desired):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(desired), rtol=1e-5, atol=1e-6)


def batch(rng, shape):
    """float32 inputs whose channels differ in mean and spread."""
    c = shape[-1]
    scale = rng.uniform(0.5, 3.0, size=c)
    shift = rng.uniform(-2.0, 2.0, size=c)
    return (rng.standard_normal(shape) * scale + shift).astype(np.float32)


def twin_layers(shape, hyper, rng):
    """Our layer and Keras's, built for ``shape``, with the same random gamma and beta."""
    ours = BatchNormLayer(**hyper)
    ref = keras.layers.BatchNormalization(
        momentum=ours.momentum, epsilon=ours.epsilon, dtype=ours.dtype_policy
    )
    ours.build(shape)
    ref.build(shape)
    c = shape[-1]
    gamma = rng.uniform(0.5, 2.0, size=c)
    beta = rng.uniform(-1.0, 1.0, size=c)
    for layer in (ours, ref):
        layer.gamma.assign(gamma)
        layer.beta.assign(beta)
    return ours, ref


def test_defaults_are_keras_defaults():
    ours, ref = BatchNormLayer(), keras.layers.BatchNormalization()
    assert (ours.momentum, ours.epsilon, ours.shared_affine) == (ref.momentum, ref.epsilon, False)


@pytest.mark.parametrize("graph", [False, True], ids=["eager", "tf.function"])
@pytest.mark.parametrize("hyper", HYPER)
@pytest.mark.parametrize("shape", SHAPES)
def test_matches_keras_batch_normalization(shape, hyper, graph):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    ours, ref = twin_layers(shape, hyper, rng)
    c = shape[-1]
    assert tuple(ours.gamma.shape) == tuple(ours.beta.shape) == (c,)
    assert tuple(ours.moving_mean.shape) == tuple(ours.moving_variance.shape) == (c,)
    assert {w.name for w in ours.trainable_weights} == {"gamma", "beta"}
    assert {w.name for w in ours.non_trainable_weights} == {"moving_mean", "moving_variance"}

    def run(layer, x, training):
        if graph:
            return tf.function(lambda t: layer(t, training=training))(tf.constant(x))
        return layer(x, training=training)

    for _ in range(STEPS):
        x = batch(rng, shape)
        close(run(ours, x, True), run(ref, x, True))
    close(ours.moving_mean, ref.moving_mean)
    close(ours.moving_variance, ref.moving_variance)
    assert not np.allclose(ref.moving_mean, 0.0)  # the statistics moved: the check has teeth

    x = batch(rng, shape)
    for training in (False, None):
        close(run(ours, x, training), run(ref, x, False))
    close(ours(x), ref(x))  # called without ``training``: inference
    close(ours.moving_mean, ref.moving_mean)  # inference changed nothing
    close(ours.moving_variance, ref.moving_variance)


def test_shared_affine_matches_numpy():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(1)
    shape, momentum, eps = (6, 4, 5, 3), 0.7, 1e-3
    layer = BatchNormLayer(momentum=momentum, epsilon=eps, shared_affine=True)
    layer.build(shape)
    assert tuple(layer.gamma.shape) == tuple(layer.beta.shape) == (1,)
    assert tuple(layer.moving_mean.shape) == tuple(layer.moving_variance.shape) == (3,)
    assert layer.count_params() == 2 + 2 * 3
    layer.gamma.assign([2.5])
    layer.beta.assign([-0.5])

    x64 = batch(rng, shape).astype(np.float64)
    axes = (0, 1, 2)
    mean, var = x64.mean(axis=axes), x64.var(axis=axes)
    expected = 2.5 * (x64 - mean) / np.sqrt(var + eps) - 0.5
    out = np.asarray(layer(x64.astype(np.float32), training=True))
    close(out, expected)
    # still per channel: every channel of xhat has mean 0 and variance ~1
    xhat = (out + 0.5) / 2.5
    np.testing.assert_allclose(xhat.mean(axis=axes), 0.0, atol=1e-5)
    np.testing.assert_allclose(xhat.var(axis=axes), var / (var + eps), rtol=1e-4)

    moving_mean = momentum * 0.0 + (1 - momentum) * mean
    moving_var = momentum * 1.0 + (1 - momentum) * var
    close(layer.moving_mean, moving_mean)
    close(layer.moving_variance, moving_var)
    y = batch(rng, shape)
    expected = 2.5 * (y - moving_mean) / np.sqrt(moving_var + eps) - 0.5
    close(layer(y, training=False), expected)


def test_config_round_trip_and_model_save_load(tmp_path):
    keras.utils.set_random_seed(0)
    layer = BatchNormLayer(momentum=0.8, epsilon=1e-4, shared_affine=True, name="bn")
    config = layer.get_config()
    assert (config["momentum"], config["epsilon"], config["shared_affine"]) == (0.8, 1e-4, True)
    clone = BatchNormLayer.from_config(config)
    assert (clone.momentum, clone.epsilon, clone.shared_affine, clone.name) == (0.8, 1e-4, True, "bn")
    assert clone.get_config() == config

    rng = np.random.default_rng(2)
    x = batch(rng, (64, 6, 6, 2))
    y = rng.integers(0, 3, size=64)
    model = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            BatchNormLayer(momentum=0.5, name="bn1"),
            keras.layers.Conv2D(3, 3),
            BatchNormLayer(shared_affine=True, name="bn2"),
            keras.layers.Flatten(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert not np.allclose(model.get_layer("bn1").moving_mean, 0.0)  # fit trained it

    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    for name in ("bn1", "bn2"):
        a, b = model.get_layer(name), loaded.get_layer(name)
        assert type(b) is BatchNormLayer and b.get_config() == a.get_config()
        for wa, wb in zip(a.weights, b.weights):
            assert wa.name == wb.name
            np.testing.assert_array_equal(np.asarray(wa), np.asarray(wb))
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def small_convnet(norm):
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(16, 3),
            norm,
            keras.layers.ReLU(),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def test_trains_in_a_compiled_model_like_keras_batch_normalization(monkeypatch):
    monkeypatch.setenv("NNFS_OFFLINE", "1")
    from source_lib.data import load_mnist

    (x_train, y_train), (x_test, y_test) = load_mnist(seed=0)
    x_train = x_train[:2000].reshape(-1, 28, 28, 1).astype(np.float32)
    y_train = y_train[:2000]
    x_test = x_test.reshape(-1, 28, 28, 1).astype(np.float32)

    # momentum 0.9, not 0.99: 64 steps are too few for 0.99's moving averages
    # to forget their start (0.99 ** 64 = 0.53), and inference would suffer.
    accuracy = {}
    for name, make_norm in [("ours", BatchNormLayer), ("keras", keras.layers.BatchNormalization)]:
        keras.utils.set_random_seed(0)
        model = small_convnet(make_norm(momentum=0.9))
        model.compile(
            optimizer=keras.optimizers.Adam(3e-3),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        model.fit(x_train, y_train, epochs=2, batch_size=64, verbose=0)
        accuracy[name] = model.evaluate(x_test, y_test, batch_size=256, verbose=0)[1]
    assert accuracy["ours"] > 0.85 and accuracy["keras"] > 0.85, accuracy
    assert abs(accuracy["ours"] - accuracy["keras"]) <= 0.02, accuracy


@pytest.mark.parametrize("shape", SHAPES)
def test_gradients_match_keras_batch_normalization(shape):
    # float64 layers: dgamma = sum(upstream * xhat) sums terms of both signs,
    # and in float32 Keras's own rounding (it computes x * inv + (beta - mean * inv))
    # alone reaches 1e-5 relative; in float64 both agree to ~1e-9.
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(3)
    ours, ref = twin_layers(shape, {"dtype": "float64"}, rng)
    assert ours.gamma.dtype == ref.gamma.dtype == "float64"
    x = tf.constant(batch(rng, shape).astype(np.float64))
    # a random upstream gradient: with sum(out), dx would be zero in training mode
    upstream = tf.constant(rng.standard_normal(shape))

    grads = []
    for layer in (ours, ref):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=True) * upstream)
        grads.append(tape.gradient(loss, [x, layer.gamma, layer.beta]))
    for got, want in zip(*grads):
        assert got is not None
        close(got, want)
