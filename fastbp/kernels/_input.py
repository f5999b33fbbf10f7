"""The input layer's steps for either kind of input, chosen by type when a
kernel compiles: dense rows (a 2-D array) or sparse rows, a CSR matrix
passed as the tuple ``(data, indices, indptr)``.

Everything else in an epoch is the same code for both, so each kind of
input is one specialisation of the same kernels (compiled only when used),
not a second copy of them. The implementations import their kernels when
a caller compiles, not at import: ``forward.py`` and ``backward.py`` import
this module.
"""
import numpy as np
from numba import types
from numba.extending import overload

from .._jit import OVERLOAD_OPTIONS


def _is_sparse(X) -> bool:
    return isinstance(X, types.BaseTuple)


def input_width(X, n_in):
    """Columns of the workspace's input blocks: ``n_in`` for dense rows,
    which are gathered there; 0 for sparse rows, which are read in place."""
    raise NotImplementedError("compiled code only")


def n_rows(X):
    """Rows of the input."""
    raise NotImplementedError("compiled code only")


def batch_input(X, gathered):
    """What the first layer reads: the ``gathered`` block for dense rows, X itself for sparse."""
    raise NotImplementedError("compiled code only")


def gather(X, Y, perm, start, Xb, Xc, columns, Yt):
    """The batch's rows ``perm[start:start+B]`` of Y into ``Yt`` (columns) and,
    for dense X, of X into ``Xb`` (and as columns into ``Xc`` when
    ``columns``); sparse X is not gathered (the kernels read it in place)."""
    raise NotImplementedError("compiled code only")


def input_layer(W, b, X0, rows, perm, start, act, Z, out):
    """The first layer: ``forward_layer`` on the gathered batch ``X0`` (rows
    when ``rows``, else columns), or ``sparse_forward_layer`` on rows
    ``perm[start:start+B]`` of CSR ``X0``, reading the block of ``W`` as the input-major ``(n_in, n_out)``."""
    raise NotImplementedError("compiled code only")


def input_gradient(D, X0, perm, start, scale, beta, dW, db):
    """The first layer's gradient: ``weight_gradient`` on the gathered rows
    ``X0``, or ``sparse_weight_gradient`` on rows ``perm[start:start+B]`` of CSR ``X0``, into
    the block of ``dW`` as the input-major ``(n_in, n_out)``."""
    raise NotImplementedError("compiled code only")


@overload(input_width, jit_options=OVERLOAD_OPTIONS, inline="always")
def _input_width(X, n_in):
    if _is_sparse(X):
        return lambda X, n_in: np.int64(0)
    return lambda X, n_in: n_in


@overload(n_rows, jit_options=OVERLOAD_OPTIONS, inline="always")
def _n_rows(X):
    if _is_sparse(X):
        return lambda X: X[2].shape[0] - 1
    return lambda X: X.shape[0]


@overload(batch_input, jit_options=OVERLOAD_OPTIONS, inline="always")
def _batch_input(X, gathered):
    if _is_sparse(X):
        return lambda X, gathered: X
    return lambda X, gathered: gathered


@overload(gather, jit_options=OVERLOAD_OPTIONS, inline="always")
def _gather(X, Y, perm, start, Xb, Xc, columns, Yt):
    from ._views import _gather, _gather_targets

    if _is_sparse(X):
        return lambda X, Y, perm, start, Xb, Xc, columns, Yt: _gather_targets(Y, perm, start, Yt)
    return lambda X, Y, perm, start, Xb, Xc, columns, Yt: _gather(X, Y, perm, start, Xb, Xc, columns, Yt)


@overload(input_layer, jit_options=OVERLOAD_OPTIONS, inline="always")
def _input_layer(W, b, X0, rows, perm, start, act, Z, out):
    from .forward import forward_layer
    from .sparse import sparse_forward_layer

    if _is_sparse(X0):  # the block holds W input-major (kernels.sparse)
        return lambda W, b, X0, rows, perm, start, act, Z, out: sparse_forward_layer(
            W.reshape((W.shape[1], W.shape[0])), b, X0, perm, start, act, Z, out)
    return lambda W, b, X0, rows, perm, start, act, Z, out: forward_layer(W, b, X0, rows, act, Z, out)


@overload(input_gradient, jit_options=OVERLOAD_OPTIONS, inline="always")
def _input_gradient(D, X0, perm, start, scale, beta, dW, db):
    from .backward import weight_gradient
    from .sparse import sparse_weight_gradient

    if _is_sparse(X0):  # the block holds the gradient input-major (kernels.sparse)
        return lambda D, X0, perm, start, scale, beta, dW, db: sparse_weight_gradient(
            D, X0, perm, start, scale, beta, dW.reshape((dW.shape[1], dW.shape[0])), db)
    # The gathered rows: ``rows`` a runtime True (a literal would compile weight_gradient twice).
    return lambda D, X0, perm, start, scale, beta, dW, db: weight_gradient(D, X0, np.bool_(True), scale, beta, dW,
                                                                          db)
