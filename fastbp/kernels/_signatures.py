"""The exact Numba signature each top-level kernel is compiled for, per variant.

One table for everything that asks whether a kernel is ready or makes it so:
the tiers' readiness check (``fastbp._tiers``: exact membership, in this
process or in the cache's index), the warm-up (``fastbp._warmup``: it
compiles these signatures directly), ``fastbp compile`` and ``fastbp info``.
Readiness by a substring of the signature's text read a float32 epoch (which
takes float64 ``loss``/``hyper`` arrays) as float64, and a sparse entry as dense.

A variant is a dtype and whether the input is sparse (a CSR matrix with
int32 indices, as ``fastbp._sparse`` converts every matrix whose sizes allow
it); the kernels' arguments are otherwise the same for every network:
shapes, activation codes and weights are run-time values, and an unweighted
call passes an empty weights array.
"""
from __future__ import annotations

from numba import types

#: Each top-level kernel's arguments by kind: ``X`` the input (a 2-D array of
#: the network's dtype, or the CSR tuple ``(data, indices, indptr)``; ``XD``
#: the input where the kernel takes dense input only: no sparse variant), ``A2``
#: and ``A1`` arrays of the network's dtype, ``s`` a scalar of it, ``F1`` a
#: float64 array (a loss or ``hyper`` array), ``F2`` a 2-D one (a row per
#: ensemble member), ``I1`` an int64 array, ``i`` an int64.
ARGUMENTS = {
    "train_epoch": ("X", "A2", "I1", "i", "A1", "I1", "I1", "F1", "s", "A1", "A1"),
    "train_epoch_optim": ("X", "A2", "I1", "i", "A1", "I1", "I1", "F1", "i", "F1", "i", "A1", "A1", "A1", "A1"),
    # Dense input only (the ensemble runs sparse X member by member).
    "train_epoch_packed": ("XD", "A2", "I1", "i", "A1", "A2", "I1", "I1", "F1", "F1", "F1", "A2", "A1", "F2"),
    "forward": ("X", "A1", "I1", "I1", "A1", "A2"),
    "loss_value": ("A2", "A2", "F1"),
    "batch_gradient": ("X", "A2", "I1", "A1", "I1", "I1", "F1", "A1", "A1", "A1"),
    "apply_update": ("A1", "A1", "i", "I1", "i", "F1", "i", "A1"),
}


def signature(kernel: str, dtype: str, sparse: bool = False) -> tuple:
    """The argument types ``kernel`` is called with on arrays of ``dtype``
    (``'float32'`` or ``'float64'``), for sparse input if ``sparse``; a
    ValueError for an unknown kernel or dtype."""
    if kernel not in ARGUMENTS:
        raise ValueError(f"unknown kernel {kernel!r}; the top-level kernels are {', '.join(ARGUMENTS)}")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"unknown dtype {dtype!r}: float32 or float64")
    dtype = getattr(types, dtype)

    def array(of, ndim):
        return types.Array(of, ndim, "C")

    x = (types.Tuple((array(dtype, 1), array(types.int32, 1), array(types.int32, 1))) if sparse
         else array(dtype, 2))
    kinds = {"X": x, "XD": array(dtype, 2), "A2": array(dtype, 2), "A1": array(dtype, 1), "s": dtype,
             "F1": array(types.float64, 1), "F2": array(types.float64, 2), "I1": array(types.int64, 1),
             "i": types.int64}
    return tuple(kinds[k] for k in ARGUMENTS[kernel])


def takes_x(kernel: str) -> bool:
    """Whether ``kernel`` takes the input (and so has a sparse variant of its own)."""
    return "X" in ARGUMENTS[kernel]
