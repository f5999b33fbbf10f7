"""Plain NumPy reference: the backpropagation math, written to be read, not to be fast.

Every compiled kernel in :mod:`fastbp.kernels` has a twin here with the same
name and signature; tests check each kernel against its twin, and this twin
against finite differences. :class:`Network` is a drop-in twin of
:class:`fastbp.Network` that runs on these functions and trains to the same
weights.

Conventions: a batch is stored as rows, ``A[l]`` has shape ``(B, n_l)``;
weights keep the column-vector orientation ``W[l]: (n_out, n_in)`` (``z = W a + b``
for one sample); ``D[l] = dL/dZ[l]``, one row per sample.
"""
from __future__ import annotations

import numpy as np

from . import _layout
from ._codes import (
    ADAM,
    BINARY_CROSS_ENTROPY,
    CROSS_ENTROPY,
    IDENTITY,
    LEAKY_RELU,
    LEAKY_SLOPE,
    HYPER_ALPHA,
    HYPER_BETA_2,
    HYPER_EPSILON,
    HYPER_L2,
    HYPER_LR,
    HYPER_MOMENTUM,
    MSE,
    NESTEROV,
    PLAIN_SGD,
    RELU,
    SIGMOID,
    SOFTMAX,
    TANH,
)
from ._network import BaseNetwork

__all__ = [
    "Network",
    "activate",
    "activation_derivative",
    "gemm",
    "forward_layer",
    "output_delta",
    "hidden_delta",
    "weight_gradient",
    "sgd_update",
    "sgd_fused_update",
    "momentum_update",
    "adam_update",
    "loss_value",
    "train_epoch",
    "train_epoch_optim",
    "batch_gradient",
    "apply_update",
]


def activate(Z: np.ndarray, act: int) -> np.ndarray:
    """``a = sigma(z)`` elementwise (softmax: per row)."""
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
        E = np.exp(Z - Z.max(axis=1, keepdims=True))
        return E / E.sum(axis=1, keepdims=True)
    if act == IDENTITY:
        return Z
    raise ValueError(f"unknown activation code {act}")


def activation_derivative(A: np.ndarray, act: int) -> np.ndarray:
    """``sigma'(z)`` computed from the stored activation ``a = sigma(z)``."""
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
    raise ValueError(f"activation code {act} has no elementwise derivative")


def gemm(trans_a, trans_b, alpha, A, B, beta, C):
    """``C <- alpha * op(A) @ op(B) + beta * C``, ``op(X) = X.T`` when flagged;
    with ``beta == 0`` C is not read (BLAS's rule: it may hold NaN)."""
    product = alpha * ((A.T if trans_a else A) @ (B.T if trans_b else B))
    C[...] = product if beta == 0 else product + beta * C


def forward_layer(A_prev, W, b, act, out):
    """``out <- act(Z)`` with ``Z = A_prev @ W.T + b`` (the column form ``z = W a + b``, as rows)."""
    out[...] = activate(A_prev @ W.T + b, act)


def output_delta(A, Y, act, loss, out):
    """``out <- dL/dZ`` at the output, per sample.

    mse: ``(a - y) * act'(z)``; cross-entropy with softmax and binary
    cross-entropy with sigmoid: ``a - y``.
    """
    if loss == MSE:
        out[...] = (A - Y) * activation_derivative(A, act)
    else:
        out[...] = A - Y


def hidden_delta(D_next, W_next, A, act, out):
    """``out <- (D_next @ W_next) * act'(Z)``: the column form's
    ``delta^(k) = (W^(k+1)^T delta^(k+1)) * sigma'(z^(k))``, as rows."""
    out[...] = (D_next @ W_next) * activation_derivative(A, act)


def weight_gradient(D, A_prev, dW, db):
    """``dW <- D.T @ A_prev / B`` (the column form ``Delta A^T / B``), ``db <- D.sum(0) / B``."""
    B = D.shape[0]
    dW[...] = D.T @ A_prev / B
    db[...] = D.sum(axis=0) / B


def sgd_update(W, b, dW, db, lr):
    """Gradient descent in place: ``W -= lr * dW``, ``b -= lr * db``."""
    W -= lr * dW
    b -= lr * db


def sgd_fused_update(D, A_prev, W, b, lr):
    """SGD with the gradient formed on the way: ``W -= lr * D.T @ A_prev / B``,
    ``b -= lr * D.sum(0) / B``."""
    B = D.shape[0]
    W -= lr * (D.T @ A_prev / B)
    b -= lr * (D.sum(axis=0) / B)


