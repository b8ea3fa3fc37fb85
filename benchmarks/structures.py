"""Structure benchmarks: composition-only vs structure descriptors vs CHGNet features vs the peer.

On each structure target of :mod:`structure_sets` (log10 K_VRH and log10 G_VRH from matminer's
elastic set, n from the dielectric set, formation energy per atom from FLLA, heat_ref from
perov_5), with the same shuffled 5-fold split (seed 0) for every model:

- ``composition_auto``: AutoModel on the default composition features of the cell's formula (all a
  formula table gives);
- ``matminer_rf``: the peer, measured in the same run: matminer's Magpie ElementProperty +
  SineCoulombMatrix + DensityFeatures + GlobalSymmetryFeatures (the Matbench "RF-SCM/Magpie"
  baseline's features plus two cheap structure groups) and a random forest;
- ``structure_auto_desc``: AutoModel on matloop's structure descriptors (StructureFeaturizer,
  with Magpie), the pre-session-7 default for a structure table;
- ``chgnet_rf``: a random forest on CHGNet features (``matloop fit --featurizer chgnet --model rf``);
- ``gnn``: matloop's crystal graph network (``--model gnn``), when ``matloop.models.gnn`` exists;
- ``structure_auto``: the structure AutoModel (:class:`FeatureSetAutoModel` on the composition,
  structure and CHGNet sets: the default of ``matloop fit`` on a structure table).

Forests are wrapped as ``matloop fit`` wraps them (std rescaled on 5-fold CV residuals). Metrics:
MAE, RMSE, miscalibration area, 95 % coverage (of the model's own interval where it has one, else
+-1.96 std), fit+predict wall time per fold. Features are computed once per set on all rows
(stateless featurizers; the sine-Coulomb length is the largest cell's) and their time is reported
apart; CHGNet rows are cached (``--cache-dir``).

usage: python benchmarks/structures.py [--sets log10_kvrh ...] [--folds 5] [--max-rows N]
       [--auto-budget 600] [--cache-dir DIR] [--threads 2]
       python benchmarks/structures.py --throughput 200 --threads 2   (CHGNet structures/s, cache off)
full run (what the issue asks): python benchmarks/structures.py --folds 5
Results merge into benchmarks/results/structures.json (one entry per set) and structures.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from structure_sets import SETS, load_set  # noqa: E402

RESULTS = Path(__file__).parent / "results"
MODELS = ("composition_auto", "matminer_rf", "structure_auto_desc", "chgnet_rf", "gnn", "structure_auto")


def matminer_features(structures) -> pd.DataFrame:
    """The peer's features (matminer's own code; categorical symmetry columns as codes)."""
    from matminer.featurizers.composition import ElementProperty
    from matminer.featurizers.structure import DensityFeatures, GlobalSymmetryFeatures, SineCoulombMatrix

    parts = []
    scm = SineCoulombMatrix(flatten=True).fit(structures)
    for f in (DensityFeatures(), GlobalSymmetryFeatures(), scm):
        parts.append(pd.DataFrame(f.featurize_many(structures, pbar=False, ignore_errors=True),
                                  columns=f.feature_labels()))
    ep = ElementProperty.from_preset("magpie")
    parts.append(pd.DataFrame(ep.featurize_many([s.composition for s in structures], pbar=False, ignore_errors=True),
                              columns=ep.feature_labels()))
    frame = pd.concat(parts, axis=1)
    for c in frame.columns:
        if frame[c].dtype == object:
            frame[c] = pd.Categorical(frame[c]).codes.astype(float)
    return frame.astype(float)


def featurize(structures, cache_dir: str, threads: int, peer: bool = True) -> tuple[dict[str, pd.DataFrame],
                                                                                  dict[str, float]]:
    """Every feature set once: prefixed sets for the structure AutoModel, and the peer's."""
    from matloop.models.potentials.features import UniversalPotentialFeatures
    from matloop.models.structure_auto import SEP
    from matloop.represent.registry import get_featurizer
    from matloop.represent.structure import StructureFeaturizer, cell_formulas

    seconds, sets = {}, {}
    t = time.perf_counter()
    sets["composition"] = get_featurizer("default").fit_transform(cell_formulas(structures)).reset_index(drop=True)
    seconds["composition"] = time.perf_counter() - t
    t = time.perf_counter()
    sets["structure"] = StructureFeaturizer().fit_transform(structures).reset_index(drop=True)
    seconds["structure"] = time.perf_counter() - t
    t = time.perf_counter()
    upf = UniversalPotentialFeatures(cache=cache_dir, n_threads=threads).fit()
    sets["chgnet"] = pd.DataFrame(upf.transform_structures(structures), columns=upf.get_feature_names_out())
    seconds["chgnet (cached rows read back)"] = time.perf_counter() - t
    if peer:
        t = time.perf_counter()
        sets["matminer"] = matminer_features(structures)
        seconds["matminer"] = time.perf_counter() - t
    sets["prefixed"] = pd.concat([f.set_axis([f"{k}{SEP}{c}" for c in f.columns], axis=1)
                                  for k, f in sets.items() if k in ("composition", "structure", "chgnet")], axis=1)
    return sets, seconds


