"""First batches from a pool with categorical inputs: what the first model learns from them (#17, cold start).

``suggest`` and ``campaign suggest`` with fewer than 2 results pick a space-filling first batch from the
pool's rows (:mod:`matloop.design.coldstart`). Over one-hot or chemical features the k-means clusters
split by category and every medoid sat at the middle of the numeric settings (6 picks of a 108-row
reaction pool, all at 80 °C and 1.5 equivalents). Compared here on three pools:

- ``reaction-grid``: a full factorial a chemist would list (5 temperatures x 4 times x 4 solvents given
  as SMILES x 3 catalyst loadings, 240 rows);
- ``reaction``: 2,048 scrambled-Sobol points of ``docs/examples/reaction_space.yaml`` as a pool
  (temperature, time, 5 SMILES solvents, 3 catalysts);
- ``anneal``: 2,048 points of ``docs/examples/anneal_space.yaml`` (one 3-level solvent, a composition).

Designs of k = 4, 8 and 12 rows: ``medoids`` (k-means medoids of all standardised features, the method
before), ``balanced`` (:func:`matloop.design.coldstart.balanced_pool`: medoids of the numeric features,
categories given out in turn; the default now) and ``random``. Each design is scored on 30 generated
functions per pool (``benchmarks/space_designs.py``'s: a smooth random function of the numeric
parameters plus a random effect and a slope per category; function ``f`` also seeds the designs):
``R2`` of the default surrogate trained on the design, over the whole pool; ``best``: the best design
row's percentile in the pool (lower is better); for k = 8 the default campaign that follows (batches of
4 from the pool): the best row's percentile after 12 and 24 experiments.

usage: python benchmarks/pool_designs.py [--functions 30] [--ks 4 8 12] [--report-only]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import itertools  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from space_designs import CAMPAIGN_BATCH, CAMPAIGN_K, CAMPAIGN_LENGTH, spaces, test_function  # noqa: E402
from space_designs import main as design_main  # noqa: E402

from matloop.design.acquisition import Objective  # noqa: E402
from matloop.design.coldstart import cold_start_picks, coverage_pool, space_points  # noqa: E402
from matloop.design.encode import category_features  # noqa: E402
from matloop.design.space import DesignSpace  # noqa: E402
from matloop.design.suggest import rank_candidates  # noqa: E402
from matloop.design.surrogate import featurize, make_surrogate  # noqa: E402
from matloop.io.dataset import Dataset  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
DESIGNS = ("medoids", "balanced", "random")
SOLVENTS = ["CCO", "O", "Cc1ccccc1", "CC#N"]


def pools() -> dict[str, tuple[DesignSpace, pd.DataFrame]]:
    """name -> (the space the test functions read, the pool's rows)."""
    grid_space = DesignSpace.from_dict({"parameters": [
        {"name": "temperature", "type": "continuous", "low": 40, "high": 120},
        {"name": "time", "type": "continuous", "low": 1, "high": 8},
        {"name": "solvent", "type": "categorical", "values": SOLVENTS},
        {"name": "loading", "type": "continuous", "low": 0.5, "high": 2}]})
    grid = pd.DataFrame(list(itertools.product([40, 60, 80, 100, 120], [1, 2, 4, 8], SOLVENTS, [0.5, 1, 2])),
                        columns=["temperature", "time", "solvent", "loading"]).astype({"temperature": float,
                                                                                        "time": float})
    out = {"reaction-grid": (grid_space, grid)}
    for name in ("reaction", "anneal"):
        space = spaces()[name]
        out[name] = (space, space_points(space, 2048, seed=10_000))
    return out


def features(pool: pd.DataFrame) -> tuple[np.ndarray, list | None]:
    """The pool's features and categorical feature columns, as ``suggest`` makes them."""
    ds = Dataset(frame=pool.assign(y=np.nan), input=None, kind="parameters", targets=["y"],
                 parameters=list(pool.columns))
    return featurize(ds).to_numpy(dtype=float), category_features(ds)


def pick(name: str, X: np.ndarray, categories, k: int, seed: int) -> np.ndarray:
    if name == "medoids":
        return coverage_pool(X, k, seed=seed)
    if name == "balanced":
        return cold_start_picks(X, k, seed=seed, categories=categories)[0]
    return np.random.default_rng(seed).choice(len(X), k, replace=False)


def campaign(X: np.ndarray, y: np.ndarray, first: np.ndarray, seed: int) -> dict:
    """The default campaign after the first batch: best percentile after 12, 16 and 24 experiments."""
    open_ = np.ones(len(X), dtype=bool)
    open_[first] = False
    done, out = list(first), {}
    while len(done) < CAMPAIGN_LENGTH:
        idx = np.flatnonzero(open_)
        ranking = rank_candidates(X[done], y[done], X[idx], pd.DataFrame(index=idx), Objective("max"),
                                  CAMPAIGN_BATCH, None, "fantasy", "etgp", seed)
        picks = idx[np.asarray(ranking.chosen_positions)]
        open_[picks] = False
        done += picks.tolist()
        if len(done) in (12, 16, CAMPAIGN_LENGTH):
            out[f"after{len(done)}"] = float(np.mean(y > y[done].max()))
    return out


def run(functions: int, ks: list[int]) -> list[dict]:
    rows = []
    for pool_name, (space, pool) in pools().items():
        X, categories = features(pool)
        for f in range(functions):
            y = test_function(space, pool, f)
            y = (y - y.mean()) / y.std()
            for k in ks:
                for name in DESIGNS:
                    t0 = time.perf_counter()
                    idx = pick(name, X, categories, k, f)
                    secs = time.perf_counter() - t0
                    pred = make_surrogate("etgp", f).fit(X[idx], y[idx]).predict(X)
                    row = {"pool": pool_name, "k": k, "design": name, "function": f,
                           "r2": float(1 - np.mean((pred - y) ** 2) / np.var(y)),
                           "best": float(np.mean(y > y[idx].max())), "seconds": secs}
                    if k == CAMPAIGN_K:
                        row.update(campaign(X, y, idx, f))
                    rows.append(row)
            last = [r for r in rows[-len(ks) * len(DESIGNS):] if r["k"] == ks[-1]]
            print(f"{pool_name} function {f}: " + ", ".join(f"{r['design']} R2 {r['r2']:.2f}" for r in last),
                  file=sys.stderr, flush=True)
    return rows


def _se(s: pd.Series) -> float:
    return float(s.std(ddof=1) / np.sqrt(len(s))) if len(s) > 1 else float("nan")


def report(rows: list[dict]) -> str:
    df = pd.DataFrame(rows)
    lines = ["# First batches from a pool with categorical inputs", "",
             "Made by `python benchmarks/pool_designs.py` (protocol in its docstring). Mean over "
             f"{df['function'].nunique()} generated test functions per pool (± standard error). `R2`: the default "
             "surrogate trained on the first batch, over the whole pool; `best`: the best row's percentile in the "
             "pool (lower is better); `after 12` / `after 24`: the default campaign after a first batch of 8.", "",
             "| pool | k | design | R2 | R2 vs medoids (paired) | best | better R2 than medoids | after 12 | after 24 "
             "| after 12 / 24 vs medoids (paired) | s per design |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for (pool, k), g in df.groupby(["pool", "k"], sort=False):
        ref = g[g["design"] == "medoids"].set_index("function")
        for name in DESIGNS:
            h = g[g["design"] == name].set_index("function")
            diff = h["r2"] - ref["r2"]
            paired = "" if name == "medoids" else f"{diff.mean():+.3f} ± {_se(diff):.3f}"
            wins = "" if name == "medoids" else f"{int((diff > 0).sum())} of {len(diff)}"
            later, after = "", ["-", "-"]
            if "after12" in h and h["after12"].notna().any():
                after = [f"{h[c].mean():.3f} ± {_se(h[c]):.3f}" for c in ("after12", "after24")]
                if name != "medoids":
                    later = " / ".join(f"{(h[c] - ref[c]).mean():+.3f} ± {_se(h[c] - ref[c]):.3f}"
                                       for c in ("after12", "after24"))
            lines.append(f"| {pool} | {k} | {name} | {h['r2'].mean():.3f} ± {_se(h['r2']):.3f} | {paired} | "
                         f"{h['best'].mean():.3f} | {wins} | {after[0]} | {after[1]} | {later} | "
                         f"{h['seconds'].mean():.3f} |")
    return "\n".join(lines) + "\n" + NOTES


#: the reading (edit with the figures)
NOTES = """
## Reading

- **`balanced` (the default now) teaches the first model more than the medoids of all features** on
  every pool at k = 8 (R2 +0.15 ± 0.06 on the factorial grid, +0.32 ± 0.07 on the Sobol reaction pool,
  +0.17 ± 0.08 on anneal; better on 19, 25 and 23 of 30 functions) and at k = 12 on two of three (+0.43
  on reaction; level on the grid). At k = 4 on `reaction` it is level: 4 picks cannot give 5 solvents
  out in turn, so only the catalyst is balanced there.
- The best row of its first 8 is better on all three pools (percentile 0.089 vs 0.145, 0.079 vs 0.220,
  0.112 vs 0.150), and the campaign after it is ahead after 12 experiments on all three (-0.011, -0.039,
  -0.013). After 24 it is ahead on the grid (-0.009 ± 0.005) and slightly behind on `reaction` and
  `anneal` (+0.004 ± 0.004, +0.009 ± 0.007; about one standard error), as on the design spaces
  (`space_designs.md`): the first batch's advantage is spent by then.
- Random picks also beat the old medoids on R2 (every medoid in the middle of the numeric settings
  teaches nothing about them), but trail `balanced` on R2 and on the campaign after 12.
- Nothing here is a real measurement: the test functions are generated (`benchmarks/space_designs.py`),
  chosen before the runs and not changed after them; the designs were not tuned on them.
"""


def main(argv=None) -> int:
    return design_main(argv, "pool_designs", run, report, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
