"""Momentum, Nesterov and Adam (scikit-learn's rules), RMSprop (PyTorch's): fast == reference, state kept between fits."""
import numpy as np
import pytest
from conftest import params_of

import fastbp
from fastbp import optimizers, reference
from fastbp.testing import TOLERANCES

OPTIMIZERS = {
    "momentum": lambda: optimizers.SGD(momentum=0.9),
    "nesterov": lambda: optimizers.SGD(momentum=0.9, nesterov=True),
    "adam": lambda: optimizers.Adam(),
    "momentum+l2": lambda: optimizers.SGD(momentum=0.5, l2=1e-2),
    "sgd+l2": lambda: optimizers.SGD(l2=1e-2),
    "adam+l2": lambda: optimizers.Adam(beta_1=0.8, beta_2=0.99, epsilon=1e-6, l2=1e-2),
    "rmsprop": lambda: optimizers.RMSprop(),
    "rmsprop+l2": lambda: optimizers.RMSprop(rho=0.9, epsilon=1e-6, l2=1e-2),
}


def _data(rng, n=101):
    return rng.normal(size=(n, 10)), rng.integers(0, 3, size=n)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_fast_and_reference_train_to_same_weights(name, dtype, rng):
    X, y = _data(rng)
    lr = 1e-2 if name.startswith(("adam", "rmsprop")) else 0.05
    nets, hists = [], []
    for Net in (fastbp.Network, reference.Network):
        net = Net([10, 16, 8, 3], activation="tanh", dtype=dtype, seed=5)
        hists.append(net.fit(X, y, epochs=4, batch_size=16, lr=lr, optimizer=OPTIMIZERS[name]()))
        nets.append(net)
    tol = TOLERANCES[np.dtype(dtype)]
    np.testing.assert_allclose(hists[0]["loss"], hists[1]["loss"], rtol=tol["trained_rtol"], atol=tol["trained_atol"])
    np.testing.assert_allclose(params_of(nets[0]), params_of(nets[1]), rtol=tol["trained_rtol"], atol=tol["trained_atol"],
                               err_msg=f"optimizer {name}, {dtype}")
    start = fastbp.Network([10, 16, 8, 3], activation="tanh", dtype=dtype, seed=5)
    assert not np.allclose(params_of(nets[0]), params_of(start))


def _sklearn_optimizer(kind, params, lr):
    from sklearn.neural_network._stochastic_optimizers import (
        AdamOptimizer,
        SGDOptimizer,
    )

    if kind == "adam":
        return AdamOptimizer(params, lr, 0.9, 0.999, 1e-8)
    return SGDOptimizer(params, lr, "constant", 0.9, kind == "nesterov", 0.5)


@pytest.mark.parametrize("kind", ["momentum", "nesterov", "adam"])
def test_update_rules_are_scikit_learns(kind, rng):
    """Five steps of fastbp's update kernel and of scikit-learn's optimizer
    object on the same gradients (L2 folded in as scikit-learn does) agree."""
    from fastbp import kernels

    lr, alpha, B = 0.01, 1e-3, 8
    W, b = rng.normal(size=(4, 3)), rng.normal(size=4)
    sk_params = [W.T.copy(), b.copy()]  # scikit-learn's (n_in, n_out) orientation
    opt = _sklearn_optimizer(kind, sk_params, lr)
    state = [np.zeros_like(W), np.zeros_like(b), np.zeros_like(W), np.zeros_like(b)]
    for t in range(1, 6):
        dW, db = rng.normal(size=W.shape), rng.normal(size=b.shape)
        opt.update_params(sk_params, [dW.T + alpha * sk_params[0] / B, db])
        if kind == "adam":
            kernels.adam_update(W, b, dW, db, *state, lr, 0.9, 0.999, 1e-8, t, alpha / B)
        else:
            kernels.momentum_update(W, b, dW, db, state[0], state[1], lr, 0.9, float(kind == "nesterov"), t, alpha / B)
        np.testing.assert_allclose(W, sk_params[0].T, rtol=1e-12, atol=1e-14, err_msg=f"{kind} step {t}")
        np.testing.assert_allclose(b, sk_params[1], rtol=1e-12, atol=1e-14, err_msg=f"{kind} step {t}")


