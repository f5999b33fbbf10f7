"""The compile cache in the situations a real install meets (fastbp._cache):
a read-only package with no writable home, a cache built into a read-only
package by its owner (an image build), two processes compiling at once, and
``fastbp compile``/``fastbp info``.

Read-only folders are real: read-only bind mounts in a private mount
namespace (``unshare --mount``), which even root cannot write through. Where
the machine does not allow that, those tests skip and say why.
"""
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import textwrap

import pytest

from conftest import copy_package


FORWARD = """
    import json, numpy as np, fastbp
    from fastbp import kernels
    net = fastbp.Network([4, 3, 2], dtype="float64", seed=0)
    out = net.forward(np.ones((3, 4)))
    print(json.dumps({"tier": net.last_tier, "misses": len(kernels.forward.stats.cache_misses),
                      "hits": sum(kernels.forward.stats.cache_hits.values()), "sum": float(out.sum())}))
"""


def _can_mount_read_only() -> str | None:
    if shutil.which("unshare") is None:
        return "no unshare command"
    probe = tempfile.mkdtemp()
    try:
        proc = subprocess.run(["unshare", "--mount", "sh", "-c",
                               f"mount --bind {probe} {probe} && mount -o remount,bind,ro {probe} && "
                               f"! touch {probe}/x 2>/dev/null"], capture_output=True, timeout=30)
        return None if proc.returncode == 0 else "read-only bind mounts are not permitted here (unshare --mount)"
    finally:
        shutil.rmtree(probe, ignore_errors=True)


READ_ONLY_REASON = _can_mount_read_only()
needs_read_only = pytest.mark.skipif(READ_ONLY_REASON is not None, reason=str(READ_ONLY_REASON))


def _env(site, home, **extra):
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
    env.update(PYTHONPATH=site, HOME=home, FASTBP_TIER="wait", **extra)
    return env


def _run(code, env, read_only=(), args=None):
    """Run Python code (or ``args``) with the folders ``read_only`` mounted read-only."""
    argv = args or [sys.executable, "-c", textwrap.dedent(code)]
    if read_only:
        mounts = " && ".join(f"mount --bind {shlex.quote(p)} {shlex.quote(p)} && "
                             f"mount -o remount,bind,ro {shlex.quote(p)}" for p in read_only)
        argv = ["unshare", "--mount", "sh", "-c", f"{mounts} && exec {shlex.join(argv)}"]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600, cwd="/")


