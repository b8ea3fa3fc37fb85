"""Transfer learning benchmark: learning curves on Matbench expt_gap and steels, with a leakage guard.

    python benchmarks/transfer.py                    # full run (writes benchmarks/results/transfer.md/.json)
    python benchmarks/transfer.py --quick            # 1 seed, sizes 25/100/full, 2 folds: a smoke run
    python benchmarks/transfer.py --clean-library DIR   # keep the clean library in DIR (resumes a partial one)

Protocol. For each official Matbench fold k (test on ``fold == k``, train on the rest), for each
training size (25, 50, 100, 200, 500 and the full training folds) and seed, a random subset of
the training folds of that size is drawn and every method is fitted on it and scored on the whole
test fold (MAE, and the coverage of its 95 % interval). Sizes up to 100 use 2 seeds (10 runs
with the 5 folds), 200, 500 and the full size one seed (5 runs). Baselines (no transfer): matloop's
random forest with uncertainty on Magpie and on the default composition features (267 columns),
extra trees on the default features (with the trees' mean and with their median as the point
prediction: the median is much better on expt_gap, whose many metals have a gap of exactly 0),
and the GP on the default features (sizes <= 200: exact GPs are cubic in the size and slow on a
shared machine). Transfer: :class:`ShotgunTransfer` with its defaults (3 sources selected by
inner LOO, linear prior on the best source's prediction, median extra trees on the selected
descriptors, fallback to the default features when no source helps), ``TransferFeaturizer``
(predictions of every library model) + random forest; ``tf_default``: the default composition
features plus the predictions of every library model, median extra trees (``ShotgunTransfer("all",
layer="prediction", n_select=None, include_base="default", prior=False)``); and on expt_gap
``MultiFidelityRegressor("mp_gap")`` with its defaults (the DFT gap as a linear prior, median
extra trees on the discrepancy from Magpie statistics and the other library predictions). Both
``tf_default`` and ``multifidelity`` look up computed values where the composition is in a source's
bundled database (``lookup=True``: the MP PBE gap itself rather than the network's estimate of
it); ``*_predicted`` are the same methods without lookup. All forests use 100 trees to keep the
run short.

Leakage guard. Pre-training sets contain many of the target compositions (the DFT band gap of a
compound whose experimental gap is to be predicted). The benchmark counts them per source and
builds a second library with every expt_gap and steels composition removed (same settings, same
code: :func:`matloop.models.pretrained.training.build_library`, in a temporary folder; sources
without overlap are copied, since a rebuild would give identical weights); the transfer methods
are run with both libraries.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import fields
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS = {"matbench_expt_gap": "gap expt", "matbench_steels": "yield strength"}
SIZES = (25, 50, 100, 200, 500, "full")
SEEDS = {25: 2, 50: 2, 100: 2, 200: 1, 500: 1, "full": 1}
GP_MAX = 200
N_TREES = 100


# ---------------------------------------------------------------------------------------------- data
@lru_cache(maxsize=4)
def task_data(name: str) -> dict:
    """Formulas, target, folds and the baseline feature matrices of one Matbench task (cached per process)."""
    from matloop import datasets
    from matloop.represent.registry import get_featurizer

    frame = datasets.load(name).frame
    formulas = frame["composition"].to_numpy(dtype=object)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        magpie = get_featurizer("magpie").transform(formulas)
        default = get_featurizer("default").transform(formulas)
    return {"X": formulas, "y": frame[TARGETS[name]].to_numpy(dtype=float), "fold": frame["fold"].to_numpy(),
            "magpie": magpie, "default": default}


def overlap_table(names: list[str]) -> pd.DataFrame:
    """Per source: how many distinct compositions of each target set appear in the source dataset."""
    from matloop import datasets
    from matloop.io.formula import parse_formulas
    from matloop.models.pretrained import SOURCES, composition_keys

    targets = {t: set(composition_keys(parse_formulas(task_data(t)["X"])).tolist()) for t in TARGETS}
    rows = []
    for name in names:
        ds = datasets.load(SOURCES[name].dataset)
        keys = set(composition_keys(parse_formulas(ds.frame[ds.input].to_numpy(dtype=object))).tolist())
        rows.append({"source": name, "source_compositions": len(keys),
                     **{t.removeprefix("matbench_"): len(keys & targets[t]) for t in TARGETS}})
    frame = pd.DataFrame(rows)
    frame.attrs["target_compositions"] = {t.removeprefix("matbench_"): len(k) for t, k in targets.items()}
    return frame


def build_clean_library(out: Path, overlap: pd.DataFrame, jobs: int) -> dict:
    """The library without any target composition: overlapping sources retrained, the rest copied.

    Sources already in ``out`` with the same exclusion list and settings (an interrupted earlier
    build) are kept; the summary's times are read from all the cards.
    """
    import hashlib
    from dataclasses import asdict

    from matloop.models.pretrained import library_dir, library_info, model_card
    from matloop.models.pretrained.training import PretrainSettings, build_library, exclusion_keys

    shipped = library_info()
    known = {f.name for f in fields(PretrainSettings)}
    settings = PretrainSettings(**{k: tuple(v) if k == "hidden" else v for k, v in shipped["settings"].items()
                                   if k in known})
    exclude = exclusion_keys([f for t in TARGETS for f in task_data(t)["X"]])
    digest = hashlib.sha256("\n".join(sorted(exclude)).encode()).hexdigest()
    overlapping = [s for s, n in zip(overlap["source"], overlap[list(overlap.columns[2:])].sum(axis=1), strict=True)
                   if n]
    out.mkdir(parents=True, exist_ok=True)
    for source in set(overlap["source"]) - set(overlapping):
        for suffix in (".npz", ".json"):
            shutil.copy(library_dir() / f"{source}{suffix}", out / f"{source}{suffix}")

    def done(source: str) -> bool:
        if not (out / f"{source}.json").exists() or not (out / f"{source}.npz").exists():
            return False
        card = model_card(source, out)
        saved = {k: tuple(v) if isinstance(v, list) else v for k, v in card["training"]["settings"].items()}
        return card["data"]["exclusion_sha256"] == digest and saved == asdict(settings)

    kept = [s for s in overlapping if done(s)]
    todo = [s for s in overlapping if s not in kept]
    print(f"clean library: {len(overlapping)} sources overlap the targets; {len(kept)} already built in {out}, "
          f"training {len(todo)} without {len(exclude)} target compositions ({jobs} jobs) ...", flush=True)
    start = time.perf_counter()
    if todo:
        build_library(out, todo, settings, exclude, "matbench_expt_gap and matbench_steels compositions removed",
                      log=lambda s: print("  " + s, flush=True), jobs=jobs)
    cards = {s: model_card(s, out) for s in overlapping}
    summary = {"models": overlapping, "retrained": overlapping, "built_in_this_run": todo, "resumed": kept,
               "copied": sorted(set(overlap["source"]) - set(overlapping)), "excluded_compositions": len(exclude),
               "time_s": {s: c["training"]["time_s"] for s, c in cards.items()},
               "cpu_s": {s: c["training"]["cpu_s"] for s, c in cards.items()},
               "run_wall_s": round(time.perf_counter() - start, 1), "settings": asdict(settings)}
    summary["total_time_s"] = round(sum(summary["time_s"].values()), 1)
    summary["total_cpu_s"] = round(sum(summary["cpu_s"].values()), 1)
    (out / "library.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return summary


# ------------------------------------------------------------------------------------------- methods
def forest(random_state: int):
    from matloop.models import RandomForestRegressor

    return RandomForestRegressor(n_estimators=N_TREES, random_state=random_state)


def median_trees(seed: int):
    """Extra trees with the trees' median as the point prediction (the transfer models' default base)."""
    from matloop.models import ExtraTreesRegressor

    return ExtraTreesRegressor(n_estimators=N_TREES, point="median", random_state=seed)


def make_method(method: str, seed: int, libraries: dict):
    """(estimator, input) for a method name; input is 'formula', 'magpie' or 'default'."""
    from matloop.models import ExtraTreesRegressor, GaussianProcessRegressor
    from matloop.models.multifidelity import MultiFidelityRegressor
    from matloop.models.transfer import ShotgunTransfer, TransferFeaturizer

    base, _, variant = method.partition("@")
    library = libraries.get(variant or "shipped")
    if base == "rf_magpie":
        return forest(seed), "magpie"
    if base == "rf_default":
        return forest(seed), "default"
    if base == "et_default":
        return ExtraTreesRegressor(n_estimators=N_TREES, random_state=seed), "default"
    if base == "et_median_default":
        return median_trees(seed), "default"
    if base == "gp_default":
        return GaussianProcessRegressor(random_state=seed), "default"
    if base == "shotgun":
        return ShotgunTransfer(base_model=median_trees(seed), library=library, random_state=seed), "formula"
    if base == "tf_rf":
        from sklearn.pipeline import make_pipeline

        return make_pipeline(TransferFeaturizer(layer="prediction", library=library), forest(seed)), "formula"
    # lookup of computed values only with the shipped library: the bundled databases still hold the
    # compositions the clean library excludes
    lookup = variant != "clean" and not base.endswith("_predicted")
    if base in ("tf_default", "tf_default_predicted"):
        return ShotgunTransfer("all", layer="prediction", n_select=None, include_base="default", prior=False,
                               fallback=None, base_model=median_trees(seed), library=library, lookup=lookup,
                               random_state=seed), "formula"
    if base in ("multifidelity", "multifidelity_predicted"):
        return MultiFidelityRegressor("mp_gap", base_model=median_trees(seed), library=library, lookup=lookup,
                                      random_state=seed), "formula"
    raise ValueError(method)


def methods_for(task: str, size) -> list[str]:
    """Methods run on a task at a size (GP up to GP_MAX rows; clean variants only where sources overlap)."""
    names = ["rf_magpie", "rf_default", "et_default", "et_median_default", "shotgun", "tf_rf", "tf_default",
             "tf_default_predicted"]
    if size != "full" and int(size) <= GP_MAX:
        names.append("gp_default")
    if task == "matbench_expt_gap":
        names += ["multifidelity", "multifidelity_predicted", "shotgun@clean", "tf_rf@clean", "multifidelity@clean", "tf_default@clean"]
    return names


def run_one(task: str, fold: int, size, seed: int, libraries: dict, methods: list[str]) -> list[dict]:
    """Fit every method on one training subset and score it on the test fold."""
    from threadpoolctl import threadpool_limits

    data = task_data(task)
    test = np.flatnonzero(data["fold"] == fold)
    pool = np.flatnonzero(data["fold"] != fold)
    rng = np.random.RandomState(1000 * fold + seed)
    train = pool if size == "full" else np.sort(rng.choice(pool, int(size), replace=False))
    records = []
    for method in methods:
        model, kind = make_method(method, seed, libraries)
        inputs = data["X"] if kind == "formula" else data[kind].to_numpy()
        start = time.perf_counter()
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore")
            model.fit(inputs[train], data["y"][train])
            if hasattr(model, "steps"):  # a pipeline: the forest at its end gives the std
                features = model[:-1].transform(inputs[test])
                mean, std = model[-1].predict(features, return_std=True)
            else:
                mean, std = model.predict(inputs[test], return_std=True)
        y = data["y"][test]
        records.append({
            "task": task.removeprefix("matbench_"), "method": method, "fold": fold, "size": size, "seed": seed,
            "n_train": int(len(train)), "mae": float(np.mean(np.abs(mean - y))),
            "coverage95": float(np.mean(np.abs(mean - y) <= 1.959964 * std)), "fit_s": time.perf_counter() - start,
            "selected": ",".join(getattr(model, "selected_", [])),
        })
    return records


# ------------------------------------------------------------------------------------------- report
def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Mean MAE per task, method and size (over folds and seeds), with the run count."""
    grouped = results.groupby(["task", "method", "size"], sort=False)
    return grouped.agg(mae=("mae", "mean"), mae_sd=("mae", "std"), coverage95=("coverage95", "mean"),
                       runs=("mae", "size"), fit_s=("fit_s", "mean")).reset_index()