@pytest.mark.parametrize("l2", [0.0, 1e-2])
def test_rmsprop_is_pytorchs(l2, rng):
    """Five steps of fastbp's RMSprop kernel and of torch.optim.RMSprop(alpha=rho,
    eps=epsilon) on the same gradients agree; l2 is PyTorch's weight_decay on
    the weights (biases in a group without it)."""
    torch = pytest.importorskip("torch")
    from fastbp import kernels

    lr, rho, eps = 0.01, 0.9, 1e-6
    W, b = rng.normal(size=(4, 3)), rng.normal(size=4)
    tW, tb = torch.tensor(W.copy(), requires_grad=True), torch.tensor(b.copy(), requires_grad=True)
    opt = torch.optim.RMSprop([{"params": [tW], "weight_decay": l2}, {"params": [tb], "weight_decay": 0.0}],
                              lr=lr, alpha=rho, eps=eps)
    state = [np.zeros_like(W), np.zeros_like(b)]
    for t in range(1, 6):
        dW, db = rng.normal(size=W.shape), rng.normal(size=b.shape)
        tW.grad, tb.grad = torch.tensor(dW), torch.tensor(db)
        opt.step()
        kernels.rmsprop_update(W, b, dW, db, *state, lr, rho, eps, t, l2)
        np.testing.assert_allclose(W, tW.detach().numpy(), rtol=1e-12, atol=1e-14, err_msg=f"step {t}")
        np.testing.assert_allclose(b, tb.detach().numpy(), rtol=1e-12, atol=1e-14, err_msg=f"step {t}")


def test_rmsprop_first_step_by_hand():
    """From zero state, v = (1 - rho) g**2, so the first step is lr * g / (sqrt(1 - rho) |g| + eps)."""
    from fastbp import kernels

    W, b = np.array([[1.0, -2.0]]), np.array([0.5])
    dW, db = np.array([[0.3, -4.0]]), np.array([2.0])
    vW, vb = np.zeros_like(W), np.zeros_like(b)
    kernels.rmsprop_update(W, b, dW, db, vW, vb, 0.1, 0.99, 1e-8, 1, 0.0)
    step = lambda g: 0.1 * g / (np.sqrt(0.01) * abs(g) + 1e-8)  # noqa: E731
    np.testing.assert_allclose(W, [[1.0 - step(0.3), -2.0 - step(-4.0)]], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(b, [0.5 - step(2.0)], rtol=1e-12)
    np.testing.assert_allclose(vW, 0.01 * dW**2, rtol=1e-12)


def test_update_returns_sum_of_squares_before_the_step(rng):
    from fastbp import kernels

    W, b = rng.normal(size=(5, 4)), rng.normal(size=5)
    expected = float((W**2).sum())
    z = [np.zeros_like(W), np.zeros_like(b)]
    got = kernels.momentum_update(W, b, np.ones_like(W), np.ones_like(b), *z, 0.1, 0.9, 0.0, 1, 0.0)
    assert got == pytest.approx(expected, rel=1e-12)
    assert not np.isclose(float((W**2).sum()), expected)  # W did move


def test_plain_sgd_is_unchanged_by_the_optimizer_argument(Net, rng):
    X, y = _data(rng)
    runs = []
    for opt in (None, "sgd", optimizers.SGD(), optimizers.SGD(momentum=0.0, nesterov=True)):
        net = Net([10, 7, 3], seed=2)
        kw = {} if opt is None else {"optimizer": opt}
        runs.append((net.fit(X, y, epochs=3, batch_size=10, lr=0.1, **kw)["loss"], params_of(net).copy()))
    for loss, params in runs[1:]:
        assert loss == runs[0][0]
        np.testing.assert_array_equal(params, runs[0][1])


@pytest.mark.parametrize("kind", ["nesterov", "adam"])
def test_optimizer_object_keeps_its_state_between_fits(Net, kind, rng):
    """Two fits of 2 epochs with one optimizer object == one fit of 4 epochs;
    a name starts afresh each call, so it does not."""
    X, y = _data(rng)
    lr = 1e-2
    one = Net([10, 7, 3], seed=4)
    h_one = one.fit(X, y, epochs=4, batch_size=16, lr=lr, optimizer=optimizers.resolve(kind))["loss"]
    two, opt = Net([10, 7, 3], seed=4), optimizers.resolve(kind)
    h_two = two.fit(X, y, epochs=2, batch_size=16, lr=lr, optimizer=opt)["loss"]
    h_two += two.fit(X, y, epochs=2, batch_size=16, lr=lr, optimizer=opt)["loss"]
    np.testing.assert_array_equal(h_two, h_one)
    np.testing.assert_array_equal(params_of(two), params_of(one))
    assert opt.step_count == 4 * 7  # 101 rows in batches of 16: 7 steps an epoch
    fresh = Net([10, 7, 3], seed=4)
    fresh.fit(X, y, epochs=2, batch_size=16, lr=lr, optimizer=kind)
    fresh.fit(X, y, epochs=2, batch_size=16, lr=lr, optimizer=kind)
    assert not np.array_equal(params_of(fresh), params_of(one))


def test_l2_loss_includes_penalty_and_shrinks_weights(Net, rng):
    X, y = _data(rng)
    plain, decayed = Net([10, 7, 3], seed=4), Net([10, 7, 3], seed=4)
    W0 = [w.copy() for w in plain.weights]
    # One batch, one epoch: the loss is the data loss before the step plus 0.5 * l2 * ||W||^2.
    h = decayed.fit(X, y, epochs=1, batch_size=len(X), lr=0.0 + 1e-12, optimizer=optimizers.SGD(l2=0.5))
    data_loss = plain.loss(X, y)
    penalty = 0.5 * 0.5 * sum(float((w**2).sum()) for w in W0)
    assert h["loss"][0] == pytest.approx(data_loss + penalty, rel=1e-9)
    a, b = Net([10, 7, 3], seed=4), Net([10, 7, 3], seed=4)
    a.fit(X, y, epochs=20, batch_size=16, lr=0.05, optimizer=optimizers.SGD(momentum=0.9))
    b.fit(X, y, epochs=20, batch_size=16, lr=0.05, optimizer=optimizers.SGD(momentum=0.9, l2=0.1))
    assert sum((w**2).sum() for w in b.weights) < 0.8 * sum((w**2).sum() for w in a.weights)


@pytest.mark.parametrize("kind", ["momentum", "nesterov", "adam"])
def test_optimizers_learn_digits(kind):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X / 16, y, test_size=0.25, random_state=0, stratify=y)
    net = fastbp.Network([64, 32, 10], activation="relu", dtype="float32", seed=0)
    hist = net.fit(X_tr, y_tr, epochs=15, batch_size=32, lr=1e-3 if kind == "adam" else 0.02, optimizer=kind)
    assert hist["loss"][-1] < 0.5 * hist["loss"][0]
    assert (net.predict(X_te) == y_te).mean() > 0.93


