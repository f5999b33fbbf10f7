"""The reference's twins: plain NumPy functions, one per compiled kernel of
:mod:`fastbp.kernels`, with the same name and signature (the math written to
be read, not to be fast); published as :mod:`fastbp.reference`, whose
``Network`` runs on them. Apart from that front end so that the tiers and
the training loop can use them without importing ``fastbp.network``.

Conventions (docs/math.md): the seed's column form, as the compiled epoch
keeps it: one sample is a column, so activations, pre-activations and deltas
of a batch are ``(n_l, B)`` blocks, ``Z = W A + b``, ``D[l] = dL/dZ[l]``, and
weights are ``W[l]: (n_out, n_in)``. Only the input batch (and a network's
output, at the public interface) is rows, ``(B, n)``, as users hand it over.

This module imports no compiled code: NumPy, and the records of
``fastbp.activations``, ``fastbp.losses`` and ``fastbp.optimizers`` (whose
NumPy functions, and optimizers' update twins, it computes with).
"""
from __future__ import annotations

import numpy as np

from . import _layout, activations, losses
from .optimizers import HYPER_ALPHA, HYPER_L2, HYPER_LR, SGD, SPECS, is_plain

__all__ = [
    "activate",
    "activation_derivative",
    "gemm",
    "small_gemm",
    "forward_layer",
    "forward",
    "output_delta",
    "hidden_delta",
    "weight_gradient",
    "sparse_forward_layer",
    "sparse_weight_gradient",
    "sgd_update",
    "is_plain",
    *(spec.update for spec in SPECS.values()),
    "loss_value",
    "train_epoch",
    "train_epoch_optim",
    "train_epoch_packed",
    "batch_gradient",
    "apply_update",
]

# Each optimizer's update twin, from its record (``fastbp.optimizers``), by its kernel's name.
globals().update({spec.update: spec.twin for spec in SPECS.values()})


def activate(Z: np.ndarray, act: int) -> np.ndarray:
    """``a = sigma(z)`` elementwise (softmax: over each column, the classes of one sample)."""
    return activations.by_code(act).function(Z)


def activation_derivative(A: np.ndarray, Z: np.ndarray, act: int) -> np.ndarray:
    """``sigma'(z)``, from the stored activation ``a = sigma(z)`` where it can be
    (scikit-learn's way), from ``z`` for the activations that keep it."""
    derivative = activations.by_code(act).derivative
    if derivative is None:
        raise ValueError(f"activation code {act} has no elementwise derivative")
    return derivative(A, Z)


def gemm(trans_a, trans_b, alpha, A, B, beta, C):
    """``C <- alpha * op(A) @ op(B) + beta * C``, ``op(X) = X.T`` when flagged;
    with ``beta == 0`` C is not read (BLAS's rule: it may hold NaN)."""
    product = alpha * ((A.T if trans_a else A) @ (B.T if trans_b else B))
    C[...] = product if beta == 0 else product + beta * C


def small_gemm(trans_a, alpha, A, B, beta, C):
    """``C <- alpha * op(A) @ B + beta * C``: ``gemm`` with B never transposed
    (the kernel's register tiles read B's rows in place)."""
    gemm(trans_a, False, alpha, A, B, beta, C)


# Layers below are written in the seed's column form: one sample is a column,
# a batch ``(n, B)``; only the input batch arrives as rows ``(B, n_in)``.


def forward_layer(W, b, A_prev, rows, act, Z, out):
    """``Z <- W @ a + b`` for every column ``a`` of ``A_prev`` (of ``A_prev.T``
    with ``rows``), ``out <- act(Z)``."""
    Z[...] = W @ (A_prev.T if rows else A_prev) + b[:, None]
    out[...] = activate(Z, act)


def _matrix(X, n_cols: int):
    """The input as an operand: a dense array as it is, the kernels' CSR tuple
    ``(data, indices, indptr)`` as a SciPy CSR array (its products sum
    duplicate indices and do not need them sorted, as the kernels)."""
    if not isinstance(X, tuple):
        return X
    import scipy.sparse as sp

    data, indices, indptr = X
    return sp.csr_array((data, indices, indptr), shape=(indptr.shape[0] - 1, n_cols))


def sparse_forward_layer(WT, b, X, perm, start, act, Z, out):
    """``forward_layer`` on the rows ``perm[start:start+B]`` of the CSR matrix
    ``X = (data, indices, indptr)``, the weights given input-major ``WT = W.T``."""
    rows = perm[start : start + Z.shape[1]]
    forward_layer(WT.T, b, _matrix(X, WT.shape[0])[rows], True, act, Z, out)


