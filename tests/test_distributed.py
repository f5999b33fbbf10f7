"""Data-parallel training over MPI: two ranks launched with mpiexec (tests/mpi_worker.py)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import params_of

import fastbp
from fastbp.testing import TOLERANCES

# One worker runs the MPI scenarios (a module fixture): not once per worker.
pytestmark = pytest.mark.xdist_group("distributed")

pytest.importorskip("mpi4py", reason="the distributed tests need the 'mpi' extra: pip install 'fastbp[mpi]'")


def _mpi_library_loads() -> str:
    """'' when mpi4py finds an MPI library (tried in a child: importing mpi4py.MPI initialises MPI), else why not."""
    proc = subprocess.run([sys.executable, "-c", "from mpi4py import MPI; print(MPI.Get_library_version())"],
                          capture_output=True, text=True, timeout=120)
    return "" if proc.returncode == 0 else (proc.stderr.strip().splitlines() or ["failed"])[-1]


def mpiexec() -> str:
    """mpiexec beside this Python (the mpich wheel puts it there, as impi-rt does on Windows), else on PATH.

    Where the 'mpi' extra promises an MPI (Linux, macOS: the mpich wheel), a
    missing one fails; on another platform the tests skip, saying why.
    """
    why = _mpi_library_loads()
    found = shutil.which("mpiexec", path=os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]))
    if not why and found:
        return found
    problem = why or "mpiexec not found"
    if sys.platform.startswith(("linux", "darwin")):
        pytest.fail(f"MPI unusable ({problem}): the 'mpi' extra installs MPICH here (pip install 'fastbp[mpi]')")
    pytest.skip(f"MPI unusable on {sys.platform} ({problem}); install an MPI that mpi4py finds (MS-MPI or impi-rt)")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Every scenario of mpi_worker.py, run once on 2 ranks: {scenario: [rank 0 dict, rank 1 dict]}."""
    out = tmp_path_factory.mktemp("mpi")
    worker = Path(__file__).with_name("mpi_worker.py")
    proc = subprocess.run([mpiexec(), "-n", "2", sys.executable, str(worker), str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = {}
    for f in sorted(out.glob("*.rank*.npz")):
        name, r = f.name[: -len(".rankN.npz")], int(f.name[-5])
        with np.load(f) as z:
            found.setdefault(name, [None, None])[r] = {k: z[k] for k in z.files}
    for name, ranks in found.items():
        for r, res in enumerate(ranks):
            assert res is not None, f"{name}: rank {r} wrote nothing"
            assert "crash" not in res, f"{name}, rank {r}:\n{res['crash']}"
    return found


def _tolerances(params):
    tol = TOLERANCES[params.dtype]
    return dict(rtol=tol["trained_rtol"], atol=tol["trained_atol"])


@pytest.mark.parametrize("scenario", [
    "equal_shards", "equal_shards_sgd_float32", "equal_shards_adam", "reference_network", "unequal_shards",
    "weighted", "validation_and_early_stopping", "sparse",
])
def test_ranks_equal_one_process_on_the_union_of_each_steps_shares(results, scenario):
    # (Ranks equal each other by construction: rank 0's parameters are
    # broadcast after every epoch. What is checked is rank 0 against one process.)
    r0, _ = results[scenario]
    np.testing.assert_allclose(r0["params"], r0["single"], **_tolerances(r0["params"]), err_msg=scenario)
    np.testing.assert_allclose(r0["loss"], r0["single_loss"], rtol=1e-5 if r0["params"].dtype == np.float32 else 1e-10)
    start = params_of(fastbp.Network([6, 9, 3], seed=0))
    assert not np.allclose(r0["params"], start.astype(r0["params"].dtype))  # it trained


def test_validation_is_global_and_every_rank_stops_together(results):
    r0, r1 = results["validation_and_early_stopping"]
    assert len(r0["loss"]) == len(r1["loss"]) == len(r0["single_loss"]) < 30  # stopped early, at one epoch
    np.testing.assert_allclose(r0["val_loss"], r0["single_val_loss"], rtol=1e-10)
    np.testing.assert_allclose(r0["val_accuracy"], r0["single_val_accuracy"], rtol=1e-12)
    np.testing.assert_array_equal(r0["params"], r1["params"])


def test_unequal_shards_run_until_every_shard_is_used(results):
    r0, _ = results["unequal_shards"]
    assert int(r0["steps"]) == 3 * 10  # ceil(47 / 5) steps per epoch, over 3 epochs


def test_shuffled_ranks_with_different_seeds_train(results):
    """Each rank draws its own order from its own seed (so the run differs from
    one in stored order), every rank ends with rank 0's parameters, and
    training converges."""
    r0, r1 = results["shuffled"]
    np.testing.assert_array_equal(r0["params"], r1["params"])
    assert not np.array_equal(r0["params"], r0["ordered"])
    assert r0["loss"][-1] < r0["loss"][0]


def test_local_sgd_switch(results):
    r0, _ = results["local_sgd_every_step_is_allreduce"]
    np.testing.assert_allclose(r0["params"], r0["single"], rtol=1e-10, atol=1e-12)
    assert r0["loss"][-1] < r0["loss"][0]


@pytest.mark.parametrize("scenario,words", [
    ("bad_width_on_rank_1", "rank 1 of 2: X has 5 features"),
    ("nan_on_rank_1", "rank 1 of 2: X contains NaN"),
    ("different_lr_on_rank_1", "rank 1 of 2: fit arguments differ from rank 0's"),
    ("other_networks_optimizer_on_rank_1", "rank 1 of 2: this SGD holds state for 43 float64 parameters"),
    ("injected_resolve", "rank 1 of 2: injected: optimizer"),
    ("injected_threads", "rank 1 of 2: injected: threads"),
    ("injected_workspace", "rank 1 of 2: MemoryError: injected: workspace"),
    ("injected_kernels", "rank 1 of 2: ImportError: injected: kernels"),
    # After training has started: a failure on one rank is every rank's, before the next collective.
    ("during_training_callback", "rank 1 of 2: RuntimeError: injected: callback"),
    ("during_training_schedule_raises", "rank 1 of 2: ZeroDivisionError: division by zero"),
    ("during_training_schedule_value", "rank 1 of 2: lr_schedule(1) must be a positive finite number, got nan"),
    ("validation_on_one_rank_only", "fit arguments differ from rank 0's"),
    ("balanced_class_weight", "class_weight='balanced' would count the classes of one rank's shard"),
])
def test_bad_input_on_one_rank_stops_every_rank_with_the_same_error(results, scenario, words):
    r0, r1 = results[scenario]
    assert str(r0["error"]) == str(r1["error"]), (r0["error"], r1["error"])
    assert words in str(r0["error"]), r0["error"]
    assert str(r0["kind"]) == "ValueError"
    # ... and no rank was left inside a collective: the scenario run after all
    # of these (a hang otherwise) trained on both ranks.
    start = params_of(fastbp.Network([6, 9, 3], seed=0))
    for r in results["after_errors_training_still_works"]:
        assert "crash" not in r and not np.allclose(r["params"], start)


def test_batch_larger_than_all_data_is_the_whole_data(results):
    r0, _ = results["batch_larger_than_all_data"]
    np.testing.assert_array_equal(r0["params"], r0["whole"])


def test_comm_must_be_a_communicator():
    X, y = np.zeros((4, 6)), np.zeros(4, dtype=int)
    with pytest.raises(ValueError, match="comm must be an mpi4py intracommunicator"):
        fastbp.Network([6, 3]).fit(X, y, comm="world")


def test_comm_without_mpi4py_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    X, y = np.zeros((4, 6)), np.zeros(4, dtype=int)
    with pytest.raises(ImportError, match=r"pip install 'fastbp\[mpi\]'"):
        fastbp.Network([6, 3]).fit(X, y, comm=object())


def test_average_every_needs_comm():
    with pytest.raises(ValueError, match="average_every .* needs comm="):
        fastbp.Network([6, 3]).fit(np.zeros((4, 6)), np.zeros(4, dtype=int), average_every=2)


def test_command_line_distributed_training(tmp_path):
    """mpiexec -n 2 fastbp train --distributed: one rank speaks and saves."""
    model = tmp_path / "m.npz"
    proc = subprocess.run([mpiexec(), "-n", "2", sys.executable, "-m", "fastbp", "train", "--distributed",
                           "--epochs", "10", "--out", str(model)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("test accuracy") == 1 and proc.stdout.count("model saved") == 1, proc.stdout
    assert "distributed: 2 ranks" in proc.stdout
    accuracy = float(proc.stdout.split("test accuracy: ")[1].split()[0])
    assert accuracy > 0.9
    assert fastbp.Network.load(model).sizes == (64, 64, 10)
    bad = subprocess.run([mpiexec(), "-n", "2", sys.executable, "-m", "fastbp", "train", "--distributed",
                          "--data", str(tmp_path / "none.csv"), "--target", "y"], capture_output=True, text=True,
                         timeout=300)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [f"error: no such file: {tmp_path / 'none.csv'}"], bad.stderr
