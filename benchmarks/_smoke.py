"""The parameter grids of the benchmarks, cut down for CI's smoke run.

``.ci/run`` runs every benchmark once to find broken ones (``asv run --quick
--dry-run``), not to time them. With ``FASTBP_ASV_SMOKE=1`` a benchmark's
grid keeps every value of one axis (the kernel, the configuration, the
solver: what its code differs by) and the first value of each other axis
(dtype, shape, implementation), so the run exercises every benchmark's
code paths in a fraction of the full grid's time. Timing runs leave the
variable unset and get the full grid.
"""
import os

SMOKE = os.environ.get("FASTBP_ASV_SMOKE", "") not in ("", "0")


def grid(*axes, whole: int = 0):
    """``params`` for asv: the axes as given, or, in the smoke run, axis
    ``whole`` (what the benchmark's code differs by) with every value and
    each other axis at its first."""
    axes = tuple(list(axis) for axis in axes)
    if SMOKE:
        axes = tuple(axis if i == whole else axis[:1] for i, axis in enumerate(axes))
    return axes
