"""fastbp.sklearn.GridSearchCV / RandomizedSearchCV: the results of
scikit-learn's searches over the same estimators, a pipeline's earlier steps
fitted once per fold, and scikit-learn's own path for everything else."""
import warnings

import numpy as np
import pytest
from scipy.stats import loguniform
from sklearn import model_selection as sk
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.datasets import load_digits, make_regression
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import fastbp.sklearn as fsk
from fastbp.sklearn import _search


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:360], y[:360]


def _assert_same_search(ours, theirs):
    """Every entry of cv_results_ but the timings, and the best candidate,
    equal; nothing of the search's stand-ins kept (they hold every fitted candidate)."""
    import pickle

    kept = pickle.dumps(ours)
    assert b"_Fitted" not in kept and b"_Answers" not in kept and b"_Transformed" not in kept
    fitted = {k: type(v) for k, v in vars(ours).items() if k.endswith("_")}
    assert fitted == {k: type(v) for k, v in vars(theirs).items() if k.endswith("_")}
    assert sorted(vars(ours)) == sorted(vars(theirs))
    assert sorted(ours.cv_results_) == sorted(theirs.cv_results_)
    for key, theirs_values in theirs.cv_results_.items():
        if key.endswith("_time"):
            assert np.all(np.asarray(ours.cv_results_[key]) >= 0), key
            continue
        a, b = np.asarray(ours.cv_results_[key]), np.asarray(theirs_values)
        if a.dtype == object or b.dtype == object:
            assert list(a) == list(b), key
        else:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=0, err_msg=key)
    for name in ("best_index_", "best_params_", "best_score_", "n_splits_", "multimetric_"):
        if hasattr(theirs, name):
            assert getattr(ours, name) == getattr(theirs, name), name


CLASSIFIER_CASES = {
    "pipeline, early stopping, two metrics": dict(
        estimator=lambda: make_pipeline(StandardScaler(), fsk.MLPClassifier(
            hidden_layer_sizes=(12,), max_iter=12, early_stopping=True, random_state=0)),
        grid={"mlpclassifier__alpha": [1e-4, 1e-2], "mlpclassifier__learning_rate_init": [1e-3, 1e-2],
              "standardscaler__with_mean": [True, False]},
        search=dict(scoring=["accuracy", "neg_log_loss"], refit="accuracy", return_train_score=True),
    ),
    "sgd, adaptive rate, momentum": dict(
        estimator=lambda: fsk.MLPClassifier(hidden_layer_sizes=(10,), solver="sgd", learning_rate="adaptive",
                                            max_iter=15, random_state=1),
        grid={"momentum": [0.0, 0.9], "learning_rate_init": [0.01, 0.1], "hidden_layer_sizes": [(10,), (6, 4)]},
        search=dict(),
    ),
}


@pytest.mark.parametrize("n_jobs", [None, 2])
@pytest.mark.parametrize("case", list(CLASSIFIER_CASES), ids=list(CLASSIFIER_CASES))
def test_grid_search_equals_scikit_learns(digits, case, n_jobs):
    X, y = digits
    spec = CLASSIFIER_CASES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning from the short fits, alike in both
        theirs = sk.GridSearchCV(spec["estimator"](), spec["grid"], cv=3, **spec["search"]).fit(X, y)
        ours = fsk.GridSearchCV(spec["estimator"](), spec["grid"], cv=3, n_jobs=n_jobs, **spec["search"]).fit(X, y)
    _assert_same_search(ours, theirs)
    assert type(ours.best_estimator_) is type(theirs.best_estimator_)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-12)


def test_randomized_search_draws_scikit_learns_candidates_from_numpys_global_generator(digits):
    X, y = digits
    estimator = fsk.MLPClassifier(hidden_layer_sizes=(6,), max_iter=4, random_state=0)
    space = {"alpha": loguniform(1e-5, 1e-1), "learning_rate_init": loguniform(1e-3, 1e-1)}
    cv = KFold(3, shuffle=True)  # its folds drawn from the global generator too, after the candidates
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.random.seed(5)
        theirs = sk.RandomizedSearchCV(estimator, space, n_iter=3, cv=cv).fit(X, y)
        after_theirs = np.random.random()
        np.random.seed(5)
        ours = fsk.RandomizedSearchCV(estimator, space, n_iter=3, cv=cv).fit(X, y)
        after_ours = np.random.random()
    _assert_same_search(ours, theirs)
    assert after_ours == after_theirs  # the global generator advanced as by scikit-learn's search