def sparse_weight_gradient(D, X, perm, start, scale, beta, dWT, db):
    """``weight_gradient`` on the rows ``perm[start:start+B]`` of the CSR matrix
    ``X = (data, indices, indptr)``, into the input-major ``dWT`` (``dW.T``)."""
    rows = perm[start : start + D.shape[1]]
    weight_gradient(D, _matrix(X, dWT.shape[0])[rows], True, scale, beta, dWT.T, db)


def forward(X, params, sizes, acts, work, out):
    """The network's output for the input rows ``X`` (dense, or a CSR tuple),
    as rows ``(B, nL)``. ``work`` is accepted for the kernel's signature;
    NumPy allocates its own."""
    # Sparse input: the first block is stored input-major (``kernels.sparse``).
    weights, biases = _layout.param_views(params, [int(s) for s in sizes], isinstance(X, tuple))
    A = _matrix(X, int(sizes[0])).T
    with np.errstate(over="ignore", invalid="ignore"):
        for W, b, act in zip(weights, biases, acts):
            A = activate(W @ A + b[:, None], act)
    out[...] = A.T


def output_delta(A, Y, act, loss, out):
    """``out <- dL/dZ`` at the output, per sample (elementwise: either layout):
    ``A - Y`` where the loss cancels the activation's derivative
    (cross-entropy with softmax, binary cross-entropy with sigmoid), else
    the loss's ``dL/dA`` times ``act'(z)`` (mse: ``(a - y) act'(z)``)."""
    spec = losses.by_code(loss)
    if spec.cancels:
        out[...] = A - Y
    else:
        out[...] = spec.gradient(A, Y, loss) * activation_derivative(A, A, act)


def hidden_delta(W_next, D_next, A, Z, act, out):
    """``out <- (W_next.T @ D_next) * act'(Z)``: the seed's
    ``delta^(k) = (W^(k+1)^T delta^(k+1)) * sigma'(z^(k))``."""
    out[...] = (W_next.T @ D_next) * activation_derivative(A, Z, act)


def weight_gradient(D, A_prev, rows, scale, beta, dW, db):
    """``dW <- scale * D @ A_prev.T + beta * dW`` (the outer products
    ``delta a^T`` summed over the batch; ``A_prev`` as rows with ``rows``) and
    ``db <- scale * D.sum(axis=1) + beta * db``; with ``beta == 0`` neither is read."""
    gW = scale * (D @ (A_prev if rows else A_prev.T))
    gb = scale * D.sum(axis=1)
    dW[...] = gW if beta == 0 else gW + beta * dW
    db[...] = gb if beta == 0 else gb + beta * db


def sgd_update(W, b, dW, db, lr):
    """Gradient descent in place: ``W -= lr * dW``, ``b -= lr * db``."""
    W -= lr * dW
    b -= lr * db


def _update_layers(optimizer, hyper, step, B, weight, weights, biases, g_w, g_b, state):
    """Step every layer with the optimizer of code ``optimizer`` on the mean
    gradient of ``B`` rows of weight sum ``weight`` (the twin of the kernels'
    dispatch); ``state``: per copy, its ``(weights, biases)`` views. Returns
    the step's L2 penalty summed over the rows,
    ``0.5 (alpha B / weight + l2 B) sum(W**2)`` before the step."""
    spec = SPECS.get(int(optimizer))
    if spec is None:
        raise ValueError(f"unknown optimizer code {optimizer}; known: {sorted(SPECS)}")
    params = [hyper[slot] for _, slot, _ in spec.params]
    # scikit-learn's alpha over the batch's weight sum; a batch of weight 0 takes none.
    alpha = hyper[HYPER_ALPHA] if weight == B else (hyper[HYPER_ALPHA] * B / weight if weight > 0 else 0.0)
    l2 = hyper[HYPER_L2] + (hyper[HYPER_ALPHA] / weight if weight > 0 else 0.0)
    # Copies an object does not keep (AdamW's maximum without AMSGrad) are
    # the last one it keeps, never read: the kernels' rule (``_state_views``).
    state = list(state) + [state[-1]] * (spec.state_copies - len(state))
    sumsq = 0.0
    for l in range(len(weights)):
        pairs = [a for copy in state for a in (copy[0][l], copy[1][l])]
        sumsq += spec.twin(weights[l], biases[l], g_w[l], g_b[l], *pairs, hyper[HYPER_LR], *params, step, l2)
    return 0.5 * (alpha + hyper[HYPER_L2] * B) * sumsq


