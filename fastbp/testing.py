"""Test and benchmark infrastructure: the table pairing each compiled kernel
with its NumPy reference twin. Nothing at run time reads it.

Tests and asv benchmarks iterate over :data:`KERNELS` (as bottleneck pairs
each C function with ``bottleneck.slow`` and numbagg drives tests and
benchmarks from one table). Each entry knows how to build valid arguments for
a shape, dtype and variant, and which arguments the kernel writes, so one
loop can check ``kernel == reference`` for every kernel. The optimizers'
entries are derived from the records (``fastbp.activations``,
``fastbp.losses``, ``fastbp.optimizers``): a new activation, loss or optimizer
is checked kernel against twin with no edit here.
"""
from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import _layout, reference
from .activations import ACTIVATIONS, HIDDEN
from .losses import LOSSES
from .losses import resolve as _loss
from .optimizers import NAMES, SPECS, AdamW

__all__ = ["TOLERANCES", "SHAPES", "OUTPUT_LOSS_PAIRS", "KernelCase", "KERNELS", "run_pair", "assert_pair_close"]

#: Tolerances per dtype: the one table every comparison uses. ``rtol``/``atol``
#: bound one kernel call against its twin (float32 rounds at ~6e-8 per
#: operation and BLAS sums in another order than NumPy; float64 at ~1e-16);
#: ``trained_*`` bound whole networks after several epochs side by side, where
#: those differences compound through every step.
TOLERANCES = {
    np.dtype(np.float32): {"rtol": 2e-4, "atol": 2e-5, "trained_rtol": 2e-3, "trained_atol": 2e-4},
    np.dtype(np.float64): {"rtol": 1e-9, "atol": 1e-11, "trained_rtol": 1e-8, "trained_atol": 1e-10},
}

#: (B, n_in, n_out) shapes every kernel is checked on: batch 1 and width 1
#: included, and one whose products leave the register tiles for the GEMM
#: provider (``kernels._tiles.SMALL_WORK`` multiply-adds and more).
SHAPES = [(1, 1, 1), (1, 5, 3), (7, 1, 4), (16, 8, 1), (33, 17, 9), (64, 64, 64), (96, 96, 96)]

#: (output, loss) pairs each loss is defined with (``fastbp.losses``).
OUTPUT_LOSS_PAIRS = [(out, name) for name, spec in LOSSES.items() for out in spec.outputs]

#: The optimizers the table runs: every name users pass, and AdamW with AMSGrad.
OPTIMIZERS = {**NAMES, "adamw_amsgrad": lambda: AdamW(amsgrad=True)}


def _activations_like(rng, shape, dtype, act_name):
    """``(A, Z)``: valid stored activations for ``act_name`` of pre-activations
    ``Z`` (columns ``(n, B)``; softmax over each column), drawn through the reference."""
    Z = rng.normal(0, 1.5, size=shape).astype(dtype)
    return reference.activate(Z, ACTIVATIONS[act_name].code).astype(dtype), Z


def _targets(rng, shape, dtype, loss):
    """Targets as columns ``(n, B)``: one-hot columns for cross-entropy."""
    n, B = shape
    if loss == "cross_entropy":
        Y = np.zeros(shape, dtype)
        Y[rng.integers(0, n, size=B), np.arange(B)] = 1
        return Y
    if loss == "binary_cross_entropy":
        return rng.integers(0, 2, size=shape).astype(dtype)
    return rng.normal(size=shape).astype(dtype)


def _args_gemm(rng, shape, dtype, variant, scale=1.0):
    """variant: "NN", "NT", "TN" or "TT" (op of A, op of B); ``C (B, n_out)``,
    ``K = n_in``; beta 0.5, or beta 0 onto a C of NaN (which must not be read)."""
    B, n_in, n_out = shape
    ta, tb, beta = variant[0] == "T", variant[1] == "T", 0.0 if variant.endswith("0") else 0.5
    A = (scale * rng.normal(size=(n_in, B) if ta else (B, n_in))).astype(dtype)
    Bm = rng.normal(size=(n_out, n_in) if tb else (n_in, n_out)).astype(dtype)
    C = np.full((B, n_out), np.nan, dtype) if beta == 0 else rng.normal(size=(B, n_out)).astype(dtype)
    return (ta, tb, 1.5, A, Bm, beta, C)


