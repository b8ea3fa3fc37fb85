"""``--model chgnet-head`` against a random forest on the same CHGNet features, K-fold CV on one structure set.

Both read the pre-trained CHGNet's per-structure features (64-number crystal feature, energy, magnetic
moments, equation-of-state bulk modulus and pressure: :class:`UniversalPotentialFeatures`'s defaults);
both get their std recalibrated on five-fold cross-validated residuals, as ``matloop fit`` does:

- ``chgnet_rf``: ``benchmarks/structures.py``'s forest (jackknife random forest, 200 trees);
- ``chgnet_head``: :func:`matloop.models.potentials.head.chgnet_head` (five one-layer MLP heads with
  early stopping).

Features are read from ``--feature-dir`` (the npz files ``benchmarks/structures.py`` writes) when there,
else computed (and cached by structure content). Reports MAE, miscalibration area, 95 % coverage and the
CPU seconds of each fit.

usage: python benchmarks/chgnet_head.py [--set log10_kvrh] [--folds 5] [--run-folds K] [--out chgnet_head]
Results: ``benchmarks/results/<out>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))


def _features(set_name: str, structures, feature_dir: Path) -> np.ndarray:
    from structures import SOURCE

    path = feature_dir / f"{SOURCE[set_name]}-{len(structures)}-all-chgnet.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            return np.asarray(z["values"], dtype=float)
    from matloop.models.potentials.features import UniversalPotentialFeatures

    return UniversalPotentialFeatures().fit().transform_structures(structures)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="log10_kvrh")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--run-folds", type=int, default=None)
    parser.add_argument("--feature-dir", default=os.environ.get("MATLOOP_BENCH_FEATURES", "/tmp/matloop_bench_features"))
    parser.add_argument("--out", default="chgnet_head")
    args = parser.parse_args(argv)

    from sklearn.model_selection import KFold
    from structure_sets import load_set
    from structures import forest

    from matloop.evaluate.metrics import regression_metrics
    from matloop.models.calibration import RecalibratedRegressor
    from matloop.models.potentials.head import HEAD, chgnet_head

    structures, y, info = load_set(args.set)
    X = _features(args.set, structures, Path(args.feature_dir))
    models = {"chgnet_rf": forest, "chgnet_head": lambda: RecalibratedRegressor(chgnet_head(0), method="scale", cv=5)}
    rows = []
    splits = list(KFold(args.folds, shuffle=True, random_state=0).split(X))
    for k, (tr, te) in enumerate(splits[: args.run_folds or args.folds]):
        for name, make in models.items():
            c0 = time.process_time()
            est = make().fit(X[tr], y[tr])
            cpu = time.process_time() - c0
            mean, std = est.predict(X[te], return_std=True)
            m = regression_metrics(y[te], mean, std)
            rows.append({"fold": k, "model": name, "fit_cpu_s": cpu, **{q: float(m[q]) for q in
                         ("mae", "rmse", "r2", "miscalibration_area", "coverage_95")}})
            print(json.dumps(rows[-1]), flush=True)
    summary = {}
    for name in models:
        mine = [r for r in rows if r["model"] == name]
        summary[name] = {q: float(np.mean([r[q] for r in mine]))
                         for q in ("mae", "rmse", "r2", "miscalibration_area", "coverage_95", "fit_cpu_s")}
    out = {"set": args.set, "info": info, "folds": args.folds, "rows": rows, "mean": summary, "head": HEAD,
           "load_avg": os.getloadavg()[0]}
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / f"{args.out}.json").write_text(json.dumps(out, indent=1, default=str))
    lines = [f"# CHGNet head vs forest on CHGNet features: {args.set} ({info['rows_used']} structures)", "",
             f"`python benchmarks/chgnet_head.py --set {args.set} --folds {args.folds}"
             + (f" --run-folds {args.run_folds}" if args.run_folds else "") + "`; mean over "
             f"{len(rows) // len(models)} fold(s) of {args.folds}-fold CV (seed 0).", "",
             "| model | MAE | RMSE | R2 | miscal. area | cov. 95 | fit CPU s |", "|---|---|---|---|---|---|---|"]
    for name, s in summary.items():
        lines.append(f"| {name} | {s['mae']:.4f} | {s['rmse']:.4f} | {s['r2']:.3f} | {s['miscalibration_area']:.3f} | "
                     f"{s['coverage_95']:.3f} | {s['fit_cpu_s']:.0f} |")
    (results / f"{args.out}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
