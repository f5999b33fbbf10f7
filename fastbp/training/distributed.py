"""Data-parallel training over MPI: ``Network.fit(X_local, y_local, ..., comm=comm)``.

Each rank holds its own shard of the rows. ``batch_size`` is the global batch:
rank ``r`` of ``N`` takes ``batch_size // N`` rows (one more for the first
``batch_size % N`` ranks) from its shard at each step, in its own (shuffled or
stored) order. The compiled ``batch_gradient`` sums the gradient over those
rows into a flat buffer that also carries the summed loss and the row count;
one in-place ``Allreduce`` adds the ranks' buffers; ``apply_update`` divides by
the total row count and steps. So every rank applies the mean over the union
of the step's rows, which is what one process would apply to that union as one
batch. A rank whose shard is exhausted contributes zero rows; an epoch lasts
until every shard is.

Every rank starts from rank 0's parameters (and optimizer state) and, since
all apply the same arithmetic to the same sums, stays equal to it; rank 0's
parameters are broadcast again at the end of each epoch, so ranks agree bit
for bit even under an MPI whose reductions could differ between ranks.

``average_every=k`` switches to local SGD: each rank steps on its own share
with its own optimizer state, and the parameters are averaged over ranks
every ``k`` steps and at the end of each epoch.

Errors are collective: each rank checks its arguments and data, then all ranks
exchange the outcome (``agree``), and if any rank failed every rank raises
the same ``ValueError`` naming it, before any collective of training is entered.

:class:`DistributedRunner` has the protocol of ``training.runners``.
"""
from __future__ import annotations

import numpy as np

from .. import _layout
from .._sparse import is_sparse, kernel_input
from .._validation import cpu_count
from .runners import sparse_layout

MPI_EXTRA = "pip install 'fastbp[mpi]' (mpi4py and an MPI library: the mpich wheel, with mpiexec)"


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError:
        raise ImportError(f"fit(comm=...) needs mpi4py and an MPI library: {MPI_EXTRA}") from None
    return MPI


def check_comm(comm):
    """The mpi4py module, once ``comm`` is known to be an intracommunicator."""
    MPI = _mpi()
    if not isinstance(comm, MPI.Intracomm):
        raise ValueError(
            f"comm must be an mpi4py intracommunicator such as mpi4py.MPI.COMM_WORLD, got {type(comm).__name__}"
        )
    return MPI


def agree(comm, error: BaseException | None) -> None:
    """Collective: if any rank has an error, every rank raises the same ValueError naming it."""
    message = None if error is None else str(error)
    messages = comm.allgather(message)
    failed = [(r, m) for r, m in enumerate(messages) if m is not None]
    if failed:
        r, m = failed[0]
        more = f" (and {len(failed) - 1} other rank(s))" if len(failed) > 1 else ""
        raise ValueError(f"rank {r} of {comm.Get_size()}{more}: {m}")


