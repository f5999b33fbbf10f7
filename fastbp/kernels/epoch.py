"""One whole training epoch in compiled code: no Python and no allocation per batch.

Layout. The gathered input rows stay as rows, ``Xb: (B, n_in)``, but every
activation and delta after it is kept as columns, ``(n, B)``: the seed's own
orientation, ``Z = W A + b``. Then the forward GEMM is ``W @ A`` (NN), the
hidden delta ``W.T @ D`` (TN) and the fused update ``W -= s D @ A.T`` (NT).
Measured on this 2-core machine, GEMMs only, per batch: M (784-256-128, B 64)
413 us against 459 us with rows everywhere; L (784-1024-1024, B 128) 6.87 ms
against 7.53 ms; S (64-32-10, B 16) level. Gathering the input as columns
instead would cost 78 us against 32 us per M batch, so the input stays rows.
"""
import math

from .._codes import ADAM, HYPER_ALPHA, HYPER_BETA_2, HYPER_EPSILON, HYPER_L2, HYPER_LR, HYPER_MOMENTUM, NESTEROV
from .._jit import jit
from ._activation import _add_bias_and_activate_t, _multiply_derivative
from ._blas import gemm
from .backward import output_delta
from .loss import _loss_sum
from .update import adam_update, momentum_update


@jit
def _block(buf, off, rows, cols):
    """A ``(rows, cols)`` C-ordered view of ``buf[off:]``."""
    return buf[off : off + rows * cols].reshape((rows, cols))


@jit
def _batch_views(work, sizes, B):
    """Views of ``work`` for a batch of ``B`` rows: the gathered input rows
    ``Xb (B, n0)``, the targets as columns ``Yt (nL, B)``, and per layer
    ``l = 1..L`` the activations ``At[l]`` and deltas ``Dt[l]``, ``(n_l, B)``
    (index 0 of both lists is a placeholder: the input has no delta)."""
    L = sizes.shape[0] - 1
    Xb = _block(work, 0, B, sizes[0])
    off = B * sizes[0]
    Yt = _block(work, off, sizes[L], B)
    off += B * sizes[L]
    At = [Yt]
    for l in range(1, L + 1):
        At.append(_block(work, off, sizes[l], B))
        off += B * sizes[l]
    Dt = [Yt]
    for l in range(1, L + 1):
        Dt.append(_block(work, off, sizes[l], B))
        off += B * sizes[l]
    return Xb, Yt, At, Dt


@jit
def _row_sums(D, scale, out, accumulate):
    """``out (+)= scale * D.sum(axis=1)``: the bias step (``accumulate``, with a
    negative scale) or the bias gradient, deltas as columns."""
    for o in range(D.shape[0]):
        s = D.dtype.type(0.0)
        row = D[o]
        for i in range(row.shape[0]):
            s += row[i]
        if accumulate:
            out[o] += scale * s
        else:
            out[o] = scale * s


@jit
def _layer_views(flat, sizes):
    """Per-layer views ``(Ws, bs)`` of a flat ``[W1, b1, W2, b2, ...]`` buffer
    (parameters, gradients, or optimizer state: all share the layout)."""
    L = sizes.shape[0] - 1
    Ws = [_block(flat, 0, sizes[1], sizes[0])]
    bs = [flat[sizes[1] * sizes[0] : sizes[1] * sizes[0] + sizes[1]]]
    p = sizes[1] * sizes[0] + sizes[1]
    for l in range(1, L):
        Ws.append(_block(flat, p, sizes[l + 1], sizes[l]))
        p += sizes[l + 1] * sizes[l]
        bs.append(flat[p : p + sizes[l + 1]])
        p += sizes[l + 1]
    return Ws, bs


@jit
def _gather(X, Y, perm, start, Xb, Yt):
    """Rows ``perm[start:start+B]`` of X into ``Xb`` (rows) and of Y into ``Yt`` (columns)."""
    for i in range(Xb.shape[0]):
        r = perm[start + i]
        for k in range(Xb.shape[1]):
            Xb[i, k] = X[r, k]
        for k in range(Yt.shape[0]):
            Yt[k, i] = Y[r, k]


