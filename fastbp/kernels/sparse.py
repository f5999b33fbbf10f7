"""The input layer on sparse rows: CSR ``(data, indices, indptr)`` in place of
a dense batch, the first layer's two products on the nonzeros only.

Only the first layer ever sees X, so only it changes: its forward product
(sparse rows times dense weights) and its weight gradient (the outer
products ``D @ X[rows]``: a dense gradient whose untouched columns are zero,
or with ``beta == 1`` the fused SGD step into the weights themselves).
Everything after it, and every optimizer's update over every parameter,
is the dense code.

The first layer's weights are read *input-major*: ``WT (n_in, n_out)``,
the transpose of the usual ``W``, so the row a nonzero ``X[r, k]``
multiplies, ``WT[k]``, is contiguous: each nonzero is one vectorised
multiply-add over ``n_out`` values. (``W`` itself would make it a column,
``n_in`` values apart: measured 3x slower for the forward product at 50,000
inputs.) The flat buffers of a sparse fit keep that block input-major
(``fastbp._layout.input_major``); the optimizers' updates are elementwise
and do not mind. Indices need not be sorted, and a duplicate index adds
its values, as in SciPy's own products.
"""
import numpy as np

from .._jit import jit
from ._activation import _add_bias_and_activate
from .backward import _bias_gradient


@jit
def sparse_forward_layer(WT, b, X, perm, start, act, Z, out):
    """``Z <- WT.T @ X[rows].T + b``, ``out <- act(Z)``: ``forward_layer`` for
    CSR input rows, the weights input-major.

    Parameters
    ----------
    WT : (n_in, n_out) array, the layer's weights transposed; b : (n_out,) array.
    X : tuple ``(data, indices, indptr)`` of a CSR matrix with ``n_in`` columns,
        checked at the Python boundary (indices in range, indptr monotone).
    perm, start : the batch is rows ``perm[start:start+B]`` of X, in that order
        (``perm`` an int64 array; B is Z's column count).
    act : int, the activation code; Z, out : (n_out, B) C-contiguous, written
        (``out`` may be ``Z``, as in ``forward_layer``).
    """
    data, indices, indptr = X
    n_out, B = Z.shape
    acc = np.empty(n_out, dtype=Z.dtype)
    for i in range(B):
        r = perm[start + i]
        acc[:] = 0
        for p in range(indptr[r], indptr[r + 1]):
            w = WT[indices[p]]
            v = data[p]
            for j in range(n_out):
                acc[j] += v * w[j]
        for j in range(n_out):
            Z[j, i] = acc[j]
    _add_bias_and_activate(Z, b, act, out)


@jit
def sparse_weight_gradient(D, X, perm, start, scale, beta, dWT, db):
    """``dWT <- scale * (D @ X[rows]).T + beta * dWT``, ``db <- scale * D.sum(axis=1) + beta * db``:
    ``weight_gradient`` for CSR input rows, the gradient input-major.

    ``D (n_out, B)``; ``X``, ``perm``, ``start``: as ``sparse_forward_layer``;
    ``dWT (n_in, n_out)``. With ``beta == 0`` ``dWT`` is zeroed and each
    nonzero adds its outer product row (rows the batch does not touch stay
    0, as in the dense product); with the parameters themselves and
    ``beta == 1`` it is the fused plain SGD step, which moves only the
    touched rows.
    """
    data, indices, indptr = X
    n_out, B = D.shape
    t = dWT.dtype.type
    if beta != 1:
        flat = dWT.reshape(dWT.size)
        b_ = t(beta)
        for k in range(flat.shape[0]):
            flat[k] = 0 if beta == 0 else b_ * flat[k]
    s = t(scale)
    d = np.empty(n_out, dtype=D.dtype)
    for i in range(B):
        r = perm[start + i]
        for j in range(n_out):
            d[j] = s * D[j, i]
        for p in range(indptr[r], indptr[r + 1]):
            g = dWT[indices[p]]
            v = data[p]
            for j in range(n_out):
                g[j] += v * d[j]
    _bias_gradient(D, scale, beta, db)
