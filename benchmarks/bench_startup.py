"""The first result of a new user: wall seconds from process start to the
first call's result, each in a fresh process whose every cache folder is
empty (a copy of the package without compiled code, an empty
``NUMBA_CACHE_DIR`` and home), as a new install, container or CI run meets it.

``FirstCall`` runs with the default tier setting, ``auto``: small calls run
on the NumPy reference while a background process compiles (the process is
stopped once the result is in, so it does not load the next measurement).
``Compile`` times the compile itself (``FASTBP_TIER=wait``), and ``Warm``
a process whose cache holds every kernel.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time

import fastbp

_SMALL_FIT = """
    import numpy as np, fastbp
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((2000, 64)), rng.integers(0, 10, 2000)
    fastbp.Network([64, 32, 10], dtype="{dtype}", seed=0).fit(X, y, epochs=1, {extra})
"""
_ESTIMATOR = """
    import warnings, numpy as np
    from fastbp.sklearn import MLPClassifier
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((2000, 20)), rng.integers(0, 3, 2000)
    MLPClassifier({extra}random_state=0).fit(X, y)
"""
_TRAIN = """
    from fastbp.cli import main
    main(["train", "--quiet"])
"""
# After the call: say so, then stop the background compile this process started.
_DONE = """
    print("done", flush=True)
    import os, signal
    from fastbp import _worker
    for worker in _worker._mine:
        try:
            os.killpg(worker.pid, signal.SIGKILL)  # its own process group
        except OSError:
            pass
"""

CALLS = {
    "fit_float32": _SMALL_FIT.format(dtype="float32", extra=""),
    "fit_float32_adam": _SMALL_FIT.format(dtype="float32", extra="optimizer='adam', lr=1e-3"),
    "fit_float64": _SMALL_FIT.format(dtype="float64", extra=""),
    "fit_float64_adam": _SMALL_FIT.format(dtype="float64", extra="optimizer='adam', lr=1e-3"),
    "estimator": _ESTIMATOR.format(extra=""),
    "estimator_lbfgs": _ESTIMATOR.format(extra="solver='lbfgs', "),
    "train": _TRAIN,
}


def fresh_site() -> tuple[str, dict]:
    """A folder holding a copy of the package without compiled code, and the
    environment that makes a process use it with empty cache folders."""
    root = tempfile.mkdtemp(prefix="fastbp-asv-fresh-")
    shutil.copytree(os.path.dirname(fastbp.__file__), os.path.join(root, "site", "fastbp"),
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    os.makedirs(os.path.join(root, "home"))
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME", "FASTBP_TIER")}
    env.update(PYTHONPATH=os.path.join(root, "site"), HOME=os.path.join(root, "home"),
               NUMBA_CACHE_DIR=os.path.join(root, "cache"))
    return root, env


def first_result_seconds(code: str, env: dict) -> float:
    """Wall seconds from starting ``python -c code`` to its ``done`` line."""
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code) + textwrap.dedent(_DONE)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd="/")
    for line in proc.stdout:
        if line.strip() == "done":
            seconds = time.perf_counter() - t
            break
    else:
        raise RuntimeError(f"the call failed (exit {proc.wait()})")
    proc.wait()
    return seconds


class _FreshProcess:
    """A fresh process per measurement, on a copy of the package whose cache folders are empty."""

    number = 1
    repeat = 1
    timeout = 600
    unit = "seconds"
    tier = None  # the FASTBP_TIER of the measured process; None: the default

    def setup(self, *params):
        self.root, self.env = fresh_site()
        if self.tier:
            self.env["FASTBP_TIER"] = self.tier

    def teardown(self, *params):
        shutil.rmtree(self.root, ignore_errors=True)


class FirstCall(_FreshProcess):
    """Seconds to the first result from an empty cache, tier ``auto`` (the default)."""

    params = list(CALLS)
    param_names = ["call"]

    def track_seconds(self, call):
        return first_result_seconds(CALLS[call], self.env)


class Compile(_FreshProcess):
    """Seconds to the first result from an empty cache, compiling first
    (``FASTBP_TIER=wait``): what every first call cost before tiers."""

    params = ["fit_float32", "fit_float32_adam"]
    param_names = ["call"]
    tier = "wait"

    def track_seconds(self, call):
        return first_result_seconds(CALLS[call], self.env)


class Warm(_FreshProcess):
    """Seconds to the first result when the cache holds the kernels (a later process)."""

    def setup(self):
        super().setup()
        subprocess.run([sys.executable, "-m", "fastbp", "compile", "--dtype", "float32", "--kernels", "train_epoch"],
                       check=True, env=self.env, cwd="/", stdout=subprocess.DEVNULL)

    def track_fit_float32_seconds(self):
        return first_result_seconds(CALLS["fit_float32"], self.env)
