"""Elementwise activations and their derivatives, shared by the forward and backward kernels.

Activations are kept as columns, ``(n, B)`` (the seed's orientation, see
``epoch.py``): the bias is per row of that block and softmax runs over each
column. The pre-activation Z is kept only for activations whose derivative
cannot be had from the output (``_codes.keeps_z``: GELU, SiLU); for the others the activation overwrites Z in place and ``Z is A``.

The branch on ``act`` sits outside the loops so each loop body is one
straight-line expression that LLVM can vectorise. Every dispatch ends in an
error for a code it does not know.
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
from .._jit import jit, jit_inline
from ._fastexp import fast_exp
from ._fastmath import fast_erf, fast_silu, fast_tanh

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

#: ``_codes.keeps_z``, compiled: one rule for the workspace's size and the kernels.
_keeps_z = jit(keeps_z)


@jit
def _bias_and_activate_row(row, bias, act):
    """In place: ``row <- act(row + bias)``, for the activations that do not keep Z.

    In place, not ``out <- act(z)``: LLVM vectorises a loop over two arrays
    only after a runtime check that they do not overlap, which the same
    array fails, and scalar ``exp`` made sigmoid epochs a fifth slower. The
    bias is added in the same loop: with nothing added, ``row <- max(row, 0)``
    stores back what it loaded where ``row > 0``, and LLVM turns that into a
    masked store, which AMD's Zen cores run microcoded (ReLU passes took
    several times longer than sigmoid's).
    """
    n = row.shape[0]
    one = row.dtype.type(1.0)
    zero = row.dtype.type(0.0)
    slope = row.dtype.type(LEAKY_SLOPE)
    if act == SIGMOID:
        for j in range(n):
            row[j] = one / (one + fast_exp(-(row[j] + bias)))
    elif act == TANH:
        for j in range(n):
            row[j] = fast_tanh(row[j] + bias)
    elif act == RELU:
        for j in range(n):
            row[j] = max(row[j] + bias, zero)
    elif act == LEAKY_RELU:
        for j in range(n):
            z = row[j] + bias
            row[j] = z if z > 0 else slope * z
    elif act == IDENTITY or act == SOFTMAX:  # the bias alone (softmax's exps come after)
        for j in range(n):
            row[j] += bias
    else:
        raise ValueError("unknown activation code")


@jit_inline
def _activate_row_keeping_z(z, act, out):
    """``out <- act(z)``, ``z`` kept, for the activations whose derivative needs it.

    Inlined into its one caller, ``_activate``, as ``_softmax_columns`` is:
    compiled on their own, both were optimised and emitted once for
    themselves and again inside ``_activate`` (about a twentieth of a first
    fit's compile, ``tools/compile_breakdown.py``)."""
    n = z.shape[0]
    one = z.dtype.type(1.0)
    if act == GELU:
        half, r = z.dtype.type(0.5), z.dtype.type(_SQRT_HALF)
        for j in range(n):
            out[j] = half * z[j] * (one + fast_erf(z[j] * r))
    elif act == SILU:
        for j in range(n):
            out[j] = fast_silu(z[j])
    else:
        raise ValueError("unknown activation code")


@jit
def _flat(X):
    """A C-contiguous block as one row, a view: elementwise passes run over
    the whole block, not row by row. Rows of a columns block are B long, and
    LLVM's vector loop (8 lanes, unrolled 4 times) is skipped for rows
    shorter than 32, so row-by-row passes ran scalar at small batches."""
    return X.reshape(X.size)


@jit
def _add_bias_and_activate(Z, b, act, A):
    """Columns ``(n, B)``: ``Z += b[:, None]``, then ``A <- act(Z)``. In
    training ``A`` is ``Z`` itself (the activation in place) unless the
    activation keeps Z; given apart, Z is kept whatever the activation."""
    n = Z.shape[0]
    if Z.ctypes.data == A.ctypes.data and not _keeps_z(act) and act != SOFTMAX:
        for o in range(n):  # bias and activation in one pass (see _bias_and_activate_row)
            _bias_and_activate_row(Z[o], b[o], act)
        return
    for o in range(n):
        _bias_and_activate_row(Z[o], b[o], np.int64(IDENTITY))
    _activate(Z, act, A)


@jit
def _activate(Z, act, A):
    """``A <- act(Z)`` for a block whose bias is already in Z (the register
    tiles add it); ``A`` may be ``Z`` unless the activation keeps Z."""
    if act == SOFTMAX:
        _softmax_columns(Z, A)
    elif _keeps_z(act):
        _activate_row_keeping_z(_flat(Z), act, _flat(A))
    else:
        out = _flat(A)
        if Z.ctypes.data != A.ctypes.data:
            z = _flat(Z)
            for i in range(out.shape[0]):  # a loop, not ``out[:] = z``: that compiles a shape-error path costing seconds
                out[i] = z[i]
        _bias_and_activate_row(out, out.dtype.type(0.0), act)


@jit_inline
def _softmax_columns(Z, A):
    """``A <- softmax(Z)`` over each column of ``(n, B)`` blocks. The column's
    maximum is subtracted first so that exp cannot overflow. Every pass runs
    along rows, the contiguous direction, keeping one running maximum and sum
    per column: a pass down each column read memory B apart, one cache line
    per element, and made wide outputs (thousands of classes) several times
    slower. Each column's maximum and sum are taken in the order of its rows,
    as down the column."""
    n, B = Z.shape
    m = Z[0].copy()
    for o in range(1, n):
        row = Z[o]
        for i in range(B):
            m[i] = max(m[i], row[i])
    for o in range(n):
        zrow, arow = Z[o], A[o]
        for i in range(B):
            arow[i] = zrow[i] - m[i]
    flat = _flat(A)
    for k in range(flat.shape[0]):
        flat[k] = fast_exp(flat[k])
    s = A[0].copy()
    for o in range(1, n):
        row = A[o]
        for i in range(B):
            s[i] += row[i]
    one = A.dtype.type(1.0)
    for i in range(B):
        s[i] = one / s[i]
    for o in range(n):
        row = A[o]
        for i in range(B):
            row[i] *= s[i]


@jit_inline
def _gate(a, z, half):
    """The gate ``g(z)`` of an activation ``a = z g(z)`` (GELU's Phi, SiLU's
    sigmoid) from the stored activation: ``a / z``, and ``g(0) = half`` (1/2,
    in the arrays' dtype) for both. One division where the gate's own formula
    took erf or exp and a division again; its rounding is the forward pass's
    (a few ulp of ``a``)."""
    return a / z if z != 0 else half


@jit
def _multiply_derivative(D, A, Z, act):
    """In place: ``D <- D * act'(Z)``, taken from the stored activation ``A``
    where it can be, from ``Z`` for the activations that keep it (blocks of
    one shape, either layout)."""
    if act == IDENTITY:
        return
    d, a = _flat(D), _flat(A)
    n = d.shape[0]
    one = D.dtype.type(1.0)
    slope = D.dtype.type(LEAKY_SLOPE)
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
    elif act == GELU:  # Phi(z) + z phi(z), Phi(z) = a / z (see _gate)
        z = _flat(Z)
        half, c = D.dtype.type(0.5), D.dtype.type(_INV_SQRT_2PI)
        for j in range(n):
            d[j] *= _gate(a[j], z[j], half) + z[j] * c * fast_exp(-half * z[j] * z[j])
    elif act == SILU:  # s (1 + z (1 - s)), s = sigmoid(z) = a / z (see _gate)
        z = _flat(Z)
        half = D.dtype.type(0.5)
        for j in range(n):
            s = _gate(a[j], z[j], half)
            d[j] *= s * (one + z[j] * (one - s))
    else:  # softmax's derivative is not elementwise: no loss asks for it
        raise ValueError("unknown activation code, or one without an elementwise derivative")
