"""The records of activations, losses and optimizers, the dispatches they feed,
and the two additions built on them: AdamW (with AMSGrad) and the Huber loss."""
import ast
import os

import numpy as np
import pytest

import fastbp
from fastbp import _codes, activations, kernels, losses, optimizers, outputs, reference
from fastbp.testing import TOLERANCES

UNKNOWN = 99


# -- every dispatch ends in an error for an unknown code ------------------------
@pytest.mark.parametrize("impl", [kernels, reference], ids=["kernels", "reference"])
def test_an_unknown_activation_code_is_an_error(impl):
    W, b, X = np.eye(3), np.zeros(3), np.ones((3, 4))
    with pytest.raises(ValueError, match="unknown activation code"):
        impl.forward_layer(W, b, X, False, UNKNOWN, np.empty((3, 4)), np.empty((3, 4)))
    A = np.full((3, 4), 0.5)
    with pytest.raises(ValueError, match="unknown activation code"):
        impl.hidden_delta(W, np.ones((3, 4)), A, A.copy(), UNKNOWN, np.empty((3, 4)))


@pytest.mark.parametrize("impl", [kernels, reference], ids=["kernels", "reference"])
def test_an_unknown_loss_code_is_an_error(impl):
    A, Y = np.full((4, 3), 0.25), np.zeros((4, 3))
    with pytest.raises(ValueError, match="unknown loss code"):
        impl.loss_value(A, Y, np.array([float(UNKNOWN)]))
    with pytest.raises(ValueError, match="unknown loss code"):
        impl.output_delta(A, Y, _codes.IDENTITY, np.array([float(UNKNOWN)]), np.empty_like(A))


def test_the_records_name_every_code_once():
    """From the records themselves, not the tables keyed by code (where a
    duplicate code would have collapsed before any check)."""
    for records in (activations._RECORDS, losses.RECORDS, optimizers.RECORDS):
        codes, names = [r.code for r in records], [r.name for r in records]
        assert len(set(codes)) == len(codes) and len(set(names)) == len(names), records
    assert len(activations.BY_CODE) == len(activations._RECORDS) and len(optimizers.SPECS) == len(optimizers.RECORDS)
    assert activations.by_code(_codes.GELU).name == "gelu"
    with pytest.raises(ValueError, match="unknown activation code 99"):
        activations.by_code(UNKNOWN)
    with pytest.raises(ValueError, match="unknown loss code 99"):
        losses.by_code(np.array([99.0]))


def test_the_kernels_read_nothing_but_codes_from_outside_their_package():
    """The compiled code's cache key hashes ``_codes.py`` and ``_jit.py`` with
    the kernels: an import of any other module of the package from a kernel
    module would let an edit there load stale machine code, or (the records)
    recompile everything for a docstring."""
    kdir = os.path.join(os.path.dirname(fastbp.__file__), "kernels")
    for name in sorted(os.listdir(kdir)):
        if not name.endswith(".py") or name == "__init__.py":
            continue
        tree = ast.parse(open(os.path.join(kdir, name)).read())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 2:
                modules = [node.module] if node.module else [alias.name for alias in node.names]
                for module in modules:
                    assert module in ("_codes", "_jit"), f"kernels/{name} imports fastbp.{module}"


# -- output kinds -----------------------------------------------------------------
def test_every_output_kind_is_an_output_activation_with_its_default_loss():
    from sklearn.neural_network._base import ACTIVATIONS as SKLEARN_ACTIVATIONS

    for kind in outputs._RECORDS:
        assert kind.activation.name == kind.name and not (kind.activation.hidden and kind.name == "softmax")
        assert kind.name in losses.LOSSES[kind.default_loss].outputs, kind
        assert kind.sklearn_name in SKLEARN_ACTIVATIONS, kind
    assert len({k.name for k in outputs._RECORDS}) == len(outputs.OUTPUT_KINDS) == len(outputs.BY_SKLEARN_NAME)
    # Every loss names only output kinds there are.
    assert {o for spec in losses.RECORDS for o in spec.outputs} <= set(outputs.OUTPUT_KINDS)


@pytest.mark.parametrize("name", ["tanh", "relu", "Softmax", "", None, 3])
def test_an_unknown_output_is_an_error_everywhere(name, Net):
    with pytest.raises(ValueError, match="unknown output"):
        outputs.output_kind(name)
    with pytest.raises(ValueError, match="unknown output"):
        Net([3, 2], output=name)


