"""``Network.fit``: every check before any training, then the epoch loop
(rollback on divergence, validation scores, schedules, early stopping,
callbacks, the progress report) around one runner's epochs.
"""
from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .. import _tiers, optimizers
from .._sparse import is_sparse, stored
from .options import FitOptions
from .._threads import largest_product
from .._checks import check_in_dtype
from .._validation import FitSettings, check_fit
from ..errors import TrainingDivergedError
from .extras import EarlyStopping, Extras, TrainingData, check_monitor, check_validation_pair, schedule
from .progress import Report
from .runners import LocalRunner


class History(dict):
    """``fit``'s history: a dict of per-epoch lists, and ``tier``, what ran the
    fit (``'compiled'`` or ``'reference'``; ``fastbp._tiers``)."""

    tier: str | None = None


@dataclass
class Plan:
    """A fit, checked: its settings, optimizer, rows and the history key early stopping watches."""

    settings: FitSettings
    optimizer: optimizers.Optimizer
    data: TrainingData
    monitor: str


def make_plan(net, X, y, options: FitOptions, extras: Extras, distributed: bool) -> Plan:
    """Every check and conversion of a fit, before any training."""
    settings = check_fit(options.epochs, options.batch_size, options.lr, options.on_divergence,
                         options.threads, options.average_every, distributed)
    opt = optimizers.resolve(options.optimizer)
    check_in_dtype({"lr": settings.lr}, net.dtype, "")
    check_in_dtype({"l2": opt.l2, **{name: getattr(opt, name) for name, _, _ in opt.params}}, net.dtype,
                   f"optimizer {type(opt).__name__}: ")  # before state_for: a refused fit leaves it unused
    opt.state_for(net._params.size, net.dtype)  # another network's optimizer fails here
    X, Y = net._XY(X, y)
    validation = None
    if options.validation_data is not None:
        pair = check_validation_pair(options.validation_data)
        try:
            validation = net._XY(*pair, name="y_val")
        except ValueError as exc:
            raise type(exc)(f"validation_data: {exc}") from None
    data = extras.prepare(X, Y, validation, net._output_kind, net.dtype, distributed=distributed)
    return Plan(settings, opt, data, check_monitor(options.monitor, data.validation, net._output_kind))


def kernels_needed(net, plan: Plan, batch: int) -> tuple[tuple[str, ...], Callable[[], float], tuple]:
    """The kernels a one-process fit runs, its expected seconds on the
    reference, and the validation's kernels when its data is of the other
    kind (sparse beside dense X, or dense beside sparse): ``(key, kernels)``."""
    opt, data, epochs = plan.optimizer, plan.data, plan.settings.epochs
    plain = bool(optimizers.is_plain(opt.code, opt.hyper(1.0)))
    needs = ("train_epoch",) if plain else ("train_epoch_optim",)
    also = ()
    if data.validation is not None:
        if is_sparse(data.validation[0]) == is_sparse(data.X):
            needs += ("forward", "loss_value")
        else:
            also = ((_tiers.variant(net.dtype, is_sparse(data.validation[0])), ("forward", "loss_value")),)

    def estimate() -> float:
        seconds = _tiers.reference_seconds(net.sizes, data.X.shape[0], epochs=epochs, batch_size=batch,
                                           dtype=net.dtype.name, stateful=not plain, stored=stored(data.X))
        if data.validation is not None:
            seconds += epochs * net._forward_seconds(data.validation[0])
        return seconds

    return needs, estimate, also


def fit(net, X, y, options: FitOptions) -> History:
    """Train ``net`` with ``options`` (``Network.fit`` says what each does)."""
    comm, verbose, shuffle = options.comm, options.verbose, options.shuffle
    class_weight = options.class_weight
    if isinstance(class_weight, dict) and net.classes is not None:  # keyed by label: by unit index here
        from .._labels import to_indices

        class_weight = {int(to_indices([label], net.classes, "class_weight")[0]): w for label, w in class_weight.items()}
    extras = Extras(options.validation_split, options.patience, options.min_delta, options.restore_best,
                    options.lr_schedule, options.callback, options.sample_weight, class_weight,
                    validation_given=options.validation_data is not None)
    if comm is None:
        plan = make_plan(net, X, y, options, extras, distributed=False)
        batch = min(plan.settings.batch_size, plan.data.X.shape[0])
        needs, estimate, also = kernels_needed(net, plan, batch)
        call = net._call(needs, estimate, verbose=verbose, sparse=is_sparse(plan.data.X), also=also)
    else:  # every rank runs the compiled kernels (or, set so, the reference)
        from .distributed import check_comm

        check_comm(comm)
        plan = None
        call = net._call(("batch_gradient", "apply_update"), lambda: 0.0, distributed=True, sparse=is_sparse(X),
                         verbose=verbose and comm.Get_rank() == 0)
    with call as choice:
        if comm is None:
            runner = LocalRunner(net, plan.data.X, plan.data.Y, batch, plan.optimizer, plan.data.weights)
            threads = plan.settings.threads
            largest = largest_product(net.sizes, batch)
        else:
            from . import distributed

            error = None
            try:
                plan = make_plan(net, X, y, options, extras, distributed=True)
            except Exception as exc:  # noqa: BLE001 - shared with every rank, then raised
                error = distributed.shared_error(exc)
            distributed.agree(comm, error)
            runner = distributed.DistributedRunner(comm, net, plan, f"{net!r}, {extras.describe()}, "
                                                   f"monitor={options.monitor}", shuffle)
            threads, largest = runner.threads, None  # threads per rank are chosen with the ranks
        history = _train(net, runner, plan, threads, largest, shuffle, verbose, choice, options)
    history.tier = choice.tier
    return history


