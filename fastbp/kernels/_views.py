"""Views of the flat buffers the compiled code works in: parameters,
gradients and optimizer state (``[W1, b1, W2, b2, ...]``, ``fastbp._layout``)
and the per-batch workspace (``_layout.workspace_size``). Nothing is
allocated per batch: every block is a view made once per epoch."""
import numpy as np

from .._jit import jit, jit_inline
from ._activation import _keeps_z


@jit
def _block(buf, off, rows, cols):
    """A ``(rows, cols)`` C-ordered view of ``buf[off:]``."""
    return buf[off : off + rows * cols].reshape((rows, cols))


@jit
def _activation_views(work, off, sizes, acts, B):
    """Per layer ``l = 1..L`` the activations ``At[l]`` and pre-activations
    ``Zt[l]`` (``At[l]`` itself unless the layer keeps Z), ``(n_l, B)``, from
    ``work[off:]``; index 0 of both is a placeholder. Returns ``(At, Zt, end)``."""
    L = sizes.shape[0] - 1
    At = [_block(work, off, np.int64(0), B)]
    for l in range(1, L + 1):
        At.append(_block(work, off, sizes[l], B))
        off += B * sizes[l]
    Zt = [At[0]]
    for l in range(1, L + 1):
        if _keeps_z(acts[l - 1]):
            Zt.append(_block(work, off, sizes[l], B))
            off += B * sizes[l]
        else:
            Zt.append(At[l])
    return At, Zt, off


@jit
def _batch_views(work, sizes, acts, B, n_in):
    """Views of ``work`` for a batch of ``B`` rows: the gathered input as rows
    ``Xb (B, n_in)`` and as columns ``Xc (n_in, B)`` (``n_in`` 0 for sparse
    input, read in place: ``_input.input_width``), the targets as columns
    ``Yt (nL, B)``, per layer the deltas ``Dt[l]`` and ``_activation_views``
    (layout: ``_layout.workspace_size``)."""
    L = sizes.shape[0] - 1
    Xb = _block(work, np.int64(0), B, n_in)
    Xc = _block(work, B * n_in, n_in, B)
    off = 2 * B * n_in
    Yt = _block(work, off, sizes[L], B)
    off += B * sizes[L]
    Dt = [Yt]
    for l in range(1, L + 1):
        Dt.append(_block(work, off, sizes[l], B))
        off += B * sizes[l]
    At, Zt, _ = _activation_views(work, off, sizes, acts, B)
    return Xb, Xc, Yt, At, Zt, Dt


@jit
def _epoch_views(work, sizes, acts, batch_size, n, n_in):
    """``_batch_views`` for the full batches and for the last, partial one of
    an epoch of ``n`` rows: made once per epoch, not per batch (they cost a
    visible share of an S batch)."""
    full = _batch_views(work, sizes, acts, batch_size, n_in)
    return full, _batch_views(work, sizes, acts, n % batch_size if n % batch_size else batch_size, n_in)


@jit
def _layer_views(flat, sizes):
    """Per-layer views ``(Ws, bs)`` of a flat ``[W1, b1, W2, b2, ...]`` buffer
    (parameters, gradients, or optimizer state: all share the layout)."""
    L = sizes.shape[0] - 1
    Ws = [_block(flat, np.int64(0), sizes[1], sizes[0])]
    bs = [flat[sizes[1] * sizes[0] : sizes[1] * sizes[0] + sizes[1]]]
    p = sizes[1] * sizes[0] + sizes[1]
    for l in range(1, L):
        Ws.append(_block(flat, p, sizes[l + 1], sizes[l]))
        p += sizes[l + 1] * sizes[l]
        bs.append(flat[p : p + sizes[l + 1]])
        p += sizes[l + 1]
    return Ws, bs


@jit
def _state_views(state, P, sizes):
    """Per copy of an optimizer's flat state (``state_copies * P`` long), its
    per-layer views ``(Ws, bs)``: as many copies as the state holds."""
    copies = [_layer_views(state[:P], sizes)]
    for k in range(1, state.shape[0] // P):
        copies.append(_layer_views(state[k * P : (k + 1) * P], sizes))
    return copies


@jit
def _gather(X, Y, perm, start, Xb, Xc, columns, Yt):
    """Rows ``perm[start:start+B]`` of dense X into ``Xb`` (rows) and, when
    ``columns``, into ``Xc`` (columns: the input the register tiles read);
    of Y into ``Yt`` (columns)."""
    B, n = Xb.shape
    for i in range(B):
        r = perm[start + i]
        for k in range(n):
            Xb[i, k] = X[r, k]
    _gather_targets(Y, perm, start, Yt)
    if columns:
        _rows_into_columns(Xb, perm, start, True, Xc)


@jit_inline
def _gather_targets(Y, perm, start, Yt):
    """Rows ``perm[start:start+B]`` of Y into ``Yt`` (columns)."""
    _rows_into_columns(Y, perm, start, False, Yt)


@jit_inline
def _rows_into_columns(src, perm, start, gathered, dst):
    """``dst[:, b] <-`` row b of ``src`` (``gathered``), else its row
    ``perm[start + b]``: four rows at a time, so that each column gets four
    neighbouring stores instead of one store per cache line (wide targets,
    thousands of classes, were several times slower one row at a time)."""
    B, m = dst.shape[1], dst.shape[0]
    i = 0
    while i + 4 <= B:
        if gathered:
            r0, r1, r2, r3 = src[i], src[i + 1], src[i + 2], src[i + 3]
        else:
            r0, r1, r2, r3 = src[perm[start + i]], src[perm[start + i + 1]], src[perm[start + i + 2]], \
                src[perm[start + i + 3]]
        for k in range(m):
            c = dst[k]
            c[i] = r0[k]
            c[i + 1] = r1[k]
            c[i + 2] = r2[k]
            c[i + 3] = r3[k]
        i += 4
    for b in range(i, B):
        row = src[b] if gathered else src[perm[start + b]]
        for k in range(m):
            dst[k, b] = row[k]
