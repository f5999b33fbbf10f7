"""Backward pass: the fused hidden delta, weight and bias gradients, and the
one per-batch backward helper every epoch and ``batch_gradient`` run (the
output delta is the loss's, ``loss.py``)."""
import numpy as np

from .._jit import jit, jit_inline
from ._activation import _flat, _multiply_derivative
from ._blas import gemm
from ._input import input_gradient
from ._tiles import (
    POST_DERIVATIVE,
    POST_NONE,
    _small_gemm_then,
    fuses_derivative,
    is_small,
)


@jit
def hidden_delta(W_next, D_next, A, Z, act, out):
    """The fused hidden delta, columns: ``out <- (W_next.T @ D_next) * act'(Z)``.

    The GEMM writes straight into ``out``; the derivative is applied in the
    pass that follows, from the stored activation ``A`` or, for the
    activations that keep it, from ``Z``. A small layer (``_tiles.is_small``)
    runs in the register tiles, which apply a derivative taken from ``A``
    to each tile before storing it. Shapes: ``W_next (n_next, n)``,
    ``D_next (n_next, B)``, ``A, Z, out (n, B)``.
    """
    n, B = out.shape
    if is_small(n, B, W_next.shape[0]):
        fused = fuses_derivative(act)
        _small_gemm_then(np.bool_(True), 1.0, W_next, D_next, 0.0, out,
                         np.int64(POST_DERIVATIVE if fused else POST_NONE), np.int64(act), _flat(A))
        if not fused:
            _multiply_derivative(out, A, Z, act)
    else:
        gemm(np.bool_(True), np.bool_(False), 1.0, W_next, D_next, 0.0, out)
        _multiply_derivative(out, A, Z, act)


@jit
def weight_gradient(D, A_prev, rows, scale, beta, dW, db):
    """``dW <- scale * D @ A_prev.T + beta * dW`` (the outer products summed
    over the batch) and ``db <- scale * D.sum(axis=1) + beta * db``.

    ``D (n_out, B)``; ``A_prev (n_in, B)``, or with ``rows`` the input batch
    ``(B, n_in)``. ``scale = 1/B, beta = 0`` is the mean gradient; with
    ``dW, db`` the parameters themselves, ``scale = -lr/B, beta = 1`` is the
    plain SGD step with no gradient array at all (one GEMM reads and writes W
    once). With ``beta == 0``, ``dW`` and ``db`` are not read.
    """
    n_out, n_in = dW.shape
    if rows and is_small(n_out, n_in, D.shape[1]):  # the input rows are B's rows, read in place
        _small_gemm_then(np.bool_(False), scale, D, A_prev, beta, dW, np.int64(POST_NONE), np.int64(0), _flat(dW))
    else:  # a hidden layer's activations are columns: D @ A.T, B transposed
        gemm(np.bool_(False), np.bool_(not rows), scale, D, A_prev, beta, dW)
    _bias_gradient(D, scale, beta, db)


@jit_inline
def _bias_gradient(D, scale, beta, db):
    """``db <- scale * D.sum(axis=1) + beta * db`` (``db`` not read when ``beta == 0``)."""
    for o in range(D.shape[0]):
        s = D.dtype.type(0.0)
        row = D[o]
        for i in range(row.shape[0]):
            s += row[i]
        if beta == 0:
            db[o] = scale * s
        elif beta == 1:
            db[o] += scale * s
        else:
            db[o] = beta * db[o] + scale * s


@jit_inline
def _backward(Ws, acts, X0, perm, start, At, Zt, Dt, scale, beta, gWs, gbs):
    """From the output delta ``Dt[L]`` down: each layer's ``weight_gradient``
    into ``gWs, gbs`` (``scale``, ``beta``: where and how gradients go, see
    there) and the delta of the layer below; none for the input. The input
    layer's gradient reads the batch ``X0``: the gathered rows, or sparse
    rows ``perm[start:start+B]`` of a CSR matrix (``_input.input_gradient``).

    A layer's W serves the delta below it before its own gradient is written,
    so ``gWs`` may be the weights themselves (the fused SGD step).
    """
    for l in range(len(Ws), 1, -1):
        hidden_delta(Ws[l - 1], Dt[l], At[l - 1], Zt[l - 1], acts[l - 2], Dt[l - 1])
        # A runtime False, not a literal: a literal would compile weight_gradient twice.
        weight_gradient(Dt[l], At[l - 1], l == 0, scale, beta, gWs[l - 1], gbs[l - 1])
    input_gradient(Dt[1], X0, perm, start, scale, beta, gWs[0], gbs[0])
