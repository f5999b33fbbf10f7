"""In-place parameter updates."""
import numpy as np

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


# Momentum and Adam (scikit-learn's update rules). Each is one pass over a
# layer's parameters that folds in the L2 term and the momentum/moment state,
# where scikit-learn makes 3-5 temporary arrays per parameter per step
# (scikit-learn issue 32110). Each returns ``sum(W**2)`` of the weights as
# they were before the step, read in the same pass: the L2 part of the loss.


@jit
def momentum_update(W, b, dW, db, vW, vb, lr, momentum, nesterov, l2):
    """SGD with momentum in place, scikit-learn's form; returns ``sum(W**2)`` before the step.

    ``g = dW + l2 * W`` (biases are not penalised), ``v <- momentum * v - lr * g``,
    then ``W <- W + v``, or with ``nesterov`` ``W <- W + momentum * v - lr * g``.
    Momentum 0 is plain SGD.
    """
    n_out, n_in = W.shape
    sumsq = 0.0
    for i in range(n_out):
        for j in range(n_in):
            w = W[i, j]
            sumsq += w * w
            g = dW[i, j] + l2 * w
            v = momentum * vW[i, j] - lr * g
            vW[i, j] = v
            if nesterov:
                W[i, j] = w + (momentum * v - lr * g)
            else:
                W[i, j] = w + v
        v = momentum * vb[i] - lr * db[i]
        vb[i] = v
        if nesterov:
            b[i] += momentum * v - lr * db[i]
        else:
            b[i] += v
    return sumsq


@jit
def adam_update(W, b, dW, db, mW, mb, vW, vb, lr, beta_1, beta_2, epsilon, l2):
    """Adam in place, scikit-learn's form; returns ``sum(W**2)`` before the step.

    ``g = dW + l2 * W``, ``m <- beta_1 m + (1 - beta_1) g``,
    ``v <- beta_2 v + (1 - beta_2) g**2``, ``W <- W - lr * m / (sqrt(v) + epsilon)``;
    ``lr`` is the step's bias-corrected rate
    ``lr0 * sqrt(1 - beta_2**t) / (1 - beta_1**t)`` (computed by the caller).
    """
    n_out, n_in = W.shape
    one = W.dtype.type(1.0)
    c1 = one - beta_1
    c2 = one - beta_2
    sumsq = 0.0
    for i in range(n_out):
        for j in range(n_in):
            w = W[i, j]
            sumsq += w * w
            g = dW[i, j] + l2 * w
            m = beta_1 * mW[i, j] + c1 * g
            v = beta_2 * vW[i, j] + c2 * (g * g)
            mW[i, j] = m
            vW[i, j] = v
            W[i, j] = w - lr * m / (np.sqrt(v) + epsilon)
        g = db[i]
        m = beta_1 * mb[i] + c1 * g
        v = beta_2 * vb[i] + c2 * (g * g)
        mb[i] = m
        vb[i] = v
        b[i] -= lr * m / (np.sqrt(v) + epsilon)
    return sumsq
