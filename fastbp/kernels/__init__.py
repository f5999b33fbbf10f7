"""Numba-compiled kernels. Each has a twin of the same name and signature in
:mod:`fastbp.reference`; :mod:`fastbp.registry` pairs them.

Importing this package imports Numba but compiles nothing: each kernel is
compiled (or loaded from the cache) on its first call for a given dtype.
The GEMM provider (``_blas``) is chosen first: the cache folder of every
kernel depends on it.
"""
import numba as _numba

if _numba.config.DISABLE_JIT:
    # Pure-Python kernels would be wrong, not just slow: the BLAS calls are
    # compiled-code-only and would leave their outputs uninitialised.
    raise ImportError(
        "fastbp's kernels cannot run with NUMBA_DISABLE_JIT=1 (set in the environment): unset it, "
        "or use fastbp.reference.Network, the plain NumPy implementation, to debug in Python"
    )

from . import _blas  # noqa: F401,E402  (first: see above)
from ._blas import gemm  # noqa: E402
from .backward import hidden_delta, output_delta, weight_gradient
from .epoch import train_epoch, train_epoch_optim
from .forward import forward_layer
from .loss import loss_value
from .step import apply_update, batch_gradient
from .update import adam_update, momentum_update, sgd_fused_update, sgd_update

__all__ = [
    "gemm",
    "forward_layer",
    "output_delta",
    "hidden_delta",
    "weight_gradient",
    "sgd_update",
    "sgd_fused_update",
    "momentum_update",
    "adam_update",
    "loss_value",
    "train_epoch",
    "train_epoch_optim",
    "batch_gradient",
    "apply_update",
]
