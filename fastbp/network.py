"""``fastbp.Network``: the public interface running on the Numba kernels."""
from __future__ import annotations

from ._network import BaseNetwork


class Network(BaseNetwork):
    __doc__ = BaseNetwork.__doc__

    @staticmethod
    def _kernels():
        # Imported on first use so that ``import fastbp`` stays light.
        from . import kernels

        return kernels


# Shown as ``fastbp.Network`` in reprs and docs, where users meet it.
Network.__module__ = "fastbp"
