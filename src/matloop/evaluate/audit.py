"""Audit a dataset before trusting a model trained on it: coverage, bias and how honest the score is.

Materials data are small, clustered and biased (many oxides, few nitrides; many measurements of
one alloy family). A random cross-validation score then mostly measures how well the model
interpolates between near-duplicates. The functions here compute, without plotting:

- :func:`dataset_overview`: target distribution, element frequency (compositions), duplicates and
  conflicting measurements, class imbalance and missing values;
- :func:`clean_features`: the finite numeric feature table that maps, clusters and distances need
  (the coverage maps, clusters and point density are drawn by :mod:`matloop.report.coverage`);
- :func:`memorisation_baseline`: the cross-validated score a 1-nearest-neighbour lookup already gets
  (if it is close to the model's, the model mostly memorises near-duplicates);
- :func:`compare_cv_schemes`: random vs leave-one-cluster-out vs extrapolation scores side by side,
  with an explicit warning when the harder splits are much worse (see :data:`WARN_RATIO`).
Results are dataclasses of numbers and DataFrames; :mod:`matloop.report` draws them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from matloop.errors import InputError
from matloop.evaluate.cross_validation import CVResult, cross_validate
from matloop.evaluate.metrics import as_float_array

__all__ = [
    "WARN_RATIO", "DatasetOverview", "MemorisationBaseline", "SchemeComparison", "clean_features",
    "compare_cv_schemes", "dataset_overview", "element_frequency", "memorisation_baseline",
    "summarize_cv_schemes", "target_summary",
]

#: A harder split is flagged when its error is more than this many times the random-CV error
#: (regression: MAE; classification: 1 - balanced accuracy).
WARN_RATIO = 1.5


# --------------------------------------------------------------------------- overview
@dataclass
class DatasetOverview:
    """What is in the table: see :func:`dataset_overview`.

    ``target_stats`` holds count, mean, std, min, quartiles, max, skew, n_unique and the number of
    outliers (beyond 3 inter-quartile ranges from the quartiles); ``duplicates`` one row per member of
    a repeated material (``group``, ``row``, ``material``, ``target``); ``conflicts`` the error-table
    rows of repeats whose target differs; ``replicate_spread`` the mean within-group standard
    deviation of repeated materials (a floor under any model's error).
    """

    n_rows: int
    n_labelled: int
    task: str
    target: str | None
    target_stats: pd.Series
    missing: pd.DataFrame
    class_counts: pd.Series | None = None
    imbalance_ratio: float | None = None
    element_counts: pd.Series | None = None
    arity_counts: pd.Series | None = None
    duplicates: pd.DataFrame = field(default_factory=pd.DataFrame)
    conflicts: pd.DataFrame = field(default_factory=pd.DataFrame)
    replicate_spread: float = float("nan")
    warnings: list[str] = field(default_factory=list)
    target_values: np.ndarray | None = None


def target_summary(y: object) -> pd.Series:
    """Distribution statistics of a numeric target (NaN values are ignored and counted as missing)."""
    v = pd.to_numeric(pd.Series(np.asarray(y).reshape(-1)), errors="coerce").dropna().to_numpy(float)
    if len(v) == 0:
        return pd.Series({"count": 0}, dtype=float)
    q1, med, q3 = np.quantile(v, [0.25, 0.5, 0.75])
    iqr = q3 - q1
    std = float(v.std(ddof=1)) if len(v) > 1 else float("nan")
    skew = float(np.mean(((v - v.mean()) / v.std()) ** 3)) if len(v) > 2 and v.std() > 0 else float("nan")
    outliers = int(np.sum((v < q1 - 3 * iqr) | (v > q3 + 3 * iqr))) if iqr > 0 else 0
    return pd.Series({"count": len(v), "mean": float(v.mean()), "std": std, "min": float(v.min()), "25%": q1,
                      "50%": med, "75%": q3, "max": float(v.max()), "skew": skew,
                      "n_unique": len(np.unique(v)), "n_outliers": outliers})


def element_frequency(compositions: object) -> pd.Series:
    """Number of materials containing each element, indexed by symbol in atomic-number order.

    ``compositions`` is a :class:`matloop.io.Compositions` or a sequence of formulas. Elements that
    appear in no material are left out.
    """
    from matloop.io.elements import SYMBOLS
    from matloop.io.formula import Compositions, parse_formulas

    comps = compositions if isinstance(compositions, Compositions) else parse_formulas(list(compositions))
    counts = np.bincount(comps.z[comps.amount > 0], minlength=len(SYMBOLS))  # each (row, element) stored once
    present = np.flatnonzero(counts)
    return pd.Series(counts[present], index=[SYMBOLS[z] for z in present], name="materials")


def _material_keys(dataset: object) -> tuple[list, pd.Series]:
    """A hashable key per row identifying the material (normalised formula, canonical SMILES...)."""
    frame = dataset.frame
    if dataset.kind == "composition":
        from matloop.io.formula import parse_formulas

        keys = parse_formulas(frame[dataset.input], column=dataset.input, rows=dataset.rows).formulas(6)
        return list(keys), frame[dataset.input]
    if dataset.kind == "parameters":
        cols = dataset.parameter_columns
        return [tuple(r) for r in frame[cols].itertuples(index=False)], \
            pd.Series([", ".join(map(str, r)) for r in frame[cols].itertuples(index=False)])
    values = frame[dataset.input]
    if dataset.kind == "molecule":  # canonical SMILES (RDKit), so that two spellings of a molecule match
        from matloop.io.validate import validate_smiles

        keys, _ = validate_smiles(values, dataset.input, np.asarray(dataset.rows))
        return [k if k is not None else v for k, v in zip(keys, values, strict=True)], values
    return [str(v).strip() for v in values], values


def dataset_overview(dataset: object, target: str | None = None) -> DatasetOverview:
    """Summarise a :class:`matloop.io.Dataset`: target, elements, duplicates, imbalance, missing values.

    Warnings are raised (as strings in ``warnings``) for a strongly skewed target, rare classes
    (imbalance above 5:1), conflicting repeats, elements present in fewer than 5 materials and
    missing target values.
    """
    from matloop.io.duplicates import find_duplicates

    frame, task, warnings = dataset.frame, dataset.task, []
    target = target or (dataset.targets[0] if dataset.targets else None)
    na = frame.isna().sum()
    missing = pd.DataFrame({"column": na.index.astype(str), "n_missing": na.to_numpy(), "fraction": na.to_numpy()
                            / max(len(frame), 1)})
    out = DatasetOverview(len(frame), int(frame[target].notna().sum()) if target else 0, task, target,
                          pd.Series(dtype=float), missing)
    if target is not None:
        y = frame[target]
        out.target_values = y.dropna().to_numpy()
        if out.n_labelled < len(frame):
            warnings.append(f"{len(frame) - out.n_labelled} rows have no '{target}' value (candidates, not "
                            "used for training)")
        if task == "classification":
            counts = y.dropna().value_counts()
            out.class_counts = counts
            out.imbalance_ratio = float(counts.max() / counts.min()) if len(counts) > 1 else float("inf")
            if out.imbalance_ratio > 5:
                warnings.append(f"class imbalance {out.imbalance_ratio:.1f}:1 (class '{counts.index[-1]}' has "
                                f"{counts.iloc[-1]} rows): use balanced accuracy or PR-AUC, not accuracy")
        else:
            out.target_stats = target_summary(y)
            skew = out.target_stats.get("skew", np.nan)
            if np.isfinite(skew) and abs(skew) > 2:
                hint = "; all values are positive, a log target may help" if out.target_stats["min"] > 0 else ""
                warnings.append(f"the target is strongly skewed (skew {skew:.1f}){hint}")
    if dataset.kind == "composition" and dataset.input is not None:
        from matloop.io.formula import parse_formulas

        comps = parse_formulas(frame[dataset.input], column=dataset.input, rows=dataset.rows)
        out.element_counts = element_frequency(comps)
        out.arity_counts = pd.Series(comps.n_elements).value_counts().sort_index().rename("materials")
        rare = out.element_counts[out.element_counts < 5]
        if len(rare):
            warnings.append(f"{len(rare)} element(s) occur in fewer than 5 materials ({', '.join(rare.index[:12])}"
                            f"{', ...' if len(rare) > 12 else ''}): predictions involving them are extrapolation")
    if dataset.input is not None or dataset.kind == "parameters":
        keys, shown = _material_keys(dataset)
        targets = frame[[target]] if target else frame.iloc[:, :0]
        dup = find_duplicates(keys, targets, np.asarray(dataset.rows), dataset.input or "parameters",
                              shown.reset_index(drop=True))
        out.conflicts = dup.conflicts
        if dup.groups:
            members = np.concatenate(dup.groups)
            group = np.repeat(np.arange(len(dup.groups)), [len(g) for g in dup.groups])
            out.duplicates = pd.DataFrame({"group": group, "row": np.asarray(dataset.rows)[members],
                                           "material": shown.to_numpy()[members],
                                           "target": frame[target].to_numpy()[members] if target else None})
            if target and task == "regression":
                spread = out.duplicates.groupby("group")["target"].std(ddof=1)
                out.replicate_spread = float(spread.mean())
            if len(dup.conflicts):
                extra = (f"; repeats differ by {out.replicate_spread:.3g} on average (std), a floor under any "
                         "model's error") if np.isfinite(out.replicate_spread) else ""
                warnings.append(f"{len(dup.groups)} material(s) appear more than once and {len(dup.conflicts)} "
                                f"repeat(s) disagree{extra}")
    out.warnings = warnings
    return out


# --------------------------------------------------------------------------- features
def clean_features(X: object) -> pd.DataFrame:
    """A finite numeric feature table: missing values take the column median, constant columns go.

    Maps, clusters and distances need finite numbers; featurizers leave NaN where an element lacks
    a tabulated property. The models impute the same way internally.
    """
    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X, dtype=float))
    frame = frame.apply(pd.to_numeric, errors="coerce").astype(float)
    frame = frame.replace([np.inf, -np.inf], np.nan)
    frame = frame.fillna(frame.median()).fillna(0.0)
    keep = frame.std(axis=0).to_numpy() > 0
    if not keep.any():
        raise InputError("every feature is constant: nothing distinguishes the materials")
    return frame.loc[:, keep]


def _standardise(X: object) -> np.ndarray:
    arr = clean_features(X).to_numpy(float)
    return (arr - arr.mean(axis=0)) / arr.std(axis=0)


# --------------------------------------------------------------------------- memorisation baseline
def _error_metric(task: str) -> str:
    return "mae" if task == "regression" else "balanced_accuracy"


def _error_value(metrics: Mapping[str, float], task: str) -> float:
    """An error (smaller is better): MAE, or 1 - balanced accuracy for classification."""
    if task == "regression":
        return float(metrics["mae"])
    return 1.0 - float(metrics["balanced_accuracy"])


@dataclass
class MemorisationBaseline:
    """See :func:`memorisation_baseline`. ``share`` is the fraction of the model's improvement over
    predicting the mean (or the majority class) that a 1-nearest-neighbour lookup already achieves."""

    metric: str
    nearest_neighbour: dict[str, float]
    dummy: dict[str, float]
    model: dict[str, float] | None
    share: float
    nn_distance: np.ndarray
    n_twins: int
    warnings: list[str] = field(default_factory=list)


def memorisation_baseline(X: object, y: object, splitter: object = None, task: str = "regression",
                          model_metrics: Mapping[str, float] | None = None, seed: int = 0) -> MemorisationBaseline:
    """Cross-validated score of a 1-NN lookup (standardised features) and of the mean predictor.

    ``model_metrics`` (e.g. ``CVResult.pooled`` of the same splitter) gives ``share``. ``nn_distance``
    is each row's distance to its nearest other row; ``n_twins`` counts rows with an exact feature
    twin (distance 0), which a random split puts on both sides.
    """
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor, NearestNeighbors
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    from matloop.evaluate.splitters import KFold, StratifiedKFold

    Xc = clean_features(X)
    if splitter is None:
        splitter = (StratifiedKFold if task == "classification" else KFold)(n_splits=5, random_state=seed)
    knn = KNeighborsRegressor(1) if task == "regression" else KNeighborsClassifier(1)
    dummy = DummyRegressor() if task == "regression" else DummyClassifier(strategy="prior")
    with threadpool_limits(1):  # small BLAS jobs: on a shared machine, threads only contend
        nn = cross_validate(make_pipeline(StandardScaler(), knn), Xc, y, splitter, task=task).pooled
        base = cross_validate(dummy, Xc, y, splitter, task=task).pooled
        Z = _standardise(Xc)
        dist, _ = NearestNeighbors(n_neighbors=2).fit(Z).kneighbors(Z)
    nn_dist = dist[:, 1]
    share = float("nan")
    warnings: list[str] = []
    if model_metrics is not None:
        e_nn, e_base, e_model = (_error_value(m, task) for m in (nn, base, model_metrics))
        if e_base - e_model > 0:
            share = (e_base - e_nn) / (e_base - e_model)
        if np.isfinite(share) and share >= 0.9:
            warnings.append(f"a 1-nearest-neighbour lookup already achieves {share:.0%} of the model's gain over "
                            "the mean: the score mostly reflects near-duplicates in the data")
    twins = int(np.sum(nn_dist < 1e-9))
    if twins:
        warnings.append(f"{twins} rows have an exact twin in feature space (same features, maybe a different "
                        "target): random splits put one twin in training and one in test")
    return MemorisationBaseline(_error_metric(task), nn, base, dict(model_metrics) if model_metrics else None,
                                share, nn_dist, twins, warnings)


# --------------------------------------------------------------------------- CV schemes
@dataclass
class SchemeComparison:
    """Scores of several cross-validation schemes side by side (see :func:`summarize_cv_schemes`).

    ``table`` has one row per scheme: ``scheme``, ``n_splits``, ``n_test``, ``error`` (pooled MAE or
    1 - balanced accuracy), ``error_std`` (over folds), ``ratio`` (to the random scheme), ``r2`` or
    ``roc_auc`` and, for the extrapolation scheme, ``reference_error``: the random-CV error on the
    same test rows.
    """

    table: pd.DataFrame
    metric: str
    reference: str
    warnings: list[str] = field(default_factory=list)
    results: dict[str, CVResult] = field(default_factory=dict)

    def ratio(self, scheme: str) -> float:
        """Error of ``scheme`` divided by the error of the reference (random) scheme."""
        return float(self.table.set_index("scheme").loc[scheme, "ratio"])


SCHEME_SPLITTERS = {"random": "kfold", "loco": "loco", "extrapolation": "extrapolation",
                    "group": "group", "element": "element"}
SCHEME_LABELS = {"random": "random k-fold", "loco": "leave-one-cluster-out", "extrapolation":
                 "extrapolation (top 10%)", "group": "by chemical system", "element": "leave-one-element-out"}


def summarize_cv_schemes(results: Mapping[str, CVResult], reference: str = "random",
                         threshold: float = WARN_RATIO) -> SchemeComparison:
    """Compare finished cross-validations; warn where a scheme's error exceeds ``threshold`` x the reference."""
    if reference not in results:
        raise ValueError(f"the reference scheme {reference!r} is not among {list(results)}")
    task = results[reference].task
    ref_err = _error_value(results[reference].pooled, task)
    ref_pred = results[reference].predictions
    rows, warnings = [], []
    for name, res in results.items():
        per_fold = [_error_value(f["metrics"], task) for f in res.folds]
        err = _error_value(res.pooled, task)
        row = {"scheme": name, "label": SCHEME_LABELS.get(name, name), "n_splits": len(res.folds),
               "n_test": int(sum(f["n_test"] for f in res.folds)), "error": err,
               "error_std": float(np.std(per_fold, ddof=1)) if len(per_fold) > 1 else float("nan"),
               "ratio": err / ref_err if ref_err > 0 else float("nan"),
               "score": res.pooled.get("r2" if task == "regression" else "roc_auc", float("nan")),
               "reference_error": float("nan")}
        if name != reference and res.predictions is not None and ref_pred is not None and task == "regression":
            idx = np.unique(res.predictions["index"].to_numpy())
            same = ref_pred[ref_pred["index"].isin(idx)]
            if len(same):
                row["reference_error"] = float(np.mean(np.abs(same["y_true"] - same["prediction"])))
        rows.append(row)
        if name != reference and np.isfinite(row["ratio"]) and row["ratio"] > threshold:
            what = {"loco": "new families of materials (unseen clusters)",
                    "extrapolation": "values beyond the training range",
                    "group": "new chemical systems", "element": "materials with an unseen element"}.get(name, name)
            warnings.append(f"{SCHEME_LABELS.get(name, name)} error is {row['ratio']:.1f}x the random-CV error "
                            f"(> {threshold:g}x): the random-CV score overstates how well the model predicts {what}")
    metric = "MAE" if task == "regression" else "1 - balanced accuracy"
    return SchemeComparison(pd.DataFrame(rows), metric, reference, warnings, dict(results))


def compare_cv_schemes(estimator: object, X: object, y: object, schemes: object = ("random", "loco", "extrapolation"),
                       task: str = "regression", n_splits: int = 5, seed: int = 0, dataset: object = None,
                       compositions: object = None, direction: str | None = None,
                       threshold: float = WARN_RATIO) -> SchemeComparison:
    """Cross-validate ``estimator`` with several schemes and compare them (:func:`summarize_cv_schemes`).

    ``schemes`` is a sequence of names (``random``, ``loco``, ``extrapolation``, ``group``,
    ``element``) or a mapping name -> splitter; the first is the reference. ``extrapolation`` is
    skipped for classification. Features are cleaned (:func:`clean_features`) so that the clusters
    of LOCO-CV are well defined.
    """
    from matloop.evaluate.splitters import make_splitter

    Xc = clean_features(X)
    y_arr = as_float_array(y, "target") if task == "regression" else np.asarray(y).reshape(-1)
    if isinstance(schemes, Mapping):
        splitters = dict(schemes)
    else:
        splitters = {}
        for name in schemes:
            if name == "extrapolation" and task == "classification":
                continue
            ctx = {"task": task, "dataset": dataset, "compositions": compositions}
            if direction is not None:
                ctx["direction"] = direction
            splitters[name] = make_splitter(SCHEME_SPLITTERS.get(name, name), n_splits=n_splits, seed=seed,
                                            **{k: v for k, v in ctx.items() if v is not None})
    results = {name: cross_validate(estimator, Xc, y_arr, sp, task=task) for name, sp in splitters.items()}
    return summarize_cv_schemes(results, reference=next(iter(splitters)), threshold=threshold)
