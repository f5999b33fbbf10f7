"""Ctrl-C held over a compile.

A SIGINT that arrives while Numba compiles can land in one of llvmlite's
``__del__`` methods, where Python prints "Exception ignored" and drops it:
the call then runs on as if nothing was pressed. A compile therefore runs
with SIGINT held, and the interrupt is delivered, once, as soon as the
kernel being compiled is done.
"""
from __future__ import annotations

import signal
import threading


_MAIN = threading.main_thread().ident  # signals are delivered to this thread only


class held:
    """``with held(what) as interrupted:`` holds SIGINT while the block runs;
    on leaving it, delivers one that arrived: a ``KeyboardInterrupt`` saying
    it came during ``what`` (or the handler that was installed, called once).
    The block may test ``interrupted`` (true once one arrived) to stop early.
    Outside the main thread (where signals are not delivered) and where
    SIGINT is ignored or not Python's, it changes nothing. A class, not a
    generator: it runs around every slice of every epoch."""

    __slots__ = ("what", "arrived", "previous")

    def __init__(self, what: str):
        self.what, self.arrived, self.previous = what, False, None

    def __bool__(self) -> bool:
        return self.arrived

    def _hold(self, signum, frame) -> None:
        self.arrived = True

    def __enter__(self) -> "held":
        if threading.get_ident() == _MAIN:
            previous = signal.getsignal(signal.SIGINT)
            if callable(previous):
                self.previous = previous
                signal.signal(signal.SIGINT, self._hold)
        return self

    def __exit__(self, kind, value, traceback) -> bool:
        previous, self.previous = self.previous, None
        if previous is None:
            return False
        signal.signal(signal.SIGINT, previous)
        if self.arrived and kind is None:
            if previous is signal.default_int_handler:
                raise KeyboardInterrupt(f"interrupted during {self.what} (Ctrl-C was held until it could stop "
                                        "safely)")
            previous(signal.SIGINT, None)
        return False
