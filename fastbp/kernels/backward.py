"""Backward pass: output delta, fused hidden delta, weight and bias gradients."""
import numpy as np

from .._codes import MSE
from .._jit import jit
from ._activation import _multiply_derivative


@jit
def output_delta(A, Y, act, loss, out):
    """``out <- dL/dZ`` of the output layer, per sample (not divided by B).

    mse: ``(A - Y) * act'(A)``; cross-entropy with softmax and binary
    cross-entropy with sigmoid: ``A - Y`` (the derivative cancels).
    """
    B, n = A.shape
    for i in range(B):
        for j in range(n):
            out[i, j] = A[i, j] - Y[i, j]
    if loss == MSE:
        _multiply_derivative(out, A, act)


@jit
def hidden_delta(D_next, W_next, A, act, out):
    """The fused hidden delta: ``out <- (D_next @ W_next) * act'(A)``.

    The GEMM writes straight into ``out``; the derivative is applied in the
    pass that follows, from the stored activation, so Z is never kept.
    """
    np.dot(D_next, W_next, out)
    _multiply_derivative(out, A, act)


@jit
def weight_gradient(D, A_prev, dW, db):
    """``dW <- D.T @ A_prev / B`` (outer products summed over the batch) and
    ``db <- D.sum(axis=0) / B``."""
    B = D.shape[0]
    np.dot(D.T, A_prev, dW)
    inv = dW.dtype.type(1.0) / dW.dtype.type(B)
    n_out, n_in = dW.shape
    for i in range(n_out):
        for j in range(n_in):
            dW[i, j] *= inv
    for j in range(n_out):
        db[j] = 0
    # Row-wise accumulation walks D in memory order.
    for i in range(B):
        for j in range(n_out):
            db[j] += D[i, j]
    for j in range(n_out):
        db[j] *= inv
