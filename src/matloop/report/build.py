"""One call from a table to a report a scientist can read: :func:`build_report`.

It featurizes the inputs, audits the data (overview, coverage, bias), cross-validates the model with
random, leave-one-cluster-out and extrapolation splits, draws the diagnostics (parity, calibration,
residuals vs sigma, learning curve, applicability domain) and explains the model (permutation
importance on CV folds, SHAP, PD/ICE), all inside a time budget.

Every model fit is a cross-validation fit: the fold models of the random CV are kept and reused by
the learning curve (its full-size point), the permutation importance (each fold's held-out rows)
and SHAP and PD/ICE (the first fold's model); the leave-one-cluster-out CV holds out the clusters of
the coverage map. Time budget: two probe fits measure the model's speed and :class:`~matloop.report.
plan.Budget` chooses how many rows the cross-validations use so that the report fits in
``time_budget`` seconds. Whatever is subsampled is said in the report, in the takeaway of the
figure concerned.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.base import clone

from matloop.errors import InputError
from matloop.progress import reporting as _reporting
from matloop.report.html import Report
from matloop.report.plan import (
    LC_FOLDS,
    LC_FRACTIONS,
    PERM_FEATURES,
    PERM_REPEATS,
    Budget,
    Stopwatch,
    _other_seconds,
    _umap_seconds,
)

__all__ = ["build_report", "featurize", "resolve_model"]

def resolve_model(model: object, task: str = "regression", seed: int = 0,
                  n_jobs: int | None = -1, fit_budget: float = 20.0) -> tuple[object, str, str | None]:
    """An unfitted estimator, its description and a featurizer name (or None) for ``model``.

    ``model`` is ``None`` or ``"auto"`` (the pipeline ``matloop fit`` builds by default, so that the
    report describes the model the user saves; its candidates are scored within ``fit_budget``
    seconds per fit, as the report refits it in every fold), a name of
    :mod:`matloop.models.registry` (``rf``, ``et``, ``gbm``, ``gp``, ``nn``...), the path of a model
    saved by ``matloop fit`` (its estimator settings and featurizer are reused; the model is refitted
    in every fold) or an estimator.
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
        note = ""
        saved = model.get_params(deep=False).get("time_budget") if hasattr(model, "get_params") else None
        if isinstance(saved, int | float) and saved > fit_budget:  # AutoModel: the report refits it many times
            model = clone(model).set_params(time_budget=round(float(fit_budget), 1))
            note = f"; candidates scored within {fit_budget:.1f} s per fit instead of {saved:g} s"
        return model, f"{type(model).__name__} from {source} (refitted in each fold{note})", featurizer
    if model is not None and not isinstance(model, str):
        return model, type(model).__name__, None
    name = model or "auto"
    params: dict = {}
    if name in ("rf", "et"):
        params = {"n_estimators": 100 if task == "regression" else 200, "n_jobs": n_jobs}
    elif name == "auto" and task == "regression":
        params = {"time_budget": round(float(fit_budget), 1)}
        if fit_budget < 10:  # a short budget: 3 inner folds, so that the first candidate finishes sooner
            params["cv"] = 3
    try:
        est = make_model(name, task, random_state=seed, **params)
    except ValueError as exc:
        raise InputError(f"{exc}; or give the path of a model saved by 'matloop fit'") from None
    shown = ", ".join(f"{k}={v}" for k, v in params.items())
    if name == "auto":
        budget = f"; candidates scored within {params['time_budget']} s per fit" if "time_budget" in params else ""
        inner = f", {params['cv']}-fold inner CV" if "cv" in params else ""
        return est, f"auto ({type(est).__name__}, the default of 'matloop fit'{inner}{budget})", None
    return est, f"{name} ({type(est).__name__}({shown}))", None


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
    if dataset.kind == "structure":  # fitted here unless it came fitted with a model; rows seen before are cached
        from matloop.represent.feature_cache import cached_transform

        X = cached_transform(feat, dataset.X, fit=feat is not featurizer)
    elif dataset.kind == "pattern" and feat is not featurizer:  # the grid is fitted on the patterns
        X = feat.fit_transform(dataset.X)
    else:
        X = feat.transform(dataset.X)
    X = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X, dtype=float))
    return X.reset_index(drop=True), type(feat).__name__ + (f" ({getattr(feat, 'source', '')})"
                                                            if getattr(feat, "source", "") else "")