@jit
def _forward(Ws, bs, acts, Xb, At):
    """At[1] = act(W1 @ Xb.T + b1), At[l] = act(Wl @ At[l-1] + bl)."""
    gemm(False, True, 1.0, Ws[0], Xb, 0.0, At[1])
    _add_bias_and_activate_t(At[1], bs[0], acts[0])
    for l in range(2, len(Ws) + 1):
        gemm(False, False, 1.0, Ws[l - 1], At[l - 1], 0.0, At[l])
        _add_bias_and_activate_t(At[l], bs[l - 1], acts[l - 1])


@jit
def _forward_batch(X, Y, perm, start, Ws, bs, acts, loss, views):
    """Gather a batch into ``views``, run the forward pass and form the output
    delta; returns the batch's summed loss (taken before any step)."""
    Xb, Yt, At, Dt = views
    L = len(Ws)
    _gather(X, Y, perm, start, Xb, Yt)
    _forward(Ws, bs, acts, Xb, At)
    total = _loss_sum(At[L], Yt, loss)
    output_delta(At[L], Yt, acts[L - 1], loss, Dt[L])
    return total


@jit
def _delta_below(Ws, acts, At, Dt, l):
    """Dt[l-1] = (Wl.T @ Dt[l]) * act'(At[l-1]): the fused hidden delta, in columns."""
    gemm(True, False, 1.0, Ws[l - 1], Dt[l], 0.0, Dt[l - 1])
    _multiply_derivative(Dt[l - 1], At[l - 1], acts[l - 2])


@jit
def train_epoch(X, Y, perm, batch_size, params, sizes, acts, loss, lr, work):
    """Plain minibatch SGD over the rows of ``X`` in the order ``perm``.

    Returns the epoch's mean loss, each batch's loss taken before its step.

    Parameters
    ----------
    X : (N, n_in) C-contiguous array; Y : (N, n_out) array of the same dtype.
    perm : (N,) int64 array, the order in which rows are visited. Rows are
        gathered batch by batch into ``work``: X itself is never copied.
    batch_size : int; the last partial batch is trained on, not dropped.
    params : flat parameter buffer ``[W1, b1, W2, b2, ...]`` (``fastbp._layout``), updated in place.
    sizes : (L+1,) int64 layer widths; acts : (L,) int64 activation codes.
    loss : int loss code; lr : scalar of the parameters' dtype.
    work : flat scratch buffer of ``_layout.workspace_size(sizes, batch_size)`` scalars.
    """
    n = perm.shape[0]
    L = sizes.shape[0] - 1
    Ws, bs = _layer_views(params, sizes)
    # Views are made once per epoch for full batches and once for the last,
    # partial one (each view made per batch cost ~27 ns, 0.4 us of a ~5 us
    # S batch).
    full = _batch_views(work, sizes, batch_size)
    last = _batch_views(work, sizes, n % batch_size if n % batch_size else batch_size)

    total = 0.0
    for start in range(0, n, batch_size):
        B = min(batch_size, n - start)
        views = full if B == batch_size else last
        Xb, Yt, At, Dt = views
        total += _forward_batch(X, Y, perm, start, Ws, bs, acts, loss, views)

        # Backward, last layer first. A layer's W serves the delta below it
        # before the same W is updated; no delta is formed for the input.
        scale = lr / B
        for l in range(L, 0, -1):
            if l > 1:
                _delta_below(Ws, acts, At, Dt, l)
                gemm(False, True, -scale, Dt[l], At[l - 1], 1.0, Ws[l - 1])
            else:
                gemm(False, False, -scale, Dt[1], Xb, 1.0, Ws[0])
            _row_sums(Dt[l], -scale, bs[l - 1], True)
    return total / n