def _train(net, runner, plan: Plan, threads, largest, shuffle: bool, verbose: bool, choice,
           options: FitOptions) -> History:
    """The epoch loop, on ``threads`` BLAS threads (None: the current setting),
    one if the largest product (``largest`` multiply-adds) is small (``fastbp._threads``)."""
    settings, data, callback = plan.settings, plan.data, options.callback
    lr_schedule = options.lr_schedule
    rate_of = schedule(lr_schedule, settings.lr, settings.epochs)
    stall = StallWatch(data.X)
    stopper = EarlyStopping(plan.monitor, options.patience, options.min_delta, options.restore_best,
                            net._params)
    history = History(loss=[])
    n = data.X.shape[0]
    # The size rule is the kernels' (measured for their products); the reference keeps the threads as they are.
    with net._num_threads(threads, largest if choice.tier == "compiled" else None), \
            Report(settings.epochs, verbose and runner.rank == 0, choice) as progress:
        def after(epoch: int, epoch_lr: float) -> bool:
            """Everything between an epoch and the next; whether training goes on."""
            if lr_schedule != "constant":
                history.setdefault("lr", []).append(epoch_lr)
            progress.epoch(history)
            if runner.rank == 0:
                stall.update(history["loss"])
            going = stopper.update(history, epoch)
            if callback is not None:
                said = callback_answer(callback, callback(epoch, history), epoch)
                if said is not None and not said:  # False, numpy.False_, 0: stop; None (no answer): go on
                    going = False
            return going

        # Whatever can raise on one process alone (a schedule, the validation
        # pass, a callback) runs in ``agreed``: with MPI, every rank then raises
        # the same error before the next collective, instead of waiting in it.
        for epoch in range(settings.epochs):
            perm = net._rng.permutation(n) if shuffle else np.arange(n)
            restore = _snapshot(net, plan.optimizer)
            epoch_lr = agreed(runner, lambda: rate_of(epoch))
            try:
                loss = runner.run(perm.astype(np.int64, copy=False), epoch_lr)
            except KeyboardInterrupt:  # parameters and optimizer state back to the last finished epoch, together
                restore()
                raise
            if not _end_epoch(net, loss, epoch, epoch_lr, restore, history, settings.on_divergence):
                break  # the same on every rank: the loss and the parameters are every rank's
            if data.validation is not None:
                record_scores(net, runner.total(agreed(runner, lambda: validation_sums(net, data.validation))),
                              history)
            if not runner.agree(agreed(runner, lambda: after(epoch, epoch_lr))):
                break
    stopper.finish()
    return history


def callback_answer(callback, said, epoch: int):
    """A ``fit`` callback's return value, checked before the next epoch:
    None (go on), a bool or NumPy bool, or a real number (0 stops); anything
    else is a TypeError naming the callback and what it returned (an array's
    truth value, for one, is ambiguous)."""
    if said is None or isinstance(said, (bool, np.bool_)):
        return said
    if isinstance(said, numbers.Real) or (isinstance(said, np.ndarray) and said.ndim == 0
                                          and said.dtype.kind in "biuf"):
        return said
    name = getattr(callback, "__qualname__", None) or type(callback).__name__
    shape = f" of shape {said.shape}" if isinstance(said, np.ndarray) else ""
    raise TypeError(f"the fit callback {name} returned a {type(said).__name__}{shape} after epoch {epoch + 1}: "
                    "return None to go on, or False (or 0) to stop; True or a number are read as their truth value")


#: A fit whose best loss over the last STALL_WINDOW epochs is not
#: STALL_FRACTION below its best before them, with features far from unit
#: scale, gets a warning (once, at any epoch).
STALL_WINDOW, STALL_FRACTION = 3, 0.02
#: Features "far from unit scale": a column's mean or deviation beyond this.
FAR_FROM_UNIT = 10.0


