"""One training step in two pieces, for data-parallel training: the summed
gradient of a share of the batch, then the update from the summed gradients
of every share (``fastbp._distributed`` allreduces between the two).

The same flat layout as the parameters (``fastbp._layout``) holds the
gradients, so one buffer is one allreduce.
"""
import math

from .._codes import ADAM, HYPER_ALPHA, HYPER_BETA_2, HYPER_EPSILON, HYPER_L2, HYPER_LR, HYPER_MOMENTUM, NESTEROV, PLAIN_SGD
from .._jit import jit
from ._blas import gemm
from .epoch import _batch_views, _delta_below, _forward_batch, _layer_views, _row_sums
from .update import adam_update, momentum_update, sgd_update


@jit
def batch_gradient(X, Y, rows, params, sizes, acts, loss, grad, work):
    """``grad <-`` the gradient of the loss SUMMED (not averaged) over the rows
    ``X[rows]``, in the flat parameter layout; returns the summed loss.

    No rows (an exhausted shard) gives a zero gradient and loss 0. ``work``
    holds ``_layout.workspace_size(sizes, len(rows))`` scalars or more.
    """
    L = sizes.shape[0] - 1
    gWs, gbs = _layer_views(grad, sizes)
    B = rows.shape[0]
    if B == 0:
        grad[:] = 0
        return 0.0
    Ws, bs = _layer_views(params, sizes)
    views = _batch_views(work, sizes, B)
    Xb, Yt, At, Dt = views
    total = _forward_batch(X, Y, rows, 0, Ws, bs, acts, loss, views)
    for l in range(L, 0, -1):
        if l > 1:
            _delta_below(Ws, acts, At, Dt, l)
            gemm(False, True, 1.0, Dt[l], At[l - 1], 0.0, gWs[l - 1])
        else:
            gemm(False, False, 1.0, Dt[1], Xb, 0.0, gWs[0])
        _row_sums(Dt[l], 1.0, gbs[l - 1], False)
    return total


@jit
def apply_update(params, grad, count, sizes, optimizer, hyper, step, state):
    """One optimizer step from ``grad``, the gradient summed over ``count`` rows
    (divided by ``count`` here, in place, except for plain SGD). Returns ``sum(W**2)`` before the step.

    ``optimizer``: ``PLAIN_SGD`` (``state`` unused, no L2, returns 0), ``MOMENTUM``, ``NESTEROV``
    or ``ADAM``; ``hyper``, ``state``: as ``train_epoch_optim``; ``step``: Adam's
    step count before this step.
    """
    t = params.dtype.type
    Ws, bs = _layer_views(params, sizes)
    gWs, gbs = _layer_views(grad, sizes)
    if optimizer == PLAIN_SGD:
        # W -= (lr / count) * sum: the mean folded into the rate, no pass to
        # divide (0.3 ms of a 1.86M-parameter step). No L2 here (that takes
        # MOMENTUM with momentum 0), so no penalty to report.
        for l in range(len(Ws)):
            sgd_update(Ws[l], bs[l], gWs[l], gbs[l], t(hyper[HYPER_LR] / count))
        return 0.0
    grad *= t(1.0 / count)
    P = params.shape[0]
    lr, mu, beta_2, eps = t(hyper[HYPER_LR]), t(hyper[HYPER_MOMENTUM]), t(hyper[HYPER_BETA_2]), t(hyper[HYPER_EPSILON])
    l2 = t(hyper[HYPER_L2] + hyper[HYPER_ALPHA] / count)
    sumsq = 0.0
    mWs, mbs = _layer_views(state[:P], sizes)
    vWs, vbs = _layer_views(state[P:] if optimizer == ADAM else state[:P], sizes)
    if optimizer == ADAM:
        step += 1
        lr = t(hyper[HYPER_LR] * math.sqrt(1.0 - hyper[HYPER_BETA_2] ** step) / (1.0 - hyper[HYPER_MOMENTUM] ** step))
    for l in range(len(Ws)):
        if optimizer == ADAM:
            sumsq += adam_update(Ws[l], bs[l], gWs[l], gbs[l], mWs[l], mbs[l], vWs[l], vbs[l], lr, mu, beta_2, eps, l2)
        else:
            sumsq += momentum_update(Ws[l], bs[l], gWs[l], gbs[l], mWs[l], mbs[l], lr, mu, optimizer == NESTEROV, l2)
    return sumsq