def forest():
    """What ``matloop fit --model rf`` builds: a jackknife forest, std rescaled on CV residuals."""
    from matloop.models.calibration import RecalibratedRegressor
    from matloop.models.forest import RandomForestRegressor

    return RecalibratedRegressor(RandomForestRegressor(n_estimators=200, random_state=0, noise="oob", n_jobs=-1),
                                 method="scale", cv=5)


def run_model(name: str, sets, structures, y, tr, te, args):
    """Fit one model on ``tr``, predict ``te``: (pred, std, lower, upper, info)."""
    from matloop.models.automodel import AutoModel
    from matloop.models.structure_auto import FeatureSetAutoModel

    info = {}
    if name == "composition_auto":
        X, est = sets["composition"], AutoModel(time_budget=args.comp_budget, n_jobs=-1, random_state=0)
    elif name == "structure_auto_desc":
        X, est = sets["structure"], AutoModel(time_budget=args.comp_budget, n_jobs=-1, random_state=0)
    elif name == "matminer_rf":
        X, est = sets["matminer"], forest()
    elif name == "chgnet_rf":
        X, est = sets["chgnet"], forest()
    elif name == "structure_auto":
        X, est = sets["prefixed"], FeatureSetAutoModel(time_budget=args.auto_budget, n_jobs=-1, random_state=0)
    elif name == "gnn":
        from matloop.models.gnn import CrystalGraphRegressor  # noqa: F401 (ImportError: skipped)

        est = CrystalGraphRegressor(random_state=0)
        est.fit([structures[i] for i in tr], y[tr])
        pred, std = est.predict([structures[i] for i in te], return_std=True)
        return pred, std, None, None, None, info
    else:
        raise ValueError(name)
    est.fit(X.iloc[tr], y[tr])
    pred, std = est.predict(X.iloc[te], return_std=True)
    lower = upper = dist = None
    if hasattr(est, "predict_distribution"):  # AutoModels: their predictive distribution (PIT calibration)
        dist = est.predict_distribution(X.iloc[te], mean_std=(pred, std))
    elif hasattr(est, "predict_interval"):
        lower, upper = est.predict_interval(X.iloc[te])
    if name == "structure_auto":
        info = {"weights": est.weights_, "inner_cv_mae": est.cv_scores_}
    return pred, std, lower, upper, dist, info


