"""fastbp: train dense feed-forward networks by backpropagation, fast, on the CPU.

``fastbp.Network`` runs on Numba-compiled kernels (``fastbp.Ensemble``: many
networks trained side by side); ``fastbp.reference.Network``
is its plain NumPy twin with the same interface and results. While the
kernels a call needs are not compiled yet, ``fastbp.Network`` runs small calls
on that twin and compiles in the background (``fastbp.set_tier``).
"""
from __future__ import annotations

from ._version import __version__
from . import activations, losses, optimizers, reference
from ._threads import get_num_threads, set_num_threads
from ._tiers import get_tier, set_tier, tier
from .errors import InputTypeError, StalledTrainingWarning, TrainingDivergedError
from .network import Network
from .ensemble import Ensemble

__all__ = [
    "Network",
    "Ensemble",
    "reference",
    "optimizers",
    "losses",
    "activations",
    "TrainingDivergedError",
    "InputTypeError",
    "StalledTrainingWarning",
    "set_num_threads",
    "get_num_threads",
    "set_tier",
    "get_tier",
    "tier",
    "__version__",
]
