"""Structure benchmarks: composition-only vs structure features vs CHGNet features vs the GNN vs the peer.

On each structure target of :mod:`structure_sets` (log10 K_VRH and log10 G_VRH from matminer's
elastic set, n from the dielectric set, formation energy per atom from FLLA, heat_ref from
perov_5), every row, with the same shuffled 5-fold split (seed 0) for every model:

- ``composition_auto``: AutoModel on the default composition features of the cell's formula (all a
  formula table gives);
- ``matminer_rf``: the peer, measured in the same run: matminer's Magpie ElementProperty +
  SineCoulombMatrix + DensityFeatures + GlobalSymmetryFeatures (the Matbench "RF-SCM/Magpie"
  baseline's features plus two cheap structure groups) and a random forest;
- ``structure_rf``: a random forest on matloop's structure descriptors (StructureFeaturizer, with Magpie);
- ``chgnet_rf``: a random forest on CHGNet features (``matloop fit --featurizer chgnet --model rf``);
- ``gnn``: matloop's crystal graph network (``--model gnn``); ``--gnn-max-train`` caps its training rows
  (a random subset of the fold's training rows, seed 0; the test fold is always whole);
- ``structure_auto``: the structure AutoModel (:class:`FeatureSetAutoModel` on the composition,
  structure and CHGNet sets), without the network candidate;
- ``structure_auto_gnn``: what ``matloop fit --model auto`` builds on a structure table (the CLI's own
  ``build_model``): the same AutoModel plus the crystal graph network as a stacked candidate
  (:mod:`matloop.models.structure_gnn`, ``--gnn-candidate auto``: considered only for the row range of
  ``gnn_decision``, with the CLI's default network budget, ``FIT_BUDGET / 2`` = 300 s); the feature-set
  AutoModel gets ``--auto-budget`` like ``structure_auto``, so the two columns differ only by the network.

Forests are wrapped as ``matloop fit`` wraps them (std rescaled on 5-fold CV residuals). Metrics:
MAE, RMSE, miscalibration area, 95 % coverage (of the model's own interval where it has one, else
+-1.96 std), fit+predict wall time per fold, the 1-minute load average before and after each fold.
Features are computed once per structure source on all rows (stateless featurizers; the sine-Coulomb
length is the largest cell's), stored in ``--feature-dir`` (npz, read back with ``allow_pickle=False``)
and reused by every fold and by a rerun; CHGNet rows also go through matloop's content-hash cache
(``--cache-dir``). Every finished fold is appended at once to ``results/structures_folds.json`` (under
a file lock, so a GNN-only run can go beside the others), and a rerun skips the folds already there
with the same settings; ``structures.json`` and ``structures.md`` are rebuilt from it after each fold.

usage: python benchmarks/structures.py [--sets log10_kvrh ...] [--models ...] [--folds 5] [--fold-order 0 1 ...]
       [--auto-budget 600] [--comp-budget 300] [--gnn-max-train 3000] [--cache-dir DIR]
       python benchmarks/structures.py --throughput 200 --threads 2   (CHGNet structures/s, cache off)
       python benchmarks/structures.py --markdown-only
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from structure_sets import SETS, load_set  # noqa: E402
from structures_report import write_markdown  # noqa: E402

RESULTS = Path(__file__).parent / "results"
FOLDS_FILE = RESULTS / "structures_folds.json"
MODELS = ("composition_auto", "matminer_rf", "structure_rf", "chgnet_rf", "structure_auto", "gnn", "structure_auto_gnn")
#: models that train the crystal graph network (not run by default: --models NAME)
NETWORK_MODELS = ("gnn", "structure_auto_gnn")
#: sets that share their structures (and so their features)
SOURCE = {"log10_kvrh": "elastic", "log10_gvrh": "elastic", "dielectric_n": "dielectric", "flla_eform": "flla",
          "perov_heat": "perov"}
GROUPS = ("composition", "structure", "matminer", "chgnet")


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


def _compute_group(group: str, structures, args) -> pd.DataFrame:
    if group == "composition":
        from matloop.represent.registry import get_featurizer
        from matloop.represent.structure import cell_formulas

        return get_featurizer("default").fit_transform(cell_formulas(structures)).reset_index(drop=True)
    if group == "structure":
        from matloop.represent.structure import StructureFeaturizer

        return StructureFeaturizer().fit_transform(structures).reset_index(drop=True)
    if group == "matminer":
        return matminer_features(structures)
    from matloop.models.potentials.features import UniversalPotentialFeatures

    upf = UniversalPotentialFeatures(cache=args.cache_dir, n_threads=args.threads).fit()
    for pid in args.wait_pid or []:  # other processes filling the same CHGNet cache: wait for this set's rows
        from matloop.represent.feature_cache import content_keys

        keys = content_keys(structures)
        while _alive(pid) and len(upf._cache().lookup(keys)) < len(set(keys) - {None}):
            time.sleep(20)
    return pd.DataFrame(upf.transform_structures(structures), columns=upf.get_feature_names_out())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def features(set_name: str, structures, groups, args) -> tuple[dict[str, pd.DataFrame], dict[str, float]]:
    """Each feature group of the set's structures, from ``--feature-dir`` or computed once and stored there."""
    folder = Path(args.feature_dir)
    folder.mkdir(parents=True, exist_ok=True)
    out, seconds = {}, {}
    for group in groups:
        path = folder / f"{SOURCE[set_name]}-{len(structures)}-{args.max_rows or 'all'}-{group}.npz"
        if path.exists():
            with np.load(path, allow_pickle=False) as z:
                out[group] = pd.DataFrame(z["values"], columns=[str(c) for c in z["columns"]])
                seconds[group] = float(z["seconds"])
            continue
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = _compute_group(group, structures, args)
        seconds[group] = time.perf_counter() - t
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, values=frame.to_numpy(float), columns=np.array([str(c) for c in frame.columns]),
                 seconds=seconds[group])
        tmp.replace(path)
        out[group] = frame
        print(f"{set_name}: {group} features {frame.shape} in {seconds[group]:.0f} s", flush=True)
    return out, seconds


