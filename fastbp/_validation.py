"""Checks at the Python boundary, run before any kernel sees an array.

A kernel handed a wrong shape can write out of bounds, so every public entry
point converts and checks here first: once per call, never per batch.
"""
from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass

import numpy as np

from ._sparse import as_csr, is_sparse
from ._checks import check_learning_rate, check_positive_int
from .errors import InputTypeError


def check_dtype(dtype) -> np.dtype:
    """The network dtype: float32 or float64."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return dt


def check_config(sizes, activation: str, output: str, loss):
    """A network's architecture, checked: ``(sizes as ints, the loss object)``.

    ``loss`` is a name of ``fastbp.losses.LOSSES``, a ``fastbp.losses.Loss``
    object, or None for the output's natural loss.

    Raises
    ------
    ValueError
        On an unknown name, an unsupported output/loss pair or bad layer sizes.
    """
    from . import activations, losses, outputs

    try:
        sizes = list(sizes)
    except TypeError:
        raise ValueError(f"sizes must be a list of layer widths, got {sizes!r}") from None
    if len(sizes) < 2:
        raise ValueError(
            f"sizes must list at least an input and an output width, e.g. [784, 128, 10]; got {sizes!r}"
        )
    clean = []
    for i, s in enumerate(sizes):
        if isinstance(s, bool) or not hasattr(s, "__index__") or int(s) < 1:
            raise ValueError(f"sizes[{i}] must be a positive integer, got {s!r}")
        clean.append(int(s))
    if not isinstance(activation, str) or activation not in activations.HIDDEN:
        raise ValueError(f"unknown activation {activation!r}; valid hidden activations: "
                         f"{', '.join(map(repr, activations.HIDDEN))}")
    kind = outputs.output_kind(output)
    loss = losses.resolve(kind.default_loss if loss is None else loss)
    if output not in loss.outputs:
        pairs = "; ".join(f"loss={name!r} with output in ({', '.join(map(repr, spec.outputs))})"
                          for name, spec in losses.LOSSES.items())
        raise ValueError(f"loss={loss.name!r} cannot be used with output={output!r}{kind.loss_note}; "
                         f"valid pairs: {pairs}")
    if clean[-1] < kind.min_units:
        raise ValueError(
            f"a {output} output needs at least {kind.min_units} units; for one binary output use "
            "output='sigmoid' with loss='binary_cross_entropy'"
        )
    return clean, loss


def cpu_count() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def check_threads(n) -> int:
    """``n`` as a thread count this process can use, or ValueError."""
    n = check_positive_int(n, "threads")
    if n > cpu_count():
        raise ValueError(f"threads={n} exceeds the {cpu_count()} CPUs available to this process")
    return n


@dataclass(frozen=True)
class FitSettings:
    """``fit``'s arguments besides data, optimizer and extras, checked."""

    epochs: int
    batch_size: int
    lr: float
    threads: int | None
    average_every: int | None
    on_divergence: str


def check_fit(epochs, batch_size, lr, on_divergence, threads, average_every, distributed: bool) -> FitSettings:
    """The arguments ``fit`` takes besides data, optimizer and extras, checked and normalised."""
    if on_divergence not in ("raise", "warn"):
        raise ValueError(f"on_divergence must be 'raise' or 'warn', got {on_divergence!r}")
    if average_every is not None:
        if not distributed:
            raise ValueError("average_every is a setting of distributed training: it needs comm=")
        average_every = check_positive_int(average_every, "average_every")
    return FitSettings(
        epochs=check_positive_int(epochs, "epochs"),
        batch_size=check_positive_int(batch_size, "batch_size"),
        lr=check_learning_rate(lr),
        threads=None if threads is None else check_threads(threads),
        average_every=average_every,
        on_divergence=on_divergence,
    )


def _first(mask: np.ndarray) -> tuple[int, ...]:
    """Index of the first true element of ``mask``, for error messages."""
    return tuple(int(i) for i in np.argwhere(mask)[0])


