"""Side-by-side comparison: seconds per epoch of plain minibatch SGD.

The same work for every peer: one epoch over synthetic data, softmax output
with cross-entropy, sigmoid hidden layers (``--activation`` picks another:
``tanh`` is ``fastbp.Network``'s default), shuffled batches, no momentum, no
weight decay. Each peer runs in its own process (its own imports, threads and
allocator); rounds are interleaved (peer A, peer B, ..., then again) so that
load on this shared machine hits every peer alike; medians and ratios are
printed. A peer that is not installed is skipped with a note.

    fastbp bench --config M
    fastbp bench --config S M L --rounds 7 --json out.json --plot chart.png
    fastbp bench --config S M --activation tanh
    fastbp bench --sweep              (every activation against relu: fastbp.bench_users)
    fastbp bench --busy 2             (the estimators' default fit beside 2 busy processes)
    python benchmarks/compare.py ...   (the same, from a source checkout)

Peers: fastbp, reference (fastbp.reference), torch (PyTorch eager),
jax (the whole train step under jax.jit), sklearn (MLPClassifier, solver='sgd',
momentum=0, alpha=0), floor (the same GEMMs alone through the BLAS fastbp calls,
in a compiled loop: what the matrix products cost with nothing else).

The estimator configurations compare the scikit-learn estimators instead,
one ``partial_fit`` epoch each: estimator (``fastbp.sklearn.MLPClassifier``)
against sklearn_estimator (``sklearn.neural_network.MLPClassifier``). E, E32
and E64 are a wide network at scikit-learn's defaults for solver='sgd'
(Nesterov momentum 0.9, alpha=1e-4, relu, batch 'auto' = 200, or 32, 64);
T is the default ``MLPClassifier()`` itself (adam, one hidden layer of 100,
batch 200) on tabular data, 20 features and two classes: run it with
``--dtype float64``, the dtype scikit-learn trains in.

X is the sparse configuration: a text-like table, 20,000 rows of 50,000
columns with 0.5% nonzeros (TF-IDF-like values in [0, 1)), 20 classes, held
as a CSR matrix; ``MLPClassifier(hidden_layer_sizes=(100,), solver='adam',
batch_size=200)`` trains on it (run it with ``--dtype float64``). Its dense
form would take 8 GB: neither peer makes one. Every configuration reports
each peer's peak memory during an epoch (where Linux lets a process reset
its peak: ``/proc/self/clear_refs``) beside its time.

The distributed row (``--peers one_rank two_ranks``, best on config L) times
``fit(comm=...)``: two_ranks is 2 MPI ranks under mpiexec, 1 thread each, each
holding half the rows and taking half of every global batch; one_rank is one
process with 1 thread. The ratio one_rank/two_ranks is the speed-up.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

CONFIGS = {
    # name: (layer sizes, batch size, samples)
    "S": ([64, 32, 10], 16, 20_000),
    "M": ([784, 256, 128, 10], 64, 60_000),
    "L": ([784, 1024, 1024, 10], 128, 60_000),
    "E": ([784, 256, 128, 10], 200, 20_000),
    "E32": ([784, 256, 128, 10], 32, 20_000),  # E with batch_size=32
    "E64": ([784, 256, 128, 10], 64, 20_000),
    "T": ([20, 100, 2], 200, 20_000),
    "X": ([50_000, 100, 20], 200, 20_000),
}
#: The configurations that time the scikit-learn estimators, with their solver.
ESTIMATOR_CONFIGS = {"E": "sgd", "E32": "sgd", "E64": "sgd", "T": "adam", "X": "adam"}
#: The configurations whose X is a sparse CSR matrix, with its density.
SPARSE_CONFIGS = {"X": 0.005}
PEERS = ["fastbp", "reference", "torch", "jax", "sklearn", "floor"]
ESTIMATOR_PEERS = ["estimator", "sklearn_estimator"]
DISTRIBUTED_PEERS = ["one_rank", "two_ranks"]
LR = 0.01
#: The hidden activation of the dense peers (``--activation``).
ACTIVATION = "sigmoid"


def make_data(sizes, n, dtype, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, sizes[0]), dtype=np.float32).astype(dtype)
    y = rng.integers(0, sizes[-1], size=n)
    Y = np.zeros((n, sizes[-1]), dtype=dtype)
    Y[np.arange(n), y] = 1
    return X, y, Y


def make_sparse_data(sizes, n, density, dtype, seed=0):
    """``make_data`` for a sparse table: a CSR matrix with ``density`` of its
    entries nonzero (values in [0, 1), about the same count in each row, the
    columns uniform), drawn row by row: no dense array, and no draw over all
    ``n * sizes[0]`` positions (``scipy.sparse.random`` makes one of 8 bytes each)."""
    import numpy as np
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    k = max(1, round(density * sizes[0]))
    indices = np.sort(rng.integers(0, sizes[0], size=(n, k)), axis=1).astype(np.int32)
    data = rng.random((n, k)).astype(dtype)
    X = sp.csr_matrix((data.ravel(), indices.ravel(), np.arange(0, n * k + 1, k)), shape=(n, sizes[0]))
    X.sum_duplicates()  # a column drawn twice in a row: one entry
    y = rng.integers(0, sizes[-1], size=n)
    Y = np.zeros((n, sizes[-1]), dtype=dtype)
    Y[np.arange(n), y] = 1
    return X, y, Y


def data_for(config, dtype):
    """The configuration's data, dense or sparse: ``(X, y, Y)``."""
    sizes, _, n = CONFIGS[config]
    if config in SPARSE_CONFIGS:
        return make_sparse_data(sizes, n, SPARSE_CONFIGS[config], dtype)
    return make_data(sizes, n, dtype)


