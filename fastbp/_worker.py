"""The background compile: one low-priority worker per cache folder.

While a small call runs on the NumPy reference (``fastbp._tiers``), a worker
process (``fastbp compile --background``) fills the cache for the calls that
follow. The rules it keeps:

- **One at a time per cache folder**, across processes: the process that
  starts a worker takes the folder's ``worker.lock`` and hands it to the
  worker, which holds it for its life; a process starts none while it is
  held (a worker started by hand that finds it held leaves at once, exit
  status :data:`DEFERRED`).
- **Reaped**: a thread of the starting process waits for its worker, so a
  finished one is never left a zombie.
- **Seen**: its output goes to ``worker.log`` in the cache folder; one that
  fails or is killed is noticed at the next call that needs its kernels:
  one warning naming the log, one more try, and after a second failure
  those calls compile in the foreground.
- **It goes on** after the process that started it exits (it is half done,
  and the next process loads what it finishes), and the process says so on
  exiting, with its PID and how to stop it.
- **It gives way**: it enters the idle scheduling class where the platform
  has one, and nice 19, before it imports anything (a worker importing at
  normal priority slowed the first call beside it), in a process group
  of its own (Ctrl-C in the terminal does not reach it) but in the user's
  session: Linux gives each session a scheduling group of its own, against
  which the worker's own priority would not count.
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
from typing import Callable, Sequence

log = logging.getLogger("fastbp")

LOCK = "worker.lock"
LOG = "worker.log"
#: The descriptor on which a spawned worker inherits the held lock, and the
#: variable that tells it so.
LOCK_FD = 3
LOCK_ENV = "FASTBP_WORKER_LOCK_FD"
#: The worker's exit status when another worker holds the folder's lock.
DEFERRED = 3
#: Failures (non-zero exit or a signal) after which calls compile in the foreground.
MAX_FAILURES = 2


@dataclass
class Worker:
    pid: int
    jobs: tuple  # ((key, kernels), ...)
    log: str
    status: int | None = None  # exit status, negative for a signal: set by the reaper thread
    reaper: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.status is None

    def reap(self, wait: Callable[[], int]) -> None:
        """Wait for the worker (``wait``: its exit status) in a thread, so it is never left a zombie."""
        def run():
            self.status = wait()

        self.reaper = threading.Thread(target=run, name=f"fastbp-reaper-{self.pid}", daemon=True)
        self.reaper.start()


_mine: list[Worker] = []
_failures = 0
_guard = threading.Lock()


def _folder() -> str | None:
    """Where the worker's lock and log are: the writable cache folder's root
    (one worker for every GEMM provider's subfolder; found without Numba)."""
    from . import _cache

    return _cache.writable_folder("")


def can_start_python() -> bool:
    """Whether ``sys.executable`` is a Python that can run ``-m fastbp`` (not a
    frozen application or an embedding program)."""
    name = os.path.basename(sys.executable or "").lower()
    return not getattr(sys, "frozen", False) and name.startswith(("python", "pypy"))


def _take_lock(folder: str) -> int | None:
    """A descriptor holding ``folder``'s worker lock, for a worker to inherit;
    None if a worker (of any process) holds it. -1 where there are no locks."""
    from ._cache import try_lock

    if try_lock(None) is None:  # pragma: no cover - Windows: no lock, the per-process rule only
        return -1
    fd = os.open(os.path.join(folder, LOCK), os.O_RDWR | os.O_CREAT, 0o644)
    if not try_lock(fd):
        os.close(fd)
        return None
    return fd


def given_up() -> bool:
    """Whether the workers failed :data:`MAX_FAILURES` times in this process
    (calls then compile in the foreground). Notices a worker that ended badly
    since the last look: one warning naming its log."""
    global _failures
    with _guard:
        for worker in [w for w in _mine if not w.running]:
            _mine.remove(worker)
            status = worker.status
            if status in (0, DEFERRED):
                continue
            _failures += 1
            how = f"was killed by signal {-status}" if status < 0 else f"failed (exit status {status})"
            then = ("starting it once more" if _failures < MAX_FAILURES
                    else "compiling in the foreground instead, at the next call that needs the kernels")
            log.warning("fastbp: the background compile (process %d) %s; its log: %s; %s",
                        worker.pid, how, worker.log, then)
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
        if any(w.running for w in _mine):
            return
        lock = _take_lock(folder)
        if lock is None:
            return
        spec = [f"{key}:{','.join(dict.fromkeys(kernels))}" for key, kernels in jobs]
        path = os.path.join(folder, LOG)
        try:
            worker = _spawn([sys.executable, "-c", _WORKER, *spec], path, lock)
        except OSError as exc:  # no fork allowed, no executable: the reference keeps serving
            log.info("fastbp: could not start the background compile: %s", exc)
            return
        finally:
            if lock >= 0:
                os.close(lock)  # the worker's copy holds the lock now
        worker.jobs = tuple((key, tuple(kernels)) for key, kernels in jobs)
        _mine.append(worker)
        log.info("fastbp: compiling in the background (process %d: %s); log: %s", worker.pid, " ".join(spec), path)


def _spawn(argv: list[str], log_path: str, lock: int = -1) -> Worker:
    """Start ``argv`` as a worker: its own process group, output to
    ``log_path``, importing this same fastbp (its parent folder first on the
    path), holding ``lock`` (a descriptor, as :data:`LOCK_FD`); reaped by a thread."""
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.pathsep.join(p for p in (package_parent, os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, FASTBP_TIER="wait", PYTHONUNBUFFERED="1", PYTHONPATH=path)
    if hasattr(os, "posix_spawn"):
        actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_OPEN, 1, log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
                   (os.POSIX_SPAWN_DUP2, 1, 2)]
        if lock >= 0:  # dup2 leaves the copy open across exec
            actions.append((os.POSIX_SPAWN_DUP2, lock, LOCK_FD))
            env[LOCK_ENV] = str(LOCK_FD)
        pid = os.posix_spawn(argv[0], argv, env, file_actions=actions, setpgroup=0)
        worker = Worker(pid, (), log_path)
        worker.reap(lambda: os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
        return worker
    with open(log_path, "wb") as out:  # pragma: no cover - Windows
        process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                   creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
                                   | getattr(subprocess, "IDLE_PRIORITY_CLASS", 0))
    worker = Worker(process.pid, (), log_path)
    worker.reap(process.wait)
    return worker


def wait(timeout: float = 600.0) -> bool:
    """Wait for this process's workers; True if all ended."""
    deadline = time.monotonic() + timeout
    for worker in list(_mine):
        worker.reaper.join(max(0.0, deadline - time.monotonic()))
        if worker.running:
            return False
    return True


@atexit.register
def _say_what_goes_on() -> None:
    """On exit, one line per worker still compiling: it goes on, and how to stop it."""
    for worker in _mine:
        if worker.running:
            log.warning("fastbp: the kernels' compile goes on in the background after this process (process %d, "
                        "lowest priority; log: %s); the next run uses them; `kill %d` stops it",
                        worker.pid, worker.log, worker.pid)


# -- the worker's side ---------------------------------------------------------

#: The worker's program (``python -c``; its arguments the jobs): the lowest
#: priority first, then ``fastbp compile --background``.
_WORKER = """\
import contextlib, os, sys
with contextlib.suppress(AttributeError, OSError):
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
with contextlib.suppress(AttributeError, OSError):
    os.nice(19)
from fastbp.cli import main
sys.exit(main(["compile", "--background", *sys.argv[1:]]))
"""


@contextlib.contextmanager
def holding_the_folder():
    """In the worker: hold the cache folder's worker lock for the block (a
    spawned worker inherited it held); yields False (do nothing) where
    another worker holds it."""
    if os.environ.get(LOCK_ENV):
        yield True
        return
    folder = _folder()
    lock = -1 if folder is None else _take_lock(folder)
    if lock is None:
        yield False
        return
    try:
        yield True
    finally:
        if lock >= 0:
            os.close(lock)  # releases it
