"""A measurement prototype of issue 36's packed pass, not used by fastbp.

K two-layer networks of one shape trained as one: per batch the rows are
gathered once, the first layer of every member is one product against the
shared batch (``W1`` of all members stacked, ``(K h, n0)``), the second layer,
loss and deltas run per member, each member's learning rate is folded into
its block of the first layer's delta, and the first layer's step is one
product again. Built from fastbp's own kernels (``forward_layer``,
``hidden_delta``, ``weight_gradient``, ``output_delta``); plain SGD, dense
input, full batches only.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python tools/packed_ensemble_prototype.py

prints each member's largest weight difference from its separate fit
(float64, three members, per-member learning rates), then seconds per
model-epoch with the members split into two shards run in two threads (one
BLAS thread each), on S and T at 16 and 64 members. Compare with
``fastbp bench --ensemble 16`` (docs/ensembles.md has both).
"""
import time

import numba
import numpy as np

import fastbp
from fastbp import _codes
from fastbp._jit import OPTIONS
from fastbp.bench.configs import make_data
from fastbp.kernels.backward import hidden_delta, weight_gradient
from fastbp.kernels.forward import forward_layer
from fastbp.kernels.loss import _loss_sum, output_delta


@numba.njit(**{k: v for k, v in OPTIONS.items() if k != "cache"})  # a prototype: compiled afresh each run
def packed_epoch(X, Y, perm, B, W1, b1, W2, b2, act1, act2, loss, lrs, Xb, Xc, Yt, Z1, D1, Z2, A2, D2):
    n = perm.shape[0]
    K, out, h = W2.shape
    n0 = X.shape[1]
    total = 0.0
    for s in range(0, n - B + 1, B):
        for b in range(B):
            r = perm[s + b]
            for j in range(n0):
                Xb[b, j] = X[r, j]
                Xc[j, b] = X[r, j]
            for j in range(out):
                Yt[j, b] = Y[r, j]
        forward_layer(W1, b1, Xc, False, act1, Z1, Z1)
        for k in range(K):
            A1 = Z1[k * h:(k + 1) * h]
            forward_layer(W2[k], b2[k], A1, False, act2, Z2[k], A2[k])
            output_delta(A2[k], Yt, act2, loss, D2[k])
            total += _loss_sum(A2[k], Yt, loss, np.int64(0), B)
            hidden_delta(W2[k], D2[k], A1, A1, act1, D1[k * h:(k + 1) * h])
            weight_gradient(D2[k], A1, False, -lrs[k] / B, 1.0, W2[k], b2[k])
            lr = D1.dtype.type(lrs[k])
            blk = D1[k * h:(k + 1) * h]
            for i in range(h):
                for b in range(B):
                    blk[i, b] *= lr
        weight_gradient(D1, Xb, True, -1.0 / B, 1.0, W1, b1)  # every member's first-layer step, one product
    return total


def _stacked(nets):
    """Every member's first layer stacked, ``(K h, n0)`` and ``(K h,)``; the second as ``(K, out, h)``, ``(K, out)``."""
    W1 = np.ascontiguousarray(np.concatenate([m.weights[0] for m in nets]))
    b1 = np.concatenate([m.biases[0] for m in nets])
    W2 = np.ascontiguousarray(np.stack([m.weights[1] for m in nets]))
    b2 = np.stack([m.biases[1] for m in nets])
    return W1, b1, W2, b2


def _arguments(X, Y, perm, sizes, batch, nets, lrs, dtype):
    n0, h, out = sizes
    K = len(nets)
    buffers = (np.empty((batch, n0), dtype), np.empty((n0, batch), dtype), np.empty((out, batch), dtype),
               np.empty((K * h, batch), dtype), np.empty((K * h, batch), dtype),
               np.empty((K, out, batch), dtype), np.empty((K, out, batch), dtype), np.empty((K, out, batch), dtype))
    return (X, Y, perm, batch, *_stacked(nets), np.int64(_codes.TANH), np.int64(_codes.SOFTMAX),
            fastbp.losses.CrossEntropy().pack(), np.asarray(lrs, dtype=np.float64), *buffers)


def check():
    """Each member against its separate fit (float64, shuffle off, per-member learning rates)."""
    sizes, batch, n = [64, 32, 10], 16, 400
    X, y, Y = make_data(sizes, n, "float64")
    nets = [fastbp.Network(sizes, seed=k) for k in range(3)]
    lrs = [0.05, 0.1, 0.2]
    args = _arguments(X, Y, np.arange(n, dtype=np.int64), sizes, batch, nets, lrs, "float64")
    packed_epoch(*args)
    W1, W2, h = args[4], args[6], sizes[1]
    for k, net in enumerate(nets):
        net.fit(X, y, epochs=1, batch_size=batch, lr=lrs[k], shuffle=False)
        print(f"member {k}: largest difference from its separate fit {np.abs(net.weights[0] - W1[k * h:(k + 1) * h]).max():.1e} "
              f"(layer 1), {np.abs(net.weights[1] - W2[k]).max():.1e} (layer 2)")


def sharded(config, members, dtype="float32", rounds=5, shards=2):
    """Seconds per model-epoch, the members in ``shards`` packed groups run in as many threads (one BLAS thread each)."""
    import threading

    from threadpoolctl import threadpool_limits

    from fastbp.bench.configs import CONFIGS

    sizes, batch, _ = CONFIGS[config]
    n = 5000
    X, _, Y = make_data(sizes, n, dtype)
    perm = np.arange(n, dtype=np.int64)
    groups = [_arguments(X, Y, perm, sizes, batch, [fastbp.Network(sizes, dtype=dtype, seed=k)
                                                    for k in range(members // shards)], [0.01] * (members // shards),
                         dtype) for _ in range(shards)]
    with threadpool_limits(1):
        for args in groups:
            packed_epoch(*args)  # compile, warm up
        times = []
        for _ in range(rounds):
            threads = [threading.Thread(target=packed_epoch, args=args) for args in groups]
            start = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            times.append(time.perf_counter() - start)
    print(f"{config} {members} members, packed in {shards} shards: {np.median(times) / members:.5f} s per model-epoch")


if __name__ == "__main__":
    fastbp.set_tier("wait")
    check()
    for config in ("S", "T"):
        for members in (16, 64):
            sharded(config, members)
