"""The side-by-side run: each peer in its own process, rounds interleaved,
then the report (medians, ratios, memory, the limit row) and the chart."""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time

from .configs import (
    ACTIVATION,
    CONFIGS,
    DISTRIBUTED_PEERS,
    ESTIMATOR_CONFIGS,
    ESTIMATOR_PEERS,
    PEERS,
    SPARSE_CONFIGS,
    epoch_flops,
)


def _why_not(peer: str, activation: str) -> str | None:
    """Why ``peer`` cannot run here (not installed, no such activation), or None."""
    from ..activations import ACTIVATIONS

    if peer == "sklearn" and ACTIVATIONS[activation].sklearn_name is None:
        return f"scikit-learn's MLP has no {activation} activation"
    mod = {"torch": "torch", "torch_vmap": "torch", "jax": "jax", "jax_vmap": "jax", "sklearn": "sklearn", "estimator": "sklearn", "sklearn_estimator": "sklearn",
           "two_ranks": "mpi4py"}.get(peer)
    import importlib.util

    if mod is not None and importlib.util.find_spec(mod) is None:
        return f"{mod} is not installed"
    return None


def compare(config, peers, rounds, dtype="float32", threads=2, settle=0.5, out=sys.stdout, blas=None, memory=None,
            activation=ACTIVATION):
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
        why = _why_not(peer, activation)
        if why is not None:
            print(f"  note: {peer} skipped: {why}", file=out)
            continue
        env = dict(os.environ)
        if peer in ("jax", "jax_vmap"):
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
             "--threads", str(threads), "--activation", activation],
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


def report(config, times, dtype, threads, out=sys.stdout, blas=None, rate=None, memory=None, activation=ACTIVATION):
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
    act = "" if config in ESTIMATOR_CONFIGS else f", {activation} hidden"
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
    from .._io import write_file

    try:
        write_file(path, lambda f: fig.savefig(f, dpi=110, format=path.rsplit(".", 1)[-1].lower()), "the chart")
    finally:
        plt.close(fig)