def test_randomized_search_equals_scikit_learns_with_a_splitter_and_groups():
    X, y = make_regression(n_samples=240, n_features=8, noise=5.0, random_state=0)
    groups = np.arange(X.shape[0]) % 6
    estimator = make_pipeline(StandardScaler(), fsk.MLPRegressor(hidden_layer_sizes=(8,), max_iter=20,
                                                                 random_state=3))
    space = {"mlpregressor__alpha": loguniform(1e-5, 1e-1), "mlpregressor__learning_rate_init": [1e-3, 1e-2, 3e-2]}
    for cv, fit in ((KFold(3, shuffle=True, random_state=0), {}), (GroupKFold(3), {"groups": groups})):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = sk.RandomizedSearchCV(estimator, space, n_iter=5, cv=cv, random_state=7).fit(X, y, **fit)
            ours = fsk.RandomizedSearchCV(estimator, space, n_iter=5, cv=cv, random_state=7).fit(X, y, **fit)
        _assert_same_search(ours, theirs)
        np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-12)


FITS, TRANSFORMS = [], []


class CountingScaler(TransformerMixin, BaseEstimator):
    """StandardScaler that notes each fit and each transform."""

    def __init__(self, with_mean=True):
        self.with_mean = with_mean

    def fit(self, X, y=None):
        FITS.append(self.with_mean)
        self.scaler_ = StandardScaler(with_mean=self.with_mean).fit(X)
        return self

    def transform(self, X):
        TRANSFORMS.append(X.shape[0])
        return self.scaler_.transform(X)


