"""Each kernel against its NumPy reference twin, driven by fastbp.testing.

The same table the tests iterate over: every kernel is checked equal to its
twin in ``setup`` (as llm.c checks before it times), then both are timed over
layer widths, batch sizes and dtypes. Compilation happens in ``setup`` (or is
loaded from the cache), never inside a timing.
"""
import numpy as np

from fastbp.activations import HIDDEN as HIDDEN_ACTIVATIONS
from fastbp.testing import KERNELS, assert_pair_close

from ._smoke import grid  # CI's smoke run cuts the grids

_CASES = {case.name: case for case in KERNELS if not case.name.startswith("train_epoch") and case.name not in ("batch_gradient", "apply_update")}
# (B, n_in, n_out): a narrow layer, an MNIST-sized first layer, a wide square one.
_SHAPES = {"16x64x32": (16, 64, 32), "64x784x256": (64, 784, 256), "128x1024x1024": (128, 1024, 1024)}
_VARIANT = {"gemm": "NT", "forward_layer": ("sigmoid", False), "hidden_delta": "sigmoid",
            "output_delta": ("softmax", "cross_entropy"), "loss_value": ("softmax", "cross_entropy"),
            "weight_gradient": (False, 0.0)}


class Kernel:
    """Seconds per call of one kernel (``impl='numba'``) or its twin (``impl='numpy'``)."""

    params = grid(_CASES, ["numba", "numpy"], _SHAPES, ["float32", "float64"])
    param_names = ["kernel", "impl", "shape", "dtype"]
    timeout = 120

    def setup(self, kernel, impl, shape, dtype):
        case = _CASES[kernel]
        variant = _VARIANT.get(kernel, case.variants[0])
        if impl == "numba":
            # Correct before fast: also compiles (or loads) the kernel for this dtype.
            assert_pair_close(case, _SHAPES[shape], dtype, variant)
        self.fn = case.kernel() if impl == "numba" else case.reference()
        self.args = case.make_args(np.random.default_rng(0), _SHAPES[shape], np.dtype(dtype), variant)

    def time_call(self, kernel, impl, shape, dtype):
        self.fn(*self.args)


class FusedDelta:
    """The fused hidden delta ``(W_next.T @ D_next) * act'(Z)`` per activation (float32, 64x784x256)."""

    params = grid(HIDDEN_ACTIVATIONS, ["numba", "numpy"])
    param_names = ["activation", "impl"]

    def setup(self, activation, impl):
        case = _CASES["hidden_delta"]
        shape = _SHAPES["64x784x256"]
        if impl == "numba":
            assert_pair_close(case, shape, "float32", activation)
        self.fn = case.kernel() if impl == "numba" else case.reference()
        self.args = case.make_args(np.random.default_rng(0), shape, np.dtype("float32"), activation)

    def time_hidden_delta(self, activation, impl):
        self.fn(*self.args)


def _product_loops():
    """Compiled loops of ``reps`` products through each path: one Python call
    times many products, so the dispatcher's fixed cost per call (larger than
    the smallest products) is spread thin."""
    from numba import njit

    from fastbp.kernels import gemm, small_gemm

    @njit(nogil=True)
    def tiles(reps, A, B, C):
        for _ in range(reps):
            small_gemm(False, 1.0, A, B, 0.0, C)

    @njit(nogil=True)
    def blas(reps, A, B, C):
        for _ in range(reps):
            gemm(False, False, 1.0, A, B, 0.0, C)

    return tiles, blas


class SmallGemm:
    """The register tiles against the BLAS on products ``(M, K) @ (K, N)``: the
    evidence for ``fastbp.kernels._tiles.SMALL_WORK`` (the tiles should win
    below it; from it on the BLAS, whose two threads start to pay). Each call
    runs ``2e6 // (M*N*K)`` products (the same count for every path of a
    shape, so the paths of a shape compare directly)."""

    # (M, K, N) of training's products: an S layer and its weight gradient, the
    # default estimator's hidden layer (forward, weight gradient), output
    # layers, then the two sizes either side of the rule and a large one.
    _SHAPES = {"32x64x16": (32, 64, 16), "32x16x64": (32, 16, 64), "100x20x200": (100, 20, 200),
               "100x200x20": (100, 200, 20), "10x32x16": (10, 32, 16), "1x100x200": (1, 100, 200),
               "64x127x64": (64, 127, 64), "128x64x64": (128, 64, 64), "256x784x64": (256, 784, 64)}
    params = grid(_SHAPES, ["tiles", "blas1", "blas2"], ["float32", "float64"], whole=1)
    param_names = ["shape", "impl", "dtype"]

    def setup(self, shape, impl, dtype):
        import fastbp

        M, K, N = self._SHAPES[shape]
        rng = np.random.default_rng(0)
        self.A = rng.normal(size=(M, K)).astype(dtype)
        self.B = rng.normal(size=(K, N)).astype(dtype)
        self.C = np.empty((M, N), dtype)
        fastbp.set_num_threads(2 if impl == "blas2" else 1)
        tiles, blas = _product_loops()
        self.loop = tiles if impl == "tiles" else blas
        self.reps = max(1, 2_000_000 // (M * N * K))  # about a millisecond of products
        self.loop(1, self.A, self.B, self.C)  # compiles; checked before timed:
        np.testing.assert_allclose(self.C, self.A @ self.B, rtol=1e-4, atol=1e-4 * K)

    def time_product(self, shape, impl, dtype):
        self.loop(self.reps, self.A, self.B, self.C)
