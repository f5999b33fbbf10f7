"""One whole training epoch in compiled code: no Python and no allocation per batch.

Layout. The gathered input rows stay as rows, ``Xb: (B, n_in)``, but every
activation and delta after it is kept as columns, ``(n, B)``: the seed's own
orientation, ``Z = W A + b``. Then the forward GEMM is ``W @ A`` (NN), the
hidden delta ``W.T @ D`` (TN) and the fused update ``W -= s D @ A.T`` (NT);
measured against rows everywhere, this ran the GEMMs of the M and L
configurations faster and S level (docs/design.md). For the BLAS, gathering
the input as columns cost more than it saved, so it is gathered as columns
(``Xc``) only when the first layer runs in the register tiles, which need it.
"""
import numpy as np

from .._jit import jit, jit_inline
from ._input import batch_input, gather, input_width
from ._tiles import is_small
from ._views import _epoch_views, _layer_views, _state_views
from .backward import _backward
from .loss import _loss_sum, output_delta
from .forward import _forward
from .update import _update_layers


@jit_inline
def _forward_batch(X, Y, perm, start, Ws, bs, acts, loss, views, weights, normalize):
    """Gather a batch into ``views``, run the forward pass and form the output
    delta; returns ``(the batch's summed loss, its weight)``, the loss taken
    before any step: B and the plain sum, or with per-row ``weights`` their
    sum over the batch and the weighted sum (see ``_weigh_delta``).

    Dense input is gathered, as columns too when the first layer's product
    is small enough for the register tiles (which read their right operand's
    rows in place); its weight gradient reads the rows. Sparse input (CSR,
    ``kernels._input``) is read in place by both."""
    Xb, Xc, Yt, At, Zt, Dt = views
    L = len(Ws)
    B = Yt.shape[1]
    columns = Xb.shape[1] > 0 and is_small(Ws[0].shape[0], B, Xb.shape[1])
    gather(X, Y, perm, start, Xb, Xc, columns, Yt)
    _forward(Ws, bs, acts, batch_input(X, Xc if columns else Xb), not columns, perm, start, Zt, At)
    output_delta(At[L], Yt, acts[L - 1], loss, Dt[L])
    if weights.shape[0] == 0:
        return _loss_sum(At[L], Yt, loss, np.int64(0), B), float(B)
    return _weigh_delta(At[L], Yt, Dt[L], loss, weights, perm, start, normalize)


@jit_inline
def _epoch_batch(X, Y, perm, start, batch_size, full, last, Ws, bs, acts, loss, weights):
    """The batch of an epoch that starts at ``perm[start]``: ``_forward_batch``
    in the views of the full batches or of the last, partial one; returns
    ``(B, views, the batch's summed loss, its weight)``."""
    B = min(batch_size, perm.shape[0] - start)
    views = full if B == batch_size else last
    batch_loss, batch_weight = _forward_batch(X, Y, perm, start, Ws, bs, acts, loss, views, weights, True)
    return B, views, batch_loss, batch_weight


@jit
def _weigh_delta(A, Yt, D, loss, weights, perm, start, normalize):
    """Per-row weights: column b of the output delta times ``w_b * B / W``
    (W the batch's weight sum), so the step's mean over B becomes the
    weighted mean ``sum_b w_b g_b / W``; returns ``(sum_b w_b loss_b, W)``.
    A batch of weight 0 takes no step from its gradient. Without
    ``normalize``, times ``w_b`` alone: the weighted sum, which data-parallel
    training adds over ranks before dividing by the ranks' total weight."""
    n_out, B = D.shape
    W = 0.0
    for b in range(B):
        W += weights[perm[start + b]]
    total = 0.0
    for b in range(B):
        w = np.float64(weights[perm[start + b]])
        total += w * _loss_sum(A, Yt, loss, b, b + 1)
        c = w if not normalize else (w * B / W if W > 0 else 0.0)
        for j in range(n_out):
            D[j, b] *= c
    return total, W