def momentum_update(W, b, dW, db, vW, vb, lr, momentum, nesterov, l2):
    """scikit-learn's SGD with momentum, in place; returns ``sum(W**2)`` before the step.

    ``g = dW + l2 W`` (biases unpenalised); ``v <- momentum v - lr g``;
    ``W <- W + v``, or ``W + momentum v - lr g`` with Nesterov momentum.
    """
    sumsq = float(np.sum(W.astype(np.float64) ** 2))
    for P, V, G in ((W, vW, dW + l2 * W), (b, vb, db)):
        V[...] = momentum * V - lr * G
        P += momentum * V - lr * G if nesterov else V
    return sumsq


def adam_update(W, b, dW, db, mW, mb, vW, vb, lr, beta_1, beta_2, epsilon, l2):
    """scikit-learn's Adam step, in place, with ``lr`` already bias-corrected;
    returns ``sum(W**2)`` before the step.

    ``g = dW + l2 W``; ``m <- beta_1 m + (1 - beta_1) g``;
    ``v <- beta_2 v + (1 - beta_2) g^2``; ``W <- W - lr m / (sqrt(v) + epsilon)``.
    """
    sumsq = float(np.sum(W.astype(np.float64) ** 2))
    one = W.dtype.type(1)
    for P, M, V, G in ((W, mW, vW, dW + l2 * W), (b, mb, vb, db)):
        M[...] = beta_1 * M + (one - beta_1) * G
        V[...] = beta_2 * V + (one - beta_2) * G * G
        P -= lr * M / (np.sqrt(V) + epsilon)
    return sumsq


def loss_value(A, Y, loss):
    """Mean over the batch of the per-sample loss (probabilities clipped below
    at the dtype's smallest normal number before ``log``)."""
    tiny = np.finfo(A.dtype).tiny
    A = A.astype(np.float64)
    Y = Y.astype(np.float64)
    if loss == CROSS_ENTROPY:
        per_sample = -np.sum(np.where(Y != 0, Y * np.log(np.maximum(A, tiny)), 0.0), axis=1)
    elif loss == BINARY_CROSS_ENTROPY:
        pos = np.where(Y != 0, Y * np.log(np.maximum(A, tiny)), 0.0)
        neg = np.where(Y != 1, (1 - Y) * np.log(np.maximum(1 - A, tiny)), 0.0)
        per_sample = -np.sum(pos + neg, axis=1)
    else:
        per_sample = 0.5 * np.sum((A - Y) ** 2, axis=1)
    return float(per_sample.mean())


def train_epoch(X, Y, perm, batch_size, params, sizes, acts, loss, lr, work):
    """One epoch of minibatch SGD over the rows of ``X`` in the order ``perm``;
    returns the mean loss, each batch's loss taken before its step.

    ``params`` is the flat buffer of ``fastbp._layout``, updated in place.
    ``work`` is accepted for the kernel's signature; NumPy allocates its own.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        # A diverging run is reported by the Network as one clear error, as
        # the compiled twin does, rather than by a stream of NumPy warnings.
        return _train_epoch(X, Y, perm, batch_size, params, sizes, acts, loss, lr)


def _batch_gradients(X, Y, rows, weights, biases, acts, loss):
    """Forward and backward pass over ``rows``: returns the batch's summed
    loss and each layer's mean gradients ``[(dW, db), ...]``, input layer first."""
    L = len(weights)
    B = len(rows)
    # Forward pass: A[0] = X, A[l] = act(A[l-1] @ W[l].T + b[l]).
    A = [X[rows]]
    for l in range(L):
        out = np.empty((B, weights[l].shape[0]), dtype=X.dtype)
        forward_layer(A[l], weights[l], biases[l], acts[l], out)
        A.append(out)
    Yb = Y[rows]
    loss_sum = loss_value(A[L], Yb, loss) * B
    # Backward pass: output delta, then hidden deltas down to layer 1.
    D = [None] * (L + 1)
    D[L] = np.empty_like(A[L])
    output_delta(A[L], Yb, acts[L - 1], loss, D[L])
    for l in range(L - 1, 0, -1):
        D[l] = np.empty_like(A[l])
        hidden_delta(D[l + 1], weights[l], A[l], acts[l - 1], D[l])
    grads = []
    for l in range(L):
        dW, db = np.empty_like(weights[l]), np.empty_like(biases[l])
        weight_gradient(D[l + 1], A[l], dW, db)
        grads.append((dW, db))
    return loss_sum, grads


