"""One setting for the threads of both Numba and the BLAS the kernels call.

On 2 cores, letting Numba and OpenBLAS each start their own pool of
``n_cores`` threads would oversubscribe; ``set_num_threads`` sets both.
"""
from __future__ import annotations

import contextlib
import os

from ._validation import check_positive_int

_blas_limiter = None


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def check_threads(n) -> int:
    """``n`` as a thread count this process can use, or ValueError."""
    n = check_positive_int(n, "threads")
    if n > _cpu_count():
        raise ValueError(f"threads={n} exceeds the {_cpu_count()} CPUs available to this process")
    return n


def set_num_threads(n: int) -> None:
    """Use ``n`` threads in fastbp's kernels: Numba's and NumPy's BLAS alike.

    ``n`` may not exceed the CPUs this process may run on (Numba's limit).
    """
    global _blas_limiter
    n = check_threads(n)
    import numba
    from threadpoolctl import threadpool_limits

    numba.set_num_threads(n)
    _blas_limiter = threadpool_limits(limits=n, user_api="blas")


def get_num_threads() -> int:
    """Threads the BLAS that fastbp calls will use."""
    from threadpoolctl import threadpool_info

    from .kernels._blas import LIBRARY

    for info in threadpool_info():
        if info.get("filepath") == LIBRARY:
            return int(info["num_threads"])
    return 1  # pragma: no cover


@contextlib.contextmanager
def num_threads(n: int | None):
    """Within the block, use ``n`` threads (``None``: leave the setting alone)."""
    if n is None:
        yield
        return
    n = check_threads(n)
    import numba
    from threadpoolctl import threadpool_limits

    before = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        with threadpool_limits(limits=n, user_api="blas"):
            yield
    finally:
        numba.set_num_threads(before)