def _args_small_gemm(rng, shape, dtype, variant, scale=1.0):
    """variant: "N" or "T" (op of A), "0" appended for beta 0 onto NaN."""
    ta, _, alpha, A, Bm, beta, C = _args_gemm(rng, shape, dtype, variant[0] + "N" + variant[1:], scale)
    return (ta, alpha, A, Bm, beta, C)


def _args_forward_layer(rng, shape, dtype, variant, scale=1.0):
    """variant: ``(activation, rows)``; Z and out start as NaN (written, not read)."""
    B, n_in, n_out = shape
    act, rows = variant
    return (
        rng.normal(0, 0.7, size=(n_out, n_in)).astype(dtype),
        rng.normal(size=n_out).astype(dtype),
        (scale * rng.normal(size=(B, n_in) if rows else (n_in, B))).astype(dtype),
        rows,
        ACTIVATIONS[act].code,
        np.full((n_out, B), np.nan, dtype),
        np.full((n_out, B), np.nan, dtype),
    )


def _sparse_rows(rng, dense: np.ndarray) -> tuple:
    """The kernels' CSR tuple ``(data, indices, indptr)`` (int32 indices) of
    ``dense`` with about two thirds of its entries zeroed, each row's indices
    in shuffled order and one stored entry split in two under the same index:
    unsorted and duplicate indices, which the kernels handle as SciPy does."""
    keep = rng.random(dense.shape) < 0.35
    data, indices, indptr = [], [], [0]
    for r in range(dense.shape[0]):
        cols = rng.permutation(np.flatnonzero(keep[r]))
        vals = list(dense[r, cols])
        cols = list(cols)
        if cols:  # a duplicate: the first value split in two
            vals[0] /= 2
            cols.append(cols[0])
            vals.append(vals[0])
        data += vals
        indices += cols
        indptr.append(len(indices))
    return (np.array(data, dtype=dense.dtype), np.array(indices, dtype=np.int32), np.array(indptr, dtype=np.int32))


def _args_sparse_forward_layer(rng, shape, dtype, variant, scale=1.0):
    """``forward_layer``'s case on the rows (shuffled, one repeated) of a CSR
    matrix of ``B + 3`` rows; the weights input-major, as the kernel reads them."""
    W, b, X, _, act, Z, out = _args_forward_layer(rng, (shape[0] + 3, *shape[1:]), dtype, (variant, True), scale)
    perm = np.concatenate([[0, 1], rng.permutation(X.shape[0])]).astype(np.int64)
    perm[3] = perm[2]  # a row twice (in the batch when B > 1)
    return (np.ascontiguousarray(W.T), b, _sparse_rows(rng, X), perm, 2, act, Z[:, : shape[0]].copy(),
            out[:, : shape[0]].copy())


def _args_sparse_weight_gradient(rng, shape, dtype, variant, scale=1.0):
    """``weight_gradient``'s case (variant: beta) on rows of a CSR matrix of
    ``B + 3`` rows, into an input-major gradient."""
    D, X, _, scale_, beta, dW, db = _args_weight_gradient(rng, (shape[0] + 3, *shape[1:]), dtype, (True, variant),
                                                          scale)
    perm = np.concatenate([[0], rng.permutation(X.shape[0])]).astype(np.int64)
    return (D[:, : shape[0]].copy(), _sparse_rows(rng, X), perm, 1, scale_, beta, np.ascontiguousarray(dW.T), db)


