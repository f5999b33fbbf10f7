"""The peers of the side-by-side comparison, one epoch each, and the worker
process that times one of them (``python -m fastbp.bench --worker PEER``).

Every ``_peer_NAME(sizes, batch, X, y, Y, dtype, threads, activation)``
sets a peer up and returns a function that runs one epoch.
"""
from __future__ import annotations

import os
import sys
import time

from .configs import CONFIGS, ESTIMATOR_CONFIGS, ESTIMATOR_PEERS, LR, data_for
from .machine import PeakMemory, blas_of

def _peer_fastbp(sizes, batch, X, y, Y, dtype, threads, activation, module="fastbp"):
    import fastbp

    fastbp.set_num_threads(threads)
    Net = fastbp.Network if module == "fastbp" else fastbp.reference.Network
    net = Net(sizes, activation=activation, output="softmax", loss="cross_entropy", dtype=dtype, seed=0)
    return lambda: net.fit(X, Y, epochs=1, batch_size=batch, lr=LR, shuffle=True)


def _peer_reference(*args):
    return _peer_fastbp(*args, module="reference")


def _peer_torch(sizes, batch, X, y, Y, dtype, threads, activation):
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    tdtype = getattr(torch, dtype)
    act = {"sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "identity": torch.nn.Identity,
           "leaky_relu": lambda: torch.nn.LeakyReLU(0.01), "gelu": torch.nn.GELU, "silu": torch.nn.SiLU}[activation]
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    model = torch.nn.Sequential(*layers).to(tdtype)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    lossf = torch.nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    n = len(X)

    def epoch():
        perm = torch.randperm(n)
        for s in range(0, n, batch):
            idx = perm[s : s + batch]
            opt.zero_grad(set_to_none=True)
            loss = lossf(model(Xt[idx]), yt[idx])
            loss.backward()
            opt.step()

    return epoch


def _jax_network(sizes, dtype, activation, rng, members=None):
    """JAX parameters ``[(W, b), ...]`` (Glorot-uniform; with ``members``, a
    leading axis of that many networks) and the cross-entropy loss of one network."""
    import jax
    import jax.numpy as jnp

    lead = () if members is None else (members,)
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        bound = (2.0 / (a + b)) ** 0.5
        params.append((jnp.asarray(rng.uniform(-bound, bound, (*lead, b, a)).astype(dtype)),
                       jnp.zeros((*lead, b), dtype)))
    act = {"sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh, "relu": jax.nn.relu, "identity": lambda z: z,
           "leaky_relu": lambda z: jax.nn.leaky_relu(z, 0.01), "gelu": lambda z: jax.nn.gelu(z, approximate=False),
           "silu": jax.nn.silu}[activation]

    def loss_fn(params, xb, yb):
        a = xb
        for W, b in params[:-1]:
            a = act(a @ W.T + b)
        W, b = params[-1]
        logp = jax.nn.log_softmax(a @ W.T + b)
        return -jnp.mean(jnp.sum(yb * logp, axis=1))

    return params, loss_fn


def _peer_jax(sizes, batch, X, y, Y, dtype, threads, activation):
    if dtype == "float64":
        os.environ.setdefault("JAX_ENABLE_X64", "1")
    import jax
    import jax.numpy as jnp
    import numpy as np

    rng = np.random.default_rng(0)
    params, loss_fn = _jax_network(sizes, dtype, activation, rng)
    Xj, Yj = jnp.asarray(X), jnp.asarray(Y)

    @jax.jit
    def step(params, idx):
        xb, yb = Xj[idx], Yj[idx]
        loss, grads = jax.value_and_grad(loss_fn)(params, xb, yb)
        return [(W - LR * gW, b - LR * gb) for (W, b), (gW, gb) in zip(params, grads)], loss

    n = len(X)
    state = {"params": params}

    def epoch():
        perm = rng.permutation(n)
        p = state["params"]
        for s in range(0, n, batch):
            p, loss = step(p, perm[s : s + batch])
        jax.block_until_ready(p)
        state["params"] = p

    return epoch


