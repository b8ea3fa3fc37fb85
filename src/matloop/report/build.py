"""One call from a table to a report a scientist can read: :func:`build_report`.

It featurizes the inputs, audits the data (overview, coverage, bias), cross-validates the model with
random, leave-one-cluster-out and extrapolation splits, draws the diagnostics (parity, calibration,
residuals vs sigma, learning curve, applicability domain) and explains the model (permutation
importance on CV folds, SHAP, PD/ICE), all inside a time budget.

Time budget: one probe fit on a small sample measures the model's speed; the number of rows used by
the cross-validations, the learning curve and the interpretation is then chosen so that the planned
fits fit in ``time_budget`` seconds (fit time is assumed to grow as ``n**1.3``). Whatever is
subsampled or skipped is said in the report.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.base import clone

from matloop.errors import InputError
from matloop.report.html import Report

__all__ = ["build_report", "featurize", "resolve_model"]

_GROWTH = 1.3  # assumed exponent of fit time in the number of rows


def resolve_model(model: object, task: str = "regression", seed: int = 0,
                  n_jobs: int | None = -1) -> tuple[object, str, str | None]:
    """An unfitted estimator, its description and a featurizer name (or None) for ``model``.

    ``model`` is ``None`` (a 100-tree random forest, fast enough for the report's many refits), a
    name of :mod:`matloop.models.registry` (``rf``, ``et``, ``gbm``, ``gp``, ``nn``, ``auto``...), the
    path of a model saved by ``matloop fit`` (its estimator settings and featurizer are reused; the
    model is refitted in every fold) or an estimator.
    """
    from pathlib import Path

    from matloop.models.registry import make_model

    featurizer = None
    if isinstance(model, str) and Path(model).is_file():
        from matloop.models.persistence import load_model

        source = model
        model = load_model(model)
        if hasattr(model, "featurizer") and hasattr(model, "kind"):  # a MaterialModel: featurizer + estimator
            featurizer = model.featurizer
            model = model.estimator if model.estimator is not None else make_model("rf", task, seed)
        if not hasattr(model, "fit"):
            raise InputError(f"{source} does not hold an estimator that can be refitted")
        return model, f"{type(model).__name__} from {source} (refitted in each fold)", featurizer
    if model is not None and not isinstance(model, str):
        return model, type(model).__name__, None
    name = model or "rf"
    params: dict = {}
    if name in ("rf", "et"):
        params = {"n_estimators": 100 if task == "regression" else 200, "n_jobs": n_jobs}
    elif name == "auto" and task == "regression":
        params = {"time_budget": 20.0}
    try:
        est = make_model(name, task, random_state=seed, **params)
    except ValueError as exc:
        raise InputError(f"{exc}; or give the path of a model saved by 'matloop fit'") from None
    shown = ", ".join(f"{k}={v}" for k, v in params.items())
    return est, f"{type(est).__name__}({shown})", None


def featurize(dataset: object, featurizer: object = None) -> tuple[pd.DataFrame, str]:
    """Feature table of a dataset's inputs and the featurizer's description.

    Parameter tables are used as they are; other kinds use ``featurizer`` (an object with
    ``transform`` or a registry name) or the registry default for the input kind (Magpie for
    compositions when the default is not available).
    """
    from matloop.represent import registry

    if dataset.kind == "parameters":
        return dataset.X.astype(float), "parameter columns as features"
    if featurizer is None or isinstance(featurizer, str):
        try:
            feat = registry.get_featurizer(featurizer) if featurizer else registry.default_featurizer_for(dataset.kind)
        except (ImportError, AttributeError):
            if dataset.kind != "composition" or featurizer:
                raise
            feat = registry.get_featurizer("magpie")
    else:
        feat = featurizer
    X = feat.transform(dataset.X)
    X = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X, dtype=float))
    return X.reset_index(drop=True), type(feat).__name__ + (f" ({getattr(feat, 'source', '')})"
                                                            if getattr(feat, "source", "") else "")


class _Budget:
    """Plans subsample sizes from two timed probes (fit, then predict a quarter as many rows):
    ``time(n) = c * n**g`` with ``g`` measured between the probes (clipped to [1, 2.2]; forests with
    jackknife variances grow faster than linearly)."""

    def __init__(self, seconds: float, start: float):
        self.seconds, self.start = seconds, start
        self.c, self.g = 1e-4, 1.5

    def probe(self, estimator: object, X: pd.DataFrame, y: np.ndarray, order: np.ndarray, task: str) -> None:
        n = len(order)
        sizes = sorted({min(n, 200), min(n, 800)})
        times = []
        for m in sizes:
            test = order[m: m + max(m // 4, 10)] if n > m + 10 else order[: max(m // 4, 2)]
            t0 = time.perf_counter()
            fitted = clone(estimator).fit(X.iloc[order[:m]], y[order[:m]])
            if task == "regression":
                try:
                    fitted.predict(X.iloc[test], return_std=True)
                except TypeError:
                    fitted.predict(X.iloc[test])
            else:
                fitted.predict_proba(X.iloc[test])
            times.append(max(time.perf_counter() - t0, 1e-3))
        if len(sizes) == 2:
            self.g = float(np.clip(np.log(times[1] / times[0]) / np.log(sizes[1] / sizes[0]), 1.0, 2.2))
        self.c = times[-1] / sizes[-1] ** self.g

    def fit_time(self, n: float) -> float:
        return self.c * max(n, 1.0) ** self.g

    def left(self) -> float:
        return self.seconds - (time.perf_counter() - self.start)

    def rows_for(self, seconds: float, cost: Callable[[float], float], n: int, minimum: int = 30) -> int:
        """Largest row count in ``[minimum, n]`` whose ``cost(rows)`` (in fits' seconds) fits in ``seconds``."""
        if cost(n) <= seconds:
            return n
        lo, hi = minimum, n
        while hi - lo > max(1, n // 200):
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if cost(mid) <= seconds else (lo, mid)
        return int(lo)


_SHAP_UNITS = 4e8  # rows x trees x n log2(n)^2 that TreeSHAP explains in a few seconds


def _shap_sizes(n_train: int) -> tuple[int, int]:
    """Rows and trees for TreeSHAP of a fully grown forest trained on ``n_train`` rows."""
    per = _SHAP_UNITS / (n_train * max(np.log2(n_train), 1.0) ** 2)
    trees = int(min(100, max(20, per / 150)))
    return int(min(300, max(50, per / trees))), trees


def build_report(
    dataset: object, model: object = None, cv: str = "kfold", featurizer: object = None, n_splits: int = 5,
    seed: int = 0, time_budget: float = 180.0, umap: bool | str = "auto", interpret: bool = True,
    learning_curve: bool = True, title: str | None = None, n_jobs: int | None = -1,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Audit, validate, diagnose and explain a model on ``dataset``; returns a :class:`Report`.

    Parameters
    ----------
    dataset : matloop.io.Dataset
        With a target; rows without a target value are left out (and counted in the overview).
    model : None, str or estimator
        See :func:`resolve_model`; refitted in every fold.
    cv : str
        The reference ("random") scheme, a :func:`matloop.evaluate.make_splitter` name (``kfold``,
        ``group``, ``column:fold``, ...); it is compared with ``loco`` and ``extrapolation``.
    time_budget : float
        Seconds for the whole run (approximate); rows are subsampled to meet it.
    """
    from matloop.evaluate import audit
    from matloop.evaluate.cross_validation import cross_validate
    from matloop.evaluate.splitters import KFold, StratifiedKFold, make_splitter
    from matloop.report import sections

    start = time.perf_counter()
    say = progress or (lambda msg: None)
    if not dataset.targets:
        raise InputError("a report needs a target column")
    name, task = dataset.target, dataset.task
    unit = (dataset.units or {}).get(name, "") or ""
    unit = "" if unit.strip().lower() in ("unitless", "dimensionless", "-", "none", "1") else unit
    notes: list[str] = []
    overview = audit.dataset_overview(dataset)
    data = dataset.training()
    if len(data) < 20:
        raise InputError(f"only {len(data)} rows have a target value; a report needs at least 20")
    say("featurizing")
    estimator, model_desc, saved_featurizer = resolve_model(model, task, seed, n_jobs)
    X_all, feat_desc = featurize(data, featurizer or saved_featurizer)
    X_all = audit.clean_features(X_all)
    y_all = data.y.to_numpy(dtype=float) if task == "regression" else data.y.to_numpy()

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(data))
    budget = _Budget(time_budget, start)
    say("timing two probe fits")
    budget.probe(estimator, X_all, y_all, order, task)
    k = n_splits
    # about half of what is left for the random, LOCO and extrapolation CVs (2k + 1 fits)
    n_main = budget.rows_for(0.5 * budget.left(), lambda m: (2 * k + 1) * budget.fit_time((1 - 1 / k) * m),
                             len(data), minimum=min(len(data), 60))
    sub = np.sort(order[:n_main])
    if n_main < len(data):
        notes.append(f"Cross-validation, coverage maps and diagnostics use a random subsample of {n_main} of "
                     f"{len(data)} rows to stay within the {time_budget:g} s time budget.")
    sub_data = data.subset(sub)
    X, y = X_all.iloc[sub].reset_index(drop=True), y_all[sub]

    say("mapping the feature space (PCA)")
    y_map = y if task == "regression" else None
    cov = audit.coverage(X, y_map, n_clusters=n_splits, umap=False, seed=seed)
    say("cross-validating (random, leave-one-cluster-out, extrapolation)")
    schemes = {"random": make_splitter(cv, n_splits=n_splits, seed=seed, dataset=sub_data, task=task),
               "loco": make_splitter("loco", n_splits=n_splits, seed=seed)}
    if task == "regression":
        schemes["extrapolation"] = make_splitter("extrapolation", dataset=sub_data, task=task)
    results = {}
    for key, splitter in schemes.items():
        try:
            results[key] = cross_validate(estimator, X, y, splitter, task=task)
        except InputError as exc:
            if key == "random":
                raise
            notes.append(f"{key} CV skipped: {exc.message}")
    comparison = audit.summarize_cv_schemes(results)
    if cv != "kfold":
        comparison.table.loc[comparison.table["scheme"] == "random", "label"] = f"{cv} (reference)"
    random_cv = results["random"]
    memo = audit.memorisation_baseline(X, y, schemes["random"], task, random_cv.pooled, seed)
    oof = random_cv.oof()
    abs_err = None
    if task == "regression" and len(oof) == len(X):
        abs_err = np.abs(oof["y_true"] - oof["prediction"]).to_numpy()

    ad = None
    try:
        from matloop.models.domain import ApplicabilityDomain

        dom = ApplicabilityDomain(method="knn", k=5, seed=seed).fit(X)
        ad = {"coords": cov.embedding[["pc1", "pc2"]].to_numpy(), "scores": dom.cv_scores_,
              "threshold": dom.threshold_, "abs_error": abs_err, "method": "PCA"}
    except InputError as exc:
        notes.append(f"applicability domain skipped: {exc.message}")

    curve = None
    aux_split = (StratifiedKFold if task == "classification" else KFold)(n_splits=3, random_state=seed)
    if learning_curve:
        n_lc = budget.rows_for(0.4 * budget.left(), lambda m: 3 * sum(budget.fit_time(f * 2 / 3 * m) for f in
                                                                    (0.1, 0.25, 0.5, 1.0)), len(data),
                               minimum=min(len(data), 100))
        if len(data) < 60:
            notes.append("Learning curve skipped: fewer than 60 rows.")
        elif budget.left() > -0.25 * time_budget:  # a small curve is worth a small overrun
            lc_rows = np.sort(order[:n_lc])
            sizes = sorted({max(10, int(f * (n_lc * 2 // 3))) for f in (0.1, 0.25, 0.5, 1.0)})
            say(f"learning curve on {n_lc} rows")
            from matloop.evaluate.learning_curve import learning_curve as lc

            curve = lc(estimator, X_all.iloc[lc_rows].reset_index(drop=True), y_all[lc_rows], sizes=sizes,
                       splitter=aux_split, repeats=1, seed=seed, task=task)
            if n_lc < len(data):
                notes.append(f"The learning curve uses {n_lc} of {len(data)} rows (3-fold CV).")
        else:
            notes.append("Learning curve skipped: the time budget is spent.")

    interp = None
    if interpret:
        n_int = budget.rows_for(0.7 * budget.left(), lambda m: 3 * budget.fit_time(2 / 3 * m) + budget.fit_time(m),
                                len(data), minimum=min(len(data), 150))
        if budget.left() > -0.25 * time_budget:
            int_rows = np.sort(order[:n_int])
            Xi, yi = X_all.iloc[int_rows].reset_index(drop=True), y_all[int_rows]
            say(f"interpreting the model on {n_int} rows")
            interp = _interpret(estimator, Xi, yi, aux_split, task, seed)
            if n_int < len(data):
                notes.append(f"Interpretation uses {n_int} of {len(data)} rows (3-fold permutation importance).")
        else:
            notes.append("Interpretation skipped: the time budget is spent.")

    if umap:  # last: UMAP's first call compiles (tens of seconds), so it must not starve the validation
        need = 30.0 + 0.005 * len(X)
        if umap is True or budget.left() > need:
            say("mapping the feature space (UMAP)")
            cov = audit.coverage(X, y_map, n_clusters=n_splits, umap=umap, seed=seed)
        else:
            notes.append(f"UMAP map skipped: it needs about {need:.0f} s and {max(budget.left(), 0):.0f} s of the "
                         "budget are left (the PCA map is shown)")

    report = Report(title or f"matloop report: {dataset.name or 'dataset'} / {name}",
                    f"{len(data)} labelled rows; target '{name}'{f' ({unit})' if unit else ''}; {task}; "
                    f"model {model_desc}")
    _summary(report, overview, cov, comparison, memo, interp, random_cv, unit)
    sections.add_overview_section(report, overview, unit)
    sections.add_coverage_section(report, cov, name, unit, abs_err)
    sections.add_validation_section(report, comparison, memo, unit)
    sections.add_diagnostics_section(report, random_cv, name, unit, curve, ad)
    if interp is not None:
        sections.add_interpretation_section(report, interp, name, unit)
    settings = _settings(dataset, feat_desc, X_all, model_desc, cv, n_splits, seed, time_budget, start)
    sections.add_provenance_section(report, settings, notes)
    say(f"done in {time.perf_counter() - start:.0f} s")
    return report


def _interpret(estimator: object, X: pd.DataFrame, y: np.ndarray, splitter: object, task: str, seed: int):
    """Fit once, screen to at most 30 features (impurity importance or |Spearman|), then explain."""
    from matloop.evaluate import interpret

    fitted = clone(estimator).fit(X, y)
    scores = getattr(fitted, "feature_importances_", None)
    if scores is None or len(np.asarray(scores)) != X.shape[1]:
        ranks = X.rank().to_numpy()
        yr = pd.Series(y).rank().to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            scores = np.nan_to_num(np.abs([np.corrcoef(ranks[:, j], yr)[0, 1] for j in range(X.shape[1])]))
    keep = list(X.columns[np.argsort(-np.asarray(scores), kind="stable")[:30]])
    shap_rows, shap_trees = _shap_sizes(len(X))
    result = interpret.explain(estimator, X, y, splitter, task=task, n_repeats=3, max_rows=300, seed=seed,
                               fitted=fitted, features=keep, shap_rows=shap_rows, shap_trees=shap_trees)
    if X.shape[1] > len(keep):
        result.notes.append(f"Permutation importance is measured for the {len(keep)} most promising of "
                            f"{X.shape[1]} features (screened by the model's impurity importance or |Spearman|).")
    return result


def _summary(report: Report, overview, cov, comparison, memo, interp, random_cv, unit: str) -> None:
    from matloop.report.style import fmt

    report.add_section("Summary")
    p = random_cv.pooled
    ref = str(comparison.table.iloc[0]["label"])
    ref = "Random-CV" if ref == "random k-fold" else f"{ref.split(' (')[0]} CV"
    if random_cv.task == "regression":
        cover = p.get("coverage_95", np.nan)
        report.add_text(f"{ref} MAE {fmt(p['mae'], unit)}, R² {p['r2']:.2f}"
                        + (f"; 95% interval coverage {cover:.0%}." if np.isfinite(cover) else "."))
    else:
        report.add_text(f"{ref} ROC-AUC {p['roc_auc']:.3f}, balanced accuracy {p['balanced_accuracy']:.3f}.")
    found = [*comparison.warnings, *memo.warnings, *overview.warnings, *cov.warnings,
             *(interp.warnings if interp is not None else [])]
    for w in found:
        report.add_warning(w)
    if not found:
        report.add_note("No warnings: the data look balanced and the score carries over to harder splits.")


def _settings(dataset, feat_desc, X, model_desc, cv, n_splits, seed, budget, start) -> dict:
    import matloop

    return {"dataset": dataset.name or "(unnamed)", "source": dataset.provenance or "", "input column": dataset.input,
            "input kind": dataset.kind, "target": dataset.target, "task": dataset.task,
            "featurizer": feat_desc, "features": f"{X.shape[1]} (after dropping constant columns, median imputation)",
            "model": model_desc, "reference CV": f"{cv}, {n_splits} folds", "seed": seed,
            "time budget": f"{budget:.0f} s", "run time": f"{time.perf_counter() - start:.1f} s",
            "matloop": getattr(matloop, "__version__", "?"), "python": platform.python_version(),
            "citation": dataset.citation or ""}
