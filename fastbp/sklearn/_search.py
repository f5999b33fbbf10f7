"""Drop-in ``GridSearchCV`` and ``RandomizedSearchCV``: scikit-learn's
searches, a pipeline's earlier steps fitted once per fold.

scikit-learn's search makes every (candidate, fold) pair a task of its own,
and a pipeline's earlier steps are fitted again in each. Here, when the
estimator is a ``fastbp.sklearn`` MLP or a ``Pipeline`` ending in one and
``fit`` is given no other parameters than ``groups``, the search runs in two
phases:

1. **Fitting**, in two stages of tasks, each dispatched with joblib
   (``n_jobs``, ``pre_dispatch``, and whatever backend the caller configured:
   a Dask or Ray cluster spreads the tasks over machines). Candidates whose
   earlier pipeline steps have the same settings form a group. First, for each
   (fold, group), the earlier steps are fitted once on the fold's training
   rows and applied once to its test rows (``_fit_earlier``). Then each
   candidate's network is fitted, by its own ``fit``, on the earlier steps'
   output (``_fit_networks``), a group's candidates in as many tasks as
   even the workers' load.
2. **Scoring and the rest** are scikit-learn's own code: its search's ``fit``
   runs as written, on the same folds and candidates, each fit answered by
   the one made in phase 1 (``_Fitted``); scores, ranks, ``cv_results_``,
   ``best_*``, ``refit`` and several metrics are scikit-learn's.

So ``cv_results_`` equal those of ``sklearn.model_selection.GridSearchCV``
over the same estimator, but for ``mean_fit_time``/``std_fit_time``, which
give each candidate's own fit plus its share of the earlier steps'. Anything
else (other estimators, ``fit`` parameters such as ``sample_weight``) goes
through scikit-learn's search unchanged.

Not done, measured (docs/ensembles.md, *Searches*): training a fold's
candidates in one packed pass. Their networks train with Adam or momentum at
scikit-learn's batch of 200, where one network's compiled epoch already runs
near the machine's float64 peak and each step's optimizer update is per
network; a packed pass built for it was no faster end to end.
"""
from __future__ import annotations

import copy
import time

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, clone, is_classifier
from sklearn.model_selection import GridSearchCV as _SkGridSearchCV
from sklearn.metrics import check_scoring
from sklearn.model_selection import ParameterGrid, ParameterSampler, check_cv
from sklearn.model_selection import RandomizedSearchCV as _SkRandomizedSearchCV
from sklearn.pipeline import Pipeline
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import _num_samples

__all__ = ["GridSearchCV", "RandomizedSearchCV"]


def _network_step(estimator):
    """The fastbp MLP whose search runs in two phases (the estimator, or a Pipeline's last step), else None."""
    last = estimator.steps[-1][1] if isinstance(estimator, Pipeline) and estimator.steps else estimator
    return last if getattr(type(last), "_fastbp_network", False) else None


def _earlier_params(estimator, params: dict) -> dict:
    """A candidate's settings of the earlier pipeline steps (those that are not the last step's)."""
    if not isinstance(estimator, Pipeline):
        return {}
    name = estimator.steps[-1][0]
    return {k: v for k, v in params.items() if not k.startswith(f"{name}__") and k != name}


class _Answers:
    """The networks fitted in phase 1, handed out in the order scikit-learn's
    search asks for them: candidates in order, each over the folds in order."""

    def __init__(self, fitted: list) -> None:
        self.fitted = fitted  # [(fitted estimator or exception, rows it was fitted on), ...] in that order
        self.next = 0

    def __sklearn_clone__(self):
        return self  # shared by every clone of the stand-in

    def take(self, rows: int):
        if self.next >= len(self.fitted):
            return None  # the refit: fitted for real
        fitted, expected_rows = self.fitted[self.next]
        self.next += 1
        if expected_rows != rows:
            raise RuntimeError(f"search out of step: a fit on {rows} rows answered by one on {expected_rows}")
        return fitted


