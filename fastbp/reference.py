"""Plain NumPy reference: the backpropagation math, written to be read, not to be fast.

Every compiled kernel in :mod:`fastbp.kernels` has a twin here with the same
name and signature (kept in ``fastbp._twins``); tests check each kernel
against its twin, and this twin against finite differences. :class:`Network`
is a drop-in twin of :class:`fastbp.Network` that runs on these functions and
trains to the same weights; :class:`Ensemble`, of :class:`fastbp.Ensemble`,
made of such networks.

Conventions (docs/math.md): the seed's column form, as the compiled epoch
keeps it: one sample is a column, so activations, pre-activations and deltas
of a batch are ``(n_l, B)`` blocks, ``Z = W A + b``, ``D[l] = dL/dZ[l]``, and
weights are ``W[l]: (n_out, n_in)``. Only the input batch (and a network's
output, at the public interface) is rows, ``(B, n)``, as users hand it over.

This module imports no compiled code.
"""
from __future__ import annotations

from . import _twins
from .ensemble import BaseEnsemble
from .network import BaseNetwork

__all__ = ["Network", "Ensemble", *_twins.__all__]

# The twins, published here (where the docs and users find them).
globals().update({name: getattr(_twins, name) for name in _twins.__all__})


class Network(BaseNetwork):
    """Drop-in twin of :class:`fastbp.Network` running on the NumPy functions
    of this module: same interface, same initial weights and batch order for
    the same seed, same results within floating-point tolerance."""

    @staticmethod
    def _kernels():
        return _twins


class Ensemble(BaseEnsemble):
    """Twin of :class:`fastbp.Ensemble` whose members are this module's
    :class:`Network`: the same members, batch order and results."""

    _network = Network