class StallWatch:
    """Watches a fit's losses epoch by epoch, over the whole run: when they
    have not improved by ``STALL_FRACTION`` over ``STALL_WINDOW`` epochs, the
    features' scales are looked at (once: they do not change within a fit)
    and, far from unit, a ``StalledTrainingWarning`` names the usual cause."""

    def __init__(self, X) -> None:
        self.X, self.looked = X, False

    def update(self, losses: list) -> None:
        if self.looked or len(losses) <= STALL_WINDOW:
            return
        if min(losses[-STALL_WINDOW:]) <= (1 - STALL_FRACTION) * min(losses[:-STALL_WINDOW]):
            return
        self.looked = True
        warn_if_far_from_unit(losses, self.X)


def warn_if_far_from_unit(losses: list, X: np.ndarray) -> None:
    """Warn (``StalledTrainingWarning``) that the loss has stalled, when the
    features' scales are far from unit: the usual cause, named with its fix."""
    mean, std = column_statistics(X)
    spread = np.maximum(np.abs(mean), std)
    column = int(np.argmax(spread))
    if spread[column] <= FAR_FROM_UNIT:
        return
    from ..errors import StalledTrainingWarning

    warnings.warn(
        f"the loss has not improved by {STALL_FRACTION:.0%} in the last {STALL_WINDOW} epochs (epoch 1: "
        f"{losses[0]:.4g}, best {min(losses):.4g}, epoch {len(losses)}: {losses[-1]:.4g}) and the features "
        f"are far from unit scale (column {column}: mean {mean[column]:.4g}, deviation "
        f"{std[column]:.4g}): standardise them to mean 0 and deviation 1 over the training rows "
        "(X - mean) / std, e.g. sklearn.preprocessing.StandardScaler; `fastbp train` does this by default",
        StalledTrainingWarning, stacklevel=10)  # the caller of Network.fit


def column_statistics(X) -> tuple[np.ndarray, np.ndarray]:
    """Each column's mean and deviation, float64; of a sparse matrix from its
    nonzeros (no dense copy)."""
    if is_sparse(X):
        mean = np.asarray(X.mean(axis=0, dtype=np.float64)).ravel()
        square = np.asarray(X.multiply(X).mean(axis=0, dtype=np.float64)).ravel()
        return mean, np.sqrt(np.maximum(square - mean * mean, 0.0))
    X = np.asarray(X, dtype=np.float64)
    return X.mean(axis=0), X.std(axis=0)


def agreed(runner, step: Callable[[], Any]) -> Any:
    """``step()``, whose failure on any process is every process's (``runner.check``)."""
    error = None
    try:
        result = step()
    except Exception as exc:  # noqa: BLE001 - handed to every process, then raised
        error, result = exc, None
    runner.check(error)
    return result


def validation_sums(net, validation) -> np.ndarray:
    """This process's validation rows: loss sum, row count, right answers
    (elements for sigmoid outputs)."""
    Xv, Yv = validation
    sums = np.zeros(3)
    if Xv.shape[0]:
        A = net._forward_rows(Xv)
        sums[0] = float(net._kernels().loss_value(A, Yv, net._loss_code)) * Xv.shape[0]
        sums[1] = Xv.shape[0]
        if net._output_kind.classifier:
            sums[2] = net._output_kind.right_share(A, Yv).sum()
    return sums


def record_scores(net, sums: np.ndarray, history: dict) -> None:
    """``val_loss`` (and ``val_accuracy`` for classifiers) from the sums over every process's rows."""
    if not sums[1]:
        raise ValueError("the validation data has no rows")
    history.setdefault("val_loss", []).append(sums[0] / sums[1])
    if net._output_kind.classifier:
        history.setdefault("val_accuracy", []).append(sums[2] / sums[1])


def _snapshot(net, opt: optimizers.Optimizer) -> Callable[[], None]:
    """A function that puts the parameters and ``opt``'s state back as they are now."""
    params = net._params.copy()
    restore_opt = opt.snapshot()

    def restore():
        net._params[...] = params
        restore_opt()

    return restore


def _end_epoch(net, loss, epoch, lr, restore, history, on_divergence) -> bool:
    """Record a finished epoch; False (training stops) if it diverged: then
    ``restore()`` and raise ``TrainingDivergedError`` or warn, per ``on_divergence``."""
    if not (math.isfinite(loss) and np.isfinite(net._params).all()):
        restore()
        msg = (
            f"training diverged in epoch {epoch + 1} (lr={lr}): the loss or a parameter "
            "became non-finite; the network was put back to its parameters before that epoch"
        )
        if on_divergence == "raise":
            raise TrainingDivergedError(msg, history)
        warnings.warn(msg, RuntimeWarning, stacklevel=6)  # the caller of Network.fit
        return False
    history["loss"].append(loss)
    return True
