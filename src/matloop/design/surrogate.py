"""Inputs and surrogate models for design: material keys, features, and a self-choosing surrogate.

- :func:`material_keys` gives each row a canonical identity (normalised formula, canonical SMILES,
  structure path, or the parameter vector), so the ledger can recognise a material however it is
  written (``Fe2O3`` and ``O3Fe2`` are one candidate).
- :func:`featurize` turns any :class:`~matloop.io.Dataset` into a numeric matrix with the default
  featurizer of its input kind (parameter tables: :class:`matloop.design.encode.ParameterEncoder`,
  fitted once per dataset: numbers as given, labels one-hot, SMILES a chemical encoding).
- :class:`AutoSurrogate` (``model="auto"``) chooses, by cross-validated predictive log-likelihood
  on the data measured so far, between a Gaussian process (smooth, few parameters) and a random
  forest with jackknife variance (rugged, many features). It cross-validates at every fit, so it
  suits one-shot suggestions, not a loop that refits after every measurement.
- :class:`ForestGPBlend` (``"etgp"``, :data:`DEFAULT_SURROGATE`) is the default surrogate of
  suggestions, campaigns and the closed-loop strategy: a mixture of a small extra-trees forest and
  a :class:`WarmStartGP` (an ARD GP that reuses its hyper-parameters while
  the data grow), about 0.1 s per refit at 100 measurements.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.model_selection import KFold

from matloop.io.dataset import Dataset
from matloop.models.base import UncertaintyRegressorMixin, check_features, check_min_samples, check_target
from matloop.models.preprocessing import fit_cleaner

SURROGATES = ("auto", "rf", "gp", "et", "gbm", "fastgp", "etgp")
#: the surrogate of suggestions and campaigns unless the user names one: the forest + GP mixture that
#: needed the fewest experiments on the closed-loop benchmark (benchmarks/results/closed_loop.md)
DEFAULT_SURROGATE = "etgp"


def material_keys(dataset: Dataset, frame: pd.DataFrame | None = None, rows=None) -> list[str]:
    """Canonical identity of each row's material (see module docstring). A bad formula or SMILES is
    reported at its 1-based file row: ``rows`` (one per row of ``frame``), by default the dataset's rows
    when ``frame`` is its own frame, else positions."""
    if frame is None or (rows is None and frame is dataset.frame):
        frame, rows = dataset.frame, dataset.rows
    if dataset.kind == "composition":
        from matloop.io.formula import parse_formulas

        return parse_formulas(frame[dataset.input].to_numpy(dtype=object), column=dataset.input,
                              rows=rows).formulas(9)
    if dataset.kind == "molecule":
        from matloop.represent.molecule import canonical_smiles

        return list(canonical_smiles(frame[dataset.input].to_numpy(dtype=object), column=dataset.input, rows=rows))
    if dataset.kind == "structure":
        return [str(v) for v in frame[dataset.input]]
    if dataset.kind == "pattern":  # the file (and the extra inputs): design/pattern_inputs.py
        from matloop.design.pattern_inputs import pattern_keys

        return pattern_keys(dataset, frame)
    return parameter_keys(frame, dataset.parameter_columns)


def parameter_keys(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """JSON of the parameter values (numbers to 10 significant digits: 300 and 300.0 are one key)."""
    def norm(v):
        if isinstance(v, str):  # values read back from a text file: "300" is the number 300
            try:
                v = float(v.strip())
            except ValueError:
                return v.strip()
        if isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool):
            return float(f"{float(v):.10g}")
        return str(v)
    return [json.dumps([norm(v) for v in row], separators=(",", ":"))
            for row in frame[columns].itertuples(index=False, name=None)]


def featurize(dataset: Dataset, frame: pd.DataFrame | None = None, featurizer=None,
              rows: np.ndarray | None = None) -> pd.DataFrame:
    """Numeric features of every row of ``frame`` (default: the dataset's own frame).

    A row that cannot be featurized is reported by its 1-based row of the user's file: ``rows`` (one
    per row of ``frame``), by default the dataset's own :attr:`~matloop.io.Dataset.rows` when ``frame``
    is the dataset's frame (else positions ``1..n``). They travel with the column
    (:func:`matloop.io.rows.attach_source_rows`), as in :meth:`Dataset.X`.
    """
    from matloop.io.rows import attach_source_rows

    if frame is None or (rows is None and frame is dataset.frame):
        frame, rows = dataset.frame, dataset.rows
    if rows is not None and len(rows) != len(frame):
        raise ValueError(f"rows has {len(rows)} entries for {len(frame)} rows")
    if dataset.kind == "parameters":  # numbers as given; labels, SMILES, compositions: design.encode
        from matloop.design.encode import dataset_encoder
        from matloop.io.rows import attach_source_rows

        sub = frame[dataset.parameter_columns].reset_index(drop=True)
        return dataset_encoder(dataset).transform(attach_source_rows(sub, np.asarray(rows)) if rows is not None
                                                  else sub)
    if dataset.kind == "pattern" and featurizer is None:  # peak features + extra inputs: design/pattern_inputs.py
        from matloop.design.pattern_inputs import pattern_features

        return _checked(pattern_features(dataset, frame, rows), dataset, frame, rows)
    shared = featurizer is None and dataset.kind == "structure"
    if featurizer is None:
        from matloop.represent.registry import default_featurizer_for, get_featurizer

        named = getattr(dataset, "_featurizer_name", None)  # suggest --featurizer NAME
        featurizer = get_featurizer(named) if named else default_featurizer_for(dataset.kind)
    values = frame[dataset.input].reset_index(drop=True)
    if rows is not None:
        values = attach_source_rows(values, np.asarray(rows))
    if dataset.kind == "structure":  # cached rows (represent.feature_cache); fitted once per dataset, so that
        from matloop.represent.feature_cache import cached_transform  # candidates get the same columns

        fitted = getattr(dataset, "_structure_featurizer", None) if shared and frame is not dataset.frame else None
        base = getattr(dataset, "base_dir", None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = (cached_transform(fitted, values, base_dir=base) if fitted is not None
                   else cached_transform(featurizer, values, fit=True, base_dir=base))
        if shared and frame is dataset.frame:  # the fitted featurizer travels with this Dataset object
            dataset._structure_featurizer = featurizer
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # undefined-descriptor notes: the models impute NaN
            out = (featurizer.fit_transform(values) if hasattr(featurizer, "fit_transform")
                   else featurizer.transform(values))
    out = pd.DataFrame(out).reset_index(drop=True)
    from matloop.design.pattern_inputs import extra_input_features

    extra = extra_input_features(dataset, frame, rows)  # --extra-inputs: process columns after the features
    return _checked(out if extra is None else pd.concat([out, extra], axis=1), dataset, frame, rows)


def _checked(out: pd.DataFrame, dataset: Dataset, frame: pd.DataFrame, rows) -> pd.DataFrame:
    """``out``, after checking that every feature is finite (a row that overflowed is a bad file row,
    as in fit/predict's MaterialModel.features, never imputed)."""
    from matloop.io.validate import check_finite_features

    check_finite_features(out, frame[dataset.input].reset_index(drop=True), dataset.input,
                          np.arange(1, len(out) + 1) if rows is None else np.asarray(rows))
    return out


def make_surrogate(name: str = "auto", random_state: int | None = 0):
    """A fresh surrogate by name: ``auto``, ``rf``, ``et``, ``gp``, ``gbm``, ``fastgp`` (:class:`WarmStartGP`)
    or ``etgp`` (:class:`ForestGPBlend`)."""
    if hasattr(name, "fit"):  # an estimator given as such (e.g. design.history.PriorMeanSurrogate): a fresh copy
        return clone(name)
    if name == "auto":
        return AutoSurrogate(random_state=random_state)
    if name in ("rf", "et"):
        from matloop.models.forest import ExtraTreesRegressor, RandomForestRegressor

        cls = RandomForestRegressor if name == "rf" else ExtraTreesRegressor
        return cls(n_estimators=200, random_state=random_state)
    if name == "gp":
        from matloop.models.gp import GaussianProcessRegressor

        return GaussianProcessRegressor(random_state=random_state)
    if name == "fastgp":
        return WarmStartGP(warm_start=True, random_state=random_state)
    if name == "etgp":
        return ForestGPBlend(random_state=random_state)
    if name == "gbm":
        from matloop.models.boosting import GradientBoostingEnsembleRegressor

        return GradientBoostingEnsembleRegressor(random_state=random_state)
    raise ValueError(f"unknown surrogate {name!r}; known: {', '.join(SURROGATES)}")


class AutoSurrogate(RegressorMixin, BaseEstimator):
    """Chooses a GP or a random forest by cross-validated Gaussian log-likelihood.

    Parameters
    ----------
    candidates : tuple of str
        Surrogate names to choose from.
    cv : int
        Folds of the inner cross-validation (fewer when data is scarce).
    max_cv_rows : int
        With more measured rows than this the choice uses a random subset (speed).
    random_state : int or None

    Attributes
    ----------
    chosen_ : str
        Name of the selected surrogate; ``scores_`` holds each candidate's mean held-out NLL.
    """

    def __init__(self, candidates: tuple[str, ...] = ("gp", "rf"), cv: int = 5, max_cv_rows: int = 400,
                 random_state: int | None = 0):
        self.candidates = candidates
        self.cv = cv
        self.max_cv_rows = max_cv_rows
        self.random_state = random_state

    def fit(self, X, y) -> AutoSurrogate:
        y = np.asarray(y, dtype=float)
        n = len(y)
        self.scores_: dict[str, float] = {}
        if n < 8 or len(self.candidates) == 1:
            self.chosen_ = self.candidates[0]
        else:
            rng = np.random.default_rng(self.random_state)
            rows = np.arange(n) if n <= self.max_cv_rows else np.sort(rng.choice(n, self.max_cv_rows, replace=False))
            Xs = _take(X, rows)
            ys = y[rows]
            folds = KFold(min(self.cv, len(rows) // 2), shuffle=True, random_state=self.random_state)
            for name in self.candidates:
                nll = []
                for train, test in folds.split(Xs):
                    m = make_surrogate(name, self.random_state).fit(_take(Xs, train), ys[train])
                    mu, sd = m.predict(_take(Xs, test), return_std=True)
                    sd = np.maximum(sd, 1e-9 * (np.std(ys) + 1e-12))
                    nll.append(np.mean(0.5 * np.log(2 * np.pi * sd**2) + 0.5 * ((ys[test] - mu) / sd) ** 2))
                self.scores_[name] = float(np.mean(nll))
            self.chosen_ = min(self.scores_, key=self.scores_.get)
        self.model_ = clone(make_surrogate(self.chosen_, self.random_state)).fit(X, y)
        self.n_features_in_ = getattr(self.model_, "n_features_in_", None)
        return self

    def predict(self, X, return_std: bool = False):
        return self.model_.predict(X, return_std=return_std)


def _take(X, rows):
    return X.iloc[rows] if isinstance(X, pd.DataFrame) else np.asarray(X)[rows]


_SQRT5 = np.sqrt(5.0)


class WarmStartGP(UncertaintyRegressorMixin, BaseEstimator):
    """A light exact GP for closed loops: Matern-5/2 ARD kernel, learned noise, warm-started fits.

    A campaign refits its surrogate after every measurement with one more row. Optimising the
    kernel hyper-parameters from scratch each time is what makes the usual GPs slow (seconds per
    step). With ``warm_start=True`` a refit keeps the previous hyper-parameters until the training
    set has grown by ``reoptimize_growth`` (10%) since they were optimised, and then optimises from
    them and from the default start, keeping the better. Most steps cost one Cholesky
    factorisation; the hyper-parameters are re-optimised about 50 times in a 300-step campaign.

    Features are imputed and standardised (constant columns dropped); the target is standardised.
    Hyper-parameters are MAP estimates under weak log-normal priors (length scales around
    ``sqrt(d)`` standardised units, signal variance around 1, noise around 1% of the variance), which
    keeps the first fits, on a handful of rows, from collapsing to extreme values.
    The predictive std includes the learned noise.

    Parameters
    ----------
    warm_start : bool, default=False
        Let the next ``fit`` reuse this fit's hyper-parameters (same number of features only).
    reoptimize_growth : float, default=0.1
        With ``warm_start``: re-optimise once the rows exceed ``(1 + reoptimize_growth)`` times the
        rows of the last optimisation (and whenever the training set shrank: a new campaign).
    max_iter : int, default=60
        L-BFGS iterations per start.
    max_optimize_rows : int, default=1000
        The hyper-parameters are optimised on at most this many rows (a fixed random subset): each
        step of the optimiser inverts an n x n matrix, which on the 4,604 rows of a whole expt_gap
        table takes minutes. The final fit and the predictions use every row. Closed-loop campaigns
        stay far below it.
    random_state : ignored (deterministic); kept for a uniform surrogate signature.

    Attributes
    ----------
    theta_ : ndarray
        Log length scales (one per kept feature), log signal variance, log noise variance
        (standardised target units).
    """

    def __init__(self, warm_start: bool = False, reoptimize_growth: float = 0.1, max_iter: int = 60,
                 max_optimize_rows: int = 1000, random_state=None):
        self.warm_start = warm_start
        self.reoptimize_growth = reoptimize_growth
        self.max_iter = max_iter
        self.max_optimize_rows = max_optimize_rows
        self.random_state = random_state

    def fit(self, X, y) -> WarmStartGP:
        """Standardise, then fit the kernel by maximising the penalised marginal likelihood."""
        from scipy.optimize import minimize

        X = check_features(self, X, reset=True)
        y = check_target(y, X.shape[0])
        check_min_samples(X.shape[0])
        self.cleaner_, Z = fit_cleaner(X, scale=True)
        self.y_mean_, self.y_std_ = float(y.mean()), float(y.std()) or 1.0
        t = (y - self.y_mean_) / self.y_std_
        d = Z.shape[1]
        self._prior_mean = np.r_[np.full(d, 0.5 * np.log(max(d, 1))), 0.0, np.log(1e-2)]
        self._prior_sd = np.r_[np.full(d, 1.5), 1.5, 2.0]
        bounds = [(np.log(0.05), np.log(100.0))] * d + [(np.log(0.05), np.log(20.0)), (np.log(1e-6), 0.0)]
        n = len(t)
        previous = getattr(self, "theta_", None) if self.warm_start else None
        if previous is not None and len(previous) == d + 2:
            last = self.n_optimized_
            if last <= n <= (1.0 + self.reoptimize_growth) * last:
                previous, starts = None, []  # keep the hyper-parameters: they were fitted on nearly these rows
            else:
                starts = [previous, self._prior_mean.copy()]
        else:
            starts = [self._prior_mean.copy()]
        if starts:
            best = None
            rows = np.arange(n)
            if n > self.max_optimize_rows:  # a fixed subset: the same rows give the same hyper-parameters
                rows = np.sort(np.random.default_rng(0).choice(n, int(self.max_optimize_rows), replace=False))
            for start in starts:
                res = minimize(self._objective, start, args=(Z[rows], t[rows]), jac=True, method="L-BFGS-B",
                               bounds=bounds,
                               options={"maxiter": int(self.max_iter)})
                if best is None or res.fun < best.fun:
                    best = res
            self.theta_ = best.x
            self.n_optimized_ = n
        self.Z_ = Z
        K = self._kernel(Z, Z, self.theta_) + np.exp(self.theta_[-1]) * np.eye(len(Z))
        self.L_ = np.linalg.cholesky(K + 1e-10 * np.eye(len(Z)))
        self.alpha_ = _chol_solve(self.L_, t)
        return self

    @staticmethod
    def _scaled_distance(A: np.ndarray, B: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        A, B = A / lengths, B / lengths
        d2 = np.einsum("ij,ij->i", A, A)[:, None] + np.einsum("ij,ij->i", B, B)[None, :] - 2.0 * A @ B.T
        return np.sqrt(np.maximum(d2, 0.0))

    def _kernel(self, A, B, theta):
        r = self._scaled_distance(A, B, np.exp(theta[:-2]))
        return np.exp(theta[-2]) * (1.0 + _SQRT5 * r + 5.0 / 3.0 * r**2) * np.exp(-_SQRT5 * r)

    def _objective(self, theta: np.ndarray, Z: np.ndarray, t: np.ndarray) -> tuple[float, np.ndarray]:
        """Negative log marginal likelihood plus log-prior penalty, and its gradient."""
        n, d = Z.shape
        lengths, s2, noise = np.exp(theta[:d]), np.exp(theta[d]), np.exp(theta[d + 1])
        r = self._scaled_distance(Z, Z, lengths)
        e = np.exp(-_SQRT5 * r)
        Kf = s2 * (1.0 + _SQRT5 * r + 5.0 / 3.0 * r**2) * e
        try:
            L = np.linalg.cholesky(Kf + (noise + 1e-10) * np.eye(n))
        except np.linalg.LinAlgError:
            return 1e25, np.zeros_like(theta)
        alpha = _chol_solve(L, t)
        nll = 0.5 * t @ alpha + np.log(np.diag(L)).sum() + 0.5 * n * np.log(2 * np.pi)
        Kinv = _chol_solve(L, np.eye(n))
        W = Kinv - np.outer(alpha, alpha)  # dNLL/dK = W / 2
        M = W * (s2 * 5.0 / 3.0 * (1.0 + _SQRT5 * r) * e)  # dK/dlog l_j = M-weights * (z_j - z'_j)^2 / l_j^2
        S = Z / lengths
        grad = np.empty_like(theta)
        grad[:d] = 0.5 * (2.0 * (S**2 * M.sum(axis=1)[:, None]).sum(axis=0) - 2.0 * np.einsum("ij,ij->j", S, M @ S))
        grad[d] = 0.5 * np.sum(W * Kf)
        grad[d + 1] = 0.5 * noise * np.trace(W)
        z = (theta - self._prior_mean) / self._prior_sd
        return float(nll + 0.5 * z @ z), grad + z / self._prior_sd

    def _predict_mean_var(self, X: np.ndarray, return_var: bool):
        Z = self.cleaner_._transform_array(X)
        Ks = self._kernel(Z, self.Z_, self.theta_)
        mean = self.y_mean_ + self.y_std_ * (Ks @ self.alpha_)
        if not return_var:
            return mean, None
        v = _solve_lower(self.L_, Ks.T)
        var = np.exp(self.theta_[-2]) - np.einsum("ij,ij->j", v, v) + np.exp(self.theta_[-1])
        return mean, self.y_std_**2 * np.maximum(var, 1e-12)

    def batch_covariance(self, X, chunk: int = 4096):
        """Latent posterior covariance over the rows of ``X`` for batch selection
        (:func:`matloop.design.batch.batch_covariance`): columns on demand, computed ``chunk`` rows at a
        time (memory O(chunk x n_train) however many candidates; time O(rows x n_train) per column)."""
        from matloop.design.batch import BatchCovariance

        Z = self.cleaner_._transform_array(check_features(self, X, reset=False))
        scale = self.y_std_**2
        parts = []
        for lo in range(0, len(Z), chunk):
            V = _solve_lower(self.L_, self._kernel(self.Z_, Z[lo:lo + chunk], self.theta_))
            parts.append(np.exp(self.theta_[-2]) - np.einsum("ij,ij->j", V, V))
        latent = scale * np.maximum(np.concatenate(parts) if parts else np.zeros(0), 0.0)

        def column(j: int) -> np.ndarray:
            w = _chol_solve(self.L_, self._kernel(self.Z_, Z[j:j + 1], self.theta_)[:, 0])
            out = np.empty(len(Z))
            for lo in range(0, len(Z), chunk):
                block = Z[lo:lo + chunk]
                out[lo:lo + chunk] = self._kernel(block, Z[j:j + 1], self.theta_)[:, 0] - self._kernel(
                    block, self.Z_, self.theta_) @ w
            return scale * out
        return BatchCovariance(column, latent, scale * float(np.exp(self.theta_[-1])))


def equal_mixture(m1: np.ndarray, s1: np.ndarray, m2: np.ndarray, s2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the equal mixture of two predictive distributions: ``(m1 + m2) / 2`` and
    ``(s1^2 + s2^2) / 2 + ((m1 - m2) / 2)^2`` (where the two disagree counts as uncertain)."""
    return 0.5 * (m1 + m2), 0.5 * (s1**2 + s2**2) + 0.25 * (m1 - m2) ** 2


class ForestGPBlend(UncertaintyRegressorMixin, BaseEstimator):
    """Equal-weight mixture of an extra-trees forest and a warm-started GP: the closed-loop default.

    The two see different things: the GP interpolates smooth trends and is sure near measured
    points; the forest follows steps and interactions among many descriptors and is robust to
    outliers. Their mixture predicts the average of the two means with the mixture variance
    ``(s_gp^2 + s_forest^2) / 2 + ((m_gp - m_forest) / 2)^2``, so candidates where the models
    disagree count as uncertain. The GP uses only the forest's ``max_gp_features`` most important
    features (impurity importance): an ARD kernel over 200+ composition descriptors has more length
    scales than a campaign has measurements.

    Cheap enough to refit after every measurement: 50 trees and one Cholesky factorisation on most
    steps (the GP re-optimises its hyper-parameters, and re-chooses its features, after 10% more data). Tuning on the Liang et al. sets is recorded in ``benchmarks/results/closed_loop.md``.

    Parameters
    ----------
    n_estimators : int, default=50
    max_gp_features : int, default=20
        As :class:`matloop.models.gp.GaussianProcessRegressor`'s ``n_features``; the features are
        re-chosen only when the GP re-optimises its hyper-parameters.
    warm_start : bool, default=True
        Reuse the GP's hyper-parameters from the previous ``fit`` (see :class:`WarmStartGP`).
    random_state : int or None

    Attributes
    ----------
    forest_, gp_ : the fitted members; ``gp_features_``: the columns the GP uses.
    """

    def __init__(self, n_estimators: int = 50, max_gp_features: int = 20, warm_start: bool = True,
                 random_state=None):
        self.n_estimators = n_estimators
        self.max_gp_features = max_gp_features
        self.warm_start = warm_start
        self.random_state = random_state

    def fit(self, X, y) -> ForestGPBlend:
        """Fit the forest, pick the GP's features by its importances, fit the GP."""
        from matloop.models.forest import ExtraTreesRegressor

        X = check_features(self, X, reset=True)
        y = check_target(y, X.shape[0])
        check_min_samples(X.shape[0])
        self.forest_ = ExtraTreesRegressor(n_estimators=self.n_estimators, noise="oob",
                                           random_state=self.random_state).fit(X, y)
        previous = getattr(self, "gp_", None) if self.warm_start else None
        n = X.shape[0]
        if previous is not None and previous.n_optimized_ <= n <= (1.0 + previous.reoptimize_growth) * previous.n_optimized_:
            columns = self.gp_features_  # the GP keeps its hyper-parameters: keep its features too
        else:
            columns = np.arange(X.shape[1])
            if X.shape[1] > self.max_gp_features:
                importance = self.forest_.feature_importances_
                columns = np.sort(np.argsort(-importance, kind="stable")[: self.max_gp_features])
            if previous is None or not np.array_equal(columns, self.gp_features_):
                self.gp_ = WarmStartGP(warm_start=self.warm_start, random_state=self.random_state)
        self.gp_features_ = columns
        self.gp_.fit(X[:, columns], y)
        return self

    def _predict_mean_var(self, X: np.ndarray, return_var: bool):
        m_forest, s_forest = self.forest_.predict(X, return_std=True)
        m_gp, s_gp = self.gp_.predict(X[:, self.gp_features_], return_std=True)
        mean, var = equal_mixture(m_forest, s_forest, m_gp, s_gp)
        return mean, (var if return_var else None)

    def batch_covariance(self, X):
        """The GP member's latent posterior covariance (on its features), for batch selection."""
        X = check_features(self, X, reset=False)
        return self.gp_.batch_covariance(X[:, self.gp_features_])


def _solve_lower(L: np.ndarray, B: np.ndarray) -> np.ndarray:
    from scipy.linalg import solve_triangular

    return solve_triangular(L, B, lower=True, check_finite=False)


def _chol_solve(L: np.ndarray, B: np.ndarray) -> np.ndarray:
    from scipy.linalg import cho_solve

    return cho_solve((L, True), B, check_finite=False)
