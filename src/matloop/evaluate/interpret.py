"""What drives the predictions: permutation importance, SHAP, partial dependence, correlated features.

- :func:`permutation_importance_cv`: how much the held-out error grows when one feature's values are
  shuffled, measured on every cross-validation fold (so the spread over folds and repeats shows how
  stable the ranking is). Model-agnostic; the default for every model.
- :func:`shap_values`: exact TreeSHAP (Lundberg et al. 2020) for tree models: scikit-learn trees,
  forests and gradient boosting, and matloop's forests and boosted ensembles (their inner
  scikit-learn trees are explained on the model's cleaned features). Other models fall back to
  permutation importance, with a note saying so.
- :func:`partial_dependence`: partial dependence (average) and ICE curves (individual rows).
- :func:`correlated_feature_groups`: features with ``|Spearman| > 0.9`` share credit arbitrarily, so
  their order in any importance ranking is unstable; the groups are listed.

All predictions are batched (one ``predict`` call per block of permuted copies), never one call per
row and feature.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from matloop.errors import InputError
from matloop.evaluate.cross_validation import _new_estimator, take_rows

__all__ = [
    "CORRELATION_THRESHOLD",
    "Interpretation",
    "PartialDependence",
    "PermutationImportance",
    "ShapResult",
    "correlated_feature_groups",
    "explain",
    "partial_dependence",
    "permutation_importance_cv",
    "shap_values",
]

#: Features whose absolute Spearman correlation exceeds this are reported as one group.
CORRELATION_THRESHOLD = 0.9
_BLOCK_ROWS = 200_000  # rows per batched predict call


def _frame(X: object) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    arr = np.asarray(X, dtype=float)
    return pd.DataFrame(arr.reshape(len(arr), -1), columns=[f"x{j}" for j in range(arr.reshape(len(arr), -1).shape[1])])


def _predict_score(model: object, X: np.ndarray, columns: pd.Index, as_frame: bool, task: str) -> np.ndarray:
    """Point predictions (regression) or positive-class probabilities (classification) of ``X``."""
    data = pd.DataFrame(X, columns=columns) if as_frame else X
    if task == "classification":
        return np.asarray(model.predict_proba(data), dtype=float)[:, 1]
    return np.asarray(model.predict(data), dtype=float).reshape(-1)


def _batched(model: object, stacked: np.ndarray, columns: pd.Index, as_frame: bool, task: str) -> np.ndarray:
    out = np.empty(len(stacked))
    for start in range(0, len(stacked), _BLOCK_ROWS):
        sl = slice(start, start + _BLOCK_ROWS)
        out[sl] = _predict_score(model, stacked[sl], columns, as_frame, task)
    return out


def _loss(y: np.ndarray, pred: np.ndarray, task: str) -> np.ndarray:
    """Per-row loss: absolute error (regression) or Brier score of the probability (classification)."""
    return np.abs(y - pred) if task == "regression" else (pred - y) ** 2


# --------------------------------------------------------------------------- permutation importance
@dataclass
class PermutationImportance:
    """See :func:`permutation_importance_cv`.

    ``table``: ``feature``, ``importance`` (mean increase of the error), ``std`` (over folds and
    repeats), ``rank`` (1 = most important), sorted by importance. ``raw``: one row per fold,
    repeat and feature. ``metric``: ``mae`` or ``brier``.
    """

    table: pd.DataFrame
    raw: pd.DataFrame
    metric: str
    baseline: list[float]
    notes: list[str] = field(default_factory=list)

    def top(self, k: int) -> list[str]:
        return self.table["feature"].head(k).tolist()


def permutation_importance_cv(
    estimator: object, X: object, y: object, splitter: object = None, n_repeats: int = 5,
    task: str = "regression", features: list[str] | None = None, max_rows: int | None = 1000, seed: int = 0,
    models: Sequence[object] | None = None,
) -> PermutationImportance:
    """Permutation importance on the held-out rows of every cross-validation fold.

    For each fold a fresh copy of ``estimator`` is fitted on the training rows; then each feature
    of the test rows is shuffled ``n_repeats`` times and the increase of the mean absolute error
    (classification: Brier score) is recorded. Importance is the mean over folds and repeats, its
    spread the standard deviation.

    Parameters
    ----------
    features : list of str, optional
        Only these columns are permuted (all by default).
    max_rows : int, optional
        At most this many test rows per fold are scored (drawn at random), bounding the cost.
    models : sequence of fitted estimators, optional
        One model per split of ``splitter``, already fitted on that split's training rows (e.g. the
        fold models of a cross-validation run): nothing is refitted.
    """
    from matloop.evaluate.splitters import KFold, StratifiedKFold

    Xf = _frame(X)
    as_frame = isinstance(X, pd.DataFrame)
    y_arr = _target(y, task)
    if splitter is None:
        splitter = (StratifiedKFold if task == "classification" else KFold)(n_splits=5, random_state=seed)
    names = list(Xf.columns) if features is None else list(features)
    unknown = [f for f in names if f not in Xf.columns]
    if unknown:
        raise InputError(f"unknown features: {', '.join(map(str, unknown))}")
    cols = [Xf.columns.get_loc(f) for f in names]
    rng = np.random.default_rng(seed)
    records, baseline, notes = [], [], []
    splits = list(splitter.split(Xf, y_arr))
    if models is not None and len(models) != len(splits):
        raise ValueError(f"{len(models)} fitted models for {len(splits)} splits")
    for k, (train, test) in enumerate(splits):
        if models is not None:
            model = models[k]
        else:
            model = _new_estimator(estimator)
            model.fit(take_rows(X, train), y_arr[train])
        if max_rows is not None and len(test) > max_rows:
            test = np.sort(rng.choice(test, max_rows, replace=False))
            if k == 0:
                notes.append(f"each fold scored on {max_rows} random held-out rows")
        Xt = Xf.iloc[test].to_numpy(dtype=float)
        yt = y_arr[test]
        base = float(np.mean(_loss(yt, _predict_score(model, Xt, Xf.columns, as_frame, task), task)))
        baseline.append(base)
        m = len(test)
        per_block = max(1, _BLOCK_ROWS // max(m * n_repeats, 1))
        for start in range(0, len(cols), per_block):
            block = cols[start:start + per_block]
            stacked = np.tile(Xt, (len(block) * n_repeats, 1))
            for b, c in enumerate(block):
                perms = np.argsort(rng.random((n_repeats, m)), axis=1)  # n_repeats shuffles at once
                rows = slice(b * n_repeats * m, (b + 1) * n_repeats * m)
                stacked[rows, c] = Xt[perms.reshape(-1), c]
            pred = _batched(model, stacked, Xf.columns, as_frame, task)
            loss = _loss(np.tile(yt, len(block) * n_repeats), pred, task).reshape(len(block), n_repeats, m)
            inc = loss.mean(axis=2) - base
            for b, c in enumerate(block):
                records += [{"fold": k, "repeat": r, "feature": Xf.columns[c], "importance": float(inc[b, r])}
                            for r in range(n_repeats)]
    raw = pd.DataFrame(records)
    table = raw.groupby("feature", sort=False)["importance"].agg(["mean", "std"]).reset_index()
    table = table.rename(columns={"mean": "importance"}).sort_values("importance", ascending=False, kind="stable")
    table["rank"] = np.arange(1, len(table) + 1)
    return PermutationImportance(table.reset_index(drop=True), raw, "mae" if task == "regression" else "brier",
                                 baseline, notes)


def _target(y: object, task: str) -> np.ndarray:
    from matloop.evaluate.metrics import _binary_labels, as_float_array

    if task == "regression":
        return as_float_array(y, "target")
    return _binary_labels(y, None).astype(float)


# --------------------------------------------------------------------------- SHAP
@dataclass
class ShapResult:
    """See :func:`shap_values`. ``values`` is ``(rows, features)`` or ``None`` for the fallback;
    ``table`` has ``feature`` and ``mean_abs_shap`` (or ``importance``), sorted."""

    values: np.ndarray | None
    base_value: float
    X: pd.DataFrame
    table: pd.DataFrame
    method: str
    note: str = ""


_SHAP_NATIVE = ("RandomForestRegressor", "RandomForestClassifier", "ExtraTreesRegressor", "ExtraTreesClassifier",
                "GradientBoostingRegressor", "GradientBoostingClassifier", "DecisionTreeRegressor",
                "DecisionTreeClassifier", "HistGradientBoostingRegressor", "HistGradientBoostingClassifier")
_INNER = ("estimator_", "model_", "forest_", "regressor_", "classifier_", "base_estimator_", "booster_")


def _is_sklearn_tree_model(model: object) -> bool:
    """A scikit-learn tree model (or a subclass of one) that shap's TreeExplainer reads natively."""
    return any(c.__module__.startswith("sklearn.") and c.__name__ in _SHAP_NATIVE for c in type(model).__mro__)


