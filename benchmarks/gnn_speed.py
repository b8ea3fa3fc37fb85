"""Cost and accuracy of the crystal graph network (``--model gnn``) on a bundled structure set.

Issue #19's target: the GNN trains on 3,000 structures on 2 cores in under 10 minutes per fold. This
runs K-fold cross-validation of :class:`matloop.models.gnn.CrystalGraphRegressor` with its defaults on
a random subset of ``--n`` structures of a bundled set (default: ``flla``, formation energy per atom,
3,938 Materials Project crystals) and reports per fold: wall time and process CPU time of ``fit``
(graph construction included) and ``predict``, epochs per member, MAE, RMSE, R^2, miscalibration area
and 95 % coverage. Structures are read once (not timed in the folds; reported separately).
CPU time is reported beside wall time because the benchmark machine may be shared.

usage: python benchmarks/gnn_speed.py [--dataset flla] [--n 3000] [--folds 5] [--run-folds 5]
                                      [--members 5] [--threads 1] [--out gnn_speed]
Results: ``benchmarks/results/<out>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
RESULTS = HERE / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="flla")
    parser.add_argument("--target", default=None, help="default: the dataset's first target")
    parser.add_argument("--n", type=int, default=3000, help="structures drawn at random (seed 0)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--run-folds", type=int, default=None, help="run only the first K folds")
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-epochs", type=int, default=None)
    parser.add_argument("--out", default="gnn_speed")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)

    import torch
    from sklearn.model_selection import KFold

    from matloop.datasets import load
    from matloop.evaluate.metrics import regression_metrics
    from matloop.evaluate.uncertainty_metrics import distribution_metrics
    from matloop.models.gnn import CrystalGraphRegressor
    from matloop.represent.structure_io import read_structures

    ds = load(args.dataset)
    target = args.target or ds.target
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(len(ds), size=min(args.n, len(ds)), replace=False))
    frame = ds.frame.iloc[pick].reset_index(drop=True)
    t0 = time.perf_counter()
    structures = read_structures(frame[ds.input])
    read_seconds = time.perf_counter() - t0
    y = frame[target].to_numpy(dtype=float)
    params = {"n_members": args.members, "n_threads": args.threads, "random_state": 0}
    if args.max_epochs:
        params["max_epochs"] = args.max_epochs
    folds = []
    splits = list(KFold(args.folds, shuffle=True, random_state=0).split(np.arange(len(y))))
    for k, (train, test) in enumerate(splits[: args.run_folds or args.folds]):
        model = CrystalGraphRegressor(**params)
        w0, c0 = time.perf_counter(), time.process_time()
        model.fit([structures[i] for i in train], y[train])
        fit_wall, fit_cpu = time.perf_counter() - w0, time.process_time() - c0
        w0, c0 = time.perf_counter(), time.process_time()
        mean, std = model.predict([structures[i] for i in test], return_std=True)
        pred_wall, pred_cpu = time.perf_counter() - w0, time.process_time() - c0
        metrics = regression_metrics(y[test], mean, std)
        # the learnt distribution of held-out errors (what predict's intervals use): PIT calibration
        dist = model.predict_distribution([structures[i] for i in test], mean_std=(mean, std))
        metrics.update({f"{k}_distribution": v for k, v in distribution_metrics(y[test], mean, dist, std).items()})
        row = {"fold": k, "n_train": len(train), "n_test": len(test), "fit_wall_s": fit_wall, "fit_cpu_s": fit_cpu,
               "predict_wall_s": pred_wall, "predict_cpu_s": pred_cpu, "epochs": model.n_epochs_,
               "member_wall_s": model.member_seconds_, "load_avg_1min": os.getloadavg()[0],
               **{m: float(metrics[m]) for m in ("mae", "rmse", "r2", "miscalibration_area", "coverage_95",
                                                 "miscalibration_area_distribution", "coverage_95_distribution")}}
        folds.append(row)
        print(json.dumps(row), flush=True)
    keys = ("mae", "rmse", "r2", "miscalibration_area", "coverage_95", "miscalibration_area_distribution",
            "coverage_95_distribution", "fit_wall_s", "fit_cpu_s")
    summary = {k: float(np.mean([f[k] for f in folds])) for k in keys}
    baseline = float(np.mean(np.abs(y - np.median(y))))
    report = {"dataset": args.dataset, "target": target, "n": len(y), "folds": args.folds, "params": params,
              "model_defaults": CrystalGraphRegressor().get_params(), "read_structures_s": read_seconds,
              "median_baseline_mae": baseline, "torch": torch.__version__, "cpus": os.cpu_count(),
              "machine": platform.processor() or platform.machine(), "per_fold": folds, "mean": summary}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(report, indent=1))
    lines = [f"# Crystal graph network (CGCNN ensemble): {args.dataset} `{target}`, {len(y)} structures",
             "", f"`python benchmarks/gnn_speed.py {' '.join(argv or [])}`; {args.folds}-fold CV, "
             f"{len(folds)} fold(s) run; params {params}; torch {torch.__version__}, {os.cpu_count()} CPUs. "
             f"Reading the structures: {read_seconds:.1f} s. Median-predictor MAE {baseline:.4g}.", "",
             "miscal. area and cov. 95: Gaussian std; dist.: the learnt distribution of held-out errors (PIT).", "",
             "| fold | train | fit wall s | fit CPU s | epochs | MAE | RMSE | R2 | miscal. area | cov. 95 | "
             "miscal. area dist. | cov. 95 dist. | load |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {f['fold']} | {f['n_train']} | {f['fit_wall_s']:.0f} | {f['fit_cpu_s']:.0f} | "
              f"{','.join(map(str, f['epochs']))} | {f['mae']:.4g} | {f['rmse']:.4g} | {f['r2']:.3f} | "
              f"{f['miscalibration_area']:.3f} | {f['coverage_95']:.3f} | {f['miscalibration_area_distribution']:.3f} | "
              f"{f['coverage_95_distribution']:.3f} | {f['load_avg_1min']:.1f} |" for f in folds]
    (RESULTS / f"{args.out}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
