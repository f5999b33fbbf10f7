"""Many networks trained together: ``fastbp.Ensemble``.

An ensemble holds K member networks of the same input width, output width
and depth (hidden widths may differ), each an ordinary ``Network`` with its
own seed, learning rate, L2 strength and row weights. ``fit`` trains every
member on the same data in one call, all of them seeing the batches in one
order drawn from the ensemble's own generator, in one of two ways:

- members of one shape with small products, SGD without momentum (L2 and
  row weights per member allowed), dense X and none of ``fit``'s other
  extras: one packed pass per epoch (``kernels.train_epoch_packed``:
  the members' first layers one product against the shared batch), a shard
  of members per core; each member equals its separate fit to rounding;
- otherwise member by member: each member's own ``Network.fit``, one per
  core at once (the kernels release the GIL), each on one BLAS thread; each
  member equals its separate fit bit for bit.

So the members of an ensemble are the separate fits a seed or
hyper-parameter search would make, made side by side.

Seeds. ``seed=`` an integer ``s``: ``numpy.random.SeedSequence(s).spawn(K + 1)``
gives K + 1 children; member k's seed is the first 32-bit word of child k
(``generate_state(1)[0]``), and the batch order comes from
``numpy.random.default_rng(child K)``. ``seed=`` a list of K integers: member
k's seed is the k-th, and the batch order comes from
``numpy.random.default_rng(that list)``. ``seed=None``: fresh entropy, the
seeds drawn kept in ``seeds``.
"""
from __future__ import annotations

import numbers
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

import numpy as np

from . import _io, _layout, _metrics, optimizers
from ._checks import check_learning_rate
from ._validation import check_seed, cpu_count
from .errors import TrainingDivergedError
from .network import Network
from .outputs import output_kind

__all__ = ["Ensemble"]

#: The most members one ensemble holds (its model file's entry count is bounded too).
MAX_MEMBERS = 4096


def member_sizes(sizes, n_models) -> list[list[int]]:
    """Each member's layer widths: ``sizes`` (one list) repeated ``n_models``
    times, or ``sizes`` itself (a list of lists); a ValueError naming the
    problem otherwise (the widths themselves are checked by each ``Network``)."""
    try:
        items = list(sizes)
    except TypeError:
        raise ValueError(f"sizes must be a list of layer widths or a list of such lists, got {sizes!r}") from None
    nested = bool(items) and all(isinstance(s, (list, tuple, np.ndarray)) for s in items)
    if nested:
        if n_models is not None and _count(n_models, "n_models") != len(items):
            raise ValueError(f"n_models={n_models} but sizes lists {len(items)} members")
        members = [list(s) for s in items]
    else:
        if any(isinstance(s, (list, tuple, np.ndarray)) for s in items):
            raise ValueError(f"sizes must be one list of layer widths or a list of such lists, not a mix: {sizes!r}")
        if n_models is None:
            raise ValueError("n_models is needed with one list of sizes (or give a list of sizes per member, "
                             "or seed= a list of one seed per member)")
        members = [items] * _count(n_models, "n_models")
    if not 1 <= len(members) <= MAX_MEMBERS:
        raise ValueError(f"an ensemble has 1 to {MAX_MEMBERS} members, got {len(members)}")
    first = members[0]
    for k, s in enumerate(members):
        if len(s) != len(first) or (s and first and (s[0] != first[0] or s[-1] != first[-1])):
            raise ValueError(f"every member needs the input width, output width and depth of member 0 "
                             f"({first!r}); member {k} has {s!r} (hidden widths may differ)")
    return members


def _count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def member_seeds(seed, n: int) -> tuple[list[int], np.random.Generator]:
    """Each member's seed and the generator of the batch order (the module's *Seeds*)."""
    if isinstance(seed, (list, tuple, np.ndarray)):
        seeds = [check_seed(s) for s in seed]
        if len(seeds) != n or any(s is None for s in seeds):
            raise ValueError(f"seed= a list needs one non-negative integer per member ({n}), got {list(seed)!r}")
        return seeds, np.random.default_rng(seeds)
    children = np.random.SeedSequence(check_seed(seed)).spawn(n + 1)
    return [int(c.generate_state(1)[0]) for c in children[:n]], np.random.default_rng(children[n])