class _Splits:
    """Fixed (train, test) position pairs with the splitter API (so that every CV reuses them)."""

    def __init__(self, splits: list[tuple[np.ndarray, np.ndarray]], label: str):
        self.splits, self.label = splits, label

    def split(self, X: object = None, y: object = None, groups: object = None):
        yield from self.splits

    def get_n_splits(self, X: object = None, y: object = None, groups: object = None) -> int:
        return len(self.splits)

    def __repr__(self) -> str:
        return self.label


def _splits_of(splitter: object, X: pd.DataFrame, y: np.ndarray) -> _Splits:
    try:
        splits = [(np.asarray(a), np.asarray(b)) for a, b in splitter.split(X, y)]
    except ValueError as exc:  # e.g. scikit-learn: more folds than rows
        raise InputError(f"cannot split the data: {exc}") from exc
    return _Splits(splits, repr(splitter))


def _cross_validate(estimator: object, X: pd.DataFrame, y: np.ndarray, splits: _Splits, task: str,
                    keep: int = 0) -> tuple[object, list]:
    """:func:`~matloop.evaluate.cross_validate` that also returns the fitted models of the first ``keep`` folds."""
    from matloop.evaluate.cross_validation import cross_validate

    models: list = []

    def factory() -> object:
        est = clone(estimator)
        if len(models) < keep:
            models.append(est)
        return est

    return cross_validate(factory, X, y, splits, task=task), models


_SHAP_UNITS = 4e8  # rows x trees x n log2(n)^2 that TreeSHAP explains in a few seconds


def _shap_sizes(n_train: int) -> tuple[int, int]:
    """Rows and trees for TreeSHAP of a fully grown forest trained on ``n_train`` rows."""
    per = _SHAP_UNITS / (n_train * max(np.log2(n_train), 1.0) ** 2)
    trees = int(min(100, max(20, per / 150)))
    return int(min(300, max(50, per / trees))), trees


def build_report(
    dataset: object, model: object = None, cv: str = "kfold", featurizer: object = None, n_splits: int = 5,
    seed: int = 0, time_budget: float = 60.0, umap: bool | str = "auto", interpret: bool = True,
    learning_curve: bool = True, title: str | None = None, n_jobs: int | None = -1,
    progress: Callable[[str], None] | None = None, started: float | None = None,
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
        Seconds for the whole run, counted from ``started`` (a ``time.perf_counter()`` value, e.g. when
        the command began reading the table; default: now). The cross-validations use a random subsample
        of the rows when all of them would not fit, and optional parts that no longer fit are left out;
        the report says which.
    umap : bool or "auto"
        ``"auto"``: a UMAP map when umap-learn is installed; ``False``: PCA only.

    The returned report has ``timings``: seconds per stage. BLAS runs single-threaded meanwhile: the
    report's matrix products are small, and on a shared machine BLAS threads mostly wait for each other.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        return _build(dataset, model, cv, featurizer, n_splits, seed, time_budget, umap, interpret, learning_curve,
                      title, n_jobs, progress, started)


