"""What the machine gives: peak memory of an epoch, which BLAS runs a
peer's products, the provider's best GEMM rate (the ``limit`` row)."""
from __future__ import annotations

import os
import sys
import time


class PeakMemory:
    """This process's peak resident memory from now on, in MB: Linux's VmHWM
    after resetting it (``/proc/self/clear_refs``); elsewhere, or where the
    reset is refused, the peak over the process's life (``ru_maxrss``)."""

    def __init__(self):
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.reset = True
        except OSError:
            self.reset = False

    def megabytes(self) -> float:
        if self.reset:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


def _numpy_blas() -> str:
    """NumPy's BLAS as threadpoolctl sees it: implementation, version, kernel."""
    import numpy as np
    from threadpoolctl import threadpool_info

    libs = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    site = os.path.dirname(os.path.dirname(os.path.realpath(np.__file__)))
    ours = [i for i in libs if os.path.realpath(i["filepath"]).startswith(os.path.join(site, "numpy"))] or libs
    if not ours:
        return "NumPy's BLAS (not visible to threadpoolctl)"
    i = ours[0]
    return f"NumPy's {i['internal_api']} {i['version']}, kernel {i.get('architecture')}, {i['num_threads']} threads"


def blas_of(peer: str) -> str:
    """What runs the matrix products of ``peer`` in this process."""
    if peer in ("fastbp", "floor", "estimator", "one_rank", "two_ranks"):
        from fastbp.kernels import _blas

        return _blas.summary()
    if peer == "torch":
        import torch

        cfg = torch.__config__.show()
        blas = next((w.split("=")[1] for w in cfg.replace(",", " ").split() if w.startswith("BLAS_INFO=")), "?")
        return (f"PyTorch {torch.__version__}: BLAS {blas}, oneDNN {'on' if torch.backends.mkldnn.is_available() else 'off'}, "
                f"CPU capability {torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} threads")
    if peer == "jax":
        import jax

        return f"JAX {jax.__version__}: XLA:CPU ({jax.devices()[0].device_kind}), its own dot kernels (Eigen/oneDNN)"
    return _numpy_blas()  # reference, sklearn, sklearn_estimator: NumPy's matmul


def gemm_rate(dtype: str, threads: int, n: int = 2048, repeats: int = 5) -> float:
    """Best FLOP/s of one ``n``-cubed GEMM through fastbp's provider: the machine's limit for the epoch."""
    import numpy as np

    import fastbp
    from fastbp.kernels._blas import gemm

    fastbp.set_num_threads(threads)
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((n, n)).astype(dtype), rng.standard_normal((n, n)).astype(dtype)
    C = np.empty((n, n), dtype)
    gemm(False, False, 1.0, A, B, 0.0, C)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        gemm(False, False, 1.0, A, B, 0.0, C)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best