class _Fitted(BaseEstimator):
    """Stands in for the searched estimator during phase 2: ``fit`` takes the
    next network fitted in phase 1 (``_Answers``), or fits for real once they
    are all taken (the refit); everything else is the fitted estimator's."""

    def __init__(self, estimator=None, answers=None):
        self.estimator = estimator
        self.answers = answers

    def set_params(self, **params):
        if set(params) <= {"estimator", "answers"}:
            return super().set_params(**params)
        self.estimator.set_params(**params)
        return self

    def fit(self, X, y=None, **fit_params):
        answer = self.answers.take(_num_samples(X))
        if answer is None:
            self.fitted_ = self.estimator.fit(X, y, **fit_params)
        elif isinstance(answer, BaseException):
            raise answer
        else:
            self.fitted_ = answer
        return self

    def __sklearn_tags__(self):
        return self.estimator.__sklearn_tags__()

    def __getattr__(self, name):
        if name.startswith("__") or name in ("estimator", "answers", "fitted_"):
            raise AttributeError(name)
        fitted = self.__dict__.get("fitted_")
        return getattr(fitted if fitted is not None else self.__dict__["estimator"], name)

    def score(self, X, y=None, **kwargs):
        return self.fitted_.score(X, y, **kwargs)


class _Transformed:
    """A fold's fitted earlier steps, for phase 2's scoring: the fold's test
    rows come back as transformed in phase 1 (once per group, not once per
    candidate); other rows (the training rows, for ``return_train_score``) go
    through the steps. Never seen outside the search (the refit is a real
    pipeline)."""

    def __init__(self, earlier) -> None:
        self.earlier = earlier
        self.known: list[tuple] = []  # (rows, their transform)

    def remember(self, X, transformed) -> None:
        self.known.append((X, transformed))

    def transform(self, X):
        for rows, transformed in self.known:
            if _same_rows(X, rows):
                return transformed
        return self.earlier.transform(X)


def _same_rows(a, b) -> bool:
    """Whether ``a`` holds the same values as ``b`` (NaN equal to NaN): one
    pass over them, cheaper than hashing both."""
    if a is b:
        return True
    if getattr(a, "shape", None) != getattr(b, "shape", None) or type(a) is not type(b):
        return False
    try:
        if sp.issparse(a):
            return (a != b).nnz == 0
        if callable(getattr(a, "equals", None)):  # pandas: values, dtypes and labels, NaN equal to NaN
            return bool(a.equals(b))
        return bool(np.array_equal(a, b, equal_nan=True))
    except (TypeError, ValueError):  # values NaN means nothing to (strings), or that do not compare
        try:
            return bool(np.array_equal(a, b))
        except (TypeError, ValueError):
            return False


def _fit_earlier(estimator, X, y, train, test, candidate: dict) -> tuple:
    """Phase 1, first stage: a group's earlier steps fitted on one fold's
    training rows. Returns ``(their output on those rows, the fitted steps as
    a _Transformed, seconds)``, or ``(the exception, None, seconds)``."""
    start = time.perf_counter()
    X_train = _safe_indexing(X, train)
    y_train = None if y is None else _safe_indexing(y, train)
    earlier = clone(estimator).set_params(**clone(candidate, safe=False))[:-1]
    try:
        Xt = earlier.fit_transform(X_train, y_train)
    except Exception as exc:  # noqa: BLE001  (every candidate of the group fails as its own fit would)
        return exc, None, time.perf_counter() - start
    known = _Transformed(earlier)
    X_test = _safe_indexing(X, test)
    try:
        known.remember(X_test, earlier.transform(X_test))
    except Exception:  # noqa: BLE001  (phase 2 meets it again where scikit-learn's search does: scoring)
        pass
    return Xt, known, time.perf_counter() - start


def _fit_networks(estimator, X, y, train, candidates: list[dict]) -> list:
    """Phase 1, second stage: each candidate's network fitted by its own
    ``fit`` on ``X`` (the earlier steps' output on a fold's training rows, or,
    with ``train``, the rows ``X[train]``). Returns per candidate ``(the
    fitted network or the exception, seconds)``."""
    if train is not None:
        X = _safe_indexing(X, train)
        y = None if y is None else _safe_indexing(y, train)
    out = []
    for c in candidates:
        start = time.perf_counter()
        network = clone(estimator).set_params(**clone(c, safe=False))
        network = network.steps[-1][1] if isinstance(network, Pipeline) else network
        try:
            out.append((network.fit(X, y), time.perf_counter() - start))
        except Exception as exc:  # noqa: BLE001  (scored by scikit-learn's rules: error_score)
            out.append((exc, time.perf_counter() - start))
    return out