def forest():
    """What ``matloop fit --model rf`` builds: a jackknife forest, std rescaled on CV residuals."""
    from matloop.models.calibration import RecalibratedRegressor
    from matloop.models.forest import RandomForestRegressor

    return RecalibratedRegressor(RandomForestRegressor(n_estimators=200, random_state=0, noise="oob", n_jobs=-1),
                                 method="scale", cv=5)


def cli_structure_auto(auto_budget: float):
    """What ``matloop fit --model auto`` builds on a structure table, from the CLI's own ``build_model`` (its
    default budgets): the unfitted feature-set AutoModel with ``auto_budget`` seconds, and the featurizer's
    options of the network candidate (``gnn``, ``gnn_budget``, ``random_state``)."""
    import argparse
    from types import SimpleNamespace

    from sklearn.base import clone

    from matloop.cli.commands.fit import build_model

    options = argparse.Namespace(model="auto", featurizer=None, transfer="none", seed=0, gnn_candidate="auto",
                                 time_budget=None, bounds="auto", extra_inputs=None)
    model = build_model(SimpleNamespace(kind="structure", task="regression", extra_inputs=None), options)
    if model.featurizer != "structure_auto":
        raise RuntimeError(f"matloop fit builds {model.featurizer!r} on a structure table, not structure_auto")
    return clone(model.estimator).set_params(time_budget=auto_budget), dict(model.featurizer_params)


def _sets_frame(feats) -> pd.DataFrame:
    """The composition, structure and CHGNet sets side by side, prefixed as StructureFeatureSets does."""
    from matloop.models.structure_auto import SEP

    return pd.concat([feats[k].set_axis([f"{k}{SEP}{c}" for c in feats[k].columns], axis=1)
                      for k in ("composition", "structure", "chgnet")], axis=1)