def test_no_module_compares_output_names():
    """What an output kind means lives in its record (fastbp/outputs.py):
    no other module branches on an output's name, so adding a kind is its
    code, its kernel branch, its twin and its record."""
    import re

    root = os.path.dirname(fastbp.__file__)
    names = "|".join(outputs.OUTPUT_KINDS) + "|" + "|".join(outputs.BY_SKLEARN_NAME)
    comparison = re.compile(rf"""(==|!=|\bin)\s*\(?\s*["']({names})["']|["']({names})["']\s*(==|!=)""")
    found = []
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            if not name.endswith(".py") or path == os.path.join(root, "outputs.py"):
                continue
            for number, line in enumerate(open(path, encoding="utf-8"), 1):
                code = line.split("#")[0]
                if comparison.search(code) and "est.loss ==" not in code:  # scikit-learn's own loss naming
                    found.append(f"{os.path.relpath(path, root)}:{number}: {line.strip()}")
    assert not found, "\n".join(found)


# -- AdamW -----------------------------------------------------------------------
def test_adamw_by_name_and_object(Net):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 5)), rng.integers(0, 3, 60)
    by_name = Net([5, 8, 3], seed=1)
    by_name.fit(X, y, epochs=2, lr=1e-2, optimizer="adamw")
    by_object = Net([5, 8, 3], seed=1)
    by_object.fit(X, y, epochs=2, lr=1e-2, optimizer=optimizers.AdamW())
    np.testing.assert_array_equal(by_name.weights[0], by_object.weights[0])
    assert repr(optimizers.AdamW()) == ("AdamW(beta_1=0.9, beta_2=0.999, epsilon=1e-08, weight_decay=0.01, "
                                        "amsgrad=False, l2=0.0)")


def test_amsgrad_keeps_a_third_state_buffer_and_changes_the_steps():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(80, 5)), rng.integers(0, 3, 80)
    runs = {}
    for ams in (False, True):
        net = fastbp.Network([5, 8, 3], seed=1)
        opt = optimizers.AdamW(amsgrad=ams)
        net.fit(X, y, epochs=3, lr=5e-2, optimizer=opt)
        assert opt._state.size == (3 if ams else 2) * net._params.size
        runs[ams] = net._params.copy()
    assert not np.array_equal(runs[False], runs[True])


def test_adamw_decays_weights_not_biases():
    """With zero gradients, one step multiplies W by 1 - lr * weight_decay and leaves b."""
    W, b = np.full((2, 3), 2.0), np.full(2, 3.0)
    z = [np.zeros_like(a) for _ in range(3) for a in (W, b)]
    for impl in (kernels, reference):
        W1, b1 = W.copy(), b.copy()
        impl.adamw_update(W1, b1, np.zeros_like(W), np.zeros_like(b), *[a.copy() for a in z],
                          0.1, 0.9, 0.999, 1e-8, 0.5, 0.0, 1, 0.0)
        np.testing.assert_allclose(W1, W * (1 - 0.1 * 0.5), rtol=1e-15)
        np.testing.assert_array_equal(b1, b)


@pytest.mark.parametrize("kwargs,match", [({"weight_decay": -1}, "weight_decay"), ({"amsgrad": 1}, "amsgrad"),
                                          ({"beta_1": 1.0}, "beta_1"), ({"epsilon": 0}, "epsilon")])
def test_adamw_checks_its_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        optimizers.AdamW(**kwargs)