def _network(rng, shape, dtype, variant, scale=1.0):
    """A 3-layer net ``n_in -> n_out -> 3`` and ``2B+1`` rows of data for it:
    ``(X, Y, params, sizes, acts, loss code)``; variant ``(hidden, (output, loss))``."""
    B, n_in, n_hidden = shape
    hidden, (output, loss) = variant
    sizes = np.array([n_in, n_hidden, 3], dtype=np.int64)
    N = 2 * B + 1
    X = (scale * rng.normal(size=(N, n_in))).astype(dtype)
    Y = np.ascontiguousarray(_targets(rng, (3, N), dtype, loss).T)
    params = rng.normal(0, 0.5, size=_layout.n_params(sizes)).astype(dtype)
    acts = np.array([ACTIVATIONS[hidden].code, ACTIVATIONS[output].code], dtype=np.int64)
    return X, Y, params, sizes, acts, _loss(loss).pack()


def _args_forward(rng, shape, dtype, variant, scale=1.0):
    """variant ``(hidden, (output, loss))``, with ``"sparse"`` after them for CSR input."""
    X, _, params, sizes, acts, _ = _network(rng, shape, dtype, variant[:2], scale)
    N = X.shape[0]
    if "sparse" in variant[2:]:
        X = _sparse_rows(rng, X)
    work = np.full(_layout.forward_size(sizes, N, acts), np.nan, dtype)
    return (X, params, sizes, acts, work, np.full((N, 3), np.nan, dtype))


def _args_output_delta(rng, shape, dtype, variant, scale=1.0):
    B, _, n_out = shape
    output, loss = variant
    return (
        _activations_like(rng, (n_out, B), dtype, output)[0],
        _targets(rng, (n_out, B), dtype, loss),
        ACTIVATIONS[output].code,
        _loss(loss).pack(),
        np.zeros((n_out, B), dtype),
    )


def _args_hidden_delta(rng, shape, dtype, variant, scale=1.0):
    B, n_in, n_out = shape  # D_next has the layer above's width n_out
    A, Z = _activations_like(rng, (n_in, B), dtype, variant)
    return (
        rng.normal(size=(n_out, n_in)).astype(dtype),
        (scale * rng.normal(size=(n_out, B))).astype(dtype),
        A,
        Z,
        ACTIVATIONS[variant].code,
        np.full((n_in, B), np.nan, dtype),
    )


def _args_weight_gradient(rng, shape, dtype, variant, scale=1.0):
    """variant: ``(rows, beta)``; beta 0 onto NaN (not read), or beta 1 onto
    weights (the fused SGD step, with a negative scale)."""
    B, n_in, n_out = shape
    rows, beta = variant
    start = (lambda s: np.full(s, np.nan, dtype)) if beta == 0 else (lambda s: rng.normal(size=s).astype(dtype))
    return (
        (scale * rng.normal(size=(n_out, B))).astype(dtype),
        rng.normal(size=(B, n_in) if rows else (n_in, B)).astype(dtype),
        rows,
        1.0 / B if beta == 0 else -0.1 / B,
        beta,
        start((n_out, n_in)),
        start(n_out),
    )


def _layer_with_gradients(rng, shape, dtype, scale):
    """``(W, b, dW, db)`` of one layer, gradients scaled by ``scale``."""
    _, n_in, n_out = shape
    return (
        rng.normal(size=(n_out, n_in)).astype(dtype),
        rng.normal(size=n_out).astype(dtype),
        (scale * rng.normal(size=(n_out, n_in))).astype(dtype),
        (scale * rng.normal(size=n_out)).astype(dtype),
    )


def _args_sgd_update(rng, shape, dtype, variant, scale=1.0):
    return (*_layer_with_gradients(rng, shape, dtype, scale), dtype.type(0.05))


def _warm_state(rng, size, copies, dtype, scale=1.0):
    """Optimizer state as mid-training: ``copies`` flat buffers, each of values
    in ``[0, 0.01 * scale**2)`` (valid for velocities and for moments alike)."""
    return (0.01 * scale**2 * rng.random(size=copies * size)).astype(dtype)


