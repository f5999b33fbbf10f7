import numpy as np
import pytest

import fastbp

NETWORKS = [fastbp.Network, fastbp.reference.Network]


@pytest.fixture(params=NETWORKS, ids=["fastbp", "reference"])
def Net(request):
    """Each test using it runs against both implementations of the interface."""
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def params_of(net) -> np.ndarray:
    """All of a network's parameters in one array, through its public interface."""
    return np.concatenate([a.ravel() for a in net.weights + net.biases])