def _build(dataset, model, cv, featurizer, n_splits, seed, time_budget, umap, interpret, learning_curve, title,
           n_jobs, progress, started=None) -> Report:
    from matloop.evaluate import audit
    from matloop.evaluate.splitters import make_splitter
    from matloop.report import coverage as cover
    from matloop.report import sections

    start = time.perf_counter() if started is None else started
    clock = Stopwatch(progress)
    if not dataset.targets:
        raise InputError("a report needs a target column")
    name, task = dataset.target, dataset.task
    unit = (dataset.units or {}).get(name, "") or ""
    unit = "" if unit.strip().lower() in ("unitless", "dimensionless", "-", "none", "1") else unit
    notes: list[str] = []
    with clock("overview", "auditing the data"):
        overview = audit.dataset_overview(dataset)
        data = dataset.training()
    if len(data) < 20:
        raise InputError(f"only {len(data)} rows have a target value; a report needs at least 20")
    n = len(data)
    with clock("featurize", "featurizing"):
        # about 2k + 4 fits of the model (probes, three CVs, learning curve) share half the budget
        fit_budget = max(1.0, 0.5 * time_budget / (2 * n_splits + 4))
        estimator, model_desc, saved_featurizer = resolve_model(model, task, seed, n_jobs, fit_budget=fit_budget)
        X_raw, feat_desc = featurize(data, featurizer or saved_featurizer)
        X_all = audit.clean_features(X_raw)
        feature_note = _feature_note(X_raw, X_all)
    y_all = data.y.to_numpy(dtype=float) if task == "regression" else data.y.to_numpy()
    with clock("coverage", "mapping the feature space (PCA, clusters, density)"):
        cov = cover.coverage(X_all, y_all if task == "regression" else None, n_clusters=n_splits, umap=False,
                             seed=seed)
        if task == "classification":
            cov.embedding["class"] = y_all

    order = np.random.default_rng(seed).permutation(n)
    budget = Budget(time_budget, start)
    with clock("probe fits", "timing two probe fits"):
        budget.probe(estimator, X_all, y_all, order, task)
    # from here on every part is checked against the time left (figures need about `reserve` s)
    reserve = _other_seconds(n)
    skipped: list[str] = []

    def affordable(part: str, seconds: float) -> bool:
        if seconds <= budget.left() - reserve:
            return True
        skipped.append(part)
        notes.append(f"{part[0].upper()}{part[1:]} left out: about {seconds:.0f} s more were needed and "
                     f"{max(budget.left(), 0):.0f} s of the {time_budget:g} s time budget were left (--time-budget).")
        return False

    want_umap = umap is True or (umap == "auto" and _has_umap())
    if want_umap and _UMAP_LOAD + _umap_seconds(min(n, 1000), False) > 0.3 * (budget.left() - reserve):
        want_umap = False  # importing umap alone starts numba for many seconds: not on a short budget
        skipped.append("the UMAP map")
        notes.append(f"UMAP map left out: loading and running UMAP takes about "
                     f"{_UMAP_LOAD + _umap_seconds(min(n, 1000), False):.0f} s, too much of what is left of the "
                     f"{time_budget:g} s time budget (--time-budget); the PCA map is shown.")
    compiled = False
    if want_umap:
        with clock("umap", "loading UMAP"):  # importing umap starts numba (seconds): timed with the map
            compiled = cover.umap_compiled()
    plan = budget.plan(n, n_splits, task, want_umap, compiled, interpret, learning_curve and n >= 60)
    sub = np.sort(order[:plan.n_main])
    if plan.n_main < n:
        notes.append(f"The cross-validations, diagnostics and interpretation use a random subsample of {plan.n_main} "
                     f"of {n} rows to stay within the {time_budget:g} s time budget (--time-budget).")
    sub_data = data.subset(sub)
    X, y = X_all.iloc[sub].reset_index(drop=True), y_all[sub]

    with clock("cv random", f"cross-validating on {len(sub)} rows (random)"):
        random_splits = _splits_of(make_splitter(cv, n_splits=n_splits, seed=seed, dataset=sub_data, task=task), X, y)
        random_cv, fold_models = _cross_validate(estimator, X, y, random_splits, task, keep=n_splits if interpret else 1)
    results = {"random": random_cv}
    cv_fits = n_splits * budget.fit_time((1 - 1 / n_splits) * len(sub))
    if (over := time.perf_counter() - start - time_budget) > 0:  # the required part alone: say so, not just the total
        notes.append(f"The required reference CV alone ended {over:.1f} s past the {time_budget:g} s time budget "
                     f"(about {cv_fits / n_splits:.1f} s per fit of the model); a faster model or a larger budget fits.")
    with clock("cv loco", "cross-validating (leave-one-cluster-out)"):
        labels = cov.embedding["cluster"].to_numpy()[sub]
        loco = [(np.flatnonzero(labels != c), np.flatnonzero(labels == c)) for c in np.unique(labels)]
        loco = _Splits([s for s in loco if len(s[0])], f"LeaveOneClusterOut(n_clusters={n_splits}, seed={seed})")
        if len(loco.splits) < 2:
            notes.append("loco CV skipped: fewer than two clusters among the rows")
        elif affordable("the leave-one-cluster-out CV", cv_fits):
            results["loco"] = _cross_validate(estimator, X, y, loco, task)[0]
    if task == "regression" and affordable("the extrapolation CV", budget.fit_time(0.9 * len(sub))):
        with clock("cv extrapolation", "cross-validating (extrapolation)"):
            try:
                ext = _splits_of(make_splitter("extrapolation", dataset=sub_data, task=task), X, y)
                results["extrapolation"] = _cross_validate(estimator, X, y, ext, task)[0]
            except InputError as exc:
                notes.append(f"extrapolation CV skipped: {exc.message}")
    comparison = audit.summarize_cv_schemes(results)
    if cv != "kfold":
        comparison.table.loc[comparison.table["scheme"] == "random", "label"] = f"{cv} (reference)"
    with clock("memorisation", "1-nearest-neighbour baseline"), _reporting(quiet=True):  # 10 quick fits
        memo = audit.memorisation_baseline(X, y, random_splits, task, random_cv.pooled, seed)
    oof = random_cv.oof()
    abs_err = None
    if task == "regression" and len(oof) == len(X):
        abs_err = np.abs(oof["y_true"] - oof["prediction"]).to_numpy()
    with clock("applicability domain"):
        ad = _domain(X, cov.embedding[["pc1", "pc2"]].to_numpy()[sub], abs_err, seed, notes)

    curve = None
    if learning_curve and n < 60:
        notes.append("Learning curve skipped: fewer than 60 rows.")
    elif learning_curve:
        train = min(len(tr) for tr, _ in random_splits.splits)
        cost = LC_FOLDS * sum(budget.fit_time(f * train) for f in LC_FRACTIONS)
        if affordable("the learning curve", cost):
            with clock("learning curve"):
                curve = _learning_curve(estimator, X, y, random_splits, random_cv, task, seed)

    interp = None
    if interpret and affordable("the interpretation (permutation importance, SHAP, PD/ICE)",
                                plan.perm_rows * budget.predict_row * (1 + PERM_FEATURES * PERM_REPEATS) * n_splits
                                + 4.0):
        with clock("interpretation", "interpreting the model (permutation importance, SHAP, PD/ICE)"):
            interp = _interpret(estimator, X, y, random_splits, fold_models, task, seed, plan.perm_rows)
    if want_umap and budget.left() - reserve < plan.umap_seconds and plan.n_umap > 1000:
        plan.n_umap, plan.umap_seconds = 1000, plan.umap_seconds - 1e-3 * (plan.n_umap - 1000)
    if want_umap and affordable("the UMAP map", plan.umap_seconds):
        n_umap = plan.n_umap
        with clock("umap", f"mapping the feature space (UMAP of {n_umap} rows)"):
            try:
                cover.add_umap(cov, X_all, max_rows=n_umap, seed=seed)
            except ImportError:
                notes.append("UMAP map skipped: umap-learn is not installed")
    elif umap == "auto" and not want_umap and "the UMAP map" not in skipped:
        notes.append("UMAP map skipped: umap-learn is not installed (pip install umap-learn)")

    with clock("figures", "drawing the figures"):
        report = Report(title or f"matloop report: {dataset.name or 'dataset'} / {name}",
                        f"{n} labelled rows; target '{name}'{f' ({unit})' if unit else ''}; {task}; "
                        f"model {model_desc}")
        _summary(report, overview, cov, comparison, memo, interp, random_cv, unit, model_desc, skipped, time_budget)
        sections.add_overview_section(report, overview, unit, feature_note)
        sections.add_coverage_section(report, cov, name, unit, abs_err, sub)
        sections.add_validation_section(report, comparison, memo, unit, n_total=n)
        sections.add_diagnostics_section(report, random_cv, name, unit, curve, ad, n_total=n)
        if interp is not None:
            sections.add_interpretation_section(report, interp, name, unit, n_total=n)
        if dataset.kind == "pattern" and task == "classification":  # class activation maps on the patterns
            from matloop.report.diffraction import add_pattern_section

            add_pattern_section(report, X_raw, y_all, seed)
    report.timings = dict(clock.seconds)
    settings = _settings(dataset, feat_desc, X_all, model_desc, cv, n_splits, seed, time_budget, start)
    settings["seconds per stage"] = ", ".join(f"{k} {v:.1f}" for k, v in report.timings.items())
    sections.add_provenance_section(report, settings, notes)
    report.timings["total"] = time.perf_counter() - start
    clock.say(f"done in {report.timings['total']:.0f} s")
    return report