def _update_case(spec):
    """The kernel-table entry of ``spec``'s update kernel, from its common form
    ``(W, b, dW, db, <(sW, sb) per copy>, lr, <params>, step, l2)``; variants:
    the names of ``OPTIMIZERS`` that make this optimizer, with their parameters."""
    names = tuple(n for n, make in OPTIMIZERS.items() if type(make()) is spec)

    def make_args(rng, shape, dtype, variant, scale=1.0):
        _, n_in, n_out = shape
        opt = OPTIMIZERS[variant]()
        state = []
        for _ in range(spec.state_copies):
            flat = _warm_state(rng, n_out * n_in + n_out, 1, dtype, scale)
            state += [flat[: n_out * n_in].reshape(n_out, n_in), flat[n_out * n_in :]]
        params = [float(getattr(opt, name)) for name, _, _ in spec.params]
        return (*_layer_with_gradients(rng, shape, dtype, scale), *state, 0.05, *params, 3, 1e-3)

    outputs = (0, 1, *range(4, 4 + 2 * spec.state_copies))
    assert list(inspect.signature(getattr(reference, spec.update)).parameters)[-2:] == ["step", "l2"]
    return KernelCase(spec.update, make_args, outputs, names)


def _args_is_plain(rng, shape, dtype, variant, scale=1.0):
    """variant: a name of ``OPTIMIZERS``, or "sgd+l2" / "sgd+alpha" (SGD, not plain)."""
    opt = OPTIMIZERS[variant.split("+")[0]]()
    if variant.endswith("l2"):
        opt.l2 = 1e-3
    return (opt.code, opt.hyper(0.1, alpha=1e-4 if variant.endswith("alpha") else 0.0))


def _args_loss_value(rng, shape, dtype, variant, scale=1.0):
    """Rows: the mean is over ``A.shape[0]``, the samples."""
    B, _, n_out = shape
    output, loss = variant
    return (
        np.ascontiguousarray(_activations_like(rng, (n_out, B), dtype, output)[0].T),
        np.ascontiguousarray(_targets(rng, (n_out, B), dtype, loss).T),
        _loss(loss).pack(),
    )


def _row_weights(rng, n, dtype, weighted):
    """Per-row weights (some 0, some above 1) when ``weighted``, else the empty array meaning none."""
    if not weighted:
        return np.zeros(0, dtype)
    w = rng.uniform(0, 3, size=n)
    w[rng.random(n) < 0.2] = 0.0
    return w.astype(dtype)


def _args_train_epoch(rng, shape, dtype, variant, scale=1.0):
    """``_network``'s data in batches of ``B`` (so the last batch is partial);
    variant ``(hidden, (output, loss))``, with ``"weighted"`` after them for
    per-row weights and ``"sparse"`` for CSR input."""
    X, Y, params, sizes, acts, loss = _network(rng, shape, dtype, variant[:2], scale)
    B = shape[0]
    sparse = "sparse" in variant[2:]
    if sparse:
        X = _sparse_rows(rng, X)
    work = np.zeros(_layout.workspace_size(sizes, B, acts, sparse), dtype)
    weights = _row_weights(rng, Y.shape[0], dtype, "weighted" in variant[2:])
    return (X, Y, rng.permutation(Y.shape[0]), B, params, sizes, acts, loss, dtype.type(0.1), work, weights)


def _optimizer_state(rng, variant, P, dtype):
    """``(code, hyper, state)`` of the optimizer named ``variant``, with both
    kinds of L2 and its state already warm."""
    opt = OPTIMIZERS[variant]()
    opt.l2 = 1e-3
    return opt.code, opt.hyper(0.05, alpha=1e-2), _warm_state(rng, P, opt.copies, dtype)


