"""Largest error of the vectorised tanh, erf and sigmoid (fastbp/kernels/_fastmath.py, _activation.py), in ulp.

    python tools/activation_accuracy.py               # float32 exhaustive, float64 sampled

float32: every positive float32 (all three functions are odd or, sigmoid,
symmetric about 1/2 through ``1 - s(x) = s(-x)``, and the negative half is
run too for sigmoid), against float64 ``math`` functions rounded, which are
exact to far below a float32 ulp. float64: 10 million arguments (uniform on
[-40, 40] and log-uniform over the whole range), against long double tanh and
exp (wider than float64 on x86); float64 erf is the library's own.
Sigmoid's error is taken where the true value is normal; below, it flushes
to 0 as exp does. The figures are what ``_fastmath.MAX_ULP`` states.
"""
import math

import numba
import numpy as np

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


def _float32_worst(name):
    fn = _function(name, "float32")
    exact = {"tanh": math.tanh, "erf": math.erf, "sigmoid": _sigmoid}[name]
    tiny = float(np.finfo(np.float32).tiny)

    @numba.njit(parallel=True)
    def worst(sign):
        n = 0x7F800000  # every non-negative finite float32 bit pattern
        chunks = 64
        best = np.zeros(chunks)
        where = np.zeros(chunks, dtype=np.float32)
        for c in numba.prange(chunks):
            for i in range(c * (n // chunks), (c + 1) * (n // chunks)):
                x = np.int32(i).view(np.float32) * np.float32(sign)
                got = float(fn(x))
                want = exact(float(x))
                if name == "sigmoid" and want < tiny:
                    continue
                r = np.float32(want)
                ulp = float(np.nextafter(abs(r), np.float32(np.inf)) - abs(r))
                e = abs(got - want) / ulp
                if e > best[c]:
                    best[c], where[c] = e, x
        k = np.argmax(best)
        return best[k], where[k]

    results = [worst(1.0)] + ([worst(-1.0)] if name == "sigmoid" else [])
    return max(results)


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