@jit
def train_epoch_optim(X, Y, perm, batch_size, params, sizes, acts, loss, optimizer, hyper, step, state, grad, work):
    """Minibatch training with momentum, Nesterov momentum or Adam, and L2.

    Returns ``(mean loss, mean L2 penalty)`` over the epoch, each batch's
    taken before its step; the penalty of a batch of B rows with weights W is
    ``0.5 * (alpha + l2 * B) * sum(W**2) / B``, so ``alpha`` is scikit-learn's
    (its gradient ``alpha * W / B`` shrinks as batches grow) and ``l2`` a plain
    weight decay (gradient ``l2 * W``).

    Parameters
    ----------
    X, Y, perm, batch_size, params, sizes, acts, loss, work : as ``train_epoch``.
    optimizer : int, ``MOMENTUM``, ``NESTEROV`` or ``ADAM`` (``fastbp._codes``).
    hyper : (6,) float64 array, ``[lr, momentum or beta_1, beta_2, epsilon, l2, alpha]``.
    step : int, Adam's step count before this epoch (its bias correction uses it).
    state : flat optimizer state, updated in place: velocities ``(P,)`` for
        momentum, first then second moments ``(2P,)`` for Adam, P = ``params.size``.
    grad : flat ``(P,)`` scratch buffer for one batch's gradients.
    """
    n = perm.shape[0]
    L = sizes.shape[0] - 1
    P = params.shape[0]
    t = params.dtype.type
    Ws, bs = _layer_views(params, sizes)
    gWs, gbs = _layer_views(grad, sizes)
    mWs, mbs = _layer_views(state[:P], sizes)
    vWs, vbs = _layer_views(state[P:] if optimizer == ADAM else state[:P], sizes)
    full = _batch_views(work, sizes, batch_size)
    last = _batch_views(work, sizes, n % batch_size if n % batch_size else batch_size)
    lr, mu, beta_2, eps = t(hyper[HYPER_LR]), t(hyper[HYPER_MOMENTUM]), t(hyper[HYPER_BETA_2]), t(hyper[HYPER_EPSILON])
    nesterov = optimizer == NESTEROV

    total = 0.0
    penalty = 0.0
    for start in range(0, n, batch_size):
        B = min(batch_size, n - start)
        views = full if B == batch_size else last
        Xb, Yt, At, Dt = views
        total += _forward_batch(X, Y, perm, start, Ws, bs, acts, loss, views)
        l2 = t(hyper[HYPER_L2] + hyper[HYPER_ALPHA] / B)
        if optimizer == ADAM:
            step += 1
            lr = t(hyper[HYPER_LR] * math.sqrt(1.0 - hyper[HYPER_BETA_2] ** step) / (1.0 - hyper[HYPER_MOMENTUM] ** step))
        sumsq = 0.0
        for l in range(L, 0, -1):
            # The delta below uses W before its step; then W's gradient.
            if l > 1:
                _delta_below(Ws, acts, At, Dt, l)
                gemm(False, True, 1.0 / B, Dt[l], At[l - 1], 0.0, gWs[l - 1])
            else:
                gemm(False, False, 1.0 / B, Dt[1], Xb, 0.0, gWs[0])
            _row_sums(Dt[l], 1.0 / B, gbs[l - 1], False)
            if optimizer == ADAM:
                sumsq += adam_update(
                    Ws[l - 1], bs[l - 1], gWs[l - 1], gbs[l - 1], mWs[l - 1], mbs[l - 1], vWs[l - 1], vbs[l - 1],
                    lr, mu, beta_2, eps, l2,
                )
            else:
                sumsq += momentum_update(
                    Ws[l - 1], bs[l - 1], gWs[l - 1], gbs[l - 1], mWs[l - 1], mbs[l - 1], lr, mu, nesterov, l2
                )
        penalty += 0.5 * (hyper[HYPER_ALPHA] + hyper[HYPER_L2] * B) * sumsq
    return total / n, penalty / n