# -- peers: each returns a function that runs one epoch ------------------------

def _peer_fastbp(sizes, batch, X, y, Y, dtype, threads, module="fastbp"):
    import fastbp

    fastbp.set_num_threads(threads)
    Net = fastbp.Network if module == "fastbp" else fastbp.reference.Network
    net = Net(sizes, activation=ACTIVATION, output="softmax", loss="cross_entropy", dtype=dtype, seed=0)
    return lambda: net.fit(X, Y, epochs=1, batch_size=batch, lr=LR, shuffle=True)


def _peer_reference(*args):
    return _peer_fastbp(*args, module="reference")


def _peer_torch(sizes, batch, X, y, Y, dtype, threads):
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    tdtype = getattr(torch, dtype)
    act = {"sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "identity": torch.nn.Identity,
           "leaky_relu": lambda: torch.nn.LeakyReLU(0.01), "gelu": torch.nn.GELU, "silu": torch.nn.SiLU}[ACTIVATION]
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


def _peer_jax(sizes, batch, X, y, Y, dtype, threads):
    if dtype == "float64":
        os.environ.setdefault("JAX_ENABLE_X64", "1")
    import jax
    import jax.numpy as jnp
    import numpy as np

    rng = np.random.default_rng(0)
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        bound = (2.0 / (a + b)) ** 0.5
        params.append((jnp.asarray(rng.uniform(-bound, bound, (b, a)).astype(dtype)), jnp.zeros(b, dtype)))
    Xj, Yj = jnp.asarray(X), jnp.asarray(Y)
    act = {"sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh, "relu": jax.nn.relu, "identity": lambda z: z,
           "leaky_relu": lambda z: jax.nn.leaky_relu(z, 0.01), "gelu": lambda z: jax.nn.gelu(z, approximate=False),
           "silu": jax.nn.silu}[ACTIVATION]

    def loss_fn(params, xb, yb):
        a = xb
        for W, b in params[:-1]:
            a = act(a @ W.T + b)
        W, b = params[-1]
        logp = jax.nn.log_softmax(a @ W.T + b)
        return -jnp.mean(jnp.sum(yb * logp, axis=1))

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


def _peer_sklearn(sizes, batch, X, y, Y, dtype, threads):
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)
    activation = {"sigmoid": "logistic", "tanh": "tanh", "relu": "relu", "identity": "identity"}[ACTIVATION]
    clf = MLPClassifier(hidden_layer_sizes=sizes[1:-1], activation=activation, solver="sgd", momentum=0,
                        alpha=0, batch_size=batch, learning_rate_init=LR, max_iter=1, shuffle=True,
                        random_state=0)
    return _partial_fit_epochs(clf, X, y, sizes[-1])


def _peer_estimator(sizes, batch, X, y, Y, dtype, threads, module="fastbp.sklearn", solver="sgd"):
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


def _peer_one_rank(sizes, batch, X, y, Y, dtype, threads, comm=None):
    import fastbp

    rank, size = (0, 1) if comm is None else (comm.Get_rank(), comm.Get_size())
    fastbp.set_num_threads(1)
    net = fastbp.Network(sizes, activation=ACTIVATION, output="softmax", loss="cross_entropy", dtype=dtype, seed=0)
    X, Y = X[rank::size].copy(), Y[rank::size].copy()
    return lambda: net.fit(X, Y, epochs=1, batch_size=batch, lr=LR, shuffle=True, threads=1, comm=comm)


