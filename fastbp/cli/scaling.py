"""Standardisation of the command's features and regression targets.

Gradient descent with one learning rate for every weight needs inputs of
about unit scale: a column in the thousands beside one in thousandths makes
the first layer's gradient steer by the large one alone (the network then
learns a constant, or diverges at an ordinary rate). The command therefore
standardises each feature, and a regression target, to mean 0 and standard
deviation 1 over the training rows, and stores the means and deviations in
the model file, where ``fastbp predict`` finds them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


_TINY = 1e-12  # a deviation at most this fraction of the mean (or of 1) is rounding


@dataclass(frozen=True)
class Standardizer:
    """``(x - mean) / scale`` per column; ``scale`` is 1 for a constant column."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray) -> "Standardizer":
        values = np.asarray(values, dtype=np.float64)
        mean = np.atleast_1d(values.mean(axis=0))
        with np.errstate(over="ignore"):
            scale = np.atleast_1d(values.std(axis=0))
        # Columns past ~1e154, whose squares overflow: their deviation in units of their largest value.
        huge = ~np.isfinite(scale) & np.isfinite(mean)
        if huge.any():
            columns = values.reshape(len(values), -1)[:, huge]
            unit = np.abs(columns).max(axis=0)
            scale[huge] = (columns / unit).std(axis=0) * unit
        # A column constant to rounding carries nothing to learn: keep it as it is, centred.
        tiny = scale <= _TINY * np.maximum(np.abs(mean), 1.0)
        scale = np.where(tiny | ~np.isfinite(scale), 1.0, scale)
        return cls(mean, scale)

    def apply(self, values: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):  # a value too large for the scaling: the caller names its cell
            return (np.asarray(values, dtype=np.float64) - self.mean) / self.scale

    def invert(self, values: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):  # a damaged scale: the caller checks the result
            return np.asarray(values, dtype=np.float64) * self.scale + self.mean

    def to_json(self) -> dict:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_json(cls, value, width: int, what: str) -> "Standardizer":
        """The standardizer a model file stored; ValueError naming ``what`` if it is malformed."""
        try:
            mean, scale = value["mean"], value["scale"]
            ok = (isinstance(mean, list) and isinstance(scale, list) and len(mean) == len(scale) == width
                  and all(type(v) in (int, float) and math.isfinite(v) for v in mean + scale)
                  # What fit makes: a deviation beyond the column's rounding (else 1).
                  and all(s > _TINY * max(abs(m), 1.0) for m, s in zip(mean, scale)))
        except (TypeError, KeyError):
            ok = False
        if not ok:
            raise ValueError(f"the model file's {what} is malformed: {width} finite means and deviations "
                             f"expected, each deviation above {_TINY:g} times its mean's size (or 1)")
        return cls(np.array(mean, dtype=np.float64), np.array(scale, dtype=np.float64))