def loss_value(A, Y, loss):
    """Mean over the batch of the per-sample loss (probabilities clipped below
    at the dtype's smallest normal number before ``log``)."""
    return float(_sample_losses(A, Y, loss).mean())


def _sample_losses(A, Y, loss):
    """Each sample's loss, float64, ``(B,)``: rows of ``A`` and ``Y``."""
    tiny = np.finfo(A.dtype).tiny
    return losses.by_code(loss).per_sample(A.astype(np.float64), Y.astype(np.float64), loss, tiny)


def train_epoch(X, Y, perm, batch_size, params, sizes, acts, loss, lr, work, weights):
    """One epoch of plain minibatch SGD; returns the mean loss (weighted by
    ``weights`` unless it is empty), each batch's taken before its step."""
    hyper = SGD().hyper(float(lr))
    empty = params[:0]
    return train_epoch_optim(X, Y, perm, batch_size, params, sizes, acts, loss, SGD.code, hyper, 0, empty, empty, work,
                             weights)[0]


def train_epoch_optim(X, Y, perm, batch_size, params, sizes, acts, loss, optimizer, hyper, step, state, grad, work,
                      weights):
    """One epoch with any optimizer and L2; returns ``(mean loss, mean L2
    penalty, mean batch loss)`` (see the kernel's docstring). ``grad`` and
    ``work`` are accepted for the signature.

    With per-row ``weights``, each step's gradient is the weighted mean of its
    rows' gradients (the output delta of row b scaled by ``w_b * B / W``, W the
    batch's weight sum) and the loss the weighted mean over the epoch."""
    grad = np.empty_like(params)
    total = weight = penalty = batch_means = 0.0
    for start in range(0, len(perm), batch_size):
        rows = perm[start : start + batch_size]
        B = len(rows)
        if len(weights):
            w = weights[rows].astype(np.float64)
            W = w.sum()
            scale = w * B / W if W > 0 else np.zeros(B)
            batch_loss = _batch_gradient(X, Y, rows, params, sizes, acts, loss, grad, w, scale)
        else:
            W = float(B)
            batch_loss = _batch_gradient(X, Y, rows, params, sizes, acts, loss, grad, None, None)
        total += batch_loss
        weight += W
        if W > 0:
            batch_means += B * batch_loss / W
        penalty += _step(params, grad, B, W, sizes, optimizer, hyper, step, state)
        step += 1
    return (total / weight if weight > 0 else 0.0), penalty / len(perm), batch_means / len(perm)


def train_epoch_packed(X, Y, perm, batch_size, first, params, sizes, acts, loss, lrs, l2s, weights, work, losses):
    """K members of one shape on the same batches, as a loop over members:
    each member's parameters (its first layer from ``first``, where
    ``W1`` of every member is stacked, then ``b1``) through
    ``train_epoch_optim`` with SGD (momentum 0) at its rate and L2, on its row
    weights, then back; ``losses[k]`` its summed loss and summed penalty.
    ``work`` is accepted for the signature."""
    K, h1, n0 = params.shape[0], int(sizes[1]), int(sizes[0])
    W1 = first[: K * h1 * n0].reshape(K * h1, n0)
    b1 = first[K * h1 * n0 : K * h1 * n0 + K * h1]
    sgd = SGD()
    for k in range(K):
        member = params[k].copy()
        member[: h1 * n0] = W1[k * h1 : (k + 1) * h1].reshape(-1)
        member[h1 * n0 : h1 * n0 + h1] = b1[k * h1 : (k + 1) * h1]
        w = weights[k if len(weights) > 1 else 0] if len(weights) else params[0, :0]
        sgd.l2 = float(l2s[k])
        state = np.zeros(member.size, member.dtype)  # the velocities: momentum 0 keeps them at -lr g, never read
        mean, penalty, _ = train_epoch_optim(X, Y, perm, batch_size, member, sizes, acts, loss, sgd.code,
                                             sgd.hyper(float(lrs[k])), 0, state, None, None, w)
        total = float(np.sum(w[perm], dtype=np.float64)) if len(w) else float(len(perm))
        losses[k] = mean * total, penalty * len(perm)
        W1[k * h1 : (k + 1) * h1] = member[: h1 * n0].reshape(h1, n0)
        b1[k * h1 : (k + 1) * h1] = member[h1 * n0 : h1 * n0 + h1]
        params[k, h1 * n0 + h1 :] = member[h1 * n0 + h1 :]


