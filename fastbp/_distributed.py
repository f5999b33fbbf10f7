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
exchange the outcome, and if any rank failed every rank raises the same
``ValueError`` naming it, before any collective of training is entered.
"""
from __future__ import annotations

import numpy as np

from . import _layout
from ._validation import cpu_count

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


def _checked(comm, step):
    """Collective: run ``step()`` on every rank; if it fails on any rank (any
    exception: a bad argument, MemoryError, a bug), every rank raises the same
    ValueError naming that rank. Returns ``step()``'s result."""
    result, error = None, None
    try:
        result = step()
    except Exception as exc:  # noqa: BLE001 - shared with every rank, then raised
        error = exc if isinstance(exc, ValueError) else ValueError(f"{type(exc).__name__}: {exc}")
    agree(comm, error)
    return result


def prepare(comm, checks, network: str, shuffle, params, kernels, codes):
    """The distributed side of ``Network.fit``; see the module docstring.

    ``checks()`` is the network's own checking of the arguments and data,
    returning ``(settings, optimizer, X, Y, weights, validation)`` with
    ``settings = (epochs, batch_size, lr, threads, average_every)``, per-row
    ``weights`` or None, this rank's validation rows or None; ``network`` the
    network's repr and its fit settings that every rank must share;
    ``params`` its flat parameters; ``kernels()`` its backend; ``codes`` its
    ``(sizes, acts, loss)`` arrays. Returns ``(settings, optimizer, X, Y,
    validation, run, rank)``, ``run(perm, lr)`` training one epoch and
    returning the global (weighted) mean loss (+ L2 penalty). With weights,
    each step is the weighted mean over the union of the ranks' shares.

    Three agreed phases come before any collective of training: each rank's
    own checks; the settings against rank 0's and the shard lengths; the
    buffers (optimizer state, workspace). Anything that fails in them fails
    on every rank alike, so no rank is left waiting in a collective.
    """
    MPI = check_comm(comm)
    rank, size = comm.Get_rank(), comm.Get_size()
    settings, opt, X, Y, weights, validation = _checked(comm, checks)
    epochs, batch_size, lr, threads, average_every = settings
    mine = (f"network {network}, epochs={epochs}, batch_size={batch_size}, lr={lr}, shuffle={shuffle}, "
            f"optimizer={opt!r}, average_every={average_every}")
    reference = comm.bcast(mine, root=0)
    agree(comm, None if mine == reference else ValueError(
        f"fit arguments differ from rank 0's: {mine} against {reference}"))
    lengths = comm.allgather(X.shape[0])
    # As in one process, a batch larger than the data is the whole data.
    batch_size = min(batch_size, sum(lengths))
    if batch_size < size:  # the same on every rank: all raise it
        raise ValueError(f"batch_size ({batch_size}, at most the {sum(lengths)} rows of all shards) "
                         f"must be at least the number of ranks ({size})")
    shares = [batch_size // size + (r < batch_size % size) for r in range(size)]
    n_steps = max(-(-n // s) for n, s in zip(lengths, shares))
    share = shares[rank]
    sizes, acts, loss = codes
    P = params.size

    def buffers():
        state = opt.state_for(P, params.dtype)
        work = np.empty(_layout.workspace_size(sizes, share, acts), dtype=params.dtype)
        buf = np.empty(P + 3, dtype=params.dtype)  # gradient sums, then loss sum, row count, weight sum
        return state, work, buf, kernels()

    state, work, buf, k = _checked(comm, buffers)
    comm.Bcast(params, root=0)  # every rank starts from rank 0's parameters and optimizer state
    comm.Bcast(state, root=0)
    opt.step_count = comm.bcast(opt.step_count, root=0)
    if threads is None:
        threads = threads_per_rank(comm, MPI)
    grad = buf[:P]
    rate = {"hyper": opt.hyper(lr)}  # this epoch's, set by run()

    no_weights = params[:0].copy()
    row_weights = no_weights if weights is None else weights

    def step(rows):
        """The summed (weighted) gradient and loss of ``rows``, their count and weight, into ``buf``."""
        buf[P], buf[P + 2] = k.batch_gradient(X, Y, rows, params, sizes, acts, loss, grad, work, row_weights)
        buf[P + 1] = rows.shape[0]

    def update(count, weight):
        """One optimizer step from the gradient summed over ``count`` rows of
        total ``weight``; returns its L2 penalty. Weighted sums are rescaled
        to ``count`` rows first, so the step is their weighted mean."""
        if weights is not None:
            grad[...] *= params.dtype.type(count / weight if weight > 0 else 0.0)
        penalty = k.apply_update(params, grad, count, sizes, opt.code, rate["hyper"], opt.step_count, state)
        opt.step_count += 1
        return penalty

    def allreduce_epoch(perm):
        """One Allreduce of the gradient sums per step."""
        data_loss = weight_seen = penalty = rows_seen = 0.0
        for s in range(n_steps):
            step(perm[s * share : (s + 1) * share])
            comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
            count = int(round(float(buf[P + 1])))
            data_loss += float(buf[P])
            weight_seen += float(buf[P + 2])
            penalty += update(count, float(buf[P + 2]))
            rows_seen += count
        return (data_loss / weight_seen if weight_seen > 0 else 0.0) + penalty / rows_seen

    def local_sgd_epoch(perm):
        """Own steps on own rows, parameters averaged every ``average_every`` steps and at the end."""
        sums = np.zeros(4)  # loss, weight, penalty and rows, summed over ranks at the end
        for s in range(n_steps):
            rows = perm[s * share : (s + 1) * share]
            if rows.shape[0]:
                step(rows)
                sums += (float(buf[P]), float(buf[P + 2]), update(rows.shape[0], float(buf[P + 2])), rows.shape[0])
            if (s + 1) % average_every == 0 or s == n_steps - 1:
                comm.Allreduce(MPI.IN_PLACE, params, op=MPI.SUM)
                params[...] *= params.dtype.type(1.0 / size)
        comm.Allreduce(MPI.IN_PLACE, sums, op=MPI.SUM)
        return (sums[0] / sums[1] if sums[1] > 0 else 0.0) + sums[2] / sums[3]

    def run(perm, epoch_lr):
        rate["hyper"] = opt.hyper(epoch_lr)
        loss = (allreduce_epoch if average_every is None else local_sgd_epoch)(perm)
        # Every rank then holds rank 0's parameters and the global loss, so all decide alike.
        comm.Bcast(params, root=0)
        return float(loss)

    return (epochs, batch_size, lr, threads, average_every), opt, X, Y, validation, run, rank
