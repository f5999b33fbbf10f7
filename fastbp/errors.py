"""The exceptions fastbp raises of its own (each also a built-in kind, so
code that catches ``ValueError`` or ``TypeError`` catches them too)."""
from __future__ import annotations

__all__ = ["InputTypeError", "TrainingDivergedError", "StalledTrainingWarning"]


class InputTypeError(TypeError, ValueError):
    """An argument of the wrong kind (a string array, a non-number).

    It is both a ``TypeError`` and a ``ValueError`` so that either ``except``
    catches it, as NumPy's ``AxisError`` is both a ``ValueError`` and an
    ``IndexError``.
    """


class TrainingDivergedError(FloatingPointError, ValueError):
    """Training produced a non-finite loss or parameter.

    The network has been put back to its last finite parameters. The history
    of the epochs finished before the divergence is in ``.history``.
    """

    def __init__(self, message: str, history: dict | None = None):
        super().__init__(message)
        self.history = history


class StalledTrainingWarning(UserWarning):
    """The loss did not improve over a fit's first epochs and the features are
    far from unit scale: standardise them (the command does by default)."""
