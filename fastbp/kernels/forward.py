"""Forward pass: one dense layer, the whole network, in the columns layout of ``epoch.py``."""
import numpy as np

from .._codes import IDENTITY
from .._jit import jit, jit_inline
from ._activation import _activate, _add_bias_and_activate
from ._blas import gemm
from ._tiles import POST_BIAS, _small_gemm_then, fuses_activation, is_small
from ._input import input_layer, n_rows
from ._views import _activation_views, _layer_views


@jit
def forward_layer(W, b, A_prev, rows, act, Z, out):
    """``Z <- W @ A_prev + b``, ``out <- act(Z)``: one layer, activations as columns.

    A small layer (``_tiles.is_small``) whose input is columns runs in the
    register tiles, which add the bias, and ReLU or leaky ReLU in place, to
    each tile before storing it; any other activation follows in one pass.
    Otherwise one BLAS GEMM, then bias and activation in one pass over the
    block while it is still in cache.

    Parameters
    ----------
    W : (n_out, n_in) array; b : (n_out,) array.
    A_prev : (n_in, B) array, the layer below's activations as columns, or with
        ``rows`` the input batch as rows, ``(B, n_in)`` (it is never transposed in memory).
    act : int
        Activation code (``fastbp._codes``).
    Z : (n_out, B) C-contiguous array, written: the pre-activation, kept for
        the activations whose derivative needs it (``_codes.keeps_z``).
    out : (n_out, B) C-contiguous array, written; may be ``Z`` itself when Z need not be kept.
    """
    n_out, B = Z.shape
    if not rows and is_small(n_out, B, W.shape[1]):
        fused = fuses_activation(act) and Z.ctypes.data == out.ctypes.data  # in place: Z need not be kept
        _small_gemm_then(np.bool_(False), 1.0, W, A_prev, 0.0, Z, np.int64(POST_BIAS),
                         np.int64(act if fused else IDENTITY), b)
        if not fused:
            _activate(Z, act, out)
    else:
        gemm(np.bool_(False), np.bool_(rows), 1.0, W, A_prev, 0.0, Z)
        _add_bias_and_activate(Z, b, act, out)


@jit_inline
def _forward(Ws, bs, acts, X0, rows, perm, start, Zt, At):
    """Every layer: ``At[1]`` from the input batch ``X0`` (dense rows
    ``(B, n0)`` when ``rows``, else columns ``(n0, B)``; or the rows
    ``perm[start:start+B]`` of a CSR matrix, ``_input.input_layer``), then ``At[l]`` from ``At[l-1]``.

    (``rows`` is a runtime value, not a literal: a literal would compile
    ``forward_layer`` twice.)"""
    input_layer(Ws[0], bs[0], X0, rows, perm, start, acts[0], Zt[1], At[1])
    for l in range(1, len(Ws)):
        forward_layer(Ws[l], bs[l], At[l], rows and l == 0, acts[l], Zt[l + 1], At[l + 1])


@jit
def forward(X, params, sizes, acts, work, out):
    """``out <-`` the network's output for the input rows ``X (B, n0)`` (or
    a CSR matrix's ``(data, indices, indptr)``), as rows ``(B, nL)``.

    The forward pass of training, with ``X`` read in place (nothing gathered);
    ``work`` holds ``_layout.forward_size(sizes, B, acts)`` scalars or more.
    """
    L = sizes.shape[0] - 1
    B = n_rows(X)
    Ws, bs = _layer_views(params, sizes)
    At, Zt, _ = _activation_views(work, 0, sizes, acts, B)
    _forward(Ws, bs, acts, X, B >= 0, np.arange(B), 0, Zt, At)
    A = At[L]
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = A[j, i]