def _peer_two_ranks(*args):
    from mpi4py import MPI

    return _peer_one_rank(*args, comm=MPI.COMM_WORLD)


def _peer_floor(sizes, batch, X, y, Y, dtype, threads):
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


def worker(peer, config, dtype, threads):
    """Set up one peer, then time one epoch per line read from stdin (under
    mpiexec: rank 0 reads and reports, every rank runs the epoch)."""
    from fastbp import set_tier

    set_tier("wait")  # the compiled epochs are timed: the warm-up compiles, never runs on the reference
    sizes, batch, n = CONFIGS[config]
    X, y, Y = data_for(config, dtype)
    extra = {"solver": ESTIMATOR_CONFIGS[config]} if peer in ESTIMATOR_PEERS else {}
    epoch = globals()[f"_peer_{peer}"](sizes, batch, X, y, Y, dtype, threads, **extra)
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
        peak = _PeakMemory()
        t0 = time.perf_counter()
        epoch()
        seconds = time.perf_counter() - t0
        if rank == 0:
            print(f"{seconds:.6f} {peak.megabytes():.1f}", flush=True)


class _PeakMemory:
    """This process's peak resident memory from now on, in MB: Linux's VmHWM
    after resetting it (``/proc/self/clear_refs``); elsewhere, or where the
    reset is refused, the peak over the process's life (``ru_maxrss``)."""

    def __init__(self):
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.reset = True
        except OSError:
            self.reset = False

    def megabytes(self) -> float:
        if self.reset:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


def _numpy_blas() -> str:
    """NumPy's BLAS as threadpoolctl sees it: implementation, version, kernel."""
    import numpy as np
    from threadpoolctl import threadpool_info

    libs = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    site = os.path.dirname(os.path.dirname(os.path.realpath(np.__file__)))
    ours = [i for i in libs if os.path.realpath(i["filepath"]).startswith(os.path.join(site, "numpy"))] or libs
    if not ours:
        return "NumPy's BLAS (not visible to threadpoolctl)"
    i = ours[0]
    return f"NumPy's {i['internal_api']} {i['version']}, kernel {i.get('architecture')}, {i['num_threads']} threads"


def blas_of(peer: str) -> str:
    """What runs the matrix products of ``peer`` in this process."""
    if peer in ("fastbp", "floor", "estimator", "one_rank", "two_ranks"):
        from fastbp.kernels import _blas

        return _blas.summary()
    if peer == "torch":
        import torch

        cfg = torch.__config__.show()
        blas = next((w.split("=")[1] for w in cfg.replace(",", " ").split() if w.startswith("BLAS_INFO=")), "?")
        return (f"PyTorch {torch.__version__}: BLAS {blas}, oneDNN {'on' if torch.backends.mkldnn.is_available() else 'off'}, "
                f"CPU capability {torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} threads")
    if peer == "jax":
        import jax

        return f"JAX {jax.__version__}: XLA:CPU ({jax.devices()[0].device_kind}), its own dot kernels (Eigen/oneDNN)"
    return _numpy_blas()  # reference, sklearn, sklearn_estimator: NumPy's matmul


def gemm_rate(dtype: str, threads: int, n: int = 2048, repeats: int = 5) -> float:
    """Best FLOP/s of one ``n``-cubed GEMM through fastbp's provider: the machine's limit for the epoch."""
    import numpy as np

    import fastbp
    from fastbp.kernels._blas import gemm

    fastbp.set_num_threads(threads)
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((n, n)).astype(dtype), rng.standard_normal((n, n)).astype(dtype)
    C = np.empty((n, n), dtype)
    gemm(False, False, 1.0, A, B, 0.0, C)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        gemm(False, False, 1.0, A, B, 0.0, C)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best


def epoch_flops(sizes, n) -> float:
    """FLOPs of one epoch of n rows: forward, delta and weight-gradient GEMMs of every
    layer, less the input layer's delta (never formed): ``6 n sum(n_in n_out) - 2 n n_0 n_1``."""
    return 6.0 * n * sum(a * b for a, b in zip(sizes[:-1], sizes[1:])) - 2.0 * n * sizes[0] * sizes[1]


def _available(peer):
    if peer == "sklearn" and ACTIVATION not in ("sigmoid", "tanh", "relu", "identity"):
        return False  # scikit-learn's MLP has no such activation
    mod = {"torch": "torch", "jax": "jax", "sklearn": "sklearn", "estimator": "sklearn", "sklearn_estimator": "sklearn",
           "two_ranks": "mpi4py"}.get(peer)
    if mod is None:
        return True
    import importlib.util

    return importlib.util.find_spec(mod) is not None