BASELINES = ("rf_magpie", "rf_default", "et_default", "et_median_default", "gp_default")


def ratios(summary: pd.DataFrame) -> pd.DataFrame:
    """Per task and size: best baseline, and each transfer method's MAE relative to it."""
    rows = []
    for (task, size), group in summary.groupby(["task", "size"], sort=False):
        base = group[group["method"].isin(BASELINES)].sort_values("mae").iloc[0]
        for _, row in group[~group["method"].isin(BASELINES)].iterrows():
            rows.append({"task": task, "size": size, "method": row["method"], "mae": row["mae"],
                         "best_baseline": base["method"], "baseline_mae": base["mae"],
                         "ratio": row["mae"] / base["mae"]})
    return pd.DataFrame(rows)


def headline(ratio: pd.DataFrame) -> list[str]:
    """Bullet lines: per task, at 100 rows and at the full size, the best transfer method with each library."""
    lines = []
    for task in ratio["task"].unique():
        for size in (100, "full"):
            part = ratio[(ratio["task"] == task) & (ratio["size"] == size)]
            if part.empty:
                continue
            for label, mask in (("shipped library", ~part["method"].str.endswith("@clean")),
                                ("clean library", part["method"].str.endswith("@clean"))):
                if not mask.any():
                    continue
                best = part[mask].sort_values("ratio").iloc[0]
                lines.append(f"- {task}, {size} training rows, {label}: {best['method']} MAE {best['mae']:.3f} = "
                             f"{best['ratio']:.2f} x the best baseline ({best['best_baseline']}, "
                             f"{best['baseline_mae']:.3f})")
    return lines


