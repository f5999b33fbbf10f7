"""Every activation, one record each: the table the rest of fastbp reads.

A record (:class:`Activation`) holds what each part needs: the name users
pass, the code the kernels branch on (``fastbp._codes``), whether a hidden
layer may take it, the NumPy function and derivative that
``fastbp.reference`` computes with, its ONNX form, its initial weights'
scale, and scikit-learn's name for it. The constructor's and the command's
choices, the docs' table, the kernel/twin table (``fastbp.testing``) and the
tests are derived from :data:`ACTIVATIONS`. The output layer's activations
are also output kinds, with the rules that read them (:mod:`fastbp.outputs`).

Adding one (say softplus): its code in ``fastbp/_codes.py``; its forward
and derivative branches in ``fastbp/kernels/_activation.py``; its record
here. (``fastbp/kernels/_tiles.py`` may fuse it into the register tiles for
speed; nothing requires it.)

This module is plain Python and NumPy.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import _codes

__all__ = ["Activation", "ACTIVATIONS", "BY_CODE", "HIDDEN", "by_code"]


def _erf(x: np.ndarray) -> np.ndarray:
    # Imported on first use: scipy.special would add most of a second to ``import fastbp``.
    from scipy.special import erf

    return erf(x)


def _sigmoid(Z):
    with np.errstate(over="ignore"):  # exp(-z) -> inf gives the right limit 0
        return 1 / (1 + np.exp(-Z))


def _softmax(Z):
    E = np.exp(Z - Z.max(axis=0, keepdims=True))
    return E / E.sum(axis=0, keepdims=True)


def _gelu(Z):
    return Z.dtype.type(0.5) * Z * (1 + _erf(Z / np.sqrt(Z.dtype.type(2))))


def _gelu_derivative(A, Z):  # Phi(z) + z phi(z)
    return (1 + _erf(Z / np.sqrt(Z.dtype.type(2)))) / 2 + Z * np.exp(-Z * Z / 2) / np.sqrt(Z.dtype.type(2 * np.pi))


def _silu(Z):
    with np.errstate(over="ignore"):
        return Z / (1 + np.exp(-Z))


def _silu_derivative(A, Z):  # s (1 + z (1 - s)), s = sigmoid(z)
    s = _sigmoid(Z)
    return s * (1 + Z * (1 - s))


def _onnx_op(op: str, **attrs) -> Callable:
    """The ONNX form of an activation that is one operator."""
    return lambda node, x, y, const: [node(op, [x], [y], **attrs)]


def _onnx_silu(node, x, y, const):
    return [node("Sigmoid", [x], [y + "_s"]), node("Mul", [x, y + "_s"], [y])]


def _onnx_gelu(node, x, y, const):  # x * (1 + erf(x / sqrt(2))) / 2, the exact form fastbp computes
    return [
        node("Mul", [x, const(y + "_rsqrt2", 1 / math.sqrt(2))], [y + "_a"]),
        node("Erf", [y + "_a"], [y + "_b"]),
        node("Add", [y + "_b", const(y + "_one", 1.0)], [y + "_c"]),
        node("Mul", [x, y + "_c"], [y + "_d"]),
        node("Mul", [y + "_d", const(y + "_half", 0.5)], [y]),
    ]


@dataclass(frozen=True)
class Activation:
    """One activation.

    Attributes
    ----------
    name : str
        What ``Network(activation=..., output=...)`` and ``--activation`` take.
    code : int
        The kernels' code (``fastbp._codes``).
    function : callable
        ``A = function(Z)`` in NumPy on blocks of columns ``(n, B)`` (softmax over each column).
    derivative : callable or None
        ``act'(z)`` elementwise from ``(A, Z)``; None where it is not elementwise (softmax).
    onnx : callable
        ``onnx(make_node, x, y, const) -> [nodes]``: the ONNX graph from input ``x`` to output ``y``;
        ``const(name, value)`` adds a scalar initializer of the network's dtype and returns its name.
    hidden : bool
        Whether it may be a hidden layer's activation (the output layer's are
        the output kinds of :mod:`fastbp.outputs`).
    init_scale : float
        Initial weights are uniform in ``±sqrt(init_scale / (n_in + n_out))`` (Glorot's 6;
        scikit-learn's 2 for sigmoid).
    sklearn_name : str or None
        scikit-learn's name for it, where scikit-learn has it.
    """

    name: str
    code: int
    function: Callable[[np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray, np.ndarray], np.ndarray] | None
    onnx: Callable
    hidden: bool = True
    init_scale: float = 6.0
    sklearn_name: str | None = None

    @property
    def keeps_z(self) -> bool:
        """Whether its layers keep Z for the derivative (``_codes.keeps_z``)."""
        return _codes.keeps_z(self.code)


def _one(A, Z):
    return np.ones_like(A)


_RECORDS = (
    Activation("sigmoid", _codes.SIGMOID, _sigmoid, lambda A, Z: A * (1 - A), _onnx_op("Sigmoid"),
               init_scale=2.0, sklearn_name="logistic"),
    Activation("tanh", _codes.TANH, np.tanh, lambda A, Z: 1 - A * A, _onnx_op("Tanh"), sklearn_name="tanh"),
    Activation("relu", _codes.RELU, lambda Z: np.maximum(Z, 0), lambda A, Z: (A > 0).astype(A.dtype),
               _onnx_op("Relu"), sklearn_name="relu"),
    Activation("leaky_relu", _codes.LEAKY_RELU,
               lambda Z: np.where(Z > 0, Z, Z.dtype.type(_codes.LEAKY_SLOPE) * Z),
               lambda A, Z: np.where(A > 0, A.dtype.type(1), A.dtype.type(_codes.LEAKY_SLOPE)),
               _onnx_op("LeakyRelu", alpha=_codes.LEAKY_SLOPE)),
    Activation("identity", _codes.IDENTITY, lambda Z: Z, _one, _onnx_op("Identity"),
               sklearn_name="identity"),
    Activation("gelu", _codes.GELU, _gelu, _gelu_derivative, _onnx_gelu),
    Activation("silu", _codes.SILU, _silu, _silu_derivative, _onnx_silu),
    Activation("softmax", _codes.SOFTMAX, _softmax, None, _onnx_op("Softmax", axis=1), hidden=False,
               sklearn_name="softmax"),
)

#: Every activation by name.
ACTIVATIONS: dict[str, Activation] = {a.name: a for a in _RECORDS}
#: Every activation by code.
BY_CODE: dict[int, Activation] = {a.code: a for a in _RECORDS}
#: The names a hidden layer may take.
HIDDEN: tuple[str, ...] = tuple(a.name for a in _RECORDS if a.hidden)


def by_code(code) -> Activation:
    """The record of activation ``code``; a ValueError for a code with none."""
    record = BY_CODE.get(int(code))
    if record is None:
        raise ValueError(f"unknown activation code {code}; known: {sorted(BY_CODE)}")
    return record
