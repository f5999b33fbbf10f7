"""Sparse input at the Python boundary: every check a CSR matrix needs before
the kernels index memory with it, and the tuple the kernels take.

The kernels read ``(data, indices, indptr)`` in place (``kernels.sparse``):
an index past the column count or an ``indptr`` that runs backwards would
read outside the arrays, so both are checked here, in O(nnz) vectorised
passes, before any kernel runs. Unsorted and duplicate indices are valid
input (the products sum duplicates, as SciPy's do) and are left as they are.
Nothing here makes a dense copy; CSC is converted to CSR once (a sparse copy).
"""
from __future__ import annotations

import numpy as np

from .errors import InputTypeError

#: The formats taken as they are (CSR) or converted once (CSC).
FORMATS = ("csr", "csc")


def is_sparse(X) -> bool:
    """Whether ``X`` is a SciPy sparse matrix or array (without importing SciPy for dense input)."""
    return type(X).__module__.startswith("scipy.sparse")


def stored(X) -> int | None:
    """The number of values a sparse ``X`` stores (what the tiers cost it by), None for dense input."""
    return int(X.nnz) if is_sparse(X) else None


def kernel_input(X):
    """What the kernels take: a dense array as it is, a CSR matrix as ``(data, indices, indptr)``."""
    return (X.data, X.indices, X.indptr) if is_sparse(X) else X


def _row_of(indptr: np.ndarray, position: int) -> int:
    return int(np.searchsorted(indptr, position, side="right") - 1)


def as_csr(X, n_features: int, dtype: np.dtype, name: str = "X"):
    """``X`` as a checked CSR matrix of ``dtype`` with ``n_features`` columns
    (a ``csr_matrix`` sharing the given arrays where dtypes allow: no dense
    copy, and no sparse copy of CSR input already in ``dtype`` with int32 indices).

    Raises
    ------
    InputTypeError
        A sparse format other than CSR/CSC, or values that are not real numbers.
    ValueError
        No rows, a wrong column count, NaN or infinity among the values, an
        index outside ``0..n_features-1``, or index arrays that do not
        describe a CSR matrix (``indptr`` of the wrong length, not starting
        at 0, decreasing, or past the stored values).
    """
    import scipy.sparse as sp

    fmt = getattr(X, "format", None)
    if fmt not in FORMATS:
        raise InputTypeError(
            f"{name} is a scipy.sparse {type(X).__name__} (format {fmt!r}); fastbp takes CSR or CSC: "
            f"convert it with {name}.tocsr()"
        )
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features={n_features}); got shape {X.shape}")
    n_rows, n_cols = X.shape
    if n_rows == 0:
        raise ValueError(f"{name} is empty: it has no samples (shape {X.shape})")
    if n_cols != n_features:
        raise ValueError(f"{name} has {n_cols} features but the network's input layer has {n_features}")
    if fmt == "csc":
        X = X.tocsr()
    data, indices, indptr = X.data, X.indices, X.indptr
    if data.dtype.kind not in "biuf":
        raise InputTypeError(f"{name} must hold real numbers; got sparse values of dtype {data.dtype}")
    if indices.dtype.kind not in "iu" or indptr.dtype.kind not in "iu":
        raise InputTypeError(f"{name}'s index arrays must be integers; got {indices.dtype} and {indptr.dtype}")
    if indptr.ndim != 1 or indptr.shape[0] != n_rows + 1:
        raise ValueError(f"{name} is not a valid CSR matrix: indptr has {indptr.shape} entries for {n_rows} rows "
                         f"(it needs {n_rows + 1})")
    if indptr[0] != 0:
        raise ValueError(f"{name} is not a valid CSR matrix: indptr starts at {indptr[0]}, not 0")
    nnz = int(indptr[-1])
    if nnz > min(indices.shape[0], data.shape[0]):
        raise ValueError(f"{name} is not a valid CSR matrix: indptr ends at {nnz} but only "
                         f"{min(indices.shape[0], data.shape[0])} values and indices are stored")
    steps = np.diff(indptr)
    if steps.size and steps.min() < 0:
        row = int(np.argmax(steps < 0))
        raise ValueError(f"{name} is not a valid CSR matrix: indptr decreases at row {row}")
    indices, data = indices[:nnz], data[:nnz]
    if nnz:
        lo, hi = int(indices.min()), int(indices.max())
        if lo < 0 or hi >= n_features:
            p = int(np.argmax((indices < 0) | (indices >= n_features)))
            raise ValueError(f"{name} has column index {int(indices[p])} in row {_row_of(indptr, p)}, outside "
                             f"0..{n_features - 1} (its {n_features} columns)")
    if data.dtype.kind == "f":
        with np.errstate(over="ignore", invalid="ignore"):
            finite = np.isfinite(data.sum())
        if not finite:
            bad = ~np.isfinite(data)
            if bad.any():
                p = int(np.argmax(bad))
                kind = "NaN" if np.isnan(data[p]) else "infinity"
                raise ValueError(f"{name} contains {kind} (first at row {_row_of(indptr, p)}, column "
                                 f"{int(indices[p])}); inputs must be finite")
    with np.errstate(over="ignore", invalid="ignore"):
        values = np.ascontiguousarray(data, dtype=dtype)
    if values is not data and not np.isfinite(values.sum()):
        p = int(np.argmax(~np.isfinite(values)))
        raise ValueError(f"{name} holds {data[p]:g} at row {_row_of(indptr, p)}, column {int(indices[p])}: beyond "
                         f"the largest {dtype} ({np.finfo(dtype).max:.4g}), the network's dtype; rescale the data")
    # One index dtype for both arrays, int32 where the values allow it: the
    # kernels compile once per index dtype, and int32 is SciPy's own default.
    wide = max(nnz, n_features) > np.iinfo(np.int32).max
    index_dtype = np.int64 if wide else np.int32
    indices = np.ascontiguousarray(indices, dtype=index_dtype)
    indptr = np.ascontiguousarray(indptr, dtype=index_dtype)
    out = sp.csr_matrix((values, indices, indptr), shape=(n_rows, n_cols), copy=False)
    if out.indices.dtype != index_dtype:  # SciPy chose another index dtype for these contents
        out.indices, out.indptr = indices, indptr
    return out