def _args_train_epoch_optim(rng, shape, dtype, variant, scale=1.0):
    """As ``train_epoch``'s, plus an optimizer (variant ``(hidden, name[, "weighted"])``) at step 3."""
    hidden, name = variant[:2]
    X, Y, perm, B, params, sizes, acts, loss, _, work, weights = _args_train_epoch(
        rng, shape, dtype, (hidden, ("softmax", "cross_entropy"), *variant[2:]), scale
    )
    code, hyper, state = _optimizer_state(rng, name, params.size, dtype)
    return (X, Y, perm, B, params, sizes, acts, loss, code, hyper, 3, state, np.zeros(params.size, dtype), work,
            weights)


def _args_train_epoch_packed(rng, shape, dtype, variant, scale=1.0):
    """Three members of ``train_epoch``'s network (variant ``(hidden, (output,
    loss)[, "weighted" | "shared"])``), their first layers stacked, per-member
    rates (one 0: left as is) and L2, and row weights: one row per member
    (one member's all 0 on the first batch), one for all, or none."""
    X, Y, params, sizes, acts, loss = _network(rng, shape, dtype, variant[:2], scale)
    K, B = 3, shape[0]
    members = np.stack([params] + [params + dtype.type(0.05) * rng.standard_normal(params.size).astype(dtype)
                                   for _ in range(K - 1)])
    h1, n0 = int(sizes[1]), int(sizes[0])
    first = np.concatenate([members[:, : h1 * n0].reshape(-1), members[:, h1 * n0 : h1 * n0 + h1].reshape(-1)])
    members[:, : h1 * n0 + h1] = np.nan  # not read: ``first`` holds the first layers
    work = np.zeros(_layout.packed_workspace_size(sizes, B, K), dtype)
    perm = rng.permutation(Y.shape[0])
    rows = {"weighted": K, "shared": 1}.get(variant[2] if len(variant) > 2 else None, 0)
    weights = rng.integers(0, 3, size=(rows, Y.shape[0])).astype(dtype)
    if rows == K:
        weights[2, perm[:B]] = 0  # a batch of weight 0: no step from its gradient, L2 still applies
    return (X, Y, perm, B, first, members, sizes, acts, loss, np.array([0.1, 0.0, 0.05]), np.array([1e-2, 0.0, 1e-3]),
            weights, work, np.zeros((K, 2)))


def _args_batch_gradient(rng, shape, dtype, variant, scale=1.0):
    """A share of ``B`` shuffled rows out of the ``2B+1`` of ``train_epoch``'s case."""
    X, Y, perm, B, params, sizes, acts, loss, _, work, weights = _args_train_epoch(rng, shape, dtype, variant, scale)
    return (X, Y, perm[:B], params, sizes, acts, loss, np.zeros(params.size, dtype), work, weights)


def _args_apply_update(rng, shape, dtype, variant, scale=1.0):
    """variant: a name of ``NAMES`` (with L2, so not the plain step) or "plain";
    a gradient summed over 10 rows."""
    _, n_in, n_out = shape
    sizes = np.array([n_in, n_out, 3], dtype=np.int64)
    P = _layout.n_params(sizes)
    params = rng.normal(0, 0.5, size=P).astype(dtype)
    grad = (10 * scale * rng.normal(size=P)).astype(dtype)
    if variant == "plain":
        opt = OPTIMIZERS["sgd"]()
        code, hyper, state = opt.code, opt.hyper(0.05), np.zeros(0, dtype)
    else:
        code, hyper, state = _optimizer_state(rng, variant, P, dtype)
    return (params, grad, 10, sizes, code, hyper, 3, state)


@dataclass(frozen=True)
class KernelCase:
    """One kernel, how to call it, and what it writes."""

    name: str
    make_args: Callable  # (rng, (B, n_in, n_out), dtype, variant, scale=1.0) -> args
    outputs: tuple[int, ...]  # indices of the arguments the kernel writes
    variants: tuple
    # Whether the kernel calls the GEMM provider itself (``kernels._blas.gemm``):
    # the cases CI runs again under every other provider. The composite
    # kernels (forward, the epochs, batch_gradient) reach it only through
    # these, and tests/test_providers.py trains through each provider.
    calls_gemm: bool = False

    def kernel(self) -> Callable:
        from . import kernels

        return getattr(kernels, self.name)

    def reference(self) -> Callable:
        return getattr(reference, self.name)