def _peer_jax_vmap(sizes, batch, X, y, Y, dtype, threads, activation):
    """``MEMBERS`` networks (``FASTBP_BENCH_MEMBERS``, default 16) trained as
    one: JAX's ``vmap`` of the jitted SGD step over the members' stacked
    parameters, every member on the same batch (as ``fastbp.Ensemble``)."""
    if dtype == "float64":
        os.environ.setdefault("JAX_ENABLE_X64", "1")
    import jax
    import jax.numpy as jnp
    import numpy as np

    members = int(os.environ.get("FASTBP_BENCH_MEMBERS", "16"))
    rng = np.random.default_rng(0)
    params, loss_fn = _jax_network(sizes, dtype, activation, rng, members)
    Xj, Yj = jnp.asarray(X), jnp.asarray(Y)

    def one(params, xb, yb):
        grads = jax.grad(loss_fn)(params, xb, yb)
        return [(W - LR * gW, b - LR * gb) for (W, b), (gW, gb) in zip(params, grads)]

    @jax.jit
    def step(params, idx):
        return jax.vmap(one, in_axes=(0, None, None))(params, Xj[idx], Yj[idx])

    n = len(X)
    state = {"params": params}

    def epoch():
        perm = rng.permutation(n)
        p = state["params"]
        for s in range(0, n - batch + 1, batch):  # full batches: one compiled shape
            p = step(p, perm[s : s + batch])
        jax.block_until_ready(p)
        state["params"] = p

    return epoch


def _peer_torch_vmap(sizes, batch, X, y, Y, dtype, threads, activation):
    """``_peer_jax_vmap``'s members in PyTorch: ``torch.func.vmap`` of one SGD
    step (``torch.func.grad`` of a functional network) over the members'
    stacked parameters, every member on the same batch."""
    import numpy as np
    import torch
    from torch.func import grad, vmap

    torch.set_num_threads(threads)
    members = int(os.environ.get("FASTBP_BENCH_MEMBERS", "16"))
    rng = np.random.default_rng(0)
    tdtype = getattr(torch, dtype)
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        bound = (2.0 / (a + b)) ** 0.5
        params += [torch.from_numpy(rng.uniform(-bound, bound, (members, b, a)).astype(dtype)),
                   torch.zeros((members, b), dtype=tdtype)]
    act = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu, "identity": lambda z: z,
           "leaky_relu": lambda z: torch.nn.functional.leaky_relu(z, 0.01), "gelu": torch.nn.functional.gelu,
           "silu": torch.nn.functional.silu}[activation]
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def loss_fn(ps, xb, yb):
        a = xb
        for i in range(0, len(ps) - 2, 2):
            a = act(a @ ps[i].T + ps[i + 1])
        return torch.nn.functional.cross_entropy(a @ ps[-2].T + ps[-1], yb)

    step = vmap(grad(loss_fn), in_dims=(0, None, None))
    n = len(X)
    state = {"params": params}

    def epoch():
        perm = torch.from_numpy(rng.permutation(n))
        ps = state["params"]
        with torch.no_grad():
            for s in range(0, n - batch + 1, batch):
                idx = perm[s : s + batch]
                grads = step(tuple(ps), Xt[idx], yt[idx])
                ps = [p - LR * g for p, g in zip(ps, grads)]
        state["params"] = ps

    return epoch


def _partial_fit_epochs(clf, X, y, n_classes):
    """One epoch of a scikit-learn-style classifier per call (partial_fit, warnings silenced)."""
    import warnings

    import numpy as np

    classes = np.arange(n_classes)

    def epoch():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.partial_fit(X, y, classes=classes)

    return epoch


def _peer_sklearn(sizes, batch, X, y, Y, dtype, threads, activation):
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits

    from ..activations import ACTIVATIONS

    threadpool_limits(threads)
    clf = MLPClassifier(hidden_layer_sizes=sizes[1:-1], activation=ACTIVATIONS[activation].sklearn_name, solver="sgd", momentum=0,
                        alpha=0, batch_size=batch, learning_rate_init=LR, max_iter=1, shuffle=True,
                        random_state=0)
    return _partial_fit_epochs(clf, X, y, sizes[-1])


