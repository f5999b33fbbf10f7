"""The GEMM provider layer (fastbp.kernels._blas): every provider trains to the
default provider's weights; the kernels load where threadpoolctl is blind (as
with Apple Accelerate) or NumPy's BLAS exports no CBLAS; FASTBP_BLAS is checked.

The provider is chosen once per process, so each case runs in a subprocess.
The kernel/twin tests run under every provider from .ci/run
(``FASTBP_BLAS=... pytest tests/test_kernels.py``).
"""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fastbp.testing import TOLERANCES

PROVIDERS = ["numpy", "openblas", "scipy", "numba"]

# Simulations run before fastbp is imported, in the child process.
BLIND_THREADPOOLCTL = """
import threadpoolctl
# As on a Mac whose NumPy uses Accelerate: threadpoolctl finds no BLAS at all.
threadpoolctl.ThreadpoolController._load_libraries = lambda self: None
"""
NO_CBLAS_NAMES = """
import ctypes
_getitem = ctypes.CDLL.__getitem__
def _no_cblas(self, name):
    # As with a BLAS that exports no CBLAS under any name fastbp probes.
    if "cblas_" in name:
        raise AttributeError(name)
    return _getitem(self, name)
ctypes.CDLL.__getitem__ = _no_cblas
"""
NO_OPENBLAS_WHEEL = """
import sys
sys.modules["scipy_openblas32"] = None  # not installed
"""

TRAIN = """
import json, sys
import numpy as np
import fastbp
from fastbp.kernels import _blas
rng = np.random.default_rng(3)
X = rng.normal(size=(203, 9))
y = rng.integers(0, 4, size=203)
out = {"provider": _blas.PROVIDER.name, "summary": _blas.summary(), "threads": fastbp.get_num_threads()}
for dtype in DTYPES:
    net = fastbp.Network([9, 17, 11, 4], activation="tanh", dtype=dtype, seed=5)
    out[dtype] = net.fit(X, y, epochs=3, batch_size=16, lr=0.1, optimizer=OPTIMIZER)["loss"]
    np.savez(sys.argv[1] + "-" + dtype + ".npz", *net.weights, *net.biases)
print(json.dumps(out))
"""


# One training per provider, in one dtype (a compile of the epoch each): each
# provider's single- and double-precision GEMM calls are checked on their own
# by the kernel table under every provider (.ci/run, ``-m gemm``).
PROVIDER_DTYPES = {"numpy": ("float32", "float64"), "openblas": ("float32",), "scipy": ("float64",),
                   "numba": ("float32",)}


def _run(tmp_path, provider, prelude="", optimizer="sgd", check=True, dtypes=("float32", "float64")):
    env = dict(os.environ)
    env.pop("FASTBP_BLAS", None)
    if provider is not None:
        env["FASTBP_BLAS"] = provider
    code = prelude + TRAIN.replace("OPTIMIZER", repr(optimizer)).replace("DTYPES", repr(tuple(dtypes)))
    stem = str(tmp_path / f"{provider}-{abs(hash(prelude))}")
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code), stem], capture_output=True, text=True,
                          env=env, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads(proc.stdout.strip().splitlines()[-1]), stem
    return proc, stem


def _params(stem, dtype):
    with np.load(f"{stem}-{dtype}.npz") as f:
        return [f[k] for k in sorted(f.files, key=lambda k: int(k.split("_")[1]))]


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("default"), None)


def _assert_same_training(got, want, what):
    (g, g_stem), (w, w_stem) = got, want
    for dtype in [d for d in ("float32", "float64") if d in g]:
        tol = TOLERANCES[np.dtype(dtype)]
        np.testing.assert_allclose(g[dtype], w[dtype], rtol=tol["trained_rtol"], err_msg=f"{what}: loss, {dtype}")
        for i, (a, b) in enumerate(zip(_params(g_stem, dtype), _params(w_stem, dtype))):
            np.testing.assert_allclose(a, b, rtol=tol["trained_rtol"], atol=tol["trained_atol"],
                                       err_msg=f"{what}: parameter array {i}, {dtype}, shape {a.shape}")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_provider_trains_to_the_default_weights(provider, tmp_path, default_run):
    if provider == "openblas":
        pytest.importorskip("scipy_openblas32", reason="the openblas provider needs fastbp[openblas]")
    got = _run(tmp_path, provider, dtypes=PROVIDER_DTYPES[provider])
    assert got[0]["provider"] == provider
    assert got[0]["summary"].startswith(f"GEMM provider: {provider} ")
    _assert_same_training(got, default_run, f"FASTBP_BLAS={provider}")


