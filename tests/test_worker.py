"""The background compile's worker (``fastbp._worker``): one per cache
folder, reaped, logged, noticed when it fails or is killed, retried once and
then replaced by a foreground compile; it says on exit that it goes on."""
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from fastbp import _jit, _tiers, _worker

from conftest import copy_package

fcntl = pytest.importorskip("fcntl")


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """No workers of this process yet, a cache folder of its own, Popen recorded."""
    started = []
    monkeypatch.setattr(_worker, "_mine", [])
    monkeypatch.setattr(_worker, "_failures", 0)
    monkeypatch.setattr(_worker, "_folder", lambda: str(tmp_path))
    monkeypatch.setattr(_worker, "can_start_python", lambda: True)
    return started


def _spawn(started, status):
    """A spawn that records the command; its worker has ended with ``status``
    (negative: killed by that signal), or runs on (None)."""
    def spawn(argv, log_path, lock=-1):
        started.append(argv)
        return _worker.Worker(4242, (), log_path, status)
    return spawn


def test_one_worker_at_a_time_per_process(fresh, monkeypatch):
    monkeypatch.setattr(_worker, "_spawn", _spawn(fresh, None))  # never ends
    for _ in range(5):
        _worker.request([("float32", ["train_epoch", "forward"])])
    assert len(fresh) == 1
    assert fresh[0][1:2] == ["-c"] and fresh[0][-1] == "float32:train_epoch,forward"
    _worker._mine.clear()


def test_no_worker_while_another_process_holds_the_folder(fresh, monkeypatch, tmp_path):
    monkeypatch.setattr(_worker, "_spawn", _spawn(fresh, 0))
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import fcntl, sys, time
        handle = open({str(tmp_path / _worker.LOCK)!r}, "a+b")
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        print("held", flush=True)
        sys.stdin.readline()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        _worker.request([("float32", ["forward"])])
        assert fresh == []  # another process's worker holds the folder
    finally:
        holder.communicate("\n", timeout=60)
    _worker.request([("float32", ["forward"])])
    assert len(fresh) == 1  # free again: started


@pytest.mark.parametrize("status, said", [(-9, "was killed by signal 9"), (1, "failed (exit status 1)")])
def test_a_failed_worker_is_noticed_retried_once_then_the_foreground_compiles(fresh, monkeypatch, caplog, status,
                                                                              said):
    monkeypatch.setattr(_worker, "_spawn", _spawn(fresh, status))
    monkeypatch.setattr(_tiers, "_in_memory", set())
    monkeypatch.setattr(_jit, "is_ready", lambda dispatcher, signature: False)
    warmed = []
    monkeypatch.setattr(_tiers, "warm", lambda key, kernels, **kw: warmed.append((key, tuple(kernels))))
    caplog.set_level(logging.WARNING, logger="fastbp")
    with _tiers.tier("auto"):
        first = _tiers.choose("float32", ["train_epoch"], 0.01)  # starts a worker, which ends badly
        second = _tiers.choose("float32", ["train_epoch"], 0.01)  # noticed: warned, started again
        third = _tiers.choose("float32", ["train_epoch"], 0.01)  # failed twice: compiled here
        fourth = _tiers.choose("float32", ["train_epoch"], 0.01)
    assert [c.tier for c in (first, second, third, fourth)] == ["reference", "reference", "compiled", "compiled"]
    assert len(fresh) == 2 and warmed == [("float32", ("train_epoch",))] * 2
    warnings = [r.getMessage() for r in caplog.records if "background compile" in r.getMessage()]
    assert len(warnings) == 2
    assert said in warnings[0] and "its log: " in warnings[0] and "starting it once more" in warnings[0]
    assert "compiling in the foreground instead" in warnings[1]


