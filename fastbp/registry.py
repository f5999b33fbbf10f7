"""One table pairing each compiled kernel with its NumPy reference twin.

Tests and asv benchmarks iterate over :data:`KERNELS` (as bottleneck pairs
each C function with ``bottleneck.slow`` and numbagg drives tests and
benchmarks from one table). Each entry knows how to build valid arguments for
a shape, dtype and variant, and which arguments the kernel writes, so one
loop can check ``kernel == reference`` for every kernel.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import _layout, reference
from ._codes import ACTIVATIONS, ADAM, HIDDEN_ACTIVATIONS, LOSSES, MOMENTUM, NESTEROV, PLAIN_SGD, VALID_PAIRS

# Tolerances per dtype: the one table every comparison uses. "rtol"/"atol"
# bound one kernel call against its twin (float32 rounds at ~6e-8 per
# operation and BLAS sums in another order than NumPy; float64 at ~1e-16);
# "trained_*" bound whole networks after several epochs side by side, where
# those differences compound through every step.
TOLERANCES = {
    np.dtype(np.float32): {"rtol": 2e-4, "atol": 2e-5, "trained_rtol": 2e-3, "trained_atol": 2e-4},
    np.dtype(np.float64): {"rtol": 1e-9, "atol": 1e-11, "trained_rtol": 1e-8, "trained_atol": 1e-10},
}

#: (B, n_in, n_out) shapes every kernel is checked on: batch 1 and width 1 included.
SHAPES = [(1, 1, 1), (1, 5, 3), (7, 1, 4), (16, 8, 1), (33, 17, 9), (64, 64, 64)]

#: (output, loss) pairs each loss is defined with (``_codes.VALID_PAIRS``).
OUTPUT_LOSS_PAIRS = [(out, loss) for loss, outs in VALID_PAIRS.items() for out in outs]


def _activations_like(rng, shape, dtype, act_name):
    """Valid stored activations for ``act_name`` (drawn through the reference)."""
    Z = rng.normal(0, 1.5, size=shape).astype(dtype)
    return reference.activate(Z, ACTIVATIONS[act_name]).astype(dtype)


def _targets(rng, shape, dtype, loss):
    B, n = shape
    if loss == "cross_entropy":
        Y = np.zeros(shape, dtype)
        Y[np.arange(B), rng.integers(0, n, size=B)] = 1
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


def _args_forward_layer(rng, shape, dtype, variant, scale=1.0):
    B, n_in, n_out = shape
    return (
        (scale * rng.normal(size=(B, n_in))).astype(dtype),
        rng.normal(0, 0.7, size=(n_out, n_in)).astype(dtype),
        rng.normal(size=n_out).astype(dtype),
        ACTIVATIONS[variant],
        np.zeros((B, n_out), dtype),
    )


def _args_output_delta(rng, shape, dtype, variant, scale=1.0):
    B, _, n_out = shape
    output, loss = variant
    return (
        _activations_like(rng, (B, n_out), dtype, output),
        _targets(rng, (B, n_out), dtype, loss),
        ACTIVATIONS[output],
        LOSSES[loss],
        np.zeros((B, n_out), dtype),
    )


def _args_hidden_delta(rng, shape, dtype, variant, scale=1.0):
    B, n_in, n_out = shape  # D_next has the wider layer's width n_out
    return (
        (scale * rng.normal(size=(B, n_out))).astype(dtype),
        rng.normal(size=(n_out, n_in)).astype(dtype),
        _activations_like(rng, (B, n_in), dtype, variant),
        ACTIVATIONS[variant],
        np.zeros((B, n_in), dtype),
    )


def _args_weight_gradient(rng, shape, dtype, variant, scale=1.0):
    B, n_in, n_out = shape
    return (
        (scale * rng.normal(size=(B, n_out))).astype(dtype),
        rng.normal(size=(B, n_in)).astype(dtype),
        np.zeros((n_out, n_in), dtype),
        np.zeros(n_out, dtype),
    )


def _args_sgd_update(rng, shape, dtype, variant, scale=1.0):
    return (*_layer_with_gradients(rng, shape, dtype, scale), dtype.type(0.05))


def _args_sgd_fused_update(rng, shape, dtype, variant, scale=1.0):
    B, n_in, n_out = shape
    return (
        (scale * rng.normal(size=(B, n_out))).astype(dtype),
        rng.normal(size=(B, n_in)).astype(dtype),
        rng.normal(size=(n_out, n_in)).astype(dtype),
        rng.normal(size=n_out).astype(dtype),
        dtype.type(0.05),
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


def _moment(rng, shape, dtype, size, positive=False):
    """Optimizer state for ``(W, b)``, as mid-training: velocities or first
    moments of about ``size``, or (``positive``) second moments in ``[0, size)``."""
    _, n_in, n_out = shape
    draw = (lambda s: size * rng.random(size=s)) if positive else (lambda s: size * rng.normal(size=s))
    return draw((n_out, n_in)).astype(dtype), draw(n_out).astype(dtype)


def _args_momentum_update(rng, shape, dtype, variant, scale=1.0):
    """variant: "momentum" or "nesterov"."""
    t = dtype.type
    return (
        *_layer_with_gradients(rng, shape, dtype, scale),
        *_moment(rng, shape, dtype, 0.1 * scale),
        t(0.05), t(0.9), variant == "nesterov", t(1e-3),
    )


def _args_adam_update(rng, shape, dtype, variant, scale=1.0):
    t = dtype.type
    return (
        *_layer_with_gradients(rng, shape, dtype, scale),
        *_moment(rng, shape, dtype, 0.1 * scale),
        *_moment(rng, shape, dtype, 0.01 * scale**2, positive=True),
        t(1e-3), t(0.9), t(0.999), t(1e-8), t(1e-3),
    )


def _args_loss_value(rng, shape, dtype, variant, scale=1.0):
    B, _, n_out = shape
    output, loss = variant
    return (
        _activations_like(rng, (B, n_out), dtype, output),
        _targets(rng, (B, n_out), dtype, loss),
        LOSSES[loss],
    )


def _args_train_epoch(rng, shape, dtype, variant, scale=1.0):
    """A 3-layer net ``n_in -> n_out -> 3`` over ``2B+1`` rows in batches of ``B``
    (so the last batch is partial)."""
    B, n_in, n_hidden = shape
    hidden, (output, loss) = variant
    n_last = 3
    sizes = np.array([n_in, n_hidden, n_last], dtype=np.int64)
    N = 2 * B + 1
    X = (scale * rng.normal(size=(N, n_in))).astype(dtype)
    Y = _targets(rng, (N, n_last), dtype, loss)
    params = rng.normal(0, 0.5, size=_layout.n_params(sizes)).astype(dtype)
    acts = np.array([ACTIVATIONS[hidden], ACTIVATIONS[output]], dtype=np.int64)
    work = np.zeros(_layout.workspace_size(sizes, B), dtype)
    return (X, Y, rng.permutation(N), B, params, sizes, acts, LOSSES[loss], dtype.type(0.1), work)


_OPTIMIZER_CODES = {"momentum": MOMENTUM, "nesterov": NESTEROV, "adam": ADAM}


def _args_train_epoch_optim(rng, shape, dtype, variant, scale=1.0):
    """As ``train_epoch``'s, plus an optimizer (variant ``(hidden, optimizer)``),
    both kinds of L2, and optimizer state already warm (Adam at step 3)."""
    hidden, optimizer = variant
    X, Y, perm, B, params, sizes, acts, loss, _, work = _args_train_epoch(
        rng, shape, dtype, (hidden, ("softmax", "cross_entropy")), scale
    )
    P = params.size
    code = _OPTIMIZER_CODES[optimizer]
    if code == ADAM:
        hyper = np.array([1e-2, 0.9, 0.999, 1e-8, 1e-3, 1e-2])
        state = np.concatenate([0.01 * rng.normal(size=P), 1e-4 * rng.random(size=P)]).astype(dtype)
    else:
        hyper = np.array([0.1, 0.9, 0.0, 0.0, 1e-3, 1e-2])
        state = (0.01 * rng.normal(size=P)).astype(dtype)
    return (X, Y, perm, B, params, sizes, acts, loss, code, hyper, 3, state, np.zeros(P, dtype), work)


def _args_batch_gradient(rng, shape, dtype, variant, scale=1.0):
    """A share of ``B`` shuffled rows out of the ``2B+1`` of ``train_epoch``'s case."""
    X, Y, perm, B, params, sizes, acts, loss, _, work = _args_train_epoch(rng, shape, dtype, variant, scale)
    return (X, Y, perm[:B], params, sizes, acts, loss, np.zeros(params.size, dtype), work)


