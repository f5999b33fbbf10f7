"""The losses: the cost (mean over the batch of the per-sample loss) and the
output layer's delta, each one branch per loss code (``fastbp._codes``).

A loss arrives as a float64 array, its code then its parameters (Huber's
delta), so a parameter is a slot, not an argument of every kernel.
"""
import numpy as np

from .._codes import BINARY_CROSS_ENTROPY, CROSS_ENTROPY, HUBER, HUBER_DELTA, LOSS_CODE, MSE
from .._jit import jit
from ._activation import _flat, _multiply_derivative


@jit
def loss_value(A, Y, loss):
    """Mean per-sample loss of output activations ``A`` (B, n) against targets ``Y``.

    Probabilities are clipped below at the dtype's smallest normal number
    before ``log`` so a saturated output gives a large finite loss, not inf.
    Accumulates in float64.
    """
    return _loss_sum(A, Y, loss, np.int64(0), A.shape[1]) / A.shape[0]


@jit
def _loss_sum(A, Y, loss, start, stop):
    """Sum of the per-element loss terms over columns ``start:stop`` of a
    C-contiguous block (bounds, not a slice: a slice would be a second
    array layout, so a second compile)."""
    B = A.shape[0]
    tiny = np.finfo(A.dtype).tiny
    code = loss[LOSS_CODE]
    total = 0.0
    if code == CROSS_ENTROPY:
        for i in range(B):
            for j in range(start, stop):
                y = Y[i, j]
                if y != 0:
                    total -= y * np.log(max(np.float64(A[i, j]), tiny))
    elif code == BINARY_CROSS_ENTROPY:
        for i in range(B):
            for j in range(start, stop):
                a = np.float64(A[i, j])
                y = np.float64(Y[i, j])
                if y != 0:
                    total -= y * np.log(max(a, tiny))
                if y != 1:
                    total -= (1.0 - y) * np.log(max(1.0 - a, tiny))
    elif code == MSE:
        for i in range(B):
            for j in range(start, stop):
                r = np.float64(A[i, j]) - np.float64(Y[i, j])
                total += 0.5 * r * r
    elif code == HUBER:
        delta = loss[HUBER_DELTA]
        for i in range(B):
            for j in range(start, stop):
                r = abs(np.float64(A[i, j]) - np.float64(Y[i, j]))
                total += 0.5 * r * r if r <= delta else delta * (r - 0.5 * delta)
    else:
        raise ValueError("unknown loss code")
    return total


@jit
def output_delta(A, Y, act, loss, out):
    """``out <- dL/dZ`` of the output layer, per sample (not divided by B);
    elementwise, so either layout.

    mse: ``(A - Y) * act'(A)``; huber: ``clip(A - Y, -delta, delta) * act'(A)``;
    cross-entropy with softmax and binary cross-entropy with sigmoid:
    ``A - Y`` (the derivative cancels).
    """
    a, y, d = _flat(A), _flat(Y), _flat(out)
    for i in range(d.shape[0]):
        d[i] = a[i] - y[i]
    code = loss[LOSS_CODE]
    if code == MSE:
        _multiply_derivative(out, A, A, act)
    elif code == HUBER:
        delta = out.dtype.type(loss[HUBER_DELTA])
        for i in range(d.shape[0]):
            d[i] = min(max(d[i], -delta), delta)
        _multiply_derivative(out, A, A, act)
    elif code != CROSS_ENTROPY and code != BINARY_CROSS_ENTROPY:
        raise ValueError("unknown loss code")
