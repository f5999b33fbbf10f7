"""Training progress (``fit(verbose=True)``, ``fastbp train``): a bar redrawn
in place on a terminal, plain lines in a log.

On a terminal (stderr) one line is redrawn per epoch; written to a file or a
pipe, a line per epoch goes to stdout, at most about one a second (plus the
first and the last), so a log of a long run stays readable. The estimate of
the time left leaves out the first epoch, which loads or compiles the kernels.
"""
from __future__ import annotations

import shutil
import statistics
import sys
import time


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


_FIRST_EPOCH = {"in memory": "compiled kernels", "loaded": "kernels loaded from the cache",
                "compiled": "kernels compiled before it", "reference": "NumPy reference"}


def say(message: str) -> None:
    """One line of the progress output: stderr on a terminal, else stdout (a log)."""
    print(message, file=sys.stderr if sys.stderr.isatty() else sys.stdout, flush=True)


class Progress:
    """Report each finished epoch; ``close`` ends the bar's line."""

    def __init__(self, epochs: int, quiet: bool = False, interactive: bool | None = None, log_every: float = 1.0):
        self.epochs = epochs
        self.quiet = quiet
        self.interactive = sys.stderr.isatty() if interactive is None else interactive
        self.log_every = log_every
        self.seconds: list[float] = []
        self._last_log = -float("inf")
        self._drawn = False
        self._tick = time.perf_counter()
        self.how = "loaded"

    def start(self, how: str, what: str) -> None:
        """Before the first epoch: say what runs it (``how``: ``'in memory'``,
        ``'loaded'``, ``'compiled'`` or ``'reference'``, ``fastbp._tiers.Choice``)."""
        self.how = how
        if self.quiet or how == "in memory":
            return
        if self.interactive:
            self._draw(f"running on {what} ...")
        else:
            print(f"running on {what}", flush=True)

    def epoch(self, done: int, values: dict[str, float], seconds: float | None = None) -> None:
        """``done`` epochs are finished; ``values`` to show (NaN ones are left
        out); the last epoch took ``seconds`` (default: the time since the last call)."""
        now = time.perf_counter()
        self.seconds.append(now - self._tick if seconds is None else seconds)
        self._tick = now
        seconds = self.seconds[-1]
        if self.quiet:
            return
        shown = [f"{name} {value:.4f}" for name, value in values.items() if value == value]
        status = "  ".join(shown)
        if self.interactive:
            self._draw(self._line(done, shown, shutil.get_terminal_size((100, 24)).columns - 1))
            return
        now = time.monotonic()
        if done in (1, self.epochs) or now - self._last_log >= self.log_every:
            self._last_log = now
            print(f"epoch {done}/{self.epochs}  {status}  {seconds:.3f} s", flush=True)

    def _line(self, done: int, shown: list[str], columns: int) -> str:
        """The bar's line in at most ``columns`` characters: the least useful
        parts go first (the bar, the rate, then values from the first on, the
        last, the validation score, kept longest), and only then is it cut."""
        head = f"epoch {done}/{self.epochs}"
        rate, left = self._rate(), self._rate(short=True)
        filled = 24 * done // self.epochs
        bar = "[" + "#" * filled + "-" * (24 - filled) + "]"
        candidates = [[head, bar, *shown, rate], [head, *shown, rate], [head, *shown, left]]
        candidates += [[head, *shown[k:], left] for k in range(1, len(shown))]
        candidates += [[head, *shown[-1:]], [head]]
        for parts in candidates:
            line = "  ".join(parts)
            if len(line) <= columns:
                return line
        return candidates[-1][0][:columns]

    def _rate(self, short: bool = False) -> str:
        # The first epoch loads or compiles the kernels: timing it in would
        # put the estimate off by the compile time for the whole run.
        steady = self.seconds[1:]
        if not steady:
            return f"{self.seconds[0]:.2f} s" if short else \
                f"{self.seconds[0]:.2f} s (first epoch: {_FIRST_EPOCH[self.how]})"
        per = statistics.median(steady[-20:])
        left = per * (self.epochs - len(self.seconds))
        rate = f"{per * 1000:.1f} ms" if per < 1 else f"{per:.2f} s"
        return f"{_clock(left)} left" if short else f"{rate}/epoch, {_clock(left)} left"

    def _draw(self, text: str) -> None:
        columns = shutil.get_terminal_size((100, 24)).columns
        sys.stderr.write("\r" + text[: columns - 1].ljust(columns - 1))
        sys.stderr.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._drawn = False


class Report:
    """``fit(verbose=True)``'s report of each epoch: the last values of the
    history, after a line naming the tier (``choice``, a ``_tiers.Choice``)."""

    def __init__(self, epochs: int, enabled: bool, choice=None):
        self.progress = Progress(epochs, quiet=not enabled)
        if choice is not None:
            self.progress.start(choice.how, choice.describe())
        self.done = 0

    def epoch(self, history: dict) -> None:
        self.done += 1
        self.progress.epoch(self.done, {k: v[-1] for k, v in history.items() if k != "lr"})

    def __enter__(self) -> "Report":
        return self

    def __exit__(self, *exc) -> None:  # the bar's line is ended however the fit ends
        self.progress.close()
