"""fastbp.Network and fastbp.reference.Network, same seed, train to the same weights."""
import numpy as np
import pytest

import fastbp
from fastbp.activations import HIDDEN as HIDDEN_ACTIVATIONS
from fastbp.testing import OUTPUT_LOSS_PAIRS, TOLERANCES


def _problem(rng, loss, n=101, n_in=10, n_out=3):
    X = rng.normal(size=(n, n_in))
    if loss == "cross_entropy":
        y = rng.integers(0, n_out, size=n)
    elif loss == "binary_cross_entropy":
        y = rng.integers(0, 2, size=(n, n_out))
    else:
        y = rng.normal(size=(n, n_out))
    return X, y


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "activation,output,loss",
    [(HIDDEN_ACTIVATIONS[i % 5], o, l) for i, (o, l) in enumerate(OUTPUT_LOSS_PAIRS)]
    + [(a, "softmax", "cross_entropy") for a in HIDDEN_ACTIVATIONS],
)
def test_same_seed_trains_to_same_weights(activation, output, loss, dtype, rng):
    X, y = _problem(rng, loss)
    kw = dict(activation=activation, output=output, loss=loss, dtype=dtype, seed=7)
    fast = fastbp.Network([10, 16, 8, 3], **kw)
    ref = fastbp.reference.Network([10, 16, 8, 3], **kw)
    for a, b in zip(fast.weights + fast.biases, ref.weights + ref.biases):
        np.testing.assert_array_equal(a, b, err_msg="same seed must give identical initial parameters")
        assert a.dtype == np.dtype(dtype)
    # batch 16 over 101 rows: a partial last batch in every shuffled epoch.
    h_fast = fast.fit(X, y, epochs=5, batch_size=16, lr=0.05, shuffle=True)
    h_ref = ref.fit(X, y, epochs=5, batch_size=16, lr=0.05, shuffle=True)
    tol = TOLERANCES[np.dtype(dtype)]
    rtol, atol = tol["trained_rtol"], tol["trained_atol"]
    np.testing.assert_allclose(h_fast["loss"], h_ref["loss"], rtol=rtol, atol=atol)
    assert len(h_fast["loss"]) == 5
    for l, (a, b) in enumerate(zip(fast.weights + fast.biases, ref.weights + ref.biases)):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"parameter {l}, {dtype}, {activation}/{output}/{loss}")
    # Training moved the weights: the comparison is not of two untouched nets.
    assert not np.allclose(fast.weights[0], fastbp.Network([10, 16, 8, 3], **kw).weights[0])


def test_fit_loss_history_is_mean_of_losses_before_each_step(Net, rng):
    """With one batch per epoch, each epoch's loss is the loss before its step."""
    X, y = _problem(rng, "cross_entropy", n=20)
    net = Net([10, 6, 3], seed=1)
    expected = []
    twin = Net([10, 6, 3], seed=1)
    for _ in range(3):
        expected.append(twin.step(X, y, lr=0.1))
    hist = net.fit(X, y, epochs=3, batch_size=20, lr=0.1, shuffle=False)
    np.testing.assert_allclose(hist["loss"], expected, rtol=1e-12)


def test_shuffle_uses_the_seeded_generator(Net, rng):
    X, y = _problem(rng, "cross_entropy", n=40)
    a, b, c = Net([10, 4, 3], seed=5), Net([10, 4, 3], seed=5), Net([10, 4, 3], seed=6)
    for net in (a, b, c):
        net.fit(X, y, epochs=2, batch_size=8)
    np.testing.assert_array_equal(a.weights[0], b.weights[0])
    assert not np.allclose(a.weights[0], c.weights[0])


@pytest.mark.parametrize("layout", ["fortran", "strided", "int", "list"])
def test_any_input_layout_gives_the_same_result(Net, layout, rng):
    X = rng.integers(-3, 4, size=(12, 5)).astype(np.float64)
    y = rng.integers(0, 3, size=12)
    if layout == "fortran":
        Xin = np.asfortranarray(X)
    elif layout == "strided":
        big = np.zeros((24, 10))
        big[::2, ::2] = X
        Xin = big[::2, ::2]
    elif layout == "int":
        Xin = X.astype(np.int32)
    else:
        Xin = X.tolist()
    a, b = Net([5, 4, 3], seed=0), Net([5, 4, 3], seed=0)
    np.testing.assert_array_equal(a.forward(Xin), b.forward(X))
    a.fit(Xin, y, epochs=2, batch_size=5)
    b.fit(X, y, epochs=2, batch_size=5)
    np.testing.assert_array_equal(a.weights[1], b.weights[1])


def test_writes_into_live_weights_are_seen(Net, rng):
    net = Net([3, 2], output="identity", seed=0)
    net.weights[0][...] = 0
    net.biases[0][...] = [1.0, -2.0]
    np.testing.assert_array_equal(net.forward(rng.normal(size=(4, 3))), np.tile([1.0, -2.0], (4, 1)))
    net.step(np.ones((1, 3)), np.zeros((1, 2)), lr=0.5)
    # The step updated the same arrays in place.
    np.testing.assert_allclose(net.biases[0], [0.5, -1.0])