_UMAP_LOAD = 15.0  # seconds to import umap-learn (numba starts), on 2 shared cores


def _has_umap() -> bool:
    import importlib.util

    return importlib.util.find_spec("umap") is not None


def _feature_note(X_raw: pd.DataFrame, X_clean: pd.DataFrame) -> str:
    """What cleaning the features did: imputed missing values and dropped constant columns."""
    arr = X_raw.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(arr)
    dropped = X_raw.shape[1] - X_clean.shape[1]
    text = f"{X_raw.shape[1]} features"
    if bad.any():
        cols = int(bad.any(axis=0).sum())
        text += (f"; {int(bad.sum())} feature values ({bad.mean():.1%}) in {cols} columns were missing (e.g. an "
                 "element without a tabulated property) and were set to the column median")
    else:
        text += "; no feature value was missing"
    if dropped:
        text += f"; {dropped} constant feature(s) were dropped"
    return text + "."


def _domain(X: pd.DataFrame, coords: np.ndarray, abs_err: np.ndarray | None, seed: int, notes: list[str]):
    """The applicability-domain map's data: cross-validated k-NN distances (see ApplicabilityDomain)."""
    from threadpoolctl import threadpool_limits

    from matloop.models.domain import ApplicabilityDomain

    try:
        with threadpool_limits(1):
            dom = ApplicabilityDomain(method="knn", k=5, seed=seed).fit(X)
    except InputError as exc:
        notes.append(f"applicability domain skipped: {exc.message}")
        return None
    return {"coords": coords, "scores": dom.cv_scores_, "threshold": dom.threshold_, "abs_error": abs_err,
            "method": "PCA"}


