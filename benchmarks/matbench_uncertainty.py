"""The uncertainty side of benchmarks/matbench.py: AutoModel's predictive distribution scored on the test
folds, the arrays behind it kept per fold, and the tasks rebuilt from folds that finished in separate runs.

Kept apart from matbench.py so that each stays a readable size; matbench.py imports everything here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from matloop.evaluate.metrics import regression_metrics
from matloop.models.automodel import AutoModel

ARRAYS = Path(os.environ.get("MATBENCH_ARRAYS", "/tmp/matbench_arrays"))


def predictive_metrics(y: np.ndarray, mean: np.ndarray, std: np.ndarray, dist) -> dict:
    """Regression metrics with the uncertainty metrics of AutoModel's predictive distribution (PIT-based
    calibration, its own intervals, its log score); the Gaussian ``N(mean, std^2)`` reading of the same
    prediction beside them with the suffix ``_gaussian``."""
    from matloop.evaluate.uncertainty_metrics import distribution_metrics

    out = regression_metrics(y, mean, std)
    out.update({f"{k}_gaussian": out[k] for k in ("miscalibration_area", "coverage_95", "nll")})
    out.update(distribution_metrics(y, mean, dist, std))
    return out


def rescore_fold(path: Path, **params) -> dict:
    """AutoModel's test uncertainty metrics recomputed from the arrays ``auto_regression`` saved: the same
    :class:`~matloop.models.predictive.ResidualDistribution` fit AutoModel makes (on its out-of-fold mean,
    std and truth, censored at the detected lower bound), so a changed distribution is scored without
    refitting the models. ``params`` override the distribution's settings (for tuning on chosen folds)."""
    from matloop.models.predictive import ResidualDistribution

    a = np.load(path)
    lower = None if np.isnan(a["lower"]) else float(a["lower"])
    upper = None if np.isnan(a["upper"]) else float(a["upper"])
    rd = ResidualDistribution(**params).fit(a["oof_pred"], a["oof_std"], a["oof_y"], lower=lower)
    dist = rd.distribution(a["test_mean"], a["test_std"], (lower, upper))
    return predictive_metrics(a["test_y"], a["test_mean"], a["test_std"], dist)


def auto_regression(X: np.ndarray, y: np.ndarray, tr: np.ndarray, te: np.ndarray, row: str = "auto",
                    tag: str = "") -> tuple[dict, dict]:
    """AutoModel fitted on the ``tr`` rows: its test metrics (as ``row``) and each member's, and its weights.

    The inputs of its residual distribution (out-of-fold ensemble mean, std, truth) and its test
    predictions go to ``MATBENCH_ARRAYS/<tag>.npz`` so that ``--rescore`` can recompute the uncertainty
    metrics exactly for another setting of :class:`~matloop.models.predictive.ResidualDistribution`.
    """
    from matloop.models import predictive

    seen = {}
    fit = predictive.ResidualDistribution.fit

    def recording_fit(self, pred, std, y_oof, **kw):  # records the arrays AutoModel passes (same code path)
        if "lower" in kw:  # AutoModel's own call (a hurdle candidate fits one too, for its non-zero part)
            seen.update(pred=np.asarray(pred), std=np.asarray(std), y=np.asarray(y_oof))
        return fit(self, pred, std, y_oof, **kw)

    predictive.ResidualDistribution.fit = recording_fit
    try:
        # no time budget: the shared machine's load must not decide which candidates are scored
        model = AutoModel(random_state=0, time_budget=float("inf")).fit(X[tr], y[tr])
    finally:
        predictive.ResidualDistribution.fit = fit
    mean, std = model.predict(X[te], return_std=True)
    res = {row: predictive_metrics(y[te], mean, std, model.predict_distribution(X[te]))}
    if tag:
        ARRAYS.mkdir(parents=True, exist_ok=True)
        np.savez(ARRAYS / f"{tag}.npz", oof_pred=seen["pred"], oof_std=seen["std"], oof_y=seen["y"],
                 test_mean=mean, test_std=std, test_y=y[te], lower=model.bounds_[0] if model.bounds_[0] is not None
                 else np.nan, upper=model.bounds_[1] if model.bounds_[1] is not None else np.nan)
    members = model.member_predictions(X[te])
    res.update({name: regression_metrics(y[te], pred.to_numpy()) for name, pred in members.items()})
    if any(k.startswith("hurdle") for k in model.oof_predictions_):
        res[f"{row}_without_hurdle"] = without_hurdle(model, y[tr], members, y[te])
    return res, {"weights": model.weights_, "cv_mae": model.cv_scores_}


