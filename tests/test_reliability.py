"""Threads, determinism and memory."""
import sys
import threading

import numpy as np
import pytest

import fastbp


def _problem(seed=0, n=300, n_in=12, n_out=4):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, n_in)), rng.integers(0, n_out, size=n)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_same_seed_and_threads_give_bit_identical_weights(dtype):
    X, y = _problem()
    nets = [fastbp.Network([12, 32, 16, 4], activation="tanh", dtype=dtype, seed=11) for _ in range(2)]
    for net in nets:
        net.fit(X, y, epochs=4, batch_size=16, lr=0.05, threads=2)
    for a, b in zip(nets[0].weights + nets[0].biases, nets[1].weights + nets[1].biases):
        np.testing.assert_array_equal(a, b)


def test_two_networks_in_two_threads_match_sequential_training():
    X, y = _problem(n=2000, n_in=64)
    sizes = [64, 128, 64, 4]

    def train(net, out, i):
        out[i] = net.fit(X, y, epochs=3, batch_size=32, lr=0.05)["loss"]

    sequential = [fastbp.Network(sizes, dtype="float64", seed=s) for s in (1, 2)]
    seq_hist = [None, None]
    for i, net in enumerate(sequential):
        train(net, seq_hist, i)

    concurrent = [fastbp.Network(sizes, dtype="float64", seed=s) for s in (1, 2)]
    con_hist = [None, None]
    threads = [threading.Thread(target=train, args=(net, con_hist, i)) for i, net in enumerate(concurrent)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert con_hist == seq_hist
    for a, b in zip(sequential, concurrent):
        for p, q in zip(a.weights + a.biases, b.weights + b.biases):
            np.testing.assert_array_equal(p, q)


def test_kernels_release_the_gil():
    from fastbp._jit import OPTIONS

    assert OPTIONS["nogil"] is True
    import fastbp.kernels as k

    for name in k.__all__:
        assert getattr(k, name).targetoptions.get("nogil") is True, name


def test_fastmath_keeps_nan_and_inf_semantics():
    from fastbp._jit import OPTIONS

    flags = OPTIONS["fastmath"]
    assert isinstance(flags, set) and not flags & {"nnan", "ninf", "fast"}
    # And NaN really propagates through a compiled forward pass.
    net = fastbp.Network([2, 3, 2], seed=0)
    net.weights[0][0, 0] = np.nan
    assert np.isnan(net._forward_all(np.ones((1, 2)))[-1]).all()


def test_set_num_threads_validates_and_applies():
    fastbp.set_num_threads(1)
    assert fastbp.get_num_threads() == 1
    with pytest.raises(ValueError, match="threads"):
        fastbp.set_num_threads(0)
    with pytest.raises(ValueError, match="threads"):
        fastbp.set_num_threads(10_000)
    fastbp.set_num_threads(min(2, len(__import__("os").sched_getaffinity(0))))


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * __import__("os").sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_long_training_does_not_grow_memory():
    X, y = _problem(n=500, n_in=20)
    net = fastbp.Network([20, 32, 4], dtype="float32", seed=0)
    net.fit(X, y, epochs=20, batch_size=16)  # compile, warm allocator
    before = _rss_bytes()
    for _ in range(4):
        net.fit(X, y, epochs=50, batch_size=16)  # 200 epochs
    grown = _rss_bytes() - before
    assert grown < 4 * 2**20, f"resident memory grew by {grown / 2**20:.1f} MiB over 200 epochs"