def test_earlier_steps_are_fitted_once_per_fold_and_setting(digits):
    X, y = digits
    estimator = make_pipeline(CountingScaler(), fsk.MLPClassifier(hidden_layer_sizes=(8,), max_iter=5,
                                                                  random_state=0))
    grid = {"countingscaler__with_mean": [True, False], "mlpclassifier__alpha": [1e-4, 1e-3, 1e-2]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        FITS.clear(), TRANSFORMS.clear()
        theirs = sk.GridSearchCV(estimator, grid, cv=4).fit(X, y)
        theirs_fits, theirs_transforms = len(FITS), len(TRANSFORMS)
        FITS.clear(), TRANSFORMS.clear()
        ours = fsk.GridSearchCV(estimator, grid, cv=4).fit(X, y)
    assert theirs_fits == 6 * 4 + 1  # every candidate on every fold, and the refit
    assert len(FITS) == 2 * 4 + 1  # each setting of the earlier step once per fold, and the refit
    # Transforms: of the training rows (fit_transform) and, for scoring, the test rows:
    assert theirs_transforms == 2 * 6 * 4 + 1  # per candidate and fold
    assert len(TRANSFORMS) == 2 * 2 * 4 + 1  # per setting and fold: scoring found the test rows' transform
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        TRANSFORMS.clear()
        theirs = sk.GridSearchCV(estimator, grid, cv=4, return_train_score=True).fit(X, y)
        theirs_transforms = len(TRANSFORMS)
        TRANSFORMS.clear()
        ours = fsk.GridSearchCV(estimator, grid, cv=4, return_train_score=True).fit(X, y)
    assert theirs_transforms == 3 * 6 * 4 + 1
    assert len(TRANSFORMS) == 2 * 2 * 4 + 6 * 4 + 1  # the training rows' scores transform them again
    _assert_same_search(ours, theirs)
    _assert_same_search(ours, theirs)


class Refusing(TransformerMixin, BaseEstimator):
    """An earlier step whose fit fails when asked to (``refuse=True``)."""

    def __init__(self, refuse=False):
        self.refuse = refuse

    def fit(self, X, y=None):
        if self.refuse:
            raise ValueError("refused, as asked")
        return self

    def transform(self, X):
        return X


def test_failing_earlier_steps_fail_their_candidates_as_in_scikit_learn(digits):
    X, y = digits
    estimator = make_pipeline(Refusing(), StandardScaler(), fsk.MLPClassifier(hidden_layer_sizes=(6,), max_iter=4,
                                                                              random_state=0))
    grid = {"refusing__refuse": [False, True], "mlpclassifier__alpha": [1e-4, 1e-2]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = sk.GridSearchCV(estimator, grid, cv=3, error_score=np.nan).fit(X, y)
        ours = fsk.GridSearchCV(estimator, grid, cv=3, error_score=np.nan, n_jobs=2).fit(X, y)
    assert np.isnan(ours.cv_results_["mean_test_score"]).sum() == 2
    _assert_same_search(ours, theirs)


def test_failing_candidates_are_scored_as_scikit_learn_scores_them(digits):
    X, y = digits
    estimator = fsk.MLPClassifier(hidden_layer_sizes=(6,), max_iter=5, random_state=0)
    grid = {"alpha": [1e-4, -1.0], "learning_rate_init": [0.01]}  # alpha < 0: refused by the estimator's fit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = sk.GridSearchCV(estimator, grid, cv=3, error_score=np.nan).fit(X, y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours = fsk.GridSearchCV(estimator, grid, cv=3, error_score=np.nan).fit(X, y)
    assert any(issubclass(w.category, FitFailedWarning) for w in caught)
    assert np.isnan(ours.cv_results_["mean_test_score"][1])
    _assert_same_search(ours, theirs)
    with pytest.raises(ValueError, match="alpha"):
        fsk.GridSearchCV(estimator, grid, cv=3, error_score="raise").fit(X, y)


def test_other_estimators_and_fit_parameters_take_scikit_learns_path(digits, monkeypatch):
    X, y = digits

    def refuse(*args, **kwargs):
        raise AssertionError("the two-phase path ran")

    monkeypatch.setattr(_search, "_fit_networks", refuse)
    monkeypatch.setattr(_search, "_fit_earlier", refuse)
    Xs = StandardScaler().fit_transform(X)
    theirs = sk.GridSearchCV(LogisticRegression(max_iter=200), {"C": [0.1, 1.0]}, cv=3).fit(Xs, y)
    ours = fsk.GridSearchCV(LogisticRegression(max_iter=200), {"C": [0.1, 1.0]}, cv=3).fit(Xs, y)
    _assert_same_search(ours, theirs)
    w = np.linspace(0.5, 1.5, X.shape[0])
    net = fsk.MLPClassifier(hidden_layer_sizes=(6,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = sk.GridSearchCV(net, {"alpha": [1e-4, 1e-2]}, cv=3).fit(Xs, y, sample_weight=w)
        ours = fsk.GridSearchCV(net, {"alpha": [1e-4, 1e-2]}, cv=3).fit(Xs, y, sample_weight=w)
    _assert_same_search(ours, theirs)


def test_bad_settings_are_refused_before_any_fit(digits, monkeypatch):
    X, y = digits
    monkeypatch.setattr(_search, "_fit_networks", lambda *a, **k: pytest.fail("fitted before checking"))
    monkeypatch.setattr(_search, "_fit_earlier", lambda *a, **k: pytest.fail("fitted before checking"))
    net = fsk.MLPClassifier(max_iter=5)
    with pytest.raises(ValueError, match="n_jobs|cv"):
        fsk.GridSearchCV(net, {"alpha": [1e-4]}, cv="three").fit(X, y)
    with pytest.raises((ValueError, TypeError), match="[Pp]arameter grid"):
        fsk.GridSearchCV(net, {"alpha": 1e-4}, cv=3).fit(X, y)


def test_a_dask_cluster_runs_the_tasks(digits):
    distributed = pytest.importorskip("dask.distributed")
    from joblib import parallel_config

    X, y = digits
    estimator = make_pipeline(StandardScaler(), fsk.MLPClassifier(hidden_layer_sizes=(8,), max_iter=5,
                                                                  random_state=0))
    grid = {"mlpclassifier__alpha": [1e-4, 1e-2]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = sk.GridSearchCV(estimator, grid, cv=3).fit(X, y)
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                      dashboard_address=None) as cluster, distributed.Client(cluster) as client:
            with parallel_config(backend="dask"), distributed.get_task_stream(client) as stream:
                ours = fsk.GridSearchCV(estimator, grid, cv=3, n_jobs=-1).fit(X, y)
    ran = {stage for task in stream.data for stage in ("_fit_earlier", "_fit_networks") if stage in str(task["key"])}
    assert ran == {"_fit_earlier", "_fit_networks"}  # both stages ran as the cluster's tasks
    _assert_same_search(ours, theirs)


@pytest.mark.parametrize("n_jobs, tasks, candidates, parts", [
    (2, 5, 16, 2),  # 5 folds on 2 workers: 10 tasks, 5 each
    (2, 4, 16, 1),  # already even
    (None, 5, 16, 1),  # one worker
    (3, 5, 16, 3),
    (2, 5, 5, 1),  # no part under MIN_PART candidates
])
def test_groups_are_split_to_even_the_workers_load(n_jobs, tasks, candidates, parts):
    split = _search._parts(list(range(candidates)), tasks, n_jobs)
    assert len(split) == parts
    assert sorted(i for part in split for i in part) == list(range(candidates))
    assert min(len(part) for part in split) >= min(candidates, _search.MIN_PART)


def test_rows_are_recognised_by_their_values_whatever_their_kind():
    import pandas as pd
    import scipy.sparse as sparse

    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 3))
    a[1, 2] = np.nan
    assert _search._same_rows(a, a.copy()) and not _search._same_rows(a, a[:5])
    b = a.copy()
    b[0, 0] += 1
    assert not _search._same_rows(a, b)
    assert _search._same_rows(sparse.csr_matrix(np.nan_to_num(a)), sparse.csr_matrix(np.nan_to_num(a)))
    assert not _search._same_rows(sparse.csr_matrix(np.nan_to_num(a)), sparse.csr_matrix(np.nan_to_num(b)))
    assert not _search._same_rows(sparse.csr_matrix(np.nan_to_num(a)), np.nan_to_num(a))  # another kind
    frame = pd.DataFrame({"x": [1.0, np.nan], "s": ["a", "b"]})
    assert _search._same_rows(frame, frame.copy())
    assert not _search._same_rows(frame, frame.assign(s=["a", "c"]))
