"""The cost: mean over the batch of the per-sample loss."""
import numpy as np

from .._codes import BINARY_CROSS_ENTROPY, CROSS_ENTROPY
from .._jit import jit


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
    total = 0.0
    if loss == CROSS_ENTROPY:
        for i in range(B):
            for j in range(start, stop):
                y = Y[i, j]
                if y != 0:
                    total -= y * np.log(max(np.float64(A[i, j]), tiny))
    elif loss == BINARY_CROSS_ENTROPY:
        for i in range(B):
            for j in range(start, stop):
                a = np.float64(A[i, j])
                y = np.float64(Y[i, j])
                if y != 0:
                    total -= y * np.log(max(a, tiny))
                if y != 1:
                    total -= (1.0 - y) * np.log(max(1.0 - a, tiny))
    else:  # MSE
        for i in range(B):
            for j in range(start, stop):
                r = np.float64(A[i, j]) - np.float64(Y[i, j])
                total += 0.5 * r * r
    return total