_HIDDEN_X_PAIRS = tuple(
    (HIDDEN[i % len(HIDDEN)], pair) for i, pair in enumerate(OUTPUT_LOSS_PAIRS)
) + tuple((h, ("softmax", "cross_entropy")) for h in HIDDEN)

# CSR input (``_sparse_rows``), plain and weighted.
_SPARSE_PAIRS = ((*_HIDDEN_X_PAIRS[0], "sparse"), (*_HIDDEN_X_PAIRS[1], "weighted", "sparse"))

#: Every compiled kernel with its reference twin, argument builders and variants.
KERNELS = (
    KernelCase("gemm", _args_gemm, (6,), ("NN", "NT", "TN", "TT", "NN0", "TT0"), calls_gemm=True),
    KernelCase("small_gemm", _args_small_gemm, (5,), ("N", "T", "N0", "T0")),
    KernelCase(
        "forward_layer", _args_forward_layer, (5, 6),
        tuple((a, False) for a in ACTIVATIONS) + (("sigmoid", True), ("softmax", True)), calls_gemm=True,
    ),
    KernelCase("forward", _args_forward, (5,), _HIDDEN_X_PAIRS + _SPARSE_PAIRS),
    KernelCase("output_delta", _args_output_delta, (4,), tuple(OUTPUT_LOSS_PAIRS)),
    KernelCase("hidden_delta", _args_hidden_delta, (5,), HIDDEN, calls_gemm=True),
    KernelCase("weight_gradient", _args_weight_gradient, (5, 6), ((True, 0.0), (False, 0.0), (False, 1.0)),
               calls_gemm=True),
    KernelCase("sparse_forward_layer", _args_sparse_forward_layer, (6, 7), tuple(ACTIVATIONS)),
    KernelCase("sparse_weight_gradient", _args_sparse_weight_gradient, (6, 7), (0.0, 1.0, 0.5)),
    KernelCase("sgd_update", _args_sgd_update, (0, 1), (None,)),
    KernelCase("is_plain", _args_is_plain, (), (*OPTIMIZERS, "sgd+l2", "sgd+alpha")),
    *(_update_case(spec) for spec in SPECS.values()),
    KernelCase("loss_value", _args_loss_value, (), tuple(OUTPUT_LOSS_PAIRS)),
    KernelCase("train_epoch", _args_train_epoch, (4,),
               _HIDDEN_X_PAIRS + tuple((*pair, "weighted") for pair in _HIDDEN_X_PAIRS[:4]) + _SPARSE_PAIRS),
    KernelCase(
        "train_epoch_optim", _args_train_epoch_optim, (4, 11),
        tuple((h, n) for n in OPTIMIZERS for h in ("tanh", "relu"))
        + (("relu", "sgd", "weighted"), ("tanh", "adam", "weighted"), ("relu", "adam", "sparse"),
           ("tanh", "sgd", "weighted", "sparse")),
    ),
    KernelCase("train_epoch_packed", _args_train_epoch_packed, (4, 5, 13),
               _HIDDEN_X_PAIRS + tuple((*pair, "weighted") for pair in _HIDDEN_X_PAIRS[:4])
               + tuple((*pair, "shared") for pair in _HIDDEN_X_PAIRS[4:6])),
    KernelCase("batch_gradient", _args_batch_gradient, (7,),
               _HIDDEN_X_PAIRS + tuple((*pair, "weighted") for pair in _HIDDEN_X_PAIRS[:4]) + _SPARSE_PAIRS),
    KernelCase("apply_update", _args_apply_update, (0, 1, 7), ("plain", *OPTIMIZERS)),
)


