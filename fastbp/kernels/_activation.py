"""Elementwise activations and their derivatives, shared by the forward and backward kernels.

Activations are kept as columns, ``(n, B)`` (the seed's orientation, see
``epoch.py``): the bias is per row of that block and softmax runs over each
column. The pre-activation Z is kept only for activations whose derivative
cannot be had from the output (codes from ``FIRST_Z_ACTIVATION`` on, e.g.
GELU); for the others the activation overwrites Z in place and ``Z is A``.

The branch on ``act`` sits outside the loops so each loop body is one
straight-line expression that LLVM can vectorise.
"""
import math

import numpy as np

from .._codes import (
    GELU,
    IDENTITY,
    LEAKY_RELU,
    LEAKY_SLOPE,
    RELU,
    SIGMOID,
    SILU,
    SOFTMAX,
    TANH,
    keeps_z,
)
from .._jit import jit
from ._fastexp import fast_exp

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

#: ``_codes.keeps_z``, compiled: one rule for the workspace's size and the kernels.
_keeps_z = jit(keeps_z)


@jit
def _activate_row(row, act):
    """In place: ``row <- act(row)``, for the activations that do not keep Z.

    In place, not ``out <- act(z)``: LLVM vectorises a loop over two arrays
    only after a runtime check that they do not overlap, which the same
    array fails, and scalar ``exp`` made sigmoid epochs a fifth slower.
    """
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
def _activate_row_keeping_z(z, act, out):
    """``out <- act(z)``, ``z`` kept, for the activations whose derivative needs it."""
    n = z.shape[0]
    one = z.dtype.type(1.0)
    if act == GELU:
        half, r = z.dtype.type(0.5), z.dtype.type(_SQRT_HALF)
        for j in range(n):
            out[j] = half * z[j] * (one + math.erf(z[j] * r))
    elif act == SILU:
        for j in range(n):
            out[j] = z[j] / (one + fast_exp(-z[j]))


@jit
def _add_bias_and_activate(Z, b, act, A):
    """Columns ``(n, B)``: ``Z += b[:, None]``, then ``A <- act(Z)``. In
    training ``A`` is ``Z`` itself (the activation in place) unless the
    activation keeps Z; given apart, Z is kept whatever the activation."""
    n, B = Z.shape
    keep = _keeps_z(act)
    apart = Z.ctypes.data != A.ctypes.data  # training passes A = Z unless Z is kept
    for o in range(n):
        row = Z[o]
        bo = b[o]
        for i in range(B):
            row[i] += bo
        if keep:
            _activate_row_keeping_z(row, act, A[o])
        elif act != SOFTMAX:
            if apart:  # a loop, not ``A[o, :] = row``: that compiles a shape-error path costing seconds
                out = A[o]
                for i in range(B):
                    out[i] = row[i]
                row = out
            _activate_row(row, act)
    if act == SOFTMAX:
        # Over each column; n (the classes) is small next to B. The maximum
        # is subtracted so that exp cannot overflow.
        for i in range(B):
            m = Z[0, i]
            for o in range(1, n):
                m = max(m, Z[o, i])
            s = Z.dtype.type(0.0)
            for o in range(n):
                e = fast_exp(Z[o, i] - m)
                A[o, i] = e
                s += e
            inv = Z.dtype.type(1.0) / s
            for o in range(n):
                A[o, i] *= inv


@jit
def _multiply_derivative(D, A, Z, act):
    """In place: ``D <- D * act'(Z)``, taken from the stored activation ``A``
    where it can be, from ``Z`` for the activations that keep it."""
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
        elif act == GELU:  # Phi(z) + z phi(z)
            z = Z[i]
            half, r, c = D.dtype.type(0.5), D.dtype.type(_SQRT_HALF), D.dtype.type(_INV_SQRT_2PI)
            for j in range(n):
                d[j] *= half * (one + math.erf(z[j] * r)) + z[j] * c * fast_exp(-half * z[j] * z[j])
        elif act == SILU:  # s (1 + z (1 - s)), s = sigmoid(z)
            z = Z[i]
            for j in range(n):
                s = one / (one + fast_exp(-z[j]))
                d[j] *= s * (one + z[j] * (one - s))

