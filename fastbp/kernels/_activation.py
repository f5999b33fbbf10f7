"""Elementwise activation helpers shared by the forward and backward kernels.

The branch on ``act`` sits outside the loops so each loop body is one
straight-line expression that LLVM can vectorise.
"""
import numpy as np

from .._codes import IDENTITY, LEAKY_RELU, LEAKY_SLOPE, RELU, SIGMOID, SOFTMAX, TANH
from .._jit import jit
from ._fastexp import fast_exp


@jit
def _add_bias_and_activate(Z, b, act):
    """In place: ``Z <- act(Z + b)`` row by row (softmax normalises each row)."""
    B, n = Z.shape
    one = Z.dtype.type(1.0)
    slope = Z.dtype.type(LEAKY_SLOPE)
    for i in range(B):
        row = Z[i]
        for j in range(n):
            row[j] += b[j]
        if act == SIGMOID:
            for j in range(n):
                row[j] = one / (one + fast_exp(-row[j]))
        elif act == TANH:
            for j in range(n):
                row[j] = np.tanh(row[j])
        elif act == RELU:
            for j in range(n):
                row[j] = max(row[j], 0)
        elif act == LEAKY_RELU:
            for j in range(n):
                z = row[j]
                row[j] = z if z > 0 else slope * z
        elif act == SOFTMAX:
            # Subtracting the row maximum keeps exp from overflowing.
            m = row[0]
            for j in range(1, n):
                m = max(m, row[j])
            s = Z.dtype.type(0.0)
            for j in range(n):
                e = fast_exp(row[j] - m)
                row[j] = e
                s += e
            inv = one / s
            for j in range(n):
                row[j] *= inv
        # IDENTITY: nothing to do.


@jit
def _multiply_derivative(D, A, act):
    """In place: ``D <- D * act'(A)``, the derivative taken from the stored activation."""
    B, n = D.shape
    one = D.dtype.type(1.0)
    slope = D.dtype.type(LEAKY_SLOPE)
    if act == IDENTITY:
        return
    for i in range(B):
        d = D[i]
        a = A[i]
        if act == SIGMOID:
            for j in range(n):
                d[j] *= a[j] * (one - a[j])
        elif act == TANH:
            for j in range(n):
                d[j] *= one - a[j] * a[j]
        elif act == RELU:
            for j in range(n):
                d[j] = d[j] if a[j] > 0 else 0
        elif act == LEAKY_RELU:
            for j in range(n):
                d[j] = d[j] if a[j] > 0 else slope * d[j]