@needs_read_only
def test_read_only_install_without_a_writable_home(tmp_path):
    """No writable cache folder: one warning naming NUMBA_CACHE_DIR, never a traceback."""
    site = copy_package(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    env = _env(site, str(home))
    info = _run(None, env, read_only=[site, str(home)], args=[sys.executable, "-m", "fastbp", "info"])
    assert info.returncode == 0, info.stderr[-3000:]
    assert "none writable" in info.stdout and "read-only" in info.stdout
    proc = _run(FORWARD, env, read_only=[site, str(home)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    warned = [ln for ln in proc.stderr.splitlines() if "NUMBA_CACHE_DIR" in ln]
    assert len(warned) == 1, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1])["tier"] == "compiled"
    # auto: a small fit runs on the reference and starts no background compile (nowhere to keep it).
    fit = """
        import numpy as np, fastbp
        from fastbp import _worker
        h = fastbp.Network([4, 3, 2], seed=0).fit(np.ones((8, 4)), np.arange(8) % 2, epochs=1)
        print(h.tier, len(_worker._mine))
    """
    proc = _run(fit, dict(env, FASTBP_TIER="auto"), read_only=[site, str(home)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["reference", "0"]


@needs_read_only
def test_cache_built_into_a_read_only_package_is_used(tmp_path):
    """``fastbp compile`` run by the package's owner (an image build) fills the
    package's own cache; a process that cannot write there loads it."""
    site = copy_package(tmp_path)
    builder_home, user_home = tmp_path / "builder", tmp_path / "user"
    builder_home.mkdir()
    user_home.mkdir()
    built = _run(None, _env(site, str(builder_home)),
                 args=[sys.executable, "-m", "fastbp", "compile", "--dtype", "float64", "--kernels", "forward"])
    assert built.returncode == 0, built.stderr[-3000:]
    package_cache = os.path.join(site, "fastbp", "kernels", "__pycache__")
    assert f"cache: {package_cache}" in built.stdout
    assert "float64  forward" in built.stdout and "compiled" in built.stdout
    proc = _run(FORWARD, _env(site, str(user_home)), read_only=[site])
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.splitlines()[-1])
    assert got["tier"] == "compiled" and got["misses"] == 0 and got["hits"] == 1
    assert not any(files for _, _, files in os.walk(user_home)), "nothing compiled, so nothing written"


def test_two_processes_compile_once(tmp_path):
    """Two processes needing the same kernels at once: one compiles, the other
    waits for the cache's lock and loads the result."""
    env = _env(copy_package(tmp_path), str(tmp_path / "home"), NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(FORWARD)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env, cwd="/") for _ in range(2)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
        results.append(json.loads(out.splitlines()[-1]))
    assert sorted(r["misses"] > 0 for r in results) == [False, True], results
    assert results[0]["sum"] == results[1]["sum"]


def test_compile_command_and_info(tmp_path):
    cache = tmp_path / "cache"
    env = _env(copy_package(tmp_path), str(tmp_path / "home"), NUMBA_CACHE_DIR=str(cache))
    proc = subprocess.run([sys.executable, "-m", "fastbp", "compile", "--dtype", "float32", "--kernels", "loss_value"],
                          capture_output=True, text=True, env=env, timeout=600, cwd="/")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "float32  loss_value         compiled" in proc.stdout
    cache_line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("cache: "))
    assert cache_line.startswith(f"cache: {cache}") and " entries, " in cache_line and "MB)" in cache_line
    info = subprocess.run([sys.executable, "-m", "fastbp", "info"], capture_output=True, text=True, env=env,
                          timeout=120, cwd="/")
    assert info.returncode == 0, info.stderr[-3000:]
    # Exactly what was compiled: the float32 loss kernel (it takes a float64 loss
    # array, which is no float64 kernel), nothing for float64.
    assert "float32 kernels cached: loss_value (fastbp compile compiles the rest)" in info.stdout
    assert "float64 kernels cached: none" in info.stdout
    assert f"NUMBA_CACHE_DIR {cache}" in info.stdout and "in use, writable" in info.stdout
    again = subprocess.run([sys.executable, "-m", "fastbp", "compile", "--dtype", "float32", "--kernels", "loss_value"],
                           capture_output=True, text=True, env=env, timeout=600, cwd="/")
    assert "loss_value         loaded from the cache" in again.stdout


@pytest.mark.parametrize("argv,message", [
    (["compile", "--dtype", "float16"], "invalid choice: 'float16'"),
    (["compile", "--kernels", "everything"], "invalid choice: 'everything'"),
    (["compile", "--optimizers", "lion"], "invalid choice: 'lion'"),
])
def test_compile_command_refuses_bad_arguments(argv, message, capsys):
    from fastbp.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def _other_user_reason() -> str | None:
    """Why a process cannot run this Python as another user here, or None."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "needs root to start a process as another user"
    if shutil.which("setpriv") is None:
        return "no setpriv command"
    proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
                           "import numba"], capture_output=True, text=True, timeout=120, cwd="/")
    if proc.returncode != 0:
        return f"user nobody cannot run {sys.executable} with numba here (its folders are private to root)"
    return None


@pytest.mark.skipif(_other_user_reason() is not None, reason=str(_other_user_reason()))
def test_another_user_reads_the_cache_its_owner_built(tmp_path):
    """The image-build case with a real second user: root compiles into the
    package; user nobody, whose home does not exist, loads it."""
    root = tempfile.mkdtemp(dir="/tmp")
    os.chmod(root, 0o755)
    try:
        site = copy_package(root)
        built = _run(None, _env(site, os.path.join(root, "home")),
                     args=[sys.executable, "-m", "fastbp", "compile", "--dtype", "float64", "--kernels", "forward"])
        assert built.returncode == 0, built.stderr[-3000:]
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                os.chmod(os.path.join(dirpath, name), 0o755 if name in dirnames else 0o644)
        env = _env(site, "/nonexistent")
        proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
                               textwrap.dedent(FORWARD)], capture_output=True, text=True, env=env, timeout=600, cwd="/")
        assert proc.returncode == 0, proc.stderr[-3000:]
        got = json.loads(proc.stdout.splitlines()[-1])
        assert got["tier"] == "compiled" and got["misses"] == 0
        assert "Traceback" not in proc.stderr
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _entries(folder) -> list[str]:
    found = []
    for root, _, files in os.walk(folder):
        found += [f for f in files if f.endswith((".nbi", ".nbc"))]
    return found


def test_an_ordinary_run_leaves_the_installed_package_as_installed(tmp_path):
    """Code compiled by a call goes to the user's cache folder, so that
    ``pip uninstall`` removes the whole package; ``fastbp compile`` fills the
    package's own folder on purpose (an image build), which a later run reads."""
    site = copy_package(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    package_cache = os.path.join(site, "fastbp", "kernels", "__pycache__")
    proc = _run(FORWARD, _env(site, str(home)))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _entries(package_cache) == [], "an ordinary run wrote compiled code into the package"
    assert _entries(home), "nor did it keep it in the user's cache folder"
    shutil.rmtree(home)
    home.mkdir()
    compiled = _run(None, _env(site, str(home)), args=[sys.executable, "-m", "fastbp", "compile", "--kernels",
                                                          "forward", "--dtype", "float64"])
    assert compiled.returncode == 0, compiled.stderr[-3000:]
    assert any(e.startswith("forward.forward") for e in _entries(package_cache))
    again = json.loads(_run(FORWARD, _env(site, str(home))).stdout)
    assert again["misses"] == 0 and again["hits"] >= 1  # loaded from the package's folder


@pytest.mark.parametrize("content", [b"", b"garbage\x00\x01"], ids=["empty", "garbage"])
def test_a_corrupt_cache_index_is_rebuilt_not_a_crash(tmp_path, content):
    site = copy_package(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    env = _env(site, str(home))
    first = _run(FORWARD, env)
    assert first.returncode == 0, first.stderr[-3000:]
    indexes = [os.path.join(d, f) for d, _, files in os.walk(home) for f in files if f.endswith(".nbi")]
    assert indexes
    for index in indexes:
        with open(index, "wb") as f:
            f.write(content)
    proc = _run(FORWARD, env)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert json.loads(proc.stdout)["sum"] == json.loads(first.stdout)["sum"]
    assert "unreadable" in proc.stderr and "rebuilt" in proc.stderr
    again = json.loads(_run(FORWARD, env).stdout)  # the rebuilt cache serves the next process
    assert again["misses"] == 0 and again["hits"] >= 1


def test_the_compile_lock_never_reports_a_lock_it_does_not_hold(caplog, monkeypatch, tmp_path):
    """Held by another process: ``wait=False`` yields False at once; waiting
    past the timeout yields False too (the compile goes on without it, said
    once), never True; held here, an inner block yields True."""
    from fastbp import _cache

    monkeypatch.setattr(_cache, "numba_cache_dir", lambda: str(tmp_path))  # the first folder, and writable
    variant = "lock-test"
    folder = _cache.writable_folder(variant)
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import fcntl, os, sys, time
        f = open(os.path.join({folder!r}, {_cache.LOCK_NAME!r}), "a+b")
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        print("held", flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with _cache.compile_lock(variant, wait=False) as held:
            assert held is False
        with caplog.at_level("WARNING", logger="fastbp"):
            with _cache.compile_lock(variant, timeout=0.3) as held:
                assert held is False
        assert "compiling without it" in caplog.text
    finally:
        holder.kill()
        holder.wait()
    with _cache.compile_lock(variant, timeout=5) as held:
        assert held is True
        with _cache.compile_lock(variant) as inner:
            assert inner is True
