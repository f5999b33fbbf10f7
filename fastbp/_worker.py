"""The background compile: one low-priority worker per cache folder.

While a small call runs on the NumPy reference (``fastbp._tiers``), a worker
process (``fastbp compile --background``) fills the cache for the calls that
follow. The rules it keeps:

- **One at a time per cache folder**, across processes: the worker holds the
  folder's ``worker.lock`` for its life; a process starts none while it is
  held, and a worker that finds it held leaves at once (exit status
  :data:`DEFERRED`).
- **Reaped**: a thread of the starting process waits for its worker, so a
  finished one is never left a zombie.
- **Seen**: its output goes to ``worker.log`` in the cache folder; one that
  fails or is killed is noticed at the next call that needs its kernels:
  one warning naming the log, one more try, and after a second failure
  those calls compile in the foreground.
- **It goes on** after the process that started it exits (it is half done,
  and the next process loads what it finishes), and the process says so on
  exiting, with its PID and how to stop it.
- **It gives way**: it runs at the lowest priority, as an idle-class process
  where the platform has one, and lowers its scheduling group as well:
  Linux puts a new session in a group of its own, where ``nice`` alone only
  orders the worker against itself, not against the user's process.
"""
from __future__ import annotations

import atexit
import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Sequence

log = logging.getLogger("fastbp")

LOCK = "worker.lock"
LOG = "worker.log"
#: The worker's exit status when another worker holds the folder's lock.
DEFERRED = 3
#: Failures (non-zero exit or a signal) after which calls compile in the foreground.
MAX_FAILURES = 2
_LOCK_WAIT = 2.0  # seconds a starting worker waits out a probe of the lock


@dataclass
class Worker:
    process: subprocess.Popen
    jobs: tuple  # ((key, kernels), ...)
    log: str

    @property
    def running(self) -> bool:
        return self.process.returncode is None


_mine: list[Worker] = []
_failures = 0
_guard = threading.Lock()


def _folder() -> str | None:
    from . import _cache, _jit

    return _cache.writable_folder(_jit.cache_variant())


def can_start_python() -> bool:
    """Whether ``sys.executable`` is a Python that can run ``-m fastbp`` (not a
    frozen application or an embedding program)."""
    name = os.path.basename(sys.executable or "").lower()
    return not getattr(sys, "frozen", False) and name.startswith(("python", "pypy"))


def _held_elsewhere(folder: str) -> bool:
    """Whether a worker (of any process) holds ``folder``'s worker lock now."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock, the per-process rule only
        return False
    with open(os.path.join(folder, LOCK), "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return False


def given_up() -> bool:
    """Whether the workers failed :data:`MAX_FAILURES` times in this process
    (calls then compile in the foreground). Notices a worker that ended badly
    since the last look: one warning naming its log."""
    global _failures
    with _guard:
        for worker in [w for w in _mine if not w.running]:
            _mine.remove(worker)
            status = worker.process.returncode
            if status in (0, DEFERRED):
                continue
            _failures += 1
            how = f"was killed by signal {-status}" if status < 0 else f"failed (exit status {status})"
            then = ("starting it once more" if _failures < MAX_FAILURES
                    else "compiling in the foreground instead, at the next call that needs the kernels")
            log.warning("fastbp: the background compile (process %d) %s; its log: %s; %s",
                        worker.process.pid, how, worker.log, then)
        return _failures >= MAX_FAILURES


def request(jobs: Sequence[tuple[str, Sequence[str]]]) -> None:
    """Have ``jobs`` (``(key, kernels)`` pairs: ``fastbp._tiers.variant`` keys)
    compiled by a background worker, unless one is already at work on this
    cache folder (this process's or another's): the calls that follow ask
    again, and start one once it has gone. Nothing where no cache folder is
    writable or no Python can be started."""
    folder = _folder()
    if folder is None or not can_start_python():
        return
    with _guard:
        if any(w.running for w in _mine) or _held_elsewhere(folder):
            return
        spec = [f"{key}:{','.join(dict.fromkeys(kernels))}" for key, kernels in jobs]
        package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ, FASTBP_TIER="wait", PYTHONUNBUFFERED="1")
        path = os.path.join(folder, LOG)
        try:
            with open(path, "wb") as out:
                # From the package's parent folder, so the worker imports this same fastbp.
                process = subprocess.Popen(
                    [sys.executable, "-m", "fastbp", "compile", "--background", *spec],
                    cwd=package_parent, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    start_new_session=True, close_fds=True,
                )
        except OSError as exc:  # no fork allowed, no executable: the reference keeps serving
            log.info("fastbp: could not start the background compile: %s", exc)
            return
        _mine.append(Worker(process, tuple((key, tuple(kernels)) for key, kernels in jobs), path))
        # Reaped as soon as it ends, whatever this process is doing.
        threading.Thread(target=process.wait, name=f"fastbp-reaper-{process.pid}", daemon=True).start()
        log.info("fastbp: compiling in the background (process %d: %s); log: %s", process.pid, " ".join(spec), path)


def wait(timeout: float = 600.0) -> bool:
    """Wait for this process's workers; True if all ended."""
    deadline = time.monotonic() + timeout
    for worker in list(_mine):
        try:
            worker.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return False
    return True


@atexit.register
def _say_what_goes_on() -> None:
    """On exit, one line per worker still compiling: it goes on, and how to stop it."""
    for worker in _mine:
        if worker.running:
            log.warning("fastbp: the kernels' compile goes on in the background after this process (process %d, "
                        "lowest priority; log: %s); the next run uses them; `kill %d` stops it",
                        worker.process.pid, worker.log, worker.process.pid)
            # Detached on purpose (its own session): the system reaps it, so no "still running" warning.
            worker.process.returncode = 0


# -- the worker's side ---------------------------------------------------------

def give_way() -> None:
    """Lowest priority for this process: nice 19, the idle scheduling class,
    and (Linux autogroups) its session's group at nice 19 too."""
    with contextlib.suppress(AttributeError, OSError):
        os.nice(19)
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    with contextlib.suppress(OSError):
        with open("/proc/self/autogroup", "w") as f:
            f.write("19")


@contextlib.contextmanager
def holding_the_folder():
    """In the worker: hold the cache folder's worker lock for the block; yields
    False (do nothing) where another worker holds it."""
    folder = _folder()
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        fcntl = None
    if folder is None or fcntl is None:
        yield True
        return
    with open(os.path.join(folder, LOCK), "a+b") as handle:
        deadline = time.monotonic() + _LOCK_WAIT
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() > deadline:
                    yield False
                    return
                time.sleep(0.05)
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
