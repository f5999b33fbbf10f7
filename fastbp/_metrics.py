"""Scores as scikit-learn defines them (accuracy, R²), with optional sample
weights; NumPy only, so ``Network.score`` needs no scikit-learn."""
from __future__ import annotations

import numpy as np


def accuracy(right: np.ndarray, weights: np.ndarray | None = None) -> float:
    """The (weighted) share of samples predicted right (``right``: a bool per sample)."""
    return float(np.average(right, weights=weights))


def r2(Y: np.ndarray, P: np.ndarray, weights: np.ndarray | None = None) -> float:
    """R² of predictions ``P`` for targets ``Y`` (both ``(n, k)``), averaged
    over the k outputs: scikit-learn's ``r2_score`` (``multioutput='uniform_average'``,
    ``force_finite=True``: a constant target scores 1 if predicted exactly, else 0)."""
    Y, P = Y.astype(np.float64), P.astype(np.float64)
    w = np.ones(Y.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w[:, None]
    residual = np.sum(w * (Y - P) ** 2, axis=0)
    mean = np.sum(w * Y, axis=0) / np.sum(w)
    total = np.sum(w * (Y - mean) ** 2, axis=0)
    scores = np.where(total > 0, 1 - residual / np.where(total > 0, total, 1), np.where(residual == 0, 1.0, 0.0))
    return float(np.mean(scores))
