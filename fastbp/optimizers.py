"""Optimizers for ``Network.fit``, and the one table every other part reads them from.

Each optimizer class is its own specification: ``name`` (what ``fit(optimizer=...)``
and the command's ``--optimizer`` take), ``code`` (the compiled epoch's),
``update`` (the name of its update kernel in :mod:`fastbp.kernels` and of its
twin in :mod:`fastbp.reference`), ``state_copies`` (flat state buffers the
size of the parameters) and ``params`` (its named hyper-parameters, in the
order they follow ``lr, l2, alpha`` in the ``hyper`` array the kernels take).
:data:`SPECS` lists them by code; the command's choices, the kernel/twin
table (``fastbp.testing``) and the scikit-learn packing are derived from it.

An optimizer object keeps its state (velocities or moments, and the step
count) between ``fit`` calls, as a PyTorch optimizer does: pass the same
object again to continue training, a new one (or a name) to start afresh::

    net.fit(X, y, lr=0.01, optimizer="nesterov")
    opt = fastbp.optimizers.Adam(l2=1e-4)
    for _ in range(10):
        net.fit(X, y, epochs=1, lr=1e-3, optimizer=opt)

This module is plain Python and NumPy: the kernels and the reference both
read their codes and ``hyper`` slots from it.
"""
from __future__ import annotations

import math
from typing import Callable, ClassVar

import numpy as np

__all__ = ["Optimizer", "SGD", "Adam", "RMSprop", "resolve", "pack", "NAMES", "SPECS"]

#: Slots of the ``hyper`` array (float64) common to every optimizer; its own
#: ``params`` follow from :data:`N_COMMON` on. ``alpha`` is scikit-learn's L2
#: (its gradient ``alpha * W / B`` shrinks as batches grow), ``l2`` a plain
#: weight decay (gradient ``l2 * W``); neither applies to biases.
HYPER_LR, HYPER_L2, HYPER_ALPHA = 0, 1, 2
N_COMMON = 3


