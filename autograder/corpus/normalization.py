"""Fixture submissions for Chapter 4 (normalization)."""

from . import Edit, Submission, chapter_checks

# Spatial batch norm is graded on the instructor's batchnorm_forward and _backward,
# so a batch-norm bug costs Tasks 4.1-4.2 only; a forward bug costs its backward
# too (the backward check runs on the student's own forward's cache).
BN = frozenset({"normalization.batchnorm_forward"})
BN_BACKWARD = frozenset({"normalization.batchnorm_backward"})
SPATIAL = frozenset({"normalization.spatial_batchnorm_forward"})
SPATIAL_BACKWARD = frozenset({"normalization.spatial_batchnorm_backward"})
KERAS_BUILD = frozenset({"keras_layers.BatchNormLayer.build"})
KERAS_CALL = frozenset({"keras_layers.BatchNormLayer.call"})
ALL = chapter_checks("normalization")  # one per task: autograder/tasks.py

ANSWER = (
    "Batch norm's statistics depend on the other examples of the batch, so with tiny or "
    "varying batches they are noisy; layer and group norm use one example only."
)

# Realistic bugs: each names the checks it must fail; every check has one.
MUTANTS = [
    Submission(
        "bug-std-for-variance",
        "the standard deviation where the variance belongs",
        edits=(
            Edit("mean, var = x.mean(axis=0), x.var(axis=0)", "mean, var = x.mean(axis=0), x.std(axis=0)"),
        ),
        fails=BN | BN_BACKWARD,
    ),
    Submission(
        "bug-ddof-1",
        "unbiased variance (ddof=1) in training mode",
        edits=(
            Edit(
                "mean, var = x.mean(axis=0), x.var(axis=0)",
                "mean, var = x.mean(axis=0), x.var(axis=0, ddof=1)",
            ),
        ),
        fails=BN | BN_BACKWARD,
    ),
    Submission(
        "bug-running-never-updated",
        "running averages never written back",
        edits=(
            Edit(
                '        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean\n'
                '        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var\n',
                "",
            ),
        ),
        fails=BN,
    ),
    Submission(
        "bug-momentum-reversed",
        "running averages with the momentum reversed",
        edits=(
            Edit(
                "momentum * running_mean + (1 - momentum) * mean",
                "(1 - momentum) * running_mean + momentum * mean",
            ),
            Edit(
                "momentum * running_var + (1 - momentum) * var",
                "(1 - momentum) * running_var + momentum * var",
            ),
        ),
        fails=BN,
    ),
    Submission(
        "bug-test-uses-batch-stats",
        "test mode normalizes with the batch's statistics",
        edits=(Edit("mean, var = running_mean, running_var", "mean, var = x.mean(axis=0), x.var(axis=0)"),),
        fails=BN | BN_BACKWARD,
    ),
    Submission(
        "bug-gamma-beta-ignored",
        "batchnorm forgets gamma and beta",
        edits=(
            Edit(
                "out = gamma * xhat + beta\n    return out, (xhat, gamma, inv_std, mode)",
                "out = xhat\n    return out, (xhat, gamma, inv_std, mode)",
            ),
        ),
        fails=BN,
    ),
    Submission(
        "bug-bn-over-features",
        "batch statistics taken per example, over the features",
        edits=(
            Edit(
                "mean, var = x.mean(axis=0), x.var(axis=0)",
                "mean, var = x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)",
            ),
        ),
        fails=BN | BN_BACKWARD,
    ),
    Submission(
        "bug-spatial-flatten-no-transpose",
        "spatial batch norm flattens (N, C, H, W) to (N*H*W, C) without moving the channels last",
        edits=(Edit("flat = x.transpose(0, 2, 3, 1).reshape(-1, C)", "flat = x.reshape(-1, C)"),),
        fails=SPATIAL | SPATIAL_BACKWARD,
    ),
    Submission(
        "bug-spatial-bn-param-copied",
        "spatial batch norm hands batchnorm_forward a copy of bn_param: the running statistics are lost",
        edits=(
            Edit(
                "batchnorm_forward(flat, gamma, beta, bn_param)",
                "batchnorm_forward(flat, gamma, beta, dict(bn_param))",
            ),
        ),
        fails=SPATIAL,
    ),
    Submission(
        "bug-spatial-backward-no-transpose",
        "spatial batch norm's dx reshaped to (N, C, H, W) without moving the channels back",
        edits=(Edit("dx.reshape(N, H, W, C).transpose(0, 3, 1, 2)", "dx.reshape(N, C, H, W)"),),
        fails=SPATIAL_BACKWARD,
    ),
    Submission(
        "bug-gn-all-channels",
        "group norm over all channels at once",
        edits=(Edit("grouped = x.reshape(N, G, C // G, H, W)", "grouped = x.reshape(N, 1, C, H, W)"),),
        fails=frozenset(
            {"normalization.spatial_groupnorm_forward", "normalization.spatial_groupnorm_backward"}
        ),
    ),
    Submission(
        "bug-backward-no-mean-terms",
        "batchnorm backward drops the mean terms",
        edits=(
            Edit(
                "dx = inv_std / N * (N * g - g.sum(axis=0) - xhat * (g * xhat).sum(axis=0))",
                "dx = g * inv_std",
            ),
        ),
        fails=BN_BACKWARD,
    ),
    Submission(
        "bug-layernorm-over-batch",
        "layer norm statistics over the batch",
        edits=(
            Edit("mean = x.mean(axis=1, keepdims=True)", "mean = x.mean(axis=0, keepdims=True)"),
            Edit(
                "inv_std = 1.0 / np.sqrt(x.var(axis=1, keepdims=True) + eps)",
                "inv_std = 1.0 / np.sqrt(x.var(axis=0, keepdims=True) + eps)",
            ),
        ),
        fails=frozenset({"normalization.layernorm_forward", "normalization.layernorm_backward"}),
    ),
    Submission(
        "bug-layernorm-backward-dgamma-axis",
        "layer norm's dgamma summed over features",
        edits=(
            Edit(
                "return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)",
                "return dx, (dout * xhat).sum(axis=1), dout.sum(axis=0)",
            ),
        ),
        fails=frozenset({"normalization.layernorm_backward"}),
    ),
]