@jit
def train_epoch(X, Y, perm, batch_size, params, sizes, acts, loss, lr, work, weights):
    """One epoch of plain minibatch SGD, ``W -= lr * dW``; returns the mean
    loss (weighted by ``weights``), each batch's taken before its step.

    Each step is fused into the backward pass: ``weight_gradient`` writes
    ``-lr/B * D A.T`` straight into W (beta 1), so there is no gradient array
    and no optimizer state. It is its own loop, not ``train_epoch_optim``'s,
    so that a plain fit compiles no optimizer's update.

    Parameters
    ----------
    X : (N, n_in) C-contiguous array; Y : (N, n_out) array of the same dtype.
    perm : (N,) int64 array, the order in which rows are visited. Rows are
        gathered batch by batch into ``work``: X itself is never copied.
    batch_size : int; the last partial batch is trained on, not dropped.
    params : flat parameter buffer ``[W1, b1, W2, b2, ...]`` (``fastbp._layout``), updated in place.
    sizes : (L+1,) int64 layer widths; acts : (L,) int64 activation codes; loss : int loss code.
    lr : scalar of the parameters' dtype.
    work : flat scratch buffer of ``_layout.workspace_size(sizes, batch_size, acts)`` scalars.
    weights : (N,) per-row weights of the parameters' dtype, or an empty array
        for none: each step then takes the weighted mean of its rows' gradients.
    """
    n = perm.shape[0]
    Ws, bs = _layer_views(params, sizes)
    full, last = _epoch_views(work, sizes, acts, batch_size, n, input_width(X, sizes[0]))
    total = weight = 0.0
    for start in range(0, n, batch_size):
        B, (Xb, _, _, At, Zt, Dt), batch_loss, batch_weight = _epoch_batch(
            X, Y, perm, start, batch_size, full, last, Ws, bs, acts, loss, weights)
        total += batch_loss
        weight += batch_weight
        _backward(Ws, acts, batch_input(X, Xb), perm, start, At, Zt, Dt, -lr / B, 1.0, Ws, bs)
    return total / weight if weight > 0 else 0.0


@jit
def train_epoch_optim(X, Y, perm, batch_size, params, sizes, acts, loss, optimizer, hyper, step, state, grad, work,
                      weights):
    """Minibatch training with any optimizer of ``fastbp.optimizers``, and L2.

    Returns ``(mean loss, mean L2 penalty, mean batch loss)`` over the
    epoch, each batch's taken before its step: the loss weighted by
    ``weights`` over the whole epoch; the penalty of a batch of B rows of
    weight sum S and weights W is ``0.5 * (alpha / S + l2) * sum(W**2)``
    (``_update_layers``), per row; and each batch's (weighted) mean loss
    times its B, over the rows: scikit-learn's ``loss_`` with
    ``sample_weight``. Without weights the first and last agree. Plain SGD
    runs here too, unfused (``is_plain`` says when ``train_epoch`` is the
    faster choice).

    Parameters
    ----------
    X, Y, perm, batch_size, params, sizes, acts, loss, work, weights : as ``train_epoch``.
    optimizer : int, an optimizer's ``code``; hyper : its float64 ``hyper`` array
        (``fastbp.optimizers``: ``lr, l2, alpha`` and its own parameters).
    step : int, steps taken before this epoch (Adam's bias correction counts them).
    state : flat optimizer state, ``state_copies * params.size``, updated in place.
    grad : flat ``(params.size,)`` scratch buffer for one batch's gradients.
    """
    n = perm.shape[0]
    Ws, bs = _layer_views(params, sizes)
    gWs, gbs = _layer_views(grad, sizes)
    S = _state_views(state, params.shape[0], sizes)
    full, last = _epoch_views(work, sizes, acts, batch_size, n, input_width(X, sizes[0]))
    total = weight = penalty = batch_means = 0.0
    for start in range(0, n, batch_size):
        B, (Xb, _, _, At, Zt, Dt), batch_loss, batch_weight = _epoch_batch(
            X, Y, perm, start, batch_size, full, last, Ws, bs, acts, loss, weights)
        total += batch_loss
        weight += batch_weight
        if batch_weight > 0:
            batch_means += B * batch_loss / batch_weight
        _backward(Ws, acts, batch_input(X, Xb), perm, start, At, Zt, Dt, 1.0 / B, 0.0, gWs, gbs)
        step += 1
        penalty += _update_layers(optimizer, hyper, step, B, batch_weight, Ws, bs, gWs, gbs, S)
    return (total / weight if weight > 0 else 0.0), penalty / n, batch_means / n
