"""Ctrl-C during a compiled epoch is answered between two slices of its
batches (kernel calls of about a quarter of a second each), with the
parameters and the optimizer state consistent."""
import signal
import threading

import numpy as np
import pytest

import fastbp
from fastbp import optimizers
from fastbp.training import runners


def _data(n=4000, d=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, d)), rng.integers(0, 4, n)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_slices_train_the_same_weights_as_one_call(monkeypatch, optimizer):
    X, y = _data()
    nets = []
    for seconds in (1e9, 1e-9):  # one call per epoch; then one batch per call
        monkeypatch.setattr(runners, "SLICE_SECONDS", seconds)
        net = fastbp.Network([64, 16, 4], seed=0)
        opt = optimizers.NAMES[optimizer]()
        with fastbp.tier("wait"):
            history = net.fit(X, y, epochs=2, batch_size=50, optimizer=opt)
        nets.append((net, opt, history))
    (a, opt_a, ha), (b, opt_b, hb) = nets
    assert all(np.array_equal(p, q) for p, q in zip(a.weights + a.biases, b.weights + b.biases))
    assert opt_a.step_count == opt_b.step_count == 2 * 80
    np.testing.assert_allclose(ha["loss"], hb["loss"], rtol=1e-12)


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs pthread_kill")
def test_ctrl_c_during_a_long_compiled_epoch_is_answered_between_its_slices(monkeypatch, python_sigint):
    """Ctrl-C in the middle of an epoch is answered before the epoch's end
    (between two slices, not after the whole epoch's kernel call), and the fit
    leaves the parameters and optimizer state of the last finished epoch.
    Structural, not timed: the batches trained in the interrupted epoch are
    counted."""
    X, y = _data(n=4000, d=16)
    net = fastbp.Network([16, 8, 4], seed=0)
    opt = optimizers.Adam()
    batches = 4000 // 8  # per epoch
    done = {"epoch": 0, "batches": 0}
    real = runners.LocalRunner._call

    def call(self, rows, lr):  # one batch per slice here, and Ctrl-C in the middle of the second epoch
        done["batches"] += -(-rows.shape[0] // self.batch_size)
        if done["epoch"] == 1 and done["batches"] == batches // 2:
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
        return real(self, rows, lr)

    after_first = {}

    def epoch_done(epoch, history):
        after_first.update(step=opt.step_count, params=[p.copy() for p in net.weights + net.biases])
        done.update(epoch=epoch + 1, batches=0)

    monkeypatch.setattr(runners, "SLICE_SECONDS", 1e-9)  # a slice of one batch: the pace a long epoch has
    monkeypatch.setattr(runners.LocalRunner, "_call", call)
    with fastbp.tier("wait"), pytest.raises(KeyboardInterrupt):
        net.fit(X, y, epochs=3, batch_size=8, optimizer=opt, callback=epoch_done)
    assert done["epoch"] == 1 and done["batches"] == batches // 2  # answered mid-epoch, not at its end
    # The parameters and the optimizer state of the last finished epoch, together.
    assert opt.step_count == after_first["step"] == batches
    assert all(np.array_equal(p, q) for p, q in zip(net.weights + net.biases, after_first["params"]))