def per_member(value, n: int, name: str) -> list:
    """``value`` as one value per member: a scalar repeated, or a sequence of ``n``."""
    if isinstance(value, (list, tuple, np.ndarray)):
        values = list(value) if isinstance(value, (list, tuple)) else np.asarray(value).reshape(-1).tolist()
        if len(values) != n:
            raise ValueError(f"{name} has {len(values)} values; the ensemble has {n} members (or give one value)")
        return values
    return [value] * n


class BaseEnsemble:
    """K networks trained together (see the module's docstring).

    Parameters
    ----------
    sizes : list of int, or list of lists of int
        One member's layer widths, input first (with ``n_models``), or each
        member's: the same input width, output width and depth; hidden widths may differ.
    n_models : int, optional
        How many members of ``sizes``; by default the number of lists in
        ``sizes`` or of seeds in ``seed``.
    activation, output, loss, dtype
        As ``Network`` takes them, shared by every member.
    seed : int, list of int, or None
        The members' seeds and the batch order's (the module's *Seeds*):
        member k starts from the weights of ``Network(sizes_k, ..., seed=seeds[k])``.
    """

    #: The network class of the members (``fastbp.Network``; ``fastbp.reference.Network`` in the reference).
    _network: type = Network

    def __init__(
        self,
        sizes: Sequence,
        n_models: int | None = None,
        activation: str = "tanh",
        output: str = "softmax",
        loss: Any = None,
        dtype: Any = "float64",
        seed: int | Sequence[int] | None = None,
    ) -> None:
        if n_models is None and isinstance(seed, (list, tuple, np.ndarray)) and not _nested(sizes):
            n_models = len(seed)
        layers = member_sizes(sizes, n_models)
        self._seeds, self._order = member_seeds(seed, len(layers))
        self._members = [self._network(s, activation, output, loss, dtype, seed=k_seed)
                         for s, k_seed in zip(layers, self._seeds)]
        self._histories: list = [None] * len(layers)
        self._set_aside: dict[int, str] = {}

    # -- description -------------------------------------------------------------
    @property
    def n_models(self) -> int:
        """How many members."""
        return len(self._members)

    @property
    def seeds(self) -> list[int]:
        """Each member's seed: ``Network(sizes_k, ..., seed=seeds[k])`` starts where member k started."""
        return list(self._seeds)

    @property
    def sizes(self) -> tuple:
        """Layer widths as ``Network.sizes`` gives them, input first: a hidden
        width the members do not share is None (``member_sizes`` has each)."""
        return tuple(w if len(set(ws)) == 1 else None for ws, w in
                     zip(zip(*self.member_sizes), self._members[0].sizes))

    @property
    def member_sizes(self) -> list[tuple[int, ...]]:
        """Each member's layer widths."""
        return [m.sizes for m in self._members]

    @property
    def activation(self) -> str:
        """The members' hidden activation."""
        return self._members[0].activation

    @property
    def output(self) -> str:
        """The members' output activation."""
        return self._members[0].output

    @property
    def _output_kind(self):
        return self._members[0]._output_kind

    @property
    def dtype(self) -> np.dtype:
        """The members' parameter dtype."""
        return self._members[0].dtype

    @property
    def networks(self) -> list:
        """Copies of the members, as ordinary networks: independent of the ensemble and of each other."""
        import copy

        return [copy.deepcopy(m) for m in self._members]

    @property
    def histories(self) -> list:
        """Each member's history of its last ``fit`` (None before any), as ``Network.fit`` returns it."""
        return list(self._histories)

    @property
    def set_aside(self) -> dict[int, str]:
        """Members left out of the predictions, by index, with why (a fit that diverged)."""
        return dict(self._set_aside)

    @property
    def classes(self):
        """The class labels of the members' output units (``Network.classes``), or None."""
        return self._members[0].classes

    @classes.setter
    def classes(self, labels) -> None:
        for m in self._members:
            m.classes = labels

    def __repr__(self) -> str:
        m = self._members[0]
        widths = set(self.member_sizes)
        shown = list(m.sizes) if len(widths) == 1 else [list(s) for s in self.member_sizes]
        return (f"{type(self).__name__}({shown!r}, n_models={self.n_models}, activation={m.activation!r}, "
                f"output={m.output!r}, loss={m._loss_repr()}, dtype={m.dtype.name!r})")

    # -- training ----------------------------------------------------------------
    def fit(
        self,
        X,
        y,
        epochs: int = 10,
        batch_size: int = 32,
        lr: float | Sequence[float] = 0.1,
        shuffle: bool = True,
        verbose: bool = False,
        *,
        optimizer: str | optimizers.Optimizer = "sgd",
        l2: float | Sequence[float] | None = None,
        sample_weight=None,
        threads: int | None = None,
        validation_data: tuple | None = None,
        validation_split: float = 0.0,
        patience: int | None = None,
        min_delta: float = 0.0,
        restore_best: bool = False,
        monitor: str | None = None,
        lr_schedule: str | Callable[[int], float] = "constant",
        callback: Callable[[int, int, dict], Any] | None = None,
        class_weight: dict | str | None = None,
    ) -> list:
        """Train every member, side by side; returns their histories.

        Member k trains as ``Network.fit`` trains it alone with the same
        arguments, ``lr=lr[k]``, an optimizer of the same kind and settings
        with ``l2=l2[k]``, and ``sample_weight[k]`` (bit for bit member by
        member, to rounding in the packed pass: the module's docstring); with
        ``shuffle`` every member visits the rows in the same order each epoch,
        drawn from the ensemble's generator (the module's *Seeds*).

        ``X, y, epochs, batch_size, shuffle, validation_data, validation_split,
        patience, min_delta, restore_best, monitor, lr_schedule, class_weight``
        are ``Network.fit``'s; early stopping stops each member on its own.

        Parameters
        ----------
        lr : float, or one per member
        optimizer : str or fastbp.optimizers.Optimizer
            Its kind and settings, copied for each member (an object's state is not used).
        l2 : float, or one per member, optional
            Each member's weight decay (by default the optimizer's ``l2``).
        sample_weight : (n_samples,) or (n_models, n_samples) array-like, optional
            Row weights shared by every member, or each member's (bootstrap
            counts, fold masks: a 0 leaves a row out of that member's training).
        threads : int, optional
            The most cores the fit uses (by default every core this process
            may use): that many members train at once, each on one BLAS thread;
            with one, the members train one after another on the default threads.
        verbose : bool
            A line as each member finishes.
        callback : callable, optional
            ``callback(member, epoch, history)`` after each member's epoch (from
            the thread training it); ``False`` stops that member.

        Returns
        -------
        list of dict
            Each member's history (``histories``).

        Raises
        ------
        TrainingDivergedError
            If every member diverged. A member that diverges is put back to its
            last finite epoch and set aside (``set_aside``), with a warning;
            the others train on and make the predictions.
        """
        K = self.n_models
        rates = [check_learning_rate(r, f"lr[{k}]" if isinstance(lr, (list, tuple, np.ndarray)) else "lr")
                 for k, r in enumerate(per_member(lr, K, "lr"))]
        decays = per_member(l2, K, "l2")
        kind = optimizers.resolve(optimizer)
        settings = {name: getattr(kind, name) for name, _, _ in kind.params}
        members_optimizers = [type(kind)(l2=kind.l2 if d is None else d, **settings) for d in decays]
        weights = self._row_weights(sample_weight)
        cores = cpu_count() if threads is None else _count(threads, "threads")
        workers = min(K, cores)
        stop = threading.Event()
        common = dict(epochs=epochs, batch_size=batch_size, shuffle=shuffle, verbose=False,
                      threads=1 if workers > 1 else threads, on_divergence="raise",
                      validation_data=validation_data, validation_split=validation_split, patience=patience,
                      min_delta=min_delta, restore_best=restore_best, monitor=monitor, lr_schedule=lr_schedule,
                      class_weight=class_weight)
        # One batch order for all: each member draws its permutations from a
        # copy of this fit's generator, spawned from the ensemble's (so the
        # next fit's order does not depend on where early stopping stopped).
        order_state = self._order.spawn(1)[0].bit_generator.state
        X, y = self._shared_inputs(X, y)
        plain = type(kind) is optimizers.SGD and kind.momentum == 0
        extras = (class_weight, validation_data, patience, callback)
        if (plain and all(e is None for e in extras) and not validation_split and lr_schedule == "constant"
                and self._packable(X, batch_size)):
            return self._fit_packed(X, y, epochs, batch_size, rates, [o.l2 for o in members_optimizers], weights,
                                    shuffle, verbose, workers, threads, order_state)

        def train(k: int):
            member = self._members[k]
            member._rng = np.random.default_rng()
            member._rng.bit_generator.state = order_state

            def each_epoch(epoch, history):
                said = None if callback is None else callback(k, epoch, history)
                return False if stop.is_set() else said

            try:
                history = member.fit(X, y, lr=rates[k], optimizer=members_optimizers[k], sample_weight=weights[k],
                                     callback=each_epoch, **common)
                return k, history, None
            except TrainingDivergedError as exc:
                return k, exc.history, str(exc)

        outcomes = []
        # A fit that fails (bad data for one member, a callback raising) leaves
        # every member as it was; Ctrl-C leaves each at its last finished epoch.
        saved = [(m._params.copy(), m._rng) for m in self._members]
        try:
            # BLAS threads set once, here, for every member: set from a worker
            # thread, OpenBLAS's count did not reach the others (measured), and
            # members on two BLAS threads each oversubscribed the cores.
            with self._members[0]._num_threads(common["threads"]), \
                    ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fastbp-ensemble") as pool:
                futures = [pool.submit(train, k) for k in range(K)]
                try:
                    for future in futures:
                        k, history, diverged = future.result()
                        outcomes.append((k, history, diverged))
                        if verbose:
                            tail = f"diverged: {diverged}" if diverged else f"loss {history['loss'][-1]:.6g}"
                            print(f"member {k + 1}/{K}: {len(history['loss'])} epochs, {tail}", flush=True)
                except BaseException:  # every member stops after its epoch under way, then it is raised
                    stop.set()
                    for future in futures:
                        future.cancel()
                    raise
        except KeyboardInterrupt:
            raise
        except BaseException:
            for m, (params, rng) in zip(self._members, saved):
                m._params[...] = params
                m._rng = rng
            raise
        self._set_aside = {}
        for k, history, diverged in outcomes:
            self._histories[k] = history
            if diverged:
                self._set_aside[k] = diverged
        self._last_pass = "members"
        return self._after_fit()

    def _after_fit(self) -> list:
        """The histories; a warning naming the members set aside, an error if all were."""
        K = self.n_models
        if len(self._set_aside) == K:
            raise TrainingDivergedError(f"every member of the ensemble diverged (member 0: {self._set_aside[0]})",
                                        None)
        if self._set_aside:
            warnings.warn(f"{len(self._set_aside)} of {K} members diverged and are set aside "
                          f"(members {sorted(self._set_aside)}); the predictions are the other members'",
                          RuntimeWarning, stacklevel=3)
        return self.histories

    def _packable(self, X, batch_size) -> bool:
        """Whether one packed pass (``kernels.train_epoch_packed``) trains the
        members: one shape with a hidden layer, dense X, and small products
        (below ``_threads.SERIAL_FIT_WORK``: a lone fit is latency-bound there;
        above, member by member measured as fast or faster)."""
        from ._sparse import is_sparse
        from ._threads import SERIAL_FIT_WORK, largest_product

        shapes = set(self.member_sizes)
        if len(shapes) != 1 or is_sparse(X):
            return False
        sizes = next(iter(shapes))
        try:
            small = largest_product(sizes, batch_size) < SERIAL_FIT_WORK
        except (TypeError, ValueError):  # a bad batch_size: the members' own checks name it
            return False
        return len(sizes) >= 3 and small

    def _fit_packed(self, X, y, epochs, batch_size, rates, decays, weights, shuffle, verbose, workers, threads,
                    order_state) -> list:
        """SGD (with L2 and row weights per member) for members of one shape:
        each epoch one packed pass per shard of members (one shard per core, in
        threads), the members' first layers one product; a member that diverges
        is put back to its epoch's start and set aside (its rate 0 from then on)."""
        from ._tiers import reference_seconds
        from ._validation import check_fit
        from .training.loop import History

        first_net = self._members[0]
        settings = check_fit(epochs, batch_size, rates[0], "raise", threads, None, False)
        X, Y = first_net._XY(X, y)
        n, sizes, dtype = X.shape[0], first_net._size_codes, first_net.dtype
        from .training.extras import row_weights

        # As Network.fit checks and scales them (each member's own, or one for all: converted once).
        converted = {}
        rows_weights = [None if w is None else converted.setdefault(id(w), row_weights(
            w, None, Y, first_net._output_kind, dtype)) for w in weights]
        batch = min(settings.batch_size, n)
        h1, n0 = int(sizes[1]), int(sizes[0])
        shards = [[int(k) for k in s] for s in np.array_split(np.arange(self.n_models), workers) if len(s)]
        stacks = []
        for members in shards:
            rows = np.stack([self._members[k]._params for k in members])
            first = np.concatenate([rows[:, : h1 * n0].reshape(-1), rows[:, h1 * n0 : h1 * n0 + h1].reshape(-1)])
            work = np.zeros(_layout.packed_workspace_size(sizes, batch, len(members)), dtype)
            if all(rows_weights[k] is None for k in members):
                w = np.zeros((0, n), dtype)
            else:
                w = np.stack([np.ones(n, dtype) if rows_weights[k] is None else rows_weights[k] for k in members])
            stacks.append((members, first, rows, work, np.zeros((len(members), 2)),
                           np.array([rates[k] for k in members]), np.array([decays[k] for k in members]), w))
        totals = [float(n) if w is None else float(np.sum(w, dtype=np.float64)) for w in rows_weights]
        order = np.random.default_rng()
        order.bit_generator.state = order_state
        histories = [History(loss=[]) for _ in range(self.n_models)]
        self._set_aside = {}

        def estimate() -> float:
            return self.n_models * reference_seconds(list(sizes), n, epochs=settings.epochs, batch_size=batch,
                                                     dtype=dtype.name)

        def write_back():
            for members, first, rows, *_ in stacks:
                W1 = first[: len(members) * h1 * n0].reshape(len(members), h1 * n0)
                b1 = first[len(members) * h1 * n0 :].reshape(len(members), h1)
                for i, k in enumerate(members):
                    params = self._members[k]._params
                    params[...] = rows[i]
                    params[: h1 * n0], params[h1 * n0 : h1 * n0 + h1] = W1[i], b1[i]
                    self._members[k]._rng = np.random.default_rng()
                    self._members[k]._rng.bit_generator.state = order.bit_generator.state

        with first_net._call(("train_epoch_packed",), estimate, verbose=verbose) as choice, \
                first_net._num_threads(1 if workers > 1 else settings.threads):
            backend = first_net._kernels()
            acts, loss = first_net._act_codes, first_net._loss_code
            try:
                with ThreadPoolExecutor(max_workers=len(stacks), thread_name_prefix="fastbp-ensemble") as pool:
                    for epoch in range(settings.epochs):
                        perm = (order.permutation(n) if shuffle else np.arange(n)).astype(np.int64, copy=False)
                        saved = [(first.copy(), rows.copy()) for _, first, rows, *_ in stacks]
                        list(pool.map(lambda st: backend.train_epoch_packed(X, Y, perm, batch, st[1], st[2], sizes,
                                                                            acts, loss, st[5], st[6], st[7], st[3],
                                                                            st[4]),
                                      stacks))
                        for (members, first, rows, _, losses, lrs, _, _), (first0, rows0) in zip(stacks, saved):
                            self._end_packed_epoch(members, first, rows, losses, lrs, first0, rows0, n, totals,
                                                   h1, n0, epoch, histories)
                        if len(self._set_aside) == self.n_models:
                            break
            finally:
                write_back()
        for k, history in enumerate(histories):
            history.tier = choice.tier
            self._histories[k] = history
            if verbose:
                tail = f"diverged: {self._set_aside[k]}" if k in self._set_aside else f"loss {history['loss'][-1]:.6g}"
                print(f"member {k + 1}/{self.n_models}: {len(history['loss'])} epochs, {tail}", flush=True)
        self._last_pass = "packed"
        return self._after_fit()

    def _end_packed_epoch(self, members, first, rows, losses, lrs, first0, rows0, n, totals, h1, n0, epoch,
                          histories):
        """Each member's loss (its weighted mean, over ``totals[k]``, the
        rows' weight sum, plus its mean L2 penalty, as ``Network.fit`` reports
        it) into its history, or, where it diverged, its parameters back to
        the epoch's start and the member set aside."""
        K = len(members)
        W1 = first[: K * h1 * n0].reshape(K, h1 * n0)
        b1 = first[K * h1 * n0 :].reshape(K, h1)
        for i, k in enumerate(members):
            mean = (losses[i, 0] / totals[k] if totals[k] > 0 else 0.0) + losses[i, 1] / n
            if k not in self._set_aside and np.isfinite(mean) and np.isfinite(rows[i, h1 * n0 + h1 :]).all() \
                    and np.isfinite(W1[i]).all() and np.isfinite(b1[i]).all():
                histories[k]["loss"].append(float(mean))
                continue
            # Diverged now, or set aside before (a rate of 0 still multiplies its gradients, which may overflow).
            rows[i] = rows0[i]
            W1[i] = first0[: K * h1 * n0].reshape(K, h1 * n0)[i]
            b1[i] = first0[K * h1 * n0 :].reshape(K, h1)[i]
            if k not in self._set_aside:
                self._set_aside[k] = (f"training diverged in epoch {epoch + 1} (lr={lrs[i]}): the loss or a "
                                      "parameter became non-finite; the network was put back to its parameters "
                                      "before that epoch")
            lrs[i] = 0.0

    def _row_weights(self, sample_weight) -> list:
        if sample_weight is None:
            return [None] * self.n_models
        try:
            w = np.asarray(sample_weight, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"sample_weight must be numbers, got {type(sample_weight).__name__}") from None
        if w.ndim == 2:
            if w.shape[0] != self.n_models:
                raise ValueError(f"sample_weight of shape {w.shape}: one row per member expected "
                                 f"({self.n_models}, n_samples), or one weight per sample (n_samples,)")
            return list(w)
        return [w] * self.n_models

    def _shared_inputs(self, X, y):
        """``X`` converted once to the members' dtype (each member's own check then copies nothing)."""
        from ._sparse import is_sparse

        if is_sparse(X):
            return X, y
        try:
            arr = np.asarray(X)
        except (TypeError, ValueError):
            return X, y  # each member's check names the problem
        if arr.dtype.kind in "biuf":
            arr = np.ascontiguousarray(arr, dtype=self._members[0].dtype)
        return arr, y

    # -- predictions ---------------------------------------------------------------
    def _active(self) -> list:
        return [m for k, m in enumerate(self._members) if k not in self._set_aside]

    def forward(self, X) -> np.ndarray:
        """The members' mean output (set-aside members left out), ``(n_samples, n_out)``."""
        active = self._active()
        total = None
        for m in active:
            A = m.forward(X)
            total = A.astype(np.float64) if total is None else total + A
        return (total / len(active)).astype(self._members[0].dtype)

    def predict(self, X) -> np.ndarray:
        """What ``Network.predict`` gives, from the members' mean output (mean probability for classifiers)."""
        kind = output_kind(self._members[0].output)
        return kind.predict(self.forward(X), self.classes)

    def predict_proba(self, X) -> np.ndarray:
        """The members' mean probability of each class (``Network.predict_proba``'s columns)."""
        kind = output_kind(self._members[0].output)
        kind.require_classifier("predict_proba")
        return kind.proba(self.forward(X))

    def score(self, X, y, sample_weight=None) -> float:
        """``Network.score`` of the ensemble's predictions: accuracy, or R² for an identity output."""
        first = self._members[0]
        X, Y = first._XY(X, y, "y")
        kind = output_kind(first.output)
        weights = None
        if sample_weight is not None:
            from .training.extras import row_weights

            weights = row_weights(sample_weight, None, Y, kind, np.float64)
        A = self.forward(X)
        if kind.classifier:
            return _metrics.accuracy(kind.right(A, Y), weights)
        return _metrics.r2(Y, A, weights)

    # -- files ---------------------------------------------------------------------
    def save(self, path: str | os.PathLike, metadata: dict | None = None) -> None:
        """Write the whole ensemble to ``path``: fastbp's model format (``.npz``,
        JSON metadata, no pickle), every member's parameters, seeds and the
        members set aside; atomically, as ``Network.save`` (``metadata``: JSON
        values of the caller's to keep, as there)."""
        meta = self._members[0]._file_meta(metadata)
        meta.update(members=[list(m.sizes) for m in self._members], seeds=self.seeds,
                    set_aside={str(k): why for k, why in self._set_aside.items()})
        _io.write_members(path, meta, [(m.weights, m.biases) for m in self._members])

    @classmethod
    def load(cls, path: str | os.PathLike):
        """Read an ensemble written by ``save`` (a ValueError naming the file for anything else)."""
        meta, weights, biases = _io.read_model(path)
        where = f"{os.fspath(path)!r}"
        if "members" not in meta:
            raise ValueError(f"{where} holds one network, not an ensemble: load it with Network.load")
        try:
            from .losses import resolve

            seeds = meta.get("seeds")
            if not (isinstance(seeds, list) and len(seeds) == len(meta["members"])
                    and all(type(s) is int and s >= 0 for s in seeds)):
                raise ValueError(f"seeds must be one non-negative integer per member, got {seeds!r}")
            set_aside = meta.get("set_aside", {})
            if not (isinstance(set_aside, dict) and all(isinstance(v, str) and k.isdigit() and
                                                        int(k) < len(seeds) for k, v in set_aside.items())):
                raise ValueError(f"set_aside must map member indices to reasons, got {set_aside!r}")
            loss = resolve(meta["loss"], meta.get("loss_params"))
            ensemble = cls.__new__(cls)
            member_sizes(meta["members"], None)
            ensemble._seeds = seeds
            ensemble._order = np.random.default_rng(seeds)
            from .network import _NO_DRAW

            ensemble._members = [cls._network(s, meta["activation"], meta["output"], loss, meta["dtype"],
                                              seed=_NO_DRAW) for s in meta["members"]]
            ensemble._histories = [None] * len(seeds)
            ensemble._set_aside = {int(k): v for k, v in set_aside.items()}
            if len(ensemble._set_aside) == len(seeds):
                raise ValueError("every member is set aside")
            ensemble.classes = meta.get("classes")
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{where} is not a valid fastbp ensemble file: {exc}") from None
        for m, Ws, bs in zip(ensemble._members, weights, biases):
            for dst, src in zip(m._weights + m._biases, Ws + bs):
                dst[...] = src
        return ensemble


def _nested(sizes) -> bool:
    try:
        return any(isinstance(s, (list, tuple, np.ndarray)) for s in sizes)
    except TypeError:
        return False


class Ensemble(BaseEnsemble):
    __doc__ = BaseEnsemble.__doc__