def _fraction(value, name: str) -> float:
    """A number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return value


def _nonnegative(value, name: str, strict: bool = False) -> float:
    """A finite number >= 0 (> 0 with ``strict``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (strict and value == 0):
        raise ValueError(f"{name} must be {'> 0' if strict else '>= 0'} and finite, got {value!r}")
    return value


def _positive(value, name: str) -> float:
    return _nonnegative(value, name, strict=True)


def _flag(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


class Optimizer:
    """Base class: validated hyper-parameters, and state bound to one network's parameters.

    A subclass is a specification (the class attributes below) plus an
    ``__init__`` that names its parameters; validation, the ``hyper`` array,
    the state and ``repr`` come from here.
    """

    name: ClassVar[str]
    code: ClassVar[int]
    update: ClassVar[str]
    state_copies: ClassVar[int]
    #: (name, check) of each hyper-parameter, in ``hyper`` order after the common slots.
    params: ClassVar[tuple[tuple[str, Callable], ...]]

    def __init__(self, l2: float = 0.0, **params) -> None:
        for name, check in self.params:
            setattr(self, name, check(params.pop(name), name))
        assert not params, f"{type(self).__name__}: unknown parameters {sorted(params)}"
        self.l2 = _nonnegative(l2, "l2")
        self.reset()

    @classmethod
    def hyper_index(cls, param: str) -> int:
        """The slot of ``param`` in this optimizer's ``hyper`` array."""
        return N_COMMON + [name for name, _ in cls.params].index(param)

    def reset(self) -> None:
        """Forget the state (velocities or moments, and the step count)."""
        self._state: np.ndarray | None = None
        self.step_count = 0

    def hyper(self, lr: float, alpha: float = 0.0) -> np.ndarray:
        """The ``hyper`` array of the compiled epoch for learning rate ``lr``
        (``alpha``: scikit-learn's L2, divided by each batch's size)."""
        return pack(type(self), lr, self.l2, alpha, {name: getattr(self, name) for name, _ in self.params})

    def state_for(self, n_params: int, dtype) -> np.ndarray:
        """The flat state buffer for a network of ``n_params`` parameters of
        ``dtype``: zeros the first time, the same buffer after."""
        size = self.state_copies * n_params
        if self._state is None:
            self._state = np.zeros(size, dtype=dtype)
        elif self._state.size != size or self._state.dtype != dtype:
            raise ValueError(
                f"this {type(self).__name__} holds state for {self._state.size // self.state_copies} "
                f"{self._state.dtype.name} parameters, not {n_params} {np.dtype(dtype).name}: it was used "
                "with another network; call .reset() or pass a new optimizer"
            )
        return self._state

    def snapshot(self) -> Callable[[], None]:
        """A function that puts the state and step count back as they are now."""
        state = None if self._state is None else self._state.copy()
        step = self.step_count

        def restore() -> None:
            if state is not None:
                self._state[...] = state
            self.step_count = step

        return restore

    def __repr__(self) -> str:
        values = ", ".join(f"{name}={getattr(self, name)}" for name, _ in self.params)
        return f"{type(self).__name__}({values}, l2={self.l2})"


def pack(spec: type[Optimizer], lr: float, l2: float, alpha: float, values: dict) -> np.ndarray:
    """The ``hyper`` array of ``spec`` from named values (the one place it is laid out)."""
    hyper = np.zeros(N_COMMON + len(spec.params))
    hyper[HYPER_LR], hyper[HYPER_L2], hyper[HYPER_ALPHA] = lr, l2, alpha
    for name, _ in spec.params:
        hyper[spec.hyper_index(name)] = float(values[name])
    return hyper


class SGD(Optimizer):
    """Minibatch SGD, optionally with momentum and L2 weight decay (scikit-learn's form).

    Parameters
    ----------
    momentum : float in [0, 1)
        ``v <- momentum * v - lr * g; W <- W + v``. With momentum 0 and no L2
        this is plain ``W -= lr * dW``, which the epoch runs fused (the weight
        gradient is written into W by the GEMM; no state is read).
    nesterov : bool
        Nesterov's momentum: ``W <- W + momentum * v - lr * g`` after the same ``v`` update.
    l2 : float >= 0
        Weight decay: ``l2 * W`` is added to each weight gradient (biases are
        not penalised) and ``0.5 * l2 * sum(W**2)`` to the reported loss.
    """

    name = "sgd"
    code = 0
    update = "momentum_update"
    state_copies = 1
    params = (("momentum", _fraction), ("nesterov", _flag))

    def __init__(self, momentum: float = 0.0, nesterov: bool = False, l2: float = 0.0) -> None:
        super().__init__(l2, momentum=momentum, nesterov=nesterov)


class Adam(Optimizer):
    """Adam (Kingma & Ba), scikit-learn's form, with L2 weight decay.

    Parameters
    ----------
    beta_1, beta_2 : float in [0, 1)
        Decay rates of the first and second moment estimates.
    epsilon : float > 0
        Added to ``sqrt(v)`` in the step's denominator.
    l2 : float >= 0
        As for :class:`SGD` (added to the gradient, so it also enters the moments).
    """

    name = "adam"
    code = 1
    update = "adam_update"
    state_copies = 2
    params = (("beta_1", _fraction), ("beta_2", _fraction), ("epsilon", _positive))

    def __init__(self, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8, l2: float = 0.0) -> None:
        super().__init__(l2, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)


class RMSprop(Optimizer):
    """RMSprop, PyTorch's form (``torch.optim.RMSprop(alpha=rho, eps=epsilon)``), with L2 weight decay.

    ``v <- rho * v + (1 - rho) * g**2``, ``W <- W - lr * g / (sqrt(v) + epsilon)``,
    ``g = dW + l2 * W`` (PyTorch's ``weight_decay``, here on weights only).

    Parameters
    ----------
    rho : float in [0, 1)
        Decay rate of the running mean of squared gradients.
    epsilon : float > 0
        Added to ``sqrt(v)`` in the step's denominator.
    l2 : float >= 0
        As for :class:`SGD`.
    """

    name = "rmsprop"
    code = 2
    update = "rmsprop_update"
    state_copies = 1
    params = (("rho", _fraction), ("epsilon", _positive))

    def __init__(self, rho: float = 0.99, epsilon: float = 1e-8, l2: float = 0.0) -> None:
        super().__init__(l2, rho=rho, epsilon=epsilon)


#: Every optimizer by its code: what the compiled epoch may be handed.
SPECS: dict[int, type[Optimizer]] = {spec.code: spec for spec in (SGD, Adam, RMSprop)}

#: The names ``fit(optimizer=...)`` and ``fastbp train --optimizer`` take, each a factory.
NAMES: dict[str, Callable[[], Optimizer]] = {
    "sgd": SGD,
    "momentum": lambda: SGD(momentum=0.9),
    "nesterov": lambda: SGD(momentum=0.9, nesterov=True),
    **{spec.name: spec for spec in SPECS.values()},
}


def resolve(optimizer: str | Optimizer) -> Optimizer:
    """An :class:`Optimizer` for a name of :data:`NAMES` (a new one each call) or the object itself."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer in NAMES:
        return NAMES[optimizer]()
    choices = ", ".join(repr(n) for n in NAMES)
    classes = "/".join(spec.__name__ for spec in SPECS.values())
    raise ValueError(f"unknown optimizer {optimizer!r}; valid: {choices}, or a fastbp.optimizers.{classes} object")