def run_pair(case: KernelCase, shape, dtype, variant, seed: int = 0, scale: float = 1.0):
    """Call the kernel and its twin on identical fresh arguments (``scale``
    multiplies the free-valued input: activations, deltas, or gradients).

    Returns ``(kernel_results, reference_results)``: the written arguments
    followed by the return value, in the same order for both.
    """
    dtype = np.dtype(dtype)
    args = case.make_args(np.random.default_rng(seed), shape, dtype, variant, scale)
    results = []
    for fn in (case.kernel(), case.reference()):
        a = copy.deepcopy(args)
        ret = fn(*a)
        results.append([a[i] for i in case.outputs] + ([ret] if ret is not None else []))
    return results[0], results[1]


def _finite_magnitude(block: np.ndarray) -> float:
    """``max(1, max |x|)`` over the finite entries: what tolerances scale by
    (an inf in the twin's output must not make every difference pass)."""
    finite = block[np.isfinite(block)]
    return max(1.0, float(np.abs(finite).max(initial=0.0)))


def _same_non_finite(g: np.ndarray, w: np.ndarray) -> str | None:
    """None when NaN and inf sit at the same positions with the same signs, else what differs."""
    if g.shape != w.shape:
        return f"shape {g.shape} against {w.shape}"
    for name, test in (("NaN", np.isnan), ("+inf", np.isposinf), ("-inf", np.isneginf)):
        differ = test(g) != test(w)
        if differ.any():
            where = tuple(int(i) for i in np.argwhere(differ)[0])
            return f"{name} at {where} in one and not the other ({g[where]} against {w[where]})"
    return None


def assert_pair_close(case: KernelCase, shape, dtype, variant, seed: int = 0, scale: float = 1.0) -> None:
    """Assert that ``case``'s kernel equals its reference twin, within ``TOLERANCES``.

    Non-finite values must match exactly (NaN for NaN, inf of the same sign,
    at the same positions); tolerances scale with each output's largest
    finite magnitude. In float32, elements that differ by more than the
    tolerance are judged by a referee, the twin run in float64: each such
    element passes if the kernel is no farther from the referee than the
    float32 twin is, plus the tolerance (``|kernel - truth| <= |twin - truth| + tol``,
    element by element). Ill-conditioned cases (saturated activations fed
    inputs of size 100 through several steps of momentum) round both far
    from the exact result; this asks the kernel to be as accurate as the
    reference at every element, not to round as it does.
    The failure message names the kernel, dtype, shape and variant.
    """
    dtype = np.dtype(dtype)
    got, want = run_pair(case, shape, dtype, variant, seed, scale)
    tol = TOLERANCES[dtype]
    where = (f"kernel {case.name}: output {{}} differs from reference, dtype={dtype.name}, "
             f"shape (B, n_in, n_out)={shape}, variant={variant}, seed={seed}, scale={scale}")
    truth = None
    for i, (g, w) in enumerate(zip(got, want)):
        g, w = np.asarray(g, dtype=np.float64), np.asarray(w, dtype=np.float64)
        mismatch = _same_non_finite(g, w)
        if mismatch is not None:
            raise AssertionError(where.format(i) + ": " + mismatch)
        finite = np.isfinite(w)
        g, w = g[finite], w[finite]
        atol = tol["atol"] * _finite_magnitude(w)
        off = np.abs(g - w) > atol + tol["rtol"] * np.abs(w)
        if off.any() and dtype == np.float32:
            if truth is None:
                truth = run_pair(case, shape, np.dtype(np.float64), variant, seed, scale)[1]
            t = np.asarray(truth[i], dtype=np.float64)
            if t.shape == finite.shape:
                t = t[finite]
                off &= ~(np.abs(g - t) <= np.abs(w - t) + atol)
        if off.any():
            np.testing.assert_allclose(g[off], w[off], rtol=tol["rtol"], atol=atol, err_msg=where.format(i))
