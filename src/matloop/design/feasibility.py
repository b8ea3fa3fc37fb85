"""How likely an experiment is to succeed: a calibrated feasibility model, and where failures cluster.

Some syntheses fail (nothing crystallises, the film peels off). Suggestions multiply their
acquisition by ``P(success)`` so that the loop stops spending experiments where everything failed,
without ruling a region out after one bad run. :func:`feasibility_weights` is the one entry point:
it takes the same encoded inputs as the surrogate (rows tried so far, a mask of the failed ones, and
the candidates) and returns ``(p_success, model_name)``.

- No failure recorded yet: ``P = 1`` everywhere (nothing is known against any candidate).
- Few rows (fewer than 3 failures or 3 successes, or under 12 rows): a kernel-smoothed success
  rate with a Beta prior centred on the observed rate, so one failure lowers its neighbours'
  probability a little and leaves distant candidates near the prior, never at 0.
- Otherwise a classifier chosen out-of-fold: a logistic regression on standardised inputs, an
  extra-trees forest and the kernel estimate each predict every row from folds that did not see it
  (stratified K-fold); each is calibrated on those out-of-fold predictions (Platt scaling of their
  log-odds) and the one with the lowest out-of-fold log-loss wins, unless none beats the constant
  success rate (then the rate is used). The winner is refitted on all rows and its calibration map
  applied to the candidates.

For several goals (:mod:`matloop.design.multi_suggest`) the same function weights the expected
hypervolume gain: ``p, name = feasibility_weights(X_train, failed_mask, X_candidates)``.

Single goal (:func:`matloop.design.suggest.rank_candidates`): besides the weight, the surrogate sees
each failure at the worst measured value (:func:`failure_training`), so that its uncertainty does
not keep pulling experiments into a region that fails; on the vapdiff_crystal benchmark
(``benchmarks/campaign_failures.py``) the weight alone left many more experiments wasted.
:func:`failure_clusters` says where failures cluster (``campaign report``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FLOOR = 0.005  # never exactly 0: a region is discouraged, not forbidden
FEW_ROWS = 12
PRIOR_STRENGTH = 2.0


def feasibility_weights(X_train: np.ndarray, failed_mask: np.ndarray, X_candidates: np.ndarray,
                        seed: int = 0) -> tuple[np.ndarray, str]:
    """``(P(success) for every candidate, a short description of the model)``.

    ``X_train``: encoded inputs of every experiment tried (successes and failures), ``failed_mask``:
    True where it failed; ``X_candidates``: encoded inputs to score (same columns).
    """
    model = FeasibilityModel(seed).fit(X_train, ~np.asarray(failed_mask, dtype=bool))
    return model.predict(X_candidates), model.name_


def failure_training(X_train: np.ndarray, y_train: np.ndarray, failed_X: np.ndarray,
                     objective) -> tuple[np.ndarray, np.ndarray]:
    """The surrogate's training rows with each failure added at the worst measured value (the smallest
    when maximising, the largest when minimising, the farthest from the window for a range).

    A failure has no value, but it is evidence that its neighbourhood is no better than the worst
    success: without it the surrogate knows nothing there, its uncertainty stays high and the
    acquisition keeps sending experiments into the region that fails (benchmarks/campaign_failures.py
    measures both). The ledger never stores this value; only the model sees it.
    """
    failed_X = np.asarray(failed_X, dtype=float).reshape(-1, np.shape(X_train)[1])
    y_train = np.asarray(y_train, dtype=float)
    if not len(failed_X) or len(y_train) < 2:
        return X_train, y_train
    if objective.direction == "range":
        worst = float(y_train[int(np.argmax(objective.distance_to_window(y_train)))])
    else:
        worst = float(np.min(objective.sign * y_train) * objective.sign)
    return np.vstack([X_train, failed_X]), np.r_[y_train, np.full(len(failed_X), worst)]


class FeasibilityModel:
    """``fit(X, success)`` then ``predict(X) -> P(success)``; ``name_`` says what was chosen and why."""

    def __init__(self, seed: int = 0, n_folds: int = 5):
        self.seed = seed
        self.n_folds = n_folds

    def fit(self, X: np.ndarray, success: np.ndarray) -> FeasibilityModel:
        X = np.asarray(X, dtype=float)
        s = np.asarray(success, dtype=bool)
        n, n_ok = len(s), int(s.sum())
        n_fail = n - n_ok
        self.rate_ = (n_ok + 1.0) / (n + 2.0)  # Laplace: never 0 or 1 from few rows
        self.kind_ = "one"
        if n_fail == 0:
            self.name_ = "none (no failure recorded: P(success) = 1)"
            return self
        self._center = np.nanmedian(X, axis=0) if len(X) else np.zeros(X.shape[1])
        self._center = np.where(np.isfinite(self._center), self._center, 0.0)
        sd = np.nanstd(X, axis=0) if len(X) else np.ones(X.shape[1])
        self._scale = np.where(np.isfinite(sd) & (sd > 0), sd, 1.0)
        Z = self._z(X)
        if n < FEW_ROWS or min(n_ok, n_fail) < 3:
            self.kind_ = "kernel"
            self._kernel = _Kernel(self.rate_).fit(Z, s)
            self.name_ = (f"kernel-smoothed success rate with a Beta prior ({n_fail} of {n} failed; few rows, "
                          "so close to the prior away from the failures)")
            return self
        from sklearn.model_selection import StratifiedKFold

        k = int(min(self.n_folds, n_fail, n_ok))
        folds = list(StratifiedKFold(k, shuffle=True, random_state=self.seed).split(Z, s))
        base = _log_loss(s, np.full(n, s.mean()))
        scores, maps = {}, {}
        for name in ("logistic", "extra trees", "kernel"):
            oof = np.empty(n)
            for train, test in folds:
                oof[test] = self._make(name).fit(Z[train], s[train]).predict(Z[test])
            maps[name] = _platt(oof, s)
            scores[name] = _log_loss(s, _apply(maps[name], oof))
        best = min(scores, key=scores.get)
        if scores[best] >= base:
            self.kind_ = "rate"
            self.name_ = (f"constant success rate {self.rate_:.0%} (no classifier beat it out-of-fold: "
                          f"log-loss {scores[best]:.3f} vs {base:.3f})")
            return self
        self.kind_ = "model"
        self._model = self._make(best).fit(Z, s)
        self._map = maps[best]
        self.name_ = (f"{best} classifier, Platt-calibrated out-of-fold ({k}-fold log-loss {scores[best]:.3f} "
                      f"vs {base:.3f} for the constant rate; {n_fail} of {n} failed)")
        return self

    def _make(self, name: str):
        if name == "logistic":
            return _Logistic()
        if name == "extra trees":
            return _Trees(self.seed)
        return _Kernel(self.rate_)

    def _z(self, X: np.ndarray) -> np.ndarray:
        Z = (np.asarray(X, dtype=float) - self._center) / self._scale
        return np.nan_to_num(Z, nan=0.0, posinf=0.0, neginf=0.0)

    def predict(self, X: np.ndarray) -> np.ndarray:
        n = len(X)
        if self.kind_ == "one":
            return np.ones(n)
        if self.kind_ == "rate":
            p = np.full(n, self.rate_)
        elif self.kind_ == "kernel":
            p = self._kernel.predict(self._z(X))
        else:
            p = _apply(self._map, self._model.predict(self._z(X)))
        return np.clip(p, FLOOR, 1.0)


class _Logistic:
    def fit(self, Z, s):
        from sklearn.linear_model import LogisticRegression

        self.m = LogisticRegression(C=1.0, max_iter=500).fit(Z, s)
        return self

    def predict(self, Z):
        return self.m.predict_proba(Z)[:, list(self.m.classes_).index(True)]


class _Trees:
    def __init__(self, seed):
        self.seed = seed

    def fit(self, Z, s):
        from sklearn.ensemble import ExtraTreesClassifier

        self.m = ExtraTreesClassifier(n_estimators=100, min_samples_leaf=2, random_state=self.seed, n_jobs=1).fit(Z, s)
        return self

    def predict(self, Z):
        return self.m.predict_proba(Z)[:, list(self.m.classes_).index(True)]


class _Kernel:
    """Nadaraya-Watson success rate with a Beta prior: ``(m * prior + sum w s) / (m + sum w)``; the
    bandwidth is the median distance of a row to its nearest other row (at least 0.3 standard units)."""

    def __init__(self, prior: float):
        self.prior = prior

    def fit(self, Z, s):
        self.Z, self.s = np.asarray(Z, dtype=float), np.asarray(s, dtype=float)
        if len(self.Z) > 1:
            d = _sqdist(self.Z, self.Z)
            np.fill_diagonal(d, np.inf)
            h = float(np.median(np.sqrt(d.min(axis=1))))
        else:
            h = 1.0
        self.h = max(h, 0.3) if np.isfinite(h) else 1.0
        return self

    def predict(self, Z):
        out = np.empty(len(Z))
        for start in range(0, len(Z), 2048):  # bounded memory on large pools
            w = np.exp(-_sqdist(np.asarray(Z[start:start + 2048], dtype=float), self.Z) / (2 * self.h**2))
            out[start:start + 2048] = (PRIOR_STRENGTH * self.prior + w @ self.s) / (PRIOR_STRENGTH + w.sum(axis=1))
        return out


def _sqdist(A, B):
    return np.maximum((A**2).sum(1)[:, None] + (B**2).sum(1)[None, :] - 2 * A @ B.T, 0.0)


def _logit(p):
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def _platt(raw: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """``(a, b)`` of ``P = sigmoid(a * logit(raw) + b)`` fitted to the out-of-fold predictions."""
    from sklearn.linear_model import LogisticRegression

    m = LogisticRegression(C=100.0, max_iter=500).fit(_logit(raw)[:, None], s)
    sign = 1.0 if m.classes_[1] else -1.0
    return float(sign * m.coef_[0, 0]), float(sign * m.intercept_[0])


def _apply(ab: tuple[float, float], raw: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(ab[0] * _logit(raw) + ab[1])))


def _log_loss(s: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-np.mean(np.where(s, np.log(p), np.log(1 - p))))


# ---------------------------------------------------------------------- where failures cluster
def failure_clusters(frame: pd.DataFrame, failed: np.ndarray, columns: list[str], bins: int = 4,
                     min_rows: int = 3) -> tuple[pd.DataFrame, str]:
    """Failure rate per label of each text column and per quantile bin of each numeric column.

    Returns ``(table, sentence)``: the table has ``column, group, tried, failed, failure_rate``
    sorted by how far the group's rate lies above the overall rate (groups with fewer than
    ``min_rows`` rows left out); the sentence names the strongest clusters in words.
    """
    failed = np.asarray(failed, dtype=bool)
    overall = float(failed.mean()) if len(failed) else 0.0
    out = []
    for col in columns:
        if col not in frame.columns:
            continue
        values = frame[col]
        numeric = pd.to_numeric(values, errors="coerce")
        if numeric.notna().all() and numeric.nunique() > bins:
            try:
                groups = pd.qcut(numeric, bins, duplicates="drop")
            except ValueError:
                continue
            labels = [f"{iv.left:.4g} .. {iv.right:.4g}" if pd.notna(iv) else "(empty)" for iv in groups]
        else:
            labels = ["(empty)" if pd.isna(v) else str(v) for v in values]
        labels = np.asarray(labels, dtype=object)
        for g in pd.unique(labels):
            inside = labels == g
            n = int(inside.sum())
            if n < min_rows:
                continue
            k = int(failed[inside].sum())
            out.append({"column": str(col), "group": str(g), "tried": n, "failed": k, "failure_rate": k / n})
    table = pd.DataFrame(out, columns=["column", "group", "tried", "failed", "failure_rate"])
    if table.empty or not failed.any():
        return table, ("No failures recorded." if not failed.any() else
                       "Too few experiments per group to say where failures cluster.")
    # rank by evidence: excess failures over the overall rate, weighted by group size
    table["_excess"] = (table["failure_rate"] - overall) * np.sqrt(table["tried"])
    table = table.sort_values("_excess", ascending=False).drop(columns="_excess").reset_index(drop=True)
    top = table[table["failure_rate"] > overall + 0.1].head(3)
    if top.empty:
        return table, (f"{int(failed.sum())} of {len(failed)} experiments failed ({overall:.0%}); failures are "
                       "spread evenly: no label or range of any input fails clearly more often than the rest.")
    parts = [f"{r.column} = {r.group} ({r.failed} of {r.tried} failed, {r.failure_rate:.0%})" if " .. " not in r.group
             else f"{r.column} in {r.group} ({r.failed} of {r.tried} failed, {r.failure_rate:.0%})"
             for r in top.itertuples()]
    return table, (f"{int(failed.sum())} of {len(failed)} experiments failed ({overall:.0%} overall); failures "
                   f"cluster at {'; '.join(parts)}.")
