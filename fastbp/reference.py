"""Plain NumPy reference: the backpropagation math, written to be read, not to be fast.

Every compiled kernel in :mod:`fastbp.kernels` has a twin here with the same
name and signature; tests check each kernel against its twin, and this twin
against finite differences. :class:`Network` is a drop-in twin of
:class:`fastbp.Network` that runs on these functions and trains to the same
weights.

Conventions (docs/math.md): the seed's column form, as the compiled epoch
keeps it: one sample is a column, so activations, pre-activations and deltas
of a batch are ``(n_l, B)`` blocks, ``Z = W A + b``, ``D[l] = dL/dZ[l]``, and
weights are ``W[l]: (n_out, n_in)``. Only the input batch (and a network's
output, at the public interface) is rows, ``(B, n)``, as users hand it over.

This module imports no compiled code: NumPy, and the tables of
``fastbp._codes`` and ``fastbp.optimizers``.
"""
from __future__ import annotations

import numpy as np

from . import _layout
from ._codes import (
    BINARY_CROSS_ENTROPY,
    CROSS_ENTROPY,
    GELU,
    IDENTITY,
    LEAKY_RELU,
    LEAKY_SLOPE,
    MSE,
    RELU,
    SIGMOID,
    SILU,
    SOFTMAX,
    TANH,
)
from .network import BaseNetwork
from .optimizers import HYPER_ALPHA, HYPER_L2, HYPER_LR, SGD, SPECS

__all__ = [
    "Network",
    "activate",
    "activation_derivative",
    "gemm",
    "small_gemm",
    "forward_layer",
    "forward",
    "output_delta",
    "hidden_delta",
    "weight_gradient",
    "sgd_update",
    "is_plain",
    *(spec.update for spec in SPECS.values()),
    "loss_value",
    "train_epoch",
    "train_epoch_optim",
    "batch_gradient",
    "apply_update",
]


def _erf(x: np.ndarray) -> np.ndarray:
    # Imported on first use: scipy.special would add most of a second to ``import fastbp``.
    from scipy.special import erf

    return erf(x)


def activate(Z: np.ndarray, act: int) -> np.ndarray:
    """``a = sigma(z)`` elementwise (softmax: over each column, the classes of one sample)."""
    if act == SIGMOID:
        with np.errstate(over="ignore"):  # exp(-z) -> inf gives the right limit 0
            return 1 / (1 + np.exp(-Z))
    if act == TANH:
        return np.tanh(Z)
    if act == RELU:
        return np.maximum(Z, 0)
    if act == LEAKY_RELU:
        return np.where(Z > 0, Z, Z.dtype.type(LEAKY_SLOPE) * Z)
    if act == SOFTMAX:
        E = np.exp(Z - Z.max(axis=0, keepdims=True))
        return E / E.sum(axis=0, keepdims=True)
    if act == IDENTITY:
        return Z
    if act == GELU:
        return Z.dtype.type(0.5) * Z * (1 + _erf(Z / np.sqrt(Z.dtype.type(2))))
    if act == SILU:
        with np.errstate(over="ignore"):
            return Z / (1 + np.exp(-Z))
    raise ValueError(f"unknown activation code {act}")


def activation_derivative(A: np.ndarray, Z: np.ndarray, act: int) -> np.ndarray:
    """``sigma'(z)``, from the stored activation ``a = sigma(z)`` where it can be
    (scikit-learn's way), from ``z`` for the activations that keep it."""
    one = A.dtype.type(1)
    if act == SIGMOID:
        return A * (one - A)
    if act == TANH:
        return one - A * A
    if act == RELU:
        return (A > 0).astype(A.dtype)
    if act == LEAKY_RELU:
        return np.where(A > 0, one, A.dtype.type(LEAKY_SLOPE))
    if act == IDENTITY:
        return np.ones_like(A)
    if act == GELU:  # Phi(z) + z phi(z)
        return (1 + _erf(Z / np.sqrt(Z.dtype.type(2)))) / 2 + Z * np.exp(-Z * Z / 2) / np.sqrt(Z.dtype.type(2 * np.pi))
    if act == SILU:  # s (1 + z (1 - s))
        with np.errstate(over="ignore"):
            s = 1 / (1 + np.exp(-Z))
        return s * (1 + Z * (1 - s))
    raise ValueError(f"activation code {act} has no elementwise derivative")


def gemm(trans_a, trans_b, alpha, A, B, beta, C):
    """``C <- alpha * op(A) @ op(B) + beta * C``, ``op(X) = X.T`` when flagged;
    with ``beta == 0`` C is not read (BLAS's rule: it may hold NaN)."""
    product = alpha * ((A.T if trans_a else A) @ (B.T if trans_b else B))
    C[...] = product if beta == 0 else product + beta * C


