"""Elementwise activation helpers shared by the forward and backward kernels.

Two layouts meet here. The public per-layer kernels take batches as rows,
``(B, n)``; the compiled epoch keeps hidden activations as columns,
``(n, B)`` (the seed's orientation), because its GEMMs run ~9% faster that
way (see ``epoch.py``). Everything elementwise is layout-free; only the bias
(per row or per column) and softmax (over a row or a column) differ.

The branch on ``act`` sits outside the loops so each loop body is one
straight-line expression that LLVM can vectorise.
"""
import numpy as np

from .._codes import IDENTITY, LEAKY_RELU, LEAKY_SLOPE, RELU, SIGMOID, SOFTMAX, TANH
from .._jit import jit
from ._fastexp import fast_exp


@jit
def _activate_row(row, act):
    """In place: ``row <- act(row)`` for an elementwise ``act`` (not softmax)."""
    n = row.shape[0]
    one = row.dtype.type(1.0)
    slope = row.dtype.type(LEAKY_SLOPE)
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
    # IDENTITY: nothing to do.


@jit
def _softmax_row(row):
    # Subtracting the maximum keeps exp from overflowing.
    n = row.shape[0]
    m = row[0]
    for j in range(1, n):
        m = max(m, row[j])
    s = row.dtype.type(0.0)
    for j in range(n):
        e = fast_exp(row[j] - m)
        row[j] = e
        s += e
    inv = row.dtype.type(1.0) / s
    for j in range(n):
        row[j] *= inv


@jit
def _add_bias_and_activate(Z, b, act):
    """Rows layout ``(B, n)``, in place: ``Z <- act(Z + b)`` row by row."""
    B, n = Z.shape
    for i in range(B):
        row = Z[i]
        for j in range(n):
            row[j] += b[j]
        if act == SOFTMAX:
            _softmax_row(row)
        else:
            _activate_row(row, act)


@jit
def _add_bias_and_activate_t(Zt, b, act):
    """Columns layout ``(n, B)``, in place: ``Zt <- act(Zt + b[:, None])``."""
    n, B = Zt.shape
    for o in range(n):
        row = Zt[o]
        bo = b[o]
        for i in range(B):
            row[i] += bo
        if act != SOFTMAX:
            _activate_row(row, act)
    if act == SOFTMAX:
        # Over each column; n (the classes) is small next to B.
        for i in range(B):
            m = Zt[0, i]
            for o in range(1, n):
                m = max(m, Zt[o, i])
            s = Zt.dtype.type(0.0)
            for o in range(n):
                e = fast_exp(Zt[o, i] - m)
                Zt[o, i] = e
                s += e
            inv = Zt.dtype.type(1.0) / s
            for o in range(n):
                Zt[o, i] *= inv


@jit
def _multiply_derivative(D, A, act):
    """In place: ``D <- D * act'(A)``, the derivative taken from the stored
    activation (either layout: D and A have the same shape)."""
    rows, n = D.shape
    one = D.dtype.type(1.0)
    slope = D.dtype.type(LEAKY_SLOPE)
    if act == IDENTITY:
        return
    for i in range(rows):
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
