"""Bad input gets a clear ValueError before any kernel runs, and leaves the network as it was."""

import numpy as np
import pytest

import fastbp


class KernelCalled(AssertionError):
    pass


@pytest.fixture
def guarded(Net, monkeypatch):
    """A network whose kernels raise if they are reached at all."""
    net = Net([4, 5, 3], seed=0)

    class Tripwire:
        def __getattr__(self, name):
            raise KernelCalled(f"kernel {name} ran before validation rejected the input")

    monkeypatch.setattr(net, "_kernels", lambda: Tripwire())
    return net


GOOD_X = np.zeros((6, 4))
GOOD_Y = np.array([0, 1, 2, 0, 1, 2])

BAD_CALLS = {
    "X wrong width": ("fit", (np.zeros((6, 5)), GOOD_Y), {}, "features"),
    "X 1-D": ("fit", (np.zeros(4), GOOD_Y), {}, "2-D"),
    "X 3-D": ("forward", (np.zeros((2, 2, 4)),), {}, "2-D"),
    "X empty": ("forward", (np.zeros((0, 4)),), {}, "empty"),
    "X NaN": ("fit", (np.where(np.eye(6, 4) > 0, np.nan, 0.0), GOOD_Y), {}, "NaN"),
    "X inf": ("loss", (np.full((6, 4), np.inf), GOOD_Y), {}, "infinity"),
    "X strings": ("forward", (np.array([["a"] * 4]),), {}, "numbers"),
    "X objects": ("forward", (np.array([[object()] * 4]),), {}, "numbers"),
    "X ragged": ("forward", ([[1, 2, 3, 4], [1]],), {}, "numeric array"),
    "Y NaN": ("step", (GOOD_X, np.full((6, 3), np.nan)), {}, "NaN"),
    "Y wrong width": ("gradients", (GOOD_X, np.zeros((6, 2))), {}, "columns"),
    "Y wrong length": ("fit", (GOOD_X, GOOD_Y[:5]), {}, "labels"),
    "labels out of range": ("fit", (GOOD_X, GOOD_Y + 1), {}, "0..2"),
    "labels negative": ("fit", (GOOD_X, GOOD_Y - 1), {}, "0..2"),
    "labels fractional": ("fit", (GOOD_X, GOOD_Y + 0.5), {}, "integers"),
    "Y negative probabilities": ("loss", (GOOD_X, -np.ones((6, 3))), {}, "non-negative"),
    "lr zero": ("fit", (GOOD_X, GOOD_Y), {"lr": 0.0}, "lr"),
    "lr nan": ("step", (GOOD_X, GOOD_Y), {"lr": float("nan")}, "lr"),
    "lr string": ("fit", (GOOD_X, GOOD_Y), {"lr": "0.1"}, "lr"),
    "epochs zero": ("fit", (GOOD_X, GOOD_Y), {"epochs": 0}, "epochs"),
    "epochs float": ("fit", (GOOD_X, GOOD_Y), {"epochs": 2.5}, "epochs"),
    "batch_size negative": ("fit", (GOOD_X, GOOD_Y), {"batch_size": -1}, "batch_size"),
    "on_divergence unknown": ("fit", (GOOD_X, GOOD_Y), {"on_divergence": "ignore"}, "on_divergence"),
}


@pytest.mark.parametrize("call", list(BAD_CALLS), ids=list(BAD_CALLS))
def test_bad_input_is_rejected_before_any_kernel(guarded, call):
    method, args, kwargs, words = BAD_CALLS[call]
    before = [p.copy() for p in guarded.weights + guarded.biases]
    with pytest.raises(ValueError, match=words):
        getattr(guarded, method)(*args, **kwargs)
    for p, p0 in zip(guarded.weights + guarded.biases, before):
        np.testing.assert_array_equal(p, p0)


BAD_CONFIGS = {
    "unknown activation": (dict(activation="swish"), "unknown activation 'swish'.*'sigmoid'"),
    "softmax hidden": (dict(activation="softmax"), "unknown activation"),
    "unknown output": (dict(output="tanh"), "unknown output"),
    "unknown loss": (dict(loss="hinge"), "unknown loss"),
    "softmax with mse": (dict(output="softmax", loss="mse"), "Jacobian"),
    "cross-entropy without softmax": (dict(output="sigmoid", loss="cross_entropy"), "valid pairs"),
    "bce with identity": (dict(output="identity", loss="binary_cross_entropy"), "valid pairs"),
    "unknown dtype": (dict(dtype="float16"), "dtype"),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS), ids=list(BAD_CONFIGS))
