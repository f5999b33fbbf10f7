"""Tiered execution (fastbp._tiers): which tier runs a call, what each gives,
and the first call of a fresh process with an empty cache."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastbp
from fastbp import _tiers, _twins, _worker, reference

from conftest import copy_package, params_of



def _data(rng, n=96, n_in=5, n_out=3):
    return rng.normal(size=(n, n_in)), np.arange(n) % n_out


def test_the_suite_runs_the_kernels_not_the_reference(rng):
    """conftest sets 'wait': a Network compared with the reference runs compiled code."""
    assert _tiers.get_tier() == "wait"
    X, y = _data(rng)
    net = fastbp.Network([5, 4, 3], seed=0)
    history = net.fit(X, y, epochs=1)
    assert history.tier == "compiled" and net.last_tier == "compiled"
    net.predict(X)
    assert net.last_tier == "compiled"


def test_reference_tier_trains_as_the_reference_network(rng):
    X, y = _data(rng)
    for optimizer in ("sgd", "adam"):
        with _tiers.tier("reference"):
            net = fastbp.Network([5, 7, 3], activation="tanh", seed=3)
            history = net.fit(X, y, epochs=3, batch_size=16, lr=0.05, optimizer=optimizer, validation_split=0.2)
            out = net.forward(X)
        assert history.tier == "reference" and net.last_tier == "reference"
        twin = reference.Network([5, 7, 3], activation="tanh", seed=3)
        twin_history = twin.fit(X, y, epochs=3, batch_size=16, lr=0.05, optimizer=optimizer, validation_split=0.2)
        # The same functions on the same draws: identical, bit for bit.
        np.testing.assert_array_equal(params_of(net), params_of(twin), err_msg=optimizer)
        assert dict(history) == dict(twin_history)
        np.testing.assert_array_equal(out, twin.forward(X))
        # And the compiled tier within float rounding.
        compiled = fastbp.Network([5, 7, 3], activation="tanh", seed=3)
        compiled.fit(X, y, epochs=3, batch_size=16, lr=0.05, optimizer=optimizer, validation_split=0.2)
        np.testing.assert_allclose(params_of(compiled), params_of(net), rtol=1e-9, atol=1e-11, err_msg=optimizer)


def test_wait_runs_exactly_the_compiled_epochs(rng):
    """'wait' is today's behaviour bit for bit: the fit equals the compiled epoch
    kernels called directly with the same permutations."""
    from fastbp import _layout, kernels, optimizers

    X, y = _data(rng, n=100)
    for dtype, optimizer in (("float32", "sgd"), ("float64", "sgd"), ("float64", "adam"), ("float32", "momentum")):
        with _tiers.tier("wait"):
            net = fastbp.Network([5, 6, 4, 3], activation="relu", dtype=dtype, seed=11)
            start = params_of(net).copy()
            net.fit(X, y, epochs=3, batch_size=16, lr=0.01, optimizer=optimizer)
        replay = fastbp.Network([5, 6, 4, 3], activation="relu", dtype=dtype, seed=11)
        np.testing.assert_array_equal(params_of(replay), start)
        X_, Y_ = replay._XY(X, y)
        opt = optimizers.resolve(optimizer)
        state = opt.state_for(replay._params.size, replay._dtype)
        work = replay._workspace(16)
        grad = np.empty_like(replay._params)
        for _ in range(3):
            perm = replay._rng.permutation(100).astype(np.int64)
            if kernels.is_plain(opt.code, opt.hyper(1.0)):
                kernels.train_epoch(X_, Y_, perm, 16, replay._params, replay._size_codes, replay._act_codes,
                                    replay._loss_code, replay._dtype.type(0.01), work, replay._params[:0].copy())
            else:
                kernels.train_epoch_optim(X_, Y_, perm, 16, replay._params, replay._size_codes, replay._act_codes,
                                          replay._loss_code, opt.code, opt.hyper(0.01), opt.step_count, state, grad,
                                          work, replay._params[:0].copy())
                opt.step_count += -(-100 // 16)
        assert _layout.n_params(replay.sizes) == replay._params.size
        np.testing.assert_array_equal(params_of(net), params_of(replay), err_msg=f"{dtype} {optimizer}")


def test_a_bad_setting_is_a_clear_error(monkeypatch):
    with pytest.raises(ValueError, match="the tier must be one of auto, wait, reference, got 'fast'"):
        _tiers.set_tier("fast")
    with pytest.raises(ValueError, match="must be one of"):
        with _tiers.tier("never"):
            pass
    monkeypatch.setenv("FASTBP_TIER", "sometimes")
    monkeypatch.setattr(_tiers, "_setting", None)
    with pytest.raises(ValueError, match="FASTBP_TIER must be one of auto, wait, reference, got 'sometimes'"):
        fastbp.Network([2, 2]).forward(np.zeros((1, 2)))


def test_setting_order_and_public_functions(monkeypatch):
    monkeypatch.setattr(_tiers, "_setting", None)
    monkeypatch.setenv("FASTBP_TIER", "reference")
    assert fastbp.get_tier() == "reference"
    fastbp.set_tier("auto")
    try:
        assert fastbp.get_tier() == "auto"
        with fastbp.tier("wait"):
            assert fastbp.get_tier() == "wait"
            with fastbp.tier("reference"):
                assert fastbp.get_tier() == "reference"
            assert fastbp.get_tier() == "wait"
        assert fastbp.get_tier() == "auto"
    finally:
        monkeypatch.setattr(_tiers, "_setting", None)


def test_the_estimate_sends_small_calls_to_the_reference_and_large_ones_to_the_compiler():
    """The rule as calibrated: a first small fit (64-32-10, 2,000 rows), the
    command's digits run and the default estimator's fit are expected to
    finish on the reference before a compile would; config M for 10 epochs
    (60,000 x 784-256-128-10) is not, so it compiles first."""
    # Arithmetic on the calibrated rates, no clock: the rule, not a timing.
    estimate = _tiers.reference_seconds
    fit = _tiers.compile_seconds(["train_epoch"])
    assert estimate([64, 32, 10], 2000, batch_size=32, dtype="float32") < fit / 10
    assert estimate([64, 64, 10], 1213, epochs=30, batch_size=32, dtype="float32") < fit
    assert estimate([20, 100, 3], 2000, epochs=200, batch_size=200, stateful=True) < fit
    assert estimate([784, 256, 128, 10], 60000, epochs=10, batch_size=32, dtype="float32") > 3 * fit
    # More work never looks cheaper.
    small = estimate([10, 10, 2], 100, epochs=1, batch_size=10)
    assert small < estimate([10, 10, 2], 200, epochs=1, batch_size=10)
    assert small < estimate([10, 10, 2], 100, epochs=2, batch_size=10)
    assert small < estimate([10, 20, 2], 100, epochs=1, batch_size=10)
    assert small < estimate([10, 10, 2], 100, epochs=1, batch_size=10, stateful=True)


def test_auto_chooses_by_the_estimate_when_the_kernels_are_not_ready(monkeypatch):
    from fastbp import _jit

    started = []
    monkeypatch.setattr(_jit, "is_ready", lambda dispatcher, dtype: False)
    monkeypatch.setattr(_tiers, "_in_memory", set())  # nothing compiled in this process, as far as choose knows
    monkeypatch.setattr(_worker, "request", started.append)
    monkeypatch.setattr(_worker, "_failures", 0)
    warmed = []
    monkeypatch.setattr(_tiers, "warm", lambda dtype, kernels, **kw: warmed.append((dtype, tuple(kernels))))
    with _tiers.tier("auto"):
        small = _tiers.choose(np.dtype("float32"), ["train_epoch"], 0.5)
        large = _tiers.choose(np.dtype("float32"), ["train_epoch"], 500.0)
        ranks = _tiers.choose(np.dtype("float32"), ["batch_gradient"], 0.5, distributed=True)
    assert (small.tier, small.how) == ("reference", "reference") and small.backend is _twins and _twins.forward is reference.forward
    assert started == [[("float32", ["train_epoch", "forward", "loss_value"])]]
    assert (large.tier, large.how) == ("compiled", "compiled") and ranks.tier == "compiled"
    assert warmed == [("float32", ("train_epoch",)), ("float32", ("batch_gradient",))]
    with _tiers.tier("wait"):
        assert _tiers.choose(np.dtype("float64"), ["forward"], 0.001).tier == "compiled"
    with _tiers.tier("reference"):
        assert _tiers.choose(np.dtype("float64"), ["forward"], 1e9).tier == "reference"


def _python(code, env, root, timeout=600):
    """Run ``code`` on a copy of the package under ``root`` (empty cache folders)."""
    site = os.path.join(str(root), "site")
    if not os.path.isdir(site):
        copy_package(root)
    full = dict(os.environ, PYTHONPATH=site, HOME=os.path.join(str(root), "home"), **env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=full,
                          timeout=timeout, cwd="/")


def test_first_call_in_a_fresh_process_runs_on_the_reference_then_the_cache_serves(tmp_path):
    """auto with an empty cache: the call runs on the reference at once and a
    background process fills the cache; the next process loads the kernels."""
    code = """
        import json, numpy as np, fastbp
        from fastbp import _tiers
        net = fastbp.Network([6, 5, 2], dtype="float64", seed=0)
        out = net.forward(np.ones((4, 6)))
        net.forward(np.ones((4, 6)))  # said once, not at every call
        ended = _tiers.wait_for_background(timeout=400)
        print(json.dumps({"tier": net.last_tier, "ended": ended, "out": out.tolist()}))
    """
    env = {"FASTBP_TIER": "auto", "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    first = _python(code, env, tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    got = json.loads(first.stdout.splitlines()[-1])
    assert got["tier"] == "reference" and got["ended"]
    from fastbp._tiers import REFERENCE_NOTE

    assert first.stderr.count(REFERENCE_NOTE) == 1, first.stderr  # in Python, at WARNING, without logging set up
    second = _python(textwrap.dedent(code) + "from fastbp import kernels\nprint(len(kernels.forward.stats.cache_misses))\n",
                     env, tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    lines = second.stdout.splitlines()
    again = json.loads(lines[-2])
    assert again["tier"] == "compiled"
    assert lines[-1] == "0"  # loaded from the cache, not compiled
    assert REFERENCE_NOTE not in second.stderr
    np.testing.assert_allclose(again["out"], got["out"], rtol=1e-12)
    assert "Traceback" not in first.stderr + second.stderr


def test_foreground_compile_is_announced_once(tmp_path):
    code = """
        import logging, numpy as np, fastbp
        logging.basicConfig(level=logging.INFO, format="LOG %(name)s %(levelname)s %(message)s")
        net = fastbp.Network([3, 2], dtype="float32", seed=0)
        net.forward(np.ones((2, 3))); net.forward(np.ones((2, 3)))
        print(net.last_tier)
    """
    proc = _python(code, {"FASTBP_TIER": "wait", "NUMBA_CACHE_DIR": str(tmp_path / "cache")}, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    said = [ln for ln in proc.stderr.splitlines() if "compiling fastbp's kernels" in ln]
    assert len(said) == 1, proc.stderr
    assert said[0].startswith("LOG fastbp WARNING compiling fastbp's kernels for float32: first use only, about ")
    assert "`fastbp compile` does this ahead of time" in said[0]
    assert proc.stdout.split() == ["compiled"]


def test_readiness_is_the_exact_signature_and_the_other_variants_compile_announced(tmp_path):
    """After float32 dense and float64 sparse only: float64 dense (whose
    float32 entries take float64 loss arrays), float32 sparse and float64
    dense ``forward`` are reported missing (by the tiers and ``fastbp
    info``), and each then compiles with the announcement."""
    env = {"FASTBP_TIER": "wait", "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    first = _python("""
        from fastbp import _tiers
        _tiers.warm("float32", ["loss_value", "forward"], quiet=True)
        _tiers.warm("float64-sparse", ["forward"], quiet=True)
    """, env, tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    second = _python("""
        import json, logging, numpy as np, scipy.sparse as sp, fastbp
        from fastbp import _jit, _tiers, kernels
        from fastbp.cli import main
        ready = {f"{k} {key}": _jit.is_ready(getattr(kernels, k), _tiers.signature(k, key))
                 for k in ("loss_value", "forward") for key in ("float32", "float64", "float32-sparse", "float64-sparse")}
        print(json.dumps(ready))
        main(["info"])
        logging.basicConfig(level=logging.INFO, format="LOG %(message)s")
        X = np.ones((4, 3))
        fastbp.Network([3, 2], dtype="float64", seed=0).loss(X, [0, 1, 0, 1])
        fastbp.Network([3, 2], dtype="float32", seed=0).forward(sp.csr_matrix(X))
    """, env, tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    lines = second.stdout.splitlines()
    ready = json.loads(lines[0])
    assert ready == {"loss_value float32": True, "loss_value float64": False, "loss_value float32-sparse": True,
                     "loss_value float64-sparse": False, "forward float32": True, "forward float64": False,
                     "forward float32-sparse": False, "forward float64-sparse": True}
    cached = {ln.split()[0]: ln for ln in lines if "kernels cached:" in ln}
    assert "loss_value" in cached["float32"] and "forward" in cached["float32"]
    assert "loss_value" not in cached["float64"] and "forward" not in cached["float64"]
    said = [ln for ln in second.stderr.splitlines() if "compiling fastbp's kernels" in ln]
    assert len(said) == 2 and "for float64:" in said[0] and "for float32-sparse:" in said[1], second.stderr


def test_sparse_input_is_costed_by_its_stored_values():
    """A wide CSR fit that the reference runs in about a second is not
    costed as the dense product it is not (which would compile first)."""
    sizes, rows = [50_000, 100, 5], 2000
    stored = int(rows * 50_000 * 0.002)
    dense = _tiers.reference_seconds(sizes, rows, batch_size=32, dtype="float64")
    sparse = _tiers.reference_seconds(sizes, rows, batch_size=32, dtype="float64", stored=stored)
    assert sparse < dense / 3 and sparse < _tiers.compile_seconds(["train_epoch"])
    assert _tiers.reference_seconds(sizes, rows, training=False, stored=stored) < \
        _tiers.reference_seconds(sizes, rows, training=False) / 10
    # More stored values cost more.
    assert _tiers.reference_seconds(sizes, rows, batch_size=32, dtype="float64", stored=2 * stored) > sparse


def test_a_wide_sparse_fit_runs_on_the_reference_while_the_kernels_are_missing(monkeypatch):
    sp = pytest.importorskip("scipy.sparse")
    from fastbp import _jit

    monkeypatch.setattr(_jit, "is_ready", lambda dispatcher, signature: False)
    monkeypatch.setattr(_tiers, "_in_memory", set())
    monkeypatch.setattr(_worker, "request", lambda jobs: None)
    monkeypatch.setattr(_worker, "_failures", 0)
    X = sp.random(400, 50_000, density=0.002, format="csr", random_state=0)
    y = np.arange(400) % 3
    with _tiers.tier("auto"):
        history = fastbp.Network([50_000, 100, 3], seed=0).fit(X, y, epochs=1, batch_size=32)
    assert history.tier == "reference"


@pytest.mark.parametrize("x_sparse", [False, True])
def test_validation_data_of_the_other_kind_is_chosen_and_compiled_with_the_fit(monkeypatch, x_sparse):
    """Dense X with sparse validation data (or the reverse): the validation's
    forward and loss for that kind are part of the fit's choice, so they
    compile (announced) with the rest, not unannounced in the middle."""
    sp = pytest.importorskip("scipy.sparse")
    asked = []
    real = _tiers.choose

    def choose(key, kernels, estimate, **kw):
        asked.append((key, tuple(kernels), tuple(kw.get("also", ()))))
        return real(key, kernels, estimate, **kw)

    monkeypatch.setattr(_tiers, "choose", choose)
    rng = np.random.default_rng(0)
    X, Xv = rng.random((40, 6)), rng.random((10, 6))
    X, Xv = (sp.csr_matrix(X), Xv) if x_sparse else (X, sp.csr_matrix(Xv))
    with _tiers.tier("reference"):
        fastbp.Network([6, 4, 2], seed=0).fit(X, np.arange(40) % 2, epochs=1, validation_data=(Xv, np.arange(10) % 2))
    other = "float64" if x_sparse else "float64-sparse"
    assert asked[0] == ("float64-sparse" if x_sparse else "float64", ("train_epoch",),
                        ((other, ("forward", "loss_value")),))
    # The same kind: one key.
    asked.clear()
    with _tiers.tier("reference"):
        fastbp.Network([6, 4, 2], seed=0).fit(X, np.arange(40) % 2, epochs=1, validation_data=(X[:10], np.arange(10) % 2))
    assert asked[0][1:] == (("train_epoch", "forward", "loss_value"), ())


def test_choose_compiles_every_missing_variant_announced(monkeypatch):
    from fastbp import _jit

    monkeypatch.setattr(_jit, "is_ready", lambda dispatcher, signature: False)
    monkeypatch.setattr(_tiers, "_in_memory", set())
    warmed = []
    monkeypatch.setattr(_tiers, "warm", lambda key, kernels, **kw: warmed.append((key, tuple(kernels))))
    with _tiers.tier("wait"):
        choice = _tiers.choose("float32", ["train_epoch", "forward"], 1.0,
                               also=[("float32-sparse", ["forward", "loss_value"])])
    assert choice.how == "compiled"
    assert warmed == [("float32", ("train_epoch", "forward")), ("float32-sparse", ("forward", "loss_value"))]


@pytest.mark.parametrize("early_stopping, n_iter_no_change, max_iter, expected", [
    (False, 10, 200, 150), (True, 10, 200, 80), (True, 3, 200, 24), (False, 10, 50, 50), (True, 1000, 200, 200),
])
def test_the_estimators_cost_the_epochs_their_stopping_rule_allows(early_stopping, n_iter_no_change, max_iter,
                                                                   expected, monkeypatch):
    pytest.importorskip("sklearn")
    from fastbp.sklearn import EPOCHS_PER_PATIENCE, MLPClassifier

    est = MLPClassifier(early_stopping=early_stopping, n_iter_no_change=n_iter_no_change, max_iter=max_iter)
    assert est._expected_epochs() == min(max_iter, EPOCHS_PER_PATIENCE[early_stopping] * n_iter_no_change) == expected
    seen = []
    real = _tiers.reference_seconds

    def recorded(*args, **kw):
        if kw.get("training", True):
            seen.append(kw["epochs"])
        return real(*args, **kw)

    monkeypatch.setattr(_tiers, "reference_seconds", recorded)
    rng = np.random.default_rng(0)
    with _tiers.tier("reference"):
        est.fit(rng.random((60, 4)), np.arange(60) % 2)
    assert seen == [expected]


def test_a_first_call_from_an_empty_cache_does_not_import_numba(tmp_path):
    """Learning that nothing is cached takes a look at the folders, not
    Numba's import (a fifth of a second, a visible share of a first call)."""
    code = """
        import sys, numpy as np, fastbp
        from fastbp import _worker
        _worker.request = lambda jobs: None
        h = fastbp.Network([4, 3, 2], seed=0).fit(np.ones((8, 4)), np.arange(8) % 2, epochs=1)
        fastbp.Network([4, 3, 2], seed=0).predict(np.ones((2, 4)))
        print(h.tier, "numba" in sys.modules)
    """
    proc = _python(code, {"FASTBP_TIER": "auto", "NUMBA_CACHE_DIR": str(tmp_path / "cache")}, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["reference", "False"]
