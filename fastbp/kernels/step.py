"""One training step in two pieces, for data-parallel training: the summed
gradient of a share of the batch, then the update from the summed gradients
of every share (``fastbp.training.distributed`` allreduces between the two).

The same flat layout as the parameters (``fastbp._layout``) holds the
gradients, so one buffer is one allreduce.
"""
from .._jit import jit
from .._codes import HYPER_LR
from ._input import batch_input, input_width
from ._views import _batch_views, _layer_views, _state_views
from .backward import _backward
from .epoch import _forward_batch
from .update import _update_layers, is_plain, sgd_update


@jit
def batch_gradient(X, Y, rows, params, sizes, acts, loss, grad, work, weights):
    """``grad <-`` the gradient of the loss SUMMED (not averaged) over the rows
    ``X[rows]``, in the flat parameter layout; returns ``(summed loss, weight)``.

    With per-row ``weights`` (indexed like X's rows; empty: none) the sums are
    weighted, ``sum_b w_b g_b`` and ``sum_b w_b loss_b``, and the weight is
    ``sum_b w_b``; without, the weight is the row count. No rows (an exhausted
    shard) gives a zero gradient, loss 0 and weight 0. ``work`` holds
    ``_layout.workspace_size(sizes, len(rows), acts)`` scalars or more; the
    rows' output activations are left in its output block
    (``_layout.output_block``: the L-BFGS objective reads them there).
    """
    B = rows.shape[0]
    if B == 0:
        grad[:] = 0
        return 0.0, 0.0
    Ws, bs = _layer_views(params, sizes)
    gWs, gbs = _layer_views(grad, sizes)
    views = _batch_views(work, sizes, acts, B, input_width(X, sizes[0]))
    Xb, _, _, At, Zt, Dt = views
    total, weight = _forward_batch(X, Y, rows, 0, Ws, bs, acts, loss, views, weights, False)
    _backward(Ws, acts, batch_input(X, Xb), rows, 0, At, Zt, Dt, 1.0, 0.0, gWs, gbs)
    return total, weight


@jit
def apply_update(params, grad, count, sizes, optimizer, hyper, step, state):
    """One optimizer step from ``grad``, the gradient summed over ``count`` rows;
    returns the step's L2 penalty summed over those rows (``_update_layers``;
    0 for plain SGD, which has no L2).

    ``optimizer``, ``hyper``, ``state``: as ``train_epoch_optim``; ``step``:
    steps taken before this one. Plain SGD folds the mean into the rate
    (``W -= (lr / count) * grad``, no pass to divide) and reads no state;
    every other optimizer divides ``grad`` by ``count`` in place first.
    """
    t = params.dtype.type
    Ws, bs = _layer_views(params, sizes)
    gWs, gbs = _layer_views(grad, sizes)
    if is_plain(optimizer, hyper):
        for l in range(len(Ws)):
            sgd_update(Ws[l], bs[l], gWs[l], gbs[l], t(hyper[HYPER_LR] / count))
        return 0.0
    grad *= t(1.0 / count)
    return _update_layers(optimizer, hyper, step + 1, count, count, Ws, bs, gWs, gbs,
                          _state_views(state, params.shape[0], sizes))
