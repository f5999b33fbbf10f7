"""``fastbp train``: split, standardise, train, report, save.

Ctrl-C during training stops after the epoch in progress (compiled code
finishes its epoch before Python sees the signal) and, with ``--out``, saves
the model as it was after that last finished epoch.
"""
from __future__ import annotations

import builtins
import json
import sys
import time
import warnings

import numpy as np

from .._validation import as_features
from ..losses import LOSSES
from .checks import UsageError, warn
from .data import Table, load_data, out_of_range
from ..training.progress import Progress
from .encoding import Encoder
from .scaling import Standardizer


#: Early stopping on the validation rows, by default: scikit-learn's n_iter_no_change and tol.
DEFAULT_PATIENCE, EARLY_STOPPING_TOL = 10, 1e-4


def split(n: int, fraction: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """A random ``(kept, held_out)`` split of ``range(n)``, ``round(n * fraction)`` held out."""
    idx = rng.permutation(n)
    k = int(round(n * fraction))
    return idx[k:], idx[:k]


def choose_task(y: np.ndarray, requested: str) -> tuple[str, str]:
    """``(task, why)``: classification for text labels or few integer values, else regression."""
    if y.dtype.kind == "U":
        if requested == "regression":
            raise UsageError(f"--task regression needs a numeric target; it holds text labels such as {y[0]!r}")
        return "classification", "text labels"
    if requested != "auto":
        return requested, f"--task {requested}"
    integral = np.issubdtype(y.dtype, np.integer) or bool(np.all(np.mod(y, 1) == 0))
    if integral and len(np.unique(y)) <= max(2, len(y) // 5):
        return "classification", "few integer values; --task regression to override"
    return "regression", "numeric values; --task classification to override"


def _world(distributed: bool):
    """``(comm, rank, size)``: MPI's world with --distributed, else ``(None, 0, 1)``."""
    if not distributed:
        return None, 0, 1
    try:
        from mpi4py import MPI
    except ImportError:
        raise UsageError("--distributed needs mpi4py and an MPI library: pip install 'fastbp[mpi]'") from None
    return MPI.COMM_WORLD, MPI.COMM_WORLD.Get_rank(), MPI.COMM_WORLD.Get_size()


class _Prepared:
    """The data as the network sees it, and what a model file must keep to undo that."""

    def __init__(self, table: Table, args, rng):
        X, y = np.asarray(table.X, dtype=np.float64), table.y
        if len(X) < 4:
            raise UsageError(f"{table.source}: {len(X)} samples are too few to split into training and test data")
        self.task, self.why = choose_task(y, args.task)
        train_idx, self.test_idx = split(len(X), args.test_split, rng)
        fit_idx, val_idx = split(len(train_idx), args.validation_split, rng)
        self.fit_idx, self.val_idx = train_idx[fit_idx], train_idx[val_idx]
        if len(self.fit_idx) == 0:
            raise UsageError(f"--test-split {args.test_split} and --validation-split {args.validation_split} "
                             f"leave none of the {len(X)} samples to train on")
        self.extra: dict = {"task": self.task}
        if args.target is not None:
            self.extra["target"] = args.target
        if table.features is not None:
            self.extra["features"] = table.features
        if not args.number_format.plain:
            self.extra["number_format"] = args.number_format.to_json()
        # Text columns one-hot, empty cells imputed: learned on the training rows only.
        self.encoder = Encoder.fit(table, self.fit_idx)
        self.encoded = self.encoder.needed
        if self.encoded:
            X = self.encoder.transform(table)
        self.extra["encoding"] = self.encoder.to_json()
        self.features = None
        if args.scale == "standard":  # from the training rows only: test rows stay unseen
            self.features = Standardizer.fit(X[self.fit_idx])
            X = self.features.apply(X)
            self.extra["scaling"] = self.features.to_json()
        bad = out_of_range(X, args.dtype)
        if bad is not None:  # named in the file, before the network meets it as an index into X
            i, k = bad
            j = self.encoder.source_column(k)
            raise UsageError(f"{table.where(i, j)}: {table.X[i, j]:g} is beyond the largest {args.dtype} "
                             f"({np.finfo(args.dtype).max:.3g}), the network's dtype"
                             + (", even standardised: " if args.scale == "standard" else ": ")
                             + "rescale the column, or train with --dtype float64"
                             + (" or --scale standard" if args.scale != "standard" else ""))
        self.X = X
        self.target_scaling = None
        if self.task == "classification":
            # The labels as the file spells them ("007", "12345678901"), not as numbers read from them.
            labels = table.y_text if table.y_text is not None else y
            self.classes, self.targets = np.unique(labels, return_inverse=True)
            if len(self.classes) < 2:
                raise UsageError(f"{table.source}: classification needs at least 2 classes in the target, "
                                 f"it holds only {self.classes[0]!r}")
            self.extra["classes"] = self.classes.tolist()
            self.n_out, self.output, self.y = len(self.classes), "softmax", self.targets
        else:
            self.classes, self.n_out, self.output = None, 1, "identity"
            self.y = self.targets = y.astype(np.float64)
            if args.scale == "standard":
                self.target_scaling = Standardizer.fit(self.y[self.fit_idx])
                self.y = self.target_scaling.apply(self.y)
                self.extra["target_scaling"] = self.target_scaling.to_json()
            bad = out_of_range(self.y[:, None], args.dtype)
            if bad is not None:
                raise UsageError(f"{table.where(bad[0])}, target column {args.target!r}: {y[bad[0]]:g} is beyond "
                                 f"the largest {args.dtype} ({np.finfo(args.dtype).max:.3g}), the network's dtype: "
                                 "rescale the target, or train with --dtype float64 or --scale standard")
        from .._io import MAX_META_BYTES

        if len(json.dumps(self.extra)) > MAX_META_BYTES - 4096:
            raise UsageError(f"{table.source}: {X.shape[1]} features are too many for the model file to keep "
                             "their names and scaling; use --scale none and an .npz file")

    def predictions(self, net, idx):
        """Predictions on rows ``idx`` in the target's own units (labels codes, or values)."""
        pred = net.predict(self.X[idx])
        if self.task == "regression":
            pred = pred[:, 0]
            if self.target_scaling is not None:
                pred = self.target_scaling.invert(pred)
        return pred

    def score(self, net, idx) -> float:
        """Accuracy, or R² in the target's units (``fastbp._metrics``, as
        ``Network.score`` and ``fastbp evaluate``), on rows ``idx``; NaN if none."""
        from .. import _metrics

        if len(idx) == 0:
            return float("nan")
        pred = self.predictions(net, idx)
        if self.task == "classification":
            return _metrics.accuracy(pred == self.targets[idx])
        return _metrics.r2(self.targets[idx][:, None], pred[:, None])


def _diverged_message(epoch: int, args) -> str:
    hints = [f"a smaller --lr (this run: {args.lr:g}; try {args.lr / 10:g})"]
    if args.scale == "none":
        hints.append("standardised features (leave out --scale none)")
    if args.optimizer in ("sgd", "momentum", "nesterov"):
        hints.append("--optimizer adam, which adapts each weight's step")
    return (f"training diverged in epoch {epoch} (the loss or a weight became NaN or infinite); "
            f"try {', or '.join(hints)}")


def _names(columns, shown: int = 4) -> str:
    """The columns' names for a message: the first few, then a count."""
    names = [repr(c.name) for c in columns]
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _train_ensemble(args, data, table, sizes, optimizer, print, result) -> int:  # noqa: A002
    """``train --ensemble K``: K networks fitted side by side, early stopping each on the
    validation rows; the figure and the file are the ensemble's (its members' mean)."""
    import fastbp

    model = fastbp.Ensemble(sizes, n_models=args.ensemble, activation=args.activation, output=data.output,
                            loss=args.loss, dtype=args.dtype, seed=args.seed)
    X = data.X
    print(f"data: {table.source}: {len(X)} samples, {len(data.encoder.columns)} features, {data.task}", flush=True)
    print(f"ensemble: {model!r}; {optimizer!r}, lr {args.lr:g}, batch {args.batch_size}, {args.epochs} epochs",
          flush=True)
    validation = (X[data.val_idx], data.y[data.val_idx]) if len(data.val_idx) else None
    patience = DEFAULT_PATIENCE if args.patience is None else args.patience
    early = patience > 0 and validation is not None
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            histories = model.fit(X[data.fit_idx], data.y[data.fit_idx], epochs=args.epochs,
                                  batch_size=args.batch_size, lr=args.lr, optimizer=optimizer,
                                  validation_data=validation, patience=patience if early else None,
                                  min_delta=EARLY_STOPPING_TOL if early else 0.0, restore_best=early,
                                  monitor=None if validation is None else "val_loss", verbose=not args.quiet)
    except fastbp.TrainingDivergedError:
        raise UsageError(_diverged_message(1, args).replace("training diverged in epoch 1",
                                                            "every network of the ensemble diverged")) from None
    except ValueError as exc:
        raise UsageError(f"{exc}") from None
    for w in caught:
        warn(str(w.message))
    seconds = time.perf_counter() - start
    epochs = [len(h["loss"]) for h in histories]
    metric = "accuracy" if data.task == "classification" else "R2"
    if len(data.test_idx):
        figure = f"test {metric}: {data.score(model, data.test_idx):.4f} on {len(data.test_idx)} held-out samples"
    else:
        figure = (f"training {metric}: {data.score(model, data.fit_idx):.4f} on {len(data.fit_idx)} samples "
                  "(no test samples: --test-split 0)")
    result(f"{figure} (the mean of {model.n_models - len(model.set_aside)} networks); {seconds:.2f} s for "
           f"{sum(epochs)} network-epochs ({min(epochs)} to {max(epochs)} epochs each)")
    if args.out:
        try:
            model.save(args.out, metadata=data.extra)
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot write {args.out}: {getattr(exc, 'strerror', None) or exc}") from None
        print(f"ensemble saved to {args.out}")
    else:
        print("the ensemble is not saved: --out model.npz keeps it (for fastbp predict and evaluate)")
    return 0


def cmd_train(args) -> int:
    import fastbp

    comm, rank, size = _world(args.distributed)
    # Every rank loads and splits the data alike (same seed) and trains on rows
    # rank::size of the training part; only rank 0 prints and writes files;
    # with --quiet, only the final figure (``result``).
    result = builtins.print if rank == 0 else (lambda *a, **k: None)
    print = result if not args.quiet else (lambda *a, **k: None)  # noqa: A001
    table = load_data(args.data, args.target, text=args.text, missing=args.missing == "impute",
                      number_format=args.number_format, detect=args.text is not False)
    rng = np.random.default_rng(args.seed)
    data = _Prepared(table, args, rng)
    optimizer = args.optimizer_object  # made by options.check_train, before the data was read
    X = data.X
    metric = "accuracy" if data.task == "classification" else "R2"
    progress = Progress(args.epochs, quiet=args.quiet or rank != 0)
    sizes = [X.shape[1], *args.hidden, data.n_out]
    if args.loss is not None and data.output not in LOSSES[args.loss].outputs:
        fits = [name for name, spec in LOSSES.items() if data.output in spec.outputs]
        raise UsageError(f"--loss {args.loss} does not fit {data.task} (a {data.output} output); "
                         f"for {data.task} use {' or '.join(fits)}, or leave --loss out")
    try:
        net = fastbp.Network(sizes, activation=args.activation, output=data.output, loss=args.loss, dtype=args.dtype,
                             seed=args.seed)
        if args.threads:
            fastbp.set_num_threads(args.threads)
        elif comm is not None:  # the cores shared out over the ranks on this machine
            from fastbp.training.distributed import threads_per_rank

            fastbp.set_num_threads(threads_per_rank(comm, sys.modules["mpi4py.MPI"]))
        # Checked once here, so that bad data (a value too large for float32) is one line, not a traceback
        # (on the reference: a check is no reason to compile).
        with fastbp.tier("reference"):
            net.loss(X[:1], data.y[:1])
        as_features(X, net.sizes[0], net.dtype)
    except ValueError as exc:
        raise UsageError(f"{table.source}: {exc}") from None

    if args.ensemble is not None:
        return _train_ensemble(args, data, table, sizes, optimizer, print, result)
    what = f"{data.task} ({data.n_out} classes: {data.why})" if data.task == "classification" \
        else f"{data.task} ({data.why})"
    scaled = "standardised (--scale none to leave them as they are)" if args.scale == "standard" else "as they are"
    n_columns = len(data.encoder.columns)
    encoded = ""
    if data.encoded:
        texts = [c for c in data.encoder.columns if c.kind == "text"]
        imputed = [c for c in data.encoder.columns if c.indicator]
        parts = ([f"{len(texts)} text column{'s' * (len(texts) > 1)} one-hot encoded ({_names(texts)})"]
                 if texts else []) + (
            [f"empty cells of {len(imputed)} column{'s' * (len(imputed) > 1)} filled with the median"] if imputed
            else [])
        encoded = f" ({', '.join(parts)}: {X.shape[1]} inputs)"
    print(f"data: {table.source}: {len(X)} samples, {n_columns} features{encoded}, {what}; features {scaled}",
          flush=True)
    print(f"network: {net!r}; {optimizer!r}, lr {args.lr:g}, batch {args.batch_size}, {args.epochs} epochs",
          flush=True)
    if comm is not None:
        print(f"distributed: {size} ranks, each training on 1 in {size} of the {len(data.fit_idx)} training rows; "
              f"batch {args.batch_size} is the global batch", flush=True)
    mine = data.fit_idx[rank::size]
    X_fit, y_fit = X[mine], data.y[mine]  # gathered once
    # Every rank scores the same validation rows: fit's values over all ranks are theirs.
    validation = (X[data.val_idx], data.y[data.val_idx]) if len(data.val_idx) else None
    if validation is None and args.patience and rank == 0:
        warn(f"--patience {args.patience} watches validation rows, and --validation-split {args.validation_split} "
             f"holds out none of the {len(data.fit_idx)} training rows: training every epoch")
    classification = data.task == "classification"
    shown = {"val": [], "history": {"loss": []}, "tick": time.perf_counter()}

    def report(epoch, history) -> None:
        """After each epoch of the one fit: the validation score and the progress report."""
        if epoch == 0:
            progress.start("reference" if net.last_tier == "reference" else "loaded",
                           "the NumPy reference (kernels compiling in the background)"
                           if net.last_tier == "reference" else "the compiled kernels")
        shown["history"] = history
        if validation is None:
            value = float("nan")
        elif classification:
            value = history["val_accuracy"][-1]
        else:  # R2 in the target's units (val_loss, on the standardised target, ranks epochs alike)
            value = data.score(net, data.val_idx)
        shown["val"].append(value)
        now = time.perf_counter()
        progress.epoch(epoch + 1, {"loss": history["loss"][-1], f"val {metric}": value}, now - shown["tick"])
        shown["tick"] = now

    patience = DEFAULT_PATIENCE if args.patience is None else args.patience
    early = patience > 0 and validation is not None  # on by default, on the validation rows
    interrupted = False
    try:
        fitted = net.fit(X_fit, y_fit, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                         optimizer=optimizer, comm=comm, validation_data=validation,
                         patience=patience if early else None, min_delta=EARLY_STOPPING_TOL if early else 0.0,
                         restore_best=early,
                         # The validation loss, not its accuracy: on a few rows the accuracy reaches its
                         # best early and stops training that would still help.
                         monitor=None if validation is None else "val_loss",
                         callback=report)
    except KeyboardInterrupt:
        interrupted = True
        fitted = shown["history"]
        progress.close()
        result(f"interrupted after {len(fitted['loss'])} finished epochs", file=sys.stderr)
    except fastbp.TrainingDivergedError as exc:
        progress.close()
        raise UsageError(_diverged_message(len((exc.history or {"loss": []})["loss"]) + 1, args)) from None
    except ValueError as exc:
        raise UsageError(f"{exc}") from None
    finally:
        progress.close()
    history = {"loss": list(fitted["loss"]), "val": shown["val"][:len(fitted["loss"])]}
    if not interrupted and early and history["loss"]:
        # fit kept the epoch of the lowest validation loss (the first of equals), as it watched it.
        best = int(np.argmin(fitted["val_loss"]))
        if len(history["loss"]) < args.epochs:
            print(f"early stop after epoch {len(history['loss'])}: {patience} epochs without a lower validation "
                  f"loss; the model of epoch {best + 1} (val {metric} {history['val'][best]:.4f}) is kept")
        elif best + 1 < len(history["loss"]):
            print(f"the model of epoch {best + 1}, of the lowest validation loss (val {metric} "
                  f"{history['val'][best]:.4f}), is kept (--patience 0 keeps the last)")
    if history["loss"]:
        seconds = progress.seconds
        per_epoch = np.median(seconds[1:] if len(seconds) > 1 else seconds)
        if len(data.test_idx):
            figure = f"test {metric}: {data.score(net, data.test_idx):.4f} on {len(data.test_idx)} held-out samples"
        else:
            figure = (f"training {metric}: {data.score(net, data.fit_idx):.4f} on {len(data.fit_idx)} samples "
                      "(no test samples: --test-split 0)")
        first = ("on the NumPy reference" if net.last_tier == "reference"
                 else "with fit's one-time checks and loading the kernels")
        result(f"{figure}; {per_epoch:.4f} s per epoch (median; the first epoch took {seconds[0]:.3f} s, {first})")
    if args.out and rank == 0:
        try:
            net.save(args.out, metadata=data.extra)
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot write {args.out}: {getattr(exc, 'strerror', None) or exc}") from None
        print(f"model saved to {args.out}")
    elif rank == 0:
        print("the model is not saved: --out model.npz keeps it (for fastbp predict and evaluate)")
    if args.plot and history["loss"] and rank == 0:
        from .plots import plot_history

        shape = "-".join(map(str, net.sizes))
        plot_history(history, metric, args.plot, title=f"{table.source}: {shape} {args.activation}, "
                     f"{args.optimizer} lr {args.lr:g}, batch {args.batch_size}, {args.dtype}",
                     inputs=(args.data, args.out))
        print(f"curves written to {args.plot}")
    return 130 if interrupted else 0