def run_model(name: str, feats, structures, y, tr, te, args):
    """Fit one model on ``tr``, predict ``te``: (pred, std, lower, upper, distribution, info)."""
    from matloop.models.automodel import AutoModel
    from matloop.models.structure_auto import FeatureSetAutoModel

    info = {}
    if name == "gnn":
        from matloop.models.gnn import CrystalGraphRegressor

        if args.gnn_max_train and len(tr) > args.gnn_max_train:
            tr = np.sort(np.random.default_rng(0).choice(tr, args.gnn_max_train, replace=False))
        est = CrystalGraphRegressor(random_state=0, n_threads=args.gnn_threads)
        est.fit([structures[i] for i in tr], y[tr])
        test = [structures[i] for i in te]
        pred, std = est.predict(test, return_std=True)
        lower, upper = est.predict_interval(test)
        dist = est.predict_distribution(test, mean_std=(pred, std))  # the learnt error shape, as the AutoModels
        return pred, std, lower, upper, dist, {"rows_train": len(tr)}
    if name == "composition_auto":
        X, est = feats["composition"], AutoModel(time_budget=args.comp_budget, n_jobs=-1, random_state=0)
    elif name == "matminer_rf":
        X, est = feats["matminer"], forest()
    elif name == "structure_rf":
        X, est = feats["structure"], forest()
    elif name == "chgnet_rf":
        X, est = feats["chgnet"], forest()
    elif name == "structure_auto":
        X, est = _sets_frame(feats), FeatureSetAutoModel(time_budget=args.auto_budget, n_jobs=-1, random_state=0)
    elif name == "structure_auto_gnn":
        X, est, info = _with_network(feats, structures, y, tr, te, args)
    else:
        raise ValueError(name)
    Xtr, Xte = X.iloc[tr], X.iloc[te]
    if name == "structure_auto_gnn":  # the network's rows are already the training and the test rows
        Xtr, Xte = X.iloc[: len(tr)], X.iloc[len(tr):]
    est.fit(Xtr, y[tr])
    pred, std = est.predict(Xte, return_std=True)
    lower = upper = dist = None
    if hasattr(est, "predict_distribution"):  # AutoModels: their predictive distribution (PIT calibration)
        dist = est.predict_distribution(Xte, mean_std=(pred, std))
    elif hasattr(est, "predict_interval"):
        lower, upper = est.predict_interval(Xte)
    if name in ("structure_auto", "structure_auto_gnn"):
        info = {**info, "weights": est.weights_, "inner_cv_mae": est.cv_scores_, "sets": list(est.blocks_),
                "candidates_finished": {k: [c for c in m.cv_scores_ if c != "ensemble"]
                                        for k, m in est.models_.items() if m is not None}}
    return pred, std, lower, upper, dist, {"rows_train": len(tr), **info}


def _with_network(feats, structures, y, tr, te, args):
    """``structure_auto_gnn``: training rows then test rows of the sets plus, when ``gnn_decision`` takes it, the
    network's held-out (training) and ensemble (test) prediction and std, as ``StructureFeatureSets`` makes
    them; the CLI's estimator; what the network did."""
    from matloop.models.structure_auto import SEP
    from matloop.models.structure_gnn import COLUMNS, MAX_ROWS, fit_gnn_block, gnn_block

    est, options = cli_structure_auto(args.auto_budget)
    X = _sets_frame(feats)
    X = pd.concat([X.iloc[tr], X.iloc[te]], ignore_index=True)
    t = time.perf_counter()
    net, block, note = fit_gnn_block([structures[i] for i in tr], y[tr], options["gnn"], options["gnn_budget"],
                                     None, options["random_state"])
    info = {"gnn_note": note, "gnn_budget": options["gnn_budget"], "gnn_max_rows": MAX_ROWS}
    if net is None:
        return X, est, info
    test = gnn_block(net, [structures[i] for i in te])
    X[[f"gnn{SEP}{c}" for c in COLUMNS]] = np.vstack([block, test])
    info.update({"gnn_seconds": time.perf_counter() - t, "gnn_fit_seconds": net.fit_seconds_,
                 "gnn_epochs": list(net.n_epochs_), "gnn_member_seconds": list(net.member_seconds_),
                 "gnn_n_jobs": int(net.n_jobs), "gnn_oof_mae": float(np.mean(np.abs(block[:, 0] - y[tr]))),
                 "gnn_test_mae": float(np.mean(np.abs(test[:, 0] - y[te])))})
    return X, est, info


