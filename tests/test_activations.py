"""GELU and SiLU, whose derivatives need Z: PyTorch's values, and Z kept only for them."""
import numpy as np
import pytest

import fastbp
from fastbp import _layout, reference
from fastbp._codes import keeps_z
from fastbp.activations import ACTIVATIONS as RECORDS
from fastbp.activations import HIDDEN as HIDDEN_ACTIVATIONS

ACTIVATIONS = {name: a.code for name, a in RECORDS.items()}
from fastbp.testing import TOLERANCES


@pytest.mark.parametrize("name,torch_fn", [("gelu", "gelu"), ("silu", "silu")])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_values_and_derivatives_are_pytorchs(name, torch_fn, dtype):
    torch = pytest.importorskip("torch")
    Z = np.linspace(-12, 12, 2001).astype(dtype).reshape(1, -1)
    tz = torch.tensor(Z, requires_grad=True)
    ta = getattr(torch.nn.functional, torch_fn)(tz)  # gelu: approximate='none', the erf form
    ta.sum().backward()
    code = ACTIVATIONS[name]
    A = reference.activate(Z, code)
    tol = TOLERANCES[np.dtype(dtype)]
    np.testing.assert_allclose(A, ta.detach().numpy(), rtol=tol["rtol"], atol=tol["atol"], err_msg=name)
    np.testing.assert_allclose(reference.activation_derivative(A, Z, code), tz.grad.numpy(),
                               rtol=tol["rtol"], atol=tol["atol"], err_msg=f"{name}'")


def test_z_is_kept_only_for_the_activations_that_need_it():
    sizes, B = [8, 16, 4], 10
    for name in HIDDEN_ACTIVATIONS:
        acts = [ACTIVATIONS[name], ACTIVATIONS["softmax"]]
        extra = _layout.workspace_size(sizes, B, acts) - _layout.workspace_size(sizes, B, [0, ACTIVATIONS["softmax"]])
        assert extra == (16 * B if name in ("gelu", "silu") else 0), name
        assert keeps_z(ACTIVATIONS[name]) == (name in ("gelu", "silu"))


@pytest.mark.parametrize("activation", ["gelu", "silu"])
def test_networks_train_with_them(activation):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    net = fastbp.Network([64, 32, 10], activation=activation, seed=0)
    hist = net.fit(X / 16, y, epochs=15, batch_size=32, lr=0.1)
    assert hist["loss"][-1] < 0.5 * hist["loss"][0]
    assert (net.predict(X / 16) == y).mean() > 0.9


@pytest.mark.parametrize("activation", ["gelu", "silu"])
def test_sklearn_estimators_take_them(activation):
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits

    from fastbp.sklearn import MLPClassifier

    X, y = load_digits(return_X_y=True)
    clf = MLPClassifier(hidden_layer_sizes=(32,), activation=activation, max_iter=30, random_state=0).fit(X / 16, y)
    assert clf.score(X / 16, y) > 0.9
    net = fastbp.Network([64, 32, 10], activation=activation, dtype="float64")
    for W, b, coef, intercept in zip(net.weights, net.biases, clf.coefs_, clf.intercepts_):
        W[...], b[...] = coef.T, intercept
    np.testing.assert_allclose(clf.predict_proba(X / 16), net.forward(X / 16), rtol=1e-10, atol=1e-12)
