"""Many networks of one shape in one pass: ``fastbp.Ensemble``'s packed epoch.

K members share every batch. Their first layers are stacked, ``W1: (K h1,
n0)``, so the first layer's forward product and its weight step are one
product each against the batch gathered once; the layers above run per
member, in the columns layout of ``epoch.py``. Each member's learning rate
scales its block of the first layer's delta before the shared step (a rate
of 0 leaves a member as it is: a member set aside). Plain SGD, with L2 and
row weights per member (bootstrap counts, cross-validation masks), on dense
input: ``fastbp.Ensemble`` runs everything else member by member.
"""
import numpy as np

from .._jit import jit, jit_inline
from ._activation import _keeps_z
from ._tiles import is_small
from ._views import _gather
from .backward import hidden_delta, weight_gradient
from .epoch import _weigh_delta
from .forward import forward_layer
from .loss import _loss_sum, output_delta


@jit_inline
def _member_layer(row, sizes, l):
    """Layer ``l`` (2 and up) of a member's flat parameter row: ``(W, b)``."""
    p = 0
    for i in range(1, l):
        p += sizes[i] * sizes[i - 1] + sizes[i]
    n_out, n_in = sizes[l], sizes[l - 1]
    return row[p : p + n_out * n_in].reshape((n_out, n_in)), row[p + n_out * n_in : p + n_out * n_in + n_out]


@jit_inline
def _member_blocks(work, base, sizes, l, acts, B, Bf):
    """Member blocks ``(Z, A, D)`` of layer ``l`` (2 and up) from offset
    ``base`` of ``work`` (laid out for full batches of ``Bf``); A is Z for an
    activation that does not keep Z."""
    q = base
    for i in range(2, l):
        q += 3 * sizes[i] * Bf
    n = sizes[l]
    Z = work[q : q + n * B].reshape((n, B))
    A = Z if not _keeps_z(acts[l - 1]) else work[q + n * Bf : q + n * Bf + n * B].reshape((n, B))
    D = work[q + 2 * n * Bf : q + 2 * n * Bf + n * B].reshape((n, B))
    return Z, A, D


@jit_inline
def _decay(W, factor):
    """``W *= factor``; returns ``sum(W**2)`` of W as it was (the L2 penalty's)."""
    sumsq = 0.0
    for i in range(W.shape[0]):
        row = W[i]
        for j in range(row.shape[0]):
            w = row[j]
            sumsq += w * w
            row[j] = w * factor
    return sumsq