@contextlib.contextmanager
def _locked():
    RESULTS.mkdir(exist_ok=True)
    with open(RESULTS / ".structures_folds.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _records() -> list[dict]:
    return json.loads(FOLDS_FILE.read_text()) if FOLDS_FILE.exists() else []


def _settings(name: str, args) -> dict:
    """What a fold's result depends on besides the data (a rerun with other settings recomputes it)."""
    if name == "structure_auto_gnn":  # (the row cap of gnn_decision is in the record: gnn_max_rows, gnn_note)
        _, options = cli_structure_auto(args.auto_budget)
        return {"time_budget": args.auto_budget, "gnn": options["gnn"], "gnn_budget": options["gnn_budget"]}
    return {"composition_auto": {"time_budget": args.comp_budget}, "structure_auto": {"time_budget": args.auto_budget},
            "gnn": {"max_train": args.gnn_max_train, "n_threads": args.gnn_threads}}.get(name, {})


def _append(record: dict, meta: dict) -> None:
    with _locked():
        records = [r for r in _records() if (r["set"], r["model"], r["fold"]) !=
                   (record["set"], record["model"], record["fold"])]
        records.append(record)
        tmp = FOLDS_FILE.with_suffix(".tmp")
        tmp.write_text(json.dumps(records, indent=1, default=float))
        tmp.replace(FOLDS_FILE)
        summary = json.loads((RESULTS / "structures.json").read_text()) if (RESULTS / "structures.json").exists() else {}
        summary = {k: v for k, v in summary.items() if k in SETS}
        if meta:
            summary.setdefault(record["set"], {}).update(meta)
        (RESULTS / "structures.json").write_text(json.dumps(write_markdown(summary, records), indent=1, default=float))


def git_state() -> dict:
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=root, capture_output=True,
                               text=True).stdout.strip()
    except OSError:
        return {"commit": None}
    return {"commit": commit, "src_uncommitted_files": len(dirty.splitlines())}