def test_a_worker_deferring_to_another_is_no_failure(fresh, monkeypatch):
    monkeypatch.setattr(_worker, "_spawn", _spawn(fresh, _worker.DEFERRED))
    for _ in range(3):
        _worker.request([("float64", ["forward"])])
        assert not _worker.given_up()
    assert len(fresh) == 3 and _worker._failures == 0


def _python(code, env, root, timeout=600, extra=()):
    site = os.path.join(str(root), "site")
    if not os.path.isdir(site):
        copy_package(root)
    full = dict(os.environ, PYTHONPATH=site, HOME=os.path.join(str(root), "home"), **env)
    return subprocess.run([sys.executable, *extra, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=full, timeout=timeout, cwd="/")


def _stop(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_a_real_worker_is_reaped_logged_low_priority_and_alone(tmp_path):
    """From an empty cache: a request (a small fit makes it) starts one
    worker, at the idle priority, logging to the cache folder; a second
    process meanwhile starts none; when it ends it is reaped without any wait
    by the user's code. (Small kernels, so that the test waits seconds.)"""
    cache = tmp_path / "cache"
    env = {"FASTBP_TIER": "auto", "NUMBA_CACHE_DIR": str(cache)}
    code = """
        import json, os, time, numpy as np, fastbp
        from fastbp import _worker
        _worker.request([("float64", ["forward", "loss_value"])])
        worker = _worker._mine[0]
        pid = worker.pid
        # At once, while the worker (which holds the folder's lock from its spawn) has barely started.
        other = __import__("subprocess").run(
            [__import__("sys").executable, "-c", "from fastbp import _worker; "
             "_worker.request([('float64', ['loss_value'])]); print(len(_worker._mine))"],
            capture_output=True, text=True)
        while worker.running and os.path.getsize(worker.log) == 0:  # until its first line: past its prelude
            time.sleep(0.05)
        policy = os.sched_getscheduler(pid)
        group, session = os.getpgid(pid), os.getsid(pid)
        deadline = time.monotonic() + 400
        while worker.running and time.monotonic() < deadline:  # the reaper thread sets returncode
            time.sleep(0.2)
        print(json.dumps({"pid": pid, "idle": policy == os.SCHED_IDLE, "own_group": group == pid,
                          "same_session": session == os.getsid(0),
                          "other": other.stdout.split(), "status": worker.status,
                          "zombie": os.path.exists(f"/proc/{pid}"), "log": worker.log}))
    """
    proc = _python(code, env, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.splitlines()[-1])
    try:
        # Idle class from its start; its own process group (no Ctrl-C from the terminal) in the user's
        # session (Linux schedules each session as a group: in another, its priority would not count).
        assert got["idle"] and got["own_group"] and got["same_session"], got
        assert got["other"] == ["0"], got  # the second process left the compile to the first one's worker
        assert got["status"] == 0 and not got["zombie"]
        assert got["log"].startswith(str(cache)) and os.path.basename(got["log"]) == _worker.LOG
        with open(got["log"]) as f:
            lines = f.read().splitlines()
        assert lines[0].startswith("fastbp compile --background, process") and lines[-1] == "done", lines
    finally:
        _stop(got["pid"])


def test_a_process_exiting_before_its_worker_says_it_goes_on(tmp_path):
    env = {"FASTBP_TIER": "auto", "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    code = """
        import numpy as np, fastbp
        fastbp.Network([4, 3, 2], seed=0).fit(np.ones((8, 4)), np.arange(8) % 2, epochs=1)
    """
    proc = _python(code, env, tmp_path, extra=("-W", "default"))
    lines = [ln for ln in proc.stderr.splitlines() if "goes on in the background" in ln]
    assert proc.returncode == 0 and len(lines) == 1, proc.stderr
    pid = int(lines[0].split("(process ")[1].split(",")[0])
    try:
        assert f"`kill {pid}` stops it" in lines[0] and _worker.LOG in lines[0]
        assert "ResourceWarning" not in proc.stderr and "still running" not in proc.stderr
    finally:
        _stop(pid)
