"""``fit``'s options beyond the loop itself: validation rows, early stopping,
learning-rate schedules, per-row weights and callbacks, each checked before
any training.

All of it runs once per epoch in Python, around one compiled epoch (or the
reference's twin), so a fit that uses none of it pays nothing in its batches.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .._checks import check_learning_rate, check_positive_int
from ..errors import InputTypeError

SCHEDULES = ("constant", "step", "cosine", "invscaling")
STEP_EPOCHS, STEP_FACTOR = 10, 0.5  # "step": halve the rate every 10 epochs
INVSCALING_POWER = 0.5  # "invscaling": lr / (epoch + 1) ** 0.5, scikit-learn's power_t


def validation_split_rows(n: int, fraction) -> int:
    """Rows kept for training when the last ``fraction`` of ``n`` is held out (Keras's rule)."""
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0 <= fraction < 1:
        raise ValueError(f"validation_split must be a number in [0, 1), got {fraction!r}")
    kept = int(n * (1 - float(fraction)))
    if kept < 1:
        raise ValueError(f"validation_split={fraction} leaves none of the {n} samples to train on")
    return kept


def schedule(lr_schedule, lr: float, epochs: int) -> Callable[[int], float]:
    """``epoch -> learning rate`` (epochs counted from 0 in this fit call).

    ``"constant"``: ``lr``; ``"step"``: halved every 10 epochs; ``"cosine"``:
    ``lr * (1 + cos(pi * epoch / epochs)) / 2`` (PyTorch's CosineAnnealingLR
    down to 0 over the fit); ``"invscaling"``: ``lr / (epoch + 1) ** 0.5``; a
    callable: its value, which must be a positive finite number.
    """
    if callable(lr_schedule):
        def custom(epoch: int) -> float:
            value = lr_schedule(epoch)
            try:
                return check_learning_rate(value, f"lr_schedule({epoch})")
            except InputTypeError as exc:
                raise ValueError(str(exc)) from None

        return custom
    if not isinstance(lr_schedule, str):
        raise ValueError(f"lr_schedule must be one of {SCHEDULES} or a callable epoch -> lr, got a "
                         f"{type(lr_schedule).__name__}" + (" (a list of rates: pass lambda epoch: rates[epoch])"
                                                            if hasattr(lr_schedule, "__len__") else ""))
    if lr_schedule == "constant":
        return lambda epoch: lr
    if lr_schedule == "step":
        return lambda epoch: lr * STEP_FACTOR ** (epoch // STEP_EPOCHS)
    if lr_schedule == "cosine":
        return lambda epoch: lr * 0.5 * (1 + math.cos(math.pi * epoch / epochs))
    if lr_schedule == "invscaling":
        return lambda epoch: lr / (epoch + 1) ** INVSCALING_POWER
    raise ValueError(f"lr_schedule must be one of {SCHEDULES} or a callable epoch -> lr, got {lr_schedule!r}")


#: What ``fit(monitor=...)`` may watch; accuracies are maximised, the losses minimised.
MONITORS = ("loss", "val_loss", "val_accuracy")


def check_monitor(monitor, validation, output) -> str:
    """The history key early stopping watches: ``monitor``, checked against
    what this fit's history will hold (``output``: the network's
    :class:`fastbp.outputs.Output`); by default ``val_loss`` with
    validation data, else ``loss``."""
    if monitor is None:
        return "val_loss" if validation is not None else "loss"
    if monitor not in MONITORS:
        raise ValueError(f"monitor must be one of {', '.join(MONITORS)}, got {monitor!r}")
    if monitor.startswith("val_") and validation is None:
        raise ValueError(f"monitor={monitor!r} needs validation data (validation_data, or a validation_split that "
                         "holds out at least one row)")
    if monitor == "val_accuracy":
        output.require_classifier("monitor='val_accuracy'")
    return monitor


class EarlyStopping:
    """Stop after ``patience`` epochs without the monitored value improving
    by more than ``min_delta`` (falling; rising for an accuracy); keep the best
    epoch's parameters to put back."""

    def __init__(self, monitor: str, patience, min_delta, restore_best: bool, params: np.ndarray):
        self.monitor = monitor
        self.sign = -1.0 if monitor.endswith("accuracy") else 1.0  # accuracies: higher is better
        self.patience = None if patience is None else check_positive_int(patience, "patience")
        if isinstance(min_delta, bool) or not isinstance(min_delta, numbers.Real) or not (
                math.isfinite(min_delta) and min_delta >= 0):
            raise ValueError(f"min_delta must be a finite number >= 0, got {min_delta!r}")
        self.min_delta = float(min_delta)
        if not isinstance(restore_best, (bool, np.bool_)):
            raise InputTypeError(f"restore_best must be True or False, got {restore_best!r}")
        self.restore_best = bool(restore_best)
        self.params = params
        self.best = math.inf
        self.best_epoch = -1
        self.best_params = None
        self.waited = 0

    def update(self, history: dict, epoch: int) -> bool:
        """Record the epoch just finished; False when training should stop."""
        value = self.sign * history[self.monitor][-1]
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.waited = value, epoch, 0
            if self.restore_best:
                self.best_params = self.params.copy()
            return True
        self.waited += 1
        return self.patience is None or self.waited < self.patience

    def finish(self) -> None:
        """Put the best epoch's parameters back (``restore_best``)."""
        if self.restore_best and self.best_params is not None:
            self.params[...] = self.best_params


#: Weights count only relative to each other (each step is their weighted
#: mean); when the largest is outside this range, all are divided by it, so
#: that 1e308 or 1e-320 train as 1 does instead of overflowing.
EXTREME_WEIGHTS = (1e-30, 1e30)


def row_weights(sample_weight, class_weight, Y: np.ndarray, output, dtype) -> np.ndarray | None:
    """Each row's weight in the loss and gradient (``sample_weight`` times its
    class's ``class_weight``), or None when both are None.

    The class of a row is the output kind's (``output.classes_of``): the
    argmax of its one-hot target (softmax) or its 0/1 target (one sigmoid
    unit); ``"balanced"`` weighs class c by
    ``n / (n_classes * count_c)``, scikit-learn's rule.
    """
    if sample_weight is None and class_weight is None:
        return None
    n = Y.shape[0]
    w = np.ones(n, dtype=np.float64)
    if sample_weight is not None:
        try:
            sw = np.asarray(sample_weight, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputTypeError(f"sample_weight must be numbers, got {type(sample_weight).__name__}") from None
        if sw.shape != (n,):
            raise ValueError(f"sample_weight must have one weight per sample, shape ({n},); got {sw.shape}")
        if not np.isfinite(sw).all() or (sw < 0).any():
            raise ValueError("sample_weight must be finite and >= 0")
        w *= sw
    if class_weight is not None:
        classes, k = output.classes_of(Y)
        if isinstance(class_weight, str) and class_weight == "balanced":
            counts = np.bincount(classes, minlength=k).astype(np.float64)
            present = counts > 0
            per_class = np.ones(k)
            per_class[present] = n / (present.sum() * counts[present])
        elif isinstance(class_weight, dict):
            per_class = np.ones(k)
            for c, value in class_weight.items():
                if isinstance(c, bool) or not isinstance(c, numbers.Integral) or not 0 <= c < k:
                    raise ValueError(f"class_weight keys must be class labels 0..{k - 1}, got {c!r}")
                if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
                        math.isfinite(value) and value >= 0):
                    raise ValueError(f"class_weight[{c}] must be a finite number >= 0, got {value!r}")
                per_class[c] = value
        else:
            raise ValueError(f"class_weight must be a dict {{label: weight}} or 'balanced', got {class_weight!r}")
        w *= per_class[classes]
    if not w.any():
        raise ValueError("sample_weight and class_weight give every sample weight 0: nothing to learn from")
    top = w.max()
    if not EXTREME_WEIGHTS[0] <= top <= EXTREME_WEIGHTS[1]:  # relative: only their ratios count
        w = w / top
    return w.astype(dtype)  # the largest is at least 1e-30: a normal number in float32 too


@dataclass
class TrainingData:
    """A fit's rows, converted for the network: the training ``X``, ``Y``, their
    per-row ``weights`` (None: all 1) and ``validation``, ``(X_val, Y_val)`` or None."""

    X: np.ndarray
    Y: np.ndarray
    weights: np.ndarray | None
    validation: tuple[np.ndarray, np.ndarray] | None


def check_validation_pair(validation_data) -> tuple:
    """``validation_data`` as the pair ``(X_val, y_val)`` it must be."""
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
        raise ValueError("validation_data must be a pair (X_val, y_val)")
    return tuple(validation_data)


class Extras:
    """``fit``'s optional arguments beyond the loop itself, checked before any training."""

    def __init__(self, validation_split, patience, min_delta, restore_best, lr_schedule, callback, sample_weight,
                 class_weight, validation_given: bool):
        self.validation_split = validation_split
        self.sample_weight = sample_weight
        self.class_weight = class_weight
        if callback is not None and not callable(callback):
            raise InputTypeError(f"callback must be a callable (epoch, history), got {callback!r}")
        schedule(lr_schedule, 1.0, 1)  # checks the name
        EarlyStopping("loss", patience, min_delta, restore_best, np.zeros(0))  # checks the three
        self.settings = (f"validation={validation_given or bool(validation_split)}, "
                         f"weighted={sample_weight is not None or class_weight is not None}, patience={patience}, "
                         f"min_delta={min_delta}, restore_best={restore_best}, "
                         f"lr_schedule={'callable' if callable(lr_schedule) else lr_schedule}")

    def describe(self) -> str:
        """What every rank of a data-parallel fit must have alike (each rank's data may differ)."""
        return self.settings

    def prepare(self, X, Y, validation, output, dtype, distributed: bool = False) -> TrainingData:
        """The training rows, their weights and the validation rows: ``validation``
        (already converted) or, with ``validation_split``, the end of ``X, Y``."""
        if distributed and isinstance(self.class_weight, str) and self.class_weight == "balanced":
            raise ValueError("class_weight='balanced' would count the classes of one rank's shard: with comm=, "
                             "pass a dict {label: weight} computed over all the data")
        weights = row_weights(self.sample_weight, self.class_weight, Y, output, dtype)
        if validation is None and self.validation_split:
            kept = validation_split_rows(X.shape[0], self.validation_split)
            if kept == X.shape[0]:
                raise ValueError(f"validation_split={self.validation_split} holds out none of the {X.shape[0]} "
                                 "samples: use a larger fraction, or 0 for no validation")
            validation = (X[kept:], Y[kept:])
            X, Y = X[:kept], Y[:kept]
            weights = None if weights is None else weights[:kept]
            if weights is not None and not weights.any():
                raise ValueError("the training rows left by validation_split all have weight 0")
        return TrainingData(X, Y, weights, validation)