@jit
def train_epoch_packed(X, Y, perm, batch_size, first, params, sizes, acts, loss, lrs, l2s, weights, work, losses):
    """One epoch of minibatch SGD with L2 for K members of one shape, every
    member on the same batches, each with its own rate, L2 and row weights;
    ``losses[k]`` gets member k's summed (weighted) loss and summed L2 penalty
    (each batch's taken before its step).

    Each member's step is ``train_epoch_optim``'s with SGD (momentum 0):
    ``W <- W - lr (dW + l2 W)`` on weights, ``b <- b - lr db``, ``dW`` the
    batch's mean gradient, or with row weights its weighted mean
    (``epoch._weigh_delta``: a batch of weight 0 takes no step from its
    gradient); the L2 part is applied as ``W *= 1 - lr l2`` before the fused
    step, the penalty ``0.5 l2 B sum(W**2)`` of W before it.

    Parameters
    ----------
    X : (N, n0) C-contiguous array; Y : (N, n_out) array of the same dtype.
    perm : (N,) int64 array, the order of the rows; the last partial batch is trained on.
    first : flat array, every member's first layer: ``W1`` stacked ``(K h1, n0)``, then ``b1`` ``(K h1,)``.
    params : (K, P) array, each member's flat parameters (``fastbp._layout``);
        its first layer's part is not read (``first`` holds it).
    sizes : (L+1,) int64 widths, L >= 2; acts : (L,) int64 codes; loss : the loss array.
    lrs : (K,) float64 learning rates (0: the member is left as it is).
    l2s : (K,) float64 L2 strengths.
    weights : (R, N) array of the parameters' dtype: per-row weights, one row
        per member (R = K), one row for all (R = 1), or none (R = 0).
    work : flat scratch of ``fastbp._layout.packed_workspace_size(sizes, batch_size, K)`` scalars.
    losses : (K, 2) float64, written: per member the summed loss (with
        weights ``sum_b w_b loss_b``) and the summed penalty (over the epoch's batches).
    """
    K = params.shape[0]
    L = sizes.shape[0] - 1
    n0, h1, n_out = sizes[0], sizes[1], sizes[L]
    n = perm.shape[0]
    Bf = batch_size
    W1 = first[: K * h1 * n0].reshape((K * h1, n0))
    b1 = first[K * h1 * n0 : K * h1 * n0 + K * h1]
    o_xc = Bf * n0
    o_yt = 2 * Bf * n0
    o_z1 = o_yt + n_out * Bf
    o_a1 = o_z1 + K * h1 * Bf
    o_d1 = o_a1 + K * h1 * Bf
    o_members = o_d1 + K * h1 * Bf
    per_member = 0
    for l in range(2, L + 1):
        per_member += 3 * sizes[l] * Bf
    keep1 = _keeps_z(acts[0])
    for k in range(K):
        losses[k, 0] = 0.0
        losses[k, 1] = 0.0
    for start in range(0, n, Bf):
        B = min(Bf, n - start)
        Xb = work[: B * n0].reshape((B, n0))
        Xc = work[o_xc : o_xc + n0 * B].reshape((n0, B))
        Yt = work[o_yt : o_yt + n_out * B].reshape((n_out, B))
        Z1 = work[o_z1 : o_z1 + K * h1 * B].reshape((K * h1, B))
        A1 = Z1 if not keep1 else work[o_a1 : o_a1 + K * h1 * B].reshape((K * h1, B))
        D1 = work[o_d1 : o_d1 + K * h1 * B].reshape((K * h1, B))
        columns = is_small(K * h1, B, n0)
        _gather(X, Y, perm, start, Xb, Xc, columns, Yt)
        forward_layer(W1, b1, Xc if columns else Xb, not columns, acts[0], Z1, A1)
        for k in range(K):
            row = params[k]
            base = o_members + k * per_member
            for l in range(2, L + 1):
                W, b = _member_layer(row, sizes, l)
                Z, A, _ = _member_blocks(work, base, sizes, l, acts, B, Bf)
                A_prev = A1[k * h1 : (k + 1) * h1] if l == 2 else _member_blocks(work, base, sizes, l - 1, acts, B,
                                                                                  Bf)[1]
                forward_layer(W, b, A_prev, False, acts[l - 1], Z, A)
            _, A_out, D_out = _member_blocks(work, base, sizes, L, acts, B, Bf)
            output_delta(A_out, Yt, acts[L - 1], loss, D_out)
            if weights.shape[0] == 0:
                losses[k, 0] += _loss_sum(A_out, Yt, loss, np.int64(0), B)
            else:
                losses[k, 0] += _weigh_delta(A_out, Yt, D_out, loss, weights[k if weights.shape[0] > 1 else 0], perm,
                                             start, True)[0]
            lr = lrs[k]
            decay = l2s[k] != 0.0
            factor = params.dtype.type(1.0 - lr * l2s[k])
            sumsq = 0.0
            for l in range(L, 1, -1):
                W, b = _member_layer(row, sizes, l)
                D = _member_blocks(work, base, sizes, l, acts, B, Bf)[2]
                if l == 2:
                    Z_prev, A_prev, D_prev = (Z1[k * h1 : (k + 1) * h1], A1[k * h1 : (k + 1) * h1],
                                              D1[k * h1 : (k + 1) * h1])
                else:
                    Z_prev, A_prev, D_prev = _member_blocks(work, base, sizes, l - 1, acts, B, Bf)
                hidden_delta(W, D, A_prev, Z_prev, acts[l - 2], D_prev)
                if decay:
                    sumsq += _decay(W, factor)
                weight_gradient(D, A_prev, l == 0, -lr / B, 1.0, W, b)
            if decay:  # the member's block of the stacked first layer, before the shared step
                sumsq += _decay(W1[k * h1 : (k + 1) * h1], factor)
                losses[k, 1] += 0.5 * l2s[k] * B * sumsq
            block = D1[k * h1 : (k + 1) * h1]
            scale = block.dtype.type(lr)
            for i in range(h1):
                for j in range(B):
                    block[i, j] *= scale
        weight_gradient(D1, Xb, True, -1.0 / B, 1.0, W1, b1)  # every member's first-layer step, one product
