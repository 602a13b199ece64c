"""Chapter 4 - a batch-normalization layer for Keras.

The numpy functions of ``normalization`` written as a Keras layer: the same
computation, but Keras creates and tracks the weights, differentiates the
forward pass for you (there is no backward pass to write) and saves the layer
with the model. Inputs are channels last, as everywhere in Keras: (N, D) or
(N, H, W, C), normalized per feature or channel (the last axis) over every
other axis:

    xhat = (x - mean) / sqrt(var + epsilon),   out = gamma * xhat + beta

with the biased variance. In training mode the layer uses the batch's
statistics and updates its moving averages with the Keras formula (note the
order: ``momentum`` weighs the old value, as in ``normalization``):

    moving = moving * momentum + batch statistic * (1 - momentum)

In inference mode it uses the moving averages and changes nothing. The
defaults (``momentum=0.99``, ``epsilon=1e-3``) are those of
``keras.layers.BatchNormalization``, which the layer matches.

Write the layer with ``keras.ops`` (``keras.ops.mean``, ``keras.ops.var``,
``keras.ops.sqrt``, ...), not numpy: inside ``model.fit`` and ``tf.function``
the inputs are symbolic tensors that numpy cannot compute with.

Every method marked "Task" is yours to write, between the solution markers.
"""
import os
from typing import Any

from ._tasks import unwritten  # noqa: F401 (the student release's stubs call it)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import keras  # noqa: E402


@keras.saving.register_keras_serializable(package="nnfs")
class BatchNormLayer(keras.layers.Layer):
    """Batch normalization over every axis but the last (channels last).

    Inputs of shape (N, D) or (N, H, W, C); the output has the input's shape.
    Writing C for the size of the last axis (D for (N, D) inputs), the weights
    are:

    * ``gamma`` (ones) and ``beta`` (zeros), trainable: shape (C,), or shape
      (1,) shared by every channel when ``shared_affine=True``;
    * ``moving_mean`` (zeros) and ``moving_variance`` (ones), not trainable:
      shape (C,) in both cases; the statistics stay per channel.

    Args:
        momentum: weight of the old moving average in each update (0.99).
        epsilon: added to the variance before the square root (1e-3).
        shared_affine: one scalar ``gamma`` and ``beta`` for all channels.
        **kwargs: passed to ``keras.layers.Layer`` (``name``, ``dtype``, ...).
    """

    def __init__(self, momentum: float = 0.99, epsilon: float = 1e-3, shared_affine: bool = False,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.shared_affine = bool(shared_affine)

    def build(self, input_shape):
        """Task 4.9: create the layer's weights.

        Create, with ``self.add_weight(name=..., shape=..., initializer=...,
        trainable=...)`` and these names:

        * ``self.gamma``: initializer ``"ones"``, trainable;
        * ``self.beta``: initializer ``"zeros"``, trainable;
        * ``self.moving_mean``: initializer ``"zeros"``, not trainable;
        * ``self.moving_variance``: initializer ``"ones"``, not trainable.

        ``gamma`` and ``beta`` have shape (C,), or (1,) when
        ``self.shared_affine``; ``moving_mean`` and ``moving_variance`` always
        have shape (C,).

        Args:
            input_shape: tuple (N, D) or (N, H, W, C); N may be None, the last
                axis C (or D) must be known.

        Raises:
            ValueError: when the last axis of ``input_shape`` is None.
        """
        ### BEGIN SOLUTION
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"BatchNormLayer needs a known last axis, got input shape {input_shape}")
        affine_shape = (1,) if self.shared_affine else (channels,)
        self.gamma = self.add_weight(name="gamma", shape=affine_shape,
                                     initializer="ones", trainable=True)
        self.beta = self.add_weight(name="beta", shape=affine_shape,
                                    initializer="zeros", trainable=True)
        self.moving_mean = self.add_weight(name="moving_mean", shape=(channels,),
                                           initializer="zeros", trainable=False)
        self.moving_variance = self.add_weight(name="moving_variance", shape=(channels,),
                                               initializer="ones", trainable=False)
        ### END SOLUTION

    def call(self, inputs, training=None):
        """Task 4.10: normalize the inputs.

        Training mode (``training`` true): take the mean and the biased
        variance of ``inputs`` over every axis but the last (shape (C,)),
        normalize with them, and update the moving statistics in place with
        ``self.moving_mean.assign(...)`` and ``self.moving_variance.assign(...)``:
        ``moving = moving * momentum + batch statistic * (1 - momentum)``.

        Inference mode (``training`` None or false): normalize with
        ``moving_mean`` and ``moving_variance`` and change nothing.

        Both modes return ``gamma * xhat + beta``, broadcast over the last
        axis. Keras passes ``training`` as a Python bool (``model.fit`` True,
        ``model.predict`` False; None when you call ``layer(x)`` yourself), so
        a plain ``if training:`` decides the mode. Use ``keras.ops``, not numpy.

        Args:
            inputs: tensor of shape (N, D) or (N, H, W, C).
            training: True, False or None.

        Returns:
            Tensor of the shape of ``inputs``.
        """
        ### BEGIN SOLUTION
        axes = tuple(range(len(inputs.shape) - 1))
        if training:
            mean = keras.ops.mean(inputs, axis=axes)
            var = keras.ops.var(inputs, axis=axes)
            self.moving_mean.assign(self.moving_mean * self.momentum
                                    + mean * (1.0 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum
                                        + var * (1.0 - self.momentum))
        else:
            mean, var = self.moving_mean, self.moving_variance
        xhat = (inputs - mean) / keras.ops.sqrt(var + self.epsilon)
        return self.gamma * xhat + self.beta
        ### END SOLUTION

    def get_config(self) -> dict:
        """The constructor arguments, so ``BatchNormLayer.from_config`` rebuilds the layer."""
        config = super().get_config()
        config.update(momentum=self.momentum, epsilon=self.epsilon,
                      shared_affine=self.shared_affine)
        return config

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """The output has the input's shape."""
        return input_shape