# Bugs in the Keras layer (source_lib/keras_layers.py).
MUTANTS += [
    Submission(
        "bug-keras-momentum-reversed",
        "BatchNormLayer's moving averages with the momentum reversed",
        edits=(
            Edit(
                "self.moving_mean.assign(self.moving_mean * self.momentum\n"
                "                                    + mean * (1.0 - self.momentum))",
                "self.moving_mean.assign(self.moving_mean * (1.0 - self.momentum)\n"
                "                                    + mean * self.momentum)",
                module="keras_layers",
            ),
        ),
        fails=KERAS_CALL,
    ),
    Submission(
        "bug-keras-inference-batch-stats",
        "BatchNormLayer uses batch statistics in inference",
        edits=(
            Edit(
                "mean, var = self.moving_mean, self.moving_variance",
                "mean, var = keras.ops.mean(inputs, axis=axes), keras.ops.var(inputs, axis=axes)",
                module="keras_layers",
            ),
        ),
        fails=KERAS_CALL,
    ),
    Submission(
        "bug-keras-gamma-ignored",
        "BatchNormLayer forgets gamma and beta",
        edits=(Edit("return self.gamma * xhat + self.beta", "return xhat", module="keras_layers"),),
        fails=KERAS_CALL,
    ),
    Submission(
        "bug-keras-moving-variance-zeros",
        "BatchNormLayer's moving variance starts at 0",
        edits=(
            Edit(
                'self.moving_variance = self.add_weight(name="moving_variance", shape=(channels,),\n'
                '                                               initializer="ones"',
                'self.moving_variance = self.add_weight(name="moving_variance", shape=(channels,),\n'
                '                                               initializer="zeros"',
                module="keras_layers",
            ),
        ),
        fails=KERAS_BUILD,
    ),  # the call check sets the moving statistics itself
]

# A student who works in single precision: the numpy layers cast x, gamma, beta,
# the running statistics and dout to float32 and compute and return float32
# (the running statistics written back too). The Keras layer is float32 already.
CAST_X = "x, gamma, beta = (np.asarray(a, dtype=np.float32) for a in (x, gamma, beta))\n    "
CAST_DOUT = "dout = np.asarray(dout, dtype=np.float32)\n    "
FLOAT32 = (
    Edit('mode = bn_param["mode"]', CAST_X + 'mode = bn_param["mode"]', function="batchnorm_forward"),
    Edit(
        'running_mean = bn_param.get("running_mean", np.zeros(D))\n'
        '    running_var = bn_param.get("running_var", np.ones(D))',
        'running_mean = np.asarray(bn_param.get("running_mean", np.zeros(D)), dtype=np.float32)\n'
        '    running_var = np.asarray(bn_param.get("running_var", np.ones(D)), dtype=np.float32)',
    ),
    Edit("xhat, gamma, inv_std, mode = cache", CAST_DOUT + "xhat, gamma, inv_std, mode = cache"),
    Edit(
        "flat = x.transpose(0, 2, 3, 1).reshape(-1, C)",
        CAST_X + "flat = x.transpose(0, 2, 3, 1).reshape(-1, C)",
    ),
    Edit(
        "flat = dout.transpose(0, 2, 3, 1).reshape(-1, C)",
        CAST_DOUT + "flat = dout.transpose(0, 2, 3, 1).reshape(-1, C)",
    ),
    Edit('eps = ln_param.get("eps", 1e-5)', CAST_X + 'eps = ln_param.get("eps", 1e-5)'),
    Edit(
        "xhat, gamma, inv_std = cache",
        CAST_DOUT + "xhat, gamma, inv_std = cache",
        function="layernorm_backward",
    ),
    Edit('eps = gn_param.get("eps", 1e-5)', CAST_X + 'eps = gn_param.get("eps", 1e-5)'),
    Edit("xhat, gamma, inv_std, G = cache", CAST_DOUT + "xhat, gamma, inv_std, G = cache"),
)

SAMPLE_CLASS = [
    Submission("solution", "the instructor solution", answer=ANSWER, kind="correct"),
    Submission(
        "alt-formulas",
        "correct with other formulas: variance by hand, keras.ops.moments",
        edits=(
            Edit(
                "mean, var = x.mean(axis=0), x.var(axis=0)",
                "mean, var = x.mean(axis=0), ((x - x.mean(axis=0)) ** 2).mean(axis=0)",
            ),
            Edit(
                "mean = keras.ops.mean(inputs, axis=axes)\n"
                "            var = keras.ops.var(inputs, axis=axes)",
                "mean, var = keras.ops.moments(inputs, axes=axes)",
                module="keras_layers",
            ),
        ),
        kind="correct",
    ),
    Submission(
        "alt-float32",
        "correct in single precision: batch, spatial batch, layer and "
        "group norm, forward and backward, cast x, gamma, beta, the running statistics "
        "and dout to float32 and compute and return float32 (BatchNormLayer is Keras "
        "float32 as written)",
        edits=FLOAT32,
        kind="correct",
    ),
    Submission("blank", "the untouched release", library="release", fails=ALL, kind="blank"),
    *MUTANTS,
]