def _tree_dict(tree: object, scaling: float) -> dict:
    t = tree.tree_
    return {"children_left": t.children_left.astype(np.int32), "children_right": t.children_right.astype(np.int32),
            "children_default": t.children_left.astype(np.int32), "features": t.feature.astype(np.int32),
            "thresholds": t.threshold.astype(np.float64), "values": t.value.reshape(t.node_count, -1) * scaling,
            "node_sample_weight": t.weighted_n_node_samples.astype(np.float64)}


def _sub_forest(members: list, X32: np.ndarray, max_trees: int | None, owner: str) -> tuple[np.ndarray, float, str]:
    """TreeSHAP of the mean of (the first ``max_trees`` of) a list of fitted regression trees."""
    import shap

    used = members if max_trees is None else members[:max_trees]
    trees = {"trees": [_tree_dict(m, 1.0 / len(used)) for m in used], "input_dtype": np.float32,
             "internal_dtype": np.float64, "tree_output": "raw_value", "objective": "squared_error"}
    explainer = shap.TreeExplainer(trees)
    vals = np.asarray(explainer.shap_values(X32, check_additivity=False))
    note = f"TreeSHAP of the {len(used)} trees of {owner}"
    if len(used) < len(members):
        note += f" (the first {len(used)} of {len(members)} trees, to bound the time)"
    return vals, float(np.asarray(explainer.expected_value).reshape(-1)[0]), note


