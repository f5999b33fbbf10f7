"""Optimizers for ``Network.fit``, and the one table every other part reads them from.

Each optimizer class is its own specification: ``name`` (what ``fit(optimizer=...)``
and the command's ``--optimizer`` take), ``code`` (the compiled epoch's),
``update`` (the name of its update kernel in :mod:`fastbp.kernels` and of its
twin in :mod:`fastbp.reference`), ``state_copies`` (flat state buffers the
size of the parameters: the most it keeps, its kernel's signature) and
``params`` (its named hyper-parameters, each with its slot in the ``hyper``
array the kernels take, ``fastbp._codes``, and its check).
:data:`SPECS` lists them by code; the command's choices, the kernel/twin
table (``fastbp.testing``) and the scikit-learn packing are derived from it.

An optimizer object keeps its state (velocities or moments, and the step
count) between ``fit`` calls, as a PyTorch optimizer does: pass the same
object again to continue training, a new one (or a name) to start afresh::

    net.fit(X, y, lr=0.01, optimizer="nesterov")
    opt = fastbp.optimizers.Adam(l2=1e-4)
    for _ in range(10):
        net.fit(X, y, epochs=1, lr=1e-3, optimizer=opt)

Each class also holds its update's NumPy twin (``twin``), which
``fastbp.reference`` exposes under the kernel's name. Adding an optimizer:
its code and ``hyper`` slots in ``fastbp/_codes.py``; its kernel and its
branch of ``_update_layers`` in ``fastbp/kernels/update.py``; its class
and twin here, listed in :data:`SPECS`.

This module is plain Python and NumPy.
"""
from __future__ import annotations

from typing import Callable, ClassVar

import numpy as np

from . import _codes
from ._codes import HYPER_ALPHA, HYPER_L2, HYPER_LR
from ._checks import check_flag, check_fraction, check_nonnegative_number, check_positive_number

__all__ = ["Optimizer", "SGD", "Adam", "RMSprop", "AdamW", "resolve", "pack", "NAMES", "SPECS"]

#: ``hyper`` slots common to every optimizer (``fastbp._codes``): ``lr``,
#: ``l2`` (a plain weight decay, gradient ``l2 * W``) and ``alpha``
#: (scikit-learn's L2, gradient ``alpha * W / B``); neither applies to biases.
N_COMMON = 3


