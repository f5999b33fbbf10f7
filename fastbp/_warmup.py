"""Compile (or load) one top-level kernel for one dtype by a tiny call of the
kind ``fastbp.Network`` and the estimators make: the same argument types,
so the real call finds its specialisation compiled (``fastbp compile``, the
background compile, and the foreground compile of ``fastbp._tiers``).

Each kernel's specialisation depends on the types of its arguments only
(dtype, dimensions, layout), never on sizes or activation codes (run-time
values), so a 3-4-2 network compiles what a 784-256-10 one runs.
"""
from __future__ import annotations

import numpy as np

#: The top-level kernels, in the order ``fastbp compile`` compiles them, with
#: what uses each: the rest are their callees.
KERNELS = {
    "train_epoch": "fit with plain SGD, step",
    "train_epoch_optim": "fit with momentum, Adam, RMSprop or L2; the estimators' sgd and adam",
    "forward": "forward, predict, loss, validation scores, the estimators' lbfgs",
    "loss_value": "loss, validation scores",
    "batch_gradient": "gradients, fit(comm=...), the estimators' lbfgs",
    "apply_update": "fit(comm=...)",
}
#: What ``fastbp compile`` compiles by default: all of them.
DEFAULT = tuple(KERNELS)


def _tiny(key):
    from ._tiers import SPARSE
    from .network import Network

    rng = np.random.default_rng(0)
    net = Network([3, 4, 2], activation="tanh", dtype=key.removesuffix(SPARSE), seed=0)
    X = rng.standard_normal((8, 3))
    if key.endswith(SPARSE):
        import scipy.sparse as sp

        X = sp.csr_matrix(X)
    y = np.arange(8) % 2
    return net, X, y


def run(name: str, dtype: str) -> None:
    """Make the call that compiles kernel ``name`` (a key of :data:`KERNELS`)
    for ``dtype``, a dtype's name or a sparse key (``float64-sparse``:
    ``fastbp._tiers.variant``)."""
    net, X, y = _tiny(dtype)
    if name == "train_epoch":
        net.fit(X, y, epochs=1, batch_size=4)
    elif name == "train_epoch_optim":
        net.fit(X, y, epochs=1, batch_size=4, optimizer="adam", lr=1e-3)
    elif name == "forward":
        net.forward(X)
    elif name == "loss_value":
        net.loss(X, y)
    elif name == "batch_gradient":
        net.gradients(X, y)
    elif name == "apply_update":
        from . import kernels, optimizers

        opt = optimizers.resolve("adam")
        params = net._params
        buf = np.zeros(params.size + 3, dtype=params.dtype)
        state = opt.state_for(params.size, params.dtype)
        kernels.apply_update(params, buf[:params.size], 8, net._size_codes, opt.code, opt.hyper(1e-3),
                             opt.step_count, state)
    else:
        raise ValueError(f"unknown kernel {name!r}; choose from {', '.join(KERNELS)}")
