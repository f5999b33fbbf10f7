"""Largest error of the vectorised tanh, erf and sigmoid (fastbp/kernels/_fastmath.py, _activation.py), in ulp.

    python tools/activation_accuracy.py               # float32 exhaustive, float64 sampled

float32: every non-negative float32 (tanh and erf are odd; both halves for
sigmoid), against the float64 functions, exact to far below a float32 ulp. float64: 10 million arguments (uniform on
[-40, 40] and log-uniform over the whole range), against long double tanh and
exp (wider than float64 on x86); float64 erf is the library's own.
Sigmoid's error is taken where the true value is normal; below, it flushes
to 0 as exp does. The figures are what ``_fastmath.MAX_ULP`` states.
"""
import math

import numba
import numpy as np
import scipy.special

from fastbp.kernels import _fastmath


@numba.njit
def _sigmoid(v):
    return 1.0 / (1.0 + math.exp(-v))


def _function(name, dtype):
    """The compiled function ``name`` for ``dtype`` (the sigmoid: the activations' expression)."""
    if name != "sigmoid":
        return getattr(_fastmath, name + dtype[-2:])
    from fastbp.kernels._fastexp import fast_exp

    one = np.dtype(dtype).type(1)
    return numba.njit(lambda v: one / (one + fast_exp(-v)))


def _float32_worst(name, chunk=50_000_000):
    """Every float32 in turn, the function's values from a compiled loop, the
    errors in NumPy: the ulp of the correctly rounded result, ``np.spacing``."""
    fn = _function(name, "float32")
    exact = {"tanh": np.tanh, "erf": scipy.special.erf, "sigmoid": lambda v: 1 / (1 + np.exp(-v))}[name]
    tiny = float(np.finfo(np.float32).tiny)

    @numba.njit
    def values(lo, hi, sign, out):
        for i in range(lo, hi):
            out[i - lo] = fn(np.int32(i).view(np.float32) * np.float32(sign))

    out = np.empty(chunk, dtype=np.float32)
    worst, where = 0.0, 0.0
    for sign in (1.0, -1.0) if name == "sigmoid" else (1.0,):
        for lo in range(0, 0x7F800000, chunk):  # every non-negative finite float32 bit pattern
            hi = min(lo + chunk, 0x7F800000)
            got = out[: hi - lo]
            values(lo, hi, sign, got)
            x = np.arange(lo, hi, dtype=np.int32).view(np.float32) * np.float32(sign)
            with np.errstate(over="ignore"):
                want = exact(x.astype(np.float64))
            err = np.abs(got - want) / np.spacing(np.abs(want.astype(np.float32))).astype(np.float64)
            if name == "sigmoid":
                err[want < tiny] = 0.0
            k = int(np.argmax(err))
            if err[k] > worst:
                worst, where = float(err[k]), float(x[k])
    return worst, where


def _float64_worst(name, n=5_000_000):
    fn = _function(name, "float64")

    @numba.njit
    def apply(x, out):
        for i in range(x.shape[0]):
            out[i] = fn(x[i])

    rng = np.random.default_rng(0)
    info = np.finfo(np.float64)
    mags = np.exp(rng.uniform(np.log(info.smallest_subnormal), np.log(info.max), n))
    x = np.concatenate([rng.uniform(-40, 40, n), mags, -mags])
    got = np.empty_like(x)
    apply(x, got)
    xl = x.astype(np.longdouble)
    with np.errstate(over="ignore"):
        if name == "tanh":
            want = np.tanh(xl)
        else:
            want = 1 / (1 + np.exp(-xl))
    ok = want >= info.tiny if name == "sigmoid" else np.ones(x.shape, bool)
    err = np.abs(got.astype(np.longdouble) - want) / np.spacing(np.abs(want.astype(np.float64))).astype(np.longdouble)
    err = np.where(ok, err, 0)
    k = int(np.argmax(err))
    return float(err[k]), x[k]


def main() -> None:
    for name in ("tanh", "erf", "sigmoid"):
        e, x = _float32_worst(name)
        print(f"{name} float32: {e:.2f} ulp at x={x!r} (every float32)", flush=True)
        if name != "erf":  # float64 GELU keeps math.erf
            e, x = _float64_worst(name)
            print(f"{name} float64: {e:.2f} ulp at x={x!r} (sampled)", flush=True)


if __name__ == "__main__":
    main()