def threads_per_rank(comm, MPI) -> int:
    """The cores of this machine shared out over the ranks running on it: more
    threads than that would make BLAS and MPI spin against each other."""
    local = comm.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        ranks_here = local.Get_size()
    finally:
        local.Free()
    return max(1, cpu_count() // ranks_here)


def shared_error(exc: BaseException) -> ValueError:
    """The error every rank raises for a failure on one: a ValueError as it is,
    any other (MemoryError, a bug) as a ValueError naming its kind."""
    return exc if isinstance(exc, ValueError) else ValueError(f"{type(exc).__name__}: {exc}")


class DistributedRunner:
    """Data-parallel epochs over ``comm`` (see the module docstring).

    Made on every rank from that rank's checked ``plan`` (``training.loop.Plan``)
    and ``described`` settings, which every rank must share (the network's
    repr and its fit options). Three agreed phases come before any collective
    of training: each rank's own checks (done by the caller, agreed with
    ``agree``); the settings against rank 0's and the shard lengths; the
    buffers (optimizer state, workspace). Anything that fails in them fails on
    every rank alike, so no rank is left waiting in a collective.
    """

    def __init__(self, comm, net, plan, described: str, shuffle: bool) -> None:
        self.comm, self.net, self.optimizer = comm, net, plan.optimizer
        self.MPI = MPI = check_comm(comm)
        self.rank, size = comm.Get_rank(), comm.Get_size()
        settings, opt, data = plan.settings, plan.optimizer, plan.data
        self.X, self.Y, self.weights = kernel_input(data.X), data.Y, data.weights
        self.sparse = is_sparse(data.X)
        self.average_every = settings.average_every
        mine = (f"network {described}, epochs={settings.epochs}, batch_size={settings.batch_size}, "
                f"lr={settings.lr}, shuffle={shuffle}, optimizer={opt!r}, average_every={settings.average_every}")
        reference = comm.bcast(mine, root=0)
        agree(comm, None if mine == reference else ValueError(
            f"fit arguments differ from rank 0's: {mine} against {reference}"))
        lengths = comm.allgather(data.X.shape[0])
        # As in one process, a batch larger than the data is the whole data.
        self.batch_size = batch_size = min(settings.batch_size, sum(lengths))
        if batch_size < size:  # the same on every rank: all raise it
            raise ValueError(f"batch_size ({batch_size}, at most the {sum(lengths)} rows of all shards) "
                             f"must be at least the number of ranks ({size})")
        shares = [batch_size // size + (r < batch_size % size) for r in range(size)]
        self.n_steps = max(-(-n // s) for n, s in zip(lengths, shares))
        self.share = shares[self.rank]
        self.size = size
        params = net._params
        P = self.P = params.size
        error = None
        try:  # the buffers: on every rank, or on none
            self.state = opt.state_for(P, params.dtype)
            self.work = np.empty(_layout.workspace_size(net._size_codes, self.share, net._act_codes, self.sparse),
                                 dtype=params.dtype)
            self.buf = np.empty(P + 3, dtype=params.dtype)  # gradient sums, then loss sum, row count, weight sum
            self.kernels = net._kernels()
        except Exception as exc:  # noqa: BLE001 - shared with every rank, then raised
            error = shared_error(exc)
        agree(comm, error)
        comm.Bcast(params, root=0)  # every rank starts from rank 0's parameters and optimizer state
        comm.Bcast(self.state, root=0)
        opt.step_count = comm.bcast(opt.step_count, root=0)
        self.threads = settings.threads if settings.threads is not None else threads_per_rank(comm, MPI)
        self.grad = self.buf[:P]
        self.hyper = opt.hyper(settings.lr)  # this epoch's, set by run()
        self.row_weights = params[:0].copy() if self.weights is None else self.weights

    def _step(self, rows) -> None:
        """The summed (weighted) gradient and loss of ``rows``, their count and weight, into ``buf``."""
        net, buf, P = self.net, self.buf, self.P
        buf[P], buf[P + 2] = self.kernels.batch_gradient(self.X, self.Y, rows, net._params, net._size_codes,
                                                         net._act_codes, net._loss_code, self.grad, self.work,
                                                         self.row_weights)
        buf[P + 1] = rows.shape[0]

    def _update(self, count, weight) -> float:
        """One optimizer step from the gradient summed over ``count`` rows of
        total ``weight``; returns its L2 penalty. Weighted sums are rescaled
        to ``count`` rows first, so the step is their weighted mean."""
        params, opt = self.net._params, self.optimizer
        if self.weights is not None:
            self.grad[...] *= params.dtype.type(count / weight if weight > 0 else 0.0)
        penalty = self.kernels.apply_update(params, self.grad, count, self.net._size_codes, opt.code, self.hyper,
                                            opt.step_count, self.state)
        opt.step_count += 1
        return penalty

    def _allreduce_epoch(self, perm) -> float:
        """One Allreduce of the gradient sums per step."""
        MPI, buf, P, share = self.MPI, self.buf, self.P, self.share
        data_loss = weight_seen = penalty = rows_seen = 0.0
        for s in range(self.n_steps):
            self._step(perm[s * share : (s + 1) * share])
            self.comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
            count = int(round(float(buf[P + 1])))
            data_loss += float(buf[P])
            weight_seen += float(buf[P + 2])
            penalty += self._update(count, float(buf[P + 2]))
            rows_seen += count
        return (data_loss / weight_seen if weight_seen > 0 else 0.0) + penalty / rows_seen

    def _local_sgd_epoch(self, perm) -> float:
        """Own steps on own rows, parameters averaged every ``average_every`` steps and at the end."""
        MPI, buf, P, share, params = self.MPI, self.buf, self.P, self.share, self.net._params
        sums = np.zeros(4)  # loss, weight, penalty and rows, summed over ranks at the end
        for s in range(self.n_steps):
            rows = perm[s * share : (s + 1) * share]
            if rows.shape[0]:
                self._step(rows)
                sums += (float(buf[P]), float(buf[P + 2]), self._update(rows.shape[0], float(buf[P + 2])),
                         rows.shape[0])
            if (s + 1) % self.average_every == 0 or s == self.n_steps - 1:
                self.comm.Allreduce(MPI.IN_PLACE, params, op=MPI.SUM)
                params[...] *= params.dtype.type(1.0 / self.size)
        self.comm.Allreduce(MPI.IN_PLACE, sums, op=MPI.SUM)
        return (sums[0] / sums[1] if sums[1] > 0 else 0.0) + sums[2] / sums[3]

    def run(self, perm, lr) -> float:
        self.hyper = self.optimizer.hyper(lr)
        with sparse_layout(self.sparse, self.net, self.state):
            loss = (self._allreduce_epoch if self.average_every is None else self._local_sgd_epoch)(perm)
        # Every rank then holds rank 0's parameters and the global loss, so all decide alike.
        self.comm.Bcast(self.net._params, root=0)
        return float(loss)

    def check(self, error: BaseException | None) -> None:
        """A failure on any rank is every rank's ``ValueError``, naming the rank."""
        agree(self.comm, None if error is None else shared_error(error))

    def agree(self, going: bool) -> bool:
        """Every rank stops together, or none does."""
        return bool(self.comm.allreduce(int(going), op=self.MPI.MIN))

    def total(self, sums: np.ndarray) -> np.ndarray:
        return self.comm.allreduce(sums)
