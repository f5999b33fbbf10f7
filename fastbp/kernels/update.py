"""In-place parameter updates."""
from .._jit import jit


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
