"""Matbench v0.1 (official folds) for AutoModel and each single model, beside the leaderboard.

Runs the composition tasks steels, expt_gap, expt_is_metal, glass and jdft2d with matloop's default
composition features. Regression: AutoModel, and the single models it refits (rf, et, gbm, and gp
up to 1,000 rows) on the same outer folds, at no extra cost. Classification: AutoClassifier and its
members. Writes benchmarks/results/matbench.md and .json.

usage: python benchmarks/matbench.py [--jobs 2] [--tasks steels expt_gap ...] [--folds 0 1 2 3 4] [--transfer]
       [--symmetry]

``--transfer`` adds the row ``auto_transfer`` on the regression tasks (the other rows are kept from
the saved .json): the estimator ``matloop fit --transfer auto`` builds (the default composition
features plus every pre-trained library source's value: computed where the composition is in the
source's database, the network's prediction elsewhere), with AutoModel as its final model where the
CLI puts median extra trees. Leakage statement: the .md counts, per task, the compositions that occur
in each source's database; no source holds the task's target property. Rerunning a task (without
``--transfer``) drops its auto_transfer rows: run ``--transfer`` again after it.

``--symmetry`` adds the row ``auto_spg`` where the table holds a space-group number (jdft2d): AutoModel
on the default composition features plus ``spg_num``, as ``matloop fit --extra-inputs spg_num`` builds
it. Not composition only, and reported apart; it is still much less than the crystal structure that
the structure-based leaderboard entries used.

Regression folds keep AutoModel's arrays (``MATBENCH_ARRAYS``); ``--rescore`` recomputes the uncertainty
metrics from them, ``--collect DIR`` rebuilds tasks from folds run separately (``matbench_uncertainty.py``).

With --jobs 2 the (task, fold) units run in two single-threaded worker processes (spawned, longest
first): the whole run took 27.1 min on the 2-core machine (49.8 CPU-min).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from matloop.datasets import load
from matloop.evaluate.metrics import classification_metrics, regression_metrics
from matloop.models.automodel import AutoClassifier, AutoModel
from matloop.represent.registry import get_featurizer

sys.path.insert(0, str(Path(__file__).parent))
from matbench_uncertainty import auto_regression, carry_variants, collect, rescore  # noqa: E402

RESULTS = Path(__file__).parent / "results"

# Matbench v0.1 leaderboard (materialsproject/matbench, commit 936176db, 2024-01-20): mean over folds.
# Regression: MAE; classification: ROC-AUC (= balanced accuracy for the hard-label submissions).
LEADERBOARD = {
    "steels": {"top (TPOT-Mat)": 79.9468, "MODNet v0.1.12": 87.7627, "AMMExpress v2020": 97.4929,
               "RF-SCM/Magpie": 103.5125},
    "expt_gap": {"top (Darwin)": 0.2865, "MODNet v0.1.12": 0.3327, "AMMExpress v2020": 0.4161,
                 "RF-SCM/Magpie": 0.4461},
    "expt_is_metal": {"top (Darwin)": 0.9598, "AMMExpress v2020": 0.9209, "RF-SCM/Magpie": 0.9167,
                      "MODNet v0.1.12": 0.9161},
    "glass": {"top (MODNet v0.1.12)": 0.9603, "AMMExpress v2020": 0.8607, "RF-SCM/Magpie": 0.8587},
    "jdft2d": {"top (MODNet v0.1.12)": 33.1918, "AMMExpress v2020": 39.8497, "RF-SCM/Magpie": 50.0440},
}
# rough relative cost of one fold, to start the longest units first when running in parallel
COST_ORDER = {"expt_gap": 5, "jdft2d": 4, "expt_is_metal": 3, "steels": 2, "glass": 1}


@cache
def task_matrix(task: str):
    """The task's dataset, its default composition features and the featurization time (cached per process)."""
    ds = load(f"matbench_{task}")
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        X = get_featurizer("default").transform(ds.X).to_numpy(dtype=float)
    return ds, X, time.perf_counter() - t0


