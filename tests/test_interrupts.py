"""Ctrl-C during a compiled epoch is answered within a fraction of a second:
the epoch runs as kernel calls over slices of its batches, with the
parameters and the optimizer state consistent between two."""
import signal
import threading
import time

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


def _interrupt_after(seconds):
    sent = {}

    def send():
        sent["at"] = time.perf_counter()
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    timer = threading.Timer(seconds, send)
    timer.start()
    return sent, timer


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs pthread_kill")
def test_ctrl_c_during_a_long_compiled_epoch_is_answered_within_a_second():
    X, y = _data(n=40_000, d=256)
    net = fastbp.Network([256, 512, 512, 4], seed=0)
    opt = optimizers.Adam()
    with fastbp.tier("wait"):
        one = net.fit(X[:64], y[:64], epochs=1, batch_size=32, optimizer=optimizers.Adam())  # compiled, not timed
        after_first = {}

        def first_epoch_done(epoch, history):
            if epoch == 0:  # Ctrl-C half a second into the second epoch (of about 2 s)
                after_first.update(step=opt.step_count, params=[p.copy() for p in net.weights + net.biases])
                after_first["sent"], after_first["timer"] = _interrupt_after(0.5)

        start = time.perf_counter()
        with pytest.raises(KeyboardInterrupt):
            net.fit(X, y, epochs=3, batch_size=32, optimizer=opt, callback=first_epoch_done)
        sent, timer = after_first["sent"], after_first["timer"]
        answered, took = time.perf_counter() - sent["at"], time.perf_counter() - start
        timer.join()
    assert one.tier == "compiled"
    assert answered < 1.0, f"Ctrl-C answered after {answered:.2f} s (the fit ran {took:.1f} s)"
    # The parameters and the optimizer state of the last finished epoch, together.
    assert opt.step_count == after_first["step"] == 1250
    assert all(np.array_equal(p, q) for p, q in zip(net.weights + net.biases, after_first["params"]))
