"""Numba-compiled kernels. Each has a twin of the same name and signature in
:mod:`fastbp.reference`; :mod:`fastbp.testing` pairs them.

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
from ._tiles import small_gemm  # noqa: E402
from .backward import hidden_delta, weight_gradient  # noqa: E402
from .epoch import train_epoch, train_epoch_optim  # noqa: E402
from .forward import forward, forward_layer  # noqa: E402
from .loss import loss_value, output_delta  # noqa: E402
from .packed import train_epoch_packed  # noqa: E402
from .sparse import sparse_forward_layer, sparse_weight_gradient  # noqa: E402
from .step import apply_update, batch_gradient  # noqa: E402
from .update import is_plain, sgd_update  # noqa: E402
from . import update as _update  # noqa: E402
from ..optimizers import SPECS as _SPECS  # noqa: E402

# Each optimizer's update kernel, named by its specification (fastbp.optimizers).
globals().update({spec.update: getattr(_update, spec.update) for spec in _SPECS.values()})

__all__ = [
    "gemm",
    "small_gemm",
    "forward_layer",
    "forward",
    "output_delta",
    "hidden_delta",
    "weight_gradient",
    "sparse_forward_layer",
    "sparse_weight_gradient",
    "sgd_update",
    "is_plain",
    *(spec.update for spec in _SPECS.values()),
    "loss_value",
    "train_epoch",
    "train_epoch_optim",
    "train_epoch_packed",
    "batch_gradient",
    "apply_update",
]


def cache_folder() -> tuple[str, bool]:
    """Where newly compiled kernels are saved, and whether that folder is writable
    (``fastbp._cache``: the first writable of ``NUMBA_CACHE_DIR``, the
    package's ``__pycache__``, the user's cache folder). When none is, kernels
    still work but compile in every process."""
    from .. import _cache, _jit

    path = _cache.writable_folder(_jit.cache_variant())
    if path is None:
        return "(none writable: kernels compile in every process; set NUMBA_CACHE_DIR)", False
    return path, True
