"""In-place parameter updates, one kernel per optimizer, and the one dispatch on
the optimizer's code (``_update_layers``) that every epoch and step goes through.

Adding an optimizer: its code and ``hyper`` slots in ``fastbp._codes``, its
kernel and a branch of ``_update_layers`` here, its record (class and NumPy
twin) in ``fastbp.optimizers``. Codes and slots come from ``_codes`` only, so
an edit to the records (a docstring, a message) recompiles nothing.
"""
import math

import numpy as np

from .._codes import (
    ADAM,
    ADAM_BETA_1,
    ADAM_BETA_2,
    ADAM_EPSILON,
    ADAMW,
    ADAMW_AMSGRAD,
    ADAMW_BETA_1,
    ADAMW_BETA_2,
    ADAMW_EPSILON,
    ADAMW_WEIGHT_DECAY,
    HYPER_ALPHA,
    HYPER_L2,
    HYPER_LR,
    RMSPROP,
    RMSPROP_EPSILON,
    RMSPROP_RHO,
    SGD,
    SGD_MOMENTUM,
    SGD_NESTEROV,
)
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


# One kernel per optimizer, each one fused in-place pass over a layer's
# parameters that folds in the L2 term and the optimizer's state, where
# scikit-learn makes 3-5 temporary arrays per parameter per step (scikit-learn
# issue 32110). All share one form, which ``_update_layers`` and the kernel
# table (``fastbp.testing``) rely on:
#     name(W, b, dW, db, <(sW, sb) per state copy>, lr, <the optimizer's params>, step, l2)
# with the scalars as float64 (cast to the parameters' dtype inside; ``step``
# the step's number, 1 for the first), returning ``sum(W**2)`` of the weights
# as they were before the step: the L2 part of the loss. L2 applies to W only.


@jit
def momentum_update(W, b, dW, db, vW, vb, lr, momentum, nesterov, step, l2):
    """SGD with momentum in place, scikit-learn's form (``step`` unused).

    ``g = dW + l2 * W``, ``v <- momentum * v - lr * g``, then ``W <- W + v``,
    or with ``nesterov`` (nonzero) ``W <- W + momentum * v - lr * g``.
    Momentum 0 is plain SGD.
    """
    n_out, n_in = W.shape
    t = W.dtype.type
    rate, mu, decay, nest = t(lr), t(momentum), t(l2), nesterov != 0
    sumsq = 0.0
    for i in range(n_out):
        for j in range(n_in):
            w = W[i, j]
            sumsq += w * w
            g = dW[i, j] + decay * w
            v = mu * vW[i, j] - rate * g
            vW[i, j] = v
            if nest:
                W[i, j] = w + (mu * v - rate * g)
            else:
                W[i, j] = w + v
        v = mu * vb[i] - rate * db[i]
        vb[i] = v
        if nest:
            b[i] += mu * v - rate * db[i]
        else:
            b[i] += v
    return sumsq


@jit
def adam_update(W, b, dW, db, mW, mb, vW, vb, lr, beta_1, beta_2, epsilon, step, l2):
    """Adam in place, scikit-learn's form.

    ``g = dW + l2 * W``, ``m <- beta_1 m + (1 - beta_1) g``,
    ``v <- beta_2 v + (1 - beta_2) g**2``, ``W <- W - lr_t * m / (sqrt(v) + epsilon)``
    with the bias-corrected rate ``lr_t = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)``
    of step ``t = step``, formed in float64.
    """
    t = W.dtype.type
    rate = t(lr * math.sqrt(1.0 - beta_2**step) / (1.0 - beta_1**step))
    return _adam_pass(W, b, dW, db, mW, mb, vW, vb, vW, vb, rate, t(1.0), t(1.0), beta_1, beta_2, epsilon, l2, False)


@jit
def _adam_pass(W, b, dW, db, mW, mb, vW, vb, sW, sb, rate, inv_root, shrink, beta_1, beta_2, epsilon, l2, ams):
    """The Adam family's pass over one layer, in place; returns ``sum(W**2)`` before it.

    ``g = dW + l2 * W``, ``m <- beta_1 m + (1 - beta_1) g``, ``v <- beta_2 v + (1 - beta_2) g**2``,
    with ``ams`` ``s <- max(s, v)`` (else ``s = v``, ``sW``/``sb`` untouched), then
    ``W <- W * shrink - rate * m / (sqrt(s) * inv_root + epsilon)``; biases the same without ``shrink``.
    Adam is ``inv_root = shrink = 1`` (exact: its results are unchanged by them).
    """
    n_out, n_in = W.shape
    t = W.dtype.type
    b1, b2, eps, decay = t(beta_1), t(beta_2), t(epsilon), t(l2)
    c1 = t(1.0) - b1
    c2 = t(1.0) - b2
    sumsq = 0.0
    for i in range(n_out):
        for j in range(n_in):
            w = W[i, j]
            sumsq += w * w
            g = dW[i, j] + decay * w
            m = b1 * mW[i, j] + c1 * g
            v = b2 * vW[i, j] + c2 * (g * g)
            mW[i, j] = m
            vW[i, j] = v
            if ams:
                v = max(sW[i, j], v)
                sW[i, j] = v
            W[i, j] = w * shrink - rate * m / (np.sqrt(v) * inv_root + eps)
        g = db[i]
        m = b1 * mb[i] + c1 * g
        v = b2 * vb[i] + c2 * (g * g)
        mb[i] = m
        vb[i] = v
        if ams:
            v = max(sb[i], v)
            sb[i] = v
        b[i] -= rate * m / (np.sqrt(v) * inv_root + eps)
    return sumsq