def _args_apply_update(rng, shape, dtype, variant, scale=1.0):
    """variant: "sgd", "momentum", "nesterov" or "adam"; a gradient summed over 10 rows."""
    _, n_in, n_out = shape
    sizes = np.array([n_in, n_out, 3], dtype=np.int64)
    P = _layout.n_params(sizes)
    params = rng.normal(0, 0.5, size=P).astype(dtype)
    grad = (10 * scale * rng.normal(size=P)).astype(dtype)
    if variant == "adam":
        hyper = np.array([1e-2, 0.9, 0.999, 1e-8, 1e-3, 1e-2])
        state = np.concatenate([0.01 * rng.normal(size=P), 1e-4 * rng.random(size=P)]).astype(dtype)
    else:
        hyper = np.array([0.1, 0.9, 0.0, 0.0, 1e-3, 1e-2])
        state = (0.01 * rng.normal(size=P)).astype(dtype)
    code = PLAIN_SGD if variant == "sgd" else _OPTIMIZER_CODES[variant]
    return (params, grad, 10, sizes, code, hyper, 3, state)


@dataclass(frozen=True)
class KernelCase:
    """One kernel, how to call it, and what it writes."""

    name: str
    make_args: Callable  # (rng, (B, n_in, n_out), dtype, variant, scale=1.0) -> args
    outputs: tuple[int, ...]  # indices of the arguments the kernel writes
    variants: tuple

    def kernel(self) -> Callable:
        from . import kernels

        return getattr(kernels, self.name)

    def reference(self) -> Callable:
        return getattr(reference, self.name)


