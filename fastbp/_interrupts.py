"""Ctrl-C held over a compile.

A SIGINT that arrives while Numba compiles can land in one of llvmlite's
``__del__`` methods, where Python prints "Exception ignored" and drops it:
the call then runs on as if nothing was pressed. A compile therefore runs
with SIGINT held, and the interrupt is delivered, once, as soon as the
kernel being compiled is done.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator


class Held:
    """Whether a SIGINT arrived while held (:func:`held`)."""

    def __init__(self):
        self.arrived = False

    def __bool__(self) -> bool:
        return self.arrived


@contextlib.contextmanager
def held(what: str) -> Iterator[Held]:
    """Hold SIGINT while the block runs; on leaving it, deliver one that
    arrived: a ``KeyboardInterrupt`` saying it came during ``what`` (or the
    handler that was installed, called once). The block may test the
    yielded object to stop early. Outside the main thread (where signals are
    not delivered) and where SIGINT is ignored, it changes nothing."""
    state = Held()
    if threading.current_thread() is not threading.main_thread():
        yield state
        return
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous):  # SIG_IGN, SIG_DFL, or not set from Python
        yield state
        return

    def hold(signum, frame):
        state.arrived = True

    signal.signal(signal.SIGINT, hold)
    try:
        yield state
    finally:
        signal.signal(signal.SIGINT, previous)
    if state.arrived:
        if previous is signal.default_int_handler:
            raise KeyboardInterrupt(f"interrupted during {what} (Ctrl-C was held until it could stop safely)")
        previous(signal.SIGINT, None)
