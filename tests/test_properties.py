"""Property-based tests (hypothesis): kernels equal their twins on random
shapes, dtypes and value ranges; random bad input never crashes the process
nor changes the network."""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fastbp
from fastbp.testing import KERNELS, assert_pair_close

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def kernel_calls(draw):
    case = draw(st.sampled_from(KERNELS))
    return (
        case,
        draw(st.sampled_from(case.variants)),
        tuple(draw(st.integers(1, 64)) for _ in range(3)),
        draw(st.sampled_from(["float32", "float64"])),
        draw(st.integers(0, 2**32 - 1)),
        draw(st.sampled_from([1e-3, 0.1, 1.0, 10.0, 100.0])),
    )


@SETTINGS
@given(kernel_calls())
def test_kernels_equal_references_on_random_input(call):
    case, variant, shape, dtype, seed, scale = call
    assert_pair_close(case, shape, dtype, variant, seed=seed, scale=scale)


_BAD_DTYPES = st.sampled_from([np.float64, np.float32, np.int64, np.bool_, np.complex128, "U3", object])


@st.composite
def arrays_maybe_bad(draw):
    dtype = draw(_BAD_DTYPES)
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6))
    if dtype == object:
        return np.array(draw(st.lists(st.one_of(st.none(), st.text(max_size=2), st.floats()), max_size=5)), dtype=object)
    if dtype == "U3":
        return np.full(shape, "ab", dtype="U3")
    elements = st.floats(allow_nan=True, allow_infinity=True, width=32) if np.dtype(dtype).kind in "fc" else None
    return draw(hnp.arrays(dtype, shape, elements=elements))


@SETTINGS
@given(
    st.sampled_from([fastbp.Network, fastbp.reference.Network]),
    st.sampled_from(["forward", "predict", "loss", "gradients", "step", "fit"]),
    arrays_maybe_bad(),
    arrays_maybe_bad(),
    st.sampled_from([0.1, 0.0, -1.0, float("nan"), float("inf")]),
)
def test_random_bad_input_never_crashes_or_changes_the_network(Net, method, X, Y, lr):
    net = Net([4, 3, 3], seed=0)
    before = [p.copy() for p in net.weights + net.biases]
    args = (X,) if method in ("forward", "predict") else (X, Y)
    kwargs = {"lr": lr} if method in ("step", "fit") else {}
    try:
        getattr(net, method)(*args, **kwargs)
    except (ValueError, TypeError) as exc:
        assert str(exc), "an error must say what is wrong"
        for p, p0 in zip(net.weights + net.biases, before):
            np.testing.assert_array_equal(p, p0)
    else:
        if method not in ("step", "fit"):
            for p, p0 in zip(net.weights + net.biases, before):
                np.testing.assert_array_equal(p, p0)
        for p in net.weights + net.biases:
            assert np.isfinite(p).all()


def test_an_ill_conditioned_float32_case_is_refereed_in_float64(monkeypatch):
    """Found by hypothesis: tanh saturated by inputs of size 100, four epochs of
    Nesterov momentum, float32. Kernel and twin differ by 1.5% in one weight;
    the kernel is the closer of the two to the float64 run (2.6e-4 against
    5.2e-4), and a float64 kernel equals its twin to 2e-13. A kernel farther
    from the float64 run than its twin still fails."""
    import pytest

    from fastbp import testing

    case = next(c for c in KERNELS if c.name == "train_epoch_optim")
    args = (case, (26, 1, 26), "float32", ("tanh", "nesterov"))
    assert_pair_close(*args, seed=26, scale=100.0)
    assert_pair_close(case, (26, 1, 26), "float64", ("tanh", "nesterov"), seed=26, scale=100.0)
    run_pair = testing.run_pair

    def worse_kernel(case, shape, dtype, *rest):
        got, want = run_pair(case, shape, dtype, *rest)
        if np.dtype(dtype) == np.float32:
            got = [np.asarray(got[0]) + np.float32(1e-2)] + list(got[1:])
        return got, want

    monkeypatch.setattr(testing, "run_pair", worse_kernel)
    with pytest.raises(AssertionError, match="train_epoch_optim"):
        assert_pair_close(*args, seed=26, scale=100.0)