def run_set(set_name: str, args) -> dict:
    from sklearn.model_selection import KFold

    from matloop.evaluate.metrics import regression_metrics

    t0 = time.perf_counter()
    structures, y, info = load_set(set_name, max_rows=args.max_rows)
    info["read_seconds"] = time.perf_counter() - t0
    sets, feat_seconds = featurize(structures, args.cache_dir, args.threads, peer="matminer_rf" in args.models)
    splits = list(KFold(5, shuffle=True, random_state=0).split(y))[: args.folds]
    out = {"info": info, "featurize_seconds": feat_seconds, "folds": len(splits), "models": {}}
    for name in args.models:
        folds, preds = [], []
        for k, (tr, te) in enumerate(splits):
            t = time.perf_counter()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    pred, std, lo, hi, dist, extra = run_model(name, sets, structures, y, tr, te, args)
            except ImportError as err:
                out["models"][name] = {"skipped": f"not available ({err})"}
                break
            seconds = time.perf_counter() - t
            m = regression_metrics(y[te], pred, std, lo, hi)
            if dist is not None:  # as benchmarks/matbench_uncertainty.py: the Gaussian reading kept beside
                from matloop.evaluate.uncertainty_metrics import distribution_metrics

                m.update({f"{k}_gaussian": m[k] for k in ("miscalibration_area", "coverage_95", "nll")})
                m.update(distribution_metrics(y[te], pred, dist, std))
            m.update({"seconds": seconds, **extra})
            folds.append(m)
            preds.append(np.column_stack([te, pred]))
            print(f"{set_name} {name} fold {k}: MAE {m['mae']:.4g} miscal {m['miscalibration_area']:.3f} "
                  f"cov95 {m['coverage_95']:.3f} ({seconds:.0f} s)", flush=True)
        if folds:
            keys = ["mae", "rmse", "r2", "miscalibration_area", "coverage_95", "seconds"]
            keys += [k for k in ("miscalibration_area_gaussian",) if all(k in f for f in folds)]
            out["models"][name] = {"mean": {k: float(np.mean([f[k] for f in folds])) for k in keys},
                                   "folds": folds}
    out["baseline_mae"] = float(np.mean([np.mean(np.abs(y[te] - y[tr].mean())) for tr, te in splits]))
    return out


def throughput(n: int, threads: int) -> dict:
    """CHGNet structures per second (cache off) on the first ``n`` elastic-set structures."""
    from matloop.models.potentials.features import UniversalPotentialFeatures, load_chgnet

    structures, _, _ = load_set("log10_kvrh", max_rows=n)
    load_chgnet()  # loading the network (about 2 s) is not part of the rate
    out = {"structures": len(structures), "threads": threads,
           "mean_sites": float(np.mean([len(s) for s in structures])), "load_average_1min": os.getloadavg()[0]}
    for label, groups in (("embedding", ["embedding"]), ("embedding+energy+magmom", ["embedding", "energy", "magmom"]),
                          ("default (+eos: 3 passes)", None)):
        t = time.perf_counter()
        UniversalPotentialFeatures(groups=groups, cache=False, n_threads=threads).fit_transform(structures)
        out[label] = len(structures) / (time.perf_counter() - t)
        print(f"CHGNet {label}: {out[label]:.1f} structures/s on {threads} threads", flush=True)
    return out


