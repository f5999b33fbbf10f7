"""``fit``'s options as one typed object: built once by ``Network.fit`` (whose
signature holds every default and whose docstring says what each does), and
read by attribute everywhere in ``fastbp.training``; checked by
``loop.make_plan`` before any training."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class FitOptions:
    """Every option of one ``fit`` call, as the caller gave it."""

    epochs: int
    batch_size: int
    lr: float
    shuffle: bool
    verbose: bool
    optimizer: Any  # a name or a fastbp.optimizers object
    threads: int | None
    on_divergence: str
    comm: Any
    average_every: int | None
    validation_data: tuple | None
    validation_split: float
    patience: int | None
    min_delta: float
    restore_best: bool
    monitor: str | None
    lr_schedule: str | Callable[[int], float]
    callback: Callable[[int, dict], Any] | None
    sample_weight: Any
    class_weight: dict | str | None
