"""Chapter 5 - Sparse autoencoders.

A sparse autoencoder is a one-hidden-layer network trained to reproduce its
input, with a penalty that keeps each hidden unit silent on most inputs. On
natural image patches its hidden units become localized, oriented edge
detectors.

Shapes: ``D`` inputs per patch (256 for 16x16 patches), ``H`` hidden units,
``N`` patches. Parameters are a dict in the course's convention:
``W1`` (H, D), ``b1`` (H,), ``W2`` (D, H), ``b2`` (D,), with
``Z1 = X @ W1.T + b1``, ``A1 = sigmoid(Z1)``, ``Z2 = A1 @ W2.T + b2`` and the
reconstruction ``A2 = sigmoid(Z2)``.

Every function marked "Task" is yours to write, between the solution markers.
All arrays are float64.
"""
import numpy as np
from scipy.special import expit

from ._tasks import unwritten  # noqa: F401 (the student release's stubs call it)

# ITU-R BT.709 luma weights for R, G, B
LUMINANCE = np.array([0.2126, 0.7152, 0.0722])
PARAM_NAMES = ("W1", "b1", "W2", "b2")


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic sigmoid, elementwise and overflow-free (provided).

    SciPy's ``expit``, the fast stable form of Chapter 1's ``sigmoid``; kept
    here so that this chapter is graded on its own code only.
    """
    return expit(z)


def preprocess_patches(patches):
    """Task 5.1: turn RGB patches into the autoencoder's inputs.

    In order:

    1. luminance ``Y = 0.2126 R + 0.7152 G + 0.0722 B`` (``LUMINANCE``);
    2. flatten each patch to a row and remove that patch's own mean
       (brightness says little about shape);
    3. clip at plus or minus 3 standard deviations, where the standard
       deviation is that of *all* values of the whole set after step 2
       (one number, not one per patch);
    4. map ``[-3 std, 3 std]`` linearly onto ``[0.1, 0.9]``, the range a
       sigmoid output can reach without saturating.

    Args:
        patches: RGB patches, shape (N, h, w, 3), values in [0, 1].

    Returns:
        Array of shape (N, h * w), values in [0.1, 0.9].
    """
    ### BEGIN SOLUTION
    Y = patches @ LUMINANCE
    Y = Y.reshape(Y.shape[0], -1)
    Y = Y - Y.mean(axis=1, keepdims=True)
    limit = 3.0 * Y.std()
    Y = np.clip(Y, -limit, limit) / limit
    return 0.4 * Y + 0.5
    ### END SOLUTION


def initialize_parameters(hidden_size: int, visible_size: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random parameters to start training from (provided).

    Weights are uniform in ``[-r, r]`` with ``r = sqrt(6 / (D + H + 1))``,
    which keeps the sigmoids' inputs in their linear range at the start
    (Glorot and Bengio, 2010); biases start at zero.

    Args:
        hidden_size: H.
        visible_size: D.
        seed: seed of the random generator.

    Returns:
        Dict ``W1`` (H, D), ``b1`` (H,), ``W2`` (D, H), ``b2`` (D,).
    """
    rng = np.random.default_rng(seed)
    r = np.sqrt(6.0 / (hidden_size + visible_size + 1))
    return {"W1": rng.uniform(-r, r, (hidden_size, visible_size)),
            "b1": np.zeros(hidden_size),
            "W2": rng.uniform(-r, r, (visible_size, hidden_size)),
            "b2": np.zeros(visible_size)}


def sparse_autoencoder_loss(params, X, lam, beta, rho):
    """Task 5.2: the sparse autoencoder's cost and its gradients.

    With ``A2`` the reconstruction of ``X`` and ``rho_hat_j`` the mean
    activation of hidden unit j over the batch (``rho_hat = mean(A1, axis=0)``)::

        cost = sum((A2 - X)**2) / (2 N)                    reconstruction
             + lam / 2 * (sum(W1**2) + sum(W2**2))          weight decay (no biases)
             + beta * sum_j KL(rho || rho_hat_j)            sparsity

        KL(rho || q) = rho log(rho / q) + (1 - rho) log((1 - rho) / (1 - q))

    Write it fully vectorized (no loop over patches or units). The gradient of
    the sparsity term is derived in the chapter: each ``rho_hat_j`` is a mean
    over the N patches, so every patch's activation receives 1/N of
    ``d KL / d rho_hat_j``.

    Args:
        params: dict ``W1`` (H, D), ``b1`` (H,), ``W2`` (D, H), ``b2`` (D,).
        X: patches, shape (N, D), values in (0, 1).
        lam: weight decay strength (lambda).
        beta: weight of the sparsity penalty.
        rho: target mean activation of each hidden unit, in (0, 1).

    Returns:
        Tuple ``(cost, grads)``: ``cost`` a float, ``grads`` a dict with the
        same keys and shapes as ``params``.
    """
    ### BEGIN SOLUTION
    W1, b1, W2, b2 = (params[k] for k in PARAM_NAMES)
    N = X.shape[0]
    A1 = sigmoid(X @ W1.T + b1)
    A2 = sigmoid(A1 @ W2.T + b2)
    rho_hat = A1.mean(axis=0)
    diff = A2 - X
    kl = rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))
    cost = (np.sum(diff ** 2) / (2 * N) + lam / 2 * (np.sum(W1 ** 2) + np.sum(W2 ** 2))
            + beta * np.sum(kl))
    dZ2 = diff * A2 * (1 - A2) / N
    dkl = beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat))
    dZ1 = (dZ2 @ W2 + dkl / N) * A1 * (1 - A1)
    grads = {"W1": dZ1.T @ X + lam * W1, "b1": dZ1.sum(axis=0),
             "W2": dZ2.T @ A1 + lam * W2, "b2": dZ2.sum(axis=0)}
    return float(cost), grads
    ### END SOLUTION