def write_markdown(results: dict) -> None:
    lines = ["# Structure benchmarks", "",
             "Written by `benchmarks/structures.py` (see its docstring for the models). Shuffled 5-fold split "
             "(seed 0); `folds` says how many of the 5 were run and `rows` how many structures (a random "
             "subsample when fewer than the set holds). MAE in the target's units; miscal. = miscalibration "
             "area, from the PIT of the model's predictive distribution for the AutoModels (as "
             "benchmarks/matbench.py scores them) and of N(mean, std^2) for the forests; miscal. (Gaussian) = the "
             "N(mean, std^2) reading for every model; cov95 = 95 % interval coverage (the model's own interval); "
             "s = fit+predict seconds per fold (2 cores shared with 7 other jobs: load average 13-18).", ""]
    for set_name, r in results.items():
        i = r["info"]
        lines += [f"## {set_name} ({i['units'] or 'no unit'}): {i['source']}", "",
                  f"rows {i['rows_used']} of {i['rows_total']}, folds {r['folds']}, predicting the training mean: "
                  f"MAE {r['baseline_mae']:.4g}; featurization seconds: "
                  + ", ".join(f"{k} {v:.0f}" for k, v in r["featurize_seconds"].items()), "",
                  "| model | MAE | RMSE | miscal. | miscal. (Gaussian) | cov95 | s/fold |",
                  "|---|---|---|---|---|---|---|"]
        for name, m in r["models"].items():
            if "skipped" in m:
                lines.append(f"| {name} | {m['skipped']} | | | | | |")
                continue
            a = m["mean"]
            gauss = a.get("miscalibration_area_gaussian", a["miscalibration_area"])
            lines.append(f"| {name} | {a['mae']:.4g} | {a['rmse']:.4g} | {a['miscalibration_area']:.3f} | "
                         f"{gauss:.3f} | {a['coverage_95']:.3f} | {a['seconds']:.0f} |")
        auto = r["models"].get("structure_auto", {}).get("folds")
        if auto:
            lines += ["", "structure AutoModel ensemble weights per fold: "
                      + "; ".join(", ".join(f"{k} {w:.2f}" for k, w in f["weights"].items()) for f in auto)]
        lines.append("")
    rate = RESULTS / "structures_throughput.json"
    if rate.exists():
        r = json.loads(rate.read_text())
        lines += ["## CHGNet featurization throughput", "",
                  f"{r['structures']} elastic-set structures ({r['mean_sites']:.1f} sites on average), cache off, "
                  f"{r['threads']} PyTorch threads, machine load average {r['load_average_1min']:.1f} at the start "
                  f"(2 cores shared): " + ", ".join(f"{k} {v:.1f} structures/s" for k, v in r.items()
                                                   if k not in ("structures", "threads", "mean_sites",
                                                                "load_average_1min")), ""]
    (RESULTS / "structures.md").write_text("\n".join(lines))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--folds", type=int, default=5, help="how many of the 5 folds to run (default all)")
    parser.add_argument("--max-rows", type=int, default=None, help="random subsample of each set (default all rows)")
    parser.add_argument("--auto-budget", type=float, default=600.0, help="structure AutoModel seconds per fold")
    parser.add_argument("--comp-budget", type=float, default=300.0, help="single-set AutoModels' seconds per fold")
    parser.add_argument("--cache-dir", default=os.environ.get("MATLOOP_CHGNET_CACHE", "/tmp/matloop_chgnet_bench_cache"))
    parser.add_argument("--threads", type=int, default=2, help="PyTorch threads for CHGNet")
    parser.add_argument("--throughput", type=int, metavar="N", help="only measure CHGNet's rate on N structures")
    parser.add_argument("--markdown-only", action="store_true", help="only rewrite structures.md from the .json")
    args = parser.parse_args(argv)
    path = RESULTS / "structures.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    if args.throughput or args.markdown_only:
        if args.throughput:
            RESULTS.mkdir(exist_ok=True)
            (RESULTS / "structures_throughput.json").write_text(json.dumps(throughput(args.throughput, args.threads)))
        write_markdown(results)
        return 0
    for set_name in args.sets:
        r = run_set(set_name, args)
        r["command"] = " ".join(["python benchmarks/structures.py", *(argv if argv is not None else sys.argv[1:])])
        r["machine"] = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared)"
        results = json.loads(path.read_text()) if path.exists() else {}  # another run may have added sets
        if set_name in results and results[set_name].get("folds") == r["folds"] and \
                results[set_name]["info"]["rows_used"] == r["info"]["rows_used"]:  # same split: keep other models
            r["models"] = {**results[set_name]["models"], **r["models"]}
            r["featurize_seconds"] = {**results[set_name]["featurize_seconds"], **r["featurize_seconds"]}
        results[set_name] = r
        RESULTS.mkdir(exist_ok=True)
        path.write_text(json.dumps(results, indent=1, default=float))
        write_markdown(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