def test_bad_configuration(Net, case):
    kwargs, words = BAD_CONFIGS[case]
    with pytest.raises(ValueError, match=words):
        Net([4, 5, 3], **kwargs)


@pytest.mark.parametrize("sizes", [[4], [], [4, 0, 3], [4, -1], [4, 2.5], "abc", 5])
def test_bad_sizes(Net, sizes):
    with pytest.raises(ValueError, match="sizes"):
        Net(sizes)


def test_softmax_of_one_unit(Net):
    with pytest.raises(ValueError, match="at least 2 units"):
        Net([4, 1], output="softmax")


def test_input_type_errors_are_value_errors_too():
    assert issubclass(fastbp.InputTypeError, ValueError) and issubclass(fastbp.InputTypeError, TypeError)


def test_user_arrays_are_not_modified(Net, rng):
    X = rng.normal(size=(10, 4))
    Y = np.eye(3)[rng.integers(0, 3, 10)]
    X0, Y0 = X.copy(), Y.copy()
    net = Net([4, 3, 3], seed=0)
    net.fit(X, Y, epochs=2, batch_size=3)
    net.step(X, Y)
    net.gradients(X, Y)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(Y, Y0)


def test_divergence_restores_last_finite_weights(Net, rng):
    X = rng.normal(size=(32, 4)) * 1e3
    Y = rng.normal(size=(32, 3)) * 1e3
    net = Net([4, 16, 3], activation="identity", output="identity", loss="mse", seed=0)
    with pytest.raises(fastbp.TrainingDivergedError, match="diverged") as info:
        net.fit(X, Y, epochs=50, batch_size=4, lr=10.0)
    for p in net.weights + net.biases:
        assert np.isfinite(p).all()
    assert all(np.isfinite(info.value.history["loss"]))
    with pytest.warns(RuntimeWarning, match="diverged"):
        hist = net.fit(X, Y, epochs=50, batch_size=4, lr=10.0, on_divergence="warn")
    assert len(hist["loss"]) < 50
    assert all(np.isfinite(p).all() for p in net.weights + net.biases)




def test_sparse_input_and_array_schedules_get_clear_messages():
    import scipy.sparse as sp

    net = fastbp.Network([3, 2])
    X = sp.csr_matrix(np.eye(3))
    with pytest.raises(ValueError, match="Y is a scipy.sparse csr_matrix: Y must be dense"):
        net.loss(X, X[:, :2])
    with pytest.raises(ValueError, match="X is a scipy.sparse coo_matrix .*CSR or CSC.*X.tocsr()"):
        net.forward(X.tocoo())
    with pytest.raises(ValueError, match="lr_schedule must be one of .*list of rates"):
        net.fit(np.eye(3), [0, 1, 0], lr_schedule=np.array([0.1, 0.2]))


@pytest.mark.parametrize("case", ["huber_delta", "lr", "l2", "weight_decay", "epsilon"])
def test_a_hyper_parameter_the_dtype_cannot_hold_is_refused_naming_it(case):
    """A nonzero value that is 0 or inf in float32 would train with 0 or inf
    silently: refused before training, naming the parameter and the dtype;
    float64 takes it."""
    from fastbp.losses import Huber
    from fastbp.optimizers import Adam, AdamW

    X, y = np.zeros((4, 3)), np.array([0.0, 1.0, 0.5, 2.0])[:, None]
    fits = {
        "huber_delta": (lambda dt: fastbp.Network([3, 4, 1], output="identity", loss=Huber(delta=1e-50), dtype=dt),
                        {}),
        "lr": (lambda dt: fastbp.Network([3, 4, 1], output="identity", dtype=dt), {"lr": 1e-50}),
        "l2": (lambda dt: fastbp.Network([3, 4, 1], output="identity", dtype=dt), {"optimizer": Adam(l2=1e50)}),
        "weight_decay": (lambda dt: fastbp.Network([3, 4, 1], output="identity", dtype=dt),
                         {"optimizer": AdamW(weight_decay=1e-60)}),
        "epsilon": (lambda dt: fastbp.Network([3, 4, 1], output="identity", dtype=dt),
                    {"optimizer": Adam(epsilon=1e-50)}),
    }
    make, kwargs = fits[case]
    name = {"huber_delta": "delta"}.get(case, case)
    with pytest.raises(ValueError, match=rf"{name}=.* is (0|infinite) in float32, the network's dtype"):
        make("float32").fit(X, y, epochs=1, **kwargs)
    make("float64").fit(X, y, epochs=1, **{k: v for k, v in kwargs.items() if k != "lr"}, lr=1e-3)
