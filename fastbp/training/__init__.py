"""Training: everything ``Network.fit`` does besides the arithmetic.

- ``loop``: the checks of a fit (``make_plan``), the tier it runs on, and the
  epoch loop (rollback, validation scores, schedules, early stopping,
  callbacks, progress).
- ``runners``: the one-process epoch runner, and the protocol
  (``run(perm, lr)``, ``agree``, ``total``) the data-parallel one shares.
- ``distributed``: the data-parallel runner over MPI.
- ``extras``: fit's options beyond the loop (validation rows, per-row
  weights, schedules, early stopping), each checked before any training.
- ``progress``: the report of each epoch (a bar on a terminal, lines in a log).
- ``options``: ``FitOptions``, fit's options as one typed object.

``fastbp.Network`` and ``fastbp.reference.Network`` share all of it: the
network's backend (kernels or their NumPy twins) does the arithmetic.
"""
from .loop import History, fit
from .options import FitOptions

__all__ = ["FitOptions", "History", "fit"]
