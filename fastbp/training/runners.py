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

import numpy as np

from .. import _layout
from .._sparse import is_sparse, kernel_input


def sparse_layout(sparse: bool, net, state: np.ndarray):
    """For an epoch on sparse rows, the parameters' and optimizer state's first
    weight blocks stored input-major (the sparse kernels' layout,
    ``_layout.input_major``), and back after it; nothing for dense rows."""
    return _layout.input_major([net._params, state], net.sizes) if sparse else contextlib.nullcontext()


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

    def run(self, perm: np.ndarray, lr: float) -> float:
        with sparse_layout(self.sparse, self.net, self.state):
            return self._run(perm, lr)

    def _run(self, perm: np.ndarray, lr: float) -> float:
        net, opt = self.net, self.optimizer
        if self.plain:
            loss = self.kernels.train_epoch(self.X, self.Y, perm, self.batch_size, net._params, net._size_codes,
                                            net._act_codes, net._loss_code, net.dtype.type(lr), self.work,
                                            self.weights)
        else:
            loss, penalty, _ = self.kernels.train_epoch_optim(
                self.X, self.Y, perm, self.batch_size, net._params, net._size_codes, net._act_codes, net._loss_code,
                opt.code, opt.hyper(lr), opt.step_count, self.state, self.grad, self.work, self.weights,
            )
            loss = float(loss) + float(penalty)
        opt.step_count += -(-perm.shape[0] // self.batch_size)
        return float(loss)

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
