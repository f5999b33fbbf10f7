"""Backward pass: output delta, fused hidden delta, weight and bias gradients."""
from .._codes import MSE
from .._jit import jit
from ._activation import _multiply_derivative
from ._blas import gemm


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
    gemm(False, False, 1.0, D_next, W_next, 0.0, out)
    _multiply_derivative(out, A, act)


@jit
def weight_gradient(D, A_prev, dW, db):
    """``dW <- D.T @ A_prev / B`` (outer products summed over the batch) and
    ``db <- D.sum(axis=0) / B``."""
    B = D.shape[0]
    gemm(True, False, 1.0 / B, D, A_prev, 0.0, dW)
    _column_sums(D, 1.0 / B, db)


@jit
def _column_sums(D, scale, out):
    """``out <- scale * D.sum(axis=0)``, walking D row by row in memory order."""
    n = D.shape[1]
    for j in range(n):
        out[j] = 0
    for i in range(D.shape[0]):
        for j in range(n):
            out[j] += D[i, j]
    s = out.dtype.type(scale)
    for j in range(n):
        out[j] *= s
