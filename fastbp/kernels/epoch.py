"""One whole training epoch in compiled code: no Python and no allocation per batch."""
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
    n0, nL = sizes[0], sizes[L]
    # Every view is made once per epoch, at the full batch size; a batch of
    # B rows uses their first B rows. (Making views per batch cost ~27 ns
    # each, 0.4 us of the ~5 us a 64-32-10 batch of 16 takes.)
    Yfull = _block(work, batch_size * n0, batch_size, nL)
    A = [_block(work, 0, batch_size, n0)]  # A[0]: the gathered rows of X
    off = batch_size * (n0 + nL)
    for l in range(1, L + 1):
        A.append(_block(work, off, batch_size, sizes[l]))
        off += batch_size * sizes[l]
    D = [A[0]]  # D[0] is never formed: no delta for the input layer
    for l in range(1, L + 1):
        D.append(_block(work, off, batch_size, sizes[l]))
        off += batch_size * sizes[l]
    Ws = [_block(params, 0, sizes[1], n0)]
    bs = [params[sizes[1] * n0 : sizes[1] * n0 + sizes[1]]]
    p = sizes[1] * n0 + sizes[1]
    for l in range(1, L):
        Ws.append(_block(params, p, sizes[l + 1], sizes[l]))
        p += sizes[l + 1] * sizes[l]
        bs.append(params[p : p + sizes[l + 1]])
        p += sizes[l + 1]

    total = 0.0
    for start in range(0, n, batch_size):
        B = min(batch_size, n - start)
        Xb = A[0][:B]
        Yb = Yfull[:B]
        for i in range(B):
            r = perm[start + i]
            for k in range(n0):
                Xb[i, k] = X[r, k]
            for k in range(nL):
                Yb[i, k] = Y[r, k]
        for l in range(L):
            forward_layer(A[l][:B], Ws[l], bs[l], acts[l], A[l + 1][:B])
        total += loss_value(A[L][:B], Yb, loss) * B
        output_delta(A[L][:B], Yb, acts[L - 1], loss, D[L][:B])
        # Last layer first. A layer's W serves the delta below it before the
        # same W is updated; no delta is formed for the input layer.
        for l in range(L, 0, -1):
            if l > 1:
                hidden_delta(D[l][:B], Ws[l - 1], A[l - 1][:B], acts[l - 2], D[l - 1][:B])
            sgd_fused_update(D[l][:B], A[l - 1][:B], Ws[l - 1], bs[l - 1], lr)
    return total / n