_REG_TREES = ("DecisionTreeRegressor", "ExtraTreeRegressor")


def _explain_trees(model: object, Xa: np.ndarray, max_trees: int | None) -> tuple[np.ndarray, float, str] | None:
    """TreeSHAP values of ``model`` at the raw feature rows ``Xa``, or None if it is not a tree model."""
    import shap

    members = getattr(model, "estimators_", None)
    if _is_sklearn_tree_model(model):
        if (max_trees is not None and isinstance(members, list) and len(members) > max_trees
                and all(type(m).__name__ in _REG_TREES for m in members)):  # a big regression forest
            return _sub_forest(members, np.asarray(Xa, dtype=np.float32), max_trees, type(model).__name__)
        explainer = shap.TreeExplainer(model)
        vals = explainer.shap_values(Xa, check_additivity=False)
        base = np.asarray(explainer.expected_value, dtype=float).reshape(-1)
        if isinstance(vals, list):  # old shap: one array per class
            vals = vals[-1]
        vals = np.asarray(vals)
        if vals.ndim == 3:  # (rows, features, classes): explain the positive class
            vals, base = vals[:, :, -1], base[-1:]
        return vals, float(base[-1]), f"TreeSHAP of the scikit-learn {type(model).__name__}"
    cleaner = getattr(model, "cleaner_", None)
    if cleaner is not None and isinstance(members, list) and members:
        Xc = cleaner._transform_array(np.asarray(Xa, dtype=np.float64))
        full = np.zeros((len(Xa), Xa.shape[1]))
        if all(type(m).__name__ in _REG_TREES for m in members):
            vals, base, note = _sub_forest(members, Xc.astype(np.float32), max_trees, type(model).__name__)
        elif all(_is_sklearn_tree_model(m) for m in members):
            used = members if getattr(model, "method", "bootstrap") == "bootstrap" else members[len(members) // 2:][:1]
            parts = [_explain_trees(m, Xc, None) for m in used]
            vals = np.mean([p[0] for p in parts], axis=0)
            base = float(np.mean([p[1] for p in parts]))
            note = f"TreeSHAP averaged over the {len(used)} boosted members of {type(model).__name__}"
        else:
            return None
        full[:, cleaner.keep_] = vals
        return full, base, note + "; features the model dropped (constant) get 0"
    for attr in _INNER:  # wrappers (pipelines of matloop, adapters) that expose their fitted estimator
        inner = getattr(model, attr, None)
        if inner is not None and inner is not model and hasattr(inner, "predict"):
            return _explain_trees(inner, Xa, max_trees)
    return None


def shap_values(model: object, X: object, y: object = None, max_rows: int = 300, max_trees: int | None = 100,
                task: str = "regression", seed: int = 0) -> ShapResult:
    """SHAP values of a fitted tree model at (a random sample of at most ``max_rows``) rows of ``X``.

    Tree models (see the module docstring) get exact TreeSHAP; ``max_trees`` bounds the number of
    trees of a matloop forest that are explained (the first ones; the explanation then describes
    that sub-forest). Any other model falls back to permutation importance (needs ``y``), with a
    note; ``values`` is then ``None``.
    """
    Xf = _frame(X)
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(Xf), max_rows, replace=False)) if len(Xf) > max_rows else np.arange(len(Xf))
    Xs = Xf.iloc[idx]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # shap's import-time deprecation chatter
            import shap  # noqa: F401
        got = _explain_trees(model, Xs.to_numpy(dtype=float), max_trees)
        reason = f"{type(model).__name__} is not a tree model SHAP can explain exactly"
    except ImportError:
        got, reason = None, "the shap package is not installed"
    if got is not None:
        vals, base, note = got
        table = pd.DataFrame({"feature": Xf.columns, "mean_abs_shap": np.abs(vals).mean(axis=0)})
        table = table.sort_values("mean_abs_shap", ascending=False, kind="stable").reset_index(drop=True)
        return ShapResult(vals, base, Xs, table, "tree", note)
    note = f"SHAP skipped: {reason}; permutation importance is shown instead"
    if y is None:
        return ShapResult(None, float("nan"), Xs, pd.DataFrame(columns=["feature", "importance"]), "none", note)
    perm = permutation_importance_cv(model, X, y, task=task, n_repeats=3, seed=seed)
    return ShapResult(None, float("nan"), Xs, perm.table, "permutation", note)


