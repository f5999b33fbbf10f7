"""Plain NumPy reference: the seed note's math, written to be read beside it.

Every compiled kernel in :mod:`fastbp.kernels` has a twin here with the same
name and signature; tests check each kernel against its twin, and this twin
against finite differences. :class:`Network` is a drop-in twin of
:class:`fastbp.Network` that runs on these functions and trains to the same
weights.

Conventions (DESIGN.md): a batch is stored as rows, ``A[l]`` has shape
``(B, n_l)``; weights keep the note's orientation ``W[l]: (n_out, n_in)``;
``D[l] = dL/dZ[l]`` is the note's Delta transposed.
"""
from __future__ import annotations

import numpy as np

from . import _layout
from ._codes import (
    BINARY_CROSS_ENTROPY,
    CROSS_ENTROPY,
    IDENTITY,
    LEAKY_RELU,
    LEAKY_SLOPE,
    MSE,
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
    "forward_layer",
    "output_delta",
    "hidden_delta",
    "weight_gradient",
    "sgd_update",
    "sgd_fused_update",
    "loss_value",
    "train_epoch",
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


def forward_layer(A_prev, W, b, act, out):
    """``out <- act(Z)`` with ``Z = A_prev @ W.T + b`` (the note's ``z = W a + b``, as rows)."""
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
    """``out <- (D_next @ W_next) * act'(Z)``: the note's
    ``delta^(k) = (W^(k+1)^T delta^(k+1)) * sigma'(z^(k))``, as rows."""
    out[...] = (D_next @ W_next) * activation_derivative(A, act)


def weight_gradient(D, A_prev, dW, db):
    """``dW <- D.T @ A_prev / B`` (the note's ``Delta A^T / B``), ``db <- D.sum(0) / B``."""
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


def _train_epoch(X, Y, perm, batch_size, params, sizes, acts, loss, lr):
    weights, biases = _layout.param_views(params, [int(s) for s in sizes])
    L = len(weights)
    total = 0.0
    for start in range(0, len(perm), batch_size):
        rows = perm[start : start + batch_size]
        B = len(rows)
        # Forward pass: A[0] = X, A[l] = act(A[l-1] @ W[l].T + b[l]).
        A = [X[rows]]
        for l in range(L):
            out = np.empty((B, weights[l].shape[0]), dtype=X.dtype)
            forward_layer(A[l], weights[l], biases[l], acts[l], out)
            A.append(out)
        Yb = Y[rows]
        total += loss_value(A[L], Yb, loss) * B
        # Backward pass: output delta, then hidden deltas down to layer 1.
        D = [None] * (L + 1)
        D[L] = np.empty_like(A[L])
        output_delta(A[L], Yb, acts[L - 1], loss, D[L])
        for l in range(L - 1, 0, -1):
            D[l] = np.empty_like(A[l])
            hidden_delta(D[l + 1], weights[l], A[l], acts[l - 1], D[l])
        # Gradients of every layer, then the update.
        for l in range(L):
            dW = np.empty_like(weights[l])
            db = np.empty_like(biases[l])
            weight_gradient(D[l + 1], A[l], dW, db)
            sgd_update(weights[l], biases[l], dW, db, lr)
    return total / len(perm)


class Network(BaseNetwork):
    """Drop-in twin of :class:`fastbp.Network` running on the NumPy functions
    of this module: same interface, same initial weights and batch order for
    the same seed, same results within floating-point tolerance."""

    @staticmethod
    def _kernels():
        import sys

        return sys.modules[__name__]