def compare(config, peers, rounds, dtype="float32", threads=2, settle=0.5, out=sys.stdout, blas=None, memory=None):
    """Run the peers side by side; return ``{peer: [seconds per epoch, ...]}``
    (and fill ``blas``, if given, with what runs each peer's matrix products,
    and ``memory`` with each peer's largest peak resident MB during an epoch).

    ``settle`` seconds pass between two timed epochs: BLAS and OpenMP pools
    spin-wait for a while after their last task (OpenBLAS for ~0.1 s, OpenMP
    up to 0.2 s), and on 2 cores a pool still spinning in one peer's process
    would slow down whichever peer runs next.
    """
    procs = {}
    for peer in peers:
        if not _available(peer):
            print(f"  note: {peer} is not installed; skipped", file=out)
            continue
        env = dict(os.environ)
        if peer == "jax":
            env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + f" --xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'}").strip()
        launch = []
        if peer == "two_ranks":
            mpiexec = shutil.which("mpiexec", path=os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")]))
            if mpiexec is None:
                print("  note: two_ranks needs mpiexec (pip install 'fastbp[mpi]'); skipped", file=out)
                continue
            launch = [mpiexec, "-n", "2"]
        p = subprocess.Popen(
            [*launch, sys.executable, "-m", "fastbp.bench", "--worker", peer, "--config", config, "--dtype", dtype,
             "--threads", str(threads), "--activation", ACTIVATION],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
        )
        procs[peer] = p
    times = {}
    # Wait for every worker to be set up before the first timed round.
    blas = {} if blas is None else blas
    for peer, p in list(procs.items()):
        line = p.stdout.readline().strip()
        if line.startswith("blas "):
            blas[peer] = line[5:]
            line = p.stdout.readline().strip()
        if line != "ready":
            print(f"  note: {peer} failed to start (exit {p.wait()}); skipped", file=out)
            del procs[peer]
    memory = {} if memory is None else memory
    for _ in range(rounds):
        for peer, p in procs.items():
            time.sleep(settle)
            p.stdin.write("run\n")
            p.stdin.flush()
            seconds, megabytes = p.stdout.readline().split()
            times.setdefault(peer, []).append(float(seconds))
            memory[peer] = max(memory.get(peer, 0.0), float(megabytes))
    for p in procs.values():
        p.stdin.close()
        p.wait()
    return times


def report(config, times, dtype, threads, out=sys.stdout, blas=None, rate=None, memory=None):
    """Print the medians and ratios, and each peer's peak memory (``memory``,
    MB); ``rate`` (FLOP/s of the provider's best GEMM) adds the ``limit``
    row: the epoch's FLOPs at that rate (dense configurations only)."""
    sizes, batch, n = CONFIGS[config]
    med = {peer: statistics.median(ts) for peer, ts in times.items()}
    rounds = len(next(iter(times.values()))) if times else 0
    sparse = config in SPARSE_CONFIGS
    if rate and not sparse:
        med["limit"] = epoch_flops(sizes, n) / rate
    kind = f", sparse CSR ({100 * SPARSE_CONFIGS[config]:g}% nonzero)" if sparse else ""
    act = "" if config in ESTIMATOR_CONFIGS else f", {ACTIVATION} hidden"
    print(f"config {config}: {'-'.join(map(str, sizes))}{kind}, batch {batch}, {n} samples, {dtype}{act}, "
          f"{threads} threads; seconds per epoch (median of {rounds} rounds), peak memory during an epoch",
          file=out)
    ours = next((p for p in ("fastbp", "estimator", "one_rank") if p in med), None)
    base = med.get(ours)
    memory = memory or {}
    for peer in sorted(med, key=med.get):
        ratio = f"{ours}/{peer} = {base / med[peer]:.3f}" if base and peer != ours else ""
        mb = f"{memory[peer]:8.0f} MB" if peer in memory else " " * 11
        print(f"  {peer:<17} {med[peer]:9.4f} s {mb}   {ratio}", file=out)
    if "limit" in med:
        print(f"  limit: the epoch's {epoch_flops(sizes, n) / 1e9:.2f} GFLOP at the best {rate / 1e9:.0f} GFLOP/s "
              f"of a 2048^3 GEMM through fastbp's provider", file=out)
    for peer, line in (blas or {}).items():
        print(f"  {peer} runs: {line}", file=out)
    med.pop("limit", None)
    return med


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    configs = list(results)
    peers = [p for p in PEERS + ESTIMATOR_PEERS + DISTRIBUTED_PEERS if any(p in results[c] for c in configs)]
    fig, axes = plt.subplots(1, len(configs), figsize=(4.2 * len(configs), 3.6), squeeze=False)
    for ax, c in zip(axes[0], configs):
        vals = [results[c].get(p, float("nan")) for p in peers]
        bars = ax.bar(peers, vals, color=["#d62728" if p in ("fastbp", "estimator", "two_ranks") else "#7f7f7f" for p in peers])
        ax.set_title(f"{c}: {'-'.join(map(str, CONFIGS[c][0]))}, batch {CONFIGS[c][1]}")
        ax.set_ylabel("seconds per epoch")
        # Linear from zero: bar heights are proportional to the times (a log axis made a 2x gap look small).
        ax.set_ylim(0, 1.12 * max(v for v in vals if v == v))
        ax.tick_params(axis="x", rotation=45)
        for b, v in zip(bars, vals):
            ax.annotate(f"{v:.3g}", (b.get_x() + b.get_width() / 2, v), ha="center", va="bottom", fontsize=7)
    fig.suptitle("fastbp and its peers: seconds per epoch, medians (lower is better)", fontsize=10)
    fig.tight_layout()
    from ._io import write_file

    try:
        write_file(path, lambda f: fig.savefig(f, dpi=110, format=path.rsplit(".", 1)[-1].lower()), "the chart")
    finally:
        plt.close(fig)


def main(argv=None):
    global ACTIVATION
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", nargs="+", choices=list(CONFIGS), help="default: S M L")
    ap.add_argument("--peers", nargs="+", choices=PEERS + ESTIMATOR_PEERS + DISTRIBUTED_PEERS,
                    help="default: all of " + ", ".join(PEERS) + "; for the estimator configurations ("
                    + ", ".join(ESTIMATOR_CONFIGS) + "): " + ", ".join(ESTIMATOR_PEERS))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dtype", choices=["float32", "float64"], help="default: float32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--activation", default=ACTIVATION, help="hidden activation of the dense configurations "
                    "(default sigmoid, as the published tables; tanh is Network's default)")
    ap.add_argument("--settle", type=float, default=0.5, help="seconds of rest between two timed epochs")
    ap.add_argument("--json", help="write the medians here")
    ap.add_argument("--plot", help="write a PNG chart here (needs matplotlib)")
    ap.add_argument("--no-limit", action="store_true", help="leave out the limit row (it times a 2048^3 GEMM)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--rate", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    from .activations import HIDDEN

    if args.activation not in HIDDEN:
        ap.error(f"--activation {args.activation!r}: choose one of {', '.join(HIDDEN)}")
    ACTIVATION = args.activation
    args.config = args.config or ["S", "M", "L"]
    args.dtype = args.dtype or "float32"
    if args.plot or args.json:  # before minutes of timing, not after
        from .cli.checks import UsageError, check_output_file, check_plot_file

        try:
            if args.plot:
                check_plot_file(args.plot)
            if args.json:
                check_output_file(args.json, "--json")
        except UsageError as exc:
            ap.error(str(exc))
    if args.worker:
        return worker(args.worker, args.config[0], args.dtype, args.threads)
    if args.rate:
        print(gemm_rate(args.dtype, args.threads))
        return 0
    rate = None
    if not args.no_limit:  # in its own process, like every peer: its own threads and allocator
        rate = float(subprocess.run([sys.executable, "-m", "fastbp.bench", "--rate", "--dtype", args.dtype,
                                     "--threads", str(args.threads)], capture_output=True, text=True, check=True).stdout)
    results = {}
    for config in args.config:
        peers = args.peers or (ESTIMATOR_PEERS if config in ESTIMATOR_CONFIGS else PEERS)
        blas, memory = {}, {}
        times = compare(config, peers, args.rounds, args.dtype, args.threads, args.settle, blas=blas, memory=memory)
        results[config] = report(config, times, args.dtype, args.threads, blas=blas, rate=rate, memory=memory)
        sys.stdout.flush()
    if args.json:
        from ._io import write_file

        text = json.dumps({"dtype": args.dtype, "threads": args.threads, "seconds_per_epoch": results}, indent=1)
        write_file(args.json, lambda f: f.write(text.encode()), "the benchmark's JSON")
    if args.plot:
        plot(results, args.plot)


if __name__ == "__main__":
    sys.exit(main())
