"""What a batch made in one go costs: ``--same COL`` against free batches, at equal experiments (#17).

``--same temperature`` keeps every experiment of a batch at the first pick's temperature (one oven run),
:mod:`matloop.design.batch_groups`. The constraint is the lab's, not a choice of ours; this measures what
it costs in experiments, so that a scientist can weigh one oven run per batch against more experiments.

Pools:

- ``crossed_barrel`` (Liang et al. 2021, bundled; duplicate inputs averaged, 600 designs; maximise
  toughness): batches sharing the strut count ``n`` (4 levels) or the thickness ``t`` (3 levels);
- ``reaction-grid`` (``benchmarks/pool_designs.py``'s 240-row factorial: 5 temperatures x 4 times x 4
  solvents as SMILES x 3 loadings, with that benchmark's generated test functions, maximised): batches
  sharing the temperature or the solvent.

Protocol: 2 random initial experiments (the same for every arm of a seed), then batches of 4 chosen by
the default strategy (:func:`matloop.design.suggest.rank_candidates`, fantasy batch) until the budget
(60 on crossed_barrel, 40 on the grid). Metric: the fraction of the pool's top 5 % found (mean over
seeds or functions, with the paired difference to the free batch and its standard error), and the
best row's percentile at the budget. Nothing was tuned on these runs.

usage: python benchmarks/same_setting.py [--seeds 8] [--functions 12] [--report-only]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pool_designs import features, pools  # noqa: E402
from space_designs import test_function  # noqa: E402

from matloop.datasets import load  # noqa: E402
from matloop.design.acquisition import Objective  # noqa: E402
from matloop.design.batch_groups import rank_in_one_group, same_groups  # noqa: E402
from matloop.design.suggest import rank_candidates  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
BATCH = 4


def campaign(X: np.ndarray, y: np.ndarray, frame: pd.DataFrame, same: list[str] | None, budget: int,
             seed: int) -> dict:
    """One campaign (maximise ``y``): the fraction of the top 5 % found and the best row's percentile."""
    rng = np.random.default_rng(seed)
    done = rng.choice(len(y), 2, replace=False).tolist()
    top = set(np.argsort(-y)[: int(np.ceil(0.05 * len(y)))].tolist())
    shares = []
    while len(done) < budget:
        idx = np.setdiff1d(np.arange(len(y)), done)
        k = min(BATCH, budget - len(done))
        shown = frame.iloc[idx].reset_index(drop=True)
        X_done, y_done, X_open = X[done], y[done], X[idx]
        ranking = rank_in_one_group(
            lambda pos, kk, X_done=X_done, y_done=y_done, X_open=X_open, shown=shown: rank_candidates(
                X_done, y_done, X_open[pos], shown.iloc[pos], Objective("max"), kk, None, "fantasy", "etgp", seed),
            len(idx), same_groups(shown, same), k, same or ())
        picks = idx[np.asarray(ranking.chosen_positions, dtype=int)]
        if same:
            shares.append(frame.iloc[picks][same].drop_duplicates().shape[0] == 1)
        done += picks.tolist()
    return {"top_found": len(top & set(done)) / len(top), "best_pct": float(np.mean(y > y[done].max())),
            "batches_shared": float(np.mean(shares)) if shares else None}


def run(seeds: int, functions: int) -> list[dict]:
    rows = []
    ds = load("liang_crossed_barrel")
    params = [c for c in ds.frame.columns if c not in ds.targets]
    cb = ds.frame.groupby(params, as_index=False)[ds.targets[0]].mean()
    X_cb = cb[params].to_numpy(dtype=float)
    y_cb = cb[ds.targets[0]].to_numpy(dtype=float)
    space, grid = pools()["reaction-grid"]
    X_grid, _ = features(grid)
    jobs = [("crossed_barrel", s, X_cb, y_cb, cb[params], 60, arm) for s in range(seeds)
            for arm in (None, ["t"], ["n"])]
    for f in range(functions):
        y = test_function(space, grid, f)
        jobs += [("reaction-grid", f, X_grid, (y - y.mean()) / y.std(), grid, 40, arm)
                 for arm in (None, ["temperature"], ["solvent"])]
    for pool, seed, X, y, frame, budget, arm in jobs:
        t0 = time.perf_counter()
        out = campaign(X, y, frame, arm, budget, seed)
        rows.append({"pool": pool, "seed": seed, "arm": "free" if arm is None else f"--same {arm[0]}", **out,
                     "seconds": round(time.perf_counter() - t0, 1)})
        print(f"{pool} seed {seed} {rows[-1]['arm']}: top {out['top_found']:.0%}, best percentile "
              f"{out['best_pct']:.3f} ({rows[-1]['seconds']} s)", file=sys.stderr, flush=True)
    return rows


def report(rows: list[dict]) -> str:
    frame = pd.DataFrame(rows)
    lines = ["# What a batch made in one go costs: `--same COL` vs free batches", "",
             "Made by `python benchmarks/same_setting.py` (protocol in its docstring). Batches of 4, 2 random initial "
             "experiments; crossed_barrel budget 60 (seeds), reaction-grid budget 40 (generated functions). "
             "`top 5 %`: fraction of the pool's best 5 % found at the budget; `best`: the best row's percentile "
             "(lower is better); the change is paired with the free batch on the same seed or function "
             "(mean ± standard error).", "",
             "| pool | arm | runs | top 5 % found | change vs free (points) | best percentile | batches sharing the value |",
             "|---|---|---|---|---|---|---|"]
    for pool, group in frame.groupby("pool", sort=False):
        free = group[group["arm"] == "free"].set_index("seed")
        for arm, g in group.groupby("arm", sort=False):
            g = g.set_index("seed")
            diff = (g["top_found"] - free.loc[g.index, "top_found"]) * 100
            se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
            shared = "-" if g["batches_shared"].isna().all() else f"{g['batches_shared'].mean():.0%}"
            lines.append(f"| {pool} | {arm} | {len(g)} | {g['top_found'].mean():.0%} | "
                         + ("-" if arm == "free" else f"{diff.mean():+.1f} ± {se:.1f}")
                         + f" | {g['best_pct'].mean():.3f} | {shared} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--functions", type=int, default=12)
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args(argv)
    path = RESULTS / "same_setting.json"
    rows = json.loads(path.read_text()) if args.report_only else run(args.seeds, args.functions)
    if not args.report_only:
        path.write_text(json.dumps(rows, indent=1))
    text = report(rows)
    (RESULTS / "same_setting.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
