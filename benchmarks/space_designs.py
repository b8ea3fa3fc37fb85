"""First designs over a design space: what the first model learns from them (#17, cold start).

A design-space campaign (``campaign new --space``) starts from nothing measured, so its first batch is a
design. Compared here on three spaces:

- ``anneal``: ``docs/examples/anneal_space.yaml`` (temperature, time, layers, a solvent label, a 3-element
  composition, two constraints);
- ``reaction``: ``docs/examples/reaction_space.yaml`` (temperature, time, 5 SMILES solvents, 3 catalysts,
  one constraint);
- ``process4``: four continuous parameters, no constraint (a Liang-type process space).

Designs of k = 4, 8 and 12 points: ``medoids`` (k-means medoids of scrambled-Sobol points in unit
coordinates, categories one-hot: the method used before), ``balanced`` (the medoids of the numeric
coordinates, categories given out in turn: :mod:`matloop.design.space_design`, the default now),
``maxpro`` (a maximum-projection design, Joseph, Gul & Ba 2015/2020, chosen greedily from the same points
and improved by exchanges; below), ``sobol`` (the first feasible scrambled-Sobol points) and ``random``
(uniform feasible points). Each design is measured on 30 generated test functions
per space (function ``f`` also seeds the designs): a smooth random function of the numeric parameters
(random Fourier features of a squared-exponential kernel, length scale U(0.15, 0.5) of each range),
plus a random effect per category (std U(0.3, 1) of the numeric part's) and one product of a numeric and
a categorical term, standardised over 2,048 test points of the space. Scores:

- ``R2``: of the default surrogate (``etgp``, what the campaign fits next) trained on the design's k
  points, on the 2,048 test points;
- ``best``: the best design point's percentile among the test points (maximised; lower is better);
- ``spread``: the mean over numeric parameters of the share of its range the design spans;
- ``after 16 / 32``: for k = 8, the campaign that follows (the default suggestion, ``etgp`` with log-EI and
  the fantasy batch, batches of 4 chosen among the 2,048 test points): the best point's percentile after
  12 and 24 experiments.

usage: python benchmarks/space_designs.py [--functions 30] [--ks 4 8 12]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.special import logsumexp  # noqa: E402

from matloop.design.campaign_files import read_space  # noqa: E402
from matloop.design.coldstart import space_filling_design, space_points  # noqa: E402
from matloop.design.space import DesignSpace  # noqa: E402
from matloop.design.space_design import space_coordinates  # noqa: E402
from matloop.design.surrogate import make_surrogate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

#: added to every squared numeric difference, so that two points at one level of a parameter (values
#: are rounded to its resolution) cost a large but finite amount
DELTA = 1e-3
#: exchange passes over the design after the greedy choice
EXCHANGE_PASSES = 3


def _log_terms(U, C, levels, u, c) -> np.ndarray:
    """log of each pair term between every row of (U, C) and the point (u, c)."""
    out = -np.log((U - u) ** 2 + DELTA).sum(axis=1)
    if C.shape[1]:
        out -= np.log((C != c).astype(float) + 1.0 / levels).sum(axis=1)
    return out


def maxpro_indices(U: np.ndarray, C: np.ndarray, levels: np.ndarray, k: int, start: int = 0) -> np.ndarray:
    """Positions of ``k`` rows of the pool (rows ``start:`` of ``U``/``C``; rows before ``start`` are fixed
    points already in the design) that minimise the MaxPro criterion (module doc): greedy, then exchanges."""
    n = len(U) - start
    k = min(int(k), n)
    if k <= 0:
        return np.empty(0, dtype=int)
    pool = np.arange(start, len(U))
    # load[i] = log of the sum of pair terms between pool row i and the design so far (fixed points included)
    load = np.full(n, -np.inf)
    for f in range(start):
        load = np.logaddexp(load, _log_terms(U[pool], C[pool], levels, U[f], C[f]))
    chosen: list[int] = []
    for _ in range(k):
        if not chosen and start == 0:  # the first point: the one nearest the centre of the pool
            i = int(np.argmin(((U[pool] - U[pool].mean(axis=0)) ** 2).sum(axis=1))) if U.shape[1] else 0
        else:
            masked = load.copy()
            masked[chosen] = np.inf
            i = int(np.argmin(masked))
        chosen.append(i)
        load = np.logaddexp(load, _log_terms(U[pool], C[pool], levels, U[pool[i]], C[pool[i]]))
    for _ in range(EXCHANGE_PASSES):  # swap a point for the pool row that costs least against the others
        moved = False
        for slot in range(k):
            others = [pool[j] for s, j in enumerate(chosen) if s != slot] + list(range(start))
            if not others:
                continue
            cost = logsumexp(np.stack([_log_terms(U[pool], C[pool], levels, U[o], C[o]) for o in others]), axis=0)
            cost[[j for s, j in enumerate(chosen) if s != slot]] = np.inf
            best = int(np.argmin(cost))
            if cost[best] < cost[chosen[slot]] - 1e-9:
                chosen[slot], moved = best, True
        if not moved:
            break
    return np.asarray(chosen, dtype=int)


def maxpro_design(space, k: int, measured: pd.DataFrame | None = None, seed: int = 0,
                  n_points: int = 1024) -> pd.DataFrame:
    """``k`` feasible, distinct points of ``space`` (rounded to each parameter's resolution) forming a
    MaxPro design with the ``measured`` points (module doc). Raises :class:`~matloop.errors.InputError`
    when the constraints leave no point."""
    pts = space_points(space, n_points, measured, seed, top_up=4 * k)
    fixed = measured.reindex(columns=space.columns).dropna() if measured is not None and len(measured) else None
    frame = pts if fixed is None else pd.concat([fixed, pts], ignore_index=True)
    U, C, levels = space_coordinates(space, frame)
    idx = maxpro_indices(U, C, levels, k, start=0 if fixed is None else len(fixed))
    return pts.iloc[idx].reset_index(drop=True)

RESULTS = ROOT / "benchmarks" / "results"
DESIGNS = ("medoids", "balanced", "maxpro", "sobol", "random")


def spaces() -> dict[str, DesignSpace]:
    process4 = DesignSpace.from_dict({name: {"low": 0, "high": 1} for name in ("a", "b", "c", "d")})
    return {"anneal": read_space(ROOT / "docs" / "examples" / "anneal_space.yaml")[0],
            "reaction": read_space(ROOT / "docs" / "examples" / "reaction_space.yaml")[0], "process4": process4}


def test_function(space, frame: pd.DataFrame, seed: int) -> np.ndarray:
    """A smooth random function of the space's parameters (module doc), unstandardised."""
    rng = np.random.default_rng(seed)
    U, C, levels = space_coordinates(space, frame)
    length = rng.uniform(0.15, 0.5)
    W = rng.normal(0, 1 / length, (U.shape[1], 50))
    b = rng.uniform(0, 2 * np.pi, 50)
    numeric = np.cos(U @ W + b) @ rng.normal(0, 1, 50) if U.shape[1] else np.zeros(len(frame))
    scale = numeric.std() or 1.0
    out = numeric.copy()
    for j, n_levels in enumerate(levels):
        effect = rng.normal(0, rng.uniform(0.3, 1.0) * scale, int(n_levels))
        codes = C[:, j].astype(int)
        out += effect[codes]
        if U.shape[1]:  # one category-dependent slope of a numeric parameter
            out += rng.normal(0, 0.5 * scale, int(n_levels))[codes] * (U[:, rng.integers(U.shape[1])] - 0.5)
    return out


def design(space, name: str, k: int, seed: int) -> pd.DataFrame:
    if name == "balanced":  # the default now
        return space_filling_design(space, k, seed=seed)
    if name == "medoids":  # the default before: medoids of all unit coordinates, categories one-hot
        from matloop.design.coldstart import medoids

        pts = space_points(space, 1024, seed=seed, top_up=4 * k)
        return pts.iloc[medoids(space.unit(pts), k, seed=seed)].reset_index(drop=True)
    if name == "maxpro":
        return maxpro_design(space, k, seed=seed)
    pts = space_points(space, 1024, seed=seed, top_up=4 * k)
    if name == "sobol":
        return pts.iloc[:k].reset_index(drop=True)
    return pts.iloc[np.random.default_rng(seed).choice(len(pts), k, replace=False)].reset_index(drop=True)


#: the design size followed by a campaign, its batch and its length
CAMPAIGN_K, CAMPAIGN_BATCH, CAMPAIGN_LENGTH = 8, 4, 24


def campaign(space, d: pd.DataFrame, y: np.ndarray, test: pd.DataFrame, y_test: np.ndarray, seed: int) -> dict:
    """The default campaign after the design (module doc): best percentile after 12, 16 and 24 experiments."""
    from matloop.design.acquisition import Objective
    from matloop.design.suggest import rank_candidates

    X_test = space.encode(test)
    X, Y = space.encode(d), list(y)
    open_ = np.ones(len(test), dtype=bool)
    out = {}
    while len(Y) < CAMPAIGN_LENGTH:
        idx = np.flatnonzero(open_)
        ranking = rank_candidates(X, np.asarray(Y), X_test[idx], test.iloc[idx], Objective("max"), CAMPAIGN_BATCH,
                                  None, "fantasy", "etgp", seed)
        picks = idx[np.asarray(ranking.chosen_positions)]
        open_[picks] = False
        X, Y = np.vstack([X, X_test[picks]]), Y + list(y_test[picks])
        if len(Y) in (12, 16, CAMPAIGN_LENGTH):
            out[f"after{len(Y)}"] = float(np.mean(y_test > max(Y)))
    return out


def run(functions: int, ks: list[int]) -> list[dict]:
    rows = []
    for space_name, space in spaces().items():
        test = space_points(space, 2048, seed=10_000)
        U_test = space_coordinates(space, test)[0]
        for f in range(functions):
            y_test = test_function(space, test, f)
            mu, sd = y_test.mean(), y_test.std()
            y_test = (y_test - mu) / sd
            for k in ks:
                for name in DESIGNS:
                    t0 = time.perf_counter()
                    d = design(space, name, k, seed=f)
                    secs = time.perf_counter() - t0
                    y = (test_function(space, d, f) - mu) / sd
                    model = make_surrogate("etgp", f).fit(space.encode(d), y)
                    pred = model.predict(space.encode(test))
                    r2 = 1 - np.mean((pred - y_test) ** 2) / np.var(y_test)
                    best = float(np.mean(y_test > y.max()))
                    Ud = space_coordinates(space, d)[0]
                    spread = float(np.mean((Ud.max(axis=0) - Ud.min(axis=0))
                                           / np.maximum(U_test.max(axis=0) - U_test.min(axis=0), 1e-12))) if Ud.shape[1] else 1.0
                    row = {"space": space_name, "k": k, "design": name, "function": f, "r2": float(r2),
                           "best": best, "spread": spread, "seconds": secs}
                    if k == CAMPAIGN_K:
                        row.update(campaign(space, d, y, test, y_test, f))
                    rows.append(row)
            print(f"{space_name} function {f}: " + ", ".join(
                f"{r['design']} k={r['k']} R2 {r['r2']:.2f}" for r in rows[-len(ks) * len(DESIGNS):]
                if r["k"] == ks[-1]), flush=True)
    return rows


def report(rows: list[dict]) -> str:
    df = pd.DataFrame(rows)
    lines = ["# First designs over a design space", "",
             "Made by `python benchmarks/space_designs.py` (protocol in its docstring). Mean over "
             f"{df['function'].nunique()} generated test functions per space (± standard error). `R2`: the "
             "default surrogate trained on the design, on 2,048 test points; `best`: the best design point's "
             "percentile (lower is better); `spread`: share of each numeric parameter's range spanned.", "",
             "| space | k | design | R2 | best | spread | R2 vs medoids (paired) | after 12 | after 24 | "
             "after 12 / 24 vs medoids (paired) | s per design |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for (space, k), g in df.groupby(["space", "k"], sort=False):
        ref = g[g["design"] == "medoids"].set_index("function")["r2"]
        for name in DESIGNS:
            h = g[g["design"] == name]
            diff = h.set_index("function")["r2"] - ref
            se = lambda s: s.std(ddof=1) / np.sqrt(len(s))  # noqa: E731
            paired = "" if name == "medoids" else f"{diff.mean():+.3f} ± {se(diff):.3f}"
            later = ""
            if name != "medoids" and "after12" in h and h["after12"].notna().any():
                base = g[g["design"] == "medoids"].set_index("function")
                later = " / ".join(f"{(h.set_index('function')[c] - base[c]).mean():+.3f} ± "
                                   f"{se(h.set_index('function')[c] - base[c]):.3f}" for c in ("after12", "after24"))
            lines.append(f"| {space} | {k} | {name} | {h['r2'].mean():.3f} ± {se(h['r2']):.3f} | "
                         f"{h['best'].mean():.3f} | {h['spread'].mean():.2f} | {paired} | {_mean(h, 'after12')} | "
                         f"{_mean(h, 'after24')} | {later} | {h['seconds'].mean():.2f} |")
    return "\n".join(lines) + "\n" + NOTES


#: the reading (edit with the figures)
NOTES = """
## Reading

- **The design used before (`medoids`) fails on a space with two categorical parameters**
  (`reaction`: 5 solvents x 3 catalysts, 15 combinations): the k-means clusters split by category and
  every medoid sits at the middle of temperature and time (8 points span 12 % of their ranges). The
  first model then predicts worse than the mean (R2 -0.18 at k = 8) and the campaign that follows is
  behind after 12 experiments.
- **`balanced` (the default now)** clusters the numeric parameters only and gives the categories out
  in turn. On `reaction` it is far ahead of `medoids` (R2 +0.41 at k = 8, +0.50 at k = 12; best of the
  first 8 at the 9th percentile against the 38th; after 12 experiments -0.087 ± 0.018, better on 27 of
  30 functions) and level with Sobol's first points and MaxPro there. On `process4` (no category) it
  is the same design as before. On `anneal` (one 3-level category) the first model is better (R2 +0.20
  at k = 4, +0.03 at k = 8 and 12) but the campaign after it is slightly behind (percentile after 24
  experiments 0.016 against 0.009, +0.008 ± 0.004), as are every other design's (+0.004 to +0.010): the
  old medoids happened to suit that space's campaigns. The pathological case (a first batch that
  teaches nothing about the numeric parameters) outweighs that, so `balanced` is the default.
- Sobol's first points and MaxPro win on `reaction` too but lose to the medoids on the continuous
  space (R2 -0.12 and -0.15 at k = 8): medoids sit inside the space, where a forest + GP surrogate
  interpolates, and MaxPro pushes every point to the boundary.
- Nothing here is a real measurement: the test functions are generated (module doc), chosen before
  the runs and not changed after them.
"""


def _mean(frame: pd.DataFrame, column: str) -> str:
    if column not in frame or frame[column].isna().all():
        return "-"
    v = frame[column].dropna()
    return f"{v.mean():.3f} ± {v.std(ddof=1) / np.sqrt(len(v)):.3f}"


def main(argv=None, name: str = "space_designs", run_designs=None, make_report=None, doc: str | None = None) -> int:
    """The command line of this benchmark, and of ``pool_designs.py`` (its ``run``, ``report`` and ``name``)."""
    ap = argparse.ArgumentParser(description=doc or __doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--functions", type=int, default=30)
    ap.add_argument("--ks", type=int, nargs="+", default=[4, 8, 12])
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args(argv)
    path = RESULTS / f"{name}.json"
    if args.report_only:
        rows = json.loads(path.read_text())
    else:
        rows = (run_designs or run)(args.functions, args.ks)
        path.write_text(json.dumps(rows))
    text = (make_report or report)(rows)
    (RESULTS / f"{name}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