def run_set(set_name: str, args) -> None:
    from sklearn.model_selection import KFold

    from matloop.evaluate.metrics import regression_metrics
    from matloop.evaluate.uncertainty_metrics import distribution_metrics

    t0 = time.perf_counter()
    structures, y, info = load_set(set_name, max_rows=args.max_rows)
    info["read_seconds"] = time.perf_counter() - t0
    need = {g for m in args.models for g in {"composition_auto": ["composition"], "matminer_rf": ["matminer"],
                                              "structure_rf": ["structure"], "chgnet_rf": ["chgnet"],
                                              "structure_auto": ["composition", "structure", "chgnet"],
                                              "structure_auto_gnn": ["composition", "structure", "chgnet"]}.get(m, [])}
    feats, seconds = features(set_name, structures, [g for g in GROUPS if g in need], args)
    splits = list(KFold(5, shuffle=True, random_state=0).split(y))[: args.folds]
    meta = {"info": info, "featurize_seconds": seconds, "machine": f"{platform.machine()}, {os.cpu_count()} cores "
            "(shared)", "baseline_mae": float(np.mean([np.mean(np.abs(y[te] - y[tr].mean())) for tr, te in splits]))}
    order = [k for k in (args.fold_order or range(len(splits))) if k < len(splits)]
    for k in order:
        tr, te = splits[k]
        for name in args.models:
            with _locked():  # another process (--fold-order) may have run this cell meanwhile
                done = {(r["model"], r["fold"]): r for r in _records() if r["set"] == set_name}
            old = done.get((name, k))
            if old and old.get("settings") == _settings(name, args) and old["rows_total"] == len(y):
                continue
            load_before, t = os.getloadavg()[0], time.perf_counter()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    pred, std, lo, hi, dist, extra = run_model(name, feats, structures, y, tr, te, args)
            except Exception as err:  # noqa: BLE001 (a failed cell is reported, the run goes on)
                print(f"{set_name} {name} fold {k}: FAILED {type(err).__name__}: {err}", flush=True)
                _append({"set": set_name, "model": name, "fold": k, "rows_total": len(y),
                         "settings": _settings(name, args), "error": f"{type(err).__name__}: {err}"}, meta)
                continue
            sec = time.perf_counter() - t
            m = regression_metrics(y[te], pred, std, lo, hi)
            if dist is not None:  # as benchmarks/matbench_uncertainty.py: the Gaussian reading kept beside
                m.update({f"{key}_gaussian": m[key] for key in ("miscalibration_area", "coverage_95", "nll")})
                m.update(distribution_metrics(y[te], pred, dist, std))
            record = {"set": set_name, "model": name, "fold": k, "rows_total": len(y), "rows_test": len(te),
                      "settings": _settings(name, args), "seconds": sec, "load_before": load_before,
                      "load_after": os.getloadavg()[0], "finished_utc": time.strftime("%H:%M:%S", time.gmtime()),
                      **git_state(), "metrics": m, **extra}
            _append(record, meta)
            print(f"{set_name} {name} fold {k}: MAE {m['mae']:.4g} miscal {m['miscalibration_area']:.3f} "
                  f"cov95 {m['coverage_95']:.3f} ({sec:.0f} s, load {load_before:.1f})", flush=True)


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--models", nargs="+", default=[m for m in MODELS if m not in NETWORK_MODELS], choices=MODELS,
                        help="default: all but those that train the network (run them apart: --models gnn "
                             "structure_auto_gnn)")
    parser.add_argument("--folds", type=int, default=5, help="how many of the 5 folds to run (default all)")
    parser.add_argument("--fold-order", type=int, nargs="+", help="which folds, in which order (default 0..folds-1): "
                        "two processes can share a set from both ends")
    parser.add_argument("--max-rows", type=int, default=None, help="random subsample of each set (default all rows)")
    parser.add_argument("--auto-budget", type=float, default=600.0, help="structure AutoModel seconds per fold")
    parser.add_argument("--comp-budget", type=float, default=300.0, help="composition AutoModel seconds per fold")
    parser.add_argument("--gnn-max-train", type=int, default=None, help="cap on the GNN's training rows per fold")
    parser.add_argument("--gnn-threads", type=int, default=1, help="PyTorch threads for the GNN")
    parser.add_argument("--cache-dir", default=os.environ.get("MATLOOP_CHGNET_CACHE", "/tmp/matloop_chgnet_bench_cache"))
    parser.add_argument("--feature-dir", default=os.environ.get("MATLOOP_BENCH_FEATURES", "/tmp/matloop_bench_features"))
    parser.add_argument("--wait-pid", type=int, nargs="+", help="processes filling the CHGNet cache: wait "
                        "while one is alive and the set's rows are not all there before featurizing with CHGNet")
    parser.add_argument("--threads", type=int, default=2, help="PyTorch threads for CHGNet")
    parser.add_argument("--throughput", type=int, metavar="N", help="only measure CHGNet's rate on N structures")
    parser.add_argument("--markdown-only", action="store_true", help="only rewrite structures.md from the .json")
    args = parser.parse_args(argv)
    if args.throughput:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "structures_throughput.json").write_text(json.dumps(throughput(args.throughput, args.threads)))
    if args.throughput or args.markdown_only:
        with _locked():
            summary = json.loads((RESULTS / "structures.json").read_text()) if (RESULTS / "structures.json").exists() \
                else {}
            summary = {k: v for k, v in summary.items() if k in SETS}
            (RESULTS / "structures.json").write_text(json.dumps(write_markdown(summary, _records()), indent=1,
                                                                default=float))
        return 0
    for set_name in args.sets:
        run_set(set_name, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
