"""``fastbp.Network``, and the interface it shares with :class:`fastbp.reference.Network`.

:class:`BaseNetwork` is bookkeeping and validation; the arithmetic is done by
the backend that ``_kernels()`` returns: the Numba kernels for
:class:`Network`, their NumPy twins (same names and signatures) for the
reference. Importing this module imports neither: the kernels are loaded on
a network's first computation, so the reference never reaches compiled code.
"""
from __future__ import annotations

import contextlib
import functools
import math
import os
import threading
from typing import Any, Callable, Sequence

import numpy as np

from . import _interop, _io, _layout, _tiers, optimizers, training
from .activations import ACTIVATIONS
from .outputs import output_kind
from .losses import Loss
from ._checks import check_in_dtype, check_learning_rate
from ._validation import (
    as_features,
    as_targets,
    check_config,
    check_dtype,
    check_seed,
)
from ._sparse import is_sparse, kernel_input, stored
from .errors import TrainingDivergedError

__all__ = ["Network", "BaseNetwork", "TrainingDivergedError"]


def _serialised(method):
    """Run ``method`` holding the network's lock: one network, one operation at a time.

    Two threads training the same network at once would interleave their
    steps on the same parameters; with the lock, the second waits for the first.
    """
    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)

    return locked


#: ``seed`` for a network whose parameters are about to be overwritten (``load``): none drawn.
_NO_DRAW = object()


def _init_bound(n_in: int, n_out: int, activation: str) -> float:
    # Glorot-uniform, with scikit-learn's factor 2 instead of 6 for sigmoid.
    return math.sqrt(ACTIVATIONS[activation].init_scale / (n_in + n_out))