def batch_gradient(X, Y, rows, params, sizes, acts, loss, grad, work, weights):
    """``grad <-`` the loss gradient summed over ``X[rows]`` (flat layout),
    weighted by ``weights[rows]`` unless ``weights`` is empty; returns
    ``(summed loss, weight)``, the weight being the rows' weight sum or count.
    The rows' output activations are left in ``work``'s output block
    (``_layout.output_block``), as the kernel leaves them.
    No rows: zero gradient, loss 0, weight 0."""
    if len(weights) == 0:
        return _batch_gradient(X, Y, rows, params, sizes, acts, loss, grad, None, None, work), float(len(rows))
    w = weights[rows].astype(np.float64)
    return _batch_gradient(X, Y, rows, params, sizes, acts, loss, grad, w, w, work), float(w.sum())


def _batch_gradient(X, Y, rows, params, sizes, acts, loss, grad, row_weights, scale, work=None):
    """``batch_gradient``, with each row's output delta times ``scale[b]`` and
    the returned loss ``sum_b row_weights[b] * loss_b`` when they are given;
    the outputs into ``work``'s output block when it is given."""
    if len(rows) == 0:
        grad[...] = 0
        return 0.0
    sizes = [int(s) for s in sizes]
    sparse = isinstance(X, tuple)  # then the first blocks are stored input-major (``kernels.sparse``)
    weights, biases = _layout.param_views(params, sizes, sparse)
    g_w, g_b = _layout.param_views(grad, sizes, sparse)
    L, B = len(weights), len(rows)
    Xb, Yt = _matrix(X, sizes[0])[rows], Y[rows].T
    with np.errstate(over="ignore", invalid="ignore"):
        # Forward, columns: A[l] = act(Z[l]), Z[l] = W[l] A[l-1] + b[l]; A[0] is the rows Xb.
        A, Z = [Xb], [None]
        for l in range(L):
            Z.append(np.empty((sizes[l + 1], B), params.dtype))
            A.append(np.empty((sizes[l + 1], B), params.dtype))
            forward_layer(weights[l], biases[l], A[l], l == 0, acts[l], Z[l + 1], A[l + 1])
        if work is not None:
            _layout.output_block(work, sizes, B, isinstance(X, tuple))[...] = A[L]
        losses = _sample_losses(A[L].T, Yt.T, loss)
        loss_sum = float(losses.sum() if row_weights is None else losses @ row_weights)
        # Backward: the output delta, then each layer's gradient (sums, scale 1)
        # and the delta of the layer below, down to layer 1.
        D = np.empty_like(A[L])
        output_delta(A[L], Yt, acts[L - 1], loss, D)
        if scale is not None:
            D *= scale.astype(D.dtype)
        for l in range(L, 0, -1):
            below = None
            if l > 1:
                below = np.empty_like(A[l - 1])
                hidden_delta(weights[l - 1], D, A[l - 1], Z[l - 1], acts[l - 2], below)
            weight_gradient(D, A[l - 1], l == 1, 1.0, 0.0, g_w[l - 1], g_b[l - 1])
            D = below
    return loss_sum


def apply_update(params, grad, count, sizes, optimizer, hyper, step, state):
    """One optimizer step from ``grad`` summed over ``count`` rows (divided in
    place, except for plain SGD); returns its L2 penalty summed over the rows (0 for plain SGD)."""
    return _step(params, grad, count, count, sizes, optimizer, hyper, step, state)


def _step(params, grad, count, weight, sizes, optimizer, hyper, step, state):
    """``apply_update`` for ``count`` rows of weight sum ``weight`` (scikit-learn's L2 divisor)."""
    t = params.dtype.type
    sizes = [int(s) for s in sizes]
    weights, biases = _layout.param_views(params, sizes)
    g_w, g_b = _layout.param_views(grad, sizes)
    with np.errstate(over="ignore", invalid="ignore"):
        if is_plain(optimizer, hyper):  # the mean folded into the rate
            for W, b, dW, db in zip(weights, biases, g_w, g_b):
                sgd_update(W, b, dW, db, t(hyper[HYPER_LR] / count))
            return 0.0
        grad *= t(1.0 / count)
        P = params.size
        copies = [_layout.param_views(state[k * P : (k + 1) * P], sizes) for k in range(state.size // P)]
        return _update_layers(optimizer, hyper, step + 1, count, weight, weights, biases, g_w, g_b, copies)