def _learning_curve(estimator: object, X: pd.DataFrame, y: np.ndarray, splits: _Splits, cv_result: object,
                    task: str, seed: int) -> pd.DataFrame:
    """Small training sets on the first folds of the random CV; its fold models are the full-size point."""
    from matloop.evaluate.learning_curve import learning_curve as lc

    first = _Splits(splits.splits[:LC_FOLDS], splits.label)
    n_train = min(len(tr) for tr, _ in splits.splits)
    sizes = sorted({max(10, int(f * n_train)) for f in LC_FRACTIONS} - {n_train})
    curve = lc(estimator, X, y, sizes=sizes, splitter=first, repeats=1, seed=seed, task=task)
    full = pd.DataFrame([{"train_size": n_train, "fold": f["fold"], "repeat": 0, "n_test": f["n_test"],
                          "fit_seconds": f["fit_seconds"], **f["metrics"]} for f in cv_result.folds])
    return pd.concat([curve, full], ignore_index=True)


def _interpret(estimator: object, X: pd.DataFrame, y: np.ndarray, splits: _Splits, models: list, task: str,
               seed: int, perm_rows: int):
    """Permutation importance on the random CV's fold models (screened to the 30 most promising features),
    SHAP and PD/ICE of the first fold's model: no extra fit."""
    from matloop.evaluate import interpret

    scores = [np.asarray(getattr(m, "feature_importances_", []), dtype=float) for m in models]
    if all(len(s) == X.shape[1] for s in scores):
        score = np.mean(scores, axis=0)
    else:
        ranks = X.rank().to_numpy()
        yr = pd.Series(y).rank().to_numpy() if task == "regression" else pd.Series(pd.factorize(y)[0]).to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            score = np.nan_to_num(np.abs([np.corrcoef(ranks[:, j], yr)[0, 1] for j in range(X.shape[1])]))
    keep = list(X.columns[np.argsort(-score, kind="stable")[:PERM_FEATURES]])
    used = _Splits(splits.splits[:len(models)], splits.label)
    shap_rows, shap_trees = _shap_sizes(len(used.splits[0][0]))
    result = interpret.explain(estimator, X, y, used, task=task, n_repeats=PERM_REPEATS, max_rows=perm_rows,
                               seed=seed, fitted=models[0], features=keep, shap_rows=shap_rows,
                               shap_trees=shap_trees, models=models)
    result.notes.append("SHAP values and PD/ICE curves explain the model of the first CV fold (trained on "
                        f"{len(used.splits[0][0])} rows); permutation importance uses the {len(models)} fold "
                        "models, each on its own held-out rows.")
    if X.shape[1] > len(keep):
        result.notes.append(f"Permutation importance is measured for the {len(keep)} most promising of "
                            f"{X.shape[1]} features (screened by the model's impurity importance or |Spearman|).")
    return result


