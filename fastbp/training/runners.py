"""Epoch runners: what ``fit``'s loop calls once per epoch.

A runner has one protocol, shared by the one-process runner here and the
data-parallel one (``training.distributed``):

- ``run(perm, lr) -> float``: one epoch over the rows in the order ``perm``
  at learning rate ``lr``; the mean (weighted) loss, plus the L2 penalty.
- ``agree(going) -> bool``: whether training goes on, decided alike by every
  process taking part.
- ``check(error)``: raise ``error`` (an exception, or None for none) on every
  process if any process has one, before the next collective.
- ``total(sums) -> sums``: a vector of sums (validation scores) over every
  process's rows.
- ``rank``: 0 for the process that reports.

Buffers (workspace, gradient, optimizer state) are made once, when the
runner is made: once per fit.
"""
from __future__ import annotations

import contextlib
import time

import numpy as np

from .. import _layout
from .._interrupts import held
from .._sparse import is_sparse, kernel_input


def sparse_layout(sparse: bool, net, state: np.ndarray):
    """For an epoch on sparse rows, the parameters' and optimizer state's first
    weight blocks stored input-major (the sparse kernels' layout,
    ``_layout.input_major``), and back after it; nothing for dense rows."""
    return _layout.input_major([net._params, state], net.sizes) if sparse else contextlib.nullcontext()


#: Seconds of one kernel call of an epoch (a slice of its batches): Ctrl-C
#: is answered between slices.
SLICE_SECONDS = 0.25
#: Multiply-adds (forward and backward) of a fit's first slice, before any
#: pace is measured: a small share of a second at the kernels' slowest
#: rates, and short epochs (the common case) whole.
FIRST_SLICE_WORK = 100_000_000


class Slices:
    """An epoch as kernel calls over slices of whole batches, each of about
    :data:`SLICE_SECONDS` at the pace of the slice before (the first: about
    :data:`FIRST_SLICE_WORK` multiply-adds, for a network of ``sizes``):
    Ctrl-C is answered between two, with the parameters and the optimizer
    state the finished batches left. An epoch that fits in one slice is one
    call, with the kernel's own results."""

    def __init__(self, sizes) -> None:
        self.pace: float | None = None  # seconds per batch of the last slice
        self.row_work = 3 * sum(int(a) * int(b) for a, b in zip(sizes[:-1], sizes[1:]))  # forward and backward

    def batches(self, batch_size: int) -> int:
        if self.pace is None:
            return max(1, FIRST_SLICE_WORK // max(1, self.row_work * batch_size))
        return max(1, int(SLICE_SECONDS / max(self.pace, 1e-9)))

    def run(self, call, perm: np.ndarray, batch_size: int, weights: np.ndarray | None):
        """``call(rows)`` for each slice of ``perm`` (an epoch's row order),
        each returning ``(mean loss, mean penalty, mean batch loss)`` over its
        rows; returns the same three over the epoch (the loss weighted by
        ``weights``, empty or None for none)."""
        n = perm.shape[0]
        batches, done = -(-n // batch_size), 0
        sums = np.zeros(4)  # loss * weight, weight, penalty * rows, batch means * rows
        while done < batches:
            take = min(batches - done, self.batches(batch_size))
            rows = perm[done * batch_size:(done + take) * batch_size]
            start = time.perf_counter()
            # Ctrl-C lands once the call and its bookkeeping are done, not between the two.
            with held("an epoch"):
                results = call(rows)
            self.pace = (time.perf_counter() - start) / take
            if take == batches:
                return results
            done += take
            weight = float(weights[rows].sum(dtype=np.float64)) if weights is not None and weights.shape[0] \
                else float(rows.shape[0])
            sums += (results[0] * weight, weight, results[1] * rows.shape[0], results[2] * rows.shape[0])
        return (sums[0] / sums[1] if sums[1] > 0 else 0.0), sums[2] / n, sums[3] / n


class LocalRunner:
    """Epochs in this process, on the network's backend (kernels or reference).

    Parameters
    ----------
    net : fastbp.Network or fastbp.reference.Network
    X, Y : converted training rows (X dense, or a checked CSR matrix); batch_size : rows per step (at most ``len(X)``)
    optimizer : fastbp.optimizers.Optimizer, whose step count advances
    weights : per-row weights, or None
    """

    rank = 0

    def __init__(self, net, X: np.ndarray, Y: np.ndarray, batch_size: int, optimizer, weights=None) -> None:
        self.net, self.Y, self.batch_size, self.optimizer = net, Y, batch_size, optimizer
        self.X, self.sparse = kernel_input(X), is_sparse(X)
        self.kernels = net._kernels()
        self.work = np.empty(_layout.workspace_size(net.sizes, batch_size, net._act_codes, is_sparse(X)),
                             dtype=net.dtype)
        self.state = optimizer.state_for(net._params.size, net.dtype)
        self.grad = np.empty_like(net._params)
        self.weights = net._params[:0].copy() if weights is None else weights
        # Plain SGD runs each step fused into the backward pass, reading no state.
        self.plain = bool(self.kernels.is_plain(optimizer.code, optimizer.hyper(1.0)))
        self.slices = Slices(net.sizes)

    def run(self, perm: np.ndarray, lr: float) -> float:
        with sparse_layout(self.sparse, self.net, self.state):
            return self._run(perm, lr)

    def _run(self, perm: np.ndarray, lr: float) -> float:
        loss, penalty, _ = self.slices.run(lambda rows: self._call(rows, lr), perm, self.batch_size, self.weights)
        return loss + penalty

    def _call(self, rows: np.ndarray, lr: float) -> tuple[float, float, float]:
        """One kernel call over the batches of ``rows`` (the optimizer's step
        count advanced by them): ``(mean loss, mean penalty, mean batch loss)``."""
        net, opt = self.net, self.optimizer
        if self.plain:
            loss = penalty = means = self.kernels.train_epoch(
                self.X, self.Y, rows, self.batch_size, net._params, net._size_codes, net._act_codes, net._loss_code,
                net.dtype.type(lr), self.work, self.weights)
            penalty = 0.0
        else:
            loss, penalty, means = self.kernels.train_epoch_optim(
                self.X, self.Y, rows, self.batch_size, net._params, net._size_codes, net._act_codes, net._loss_code,
                opt.code, opt.hyper(lr), opt.step_count, self.state, self.grad, self.work, self.weights,
            )
        opt.step_count += -(-rows.shape[0] // self.batch_size)
        return float(loss), float(penalty), float(means)

    @staticmethod
    def agree(going: bool) -> bool:
        return going

    @staticmethod
    def check(error: BaseException | None) -> None:
        if error is not None:
            raise error

    @staticmethod
    def total(sums: np.ndarray) -> np.ndarray:
        return sums
