"""In-place parameter updates."""
from .._jit import jit
from ._blas import gemm


@jit
def sgd_update(W, b, dW, db, lr):
    """Plain SGD in place: ``W -= lr * dW``, ``b -= lr * db``.

    ``lr`` arrives as a scalar of the parameters' dtype, so float32 networks
    do float32 arithmetic, like NumPy does with a Python float.
    """
    n_out, n_in = W.shape
    for i in range(n_out):
        for j in range(n_in):
            W[i, j] -= lr * dW[i, j]
        b[i] -= lr * db[i]


@jit
def sgd_fused_update(D, A_prev, W, b, lr):
    """SGD with the weight gradient folded in: ``W <- W - (lr/B) D.T @ A_prev``
    as one GEMM with beta = 1, and ``b <- b - (lr/B) D.sum(axis=0)``.

    No dW array is formed: W is read and written once by BLAS, instead of
    GEMM writing dW and a second pass reading dW and W.
    """
    B, n_out = D.shape
    scale = lr / B
    gemm(True, False, -scale, D, A_prev, 1.0, W)
    for i in range(B):
        for j in range(n_out):
            b[j] -= scale * D[i, j]