class BaseNetwork:
    """A dense feed-forward network trained by backpropagation.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, input first: ``[784, 256, 128, 10]``.
    activation : {'tanh', 'sigmoid', 'relu', 'leaky_relu', 'identity', 'gelu', 'silu'}
        Activation of every hidden layer. The default, tanh, scored best or
        level on scikit-learn's bundled data sets, standardised, with fit's
        defaults (``tools/choose_defaults.py``; the docs' *Defaults*); the
        seed's sigmoid is ``activation='sigmoid'``.
    output : {'softmax', 'sigmoid', 'identity'}
        Activation of the output layer.
    loss : {'cross_entropy', 'binary_cross_entropy', 'mse', 'huber'} or fastbp.losses.Loss, optional
        Cost function. Defaults to the natural pair of ``output``:
        cross_entropy for softmax, binary_cross_entropy for sigmoid, mse for
        identity. ``'huber'`` (identity output) has ``delta=1.0``; pass
        ``fastbp.losses.Huber(delta=...)`` for another.
    dtype : {'float64', 'float32'}
        Dtype of every parameter and of the arithmetic.
    seed : int or None
        Seeds a ``numpy.random.Generator`` that draws the initial weights and,
        in ``fit``, each epoch's batch order. The same seed gives the same
        draws in ``fastbp.Network`` and ``fastbp.reference.Network``.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str = "tanh",
        output: str = "softmax",
        loss: str | Loss | None = None,
        dtype: Any = "float64",
        seed: int | None = None,
    ) -> None:
        sizes, loss = check_config(sizes, activation, output, loss)
        self._lock = threading.RLock()
        draw = seed is not _NO_DRAW
        seed = None if not draw else seed
        self._sizes = tuple(sizes)
        self._activation = activation
        self._output = output
        self._output_kind = output_kind(output)
        self._loss = loss.name
        self._loss_spec = loss
        self._dtype = check_dtype(dtype)
        check_in_dtype(loss.values(), self._dtype, f"loss {loss!r}: ")
        self._rng = np.random.default_rng(check_seed(seed))
        self._size_codes = np.array(sizes, dtype=np.int64)
        L = len(sizes) - 1
        self._act_codes = np.array([ACTIVATIONS[activation].code] * (L - 1) + [self._output_kind.activation.code],
                                   dtype=np.int64)
        self._loss_code = loss.pack()  # the kernels' loss array: code, then parameters
        self._classes = None
        self._params = np.empty(_layout.n_params(sizes), dtype=self._dtype)
        self._weights, self._biases = _layout.param_views(self._params, sizes)
        if not draw:  # ``load``: the file's parameters replace them at once
            return
        for W, b in zip(self._weights, self._biases):
            n_out, n_in = W.shape
            bound = _init_bound(n_in, n_out, activation)
            W[...] = self._rng.uniform(-bound, bound, size=W.shape)
            b[...] = self._rng.uniform(-bound, bound, size=b.shape)

    def __getstate__(self):
        """The network's own state, for ``copy.deepcopy`` and pickle at any
        moment, a ``fit`` callback's included: not the lock, not the backend
        of a call under way (a module), and not the weight and bias views,
        which ``__setstate__`` makes again over the copied parameter buffer
        (copied apart, they would no longer be the parameters training moves)."""
        state = self.__dict__.copy()
        for name in ("_lock", "_backend", "_choice", "_weights", "_biases"):
            state.pop(name, None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.RLock()
        self._weights, self._biases = _layout.param_views(self._params, self._sizes)

    @staticmethod
    def _kernels():  # pragma: no cover - overridden
        raise NotImplementedError

    _classes = None  # (networks pickled before classes existed)

    #: The tier of this network's last call: ``'compiled'`` or ``'reference'``.
    last_tier: str | None = None

    @contextlib.contextmanager
    def _call(self, kernels: Sequence[str], reference_estimate: Callable[[], float], distributed: bool = False,
              verbose: bool = False, sparse: bool = False, also: Sequence = ()):
        """One public call's backend: here always this class's own (the reference
        has one tier); ``fastbp.Network`` chooses per call (``fastbp._tiers``).
        Yields a ``_tiers.Choice``."""
        self.last_tier = "reference"
        yield _tiers.Choice("reference", "reference", self._kernels())

    def _forward_seconds(self, X) -> float:
        """A forward pass over ``X``'s expected seconds on the reference (``fastbp._tiers``)."""
        return _tiers.reference_seconds(self._sizes, X.shape[0], training=False, stored=stored(X))

    def _step_seconds(self, X) -> float:
        """One training step on the batch ``X``'s expected seconds on the reference."""
        return _tiers.reference_seconds(self._sizes, X.shape[0], dtype=self._dtype.name, stored=stored(X))

    @staticmethod
    def _num_threads(threads: int | None, largest_product: int | None = None):
        """A context in which the backend uses ``threads`` (checked already),
        or one thread for a fit whose largest product is small."""
        return contextlib.nullcontext()

    # -- read-only description ------------------------------------------------
    @property
    def sizes(self) -> tuple[int, ...]:
        """Layer widths, input first."""
        return self._sizes

    @property
    def activation(self) -> str:
        """Activation of every hidden layer, e.g. ``'tanh'``."""
        return self._activation

    @property
    def output(self) -> str:
        """Activation of the output layer: ``'softmax'``, ``'sigmoid'`` or ``'identity'``."""
        return self._output

    @property
    def loss_name(self) -> str:
        """Name of the cost function (``loss`` is the method that evaluates it)."""
        return self._loss

    @property
    def loss_function(self) -> Loss:
        """The cost function's record and parameters, e.g. ``Huber(delta=1.0)``."""
        return self._loss_spec

    @property
    def classes(self) -> np.ndarray | None:
        """Labels of the output's classes, or None (``predict`` then gives unit indices).

        One label per unit for a softmax output (or sigmoid units), two
        (negative, positive) for one sigmoid unit. Set by ``from_sklearn``,
        kept by ``save``/``load``, assignable: ``net.classes = ["cat", "dog"]``.
        When set, ``predict`` returns labels, and ``fit``, ``loss``,
        ``gradients``, ``step`` and ``score`` take 1-D targets as labels
        (``class_weight`` keys too).
        """
        return self._classes

    @classes.setter
    def classes(self, labels) -> None:
        from ._labels import check_classes

        self._classes = check_classes(labels, self._output_kind, self._sizes[-1])

    @property
    def dtype(self) -> np.dtype:
        """Dtype of every parameter and of the arithmetic (``float32`` or ``float64``)."""
        return self._dtype

    @property
    def weights(self) -> list[np.ndarray]:
        """The live weight arrays, one ``(n_out, n_in)`` array per layer, input layer first.

        The list is new on each access; the arrays in it are the network's own
        memory: writing into them (``net.weights[0][:] = W``) changes the network.
        """
        return list(self._weights)

    @property
    def biases(self) -> list[np.ndarray]:
        """The live bias arrays, one ``(n_out,)`` array per layer, input layer first.

        As with ``weights``, writing into the arrays changes the network.
        """
        return list(self._biases)

    def __repr__(self) -> str:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}({list(self._sizes)}, activation={self._activation!r}, "
            f"output={self._output!r}, loss={self._loss_repr()}, dtype={self._dtype.name!r})"
        )

    def _loss_repr(self) -> str:
        spec = self._loss_spec
        return f"fastbp.losses.{spec!r}" if spec.params else repr(self._loss)

    # -- conversion at the boundary ------------------------------------------
    def _X(self, X) -> np.ndarray:
        return as_features(X, self._sizes[0], self._dtype)

    def _XY(self, X, Y, name: str = "Y") -> tuple[np.ndarray, np.ndarray]:
        X = self._X(X)
        if self._classes is not None and np.ndim(Y) == 1:
            from ._labels import to_indices

            Y = to_indices(Y, self._classes, name)
        Y = as_targets(Y, X.shape[0], self._sizes[-1], self._output_kind, self._loss, self._dtype, name)
        return X, Y

    # -- passes ----------------------------------------------------------------
    def _kernel_params(self, X) -> np.ndarray:
        """The parameters as the kernels read them for ``X``: the buffer itself
        for dense rows; for sparse rows a copy whose first block is stored
        input-major (``_layout.input_major``; ``self`` is never rearranged
        outside ``fit``, where another thread may be reading it)."""
        if not is_sparse(X):
            return self._params
        params = self._params.copy()
        _layout.set_input_major([params], self._sizes)
        return params

    def _forward_rows(self, X: np.ndarray) -> np.ndarray:
        B = X.shape[0]
        out = np.empty((B, self._sizes[-1]), dtype=self._dtype)
        work = np.empty(_layout.forward_size(self._sizes, B, self._act_codes), dtype=self._dtype)
        self._kernels().forward(kernel_input(X), self._kernel_params(X), self._size_codes, self._act_codes, work,
                                out)
        return out

    @_serialised
    def forward(self, X) -> np.ndarray:
        """The output layer's activations.

        Parameters
        ----------
        X : (n_samples, n_features) array-like, or a SciPy sparse matrix (CSR or CSC)
            Inputs; converted once to the network's dtype.

        Returns
        -------
        ndarray, (n_samples, n_out)
            Probabilities for softmax (rows sum to 1) and sigmoid outputs, values for identity.
        """
        X = self._X(X)
        with self._call(("forward",), lambda: self._forward_seconds(X), sparse=is_sparse(X)):
            return self._forward_rows(X)

    @_serialised
    def loss(self, X, Y) -> float:
        """The cost on this batch: the mean over samples of the per-sample loss.

        Parameters
        ----------
        X : (n_samples, n_features) array-like, or a SciPy sparse matrix (CSR or CSC)
        Y : array-like
            Targets ``(n_samples, n_out)``, or ``(n_samples,)`` class labels for a softmax output
            (unit indices, or ``classes``).

        Returns
        -------
        float
            The cost, without any L2 penalty.
        """
        X, Y = self._XY(X, Y)
        with self._call(("forward", "loss_value"), lambda: self._forward_seconds(X), sparse=is_sparse(X)):
            return float(self._kernels().loss_value(self._forward_rows(X), Y, self._loss_code))

    @_serialised
    def gradients(self, X, Y) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Gradients of the cost (the mean over the batch) with respect to every parameter; no update.

        Parameters
        ----------
        X : (n_samples, n_features) array-like, or a SciPy sparse matrix (CSR or CSC)
        Y : array-like
            Targets ``(n_samples, n_out)``, or ``(n_samples,)`` class labels for a softmax output
            (unit indices, or ``classes``).

        Returns
        -------
        dWs : list of ndarray
            One ``(n_out, n_in)`` array per layer, shaped as ``weights``.
        dbs : list of ndarray
            One ``(n_out,)`` array per layer, shaped as ``biases``.
            Both are new arrays of the network's dtype (views of one buffer).
        """
        X, Y = self._XY(X, Y)
        B = X.shape[0]
        grad = np.empty_like(self._params)
        with self._call(("batch_gradient",), lambda: self._step_seconds(X),
                        sparse=is_sparse(X)):
            self._kernels().batch_gradient(
                kernel_input(X), Y, np.arange(B, dtype=np.int64), self._kernel_params(X), self._size_codes,
                self._act_codes, self._loss_code, grad, self._workspace(B, is_sparse(X)), self._params[:0].copy(),
            )
        grad /= self._dtype.type(B)
        if is_sparse(X):  # the first block came back input-major
            _layout.set_input_major([grad], self._sizes, on=False)
        return _layout.param_views(grad, self._sizes)

    def _workspace(self, batch_size: int, sparse: bool = False) -> np.ndarray:
        return np.empty(_layout.workspace_size(self._sizes, batch_size, self._act_codes, sparse), dtype=self._dtype)

    @_serialised
    def step(self, X, Y, lr: float = 0.1) -> float:
        """One in-place plain SGD step on this batch: ``W -= lr * dW`` for every parameter.

        Parameters
        ----------
        X : (n_samples, n_features) array-like, or a SciPy sparse matrix (CSR or CSC)
            The whole batch: one step, over all of its rows.
        Y : array-like
            Targets ``(n_samples, n_out)``, or ``(n_samples,)`` class labels for a softmax output
            (unit indices, or ``classes``).
        lr : float
            Learning rate, positive and finite.

        Returns
        -------
        float
            The cost on this batch before the step.

        Raises
        ------
        TrainingDivergedError
            If the step makes the loss or a parameter non-finite; the
            parameters are left as they were before it.
        """
        X, Y = self._XY(X, Y)
        lr = check_learning_rate(lr)
        B = X.shape[0]
        before = self._params.copy()
        with self._call(("train_epoch",), lambda: self._step_seconds(X),
                        sparse=is_sparse(X)):
            loss = training.runners.LocalRunner(self, X, Y, B, optimizers.SGD()).run(np.arange(B, dtype=np.int64), lr)
        if not (math.isfinite(loss) and np.isfinite(self._params).all()):
            self._params[...] = before
            raise TrainingDivergedError(
                f"the SGD step with lr={lr} gave a non-finite loss or parameter; "
                "the parameters were left as before it (try a smaller lr)"
            )
        return loss

    @_serialised
    def fit(
        self,
        X,
        y,
        epochs: int = 10,
        batch_size: int = 32,
        lr: float = 0.1,
        shuffle: bool = True,
        verbose: bool = False,
        *,
        optimizer: str | optimizers.Optimizer = "sgd",
        threads: int | None = None,
        on_divergence: str = "raise",
        comm: Any = None,
        average_every: int | None = None,
        validation_data: tuple | None = None,
        validation_split: float = 0.0,
        patience: int | None = None,
        min_delta: float = 0.0,
        restore_best: bool = False,
        monitor: str | None = None,
        lr_schedule: str | Callable[[int], float] = "constant",
        callback: Callable[[int, dict], Any] | None = None,
        sample_weight=None,
        class_weight: dict | str | None = None,
    ) -> training.History:
        """Train by minibatch gradient descent (``fastbp.training``).

        Parameters
        ----------
        X : (n_samples, n_features) array-like, or a SciPy sparse matrix (CSR or CSC)
        y : array-like
            Targets ``(n_samples, n_out)``, or ``(n_samples,)``: class labels
            for a softmax output or one sigmoid unit (unit indices, or
            ``classes``), values for a one-output identity network.
        epochs : int
            Passes over the training rows.
        batch_size : int
            Rows per step; the last partial batch of each epoch is trained on, not dropped.
        lr : float
            Learning rate.
        shuffle : bool
            Visit the rows in a new random order each epoch (drawn from the
            network's seeded generator).
        verbose : bool
            Report each epoch: a progress bar redrawn on a terminal, else a
            line per epoch (at most about one a second), with the loss and
            the validation values.
        optimizer : str or fastbp.optimizers.Optimizer
            The update rule: a name of ``fastbp.optimizers.NAMES`` ('sgd',
            'momentum', 'nesterov', 'adam', 'rmsprop', 'adamw'; each with its
            defaults, momentum 0.9 for 'momentum' and 'nesterov') starts from
            fresh state; an object (``fastbp.optimizers.SGD(...)``, ``Adam(...)``,
            ``RMSprop(...)``, ``AdamW(...)``) keeps its state across ``fit``
            calls and can add L2 weight decay (``l2=``). Adam, RMSprop and
            AdamW want a smaller ``lr``, e.g. 1e-3.
        threads : int, optional
            Threads for this fit's BLAS (see ``fastbp.set_num_threads``); by
            default the current setting.
        on_divergence : {'raise', 'warn'}
            When an epoch makes the loss or a parameter non-finite, the network
            is put back to its parameters before that epoch, then either a
            ``TrainingDivergedError`` is raised or a ``RuntimeWarning`` is
            given and training stops.
        comm : mpi4py communicator, optional
            Data-parallel training over MPI (needs ``pip install 'fastbp[mpi]'``):
            each rank passes its own shard as ``X, y``; ``batch_size`` is the
            global batch, shared out over the ranks at each step; one allreduce
            per step sums the gradients, so every rank applies the mean over
            the union of the step's rows and all ranks keep rank 0's (identical)
            weights. Shards may differ in length. A bad argument or shard on
            any rank makes every rank raise the same ``ValueError``. The
            history holds the global mean loss. ``threads`` defaults to the
            machine's cores shared out over the ranks on it. See ``fastbp.training.distributed``.
        average_every : int, optional
            With ``comm``: local SGD instead, each rank stepping on its own
            rows and the parameters averaged over the ranks every
            ``average_every`` steps and at the end of each epoch (off by default).
        validation_data : (X_val, y_val), optional
            Scored after every epoch: ``"val_loss"`` (the loss, without L2)
            and, for softmax and sigmoid outputs, ``"val_accuracy"`` join the
            history. With ``comm``, each rank passes its own validation rows
            (or ``validation_split`` holds out the end of its shard) and the
            history holds the values over all of them, so every rank stops
            early at the same epoch. Every rank must use the same extras.
        validation_split : float in [0, 1)
            Hold out the last ``len(X) - int(len(X) * (1 - validation_split))``
            rows (before any shuffling, as Keras does) as ``validation_data``;
            ignored when ``validation_data`` is given.
        patience : int, optional
            Stop after this many epochs in a row without the monitored value
            (``val_loss`` with validation data, else ``loss``) falling below
            its best by more than ``min_delta``. None: never stop early.
        min_delta : float
            The smallest fall that counts as an improvement.
        restore_best : bool
            At the end, put back the parameters of the epoch with the best
            monitored value (the optimizer's state stays as it ended).
        monitor : {'loss', 'val_loss', 'val_accuracy'}, optional
            The history value ``patience`` and ``restore_best`` watch: by
            default ``val_loss`` with validation data, else ``loss``.
            ``val_accuracy`` (softmax or sigmoid outputs) is maximised.
        lr_schedule : {'constant', 'step', 'cosine', 'invscaling'} or callable
            The rate of each epoch of this call (``epoch`` from 0): ``lr``;
            ``lr * 0.5 ** (epoch // 10)``; ``lr * (1 + cos(pi * epoch / epochs)) / 2``;
            ``lr / (epoch + 1) ** 0.5``; or ``lr_schedule(epoch)``, a positive number.
            With a schedule other than ``'constant'`` the history gets ``"lr"``.
        callback : callable, optional
            ``callback(epoch, history)`` after each epoch (``epoch`` from 0);
            returning a false value (``False``, ``numpy.False_``, 0) stops training;
            returning ``None`` (no answer) goes on.
        sample_weight : (n_samples,) array-like, optional
            Weights >= 0 per row: each step takes the weighted mean of its
            rows' gradients (a batch of weight 0 changes nothing) and the
            loss in the history is the weighted mean.
        class_weight : dict or 'balanced', optional
            For a softmax output or one sigmoid unit: ``{label: weight}``, or
            ``'balanced'`` (``n_samples / (n_classes * count)``, scikit-learn's
            rule); multiplies ``sample_weight``.

        Returns
        -------
        History
            A dict: ``{"loss": [mean training loss of each epoch]}``, with the L2
            penalty ``0.5 * l2 * sum(W**2)`` included when the optimizer has
            one; ``"val_loss"``, ``"val_accuracy"`` and ``"lr"`` as above.
            Its attribute ``tier`` says what ran the fit: ``'compiled'`` (the
            kernels) or ``'reference'`` (the NumPy reference: ``fastbp.Network``
            runs a fit there while its kernels are not compiled yet and the
            reference is expected to finish first; see ``fastbp.set_tier``).
        """
        return training.fit(self, X, y, training.FitOptions(
            epochs=epochs, batch_size=batch_size, lr=lr, shuffle=shuffle, verbose=verbose,
            optimizer=optimizer, threads=threads, on_divergence=on_divergence, comm=comm, average_every=average_every,
            validation_data=validation_data, validation_split=validation_split, patience=patience,
            min_delta=min_delta, restore_best=restore_best, monitor=monitor, lr_schedule=lr_schedule,
            callback=callback, sample_weight=sample_weight, class_weight=class_weight,
        ))

    def predict(self, X) -> np.ndarray:
        """Predictions: class labels, or values for an identity output.

        Parameters
        ----------
        X : (n_samples, n_features) array-like, or a SciPy sparse matrix (CSR or CSC)

        Returns
        -------
        ndarray
            softmax: ``(n_samples,)``, the argmax's label (``classes``) or unit
            index ``0..n_out-1``; one sigmoid unit: ``(n_samples,)``, the label
            of ``p > 0.5`` or 0/1; several sigmoid units: ``(n_samples, n_out)``
            of 0/1; identity: the ``(n_samples, n_out)`` outputs.
        """
        return self._output_kind.predict(self.forward(X), self._classes)

    def predict_proba(self, X) -> np.ndarray:
        """Probability of each class, as scikit-learn's classifiers give it.

        Parameters
        ----------
        X : (n_samples, n_features) array-like, or a SciPy sparse matrix (CSR or CSC)

        Returns
        -------
        ndarray
            softmax: ``(n_samples, n_out)``, rows summing to 1; one sigmoid
            unit: ``(n_samples, 2)``, ``1 - p`` and ``p``; several sigmoid
            units: ``(n_samples, n_out)``, each unit's probability. Columns
            in the order of ``classes``.

        Raises
        ------
        ValueError
            For an identity output, which gives values, not probabilities.
        """
        self._output_kind.require_classifier("predict_proba")  # before the forward pass
        return self._output_kind.proba(self.forward(X))

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy for softmax and sigmoid outputs, R² for identity, as scikit-learn defines them.

        Parameters
        ----------
        X : (n_samples, n_features) array-like, or a SciPy sparse matrix (CSR or CSC)
        y : labels (``classes``, or unit indices), one-hot or 0/1 targets, or values
            for an identity output, as ``fit`` takes them
        sample_weight : (n_samples,) array-like, optional
            Weights of the samples in the mean (accuracy) or the sums (R²).

        Returns
        -------
        float
            softmax: the share of samples whose argmax is the target's; sigmoid:
            the share whose every unit is on the right side of 0.5 (for several
            units, scikit-learn's subset accuracy); identity: R² averaged over
            the outputs (``sklearn.metrics.r2_score``, a constant target
            scoring 1 if predicted exactly, else 0).
        """
        from . import _metrics

        X, Y = self._XY(X, y, "y")
        weights = None
        if sample_weight is not None:
            from .training.extras import row_weights

            weights = row_weights(sample_weight, None, Y, self._output_kind, np.float64)
        A = self.forward(X)
        if self._output_kind.classifier:
            return _metrics.accuracy(self._output_kind.right(A, Y), weights)
        return _metrics.r2(Y, A, weights)

    # -- files -----------------------------------------------------------------
    @_serialised
    def save(self, path: str | os.PathLike, metadata: dict | None = None) -> None:
        """Write the model to ``path`` (``.npz`` with JSON metadata, no pickle), atomically.

        Parameters
        ----------
        path : str or os.PathLike
            The file; replaced in one step, so a failure leaves a previous file intact.
        metadata : dict, optional
            JSON values of the caller's to keep in the file (the command line
            keeps class labels and feature scaling there); ``load`` ignores them.

        Raises
        ------
        ValueError
            If ``path`` is not a regular file, belongs to another user, or the
            parameters hold NaN or infinity.
        OSError
            If the file cannot be written.
        """
        _io.write_model(path, self._file_meta(metadata), self._weights, self._biases)

    def _file_meta(self, metadata: dict | None = None) -> dict:
        """The model file's metadata for this network (an ensemble's file adds its members' to it)."""
        from ._version import __version__

        _io.check_metadata(metadata)
        meta = {
            "format": _io.FORMAT,
            "format_version": _io.FORMAT_VERSION,
            "fastbp_version": __version__,
            "sizes": list(self._sizes),
            "activation": self._activation,
            "output": self._output,
            "loss": self._loss,
            "dtype": self._dtype.name,
        }
        if self._loss_spec.params:
            meta["loss_params"] = self._loss_spec.values()
        if self._classes is not None:
            meta["classes"] = self._classes.tolist()
        if metadata:
            meta["extra"] = metadata
        return meta

    @classmethod
    def from_sklearn(cls, estimator):
        """A network with the layers and parameters of a fitted scikit-learn MLP.

        Parameters
        ----------
        estimator : sklearn.neural_network.MLPClassifier or MLPRegressor
            Fitted (``fastbp.sklearn``'s estimators too). Its ``coefs_``
            ``(n_in, n_out)`` become ``weights`` ``(n_out, n_in)``.

        Returns
        -------
        Network
            Of the estimator's sizes, activation (``'logistic'`` is
            ``'sigmoid'``), output and dtype: ``forward`` gives its
            ``predict_proba`` (for a binary classifier, the positive class's
            column) or its ``predict`` (regressor). ``predict`` gives class
            indices; ``estimator.classes_`` maps them to labels.

        Raises
        ------
        ValueError
            If the estimator is not a fitted scikit-learn MLP.
        """
        return _interop.from_sklearn(cls, estimator)

    def to_onnx(self, path: str | os.PathLike | None = None):
        """The forward pass as an ONNX model (needs ``pip install "fastbp[onnx]"``).

        Parameters
        ----------
        path : str or os.PathLike, optional
            Where to write the model (``.onnx``).

        Returns
        -------
        onnx.ModelProto
            Input ``X`` ``(N, n_in)`` and output ``Y`` ``(N, n_out)``, of the
            network's dtype (opset 17): the output activations, as ``forward``.
        """
        return _interop.to_onnx(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike):
        """Read a model written by ``save``.

        Parameters
        ----------
        path : str or os.PathLike

        Returns
        -------
        Network
            A network of the file's sizes, activations, loss and dtype, with its parameters.

        Raises
        ------
        FileNotFoundError
            If there is no file at ``path``.
        ValueError
            Naming the file, if it is not a valid fastbp model file.
        """
        meta, weights, biases = _io.read_model(path)
        if "members" in meta:
            raise ValueError(f"{os.fspath(path)!r} holds an ensemble of {len(meta['members'])} networks: "
                             "load it with fastbp.Ensemble.load")
        try:
            from .losses import resolve

            loss = resolve(meta["loss"], meta.get("loss_params"))
            # No initial weights drawn (a temporary of the largest layer's size
            # beside the file's arrays): the file's are copied in below.
            net = cls(meta["sizes"], meta["activation"], meta["output"], loss, meta["dtype"], seed=_NO_DRAW)
            net.classes = meta.get("classes")
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{os.fspath(path)!r} is not a valid fastbp model file: {exc}") from None
        for dst, src in zip(net._weights + net._biases, weights + biases):
            dst[...] = src
        return net


class Network(BaseNetwork):
    __doc__ = BaseNetwork.__doc__

    def _kernels(self):
        """The backend of the call under way (see ``_call``), else the kernels."""
        backend = self.__dict__.get("_backend")
        if backend is not None:
            return backend
        # Imported on first use so that ``import fastbp`` stays light.
        from . import kernels

        return kernels

    @contextlib.contextmanager
    def _call(self, kernels: Sequence[str], reference_estimate: Callable[[], float], distributed: bool = False,
              verbose: bool = False, sparse: bool = False, also: Sequence = ()):
        """Run one public call on one tier (``fastbp._tiers.choose``): the
        compiled kernels (for ``sparse`` X, their sparse specialisations), or
        the NumPy reference while they are not compiled and the call is
        expected to finish sooner there. A call made inside another
        (``predict`` in ``forward``, validation in ``fit``) keeps the outer
        call's tier. ``also``: ``(key, kernels)`` of another variant the call
        runs (``fastbp._tiers.choose``)."""
        if self.__dict__.get("_backend") is not None:
            yield self._choice
            return
        from .training.progress import say

        choice = _tiers.choose(_tiers.variant(self._dtype, sparse), kernels, reference_estimate(), also=also,
                               distributed=distributed,
                               say=say if verbose else None)
        self._backend, self._choice, self.last_tier = choice.backend, choice, choice.tier
        try:
            yield choice
        finally:
            del self._backend, self._choice

    @staticmethod
    def _num_threads(threads: int | None, largest_product: int | None = None):
        from ._threads import num_threads

        return num_threads(threads, largest_product)


# Shown as ``fastbp.Network`` in reprs and docs, where users meet it.
Network.__module__ = "fastbp"