# --------------------------------------------------------------------------- partial dependence
@dataclass
class PartialDependence:
    """Partial dependence of the prediction on one feature: ``average`` over rows and ``ice``
    (one curve per sampled row, ``ice_rows`` their positions) at the ``grid`` values."""

    feature: str
    grid: np.ndarray
    average: np.ndarray
    ice: np.ndarray
    ice_rows: np.ndarray
    values: np.ndarray  # the feature's observed values (for a rug)
    n_rows: int = 0  # rows averaged into the PD curve

    @property
    def effect(self) -> float:
        """Range of the average curve (max - min): how much this feature alone moves the prediction."""
        return float(np.ptp(self.average))


def partial_dependence(model: object, X: object, features: list[str], grid_resolution: int = 20,
                       n_ice: int = 50, max_rows: int = 300, percentiles: tuple[float, float] = (0.05, 0.95),
                       task: str = "regression", seed: int = 0) -> list[PartialDependence]:
    """PD and ICE curves of a fitted model for each of ``features`` (one batched predict per feature).

    The grid spans the ``percentiles`` of the feature (unique values if there are fewer than
    ``grid_resolution``); the average is over at most ``max_rows`` random rows, of which ``n_ice``
    are kept as ICE curves.
    """
    Xf = _frame(X)
    as_frame = isinstance(X, pd.DataFrame)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(Xf), max_rows, replace=False)) if len(Xf) > max_rows else np.arange(len(Xf))
    base = Xf.iloc[rows].to_numpy(dtype=float)
    ice_pick = np.sort(rng.choice(len(rows), min(n_ice, len(rows)), replace=False))
    out = []
    for f in features:
        if f not in Xf.columns:
            raise InputError(f"unknown feature {f!r}")
        c = Xf.columns.get_loc(f)
        col = Xf[f].to_numpy(dtype=float)
        col = col[np.isfinite(col)]
        uniq = np.unique(col)
        if len(uniq) <= grid_resolution:
            grid = uniq
        else:
            lo, hi = np.quantile(col, percentiles)
            grid = np.linspace(lo, hi, grid_resolution)
        stacked = np.tile(base, (len(grid), 1))
        stacked[:, c] = np.repeat(grid, len(base))
        pred = _batched(model, stacked, Xf.columns, as_frame, task).reshape(len(grid), len(base)).T
        out.append(PartialDependence(str(f), grid, pred.mean(axis=0), pred[ice_pick], rows[ice_pick], col, len(rows)))
    return out