def small_gemm(trans_a, alpha, A, B, beta, C):
    """``C <- alpha * op(A) @ B + beta * C``: ``gemm`` with B never transposed
    (the kernel's register tiles read B's rows in place)."""
    gemm(trans_a, False, alpha, A, B, beta, C)


# Layers below are written in the seed's column form: one sample is a column,
# a batch ``(n, B)``; only the input batch arrives as rows ``(B, n_in)``.


def forward_layer(W, b, A_prev, rows, act, Z, out):
    """``Z <- W @ a + b`` for every column ``a`` of ``A_prev`` (of ``A_prev.T``
    with ``rows``), ``out <- act(Z)``."""
    Z[...] = W @ (A_prev.T if rows else A_prev) + b[:, None]
    out[...] = activate(Z, act)


def forward(X, params, sizes, acts, work, out):
    """The network's output for the input rows ``X``, as rows ``(B, nL)``.
    ``work`` is accepted for the kernel's signature; NumPy allocates its own."""
    weights, biases = _layout.param_views(params, [int(s) for s in sizes])
    A = X.T
    with np.errstate(over="ignore", invalid="ignore"):
        for W, b, act in zip(weights, biases, acts):
            A = activate(W @ A + b[:, None], act)
    out[...] = A.T


def output_delta(A, Y, act, loss, out):
    """``out <- dL/dZ`` at the output, per sample (elementwise: either layout).

    mse: ``(a - y) * act'(z)``; cross-entropy with softmax and binary
    cross-entropy with sigmoid: ``a - y``.
    """
    if loss == MSE:
        out[...] = (A - Y) * activation_derivative(A, A, act)
    else:
        out[...] = A - Y


def hidden_delta(W_next, D_next, A, Z, act, out):
    """``out <- (W_next.T @ D_next) * act'(Z)``: the seed's
    ``delta^(k) = (W^(k+1)^T delta^(k+1)) * sigma'(z^(k))``."""
    out[...] = (W_next.T @ D_next) * activation_derivative(A, Z, act)


def weight_gradient(D, A_prev, rows, scale, beta, dW, db):
    """``dW <- scale * D @ A_prev.T + beta * dW`` (the outer products
    ``delta a^T`` summed over the batch; ``A_prev`` as rows with ``rows``) and
    ``db <- scale * D.sum(axis=1) + beta * db``; with ``beta == 0`` neither is read."""
    gW = scale * (D @ (A_prev if rows else A_prev.T))
    gb = scale * D.sum(axis=1)
    dW[...] = gW if beta == 0 else gW + beta * dW
    db[...] = gb if beta == 0 else gb + beta * db


def sgd_update(W, b, dW, db, lr):
    """Gradient descent in place: ``W -= lr * dW``, ``b -= lr * db``."""
    W -= lr * dW
    b -= lr * db


def momentum_update(W, b, dW, db, vW, vb, lr, momentum, nesterov, step, l2):
    """scikit-learn's SGD with momentum, in place; returns ``sum(W**2)`` before the step.

    ``g = dW + l2 W`` (biases unpenalised); ``v <- momentum v - lr g``;
    ``W <- W + v``, or ``W + momentum v - lr g`` with Nesterov momentum.
    """
    t = W.dtype.type
    lr, momentum, l2 = t(lr), t(momentum), t(l2)
    sumsq = float(np.sum(W.astype(np.float64) ** 2))
    for P, V, G in ((W, vW, dW + l2 * W), (b, vb, db)):
        V[...] = momentum * V - lr * G
        P += momentum * V - lr * G if nesterov else V
    return sumsq


def adam_update(W, b, dW, db, mW, mb, vW, vb, lr, beta_1, beta_2, epsilon, step, l2):
    """scikit-learn's Adam step number ``step``, in place; returns ``sum(W**2)`` before it.

    ``g = dW + l2 W``; ``m <- beta_1 m + (1 - beta_1) g``;
    ``v <- beta_2 v + (1 - beta_2) g^2``; ``W <- W - lr_t m / (sqrt(v) + epsilon)``
    with ``lr_t = lr sqrt(1 - beta_2^t) / (1 - beta_1^t)``, formed in float64.
    """
    t = W.dtype.type
    rate = t(lr * np.sqrt(1.0 - beta_2**step) / (1.0 - beta_1**step))
    beta_1, beta_2, epsilon, l2 = t(beta_1), t(beta_2), t(epsilon), t(l2)
    sumsq = float(np.sum(W.astype(np.float64) ** 2))
    for P, M, V, G in ((W, mW, vW, dW + l2 * W), (b, mb, vb, db)):
        M[...] = beta_1 * M + (t(1) - beta_1) * G
        V[...] = beta_2 * V + (t(1) - beta_2) * G * G
        P -= rate * M / (np.sqrt(V) + epsilon)
    return sumsq