def check_seed(seed):
    """``seed`` as NumPy's generators take it: None or a non-negative integer."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise InputTypeError(f"seed must be None or a non-negative integer, got {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be None or a non-negative integer, got {seed!r}")
    return int(seed)


def _is_missing(value) -> bool:
    """None, NaN-like pandas/NumPy missing markers (pd.NA, pd.NaT)."""
    return value is None or type(value).__name__ in ("NAType", "NaTType")


def _from_table(data, name: str):
    """A pandas object with nullable or mixed columns as float64, or None if
    ``data`` is not one. Missing values (pd.NA) are an error that says so."""
    if not (hasattr(data, "to_numpy") and hasattr(data, "isna")):
        return None
    try:
        missing = np.asarray(data.isna())
    except Exception:  # pragma: no cover - not pandas after all
        return None
    if missing.any():
        where = _first(missing)
        raise ValueError(f"{name} has missing values (first at index {where}); fill or drop them first")
    try:
        dtypes = getattr(data, "dtypes", None)
        dtypes = [data.dtype] if dtypes is None else list(getattr(dtypes, "values", [dtypes]))
        if all(getattr(dt, "kind", "O") in "biuf" and isinstance(dt, np.dtype) for dt in dtypes):
            return None  # plain NumPy columns: np.asarray keeps their dtype (no float64 copy)
        return data.to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        return None


def _numeric_array(data, name: str) -> np.ndarray:
    if type(data).__module__.startswith("scipy.sparse"):
        raise InputTypeError(f"{name} is a scipy.sparse {type(data).__name__}: {name} must be dense "
                             f"({name}.toarray()); only the input X may be sparse")
    if not isinstance(data, np.ndarray):
        table = _from_table(data, name)  # pandas: nullable dtypes, NA
        if table is not None:
            return table
    try:
        arr = np.asarray(data)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} could not be read as a numeric array: {exc}") from None
    if arr.dtype.kind == "O":
        flat = arr.ravel()
        for i, value in enumerate(flat):
            if _is_missing(value):
                where = tuple(int(k) for k in np.unravel_index(i, arr.shape))
                raise ValueError(f"{name} has missing values (first at index {where}); fill or drop them first")
        if all(isinstance(v, numbers.Real) for v in flat):  # Python numbers, Decimals, Fractions: no strings
            return arr.astype(np.float64)
    if arr.dtype.kind not in "biuf":
        raise InputTypeError(
            f"{name} must hold real numbers; got an array of dtype {arr.dtype} "
            "(convert strings or objects to numbers first)"
        )
    return arr


def _convert(arr: np.ndarray, dtype: np.dtype, name: str) -> np.ndarray:
    """``arr`` as C-contiguous ``dtype``; a value finite in ``arr``'s dtype that
    overflows to infinity in the network's is a ValueError naming ``name``."""
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.ascontiguousarray(arr, dtype=dtype)
    if out is not arr and arr.dtype.kind in "fiu" and float(np.finfo(dtype).max) < _largest(arr.dtype):
        with np.errstate(over="ignore", invalid="ignore"):
            total = out.sum()
        if not math.isfinite(float(total)):
            bad = ~np.isfinite(out)
            if bad.any():
                where = _first(bad)
                raise ValueError(
                    f"{name} holds {arr[where].item():g} at index {where}: finite in {arr.dtype} but beyond the "
                    f"largest {dtype} ({np.finfo(dtype).max:.4g}), the network's dtype; rescale the data"
                )
    return out


def _largest(dt: np.dtype) -> float:
    return float(np.finfo(dt).max) if dt.kind == "f" else float(np.iinfo(dt).max)


def _check_finite(arr: np.ndarray, name: str) -> None:
    # A sum is finite when no element is NaN or inf; it can also overflow on
    # huge finite values, and only then does the full check run. Summing in
    # the array's own dtype is SIMD and memory-bound: 8 ms for 60000 x 784
    # float32, against 27 ms for a float64 sum and 15 ms for np.isfinite.
    if arr.dtype.kind != "f":
        return
    with np.errstate(over="ignore", invalid="ignore"):
        total = arr.sum()
    if math.isfinite(float(total)):
        return
    bad = ~np.isfinite(arr)
    if bad.any():
        where = _first(bad)
        kind = "NaN" if np.isnan(arr[where]) else "infinity"
        raise ValueError(f"{name} contains {kind} (first at index {where}); inputs must be finite")