def test_optimizer_epoch_under_the_fortran_convention(tmp_path):
    """scipy's Fortran GEMM (operands swapped, arguments by address) in the Adam epoch too."""
    _assert_same_training(_run(tmp_path, "scipy", optimizer="adam", dtypes=PROVIDER_DTYPES["scipy"]),
                          _run(tmp_path, "numpy", optimizer="adam", dtypes=PROVIDER_DTYPES["scipy"]), "adam")


def test_blind_threadpoolctl_still_loads_numpys_blas(tmp_path, default_run):
    """Where threadpoolctl sees no BLAS (Accelerate), NumPy's is found through NumPy itself."""
    got = _run(tmp_path, None, prelude=BLIND_THREADPOOLCTL)
    assert got[0]["provider"] == "numpy"
    assert "threads unknown" in got[0]["summary"]
    assert got[0]["threads"] >= 1
    _assert_same_training(got, default_run, "blind threadpoolctl")


def test_no_cblas_anywhere_falls_back_to_scipy(tmp_path, default_run):
    """Blind threadpoolctl and a BLAS without CBLAS names: auto takes SciPy's BLAS."""
    got = _run(tmp_path, None, prelude=BLIND_THREADPOOLCTL + NO_CBLAS_NAMES + NO_OPENBLAS_WHEEL,
               dtypes=PROVIDER_DTYPES["scipy"])
    assert got[0]["provider"] == "scipy"
    _assert_same_training(got, default_run, "no CBLAS: scipy")


def test_no_blas_at_all_falls_back_to_compiled_loops(tmp_path, default_run):
    no_scipy = "\nimport sys\nsys.modules['scipy.linalg.cython_blas'] = None\n"
    got = _run(tmp_path, None, prelude=BLIND_THREADPOOLCTL + NO_CBLAS_NAMES + NO_OPENBLAS_WHEEL + no_scipy,
               dtypes=PROVIDER_DTYPES["numba"])
    assert got[0]["provider"] == "numba" and got[0]["threads"] == 1
    _assert_same_training(got, default_run, "no BLAS: numba")


@pytest.mark.parametrize("value,message", [
    ("mkl", "FASTBP_BLAS='mkl' is not a GEMM provider; choose one of auto, numpy, openblas, scipy, numba"),
    ("numpy", "FASTBP_BLAS=numpy: no CBLAS sgemm/dgemm found in NumPy's BLAS"),
])
def test_bad_or_unavailable_provider_is_a_clear_error(value, message, tmp_path):
    prelude = NO_CBLAS_NAMES if value == "numpy" else ""
    proc, _ = _run(tmp_path, value, prelude=prelude, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr.strip().splitlines()[-1]


def test_compiled_code_is_cached_per_provider():
    from fastbp import kernels
    from fastbp.kernels import _blas

    folder, _ = kernels.cache_folder()
    assert os.path.basename(folder) == _blas.PROVIDER.key
    assert _blas.PROVIDER.key in ("numpy-64", "numpy-32", "openblas-32", "scipy-32", "numba")


def test_info_names_the_provider():
    proc = subprocess.run([sys.executable, "-m", "fastbp", "info"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("GEMM provider: "))
    from fastbp.kernels import _blas

    assert line.startswith(f"GEMM provider: {_blas.PROVIDER.name} (")
    assert "-bit ints" in line or _blas.PROVIDER.name == "numba"


def test_users_blas_variables_are_left_alone(tmp_path):
    """OPENBLAS_NUM_THREADS set by the user: fastbp neither changes the variable
    nor the BLAS's thread count unless fit(threads=...) asks."""
    code = textwrap.dedent("""
        import os, numpy as np, fastbp
        from fastbp.kernels import _blas
        net = fastbp.Network([4, 8, 2], seed=0)
        net.fit(np.random.default_rng(0).normal(size=(64, 4)), np.arange(64) % 2, epochs=1)
        print(os.environ["OPENBLAS_NUM_THREADS"], os.environ["OPENBLAS_CORETYPE"], fastbp.get_num_threads())
    """)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OPENBLAS_CORETYPE="Haswell", FASTBP_BLAS="numpy")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["1", "Haswell", "1"]