def _train_epoch(X, Y, perm, batch_size, params, sizes, acts, loss, lr):
    grad = np.empty_like(params)
    hyper = np.array([lr, 0, 0, 0, 0, 0], dtype=np.float64)
    total = 0.0
    for start in range(0, len(perm), batch_size):
        rows = perm[start : start + batch_size]
        total += batch_gradient(X, Y, rows, params, sizes, acts, loss, grad, None)
        apply_update(params, grad, len(rows), sizes, PLAIN_SGD, hyper, 0, None)
    return total / len(perm)


def train_epoch_optim(X, Y, perm, batch_size, params, sizes, acts, loss, optimizer, hyper, step, state, grad, work):
    """One epoch with momentum, Nesterov momentum or Adam and L2; returns
    ``(mean loss, mean L2 penalty)`` (see the kernel's docstring for ``hyper``,
    ``step``, ``state``). ``grad`` and ``work`` are accepted for the signature."""
    with np.errstate(over="ignore", invalid="ignore"):
        return _train_epoch_optim(X, Y, perm, batch_size, params, sizes, acts, loss, optimizer, hyper, step, state)


def _train_epoch_optim(X, Y, perm, batch_size, params, sizes, acts, loss, optimizer, hyper, step, state):
    grad = np.empty_like(params)
    total = penalty = 0.0
    for start in range(0, len(perm), batch_size):
        rows = perm[start : start + batch_size]
        B = len(rows)
        total += batch_gradient(X, Y, rows, params, sizes, acts, loss, grad, None)
        sumsq = apply_update(params, grad, B, sizes, optimizer, hyper, step, state)
        step += 1
        penalty += 0.5 * (hyper[HYPER_ALPHA] + hyper[HYPER_L2] * B) * sumsq
    return total / len(perm), penalty / len(perm)


def batch_gradient(X, Y, rows, params, sizes, acts, loss, grad, work):
    """``grad <-`` the loss gradient summed over ``X[rows]`` (flat layout);
    returns the summed loss. No rows: zero gradient, loss 0."""
    if len(rows) == 0:
        grad[...] = 0
        return 0.0
    sizes = [int(s) for s in sizes]
    weights, biases = _layout.param_views(params, sizes)
    g_w, g_b = _layout.param_views(grad, sizes)
    with np.errstate(over="ignore", invalid="ignore"):
        loss_sum, grads = _batch_gradients(X, Y, rows, weights, biases, acts, loss)
    for gW, gb, (dW, db) in zip(g_w, g_b, grads):  # means back to sums
        gW[...] = dW * len(rows)
        gb[...] = db * len(rows)
    return loss_sum


def apply_update(params, grad, count, sizes, optimizer, hyper, step, state):
    """One optimizer step from ``grad`` summed over ``count`` rows (divided in
    place, except for plain SGD); returns ``sum(W**2)`` before the step (0 for plain SGD)."""
    t = params.dtype.type
    sizes = [int(s) for s in sizes]
    weights, biases = _layout.param_views(params, sizes)
    g_w, g_b = _layout.param_views(grad, sizes)
    if optimizer == PLAIN_SGD:  # the mean folded into the rate
        for W, b, dW, db in zip(weights, biases, g_w, g_b):
            sgd_update(W, b, dW, db, t(hyper[HYPER_LR] / count))
        return 0.0
    grad *= t(1.0 / count)
    lr, mu, beta_2, eps = (t(hyper[i]) for i in (HYPER_LR, HYPER_MOMENTUM, HYPER_BETA_2, HYPER_EPSILON))
    P = params.size
    m_w, m_b = _layout.param_views(state[:P], sizes)
    v_w, v_b = _layout.param_views(state[P:], sizes) if optimizer == ADAM else (None, None)
    l2 = t(hyper[HYPER_L2] + hyper[HYPER_ALPHA] / count)
    if optimizer == ADAM:
        step += 1
        lr = t(hyper[HYPER_LR] * np.sqrt(1 - hyper[HYPER_BETA_2] ** step) / (1 - hyper[HYPER_MOMENTUM] ** step))
    sumsq = 0.0
    for l in range(len(weights)):
        if optimizer == ADAM:
            sumsq += adam_update(weights[l], biases[l], g_w[l], g_b[l], m_w[l], m_b[l], v_w[l], v_b[l], lr, mu, beta_2, eps, l2)
        else:
            sumsq += momentum_update(weights[l], biases[l], g_w[l], g_b[l], m_w[l], m_b[l], lr, mu, optimizer == NESTEROV, l2)
    return sumsq


class Network(BaseNetwork):
    """Drop-in twin of :class:`fastbp.Network` running on the NumPy functions
    of this module: same interface, same initial weights and batch order for
    the same seed, same results within floating-point tolerance."""

    @staticmethod
    def _kernels():
        import sys

        return sys.modules[__name__]
