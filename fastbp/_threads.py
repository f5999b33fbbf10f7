"""One setting for the threads of both Numba and the BLAS the kernels call.

On 2 cores, letting Numba and OpenBLAS each start their own pool of
``n_cores`` threads would oversubscribe; ``set_num_threads`` sets both, and
every BLAS threadpoolctl sees (NumPy's, SciPy's, the GEMM provider's), so
none of them oversubscribes the others.

Policy: a GEMM too small to gain from threads is never split. OpenBLAS
already runs a GEMM of ``m*n*k`` below 262,144 on one thread, and that is
where splitting stops paying (measured here on 2 cores: 1.5x faster from
m*n*k = 640,000 up, level below; README, *Threads*), so fastbp adds no rule
of its own. The default count is every CPU this process may use: on a
machine whose other core is busy, BLAS threads wait for each other and an
epoch can take several times longer; ``threads=1`` is then the choice.
"""
from __future__ import annotations

import contextlib
import threading

from ._validation import check_threads

_blas_limiter = None

# BLAS thread counts are process-wide (openblas_set_num_threads sets a global),
# so fits running at once in several Python threads share one setting: the
# first to start sets it, the last to finish restores it, and a fit that asks
# for another count meanwhile is refused (its result would depend on timing).
_state = threading.Lock()
_running = 0  # fits inside num_threads blocks
_running_count: int | None = None  # the count they asked for (None: the setting as it was)
_restore = None  # the threadpoolctl limiter that restores the setting afterwards
_numba_before: int | None = None  # Numba's count before the first of them


def set_num_threads(n: int) -> None:
    """Use ``n`` threads in fastbp's kernels: Numba's and NumPy's BLAS alike.

    ``n`` may not exceed the CPUs this process may run on (Numba's limit).
    """
    global _blas_limiter
    n = check_threads(n)
    import numba
    from threadpoolctl import threadpool_limits

    from .kernels import _blas  # noqa: F401  (loads the provider's BLAS, so the limit reaches it)

    with _state:
        if _running:
            raise RuntimeError(
                f"set_num_threads({n}) while {_running} fit(s) run in this process would change their "
                "thread count mid-training (BLAS threads are process-wide); call it before or after them"
            )
        numba.set_num_threads(n)
        _blas_limiter = threadpool_limits(limits=n, user_api="blas")


def get_num_threads() -> int:
    """Threads the GEMMs of fastbp's kernels use.

    That is the count of the GEMM provider's BLAS as threadpoolctl reads it;
    1 for the ``numba`` provider (compiled loops); Numba's setting where the
    BLAS is one threadpoolctl cannot see (Accelerate), whose threads fastbp
    cannot set either.
    """
    from .kernels import _blas

    n = _blas.threads()
    if n is None:
        import numba

        return numba.get_num_threads()
    return n


def _describe(n: int | None) -> str:
    return "the thread setting as it was (threads=None)" if n is None else f"threads={n}"


@contextlib.contextmanager
def num_threads(n: int | None):
    """Within the block, use ``n`` threads (``None``: leave the setting alone).

    Blocks may overlap in several Python threads when they ask for the same
    ``n``; the setting is restored when the last one ends. Asking for another
    ``n`` while one runs is a ValueError: the count is process-wide, and
    results would depend on which fit ran when.
    """
    global _running, _running_count, _restore, _numba_before
    n = None if n is None else check_threads(n)
    with _state:
        if _running and n != _running_count:
            raise ValueError(
                f"fit with {_describe(n)} while another fit in this process runs with {_describe(_running_count)}: "
                "BLAS threads are process-wide, so concurrent fits must use the same threads= "
                "(or set it once with fastbp.set_num_threads)"
            )
        if not _running and n is not None:
            import numba
            from threadpoolctl import threadpool_limits

            _numba_before = numba.get_num_threads()
            numba.set_num_threads(n)
            _restore = threadpool_limits(limits=n, user_api="blas")
        _running_count = n
        _running += 1
    try:
        yield
    finally:
        with _state:
            _running -= 1
            if not _running and _restore is not None:
                import numba

                _restore.restore_original_limits()
                numba.set_num_threads(_numba_before)
                _restore = None