def markdown(summary, ratio, overlap, library, clean, results, elapsed, args) -> str:
    def table(frame: pd.DataFrame, floatfmt: str = ".3f") -> str:
        return frame.to_markdown(index=False, floatfmt=floatfmt)

    lines = ["# Transfer learning benchmark (`benchmarks/transfer.py`)", "",
             f"Run: {time.strftime('%Y-%m-%d')}, {elapsed / 60:.1f} min wall on a shared 2-core machine "
             f"({args.jobs} worker processes, 1 BLAS thread each); forests with {N_TREES} trees.", "",
             "## Pre-trained library", "",
             f"{len(library['models'])} models, {library['size_bytes'] / 1e6:.1f} MB. Pre-training: "
             f"{library['total_cpu_s'] / 60:.1f} CPU-min ({library['total_time_s'] / 60:.1f} min wall, "
             f"{library.get('jobs', 1)} job(s)), at most {library['settings']['max_rows']:,} training rows per "
             "source (bigger sources subsampled).", "",
             table(pd.DataFrame({"source": list(library["cpu_s"]), "cpu_s": list(library["cpu_s"].values()),
                                 "wall_s": [library["time_s"][k] for k in library["cpu_s"]]}), ".0f"), "",
             "## Leakage: target compositions present in the pre-training sets", "",
             f"Distinct compositions: {overlap.attrs['target_compositions']}. Counts per source dataset "
             "(reduced compositions, before the source's own split):", "", table(overlap, ".0f"), "",
             f"Clean library (`@clean` methods; {clean.get('origin', 'built in this run')}): "
             f"{len(clean['retrained'])} sources retrained without the "
             f"{clean['excluded_compositions']:,} expt_gap + steels compositions "
             f"({clean['total_cpu_s'] / 60:.1f} CPU-min, {clean['run_wall_s'] / 60:.1f} min wall in this run); "
             f"{len(clean['copied'])} copied (no overlap). Steels has no overlap with any source, so its "
             "transfer results are leakage-free with the shipped library.", "",
             "Lookup of computed values: with the shipped library, `tf_default` and `multifidelity` use a "
             "source's computed value where the composition is in the bundled database it was trained on "
             "(the PBE gap of the 73 % of expt_gap compositions found in MP; `lookup=True`), the model's "
             "prediction elsewhere; `*_predicted` are the same methods with predictions only. `@clean` "
             "methods use the clean library and no lookup, so no computed value of an expt_gap composition "
             "enters them.", "",
             "## Headline", "", *headline(ratio), "",
             "## Transfer vs the best model without transfer", "",
             "`ratio` = transfer MAE / best baseline MAE at the same size (below 1: transfer helps).", ""]
    for task in ratio["task"].unique():
        pivot = ratio[ratio["task"] == task].pivot(index="method", columns="size", values="ratio")
        pivot = pivot[[c for c in SIZES if c in pivot.columns]]
        lines += [f"### {task}: MAE ratio", "", pivot.reset_index().to_markdown(index=False, floatfmt=".2f"), ""]
    for task in summary["task"].unique():
        part = summary[summary["task"] == task]
        pivot = part.pivot(index="method", columns="size", values="mae")
        pivot = pivot[[c for c in SIZES if c in pivot.columns]]
        cover = part.pivot(index="method", columns="size", values="coverage95")
        cover = cover[[c for c in SIZES if c in cover.columns]]
        lines += [f"### {task}: mean test MAE", "", pivot.reset_index().to_markdown(index=False, floatfmt=".3f"), "",
                  f"### {task}: coverage of the 95 % interval", "",
                  cover.reset_index().to_markdown(index=False, floatfmt=".2f"), ""]
    picked = results[results["method"].str.startswith("shotgun")].groupby(["task", "method"])["selected"]
    lines += ["## Sources the shotgun selection picked (share of runs, top 5)", ""]
    for (task, method), values in picked:
        counts = pd.Series([s for v in values for s in v.split(",") if s]).value_counts() / len(values)
        lines.append(f"- {task}, {method}: " + ", ".join(f"{k} {v:.0%}" for k, v in counts.head(5).items()))
    lines += ["", "## Protocol", "", __doc__.split("Protocol.", 1)[1].split("Leakage guard.")[0].strip(), ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, sizes 25/100/full, folds 0-1")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--clean-library", type=Path, default=None,
                        help="folder for the clean library (default: a temporary folder); sources already built "
                             "there with the same settings and exclusions are kept")
    parser.add_argument("--methods", nargs="+", default=None,
                        help="run only these methods and merge them into the saved results (other methods kept)")
    parser.add_argument("--out", type=Path, default=RESULTS / "transfer", help="output stem (.md and .json)")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from joblib import Parallel, delayed

    from matloop.models.pretrained import library_info, model_names

    start = time.perf_counter()
    library = library_info()
    print(f"shipped library: {len(library['models'])} models, {library['size_bytes'] / 1e6:.1f} MB", flush=True)
    overlap = overlap_table(model_names())
    print(overlap.to_string(index=False), flush=True)
    temp = None
    clean_dir = args.clean_library
    if clean_dir is None:
        temp = tempfile.TemporaryDirectory(prefix="matloop_clean_library_")
        clean_dir = Path(temp.name)
    saved_path = args.out.with_suffix(".json")
    if args.methods is not None and not any(m.endswith("@clean") for m in args.methods) and saved_path.exists():
        clean = json.loads(saved_path.read_text())["clean_library"]  # not needed now: keep what was reported
        libraries = {"shipped": None}
    else:
        clean = build_clean_library(clean_dir, overlap, args.jobs)  # resumes a partial build in --clean-library
        clean["origin"] = ("built in this run" if not clean["resumed"] else
                           f"{len(clean['built_in_this_run'])} sources built in this run, {len(clean['resumed'])} "
                           f"resumed from an interrupted build with the same settings and exclusions")
        libraries = {"shipped": None, "clean": str(clean_dir)}
    sizes = (25, 100, "full") if args.quick else SIZES
    folds = (0, 1) if args.quick else range(5)
    jobs = []
    for task in TARGETS:
        n_pool = int((task_data(task)["fold"] != 0).sum())
        for size in sizes:
            if size != "full" and int(size) >= n_pool:
                continue
            for seed in range(1 if args.quick else SEEDS[size]):
                for fold in folds:
                    wanted = [m for m in methods_for(task, size) if args.methods is None or m in args.methods]
                    if wanted:
                        jobs.append((task, fold, size, seed, wanted))
    print(f"{len(jobs)} fits of {sum(len(j[4]) for j in jobs)} models ...", flush=True)
    # workers import this file as a module (by name, via PYTHONPATH) so that its caches work there
    here = str(Path(__file__).resolve().parent)
    os.environ["PYTHONPATH"] = os.pathsep.join([here, *filter(None, [os.environ.get("PYTHONPATH")])])
    sys.path.insert(0, here)
    worker = importlib.import_module(Path(__file__).stem).run_one
    records = []
    for i, batch in enumerate(Parallel(n_jobs=args.jobs, return_as="generator")(
            delayed(worker)(t, f, s, seed, libraries, m) for t, f, s, seed, m in jobs)):
        records += batch
        if i % 10 == 0:
            print(f"  {i + 1}/{len(jobs)} done, {(time.perf_counter() - start) / 60:.1f} min", flush=True)
    results = pd.DataFrame(records)
    if args.methods is not None and args.out.with_suffix(".json").exists():  # merge with the saved runs
        saved = json.loads(args.out.with_suffix(".json").read_text())
        kept = pd.DataFrame(saved["runs"])
        kept["size"] = [s if s == "full" else int(s) for s in kept["size"]]
        results = pd.concat([kept[~kept["method"].isin(args.methods)], results], ignore_index=True)
        start -= saved["elapsed_s"]  # report the time of both runs
    summary = summarise(results)
    ratio = ratios(summary)
    elapsed = time.perf_counter() - start
    text = markdown(summary, ratio, overlap, library, clean, results, elapsed, args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text(text + "\n", encoding="utf-8")
    payload = {"elapsed_s": elapsed, "quick": args.quick, "n_trees": N_TREES, "library": library,
               "clean_library": {k: v for k, v in clean.items() if k != "settings"},
               "overlap": overlap.to_dict(orient="records"), "summary": summary.to_dict(orient="records"),
               "ratios": ratio.to_dict(orient="records"), "runs": results.to_dict(orient="records")}
    args.out.with_suffix(".json").write_text(json.dumps(payload, indent=1, default=str) + "\n", encoding="utf-8")
    print(text)
    if temp is not None:
        temp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