def transfer_overlap(task: str) -> dict:
    """How many of the task's compositions occur in each pre-training source's database (and in any)."""
    from matloop.models.pretrained.lookup import computed_values
    from matloop.models.pretrained.sources import SOURCES
    from matloop.models.transfer_features import compositions_from

    ds = load(f"matbench_{task}")
    comps, _ = compositions_from(ds.X)
    hits = {s: np.isfinite(computed_values(s, comps)) for s in SOURCES}
    return {"rows": len(ds.y), "any": int(np.any(list(hits.values()), axis=0).sum()),
            **{s: int(h.sum()) for s, h in hits.items()}}


def run_transfer_fold(task: str, f: int) -> dict:
    """``--transfer auto`` (default features + every source's value) with AutoModel as the final model."""
    from matloop.models.transfer import make_transfer_model

    ds = load(f"matbench_{task}")
    y = ds.y.to_numpy(dtype=float)
    tr, te = np.flatnonzero(ds.folds != f), np.flatnonzero(ds.folds == f)
    t1, cpu = time.perf_counter(), time.process_time()
    model = make_transfer_model("auto", task="regression", random_state=0)
    model.set_params(base_model=AutoModel(random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(ds.X.iloc[tr], y[tr])
        mean, std = model.predict(ds.X.iloc[te], return_std=True)
        members = model.model_.member_predictions(model.features(ds.X.iloc[te]))
    res = {"auto_transfer": regression_metrics(y[te], mean, std)}
    res.update({name: regression_metrics(y[te], pred.to_numpy()) for name, pred in members.items()})
    seconds = time.perf_counter() - t1
    print(f"{task} fold {f} (transfer): auto_transfer mae={res['auto_transfer']['mae']:.4g} "
          + " ".join(f"{m}={r['mae']:.4g}" for m, r in res.items() if m != "auto_transfer") + f" ({seconds:.0f} s)",
          flush=True)
    return {"fold": f, "seconds": seconds, "cpu_seconds": time.process_time() - cpu, "metrics": res,
            "weights": model.model_.weights_, "cv_mae": model.model_.cv_scores_}


def run_fold(task: str, f: int) -> dict:
    """AutoModel (or AutoClassifier) and its members on one official fold: metrics, weights, times."""
    ds, X, _ = task_matrix(task)
    y = ds.y.to_numpy()
    tr, te = ds.folds != f, ds.folds == f
    t1, cpu = time.perf_counter(), time.process_time()
    if ds.task == "regression":
        res, extra = auto_regression(X, y.astype(float), tr, te, tag=f"{task}_{f}")
    else:
        model = AutoClassifier(random_state=0).fit(X[tr], y[tr])
        proba = model.predict_proba(X[te])[:, 1]
        res = {"auto": classification_metrics(y[te], proba, classes=list(model.classes_),
                                              labels=model.predict(X[te]))}
        Xc = model.cleaner_._transform_array(X[te])
        for name, est in model.estimators_.items():
            res[name] = classification_metrics(y[te], est.predict_proba(Xc)[:, 1], classes=list(model.classes_))
        extra = {"weights": model.weights_}
    seconds = time.perf_counter() - t1
    key = "mae" if ds.task == "regression" else "roc_auc"
    print(f"{task} fold {f}: auto {key}={res['auto'][key]:.4g} "
          + " ".join(f"{m}={r[key]:.4g}" for m, r in res.items() if m != "auto") + f" ({seconds:.0f} s)",
          flush=True)
    return {"fold": f, "seconds": seconds, "cpu_seconds": time.process_time() - cpu, "metrics": res, **extra}


def task_header(task: str) -> dict:
    ds, X, featurize_s = task_matrix(task)
    return {"task": task, "n": len(ds.y), "task_type": ds.task, "featurize_seconds": featurize_s, "folds": []}


def run_tasks(tasks: list[str], folds: list[int], jobs: int, on_task_done, unit=run_fold, header=task_header) -> None:
    """Every (task, fold) ``unit`` (a top-level function, for the workers), in ``jobs`` worker processes
    (one thread each), longest tasks first; ``header(task)`` starts each task's result.

    ``on_task_done(result)`` is called as soon as all folds of a task are in, so a long run keeps
    what it finished.
    """
    pending = {t: header(t) for t in tasks}
    remaining = {t: len(folds) for t in tasks}
    starts = {}

    def done(task: str, fold: dict) -> None:
        pending[task]["folds"].append(fold)
        remaining[task] -= 1
        if remaining[task] == 0:
            result = pending[task]
            result["folds"].sort(key=lambda d: d["fold"])
            result["wall_seconds"] = time.perf_counter() - starts[task]
            result["cpu_seconds"] = sum(d["cpu_seconds"] for d in result["folds"])
            on_task_done(result)

    units = sorted(((t, f) for t in tasks for f in folds), key=lambda u: -COST_ORDER.get(u[0], 0))
    if jobs <= 1:
        for t, f in units:
            starts.setdefault(t, time.perf_counter())
            done(t, unit(t, f))
        return
    os.environ["OMP_NUM_THREADS"] = "1"  # inherited by the workers: gradient boosting's OpenMP
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = {}
        for t, f in units:
            starts.setdefault(t, time.perf_counter())
            futures[pool.submit(unit, t, f)] = t
        for future in as_completed(futures):
            done(futures[future], future.result())


def add_extra_models(result: dict, names: list[str]) -> None:
    """Score extra single models on the folds of a saved regression result (in place)."""
    from matloop.models.registry import make_model

    if result["task_type"] != "regression":
        return
    ds = load(f"matbench_{result['task']}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        X = get_featurizer("default").transform(ds.X).to_numpy(dtype=float)
    y = ds.y.to_numpy(dtype=float)
    for fold in result["folds"]:
        tr, te = ds.folds != fold["fold"], ds.folds == fold["fold"]
        for name in names:
            t0 = time.perf_counter()
            model = make_model(name, random_state=0).fit(X[tr], y[tr])
            mean, std = model.predict(X[te], return_std=True)
            fold["metrics"][f"{name} (extra)"] = regression_metrics(y[te], mean, std)
            fold.setdefault("extra_seconds", {})[name] = time.perf_counter() - t0
            print(f"{result['task']} fold {fold['fold']}: {name} mae={fold['metrics'][f'{name} (extra)']['mae']:.4g}",
                  flush=True)


def summarise(result: dict) -> pd.DataFrame:
    reg = result["task_type"] == "regression"
    keys = (["mae", "rmse", "miscalibration_area", "coverage_95", "nll", "miscalibration_area_gaussian",
             "coverage_95_gaussian", "nll_gaussian"] if reg else ["roc_auc", "balanced_accuracy"])
    models = sorted({m for f in result["folds"] for m in f["metrics"]}, key=lambda m: (m != "auto", m))
    rows = []
    for m in models:
        row = {"model": m}
        for k in keys:
            vals = [f["metrics"][m].get(k, np.nan) for f in result["folds"] if m in f["metrics"]]
            row[k] = float(np.nanmean(vals)) if len(vals) else np.nan
        rows.append(row)
    return pd.DataFrame(rows).dropna(axis=1, how="all")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(LEADERBOARD))
    parser.add_argument("--folds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--jobs", type=int, default=1,
                        help="worker processes, one thread each (2 on a 2-core machine: folds run side by side)")
    parser.add_argument("--rewrite", action="store_true", help="rewrite the .md from the saved .json only")
    parser.add_argument("--collect", metavar="DIR",
                        help="assemble the given tasks from the folds that finished in separate runs (DIR/<task>_<fold>"
                             ".json from run_fold, else the saved .json, else the auto row from the arrays alone), "
                             "rescored with the current predictive distribution; folds without arrays are left out")
    parser.add_argument("--note", default="", help="with --collect: a sentence on how the folds were run")
    parser.add_argument("--rescore", action="store_true",
                        help="recompute the auto rows' uncertainty metrics from the arrays of the last run "
                             "(MATBENCH_ARRAYS) with the current predictive distribution, and rewrite")
    parser.add_argument("--extra", nargs="+", default=[], metavar="MODEL",
                        help="fit these registry models (e.g. nn) on the regression tasks' folds and add them to "
                             "the saved .json as single models outside AutoModel's candidates")
    parser.add_argument("--transfer", action="store_true",
                        help="fit only the auto_transfer variant (default features + every pre-trained source's "
                             "value, AutoModel on top) on the regression tasks given and add it to the saved .json")
    parser.add_argument("--symmetry", action="store_true",
                        help="fit only the auto_spg variant (default composition features plus the space-group "
                             "number, where the table has one: jdft2d) and add it to the saved .json")
    args = parser.parse_args()
    if args.transfer:
        run_transfer(args)
        return
    if args.symmetry:
        run_symmetry(args)
        return
    if args.extra:
        saved = json.loads((RESULTS / "matbench.json").read_text())
        for r in saved["results"]:
            if r["task"] in args.tasks:
                add_extra_models(r, args.extra)
            write(saved["results"], args.folds, saved["total_seconds"], saved.get("jobs", 1))
        return
    if args.collect:
        collect(args, Path(args.collect), RESULTS, write)
        return
    if args.rescore:
        rescore(args, RESULTS, write)
        return
    if args.rewrite:
        saved = json.loads((RESULTS / "matbench.json").read_text())
        write(saved["results"], args.folds, saved["total_seconds"], saved.get("jobs", 1))
        return
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "matbench.json"
    kept = {}  # tasks not run now keep their saved results (rerun one task without losing the others)
    if path.exists() and set(args.tasks) != set(LEADERBOARD):
        kept = {r["task"]: r for r in json.loads(path.read_text())["results"]}
    run_start = time.perf_counter()

    def keep(result: dict) -> None:  # results are written after every task, so a long run keeps what it did
        carry_variants(kept.get(result["task"]), result)
        kept[result["task"]] = result
        results = [kept[k] for k in LEADERBOARD if k in kept]
        wall = time.perf_counter() - run_start
        previous = sum(r.get("wall_seconds", 0.0) for k, r in kept.items() if k not in args.tasks)
        write(results, args.folds, previous + wall, jobs=args.jobs)

    run_tasks(args.tasks, args.folds, args.jobs, keep)


def run_variant(args, row: str, key: str, unit, tasks: list[str], annotate=None) -> None:
    """Rows of an AutoModel variant (``unit`` per fold) merged into the saved .json under ``key``."""
    saved = json.loads((RESULTS / "matbench.json").read_text())
    by_task = {r["task"]: r for r in saved["results"]}
    tasks = [t for t in tasks if t in by_task]
    starts = {t: time.perf_counter() for t in tasks}

    def merge(result: dict) -> None:
        r = by_task[result["task"]]
        folds = {f["fold"]: f for f in r["folds"]}
        for tf in result["folds"]:
            fold = folds[tf["fold"]]
            fold["metrics"][row] = tf["metrics"].pop(row)
            fold[key] = {"members": tf["metrics"], "weights": tf["weights"], "cv_mae": tf["cv_mae"],
                         "seconds": tf["seconds"], "cpu_seconds": tf["cpu_seconds"]}
        r[f"{key}_wall_seconds"] = time.perf_counter() - starts[result["task"]]
        r[f"{key}_jobs"] = args.jobs
        if annotate is not None:
            annotate(r)
        write(saved["results"], args.folds, saved["total_seconds"], saved.get("jobs", 1))

    run_tasks(tasks, args.folds, args.jobs, merge, unit=unit, header=lambda t: {"task": t, "folds": []})


def run_transfer(args) -> None:
    """The auto_transfer rows for the regression tasks of ``args.tasks``, merged into the saved .json."""
    tasks = [t for t in args.tasks if load(f"matbench_{t}").task == "regression"]

    def overlap(r: dict) -> None:
        r["transfer_overlap"] = transfer_overlap(r["task"])

    run_variant(args, "auto_transfer", "transfer", run_transfer_fold, tasks, annotate=overlap)


def run_symmetry_fold(task: str, f: int) -> dict:
    """AutoModel on the default composition features plus the space-group number (``--extra-inputs spg_num``)."""
    ds, X, _ = task_matrix(task)
    X = np.column_stack([X, ds.frame["spg_num"].to_numpy(dtype=float)])
    y = ds.y.to_numpy(dtype=float)
    tr, te = ds.folds != f, ds.folds == f
    t1, cpu = time.perf_counter(), time.process_time()
    res, extra = auto_regression(X, y, tr, te, row="auto_spg")
    seconds = time.perf_counter() - t1
    print(f"{task} fold {f} (spg_num): auto_spg mae={res['auto_spg']['mae']:.4g} ({seconds:.0f} s)", flush=True)
    return {"fold": f, "seconds": seconds, "cpu_seconds": time.process_time() - cpu, "metrics": res, **extra}


def run_symmetry(args) -> None:
    """The auto_spg rows for the regression tasks of ``args.tasks`` whose table has a space-group number."""
    tables = {t: load(f"matbench_{t}") for t in args.tasks}
    tasks = [t for t, ds in tables.items() if ds.task == "regression" and "spg_num" in ds.frame.columns]
    run_variant(args, "auto_spg", "symmetry", run_symmetry_fold, tasks)


def symmetry_lines(r: dict) -> list[str]:
    """The auto_spg paragraph: composition plus space group, against the leaderboard."""
    folds = [f for f in r["folds"] if "symmetry" in f]
    ours = float(np.mean([f["metrics"]["auto_spg"]["mae"] for f in folds]))
    comp = float(np.mean([f["metrics"]["auto"]["mae"] for f in folds]))
    lines = [f"**auto_spg** (AutoModel on the default composition features plus the space-group number from the "
             f"Matbench table, as `matloop fit --extra-inputs spg_num` builds it; {len(folds)} folds): MAE {ours:.4g} "
             f"against {comp:.4g} from the composition alone; "
             f"{sum(f['symmetry']['seconds'] for f in folds) / 60:.1f} min summed over folds. Not composition only: "
             "the space group is one number taken from the crystal structure, far less than the structure the "
             "structure-based entries (AMMExpress, MODNet, the graph networks) used.", ""]
    for k, v in LEADERBOARD[r["task"]].items():
        lines.append(f"- auto_spg vs {k}: {'beats' if ours < v else 'does not beat'} ({ours:.4g} vs {v:g})")
    return lines + [""]


def transfer_lines(r: dict) -> list[str]:
    """The auto_transfer paragraph of a task: its members, the leaderboard, the leakage statement."""
    folds = [f for f in r["folds"] if "transfer" in f]
    ours = float(np.mean([f["metrics"]["auto_transfer"]["mae"] for f in folds]))
    members = sorted({m for f in folds for m in f["transfer"]["members"]})
    paired = {m: np.mean([f["transfer"]["members"][m]["mae"] for f in folds]) for m in members
              if all(m in f["transfer"]["members"] for f in folds)}
    best = min(paired, key=paired.get)
    ov = r["transfer_overlap"]
    found = ", ".join(f"{k} {v}" for k, v in ov.items() if k not in ("rows", "any") and v)
    lines = [f"**auto_transfer** (`--transfer auto` features: default + every pre-trained source's value, "
             f"AutoModel on top; {len(folds)} folds): MAE {ours:.4g}; its best member picked in hindsight on the "
             f"test folds {best} "
             f"{paired[best]:.4g} ({'beaten' if ours < paired[best] else 'NOT beaten'}); "
             f"{sum(f['transfer']['seconds'] for f in folds) / 60:.1f} min summed over folds (done "
             f"{r['transfer_wall_seconds'] / 60:.1f} min into its `--transfer` run, {r['transfer_jobs']} worker(s)).",
             f"Leakage statement: {ov['any']} of the {ov['rows']} compositions occur in at least one source's "
             f"database" + (f" (per source: {found}); there the feature is the database's computed value of the "
                            "source property, elsewhere the network's prediction" if found else
                            ": every source feature is the network's prediction")
             + "; no source holds this task's target property. No leaderboard entry used these databases' "
             "values (they saw the composition, or on structure tasks such as jdft2d the crystal structure), so "
             "the comparison below is not like for like where the databases hold the compositions.", ""]
    for k, v in LEADERBOARD[r["task"]].items():
        lines.append(f"- auto_transfer vs {k}: {'beats' if ours < v else 'does not beat'} ({ours:.4g} vs {v:g})")
    return lines + [""]


# AutoModel's candidates that are single models as `--model` offers them (rf, rf-median, et, et-median,
# gbm, gp); the others (log target, top-k features) are its hyper-parameter variants of these
SINGLE_MODELS = ("rf", "rf_median", "et", "et_median", "gbm", "gp")


def _paired(r: dict, names, key: str) -> dict:
    """name -> (its mean, AutoModel's mean, folds, per-fold differences) on the folds where both were scored."""
    out = {}
    for m in names:
        folds_m = [f for f in r["folds"] if m in f["metrics"]]
        diff = [f["metrics"]["auto"][key] - f["metrics"][m][key] for f in folds_m]
        out[m] = (np.mean([f["metrics"][m][key] for f in folds_m]),
                  np.mean([f["metrics"]["auto"][key] for f in folds_m]), len(folds_m), np.array(diff))
    return out


def comparison_lines(r: dict, table: pd.DataFrame, key: str) -> list[str]:
    """AutoModel against each single model, and against the best of its variants picked in hindsight."""
    lower = key == "mae"
    names = [m for m in table["model"] if not m.startswith("auto")]  # auto_transfer is reported below
    singles = [m for m in names if m in SINGLE_MODELS or m.endswith("(extra)")]
    variants = [m for m in names if m not in singles]
    lines = []
    if not singles:
        return ["Single models: not recorded on these folds (only AutoModel's arrays were kept)."]
    paired = _paired(r, singles, key)
    losing = {m: v for m, v in paired.items() if (v[0] <= v[1] if lower else v[0] >= v[1])}
    best = min(losing, key=lambda m: losing[m][0] if lower else -losing[m][0]) if losing else None
    lines.append(f"AutoModel vs every single model ({', '.join(singles)}; {key}): "
                 + ("beats all (on the folds each was scored)." if best is None else
                    f"does NOT beat {best} ({paired[best][0]:.4g} vs {paired[best][1]:.4g} on the "
                    f"{paired[best][2]} folds it was scored)."))
    if variants:
        pv = _paired(r, variants, key)
        top = min(pv, key=lambda m: pv[m][0] if lower else -pv[m][0])
        d = pv[top][3]
        se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
        ahead = pv[top][1] < pv[top][0] if lower else pv[top][1] > pv[top][0]
        lines.append(f"Against its {len(variants)} hyper-parameter variants (log target, top-k features): "
                     f"the best in hindsight, picked on the test folds (which no user can do), is {top} "
                     f"{pv[top][0]:.4g}; AutoModel {pv[top][1]:.4g} is {'ahead' if ahead else 'behind'} by "
                     f"{abs(d.mean()):.3g} ± {se:.2g} (paired over {len(d)} folds; AutoModel minus it per fold "
                     f"{', '.join(f'{x:+.3g}' for x in d)}).")
    return lines


def write(results: list[dict], folds: list[int], total: float, jobs: int = 1) -> None:
    cpu = (f"; CPU time {sum(r['cpu_seconds'] for r in results) / 60:.1f} min"
           if all("cpu_seconds" in r for r in results) else "")
    lines = ["# Matbench v0.1, official folds (composition tasks)", "",
             f"Folds {folds}; default composition features (267); machine: {platform.machine()}, "
             f"{platform.python_version()}, {os.cpu_count()} cores; **total wall time {total / 60:.1f} min** with "
             f"{jobs} single-threaded worker process(es){cpu}.",
             "Rows below auto are the candidates AutoModel refits on each outer training set (same folds): the single "
             "models (rf, rf_median, et, et_median, gbm, gp, as `--model` offers them, at AutoModel's settings) and "
             "their hyper-parameter variants that AutoModel chooses among (`_log`: fitted on log(y); `_top30`/`_top60`: "
             "extra trees on the 30/60 most important features, selected inside each fit); "
             "auto_transfer and auto_spg (where present) are AutoModel on the `--transfer auto` features and on the "
             "features plus the space-group number, run separately (`--transfer`, `--symmetry`; their time is not "
             "in the total above).", "",
             "Uncertainty of auto (regression): `miscalibration_area`, `coverage_95` and `nll` are those of AutoModel's "
             "predictive distribution (`predict_distribution`: normalised out-of-fold residuals per band of the "
             "prediction, censored at the detected lower bound 0; `matloop.models.predictive`): the area from the "
             "randomised PIT (expected share at an atom such as a gap of 0), the coverage of its 95 % intervals "
             "(`predict_interval`, what `predict` writes as lower_95/upper_95), the NLL its log score (log "
             "probability of the atom for a true value on the bound, log density elsewhere). The `_gaussian` columns "
             "read the same mean and std as N(mean, std^2), which is how the earlier runs scored them.", ""]
    for r in results:
        table = summarise(r)
        carried = (["", f"Rows {', '.join(r['carried_variants'])} are from the earlier run (before the predictive "
                    "distribution: their uncertainty columns are the Gaussian reading)."]
                   if r.get("carried_variants") else [])
        done = [f["fold"] for f in r["folds"]]
        lines += [f"## {r['task']} ({r['n']} rows, {r['task_type']}; folds {', '.join(map(str, done))})", "",
                  *([r["note"], ""] if r.get("note") else []), table.to_markdown(index=False, floatfmt=".4g"),
                  *carried,
                  "", "Leaderboard (mean over the 5 folds): "
                  + "; ".join(f"{k} {v:g}" for k, v in LEADERBOARD[r["task"]].items()), ""]
        # classification: most entries submitted hard labels, so their ROC-AUC equals balanced accuracy;
        # compare like with like (our balanced accuracy), and report our ROC-AUC from probabilities above
        key = "mae" if r["task_type"] == "regression" else "balanced_accuracy"
        ours = float(table.loc[table["model"] == "auto", key].iloc[0])
        lines += comparison_lines(r, table, key)
        timed = [f["seconds"] for f in r["folds"] if np.isfinite(f["seconds"])]
        lines.append(f"Time for the {len(timed)} timed folds: {sum(timed) / 60:.1f} min summed over folds (fit + "
                     "predict of AutoModel and its members).")
        lines.append("")
        if key != "mae":
            lines.append("Compared by balanced accuracy (the leaderboard's hard-label ROC-AUC equals it):")
        for k, v in LEADERBOARD[r["task"]].items():
            better = ours < v if key == "mae" else ours > v
            lines.append(f"- vs {k}: {'beats' if better else 'does not beat'} ({ours:.4g} vs {v:g})")
        lines.append("")
        if any("transfer" in f for f in r["folds"]):
            lines += transfer_lines(r)
        if any("symmetry" in f for f in r["folds"]):
            lines += symmetry_lines(r)
    (RESULTS / "matbench.md").write_text("\n".join(lines))
    (RESULTS / "matbench.json").write_text(json.dumps({"total_seconds": total, "jobs": jobs, "results": results}, indent=1,
                                                      default=float))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
