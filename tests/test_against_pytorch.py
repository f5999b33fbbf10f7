"""GELU, SiLU, RMSprop, AdamW (with and without AMSGrad) and Huber against
PyTorch's own numbers: an independent check of the kernels and their twins,
which otherwise are only checked against each other.

The numbers are in ``tests/data/torch_references.npz``, made by
``tools/torch_references.py`` with PyTorch (float64), so CI checks them
without installing PyTorch; where PyTorch is installed, the last test
recomputes them and compares with the file.
"""
import os

import numpy as np
import pytest

from fastbp import kernels, reference
from fastbp._codes import GELU, IDENTITY, SILU
from fastbp.losses import Huber
from fastbp.testing import TOLERANCES

DATA = os.path.join(os.path.dirname(__file__), "data", "torch_references.npz")
TOL64 = TOLERANCES[np.dtype(np.float64)]


@pytest.fixture(scope="module")
def torch_values():
    with np.load(DATA) as f:
        return {k: f[k] for k in f.files}


def _kernel_activation(z, code):
    """``act(z)`` and ``act'(z)`` through the compiled forward layer and hidden delta."""
    n = z.size
    Z, A = np.empty((1, n)), np.empty((1, n))
    kernels.forward_layer(np.eye(1), np.zeros(1), z.reshape(1, n).copy(), False, code, Z, A)
    D = np.empty((1, n))
    kernels.hidden_delta(np.eye(1), np.ones((1, n)), A, Z, code, D)
    return A[0], D[0]


@pytest.mark.parametrize("name,code", [("gelu", GELU), ("silu", SILU)])
def test_activation_values_and_derivatives(torch_values, name, code):
    z = torch_values["act_z"]
    want, want_grad = torch_values[f"act_{name}"], torch_values[f"act_{name}_grad"]
    Z = z.reshape(1, -1)
    A = reference.activate(Z, code)
    np.testing.assert_allclose(A[0], want, rtol=TOL64["rtol"], atol=TOL64["atol"], err_msg=f"reference {name}")
    np.testing.assert_allclose(reference.activation_derivative(A, Z, code)[0], want_grad, rtol=TOL64["rtol"],
                               atol=TOL64["atol"], err_msg=f"reference {name}'")
    got, got_grad = _kernel_activation(z, code)
    np.testing.assert_allclose(got, want, rtol=TOL64["rtol"], atol=TOL64["atol"], err_msg=f"kernel {name}")
    np.testing.assert_allclose(got_grad, want_grad, rtol=TOL64["rtol"], atol=TOL64["atol"], err_msg=f"kernel {name}'")


def _trajectory(values, key, update, state_copies, settings):
    """Run ``update`` (kernel or twin) over the stored gradients; yield (step, W, b, torch's W, torch's b)."""
    W, b = values[f"{key}_W0"].copy(), values[f"{key}_b0"].copy()
    state = [np.zeros_like(a) for _ in range(state_copies) for a in (W, b)]
    for t in range(values[f"{key}_gW"].shape[0]):
        update(W, b, values[f"{key}_gW"][t], values[f"{key}_gb"][t], *state, *settings(t + 1))
        yield t + 1, W, b, values[f"{key}_W"][t], values[f"{key}_b"][t]


@pytest.mark.parametrize("impl", [kernels, reference], ids=["kernel", "reference"])
@pytest.mark.parametrize("l2", [0.0, 0.01])
def test_rmsprop_steps(torch_values, impl, l2):
    settings = lambda t: (0.01, 0.9, 1e-6, t, l2)  # noqa: E731  (lr, rho, epsilon, step, l2)
    for t, W, b, tW, tb in _trajectory(torch_values, f"rmsprop_l2_{l2}", impl.rmsprop_update, 1, settings):
        np.testing.assert_allclose(W, tW, rtol=1e-12, atol=1e-14, err_msg=f"{impl.__name__} step {t}")
        np.testing.assert_allclose(b, tb, rtol=1e-12, atol=1e-14, err_msg=f"{impl.__name__} step {t}")


@pytest.mark.parametrize("impl", [kernels, reference], ids=["kernel", "reference"])
@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_adamw_steps(torch_values, impl, amsgrad, weight_decay):
    """torch.optim.AdamW(lr=0.01, betas=(0.85, 0.995), eps=1e-7), weights decayed, biases not."""
    key = f"adamw_ams_{int(amsgrad)}_wd_{weight_decay}"
    settings = lambda t: (0.01, 0.85, 0.995, 1e-7, weight_decay, float(amsgrad), t, 0.0)  # noqa: E731
    for t, W, b, tW, tb in _trajectory(torch_values, key, impl.adamw_update, 3, settings):
        np.testing.assert_allclose(W, tW, rtol=1e-12, atol=1e-14, err_msg=f"{impl.__name__} {key} step {t}")
        np.testing.assert_allclose(b, tb, rtol=1e-12, atol=1e-14, err_msg=f"{impl.__name__} {key} step {t}")


@pytest.mark.parametrize("impl", [kernels, reference], ids=["kernel", "reference"])
@pytest.mark.parametrize("delta", [0.5, 1.0, 2.5])
def test_huber_loss_and_delta(torch_values, impl, delta):
    """The mean over samples of HuberLoss(delta, reduction='sum'), and its per-sample gradient."""
    A, Y = torch_values["huber_A"], torch_values["huber_Y"]
    packed = Huber(delta=delta).pack()
    assert impl.loss_value(A, Y, packed) == pytest.approx(float(torch_values[f"huber_{delta}_loss"]), rel=1e-13)
    out = np.empty_like(A)
    impl.output_delta(A, Y, IDENTITY, packed, out)
    np.testing.assert_allclose(out, torch_values[f"huber_{delta}_grad"], rtol=1e-13, atol=1e-15)


def test_the_stored_values_are_this_pytorchs(torch_values, tmp_path, monkeypatch):
    """Where PyTorch is installed: recomputing the file gives the stored numbers."""
    pytest.importorskip("torch")
    import importlib.util

    path = os.path.join(os.path.dirname(__file__), os.pardir, "tools", "torch_references.py")
    spec = importlib.util.spec_from_file_location("torch_references", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "OUT", str(tmp_path / "fresh.npz"))
    module.main()
    with np.load(tmp_path / "fresh.npz") as fresh:
        for key in torch_values:
            if key != "torch_version":
                np.testing.assert_allclose(fresh[key], torch_values[key], rtol=1e-13, atol=1e-15, err_msg=key)