def _summary(report: Report, overview, cov, comparison, memo, interp, random_cv, unit: str, model_desc: str = "",
             skipped: list[str] | None = None, time_budget: float | None = None) -> None:
    from matloop.report.skill import is_percent_share_warning, skill_warnings
    from matloop.report.style import fmt

    report.add_section("Summary")
    if model_desc:
        report.add_text(f"Model described: {model_desc}. Every figure shows this model, refitted in each "
                        "cross-validation fold.")
    p = random_cv.pooled
    ref = str(comparison.table.iloc[0]["label"])
    ref = "Random-CV" if ref == "random k-fold" else f"{ref.split(' (')[0]} CV"
    if random_cv.task == "regression":
        cover = p.get("coverage_95", np.nan)
        report.add_text(f"{ref} MAE {fmt(p['mae'], unit)}, R² {p['r2']:.2f}"
                        + (f"; 95% interval coverage {cover:.0%}." if np.isfinite(cover) else "."))
    else:
        report.add_text(f"{ref} ROC-AUC {p['roc_auc']:.3f}, balanced accuracy {p['balanced_accuracy']:.3f}.")
    skill = skill_warnings(random_cv.task, p, memo, unit)
    found = [*skill, *comparison.warnings, *[w for w in memo.warnings if not is_percent_share_warning(w)],
             *overview.warnings, *cov.warnings, *(interp.warnings if interp is not None else [])]
    for w in found:
        report.add_warning(w)
    if skipped:
        report.add_warning(f"To stay within the {time_budget:g} s time budget, this report leaves out "
                           f"{', '.join(skipped)}; run with a larger --time-budget to include "
                           f"{'them' if len(skipped) > 1 else 'it'}.")
    if not found and not skipped:
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
