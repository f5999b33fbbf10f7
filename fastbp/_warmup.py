"""Compile (or load) one top-level kernel for one variant: the exact
signature the real calls use (``fastbp.kernels._signatures``), so that they
find their specialisation compiled (``fastbp compile``, the background
compile, and the foreground compile of ``fastbp._tiers``).

Each kernel's specialisation depends on the types of its arguments only
(dtype, dimensions, layout), never on sizes or activation codes (run-time
values), so one signature serves every network.
"""
from __future__ import annotations


#: The top-level kernels, in the order ``fastbp compile`` compiles them, with
#: what uses each: the rest are their callees.
KERNELS = {
    "train_epoch": "fit with plain SGD, step",
    "train_epoch_optim": "fit with momentum, Adam, RMSprop or L2; the estimators' sgd and adam",
    "train_epoch_packed": "Ensemble.fit with SGD (L2, row weights) on dense X (members of one shape)",
    "forward": "forward, predict, loss, validation scores, the estimators' lbfgs",
    "loss_value": "loss, validation scores",
    "batch_gradient": "gradients, fit(comm=...), the estimators' lbfgs",
    "apply_update": "fit(comm=...)",
}
#: What ``fastbp compile`` compiles by default: all of them.
DEFAULT = tuple(KERNELS)


def run(name: str, key: str) -> None:
    """Compile (or load from the cache) kernel ``name`` (a key of
    :data:`KERNELS`) for the tier key ``key`` (``float64``, ``float32-sparse``:
    ``fastbp._tiers.variant``): its exact signature from
    ``fastbp.kernels._signatures``, with no call of the public API."""
    if name not in KERNELS:
        raise ValueError(f"unknown kernel {name!r}; choose from {', '.join(KERNELS)}")
    from . import kernels
    from ._variants import signature

    getattr(kernels, name).compile(signature(name, key))
