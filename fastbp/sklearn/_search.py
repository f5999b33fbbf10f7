"""Drop-in ``GridSearchCV`` and ``RandomizedSearchCV``: scikit-learn's
searches, a pipeline's earlier steps fitted once per fold.

scikit-learn's search makes every (candidate, fold) pair a task of its own,
and a pipeline's earlier steps are fitted again in each. Here, when the
estimator is a ``fastbp.sklearn`` MLP or a ``Pipeline`` ending in one and
``fit`` is given no other parameters than ``groups``, the search runs in two
phases:

1. **Fitting.** Candidates whose earlier pipeline steps have the same settings
   form a group; each (fold, group) is one task (a group split in parts where
   that evens the load over the workers), dispatched with joblib (``n_jobs``,
   ``pre_dispatch``, and whatever backend the caller configured: a Dask or
   Ray cluster spreads the tasks over machines). A task fits the earlier steps
   once on the fold's training rows, then each candidate's network on their
   output, by that network's own ``fit``.
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
    rows (and training rows, for ``return_train_score``) come back as
    transformed in phase 1, each group's transform made once, not once per
    candidate; other rows go through the steps. Rows are known by a hash of
    their values (``joblib.hash``), not kept. Never seen outside the search
    (the refit is a real pipeline)."""

    def __init__(self, earlier) -> None:
        self.earlier = earlier
        self.known: dict[str, object] = {}  # hash of the rows -> their transform

    def remember(self, X, transformed) -> None:
        from joblib import hash as joblib_hash

        self.known[joblib_hash(X)] = transformed

    def transform(self, X):
        from joblib import hash as joblib_hash

        transformed = self.known.get(joblib_hash(X)) if self.known else None
        return self.earlier.transform(X) if transformed is None else transformed


def _fit_group(estimator, X, y, train, test, candidates: list[dict], train_scores: bool) -> list:
    """Phase 1's task: one fold, one group of candidates. Returns per
    candidate ``(fitted estimator or exception, seconds)``: its network's fit
    plus its share of the earlier steps'."""
    start = time.perf_counter()
    X_train = _safe_indexing(X, train)
    y_train = None if y is None else _safe_indexing(y, train)
    fitted = [clone(estimator).set_params(**clone(c, safe=False)) for c in candidates]
    Xt = X_train
    if isinstance(estimator, Pipeline) and len(estimator.steps) > 1:
        earlier = fitted[0][:-1]
        try:
            Xt = earlier.fit_transform(X_train, y_train)
        except Exception as exc:  # noqa: BLE001  (every candidate of the group fails as its own fit would)
            return [(exc, (time.perf_counter() - start) / len(candidates))] * len(candidates)
        known = _Transformed(earlier)
        if train_scores:
            known.remember(X_train, Xt)
        X_test = _safe_indexing(X, test)
        try:
            known.remember(X_test, earlier.transform(X_test))
        except Exception:  # noqa: BLE001  (phase 2 meets it again where scikit-learn's search does: scoring)
            pass
        for f in fitted:
            f.steps[:-1] = [("earlier steps", known)]
    shared = (time.perf_counter() - start) / len(candidates)
    out = []
    for f in fitted:
        network = f.steps[-1][1] if isinstance(f, Pipeline) else f
        begin = time.perf_counter()
        try:
            network.fit(Xt, y_train)
            answer = f
        except Exception as exc:  # noqa: BLE001  (scored by scikit-learn's rules: error_score)
            answer = exc
        out.append((answer, shared + time.perf_counter() - begin))
    return out


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

    def fit(self, X, y=None, **params):
        """Run fit with all sets of parameters: scikit-learn's ``fit``, a
        pipeline's earlier steps fitted once per fold (see :mod:`fastbp.sklearn._search`)."""
        if not self._two_phases(params):
            return super().fit(X, y, **params)
        from joblib import parallel_config
        from sklearn.utils import indexable

        self._validate_params()
        X, y = indexable(X, y)
        groups = params.get("groups")
        cv = check_cv(self.cv, y, classifier=is_classifier(self.estimator))
        splits = [(np.asarray(train), np.asarray(test)) for train, test in cv.split(X, y, groups)]
        candidates, again = self._draw_candidates()
        if not splits or not candidates:
            return super().fit(X, y, **params)
        # Groups: candidates whose earlier steps have the same settings share their fit.
        from joblib import hash as joblib_hash

        keyed: dict[str, list[int]] = {}
        for i, c in enumerate(candidates):
            keyed.setdefault(joblib_hash(_earlier_params(self.estimator, c)), []).append(i)
        tasks = [(s, part) for s in range(len(splits)) for idx in keyed.values()
                 for part in _parts(idx, len(splits) * len(keyed), self.n_jobs)]
        outs = Parallel(n_jobs=self.n_jobs, pre_dispatch=self.pre_dispatch, verbose=max(0, self.verbose - 1))(
            delayed(_fit_group)(self.estimator, X, y, *splits[s], [candidates[i] for i in idx],
                                self.return_train_score)
            for s, idx in tasks
        )
        table: dict[tuple[int, int], tuple] = {}
        for (s, idx), out in zip(tasks, outs):
            for i, answer in zip(idx, out):
                table[i, s] = answer
        fitted = [(table[i, s][0], len(splits[s][0])) for i in range(len(candidates)) for s in range(len(splits))]
        fit_seconds = np.array([[table[i, s][1] for s in range(len(splits))] for i in range(len(candidates))])

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