# -- Huber -------------------------------------------------------------------------
def _regression(rng, n=120):
    X = rng.normal(size=(n, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + rng.standard_t(1, size=n)  # heavy-tailed noise
    return X, y.reshape(-1, 1)


def test_huber_with_a_large_delta_trains_as_mse():
    """Past every residual, Huber is mse: the same steps, bit for bit."""
    X, y = _regression(np.random.default_rng(0))
    nets = []
    for loss in ("mse", losses.Huber(delta=1e12)):
        net = fastbp.Network([4, 6, 1], output="identity", loss=loss, seed=3)
        net.fit(X, y, epochs=3, lr=1e-2)
        nets.append(net)
    np.testing.assert_array_equal(nets[0]._params, nets[1]._params)


def test_huber_is_the_same_in_the_reference_and_the_kernels():
    X, y = _regression(np.random.default_rng(1))
    tol = TOLERANCES[np.dtype(np.float64)]
    fast = fastbp.Network([4, 6, 1], output="identity", loss=losses.Huber(delta=0.3), seed=2)
    ref = fastbp.reference.Network([4, 6, 1], output="identity", loss=losses.Huber(delta=0.3), seed=2)
    h_fast = fast.fit(X, y, epochs=4, lr=1e-2, optimizer="adamw")
    h_ref = ref.fit(X, y, epochs=4, lr=1e-2, optimizer="adamw")
    np.testing.assert_allclose(h_fast["loss"], h_ref["loss"], rtol=tol["trained_rtol"])
    np.testing.assert_allclose(fast._params, ref._params, rtol=tol["trained_rtol"], atol=tol["trained_atol"])
    assert fast.loss(X, y) == pytest.approx(ref.loss(X, y), rel=1e-10)


def test_huber_delta_survives_save_and_load(tmp_path):
    net = fastbp.Network([4, 3, 2], output="identity", loss=losses.Huber(delta=0.25), seed=0)
    net.save(tmp_path / "m.npz")
    back = fastbp.Network.load(tmp_path / "m.npz")
    assert back.loss_name == "huber" and back.loss_function == losses.Huber(delta=0.25)
    assert "Huber(delta=0.25)" in repr(back)
    X, Y = np.random.default_rng(0).normal(size=(5, 4)), np.ones((5, 2))
    assert back.loss(X, Y) == net.loss(X, Y)


@pytest.mark.parametrize("output", ["softmax", "sigmoid"])
def test_huber_needs_an_identity_output(output):
    with pytest.raises(ValueError, match="loss='huber' cannot be used with output="):
        fastbp.Network([3, 2], output=output, loss="huber")


@pytest.mark.parametrize("delta", [0, -1.0, float("inf"), "1", True])
def test_huber_checks_delta(delta):
    with pytest.raises(ValueError, match="delta"):
        losses.Huber(delta=delta)


def test_a_hostile_file_cannot_smuggle_loss_parameters(tmp_path):
    from fastbp import _io

    net = fastbp.Network([2, 1], output="identity", loss="huber")
    meta = {"format": _io.FORMAT, "format_version": _io.FORMAT_VERSION, "sizes": [2, 1], "activation": "sigmoid",
            "output": "identity", "loss": "huber", "dtype": "float64"}
    for bad in ([1, 2], {"delta": -1}, {"nope": 1}, {"delta": "x"}, "delta"):
        _io.write_model(tmp_path / "bad.npz", dict(meta, loss_params=bad), net.weights, net.biases)
        with pytest.raises(ValueError, match="not a valid fastbp model file"):
            fastbp.Network.load(tmp_path / "bad.npz")


def test_huber_exports_to_onnx_as_its_forward_pass():
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    net = fastbp.Network([3, 5, 2], activation="tanh", output="identity", loss="huber", seed=0)
    X = np.random.default_rng(0).normal(size=(6, 3))
    session = ort.InferenceSession(net.to_onnx().SerializeToString())
    np.testing.assert_allclose(session.run(None, {"X": X})[0], net.forward(X), rtol=1e-12, atol=1e-12)


_BASE_CHECK = """
import fastbp.losses as losses, fastbp.optimizers as optimizers
for base, records in ((optimizers.Optimizer, optimizers.RECORDS), (losses.Loss, losses.RECORDS)):
    for record in records:
        values = {name: getattr(record(), name) for name, _, _ in record.params}
        try:
            base.__init__(object.__new__(record), **values, bogus=1)
            print(record.__name__, "accepted")
        except TypeError as exc:
            print(record.__name__, "refused" if "unknown parameters ['bogus']" in str(exc) else exc)
"""


@pytest.mark.parametrize("flags", [[], ["-O"]], ids=["python", "python -O"])
def test_unknown_parameters_are_refused_with_an_exception_not_an_assert(flags):
    """The records' shared constructors check their keywords with an exception,
    which ``python -O`` keeps (it strips ``assert``)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, *flags, "-c", _BASE_CHECK], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split("\n")[:-1]
    assert len(lines) == len(optimizers.RECORDS) + len(losses.RECORDS)
    assert all(line.endswith(" refused") for line in lines), out.stdout
