"""Every output kind, one record each: what a network's last layer means.

An output kind (:class:`Output`) is an output activation together with the
rules that read its values: the loss a network gets when none is named,
whether it classifies, what ``predict``, ``predict_proba`` and ``score``
make of the outputs, how many class labels it names, which rows a
validation accuracy counts as right, the classes ``class_weight`` weighs,
and scikit-learn's name for it. ``Network``, the training loop, the
estimators and the command ask these records; none of them compares output
names.

Adding one (say a tempered softmax): its code in ``fastbp/_codes.py``, its
forward branch in ``fastbp/kernels/_activation.py``, its NumPy twin's record
in :mod:`fastbp.activations`, and its record here (with the losses that may
follow it in :mod:`fastbp.losses`, where a pair is new).

This module is plain Python and NumPy.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .activations import ACTIVATIONS, Activation

__all__ = ["Output", "OUTPUT_KINDS", "BY_SKLEARN_NAME", "output_kind"]


@dataclass(frozen=True)
class Output:
    """An output kind and the rules that read its outputs ``A`` (``(n, n_out)``).

    Attributes
    ----------
    name : str
        The name ``Network(output=...)`` takes; also its activation's name.
    default_loss : str
        The loss a network gets when none is named (a name of ``fastbp.losses.LOSSES``).
    sklearn_name : str
        scikit-learn's ``out_activation_`` for it.
    classifier : bool
        Whether its outputs are class probabilities (``predict_proba``,
        accuracies, ``classes``, ``class_weight``); else values (R²).
    min_units : int
        The fewest output units it takes.
    loss_note : str
        Why a loss it does not take cannot follow it (appended to that error).
    """

    name: str
    default_loss: str
    sklearn_name: str
    classifier: bool = True
    min_units: int = 1
    loss_note: str = ""

    @property
    def activation(self) -> Activation:
        """Its activation's record (code, NumPy twin, ONNX form)."""
        return ACTIVATIONS[self.name]

    def require_classifier(self, what: str) -> None:
        """A ValueError saying ``what`` needs a classifier's output, unless this is one."""
        if not self.classifier:
            raise ValueError(f"{what} needs a softmax or sigmoid output; this network's output is {self.name}, "
                             "which gives values")

    def single_label(self, n_out: int) -> bool:
        """Whether ``predict`` gives one class label per row (softmax, one sigmoid unit)."""
        return self.classifier

    def labels_are_units(self, n_out: int) -> bool:
        """Whether 1-D targets are unit indices ``0..n_out-1``, one-hot encoded by ``fit``."""
        return False

    def n_labels(self, n_out: int) -> int:
        """How many class labels (``Network.classes``) a network of ``n_out`` units names."""
        return n_out

    def predict(self, A: np.ndarray, classes: np.ndarray | None) -> np.ndarray:
        """``predict``'s answer for outputs ``A``: labels (``classes``, or unit indices) or values."""
        return A

    def proba(self, A: np.ndarray) -> np.ndarray:
        """``predict_proba``'s answer for outputs ``A``."""
        self.require_classifier("predict_proba")
        return A

    def right(self, A: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """Per row, whether ``score`` counts it right (a bool per row)."""
        self.require_classifier("an accuracy")
        raise NotImplementedError

    def right_share(self, A: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """Per row, the share of it a validation accuracy counts right."""
        return self.right(A, Y)

    def classes_of(self, Y: np.ndarray) -> tuple[np.ndarray, int]:
        """The class index of each target row and the number of classes, for ``class_weight``."""
        units = f" of {Y.shape[1]} units" if self.classifier else ""
        raise ValueError(f"class_weight needs a classifier: a softmax output or a sigmoid output of one unit; "
                         f"this network's output is {self.name}{units}")


@dataclass(frozen=True)
class _Softmax(Output):
    def labels_are_units(self, n_out):
        return True

    def predict(self, A, classes):
        index = A.argmax(axis=1)
        return index if classes is None else classes[index]

    def right(self, A, Y):
        return A.argmax(axis=1) == Y.argmax(axis=1)

    def classes_of(self, Y):
        return Y.argmax(axis=1), Y.shape[1]


@dataclass(frozen=True)
class _Sigmoid(Output):
    """Independent units: one is a binary classifier (labels negative,
    positive); several are a multi-label one (0/1 per unit)."""

    def single_label(self, n_out):
        return n_out == 1

    def n_labels(self, n_out):
        return 2 if n_out == 1 else n_out

    def predict(self, A, classes):
        labels = (A > 0.5).astype(np.int64)
        if labels.shape[1] > 1:
            return labels
        return labels[:, 0] if classes is None else classes[labels[:, 0]]

    def proba(self, A):
        return np.hstack([1 - A, A]) if A.shape[1] == 1 else A

    def right(self, A, Y):  # every unit on the right side: scikit-learn's subset accuracy
        return np.all((A > 0.5) == (Y > 0.5), axis=1)

    def right_share(self, A, Y):
        return np.mean((A > 0.5) == (Y > 0.5), axis=1)

    def classes_of(self, Y):
        if Y.shape[1] != 1:
            return super().classes_of(Y)
        return (Y[:, 0] > 0.5).astype(np.int64), 2


@dataclass(frozen=True)
class _Identity(Output):
    def n_labels(self, n_out):
        self.require_classifier("classes")


_RECORDS = (
    _Softmax("softmax", "cross_entropy", "softmax", min_units=2,
             loss_note=" (the softmax derivative is a Jacobian, not elementwise)"),
    _Sigmoid("sigmoid", "binary_cross_entropy", "logistic"),
    _Identity("identity", "mse", "identity", classifier=False),
)

#: Every output kind by name.
OUTPUT_KINDS: dict[str, Output] = {o.name: o for o in _RECORDS}
#: Every output kind by scikit-learn's ``out_activation_``.
BY_SKLEARN_NAME: dict[str, Output] = {o.sklearn_name: o for o in _RECORDS}


def output_kind(name) -> Output:
    """The record of output ``name``; a ValueError naming the choices for any other value."""
    kind = OUTPUT_KINDS.get(name) if isinstance(name, str) else None
    if kind is None:
        raise ValueError(f"unknown output {name!r}; valid output activations: "
                         f"{', '.join(map(repr, OUTPUT_KINDS))}")
    return kind
