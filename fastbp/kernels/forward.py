"""Forward pass: one dense layer, the whole network, in the columns layout of ``epoch.py``."""
from .._jit import jit
from ._activation import _add_bias_and_activate
from ._blas import gemm
from ._views import _activation_views, _layer_views


@jit
def forward_layer(W, b, A_prev, rows, act, Z, out):
    """``Z <- W @ A_prev + b``, ``out <- act(Z)``: one layer, activations as columns.

    One GEMM for the product, then bias and activation fused in a single
    pass while each row of ``Z`` is still in cache.

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
    gemm(False, rows, 1.0, W, A_prev, 0.0, Z)
    _add_bias_and_activate(Z, b, act, out)


@jit
def _forward(Ws, bs, acts, Xb, Zt, At):
    """Every layer: ``At[1]`` from the input rows ``Xb``, then ``At[l]`` from ``At[l-1]``.

    (``rows`` is a runtime value, ``l == 0``, not a literal: a literal would
    compile ``forward_layer`` twice.)"""
    for l in range(len(Ws)):
        forward_layer(Ws[l], bs[l], Xb if l == 0 else At[l], l == 0, acts[l], Zt[l + 1], At[l + 1])


@jit
def forward(X, params, sizes, acts, work, out):
    """``out <-`` the network's output for the input rows ``X (B, n0)``, as rows ``(B, nL)``.

    The forward pass of training, with ``X`` read in place (nothing gathered);
    ``work`` holds ``_layout.forward_size(sizes, B, acts)`` scalars or more.
    """
    L = sizes.shape[0] - 1
    Ws, bs = _layer_views(params, sizes)
    At, Zt, _ = _activation_views(work, 0, sizes, acts, X.shape[0])
    _forward(Ws, bs, acts, X, Zt, At)
    A = At[L]
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = A[j, i]