@pytest.mark.parametrize(
    "bad,match",
    [
        ("adagrad", "unknown optimizer 'adagrad'; valid: " + ", ".join(repr(n) for n in optimizers.NAMES)),
        (3, "unknown optimizer 3"),
        (None, "unknown optimizer None"),
    ],
)
def test_unknown_optimizer_is_a_clear_error(Net, bad, match, rng):
    X, y = _data(rng)
    net = Net([10, 3], seed=0)
    before = params_of(net).copy()
    with pytest.raises(ValueError, match=match):
        net.fit(X, y, optimizer=bad)
    np.testing.assert_array_equal(params_of(net), before)


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: optimizers.SGD(momentum=1.0), r"momentum must be in \[0, 1\)"),
        (lambda: optimizers.SGD(momentum=-0.1), r"momentum must be in \[0, 1\)"),
        (lambda: optimizers.SGD(momentum="0.9"), "momentum must be a number"),
        (lambda: optimizers.SGD(nesterov="yes"), "nesterov must be True or False"),
        (lambda: optimizers.SGD(l2=-1), "l2 must be >= 0"),
        (lambda: optimizers.SGD(l2=float("nan")), "l2 must be >= 0"),
        (lambda: optimizers.Adam(beta_1=1.0), r"beta_1 must be in \[0, 1\)"),
        (lambda: optimizers.Adam(beta_2=2), r"beta_2 must be in \[0, 1\)"),
        (lambda: optimizers.Adam(epsilon=0), "epsilon must be > 0"),
    ],
)
def test_bad_hyperparameters_are_clear_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_optimizer_used_with_another_network_is_refused(Net, rng):
    X, y = _data(rng)
    opt = optimizers.Adam()
    Net([10, 3], seed=0).fit(X, y, epochs=1, optimizer=opt)
    other = Net([10, 5, 3], seed=0)
    before = params_of(other).copy()
    with pytest.raises(ValueError, match="used with another network; call .reset"):
        other.fit(X, y, epochs=1, optimizer=opt)
    np.testing.assert_array_equal(params_of(other), before)
    opt.reset()
    other.fit(X, y, epochs=1, optimizer=opt)
    assert opt.step_count == 4


def test_divergence_restores_parameters_and_optimizer_state(Net, rng):
    """The epoch that diverges is undone, optimizer state included: the net and
    its optimizer end as a twin run for only the finished epochs ends."""
    X = rng.normal(size=(32, 4))
    Y = rng.normal(size=(32, 3))

    def run(epochs):
        net = Net([4, 16, 3], activation="identity", output="identity", loss="mse", seed=0)
        opt = optimizers.SGD(momentum=0.9)
        return net, opt, net.fit(X, Y, epochs=epochs, batch_size=4, lr=0.1, optimizer=opt, on_divergence="warn")

    with pytest.warns(RuntimeWarning, match="diverged"):
        net, opt, hist = run(50)
    done = len(hist["loss"])
    assert 0 < done < 50
    twin, twin_opt, _ = run(done)
    np.testing.assert_array_equal(params_of(net), params_of(twin))
    np.testing.assert_array_equal(opt.state_for(params_of(net).size, net.dtype), twin_opt.state_for(params_of(twin).size, twin.dtype))
    assert opt.step_count == twin_opt.step_count == 8 * done
    again = Net([4, 16, 3], activation="identity", output="identity", loss="mse", seed=0)
    with pytest.raises(fastbp.TrainingDivergedError):
        again.fit(X, Y, epochs=50, batch_size=4, lr=0.1, optimizer=optimizers.SGD(momentum=0.9))
    np.testing.assert_array_equal(params_of(again), params_of(twin))