def rmsprop_update(W, b, dW, db, vW, vb, lr, rho, epsilon, step, l2):
    """PyTorch's RMSprop, in place (``step`` unused); returns ``sum(W**2)`` before the step.

    ``g = dW + l2 W``; ``v <- rho v + (1 - rho) g^2``; ``W <- W - lr g / (sqrt(v) + epsilon)``.
    """
    t = W.dtype.type
    lr, rho, epsilon, l2 = t(lr), t(rho), t(epsilon), t(l2)
    sumsq = float(np.sum(W.astype(np.float64) ** 2))
    for P, V, G in ((W, vW, dW + l2 * W), (b, vb, db)):
        V[...] = rho * V + (t(1) - rho) * G * G
        P -= lr * G / (np.sqrt(V) + epsilon)
    return sumsq


def _update_layers(optimizer, hyper, step, B, weights, biases, g_w, g_b, state):
    """Step every layer with the optimizer of code ``optimizer`` on the mean
    gradient of ``B`` rows (the twin of the kernels' dispatch); ``state``: per
    copy, its ``(weights, biases)`` views. Returns the step's L2 penalty
    summed over the rows, ``0.5 (alpha + l2 B) sum(W**2)`` before the step."""
    spec = SPECS.get(int(optimizer))
    if spec is None:
        raise ValueError(f"unknown optimizer code {optimizer}; known: {sorted(SPECS)}")
    update = globals()[spec.update]
    params = [hyper[spec.hyper_index(name)] for name, _ in spec.params]
    l2 = hyper[HYPER_L2] + hyper[HYPER_ALPHA] / B
    sumsq = 0.0
    for l in range(len(weights)):
        pairs = [a for copy in state for a in (copy[0][l], copy[1][l])]
        sumsq += update(weights[l], biases[l], g_w[l], g_b[l], *pairs, hyper[HYPER_LR], *params, step, l2)
    return 0.5 * (hyper[HYPER_ALPHA] + hyper[HYPER_L2] * B) * sumsq


def is_plain(optimizer, hyper):
    """SGD without momentum or L2: ``W -= lr * dW``, no state."""
    return (optimizer == SGD.code and hyper[SGD.hyper_index("momentum")] == 0
            and hyper[HYPER_L2] == 0 and hyper[HYPER_ALPHA] == 0)


def loss_value(A, Y, loss):
    """Mean over the batch of the per-sample loss (probabilities clipped below
    at the dtype's smallest normal number before ``log``)."""
    return float(_sample_losses(A, Y, loss).mean())


def _sample_losses(A, Y, loss):
    """Each sample's loss, float64, ``(B,)``: rows of ``A`` and ``Y``."""
    tiny = np.finfo(A.dtype).tiny
    A = A.astype(np.float64)
    Y = Y.astype(np.float64)
    if loss == CROSS_ENTROPY:
        return -np.sum(np.where(Y != 0, Y * np.log(np.maximum(A, tiny)), 0.0), axis=1)
    if loss == BINARY_CROSS_ENTROPY:
        pos = np.where(Y != 0, Y * np.log(np.maximum(A, tiny)), 0.0)
        neg = np.where(Y != 1, (1 - Y) * np.log(np.maximum(1 - A, tiny)), 0.0)
        return -np.sum(pos + neg, axis=1)
    return 0.5 * np.sum((A - Y) ** 2, axis=1)


def train_epoch(X, Y, perm, batch_size, params, sizes, acts, loss, lr, work, weights):
    """One epoch of plain minibatch SGD; returns the mean loss (weighted by
    ``weights`` unless it is empty), each batch's taken before its step."""
    hyper = SGD().hyper(float(lr))
    empty = params[:0]
    return train_epoch_optim(X, Y, perm, batch_size, params, sizes, acts, loss, SGD.code, hyper, 0, empty, empty, work,
                             weights)[0]