def _peer_estimator(sizes, batch, X, y, Y, dtype, threads, activation, module="fastbp.sklearn", solver="sgd"):
    # The estimators run their own defaults (relu): ``activation`` is the dense peers'.
    import importlib

    from threadpoolctl import threadpool_limits

    if module == "fastbp.sklearn":
        import fastbp

        fastbp.set_num_threads(threads)
    threadpool_limits(threads)
    MLPClassifier = importlib.import_module(module).MLPClassifier
    clf = MLPClassifier(hidden_layer_sizes=sizes[1:-1], solver=solver, batch_size=batch, random_state=0)
    return _partial_fit_epochs(clf, X, y, sizes[-1])


def _peer_sklearn_estimator(*args, solver="sgd"):
    return _peer_estimator(*args, module="sklearn.neural_network", solver=solver)


def _peer_one_rank(sizes, batch, X, y, Y, dtype, threads, activation, comm=None):
    import fastbp

    rank, size = (0, 1) if comm is None else (comm.Get_rank(), comm.Get_size())
    fastbp.set_num_threads(1)
    net = fastbp.Network(sizes, activation=activation, output="softmax", loss="cross_entropy", dtype=dtype, seed=0)
    X, Y = X[rank::size].copy(), Y[rank::size].copy()
    return lambda: net.fit(X, Y, epochs=1, batch_size=batch, lr=LR, shuffle=True, threads=1, comm=comm)


def _peer_two_ranks(*args):
    from mpi4py import MPI

    return _peer_one_rank(*args, comm=MPI.COMM_WORLD)


def _peer_floor(sizes, batch, X, y, Y, dtype, threads, activation):
    import numpy as np

    import fastbp
    from fastbp._jit import jit
    from fastbp.kernels._blas import gemm

    fastbp.set_num_threads(threads)

    @jit
    def gemms_only(n, batch, Ws, acts, deltas, Xb):
        # The GEMMs of fastbp's compiled epoch, in its layout (input rows,
        # activations and deltas as columns), on fixed buffers: no gather,
        # activation, loss or bias.
        L = len(Ws)
        for s in range(0, n, batch):
            gemm(False, True, 1.0, Ws[0], Xb, 0.0, acts[0])
            for l in range(1, L):
                gemm(False, False, 1.0, Ws[l], acts[l - 1], 0.0, acts[l])
            for l in range(L - 1, -1, -1):
                if l > 0:
                    gemm(True, False, 1.0, Ws[l], deltas[l], 0.0, deltas[l - 1])
                    gemm(False, True, -1e-9, deltas[l], acts[l - 1], 1.0, Ws[l])
                else:
                    gemm(False, False, -1e-9, deltas[0], Xb, 1.0, Ws[0])

    from numba.typed import List

    Ws, acts, deltas = List(), List(), List()
    for a, b in zip(sizes[:-1], sizes[1:]):
        Ws.append(np.full((b, a), 0.01, dtype))
        acts.append(np.full((b, batch), 0.5, dtype))
        deltas.append(np.full((b, batch), 0.01, dtype))
    Xb = np.ascontiguousarray(X[:batch])
    n = len(X)
    return lambda: gemms_only(n, batch, Ws, acts, deltas, Xb)


def worker(peer, config, dtype, threads, activation):
    """Set up one peer, then time one epoch per line read from stdin (under
    mpiexec: rank 0 reads and reports, every rank runs the epoch)."""
    from fastbp import set_tier

    set_tier("wait")  # the compiled epochs are timed: the warm-up compiles, never runs on the reference
    sizes, batch, n = CONFIGS[config]
    X, y, Y = data_for(config, dtype)
    extra = {"solver": ESTIMATOR_CONFIGS[config]} if peer in ESTIMATOR_PEERS else {}
    epoch = globals()[f"_peer_{peer}"](sizes, batch, X, y, Y, dtype, threads, activation, **extra)
    comm = None
    if peer == "two_ranks":
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
    rank = 0 if comm is None else comm.Get_rank()
    epoch()  # warm-up: compiles, loads caches, allocates
    if rank == 0:
        print("blas " + blas_of(peer), flush=True)
        print("ready", flush=True)
    while True:
        go = sys.stdin.readline().strip() == "run" if rank == 0 else None
        if comm is not None:
            go = comm.bcast(go, root=0)
            comm.Barrier()
        if not go:
            break
        peak = PeakMemory()
        t0 = time.perf_counter()
        epoch()
        seconds = time.perf_counter() - t0
        if rank == 0:
            print(f"{seconds:.6f} {peak.megabytes():.1f}", flush=True)
