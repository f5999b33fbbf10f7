"""The keys compiled code is found under: a dtype's name, with ``-sparse``
for CSR input (``float64-sparse``): the tiers' readiness, the warm-up and the
signature table speak them. A module of its own, importing nothing at its
top, so that the tiers read keys without importing the kernels."""
from __future__ import annotations

#: The suffix of a key for sparse input: its kernels are other
#: specialisations of the same functions, compiled on first use.
SPARSE = "-sparse"


def variant(dtype, sparse: bool = False) -> str:
    """The key a call's kernels are found under: the dtype's name, with
    ``-sparse`` for sparse X (``float64-sparse``)."""
    name = getattr(dtype, "name", str(dtype))
    return name + SPARSE if sparse else name


def split(key: str) -> tuple[str, bool]:
    """``(dtype name, sparse)`` of a key."""
    return key.removesuffix(SPARSE), key.endswith(SPARSE)


def signature(kernel: str, key: str) -> tuple:
    """The exact argument types of ``kernel`` for ``key``
    (``fastbp.kernels._signatures``, the one table of them; imported here,
    on use, since importing it compiles nothing but loads Numba)."""
    from .kernels._signatures import signature as of

    return of(kernel, *split(key))