def _assemble(estimator, candidate: dict, earlier, network):
    """A candidate's fitted estimator: its network, after its group's fitted earlier steps."""
    if not isinstance(estimator, Pipeline):
        return network
    fitted = clone(estimator).set_params(**clone(candidate, safe=False))
    fitted.steps[:-1] = [] if earlier is None else [("earlier steps", earlier)]
    fitted.steps[-1] = (fitted.steps[-1][0], network)
    return fitted


#: The fewest candidates a task is split down to for an even load over the workers.
MIN_PART = 4


def _parts(candidates: list[int], tasks: int, n_jobs) -> list[list[int]]:
    """A group's candidates in as many parts as make the search's task count a
    multiple of the workers (5 folds on 2 workers: 10 tasks, 5 each, not 3 and 2),
    none under :data:`MIN_PART` candidates."""
    import math

    from joblib import effective_n_jobs

    workers = effective_n_jobs(n_jobs)
    split = workers // math.gcd(tasks, workers)
    split = max(1, min(split, len(candidates) // MIN_PART))
    return [list(part) for part in np.array_split(candidates, split)]


class _TwoPhaseSearch:
    """What the two searches share: ``fit`` in two phases (see the module)."""

    def _draw_candidates(self) -> tuple[list[dict], dict]:
        """The candidates, and the settings under which scikit-learn's search
        draws the same ones again in phase 2."""
        raise NotImplementedError

    def _two_phases(self, params: dict) -> bool:
        return _network_step(self.estimator) is not None and set(params) <= {"groups"}

    def _fit_candidates(self, X, y, splits: list, candidates: list[dict]) -> tuple[list, np.ndarray]:
        """Phase 1: every candidate fitted on every fold. Returns the fits in
        the order phase 2 asks for them (candidate by candidate, each over the
        folds), each ``(fitted estimator or exception, training rows)``, and
        the seconds of each, ``(candidates, folds)``."""
        from joblib import hash as joblib_hash

        # Groups: candidates whose earlier steps have the same settings share their fit.
        keyed: dict[str, list[int]] = {}
        for i, c in enumerate(candidates):
            keyed.setdefault(joblib_hash(_earlier_params(self.estimator, c)), []).append(i)
        folds = range(len(splits))
        parallel = Parallel(n_jobs=self.n_jobs, pre_dispatch=self.pre_dispatch, verbose=max(0, self.verbose - 1))
        # Stage 1: each group's earlier steps, once per fold.
        earlier = {}
        if isinstance(self.estimator, Pipeline) and len(self.estimator.steps) > 1:
            pairs = [(s, g) for s in folds for g in keyed]
            outs = parallel(delayed(_fit_earlier)(self.estimator, X, y, *splits[s], candidates[keyed[g][0]])
                            for s, g in pairs)
            earlier = dict(zip(pairs, outs))
        # Stage 2: the networks, in as many tasks as even the workers' load.
        tasks = [(s, g, part) for s in folds for g, idx in keyed.items()
                 for part in _parts(idx, len(splits) * len(keyed), self.n_jobs)
                 if (s, g) not in earlier or earlier[s, g][1] is not None]

        def inputs(s, g):
            if (s, g) in earlier:
                return earlier[s, g][0], None if y is None else _safe_indexing(y, splits[s][0]), None
            return X, y, splits[s][0]

        outs = parallel(delayed(_fit_networks)(self.estimator, *inputs(s, g), [candidates[i] for i in part])
                        for s, g, part in tasks)
        table: dict[tuple[int, int], tuple] = {}
        for (s, g, part), out in zip(tasks, outs):
            shared = earlier[s, g][2] / len(keyed[g]) if (s, g) in earlier else 0.0
            steps = earlier[s, g][1] if (s, g) in earlier else None
            for i, (network, seconds) in zip(part, out):
                answer = network if isinstance(network, BaseException) else _assemble(
                    self.estimator, candidates[i], steps, network)
                table[i, s] = (answer, shared + seconds)
        for (s, g), (failure, steps, seconds) in earlier.items():
            if steps is None:  # the earlier steps failed: so does every candidate of the group, on that fold
                for i in keyed[g]:
                    table[i, s] = (failure, seconds / len(keyed[g]))
        fitted = [(table[i, s][0], len(splits[s][0])) for i in range(len(candidates)) for s in folds]
        return fitted, np.array([[table[i, s][1] for s in folds] for i in range(len(candidates))])

    def fit(self, X, y=None, **params):
        """Run fit with all sets of parameters: scikit-learn's ``fit``, a
        pipeline's earlier steps fitted once per fold (see :mod:`fastbp.sklearn._search`)."""
        if not self._two_phases(params):
            return super().fit(X, y, **params)
        from joblib import parallel_config
        from sklearn.utils import indexable

        self._validate_params()
        X, y = indexable(X, y)
        # Drawn in scikit-learn's order (the candidates, then the folds: both
        # may draw from NumPy's global generator).
        candidates, again = self._draw_candidates()
        cv = check_cv(self.cv, y, classifier=is_classifier(self.estimator))
        splits = [(np.asarray(train), np.asarray(test)) for train, test in cv.split(X, y, params.get("groups"))]
        if not splits or not candidates:
            return super().fit(X, y, **params)
        fitted, fit_seconds = self._fit_candidates(X, y, splits, candidates)
        phase_two = dict(again, estimator=_Fitted(self.estimator, _Answers(fitted)), cv=splits, n_jobs=None)
        saved = {name: getattr(self, name) for name in phase_two}
        self.__dict__.update(phase_two)
        try:
            with parallel_config(backend="sequential"):
                super().fit(X, y, **params)
        finally:
            self.__dict__.update(saved)
        # Nothing of phase 2's stand-ins stays behind (they hold every fitted candidate):
        # the fitted search keeps what scikit-learn's keeps.
        if hasattr(self, "best_estimator_"):
            self.best_estimator_ = self.best_estimator_.fitted_
        if isinstance(getattr(self.scorer_, "_estimator", None), _Fitted):  # scoring=None: the estimator's score
            self.scorer_ = check_scoring(self.estimator, scoring=self.scoring)
        self._checked_cv_orig = cv
        self.cv_results_["mean_fit_time"] = fit_seconds.mean(axis=1)
        self.cv_results_["std_fit_time"] = fit_seconds.std(axis=1)
        return self


class GridSearchCV(_TwoPhaseSearch, _SkGridSearchCV):
    __doc__ = (
        "scikit-learn's GridSearchCV, a pipeline's earlier steps fitted once per fold (see "
        ":mod:`fastbp.sklearn._search`).\n\n"
        "Parameters, attributes and methods are those of ``sklearn.model_selection.GridSearchCV``.\n"
    )

    def _draw_candidates(self) -> tuple[list[dict], dict]:
        return list(ParameterGrid(self.param_grid)), {}


class RandomizedSearchCV(_TwoPhaseSearch, _SkRandomizedSearchCV):
    __doc__ = (
        "scikit-learn's RandomizedSearchCV, a pipeline's earlier steps fitted once per fold (see "
        ":mod:`fastbp.sklearn._search`).\n\n"
        "Parameters, attributes and methods are those of ``sklearn.model_selection.RandomizedSearchCV``;\n"
        "the candidates are drawn once, as scikit-learn draws them.\n"
    )

    def _draw_candidates(self) -> tuple[list[dict], dict]:
        """Drawn from ``random_state`` as scikit-learn draws them (an integer,
        a RandomState, or None: NumPy's global one, advanced once as by
        scikit-learn's search); phase 2 draws them again from a copy of the
        generator as it was before."""
        before = copy.deepcopy(check_random_state(self.random_state))
        drawn = list(ParameterSampler(self.param_distributions, self.n_iter, random_state=self.random_state))
        return drawn, {"random_state": before}
