import os

import numpy as np
import pytest

# Every test runs the compiled kernels (compiling in the foreground where the
# cache lacks them), never the reference in their place: a comparison of
# fastbp.Network with fastbp.reference.Network must not compare the reference
# with itself. Subprocesses inherit it; tests of the tiers set their own.
os.environ["FASTBP_TIER"] = "wait"

import fastbp  # noqa: E402

# Hypothesis draws the same examples on every run (CI's, a developer's), so a
# failure is reproducible and a pass is not luck of the draw;
# ``pytest --hypothesis-profile=explore`` draws new ones.
try:
    from hypothesis import settings as _hypothesis_settings
except ImportError:  # pragma: no cover - hypothesis is in the dev extra
    pass
else:
    _hypothesis_settings.register_profile("derandomized", derandomize=True, print_blob=True)
    _hypothesis_settings.register_profile("explore", derandomize=False)
    _hypothesis_settings.load_profile("derandomized")

#: The most test processes ``pytest -n auto`` starts: each holds its own
#: imports and compiled code, and the compile lock serialises what they share.
MAX_WORKERS = 4


def pytest_xdist_auto_num_workers(config):
    """Workers for ``-n auto``: the CPUs this process may use, at most ``MAX_WORKERS``."""
    return max(1, min(MAX_WORKERS, fastbp._validation.cpu_count()))


NETWORKS = [fastbp.Network, fastbp.reference.Network]


@pytest.fixture(params=NETWORKS, ids=["fastbp", "reference"])
def Net(request):
    """Each test using it runs against both implementations of the interface."""
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def python_sigint():
    """SIGINT answered by Python's own handler for the test, as in a terminal:
    a process started in the background by a non-interactive shell (``cmd &``,
    a CI runner's job) has SIGINT ignored, and Python then never sees Ctrl-C,
    by design (``fastbp._interrupts`` changes nothing there)."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def params_of(net) -> np.ndarray:
    """All of a network's parameters in one array, through its public interface."""
    return np.concatenate([a.ravel() for a in net.weights + net.biases])


def copy_package(root) -> str:
    """A copy of the fastbp package under ``root``, without compiled code, so
    that its cache folders start empty; returns the folder for PYTHONPATH."""
    import shutil

    parent = os.path.join(str(root), "site")
    shutil.copytree(os.path.dirname(fastbp.__file__), os.path.join(parent, "fastbp"),
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return parent
