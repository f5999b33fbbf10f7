"""The ``fastbp`` command: train, predict, bench, info.

Bad input gets one line on stderr naming the problem and exit status 2,
never a traceback. Ctrl-C during training stops after the epoch in progress
(compiled code finishes its epoch before Python sees the signal) and, with
``--out``, saves the model as it was after that last finished epoch.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import time

import numpy as np

from ._codes import HIDDEN_ACTIVATIONS
from ._validation import as_features


class UsageError(Exception):
    """Bad input from the command line: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not usage + message
        raise UsageError(f"{self.prog}: {message}")


# -- data ---------------------------------------------------------------------

def _read_csv(path: str, target: str | None) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Features, the target column (if named) and the header of a CSV file."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not a text CSV file") from None
    rows = [r for r in rows if r]
    if len(rows) < 2:
        raise UsageError(f"{path} has no data rows under its header")
    header = [h.strip() for h in rows[0]]
    if target is not None and target not in header:
        raise UsageError(f"{path} has no column {target!r}; its columns: {', '.join(header)}")
    values = np.empty((len(rows) - 1, len(header)), dtype=np.float64)
    for i, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise UsageError(f"{path} line {i}: {len(row)} cells, the header has {len(header)}")
        for j, cell in enumerate(row):
            try:
                values[i - 2, j] = float(cell)
            except ValueError:
                raise UsageError(f"{path} line {i}, column {header[j]!r}: {cell!r} is not a number") from None
    if target is None:
        return values, None, header
    t = header.index(target)
    return np.delete(values, t, axis=1), values[:, t], header


def _read_npz(path: str, need_y: bool) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        archive = np.load(path, allow_pickle=False)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"{path} is not a readable .npz file ({exc})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise UsageError(f"{path} holds a single array; an .npz with arrays 'X' and 'y' is expected")
    with archive:
        if "X" not in archive.files or (need_y and "y" not in archive.files):
            wanted = "arrays 'X' and 'y'" if need_y else "an array 'X'"
            raise UsageError(f"{path} must hold {wanted}; it holds {archive.files}")
        try:
            X = archive["X"]
            y = archive["y"] if "y" in archive.files else None
        except ValueError as exc:
            raise UsageError(f"{path}: {exc}") from None
    return X, y


def load_data(path: str | None, target: str | None, need_y: bool = True):
    """``(X, y, source)`` from a CSV or .npz file, or scikit-learn's digits when ``path`` is None."""
    if path is None:
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            raise UsageError("the default data set is scikit-learn's digits: pip install scikit-learn") from None
        X, y = load_digits(return_X_y=True)
        return X / 16.0, y, "scikit-learn digits (8x8 images, pixels scaled to 0..1)"
    if not os.path.exists(path):
        raise UsageError(f"no such file: {path}")
    if path.lower().endswith(".npz"):
        X, y = _read_npz(path, need_y)
    else:
        if need_y and target is None:
            raise UsageError("a CSV needs --target COLUMN, the name of the column to learn")
        X, y, _ = _read_csv(path, target)
    return X, y, path


# -- train --------------------------------------------------------------------

def _split(n, fraction, rng):
    idx = rng.permutation(n)
    k = int(round(n * fraction))
    return idx[k:], idx[:k]


