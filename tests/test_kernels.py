"""Every compiled kernel equals its NumPy reference twin (fastbp.testing)."""
import numpy as np
import pytest

from fastbp._codes import SOFTMAX
from fastbp.losses import BinaryCrossEntropy, CrossEntropy
from fastbp.testing import KERNELS, SHAPES, assert_pair_close

CASES = [
    pytest.param(case, variant, id=f"{case.name}-{variant}")
    for case in KERNELS
    for variant in case.variants
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "B{}-in{}-out{}".format(*s))
@pytest.mark.parametrize("case,variant", CASES)
def test_kernel_matches_reference(case, variant, shape, dtype):
    assert_pair_close(case, shape, dtype, variant)


def test_kernel_table_covers_every_kernel():
    import fastbp.kernels
    import fastbp.reference

    names = {case.name for case in KERNELS}
    assert names == set(fastbp.kernels.__all__)
    for name in names:
        assert callable(getattr(fastbp.reference, name)), name


def test_saturated_outputs_give_finite_loss():
    """log is clipped: a probability that underflowed to 0 costs a large finite loss."""
    import fastbp.kernels as k
    import fastbp.reference as r

    for dtype in (np.float32, np.float64):
        A = np.array([[0.0, 1.0]], dtype)
        Y = np.array([[1.0, 0.0]], dtype)
        for loss in (CrossEntropy().pack(), BinaryCrossEntropy().pack()):
            got, want = k.loss_value(A, Y, loss), r.loss_value(A, Y, loss)
            assert np.isfinite(got) and got > 80, (loss, dtype, got)
            assert got == pytest.approx(want, rel=1e-12)


def test_softmax_of_large_logits_is_finite():
    import fastbp.kernels as k

    X = np.array([[1000.0, -1000.0]])  # one sample, as a row
    Z, out = np.empty((2, 1)), np.empty((2, 1))
    k.forward_layer(np.eye(2), np.zeros(2), X, True, SOFTMAX, Z, out)
    np.testing.assert_allclose(out, [[1.0], [0.0]])


@pytest.mark.parametrize("dtype,lo,hi,max_eps", [("float32", -87.3, 88.3, 1.0), ("float64", -708.3, 709.0, 1.5)])
def test_vectorised_exp_accuracy_and_edges(dtype, lo, hi, max_eps):
    """exp32/exp64 (behind sigmoid and softmax): relative error within ``max_eps``
    machine epsilons (the bound _fastexp.py states), with inf, 0 and NaN at the edges."""
    from fastbp.kernels._fastexp import exp32, exp64

    fn = exp32 if dtype == "float32" else exp64
    x = np.concatenate([np.linspace(lo, hi, 20001), np.random.default_rng(0).uniform(-5, 5, 2000)]).astype(dtype)
    got = np.array([fn(v) for v in x])
    want = np.exp(x.astype(np.longdouble))  # more precise than float64 where long double is wider
    err = np.abs(got - want) / (want * np.finfo(dtype).eps)
    assert err.max() <= max_eps, f"exp {dtype}: {float(err.max()):.2f} eps at x={x[err.argmax()]}"
    t = np.dtype(dtype).type
    assert fn(t(1e4)) == np.inf and fn(t(-1e4)) == 0.0 and np.isnan(fn(t(np.nan)))