_HIDDEN_X_PAIRS = tuple(
    (HIDDEN_ACTIVATIONS[i % len(HIDDEN_ACTIVATIONS)], pair) for i, pair in enumerate(OUTPUT_LOSS_PAIRS)
) + tuple((h, ("softmax", "cross_entropy")) for h in HIDDEN_ACTIVATIONS)

KERNELS = (
    KernelCase("gemm", _args_gemm, (6,), ("NN", "NT", "TN", "TT", "NN0", "TT0")),
    KernelCase("forward_layer", _args_forward_layer, (4,), tuple(ACTIVATIONS)),
    KernelCase("output_delta", _args_output_delta, (4,), tuple(OUTPUT_LOSS_PAIRS)),
    KernelCase("hidden_delta", _args_hidden_delta, (4,), HIDDEN_ACTIVATIONS),
    KernelCase("weight_gradient", _args_weight_gradient, (2, 3), (None,)),
    KernelCase("sgd_update", _args_sgd_update, (0, 1), (None,)),
    KernelCase("sgd_fused_update", _args_sgd_fused_update, (2, 3), (None,)),
    KernelCase("momentum_update", _args_momentum_update, (0, 1, 4, 5), ("momentum", "nesterov")),
    KernelCase("adam_update", _args_adam_update, (0, 1, 4, 5, 6, 7), (None,)),
    KernelCase("loss_value", _args_loss_value, (), tuple(OUTPUT_LOSS_PAIRS)),
    KernelCase("train_epoch", _args_train_epoch, (4,), _HIDDEN_X_PAIRS),
    KernelCase(
        "train_epoch_optim",
        _args_train_epoch_optim,
        (4, 11),
        tuple((h, o) for o in _OPTIMIZER_CODES for h in ("tanh", "relu")),
    ),
    KernelCase("batch_gradient", _args_batch_gradient, (7,), _HIDDEN_X_PAIRS),
    KernelCase("apply_update", _args_apply_update, (0, 1, 7), ("sgd", "momentum", "nesterov", "adam")),
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


def assert_pair_close(case: KernelCase, shape, dtype, variant, seed: int = 0, scale: float = 1.0) -> None:
    """Assert that ``case``'s kernel equals its reference twin, within ``TOLERANCES``.

    The failure message names the kernel, dtype, shape and variant.
    """
    dtype = np.dtype(dtype)
    got, want = run_pair(case, shape, dtype, variant, seed, scale)
    tol = TOLERANCES[dtype]
    for i, (g, w) in enumerate(zip(got, want)):
        g, w = np.asarray(g, dtype=np.float64), np.asarray(w, dtype=np.float64)
        scale = max(1.0, float(np.abs(w).max(initial=0.0)))
        np.testing.assert_allclose(
            g, w, rtol=tol["rtol"], atol=tol["atol"] * scale,
            err_msg=f"kernel {case.name}: output {i} differs from reference, dtype={dtype.name}, "
            f"shape (B, n_in, n_out)={shape}, variant={variant}, seed={seed}, scale={scale}",
        )