def params_to_vector(params: dict[str, np.ndarray]) -> np.ndarray:
    """Concatenate ``W1, b1, W2, b2`` into one flat vector (provided)."""
    return np.concatenate([np.ravel(params[k]) for k in PARAM_NAMES])


def vector_to_params(theta: np.ndarray, hidden_size: int, visible_size: int) -> dict[str, np.ndarray]:
    """Undo ``params_to_vector`` (provided).

    Args:
        theta: flat vector of length ``2 H D + H + D``.
        hidden_size: H.
        visible_size: D.

    Returns:
        Dict ``W1`` (H, D), ``b1`` (H,), ``W2`` (D, H), ``b2`` (D,).
    """
    H, D = hidden_size, visible_size
    shapes = {"W1": (H, D), "b1": (H,), "W2": (D, H), "b2": (D,)}
    params, start = {}, 0
    for k in PARAM_NAMES:
        size = int(np.prod(shapes[k]))
        params[k] = np.asarray(theta[start:start + size], dtype=np.float64).reshape(shapes[k])
        start += size
    return params


def train_autoencoder(X, hidden_size, lam=1e-4, beta=3.0, rho=0.01, max_iter=400, seed=0):
    """Task 5.3: train a sparse autoencoder with L-BFGS.

    Start from ``initialize_parameters(hidden_size, D, seed)`` and minimize
    ``sparse_autoencoder_loss`` over all parameters with
    ``scipy.optimize.minimize(..., method="L-BFGS-B", jac=True)``, running at
    most ``max_iter`` iterations. The optimizer works on one flat vector:
    ``params_to_vector`` and ``vector_to_params`` convert.

    Args:
        X: patches, shape (N, D), values in (0, 1).
        hidden_size: H.
        lam, beta, rho: as in ``sparse_autoencoder_loss``.
        max_iter: the most L-BFGS iterations to run.
        seed: seed of the initial parameters.

    Returns:
        Tuple ``(params, history)``: the trained parameters (dict, as in
        ``initialize_parameters``) and the cost after each iteration
        (array of shape (number of iterations,)).
    """
    from scipy.optimize import minimize

    ### BEGIN SOLUTION
    D = X.shape[1]
    theta0 = params_to_vector(initialize_parameters(hidden_size, D, seed))

    def cost_and_grad(theta):
        cost, grads = sparse_autoencoder_loss(vector_to_params(theta, hidden_size, D),
                                              X, lam, beta, rho)
        return cost, params_to_vector(grads)

    history = []
    result = minimize(cost_and_grad, theta0, jac=True, method="L-BFGS-B",
                      callback=lambda intermediate_result: history.append(
                          intermediate_result.fun),
                      options={"maxiter": max_iter})
    return vector_to_params(result.x, hidden_size, D), np.array(history)
    ### END SOLUTION


def reconstruct(params: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """The autoencoder's reconstruction ``A2`` of patches ``X`` (N, D) (provided)."""
    A1 = sigmoid(X @ params["W1"].T + params["b1"])
    return sigmoid(A1 @ params["W2"].T + params["b2"])


def hidden_activations(params: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """The hidden layer's activations ``A1`` (N, H) for patches ``X`` (N, D) (provided)."""
    return sigmoid(X @ params["W1"].T + params["b1"])


def reconstruction_error(params: dict[str, np.ndarray], X: np.ndarray) -> float:
    """Mean squared error per pixel between ``X`` (N, D) and its reconstruction (provided)."""
    return float(np.mean((reconstruct(params, X) - X) ** 2))


def tile_images(images: np.ndarray, columns: int | None = None, pad: int = 1,
                normalize: bool = True) -> np.ndarray:
    """Arrange square images in a grid for ``plt.imshow`` (provided).

    Args:
        images: shape (K, D) with D a square number, or (K, h, w).
        columns: images per row; default ceil(sqrt(K)).
        pad: pixels between images (drawn at the grid's minimum).
        normalize: scale each image to [0, 1] on its own (for weight vectors
            whose scale means nothing); otherwise keep the values.

    Returns:
        2-D array ready for ``imshow(..., cmap="gray")``.
    """
    images = np.asarray(images, dtype=np.float64)
    K = images.shape[0]
    if images.ndim == 2:
        side = int(round(np.sqrt(images.shape[1])))
        images = images.reshape(K, side, side)
    if normalize:
        lo = images.min(axis=(1, 2), keepdims=True)
        hi = images.max(axis=(1, 2), keepdims=True)
        images = (images - lo) / np.maximum(hi - lo, 1e-12)
    h, w = images.shape[1:]
    columns = columns or int(np.ceil(np.sqrt(K)))
    rows = int(np.ceil(K / columns))
    grid = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad), images.min())
    for k in range(K):
        r, c = divmod(k, columns)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h,
             pad + c * (w + pad):pad + c * (w + pad) + w] = images[k]
    return grid
