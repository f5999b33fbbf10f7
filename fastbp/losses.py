"""Every loss, one record each: the table the rest of fastbp reads.

A loss class is its own specification: ``name`` (what ``Network(loss=...)``
and the command's ``--loss`` take), ``code`` (the kernels', ``fastbp._codes``),
``outputs`` (the output activations it is defined with), ``params`` (its
hyper-parameters: name, slot in the kernels' loss array, check) and its NumPy
arithmetic, which ``fastbp.reference`` computes with. An object holds the
parameters' values; ``pack()`` is the float64 array the kernels take (code,
then parameters). Pass a name for the defaults, an object to set them::

    fastbp.Network([8, 32, 1], output="identity", loss="huber")                        # delta 1.0
    fastbp.Network([8, 32, 1], output="identity", loss=fastbp.losses.Huber(delta=0.5))

Adding one: its code (and parameter slots) in ``fastbp/_codes.py``; its
branches of ``_loss_sum`` and ``output_delta`` in ``fastbp/kernels/loss.py``;
its class here, listed in :data:`LOSSES`.

This module is plain Python and NumPy.
"""
from __future__ import annotations

from typing import Callable, ClassVar

import numpy as np

from . import _codes
from ._checks import check_positive_number

__all__ = ["Loss", "MSE", "CrossEntropy", "BinaryCrossEntropy", "Huber", "LOSSES", "resolve", "by_code"]


class Loss:
    """Base class: a loss's specification (class attributes) and its parameters' values.

    Attributes
    ----------
    name : str
    code : int
    outputs : tuple
        The names of the output activations it may be used with.
    cancels : bool
        Whether the output delta is ``A - Y`` whatever the activation's
        derivative (cross-entropy with softmax, binary cross-entropy with
        sigmoid); otherwise it is ``gradient(A, Y) * act'(Z)``.
    params : tuple
        Hyper-parameters, each ``(its name, its slot in the loss array, its check)``.
    """

    name: ClassVar[str]
    code: ClassVar[int]
    outputs: ClassVar[tuple[str, ...]]
    cancels: ClassVar[bool] = False
    params: ClassVar[tuple[tuple[str, int, Callable], ...]] = ()

    def __init__(self, **values) -> None:
        for name, _, check in self.params:
            setattr(self, name, check(values.pop(name), name))
        if values:
            raise TypeError(f"{type(self).__name__}() got unknown parameters {sorted(values)}")

    def values(self) -> dict:
        """The hyper-parameters by name."""
        return {name: getattr(self, name) for name, _, _ in self.params}

    def pack(self) -> np.ndarray:
        """The kernels' loss array: the code, then each parameter in its slot."""
        packed = np.zeros(1 + len(self.params))
        packed[_codes.LOSS_CODE] = self.code
        for name, slot, _ in self.params:
            packed[slot] = getattr(self, name)
        return packed

    @staticmethod
    def per_sample(A: np.ndarray, Y: np.ndarray, packed: np.ndarray, tiny: float) -> np.ndarray:
        """Each sample's loss, ``(B,)``, from float64 rows ``A``, ``Y`` (``(B, n)``);
        probabilities are clipped below at ``tiny``, the network dtype's smallest normal number."""
        raise NotImplementedError

    @staticmethod
    def gradient(A: np.ndarray, Y: np.ndarray, packed: np.ndarray) -> np.ndarray:
        """``dL/dA`` per element, in ``A``'s dtype (unused where ``cancels``)."""
        return A - Y

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.values() == other.values()

    def __hash__(self) -> int:
        return hash((type(self), tuple(self.values().items())))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.values().items())})"


def _clipped_log(P: np.ndarray, tiny: float) -> np.ndarray:
    """``log`` of probabilities clipped below at ``tiny``: a saturated output
    gives a large finite loss, not inf."""
    return np.log(np.maximum(P, tiny))