def train_epoch_optim(X, Y, perm, batch_size, params, sizes, acts, loss, optimizer, hyper, step, state, grad, work,
                      weights):
    """One epoch with any optimizer and L2; returns ``(mean loss, mean L2 penalty)``
    (see the kernel's docstring). ``grad`` and ``work`` are accepted for the signature.

    With per-row ``weights``, each step's gradient is the weighted mean of its
    rows' gradients (the output delta of row b scaled by ``w_b * B / W``, W the
    batch's weight sum) and the loss the weighted mean over the epoch."""
    grad = np.empty_like(params)
    total = weight = penalty = 0.0
    for start in range(0, len(perm), batch_size):
        rows = perm[start : start + batch_size]
        B = len(rows)
        if len(weights):
            w = weights[rows].astype(np.float64)
            W = w.sum()
            scale = w * B / W if W > 0 else np.zeros(B)
            total += _batch_gradient(X, Y, rows, params, sizes, acts, loss, grad, w, scale)
            weight += W
        else:
            total += _batch_gradient(X, Y, rows, params, sizes, acts, loss, grad, None, None)
            weight += B
        penalty += apply_update(params, grad, B, sizes, optimizer, hyper, step, state)
        step += 1
    return (total / weight if weight > 0 else 0.0), penalty / len(perm)


def batch_gradient(X, Y, rows, params, sizes, acts, loss, grad, work, weights):
    """``grad <-`` the loss gradient summed over ``X[rows]`` (flat layout),
    weighted by ``weights[rows]`` unless ``weights`` is empty; returns
    ``(summed loss, weight)``, the weight being the rows' weight sum or count.
    No rows: zero gradient, loss 0, weight 0."""
    if len(weights) == 0:
        return _batch_gradient(X, Y, rows, params, sizes, acts, loss, grad, None, None), float(len(rows))
    w = weights[rows].astype(np.float64)
    return _batch_gradient(X, Y, rows, params, sizes, acts, loss, grad, w, w), float(w.sum())


def _batch_gradient(X, Y, rows, params, sizes, acts, loss, grad, row_weights, scale):
    """``batch_gradient``, with each row's output delta times ``scale[b]`` and
    the returned loss ``sum_b row_weights[b] * loss_b`` when they are given."""
    if len(rows) == 0:
        grad[...] = 0
        return 0.0
    sizes = [int(s) for s in sizes]
    weights, biases = _layout.param_views(params, sizes)
    g_w, g_b = _layout.param_views(grad, sizes)
    L, B = len(weights), len(rows)
    Xb, Yt = X[rows], Y[rows].T
    with np.errstate(over="ignore", invalid="ignore"):
        # Forward, columns: A[l] = act(Z[l]), Z[l] = W[l] A[l-1] + b[l]; A[0] is the rows Xb.
        A, Z = [Xb], [None]
        for l in range(L):
            Z.append(np.empty((sizes[l + 1], B), X.dtype))
            A.append(np.empty((sizes[l + 1], B), X.dtype))
            forward_layer(weights[l], biases[l], A[l], l == 0, acts[l], Z[l + 1], A[l + 1])
        losses = _sample_losses(A[L].T, Yt.T, loss)
        loss_sum = float(losses.sum() if row_weights is None else losses @ row_weights)
        # Backward: the output delta, then each layer's gradient (sums, scale 1)
        # and the delta of the layer below, down to layer 1.
        D = np.empty_like(A[L])
        output_delta(A[L], Yt, acts[L - 1], loss, D)
        if scale is not None:
            D *= scale.astype(D.dtype)
        for l in range(L, 0, -1):
            below = None
            if l > 1:
                below = np.empty_like(A[l - 1])
                hidden_delta(weights[l - 1], D, A[l - 1], Z[l - 1], acts[l - 2], below)
            weight_gradient(D, A[l - 1], l == 1, 1.0, 0.0, g_w[l - 1], g_b[l - 1])
            D = below
    return loss_sum


def apply_update(params, grad, count, sizes, optimizer, hyper, step, state):
    """One optimizer step from ``grad`` summed over ``count`` rows (divided in
    place, except for plain SGD); returns its L2 penalty summed over the rows (0 for plain SGD)."""
    t = params.dtype.type
    sizes = [int(s) for s in sizes]
    weights, biases = _layout.param_views(params, sizes)
    g_w, g_b = _layout.param_views(grad, sizes)
    with np.errstate(over="ignore", invalid="ignore"):
        if is_plain(optimizer, hyper):  # the mean folded into the rate
            for W, b, dW, db in zip(weights, biases, g_w, g_b):
                sgd_update(W, b, dW, db, t(hyper[HYPER_LR] / count))
            return 0.0
        grad *= t(1.0 / count)
        P = params.size
        copies = [_layout.param_views(state[k * P : (k + 1) * P], sizes) for k in range(state.size // P)]
        return _update_layers(optimizer, hyper, step + 1, count, weights, biases, g_w, g_b, copies)


class Network(BaseNetwork):
    """Drop-in twin of :class:`fastbp.Network` running on the NumPy functions
    of this module: same interface, same initial weights and batch order for
    the same seed, same results within floating-point tolerance."""

    @staticmethod
    def _kernels():
        import sys

        return sys.modules[__name__]
