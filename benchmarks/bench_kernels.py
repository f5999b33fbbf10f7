"""Each kernel against its NumPy reference twin, driven by fastbp.testing.

The same table the tests iterate over: every kernel is checked equal to its
twin in ``setup`` (as llm.c checks before it times), then both are timed over
layer widths, batch sizes and dtypes. Compilation happens in ``setup`` (or is
loaded from the cache), never inside a timing.
"""
import numpy as np

from fastbp._codes import HIDDEN_ACTIVATIONS
from fastbp.testing import KERNELS, assert_pair_close

_CASES = {case.name: case for case in KERNELS if not case.name.startswith("train_epoch") and case.name not in ("batch_gradient", "apply_update")}
# (B, n_in, n_out): a narrow layer, an MNIST-sized first layer, a wide square one.
_SHAPES = {"16x64x32": (16, 64, 32), "64x784x256": (64, 784, 256), "128x1024x1024": (128, 1024, 1024)}
_VARIANT = {"gemm": "NT", "forward_layer": ("sigmoid", False), "hidden_delta": "sigmoid",
            "output_delta": ("softmax", "cross_entropy"), "loss_value": ("softmax", "cross_entropy"),
            "weight_gradient": (False, 0.0)}


class Kernel:
    """Seconds per call of one kernel (``impl='numba'``) or its twin (``impl='numpy'``)."""

    params = (list(_CASES), ["numba", "numpy"], list(_SHAPES), ["float32", "float64"])
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

    params = (list(HIDDEN_ACTIVATIONS), ["numba", "numpy"])
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