def _task(y: np.ndarray, requested: str) -> str:
    if requested != "auto":
        return requested
    integral = np.issubdtype(y.dtype, np.integer) or bool(np.all(np.mod(y, 1) == 0))
    return "classification" if integral and len(np.unique(y)) <= max(2, len(y) // 5) else "regression"


def _world(distributed: bool):
    """``(comm, rank, size)``: MPI's world with --distributed, else ``(None, 0, 1)``."""
    if not distributed:
        return None, 0, 1
    try:
        from mpi4py import MPI
    except ImportError:
        raise UsageError("--distributed needs mpi4py and an MPI library: pip install 'fastbp[mpi]'") from None
    return MPI.COMM_WORLD, MPI.COMM_WORLD.Get_rank(), MPI.COMM_WORLD.Get_size()


def cmd_train(args) -> int:
    import builtins

    import fastbp

    comm, rank, size = _world(args.distributed)
    # Every rank loads and splits the data alike (same seed) and trains on rows
    # rank::size of the training part; only rank 0 prints and writes files.
    print = builtins.print if rank == 0 else (lambda *a, **k: None)  # noqa: A001
    X, y, source = load_data(args.data, args.target)
    X = np.asarray(X)
    y = np.asarray(y)
    if X.dtype.kind not in "biuf" or y.dtype.kind not in "biuf":
        raise UsageError("X and y must be numeric")
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
        raise UsageError(f"X must be 2-D and y 1-D of the same length; got X {X.shape}, y {y.shape}")
    if len(X) < 4:
        raise UsageError(f"{len(X)} samples are too few to split into training and test data")
    task = _task(y, args.task)
    rng = np.random.default_rng(args.seed)
    train_idx, test_idx = _split(len(X), args.test_split, rng)
    fit_idx, val_idx = _split(len(train_idx), args.validation_split, rng)
    fit_idx, val_idx = train_idx[fit_idx], train_idx[val_idx]
    if task == "classification":
        classes, y_codes = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise UsageError("classification needs at least 2 classes in the target")
        n_out, output, targets = len(classes), "softmax", y_codes
    else:
        classes, n_out, output = None, 1, "identity"
        targets = y.astype(np.float64)
    optimizer = _optimizer(args)
    try:
        net = fastbp.Network([X.shape[1], *args.hidden, n_out], activation=args.activation, output=output,
                             dtype=args.dtype, seed=args.seed)
        if args.threads:
            fastbp.set_num_threads(args.threads)
        elif comm is not None:  # the cores shared out over the ranks on this machine
            from fastbp._distributed import threads_per_rank

            fastbp.set_num_threads(threads_per_rank(comm, sys.modules["mpi4py.MPI"]))
        # Checked once here, so that bad data (NaN, inf) is one clear line, not a traceback mid-training.
        net.loss(X[:1], targets[:1])
        as_features(X, net.sizes[0], net.dtype)
    except ValueError as exc:
        raise UsageError(f"{source}: {exc}") from None

    def score(idx):
        if len(idx) == 0:
            return float("nan")
        pred = net.predict(X[idx])
        if task == "classification":
            return float(np.mean(pred == targets[idx]))
        resid = np.sum((pred[:, 0] - targets[idx]) ** 2)
        total = np.sum((targets[idx] - targets[idx].mean()) ** 2)
        return float(1 - resid / total) if total > 0 else float("nan")

    metric = "accuracy" if task == "classification" else "R2"
    print(f"data: {source}: {len(X)} samples, {X.shape[1]} features, {task}"
          f"{f' ({n_out} classes)' if task == 'classification' else ''}", flush=True)
    print(f"network: {net!r}; {optimizer!r}, lr {args.lr}, batch {args.batch_size}, {args.epochs} epochs", flush=True)
    if comm is not None:
        print(f"distributed: {size} ranks, each training on 1 in {size} of the {len(fit_idx)} training rows; "
              f"batch {args.batch_size} is the global batch", flush=True)
    mine = fit_idx[rank::size]
    X_fit, targets_fit = X[mine], targets[mine]  # gathered once, not per epoch
    history = {"loss": [], "val": []}
    bar = _progress(args.epochs, args.quiet or rank != 0)
    seconds = []
    interrupted = False
    try:
        for epoch in range(args.epochs):
            t = time.perf_counter()
            loss = net.fit(X_fit, targets_fit, epochs=1, batch_size=args.batch_size, lr=args.lr,
                           optimizer=optimizer, comm=comm)["loss"][0]
            seconds.append(time.perf_counter() - t)
            history["loss"].append(loss)
            history["val"].append(score(val_idx))
            bar(epoch, loss, history["val"][-1], metric)
    except KeyboardInterrupt:
        interrupted = True
        print(f"\ninterrupted after {len(history['loss'])} finished epochs", file=sys.stderr)
    except ValueError as exc:  # TrainingDivergedError included
        raise UsageError(f"{exc}") from None
    finally:
        bar(None, None, None, metric)
    if history["loss"]:
        per_epoch = np.median(seconds[1:] if len(seconds) > 1 else seconds)
        print(f"test {metric}: {score(test_idx):.4f} on {len(test_idx)} held-out samples; "
              f"{per_epoch:.4f} s per epoch (median; the first epoch, {seconds[0]:.3f} s, includes loading "
              "or compiling the kernels)")
    if args.out and rank == 0:
        extra = {"task": task}
        if classes is not None:
            extra["classes"] = classes.tolist()
        try:
            net.save(args.out, metadata=extra)
        except OSError as exc:
            raise UsageError(f"cannot write {args.out}: {exc.strerror or exc}") from None
        print(f"model saved to {args.out}")
    if args.plot and history["loss"] and rank == 0:
        _plot(history, metric, args.plot)
        print(f"curves written to {args.plot}")
    return 130 if interrupted else 0


def _progress(epochs, quiet):
    """A per-epoch progress bar (tqdm when installed, else one line per epoch)."""
    if quiet:
        return lambda *a: None
    try:
        from tqdm import tqdm
    except ImportError:
        def line(epoch, loss, val, metric):
            if epoch is not None:
                print(f"epoch {epoch + 1}/{epochs}  loss {loss:.4f}  val {metric} {val:.4f}", flush=True)
        return line
    bar = tqdm(total=epochs, unit="epoch", file=sys.stdout, dynamic_ncols=True)

    def update(epoch, loss, val, metric):
        if epoch is None:
            bar.close()
            return
        bar.set_postfix_str(f"loss {loss:.4f}, val {metric} {val:.4f}")
        bar.update(1)

    return update


def _plot(history, metric, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError('--plot needs matplotlib: pip install "fastbp[plot]" (or pip install matplotlib)') from None
    epochs = np.arange(1, len(history["loss"]) + 1)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(epochs, history["loss"], color="#d62728", label="training loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax2 = ax.twinx()
    ax2.plot(epochs, history["val"], color="#1f77b4", label=f"validation {metric}")
    ax2.set_ylabel(f"validation {metric}")
    fig.legend(loc="center right")
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=110)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


# -- predict ------------------------------------------------------------------

def cmd_predict(args) -> int:
    import fastbp

    from . import _io

    try:
        net = fastbp.Network.load(args.model)
        info = _io.read_model(args.model)[0].get("extra") or {}
    except FileNotFoundError:
        raise UsageError(f"no such model file: {args.model}") from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not isinstance(info, dict):
        info = {}
    X, _, _ = load_data(args.data, args.target, need_y=False)
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != net.sizes[0]:
        raise UsageError(f"{args.data} has {X.shape[1] if X.ndim == 2 else X.shape} features; "
                         f"the model expects {net.sizes[0]}")
    try:
        pred = net.predict(X)
    except ValueError as exc:
        raise UsageError(f"{args.data}: {exc}") from None
    classes = info.get("classes")
    if isinstance(classes, list) and net.output == "softmax" and len(classes) == net.sizes[-1]:
        pred = np.asarray(classes)[pred]
    pred = pred.reshape(len(pred), -1)
    out = open(args.out, "w", newline="") if args.out else sys.stdout
    try:
        w = csv.writer(out)
        w.writerow(["prediction"] if pred.shape[1] == 1 else [f"prediction_{j}" for j in range(pred.shape[1])])
        for row in pred:
            w.writerow([f"{v:.9g}" if isinstance(v, float) else v for v in row.tolist()])
    finally:
        if args.out:
            out.close()
    return 0


# -- bench, info --------------------------------------------------------------

def cmd_bench(args) -> int:
    from . import bench

    argv = ["--config", *args.config, "--rounds", str(args.rounds), "--dtype", args.dtype,
            "--threads", str(args.threads)]
    if args.peers:
        argv += ["--peers", *args.peers]
    if args.plot:
        argv += ["--plot", args.plot]
    if args.json:
        argv += ["--json", args.json]
    if args.no_limit:
        argv.append("--no-limit")
    bench.main(argv)
    return 0


def cmd_info(args) -> int:
    import numba
    import scipy

    import fastbp

    from . import _jit, kernels
    from .kernels import _blas

    print(f"fastbp      {fastbp.__version__}")
    print(f"numpy       {np.__version__}")
    print(f"numba       {numba.__version__}")
    print(f"scipy       {scipy.__version__}")
    print(_blas.summary())
    for reason in _blas.SKIPPED:
        print(f"  passed over: {reason}")
    for lib in _blas.blas_libraries():
        print(f"blas library: {lib.get('internal_api')} {lib.get('version')}, kernel {lib.get('architecture')}, "
              f"{lib.get('num_threads')} threads, {lib.get('filepath')}")
    print(f"threads: {fastbp.get_num_threads()} (the BLAS's; no kernel is parallel in Numba)")
    folder, writable = kernels.cache_folder()
    print(f"compile cache: {folder} ({'writable' if writable else 'NOT writable: kernels compile in every process'})")
    print(f"kernel sources digest: {_jit.sources_digest()[:16]}")
    import importlib.util

    for name, extra in (("sklearn", "sklearn"), ("mpi4py", "mpi")):
        if importlib.util.find_spec(name) is None:
            print(f"{name:<11} not installed (pip install 'fastbp[{extra}]')")
        elif name == "mpi4py":  # importing mpi4py.MPI initialises MPI: only its version string here
            import mpi4py

            print(f"mpi4py      {mpi4py.__version__} (fit(comm=...), fastbp train --distributed)")
        else:
            import sklearn

            print(f"sklearn     {sklearn.__version__} (fastbp.sklearn estimators)")
    return 0


# -- main ---------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    from . import optimizers

    p = _Parser(prog="fastbp", description="Train dense neural networks by backpropagation, fast, on the CPU.")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    t = sub.add_parser("train", help="train a network (default data: scikit-learn's digits)",
                       description="Train a network and report held-out accuracy (classification) or R2 (regression).")
    t.add_argument("--data", help="CSV file (with --target) or .npz file with arrays X and y")
    t.add_argument("--target", help="name of the CSV column to learn")
    t.add_argument("--task", choices=["auto", "classification", "regression"], default="auto",
                   help="auto: classification when the target holds few integer values")
    t.add_argument("--hidden", type=int, nargs="+", default=[64], metavar="N", help="hidden layer widths")
    t.add_argument("--activation", choices=HIDDEN_ACTIVATIONS, default="tanh")
    t.add_argument("--optimizer", choices=list(optimizers.NAMES), default="sgd",
                   help="update rule, with its defaults (fastbp.optimizers): plain SGD, SGD with momentum or "
                        "Nesterov momentum, or an adaptive one")
    t.add_argument("--momentum", type=float, default=0.9, help="momentum of --optimizer momentum/nesterov")
    t.add_argument("--l2", type=float, default=0.0, help="L2 weight decay: l2 * W is added to each weight gradient")
    t.add_argument("--lr", type=float, help="learning rate (default 0.1 for the SGD family, 0.001 for the others)")
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, help="BLAS threads (default: all cores)")
    t.add_argument("--validation-split", type=float, default=0.1, help="fraction of training data for validation")
    t.add_argument("--test-split", type=float, default=0.25, help="fraction held out for the final test")
    t.add_argument("--out", help="save the model here (.npz)")
    t.add_argument("--plot", help="write loss and validation curves to this PNG (needs matplotlib)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--distributed", action="store_true",
                   help="data-parallel over MPI, under mpiexec -n N: each rank trains on every Nth training row, "
                        "one allreduce per step; rank 0 prints and saves (needs fastbp[mpi])")
    t.set_defaults(func=cmd_train)

    pr = sub.add_parser("predict", help="predict with a saved model", description="Write predictions as CSV.")
    pr.add_argument("model", help="a model saved by fastbp train --out")
    pr.add_argument("--data", required=True, help="CSV (header row) or .npz (array X)")
    pr.add_argument("--target", help="a CSV column to leave out of the features")
    pr.add_argument("--out", help="write here instead of stdout")
    pr.set_defaults(func=cmd_predict)

    b = sub.add_parser("bench", help="side-by-side comparison against peers",
                       description="Seconds per epoch of fastbp and its peers, each in its own process.")
    from .bench import (  # standard library imports only
        CONFIGS,
        DISTRIBUTED_PEERS,
        ESTIMATOR_PEERS,
        PEERS,
    )

    b.add_argument("--config", nargs="+", choices=list(CONFIGS), default=["M"],
                   help="S, M, L: plain SGD epochs; E, E32: the scikit-learn estimators")
    b.add_argument("--peers", nargs="+", choices=PEERS + ESTIMATOR_PEERS + DISTRIBUTED_PEERS,
                   help="who runs; one_rank two_ranks: the distributed row (fit(comm=), 1 thread a rank)")
    b.add_argument("--rounds", type=int, default=5)
    b.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    b.add_argument("--threads", type=int, default=2)
    b.add_argument("--plot", help="write a PNG chart here")
    b.add_argument("--json", help="write the medians to this JSON file")
    b.add_argument("--no-limit", action="store_true",
                   help="leave out the limit row (the epoch's FLOPs at the best rate of a 2048^3 GEMM)")
    b.set_defaults(func=cmd_bench)

    i = sub.add_parser("info", help="versions, BLAS, threads and the compile cache")
    i.set_defaults(func=cmd_info)
    return p


def _optimizer(args):
    """The optimizer object of ``--optimizer/--momentum/--l2`` (one for the
    whole run, so momentum and Adam state carry across epochs); sets the
    default ``--lr``: 0.1 for the SGD family, 0.001 for the adaptive ones.
    Bad values raise UsageError naming the option."""
    from fastbp import optimizers

    base = optimizers.NAMES[args.optimizer]()
    if args.lr is None:
        args.lr = 0.1 if isinstance(base, optimizers.SGD) else 0.001
    values = {name: getattr(base, name) for name, _ in base.params}
    if values.get("momentum"):  # --optimizer momentum/nesterov take --momentum
        values["momentum"] = args.momentum
    try:
        return type(base)(**values, l2=args.l2)
    except ValueError as exc:
        raise UsageError(f"--{exc}") from None


def _check_args(args):
    """Flag values checked before any work: ``fit``'s own checks for what
    reaches ``fit``, named as the flags are; the command's own for the rest."""
    from ._validation import check_fit

    if args.command == "train":
        try:
            check_fit(args.epochs, args.batch_size, args.lr if args.lr is not None else 0.1, "raise",
                      args.threads, None, False)
        except ValueError as exc:
            raise UsageError(f"--{str(exc).replace('batch_size', 'batch-size')}") from None
    for name in ("validation_split", "test_split"):
        v = getattr(args, name, None)
        if v is not None and not 0 <= v < 1:
            raise UsageError(f"--{name.replace('_', '-')} must lie in [0, 1), got {v}")
    if getattr(args, "hidden", None) is not None and min(args.hidden) < 1:
        raise UsageError(f"--hidden widths must be positive integers, got {args.hidden}")
    for name in ("rounds", "threads"):
        v = getattr(args, name, None)
        if args.command == "bench" and v < 1:
            raise UsageError(f"--{name} must be a positive integer, got {v}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv = ["train", *argv]  # no subcommand: train, the main job
    try:
        args = parser.parse_args(argv)
        _check_args(args)
        return args.func(args)
    except UsageError as exc:
        mpi = sys.modules.get("mpi4py.MPI")  # under --distributed every rank fails alike; rank 0 says so
        if mpi is None or mpi.COMM_WORLD.Get_rank() == 0:
            print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
