"""Forward pass of one dense layer."""
from .._jit import jit
from ._blas import gemm
from ._activation import _add_bias_and_activate


@jit
def forward_layer(A_prev, W, b, act, out):
    """``out <- act(A_prev @ W.T + b)``.

    One BLAS GEMM for the product, then bias and activation fused in a single
    pass over ``out`` while its rows are still in cache.

    Parameters
    ----------
    A_prev : (B, n_in) array
    W : (n_out, n_in) array
    b : (n_out,) array
    act : int
        Activation code (``fastbp._codes``).
    out : (B, n_out) C-contiguous array, written.
    """
    gemm(False, True, 1.0, A_prev, W, 0.0, out)
    _add_bias_and_activate(out, b, act)