def without_hurdle(model: AutoModel, y_train: np.ndarray, members, y_test: np.ndarray) -> dict:
    """MAE of the ensemble AutoModel would have chosen without its hurdle candidate: the same greedy
    selection on the same out-of-fold predictions (averaged over CV repeats) minus the hurdle's variants, applied
    to the refitted members' test predictions. The default before the hurdle, at no extra fit."""
    from matloop.models.predictive import clip_to_bounds

    others = {k: v for k, v in model.oof_predictions_.items() if not k.startswith("hurdle")}
    weights = model._greedy_ensemble(others, np.asarray(y_train, dtype=float))
    pred = clip_to_bounds(sum(w * members[k].to_numpy() for k, w in weights.items()), model.bounds_)
    out = regression_metrics(y_test, pred)
    out["weights"] = weights
    return out


def carry_variants(old: dict | None, new: dict) -> None:
    """Keep the auto_transfer / auto_spg rows of a task's saved result when the task is rerun without them
    (they are marked as from the earlier run in ``carried_variants``)."""
    if not old:
        return
    by_fold = {f["fold"]: f for f in old["folds"]}
    carried = set()
    for fold in new["folds"]:
        prev = by_fold.get(fold["fold"], {})
        for key, row in (("transfer", "auto_transfer"), ("symmetry", "auto_spg")):
            if key in prev and row not in fold["metrics"]:
                fold[key], fold["metrics"][row] = prev[key], prev["metrics"][row]
                carried.add(row)
    for k, v in old.items():
        if (k.startswith("transfer") or k.startswith("symmetry")) and k not in new:
            new[k] = v
    if carried:
        new["carried_variants"] = sorted(carried)


def collect(args, fold_dir: Path, results_dir: Path, write) -> None:
    """The regression tasks of ``args.tasks`` rebuilt from the folds that finished (see ``--collect``), written
    with ``write``."""
    saved = json.loads((results_dir / "matbench.json").read_text())
    for r in saved["results"]:
        if r["task"] not in args.tasks or r["task_type"] != "regression":
            continue
        old = {f["fold"]: f for f in r["folds"]}
        folds = []
        for f in args.folds:
            arrays = ARRAYS / f"{r['task']}_{f}.npz"
            if not arrays.exists():
                continue
            unit = fold_dir / f"{r['task']}_{f}.json"
            if unit.exists():
                rec = json.loads(unit.read_text())
            elif f in old and "miscalibration_area_gaussian" in old[f]["metrics"].get("auto", {}):
                rec = old[f]
            else:  # only the arrays survived (a run stopped before its task was written): the auto row alone
                rec = {"fold": f, "seconds": float("nan"), "cpu_seconds": float("nan"), "metrics": {}}
            rec["metrics"]["auto"] = rescore_fold(arrays)
            rec["rescored"] = True
            for key, row in (("transfer", "auto_transfer"), ("symmetry", "auto_spg")):
                if key in old.get(f, {}) and row not in rec["metrics"]:
                    rec[key], rec["metrics"][row] = old[f][key], old[f]["metrics"][row]
                    r.setdefault("carried_variants", [])
                    if row not in r["carried_variants"]:
                        r["carried_variants"].append(row)
            folds.append(rec)
        if folds:
            r["folds"] = folds
            r["cpu_seconds"] = float(np.nansum([f["cpu_seconds"] for f in folds]))
            r["note"] = args.note
    write(saved["results"], args.folds, saved["total_seconds"], saved.get("jobs", 1))


def rescore(args, results_dir: Path, write) -> None:
    """``--rescore``: the auto rows of ``args.tasks`` in the saved .json, recomputed from their arrays."""
    saved = json.loads((results_dir / "matbench.json").read_text())
    for r in saved["results"]:
        for fold in r["folds"]:
            path = ARRAYS / f"{r['task']}_{fold['fold']}.npz"
            if r["task"] in args.tasks and path.exists():
                fold["metrics"]["auto"] = rescore_fold(path)
                fold["rescored"] = True
    write(saved["results"], args.folds, saved["total_seconds"], saved.get("jobs", 1))
