"""Optimizers for ``Network.fit``: SGD with momentum or Nesterov momentum, and Adam.

Their update rules are scikit-learn's (``sklearn.neural_network``), run as
fused in-place kernels inside the compiled epoch. An optimizer object keeps
its state (velocities, or Adam's moments and step count) between ``fit``
calls, as a PyTorch optimizer does: pass the same object again to continue
training, a new one (or a name) to start afresh.

    net.fit(X, y, lr=0.01, optimizer="nesterov")
    opt = fastbp.optimizers.Adam(l2=1e-4)
    for _ in range(10):
        net.fit(X, y, epochs=1, lr=1e-3, optimizer=opt)
"""
from __future__ import annotations

import math

import numpy as np

from ._codes import ADAM, MOMENTUM, NESTEROV

__all__ = ["Optimizer", "SGD", "Adam", "resolve", "NAMES"]

#: The names ``fit(optimizer=...)`` takes, with what each stands for.
NAMES = {
    "sgd": "SGD()",
    "momentum": "SGD(momentum=0.9)",
    "nesterov": "SGD(momentum=0.9, nesterov=True)",
    "adam": "Adam()",
}


def _check_fraction(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return value


def _check_nonnegative(value, name: str, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (strict and value == 0):
        raise ValueError(f"{name} must be {'> 0' if strict else '>= 0'} and finite, got {value!r}")
    return value


class Optimizer:
    """Base class: hyperparameters, and state bound to one network's parameters."""

    _code: int
    _state_copies: int  # flat state buffers the size of the parameters

    def __init__(self, l2: float = 0.0) -> None:
        self.l2 = _check_nonnegative(l2, "l2")
        self.reset()

    def reset(self) -> None:
        """Forget the state (velocities or moments, and the step count)."""
        self._state: np.ndarray | None = None
        self.step_count = 0

    @property
    def is_plain_sgd(self) -> bool:
        """True when the update is ``W -= lr * dW`` (no momentum, no L2)."""
        return False

    @property
    def code(self) -> int:
        """Optimizer code of the compiled epoch (``fastbp._codes``)."""
        return self._code

    def hyper(self, lr: float, alpha: float = 0.0) -> np.ndarray:
        """The ``hyper`` array of ``train_epoch_optim`` for learning rate ``lr``
        (``alpha``: scikit-learn's L2, divided by each batch's size)."""
        raise NotImplementedError

    def state_for(self, n_params: int, dtype: np.dtype) -> np.ndarray:
        """The flat state buffer for a network of ``n_params`` parameters of
        ``dtype``: zeros the first time, the same buffer after."""
        size = self._state_copies * n_params
        if self._state is None:
            self._state = np.zeros(size, dtype=dtype)
        elif self._state.size != size or self._state.dtype != dtype:
            raise ValueError(
                f"this {type(self).__name__} holds state for {self._state.size // self._state_copies} "
                f"{self._state.dtype.name} parameters, not {n_params} {np.dtype(dtype).name}: it was used "
                "with another network; call .reset() or pass a new optimizer"
            )
        return self._state


class SGD(Optimizer):
    """Minibatch SGD, optionally with momentum and L2 weight decay.

    Parameters
    ----------
    momentum : float in [0, 1)
        ``v <- momentum * v - lr * g; W <- W + v`` (scikit-learn's form).
    nesterov : bool
        Nesterov's momentum: ``W <- W + momentum * v - lr * g`` after the same ``v`` update.
    l2 : float >= 0
        Weight decay: ``l2 * W`` is added to each weight gradient (biases are
        not penalised) and ``0.5 * l2 * sum(W**2)`` to the reported loss.
    """

    _state_copies = 1

    def __init__(self, momentum: float = 0.0, nesterov: bool = False, l2: float = 0.0) -> None:
        self.momentum = _check_fraction(momentum, "momentum")
        if not isinstance(nesterov, (bool, np.bool_)):
            raise ValueError(f"nesterov must be True or False, got {nesterov!r}")
        self.nesterov = bool(nesterov)
        super().__init__(l2)

    @property
    def is_plain_sgd(self) -> bool:
        return self.momentum == 0.0 and self.l2 == 0.0

    @property
    def _code(self) -> int:
        return NESTEROV if self.nesterov else MOMENTUM

    def hyper(self, lr: float, alpha: float = 0.0) -> np.ndarray:
        return np.array([lr, self.momentum, 0.0, 0.0, self.l2, alpha], dtype=np.float64)

    def __repr__(self) -> str:
        return f"SGD(momentum={self.momentum}, nesterov={self.nesterov}, l2={self.l2})"


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

    _code = ADAM
    _state_copies = 2

    def __init__(self, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8, l2: float = 0.0) -> None:
        self.beta_1 = _check_fraction(beta_1, "beta_1")
        self.beta_2 = _check_fraction(beta_2, "beta_2")
        self.epsilon = _check_nonnegative(epsilon, "epsilon", strict=True)
        super().__init__(l2)

    def hyper(self, lr: float, alpha: float = 0.0) -> np.ndarray:
        return np.array([lr, self.beta_1, self.beta_2, self.epsilon, self.l2, alpha], dtype=np.float64)

    def __repr__(self) -> str:
        return f"Adam(beta_1={self.beta_1}, beta_2={self.beta_2}, epsilon={self.epsilon}, l2={self.l2})"



def resolve(optimizer: str | Optimizer) -> Optimizer:
    """An :class:`Optimizer` for a name of :data:`NAMES` (a new one each call) or the object itself."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer in NAMES:
        return {
            "sgd": lambda: SGD(),
            "momentum": lambda: SGD(momentum=0.9),
            "nesterov": lambda: SGD(momentum=0.9, nesterov=True),
            "adam": lambda: Adam(),
        }[optimizer]()
    choices = ", ".join(repr(n) for n in NAMES)
    raise ValueError(f"unknown optimizer {optimizer!r}; valid: {choices}, or a fastbp.optimizers.SGD/Adam object")
