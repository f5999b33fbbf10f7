"""Checks of single values (counts, fractions, rates, flags, a value in the
network's dtype), each raising an error that names the value: what the
records (``losses``, ``optimizers``) and ``fit``'s options check their
parameters with. A module of its own, importing nothing of fastbp's but its
errors, so that the records need not import ``_validation`` (which imports
them)."""
from __future__ import annotations

import math
import numbers

import numpy as np

from .errors import InputTypeError


def check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputTypeError(f"{name} must be a positive integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_fraction(value, name: str) -> float:
    """A number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return value


def check_nonnegative_number(value, name: str, strict: bool = False) -> float:
    """A finite number >= 0 (> 0 with ``strict``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (strict and value == 0):
        raise ValueError(f"{name} must be {'> 0' if strict else '>= 0'} and finite, got {value!r}")
    return value


def check_positive_number(value, name: str) -> float:
    """A finite number > 0."""
    return check_nonnegative_number(value, name, strict=True)


def check_in_dtype(values: dict, dtype, owner: str) -> None:
    """Refuse a nonzero finite hyper-parameter that the network's ``dtype``
    cannot hold: 0 (below its smallest subnormal) or inf (beyond its largest),
    where the kernels would compute with it, naming ``owner``, the value and the dtype."""
    dtype = np.dtype(dtype)
    info = np.finfo(dtype)
    for name, value in values.items():
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            continue
        value = float(value)
        if value == 0 or not math.isfinite(value):
            continue
        with np.errstate(over="ignore", under="ignore"):
            held = dtype.type(value)
        if held == 0 or not np.isfinite(held):
            raise ValueError(
                f"{owner}{name}={value!r} is {'0' if held == 0 else 'infinite'} in {dtype.name}, the network's "
                f"dtype (it holds magnitudes from {float(info.smallest_subnormal):.3g} to {float(info.max):.3g}); "
                f"choose a value in that range, or dtype='float64'"
            )


def check_flag(value, name: str) -> bool:
    """True or False (NumPy's bools too)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_learning_rate(lr, name: str = "lr") -> float:
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
        raise InputTypeError(f"{name} must be a positive finite number, got {lr!r}")
    lr = float(lr)
    if not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {lr!r}")
    return lr
