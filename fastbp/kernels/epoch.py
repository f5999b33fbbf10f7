"""One whole training epoch in compiled code: no Python and no allocation per batch."""
import numpy as np

from .._jit import jit
from .backward import hidden_delta, output_delta
from .forward import forward_layer
from .loss import loss_value
from .update import sgd_fused_update


@jit
def _block(buf, off, rows, cols):
    """A ``(rows, cols)`` C-ordered view of ``buf[off:]``."""
    return buf[off : off + rows * cols].reshape((rows, cols))


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
    # Offsets of each layer's parameters, and of each layer's activation block
    # per row of the batch (deltas sit in a second set of blocks after them).
    p_off = np.zeros(L + 1, np.int64)
    row_off = np.zeros(L + 1, np.int64)
    for l in range(L):
        p_off[l + 1] = p_off[l] + sizes[l + 1] * sizes[l] + sizes[l + 1]
        row_off[l + 1] = row_off[l] + sizes[l + 1]
    total = 0.0
    for start in range(0, n, batch_size):
        B = min(batch_size, n - start)
        Xb = _block(work, 0, B, sizes[0])
        Yb = _block(work, B * sizes[0], B, sizes[L])
        a_base = B * (sizes[0] + sizes[L])
        d_base = a_base + B * row_off[L]
        for i in range(B):
            r = perm[start + i]
            Xb[i, :] = X[r, :]
            Yb[i, :] = Y[r, :]

        A_prev = Xb
        for l in range(L):
            n_in, n_out = sizes[l], sizes[l + 1]
            W = _block(params, p_off[l], n_out, n_in)
            b = params[p_off[l] + n_out * n_in : p_off[l + 1]]
            A = _block(work, a_base + B * row_off[l], B, n_out)
            forward_layer(A_prev, W, b, acts[l], A)
            A_prev = A
        total += loss_value(A_prev, Yb, loss) * B

        D = _block(work, d_base + B * row_off[L - 1], B, sizes[L])
        output_delta(A_prev, Yb, acts[L - 1], loss, D)
        # Last layer first. A layer's W serves the delta below it before the
        # same W is updated; no delta is formed for the input layer.
        for l in range(L - 1, -1, -1):
            n_in, n_out = sizes[l], sizes[l + 1]
            W = _block(params, p_off[l], n_out, n_in)
            b = params[p_off[l] + n_out * n_in : p_off[l + 1]]
            if l > 0:
                A_in = _block(work, a_base + B * row_off[l - 1], B, n_in)
                D_in = _block(work, d_base + B * row_off[l - 1], B, n_in)
                hidden_delta(D, W, A_in, acts[l - 1], D_in)
            else:
                A_in = Xb
                D_in = D
            sgd_fused_update(D, A_in, W, b, lr)
            D = D_in
    return total / n