class Optimizer:
    """Base class: validated hyper-parameters, and state bound to one network's parameters.

    A subclass is a specification (the class attributes below) plus an
    ``__init__`` that names its parameters; validation, the ``hyper`` array,
    the state and ``repr`` come from here.
    """

    name: ClassVar[str]
    code: ClassVar[int]
    #: Its update's NumPy twin, named as its kernel (``update``).
    twin: ClassVar[Callable]
    update: ClassVar[str]
    #: State buffers its kernel takes; an object may keep fewer (``copies``).
    state_copies: ClassVar[int]
    #: Each hyper-parameter as ``(its name, its slot in hyper, its check)`` (slots: ``fastbp._codes``).
    params: ClassVar[tuple[tuple[str, int, Callable], ...]]

    def __init__(self, l2: float = 0.0, **params) -> None:
        for name, _, check in self.params:
            setattr(self, name, check(params.pop(name), name))
        if params:
            raise TypeError(f"{type(self).__name__}() got unknown parameters {sorted(params)}")
        self.l2 = check_nonnegative_number(l2, "l2")
        self.reset()

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls.update = cls.twin.__name__  # the kernel's name is its twin's

    @classmethod
    def hyper_index(cls, param: str) -> int:
        """The slot of ``param`` in this optimizer's ``hyper`` array."""
        return {name: slot for name, slot, _ in cls.params}[param]

    @property
    def copies(self) -> int:
        """State buffers this object keeps (``state_copies`` unless its settings need fewer)."""
        return self.state_copies

    def reset(self) -> None:
        """Forget the state (velocities or moments, and the step count)."""
        self._state: np.ndarray | None = None
        self.step_count = 0

    def hyper(self, lr: float, alpha: float = 0.0) -> np.ndarray:
        """The ``hyper`` array of the compiled epoch for learning rate ``lr``
        (``alpha``: scikit-learn's L2, divided by each batch's size)."""
        return pack(type(self), lr, self.l2, alpha, {name: getattr(self, name) for name, _, _ in self.params})

    def state_for(self, n_params: int, dtype) -> np.ndarray:
        """The flat state buffer for a network of ``n_params`` parameters of
        ``dtype``: zeros the first time, the same buffer after."""
        size = self.copies * n_params
        if self._state is None:
            self._state = np.zeros(size, dtype=dtype)
        elif self._state.size != size or self._state.dtype != dtype:
            raise ValueError(
                f"this {type(self).__name__} holds state for {self._state.size // self.copies} "
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
        values = ", ".join(f"{name}={getattr(self, name)}" for name, _, _ in self.params)
        return f"{type(self).__name__}({values}, l2={self.l2})"


def pack(spec: type[Optimizer], lr: float, l2: float, alpha: float, values: dict) -> np.ndarray:
    """The ``hyper`` array of ``spec`` from named values (the one place it is laid out)."""
    hyper = np.zeros(1 + max([HYPER_ALPHA] + [slot for _, slot, _ in spec.params]))
    hyper[HYPER_LR], hyper[HYPER_L2], hyper[HYPER_ALPHA] = lr, l2, alpha
    for name, slot, _ in spec.params:
        hyper[slot] = float(values[name])
    return hyper


# The NumPy twins of the update kernels (``fastbp.kernels.update``): the same
# signature, ``name(W, b, dW, db, <(sW, sb) per state copy>, lr, <params>, step, l2)``,
# in place, returning ``sum(W**2)`` of the weights before the step (the L2
# part of the loss). ``g = dW + l2 * W`` on weights; biases take no L2.


def _sumsq(W) -> float:
    return float(np.sum(W.astype(np.float64) ** 2))


def momentum_update(W, b, dW, db, vW, vb, lr, momentum, nesterov, step, l2):
    """scikit-learn's SGD with momentum: ``v <- momentum v - lr g``; ``W <- W + v``,
    or ``W + momentum v - lr g`` with Nesterov momentum (``step`` unused)."""
    t = W.dtype.type
    lr, momentum, l2 = t(lr), t(momentum), t(l2)
    sumsq = _sumsq(W)
    for P, V, G in ((W, vW, dW + l2 * W), (b, vb, db)):
        V[...] = momentum * V - lr * G
        P += momentum * V - lr * G if nesterov else V
    return sumsq


def adam_update(W, b, dW, db, mW, mb, vW, vb, lr, beta_1, beta_2, epsilon, step, l2):
    """scikit-learn's Adam, step number ``step``: ``m <- beta_1 m + (1 - beta_1) g``;
    ``v <- beta_2 v + (1 - beta_2) g^2``; ``W <- W - lr_t m / (sqrt(v) + epsilon)``
    with ``lr_t = lr sqrt(1 - beta_2^t) / (1 - beta_1^t)``, formed in float64."""
    t = W.dtype.type
    rate = t(lr * np.sqrt(1.0 - beta_2**step) / (1.0 - beta_1**step))
    beta_1, beta_2, epsilon, l2 = t(beta_1), t(beta_2), t(epsilon), t(l2)
    sumsq = _sumsq(W)
    for P, M, V, G in ((W, mW, vW, dW + l2 * W), (b, mb, vb, db)):
        M[...] = beta_1 * M + (t(1) - beta_1) * G
        V[...] = beta_2 * V + (t(1) - beta_2) * G * G
        P -= rate * M / (np.sqrt(V) + epsilon)
    return sumsq


def rmsprop_update(W, b, dW, db, vW, vb, lr, rho, epsilon, step, l2):
    """PyTorch's RMSprop: ``v <- rho v + (1 - rho) g^2``; ``W <- W - lr g / (sqrt(v) + epsilon)`` (``step`` unused)."""
    t = W.dtype.type
    lr, rho, epsilon, l2 = t(lr), t(rho), t(epsilon), t(l2)
    sumsq = _sumsq(W)
    for P, V, G in ((W, vW, dW + l2 * W), (b, vb, db)):
        V[...] = rho * V + (t(1) - rho) * G * G
        P -= lr * G / (np.sqrt(V) + epsilon)
    return sumsq


def adamw_update(W, b, dW, db, mW, mb, vW, vb, sW, sb, lr, beta_1, beta_2, epsilon, weight_decay, amsgrad, step, l2):
    """PyTorch's AdamW, step number ``step``: ``W <- W (1 - lr weight_decay)``
    (weights only), ``m``, ``v`` as Adam's, with AMSGrad ``s <- max(s, v)``
    (else ``s = v``), then ``W <- W - lr / (1 - beta_1^t) m / (sqrt(s) / sqrt(1 - beta_2^t) + epsilon)``."""
    t = W.dtype.type
    step_size = t(lr / (1.0 - beta_1**step))
    root = t(np.sqrt(1.0 - beta_2**step))
    beta_1, beta_2, epsilon, l2 = t(beta_1), t(beta_2), t(epsilon), t(l2)
    sumsq = _sumsq(W)
    G = dW + l2 * W
    W *= t(1.0 - lr * weight_decay)
    for P, M, V, S, g in ((W, mW, vW, sW, G), (b, mb, vb, sb, db)):
        M[...] = beta_1 * M + (t(1) - beta_1) * g
        V[...] = beta_2 * V + (t(1) - beta_2) * g * g
        if amsgrad:
            np.maximum(S, V, out=S)
        P -= step_size * M / (np.sqrt(S if amsgrad else V) / root + epsilon)
    return sumsq


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

    name, code, twin, state_copies = "sgd", _codes.SGD, staticmethod(momentum_update), 1
    params = (("momentum", _codes.SGD_MOMENTUM, check_fraction), ("nesterov", _codes.SGD_NESTEROV, check_flag))

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

    name, code, twin, state_copies = "adam", _codes.ADAM, staticmethod(adam_update), 2
    params = (("beta_1", _codes.ADAM_BETA_1, check_fraction), ("beta_2", _codes.ADAM_BETA_2, check_fraction),
              ("epsilon", _codes.ADAM_EPSILON, check_positive_number))

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

    name, code, twin, state_copies = "rmsprop", _codes.RMSPROP, staticmethod(rmsprop_update), 1
    params = (("rho", _codes.RMSPROP_RHO, check_fraction), ("epsilon", _codes.RMSPROP_EPSILON, check_positive_number))

    def __init__(self, rho: float = 0.99, epsilon: float = 1e-8, l2: float = 0.0) -> None:
        super().__init__(l2, rho=rho, epsilon=epsilon)


class AdamW(Optimizer):
    """AdamW (Loshchilov & Hutter), PyTorch's ``torch.optim.AdamW`` rule exactly:
    decoupled weight decay, bias correction, ``epsilon`` added after the
    corrected square root; optionally AMSGrad.

    Weight decay shrinks the weights, not the biases (as fastbp's ``l2``):
    ``torch.optim.AdamW`` with the biases in a group of ``weight_decay=0``.

    Parameters
    ----------
    beta_1, beta_2 : float in [0, 1)
        Decay rates of the first and second moment estimates.
    epsilon : float > 0
        Added to the bias-corrected ``sqrt(v)`` in the step's denominator.
    weight_decay : float >= 0
        Each step first multiplies the weights by ``1 - lr * weight_decay``.
    amsgrad : bool
        Divide by the running maximum of ``v`` (a third state buffer) instead of ``v``.
    l2 : float >= 0
        As for :class:`SGD` (added to the gradient); 0 for PyTorch's rule.
    """

    name, code, twin, state_copies = "adamw", _codes.ADAMW, staticmethod(adamw_update), 3
    params = (("beta_1", _codes.ADAMW_BETA_1, check_fraction), ("beta_2", _codes.ADAMW_BETA_2, check_fraction),
              ("epsilon", _codes.ADAMW_EPSILON, check_positive_number),
              ("weight_decay", _codes.ADAMW_WEIGHT_DECAY, check_nonnegative_number),
              ("amsgrad", _codes.ADAMW_AMSGRAD, check_flag))

    def __init__(self, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8, weight_decay: float = 0.01,
                 amsgrad: bool = False, l2: float = 0.0) -> None:
        super().__init__(l2, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, weight_decay=weight_decay,
                         amsgrad=amsgrad)

    @property
    def copies(self) -> int:
        return 3 if self.amsgrad else 2  # the running maximum only with AMSGrad


def is_plain(optimizer, hyper):
    """The rule, on an optimizer's code and ``hyper`` array: SGD without
    momentum or L2 (``W -= lr * dW``, no state), which the fused plain epoch
    runs. The reference's twin of ``kernels.is_plain``."""
    return (optimizer == SGD.code and hyper[SGD.hyper_index("momentum")] == 0
            and hyper[HYPER_L2] == 0 and hyper[HYPER_ALPHA] == 0)


#: Every optimizer record, in the order the command lists them.
RECORDS: tuple[type[Optimizer], ...] = (SGD, Adam, RMSprop, AdamW)
#: Every optimizer by its code: what the compiled epoch may be handed.
SPECS: dict[int, type[Optimizer]] = {spec.code: spec for spec in RECORDS}

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