def as_features(X, n_features: int, dtype: np.dtype, name: str = "X"):
    """``X`` as a C-contiguous ``(n_samples, n_features)`` array of ``dtype``,
    or, for SciPy sparse input, a checked CSR matrix (``_sparse.as_csr``)."""
    if is_sparse(X):
        return as_csr(X, n_features, dtype, name)
    arr = _numeric_array(X, name)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features={n_features}); got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: it has no samples (shape {arr.shape})")
    if arr.shape[1] != n_features:
        raise ValueError(
            f"{name} has {arr.shape[1]} features but the network's input layer has {n_features}"
        )
    _check_finite(arr, name)
    return _convert(arr, dtype, name)


# Rows of cross_entropy targets must sum to 1 within this: float32 softmax
# outputs used as soft targets sum to 1 within ~1e-6.
DISTRIBUTION_TOLERANCE = 1e-4


def as_targets(Y, n_samples: int, n_out: int, output, loss: str, dtype: np.dtype, name: str = "Y") -> np.ndarray:
    """Targets as a C-contiguous ``(n_samples, n_out)`` array of ``dtype``.

    A 1-D ``Y`` is read as integer class labels ``0..n_out-1`` where the
    output kind (``output``, a :class:`fastbp.outputs.Output`) says so (softmax:
    one-hot encoded), or as the single column of a one-output net.
    """
    arr = _numeric_array(Y, name)
    if arr.ndim == 1 and output.labels_are_units(n_out):
        if arr.shape[0] != n_samples:
            raise ValueError(f"{name} has {arr.shape[0]} labels but X has {n_samples} samples")
        _check_finite(arr, name)
        if arr.dtype.kind == "f" and not np.all(arr == np.round(arr)):
            raise ValueError(f"{name}: class labels must be integers 0..{n_out - 1}; got fractional values")
        lo, hi = arr.min(), arr.max()
        if lo < 0 or hi > n_out - 1:
            raise ValueError(
                f"{name}: class labels must lie in 0..{n_out - 1} (the output has {n_out} units); "
                f"got values from {lo} to {hi}"
            )
        onehot = np.zeros((n_samples, n_out), dtype=dtype)
        onehot[np.arange(n_samples), arr.astype(np.intp)] = 1
        return onehot
    if arr.ndim == 1 and n_out == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_out={n_out}); got shape {arr.shape}")
    if arr.shape[0] != n_samples:
        raise ValueError(f"{name} has {arr.shape[0]} rows but X has {n_samples} samples")
    if arr.shape[1] != n_out:
        raise ValueError(f"{name} has {arr.shape[1]} columns but the network's output layer has {n_out}")
    _check_finite(arr, name)
    if loss == "binary_cross_entropy" and (arr.min() < 0 or arr.max() > 1):
        raise ValueError(f"{name}: targets of binary_cross_entropy must lie in [0, 1]")
    if loss == "cross_entropy":
        if arr.min() < 0:
            raise ValueError(f"{name}: targets of cross_entropy must be non-negative (one-hot or probabilities)")
        # A matrix-vector product: ~10x faster than sum(axis=1) over short rows.
        sums = arr @ np.ones(arr.shape[1], dtype=arr.dtype if arr.dtype.kind == "f" else np.float64)
        off = np.abs(sums - 1) > DISTRIBUTION_TOLERANCE
        if off.any():
            row = int(np.argmax(off))
            raise ValueError(
                f"{name}: each row of cross_entropy targets must be a distribution summing to 1 "
                f"(within {DISTRIBUTION_TOLERANCE:g}): one-hot or probabilities; row {row} sums to {sums[row]:.6g}"
            )
    return _convert(arr, dtype, name)