# --------------------------------------------------------------------------- correlated features
def correlated_feature_groups(X: object, features: list[str] | None = None,
                              threshold: float = CORRELATION_THRESHOLD) -> list[list[str]]:
    """Groups of features linked by ``|Spearman rho| > threshold`` (connected components), largest first."""
    from scipy.sparse.csgraph import connected_components
    from scipy.stats import rankdata

    Xf = _frame(X)
    names = list(Xf.columns) if features is None else list(features)
    if len(names) < 2:
        return []
    ranks = rankdata(Xf[names].to_numpy(dtype=float), axis=0, nan_policy="omit")
    ranks = np.where(np.isnan(ranks), np.nanmean(ranks, axis=0), ranks)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.corrcoef(ranks, rowvar=False)
    linked = np.nan_to_num(np.abs(rho)) > threshold
    n_comp, labels = connected_components(linked, directed=False)
    groups = [[names[i] for i in np.flatnonzero(labels == g)] for g in range(n_comp)]
    return sorted([g for g in groups if len(g) > 1], key=len, reverse=True)


# --------------------------------------------------------------------------- all together
@dataclass
class Interpretation:
    """See :func:`explain`."""

    importance: PermutationImportance
    shap: ShapResult | None
    dependence: list[PartialDependence]
    correlated_groups: list[list[str]]
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def explain(estimator: object, X: object, y: object, splitter: object = None, task: str = "regression",
            top_k: int = 10, n_dependence: int = 3, n_repeats: int = 5, shap: bool = True,
            max_rows: int | None = 1000, seed: int = 0, fitted: object = None,
            features: list[str] | None = None, shap_rows: int = 300, shap_trees: int | None = 100,
            models: Sequence[object] | None = None, pd_rows: int = 300) -> Interpretation:
    """Permutation importance on CV folds, SHAP on a model fitted to all rows, PD/ICE of the top features,
    and a warning when correlated features among the ``top_k`` make the ranking unstable.

    ``fitted`` is a fitted model explained by SHAP and PD/ICE (otherwise a copy of ``estimator`` is
    fitted on all of ``X``); ``models`` are fitted models of the splits of ``splitter`` (no refits for
    the permutation importance, see :func:`permutation_importance_cv`); ``features`` limits the
    permuted columns (all by default); ``shap_rows`` and ``shap_trees`` bound the cost of SHAP (see
    :func:`shap_values`), ``pd_rows`` that of PD/ICE.
    """
    imp = permutation_importance_cv(estimator, X, y, splitter, n_repeats=n_repeats, task=task,
                                    features=features, max_rows=max_rows, seed=seed, models=models)
    top = imp.top(top_k)
    groups = correlated_feature_groups(X, top)
    found = []
    if groups:
        listed = "; ".join("{" + ", ".join(map(str, g)) + "}" for g in groups)
        found.append(f"correlated features among the top {len(top)} (|Spearman| > {CORRELATION_THRESHOLD}): "
                        f"{listed}. Their order is unstable: credit is shared arbitrarily within each group")
    model = fitted
    if model is None:
        model = _new_estimator(estimator)
        model.fit(X, _target(y, task) if task == "regression" else np.asarray(y).reshape(-1))
    # y=None: for a model SHAP cannot explain, the permutation importance above already stands in
    shap_res = shap_values(model, X, None, max_rows=shap_rows, max_trees=shap_trees, task=task, seed=seed) \
        if shap else None
    dep = partial_dependence(model, X, top[:n_dependence], task=task, seed=seed, max_rows=pd_rows)
    notes = list(imp.notes) + ([shap_res.note] if shap_res is not None and shap_res.note else [])
    return Interpretation(imp, shap_res, dep, groups, found, notes)