class MSE(Loss):
    """Half the squared error summed over outputs, ``0.5 * ||a - y||**2`` per sample."""

    name, code, outputs = "mse", _codes.MSE, ("identity", "sigmoid")

    @staticmethod
    def per_sample(A, Y, packed, tiny):
        return 0.5 * np.sum((A - Y) ** 2, axis=1)


class CrossEntropy(Loss):
    """``-sum_j y_j log a_j`` per sample, with a softmax output."""

    name, code, outputs, cancels = "cross_entropy", _codes.CROSS_ENTROPY, ("softmax",), True

    @staticmethod
    def per_sample(A, Y, packed, tiny):
        return -np.sum(np.where(Y != 0, Y * _clipped_log(A, tiny), 0.0), axis=1)


class BinaryCrossEntropy(Loss):
    """``-sum_j (y_j log a_j + (1 - y_j) log(1 - a_j))`` per sample, with sigmoid outputs."""

    name, code, outputs, cancels = "binary_cross_entropy", _codes.BINARY_CROSS_ENTROPY, ("sigmoid",), True

    @staticmethod
    def per_sample(A, Y, packed, tiny):
        pos = np.where(Y != 0, Y * _clipped_log(A, tiny), 0.0)
        neg = np.where(Y != 1, (1 - Y) * _clipped_log(1 - A, tiny), 0.0)
        return -np.sum(pos + neg, axis=1)


class Huber(Loss):
    """Huber's loss summed over outputs: per element of ``r = a - y``, ``0.5 r**2``
    where ``|r| <= delta``, else ``delta * (|r| - 0.5 delta)``; the mean over
    samples is ``torch.nn.HuberLoss(delta=delta, reduction="sum")`` divided
    by the number of samples, and as ``delta`` grows it becomes ``mse``.

    Parameters
    ----------
    delta : float > 0
        Where the loss turns from quadratic to linear.
    """

    name, code, outputs = "huber", _codes.HUBER, ("identity",)
    params = (("delta", _codes.HUBER_DELTA, check_positive_number),)

    def __init__(self, delta: float = 1.0) -> None:
        super().__init__(delta=delta)

    @staticmethod
    def per_sample(A, Y, packed, tiny):
        delta = packed[_codes.HUBER_DELTA]
        r = np.abs(A - Y)
        return np.sum(np.where(r <= delta, 0.5 * r * r, delta * (r - 0.5 * delta)), axis=1)

    @staticmethod
    def gradient(A, Y, packed):
        delta = A.dtype.type(packed[_codes.HUBER_DELTA])
        return np.clip(A - Y, -delta, delta)


#: Every loss record.
RECORDS: tuple[type[Loss], ...] = (MSE, CrossEntropy, BinaryCrossEntropy, Huber)
#: Every loss by name (each class makes its default object).
LOSSES: dict[str, type[Loss]] = {spec.name: spec for spec in RECORDS}


def resolve(loss: str | Loss, values: dict | None = None) -> Loss:
    """A :class:`Loss` for a name of :data:`LOSSES` (with parameter ``values``,
    else its defaults) or the object itself; a ValueError naming the choices otherwise."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss in LOSSES:
        try:
            return LOSSES[loss](**(values or {}))
        except TypeError as exc:
            raise ValueError(f"loss {loss!r}: {exc}") from None
    raise ValueError(f"unknown loss {loss!r}; valid losses: {', '.join(map(repr, LOSSES))}, "
                     "or a fastbp.losses object such as Huber(delta=0.5)")


def by_code(packed) -> type[Loss]:
    """The class of the loss array ``packed`` (its code first); a ValueError for a code with none."""
    code = int(np.asarray(packed).reshape(-1)[_codes.LOSS_CODE])
    for spec in LOSSES.values():
        if spec.code == code:
            return spec
    raise ValueError(f"unknown loss code {code}; known: {sorted(s.code for s in LOSSES.values())}")
