"""The backpropagated gradients equal central finite differences of the cost
(float64), for every hidden activation and every output/loss pair."""
import numpy as np
import pytest

from fastbp.activations import HIDDEN as HIDDEN_ACTIVATIONS
from fastbp.testing import OUTPUT_LOSS_PAIRS


def _data(rng, n_in, n_out, loss, B=5):
    X = rng.normal(size=(B, n_in))
    if loss == "cross_entropy":
        Y = np.eye(n_out)[rng.integers(0, n_out, size=B)]
    elif loss == "binary_cross_entropy":
        Y = rng.integers(0, 2, size=(B, n_out)).astype(float)
    else:
        Y = rng.normal(size=(B, n_out))
    return X, Y


@pytest.mark.parametrize("output,loss", OUTPUT_LOSS_PAIRS)
@pytest.mark.parametrize("activation", HIDDEN_ACTIVATIONS)
def test_gradients_match_finite_differences(Net, activation, output, loss, rng):
    net = Net([4, 5, 3, 3], activation=activation, output=output, loss=loss, dtype="float64", seed=3)
    X, Y = _data(rng, 4, 3, loss)
    dWs, dbs = net.gradients(X, Y)
    eps = 1e-6
    for kind, params, grads in (("W", net.weights, dWs), ("b", net.biases, dbs)):
        for l, (P, G) in enumerate(zip(params, grads)):
            assert G.shape == P.shape
            numeric = np.empty_like(P)
            flat, nflat = P.reshape(-1), numeric.reshape(-1)
            for i in range(flat.size):
                keep = flat[i]
                flat[i] = keep + eps
                up = net.loss(X, Y)
                flat[i] = keep - eps
                down = net.loss(X, Y)
                flat[i] = keep
                nflat[i] = (up - down) / (2 * eps)
            np.testing.assert_allclose(
                G, numeric, rtol=1e-5, atol=1e-8,
                err_msg=f"{Net.__module__}.Network {kind}[{l}] gradient, {activation}/{output}/{loss}",
            )


def test_gradients_do_not_change_the_network(Net, rng):
    net = Net([3, 4, 2], seed=0)
    before = [W.copy() for W in net.weights]
    net.gradients(rng.normal(size=(6, 3)), rng.integers(0, 2, size=6))
    for W, W0 in zip(net.weights, before):
        np.testing.assert_array_equal(W, W0)


def test_step_applies_minus_lr_times_gradient(Net, rng):
    net = Net([3, 4, 2], activation="tanh", seed=0)
    X, y = rng.normal(size=(6, 3)), rng.integers(0, 2, size=6)
    loss_before = net.loss(X, y)
    dWs, dbs = net.gradients(X, y)
    W0 = [W.copy() for W in net.weights]
    b0 = [b.copy() for b in net.biases]
    assert net.step(X, y, lr=0.5) == pytest.approx(loss_before, rel=1e-12)
    for W, Wold, dW in zip(net.weights, W0, dWs):
        np.testing.assert_allclose(W, Wold - 0.5 * dW, rtol=1e-12, atol=1e-14)
    for b, bold, db in zip(net.biases, b0, dbs):
        np.testing.assert_allclose(b, bold - 0.5 * db, rtol=1e-12, atol=1e-14)
    assert net.loss(X, y) < loss_before