@jit
def rmsprop_update(W, b, dW, db, vW, vb, lr, rho, epsilon, step, l2):
    """RMSprop in place, PyTorch's form (``step`` unused).

    ``g = dW + l2 * W``, ``v <- rho v + (1 - rho) g**2``, ``W <- W - lr * g / (sqrt(v) + epsilon)``.
    """
    n_out, n_in = W.shape
    t = W.dtype.type
    rate, r, c, eps, decay = t(lr), t(rho), t(1.0) - t(rho), t(epsilon), t(l2)
    sumsq = 0.0
    for i in range(n_out):
        for j in range(n_in):
            w = W[i, j]
            sumsq += w * w
            g = dW[i, j] + decay * w
            v = r * vW[i, j] + c * (g * g)
            vW[i, j] = v
            W[i, j] = w - rate * g / (np.sqrt(v) + eps)
        g = db[i]
        v = r * vb[i] + c * (g * g)
        vb[i] = v
        b[i] -= rate * g / (np.sqrt(v) + eps)
    return sumsq


@jit
def adamw_update(W, b, dW, db, mW, mb, vW, vb, sW, sb, lr, beta_1, beta_2, epsilon, weight_decay, amsgrad, step, l2):
    """AdamW in place, PyTorch's form (``torch.optim.AdamW``), decay on weights only.

    ``W <- W * (1 - lr * weight_decay)``; ``g = dW + l2 * W`` (of W before the
    decay), ``m``, ``v`` as Adam's; with ``amsgrad`` (nonzero) ``s <- max(s, v)``,
    else ``s = v`` (``sW``, ``sb`` not touched);
    ``W <- W - lr / (1 - beta_1**t) * m / (sqrt(s) / sqrt(1 - beta_2**t) + epsilon)``
    of step ``t = step``, its factors formed in float64.
    """
    t = W.dtype.type
    rate = t(lr / (1.0 - beta_1**step))
    inv_root = t(1.0 / math.sqrt(1.0 - beta_2**step))
    shrink = t(1.0 - lr * weight_decay)
    return _adam_pass(W, b, dW, db, mW, mb, vW, vb, sW, sb, rate, inv_root, shrink, beta_1, beta_2, epsilon, l2,
                      amsgrad != 0)


@jit
def _update_layers(optimizer, hyper, step, B, weight, Ws, bs, gWs, gbs, S):
    """Step every layer with the optimizer of code ``optimizer`` on the mean
    gradient of ``B`` rows whose weights sum to ``weight`` (``B`` unweighted);
    returns the step's L2 penalty summed over those rows,
    ``0.5 * (alpha * B / weight + l2 * B) * sum(W**2)`` of the weights before it.

    ``hyper``: the optimizer's array (``fastbp._codes``' slots); ``step``: the
    step's number (1 for the first). ``S``: per state copy, its per-layer
    views ``(Ws, bs)`` (``_views._state_views``: a copy an optimizer does not
    keep is the last one it does, never read). L2 adds ``(l2 + alpha / weight) * W``
    to each weight gradient: ``alpha`` is scikit-learn's, divided by the
    batch's weight sum as its ``_backprop`` does (none for a batch of weight 0).
    An unknown code is an error.
    """
    lr = hyper[HYPER_LR]
    # scikit-learn's alpha over the batch's weight sum; a batch of weight 0 takes none.
    alpha = hyper[HYPER_ALPHA] if weight == B else (hyper[HYPER_ALPHA] * B / weight if weight > 0 else 0.0)
    l2 = hyper[HYPER_L2] + (hyper[HYPER_ALPHA] / weight if weight > 0 else 0.0)
    s0Ws, s0bs = S[0]
    s1Ws, s1bs = S[min(1, len(S) - 1)]
    s2Ws, s2bs = S[min(2, len(S) - 1)]
    sumsq = 0.0
    for l in range(len(Ws)):
        if optimizer == SGD:
            sumsq += momentum_update(
                Ws[l], bs[l], gWs[l], gbs[l], s0Ws[l], s0bs[l], lr, hyper[SGD_MOMENTUM], hyper[SGD_NESTEROV], step, l2
            )
        elif optimizer == ADAM:
            sumsq += adam_update(
                Ws[l], bs[l], gWs[l], gbs[l], s0Ws[l], s0bs[l], s1Ws[l], s1bs[l],
                lr, hyper[ADAM_BETA_1], hyper[ADAM_BETA_2], hyper[ADAM_EPSILON], step, l2,
            )
        elif optimizer == RMSPROP:
            sumsq += rmsprop_update(
                Ws[l], bs[l], gWs[l], gbs[l], s0Ws[l], s0bs[l], lr, hyper[RMSPROP_RHO], hyper[RMSPROP_EPSILON], step, l2
            )
        elif optimizer == ADAMW:
            sumsq += adamw_update(
                Ws[l], bs[l], gWs[l], gbs[l], s0Ws[l], s0bs[l], s1Ws[l], s1bs[l], s2Ws[l], s2bs[l],
                lr, hyper[ADAMW_BETA_1], hyper[ADAMW_BETA_2], hyper[ADAMW_EPSILON], hyper[ADAMW_WEIGHT_DECAY],
                hyper[ADAMW_AMSGRAD], step, l2,
            )
        else:
            raise ValueError("unknown optimizer code")
    return 0.5 * (alpha + hyper[HYPER_L2] * B) * sumsq


@jit
def is_plain(optimizer, hyper):
    """True when the update is ``W -= lr * dW`` (SGD without momentum or L2):
    then ``train_epoch`` fuses each step into the backward pass and no state
    is read. The one place that rule is written (with its twin)."""
    return optimizer == SGD and hyper[SGD_MOMENTUM] == 0 and hyper[HYPER_L2] == 0 and hyper[HYPER_ALPHA] == 0
