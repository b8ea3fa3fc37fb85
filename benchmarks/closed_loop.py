"""Simulated closed-loop campaigns (Liang et al. 2021 protocol) for our strategies and BoTorch.

Sets: the three bundled Liang sets, Matbench steels as a pool (find the strongest steels) and
Matbench expt_gap with a target window (1.1 to 1.5 eV absorbers). Strategies: our default, our
GP-ARD EI, our RF-LCB, random, and the peer BoTorch SingleTaskGP + LogEI measured in the same run
(same seeds, so the same two initial experiments in run ``r`` for every strategy).

Every (set, strategy) result is stored with its per-run curves in ``results/closed_loop.json``;
``--reuse`` keeps stored results whose protocol (budget, seed, strategy) matches, extends them to
the requested number of runs and runs only what is missing, so an expensive peer need not be
rerun when one strategy changes. The report (``closed_loop.md``) and one curve plot per set
(``closed_loop_<set>.png``) are rebuilt from the JSON after every strategy. Everything runs in one
process with one BLAS/torch thread.

Two processes may run side by side on different ``--sets`` (each merges its set into the JSON
under a file lock).

usage: python benchmarks/closed_loop.py [--runs N] [--peer-runs N] [--budget N] [--sets p3ht ...]
                                        [--strategies default gp-ei ...] [--reuse] [--report-only]
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
from threadpoolctl import threadpool_limits  # noqa: E402

from matloop.datasets import load  # noqa: E402
from matloop.design.acquisition import Objective  # noqa: E402
from matloop.design.simulate import (  # noqa: E402
    DEFAULT_STRATEGY,
    BenchmarkResult,
    average_duplicates,
    benchmark,
    make_strategy,
)
from matloop.design.surrogate import featurize  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from peers import BoTorchLogEI  # noqa: E402

RESULTS = Path(__file__).parent / "results"
JSON_PATH = RESULTS / "closed_loop.json"
#: key -> (dataset, objective, budget, runs, runs of the costly baselines, Top% levels reported)
SETS = {
    "p3ht": ("liang_p3ht", Objective("max"), 100, 10, 3, (0.5, 0.9, 1.0)),
    "agnp": ("liang_agnp", Objective("min"), 100, 10, 5, (0.5, 0.9, 1.0)),
    "crossed_barrel": ("liang_crossed_barrel", Objective("max"), 250, 10, 3, (0.5, 0.9, 1.0)),
    "steels": ("matbench_steels", Objective("max"), 100, 10, 3, (0.5, 0.9, 1.0)),
    "expt_gap_window": ("matbench_expt_gap", Objective("range", 1.1, 1.5), 80, 5, 1, (0.025, 0.05, 0.1)),
}
STRATEGIES = ["default", "gp-ei", "rf-lcb", "botorch", "random"]
#: baselines whose refits cost seconds per step: run on the first ``peer_runs`` seeds only
COSTLY = ("gp-ei", "rf-lcb", "botorch")
LABELS = {"default": f"default ({DEFAULT_STRATEGY})", "botorch": "BoTorch SingleTaskGP + LogEI"}

#: what the stored run does not show (kept in the report; update when rerunning with more runs)
LIMITS = """## Limits of this run

- Runs per strategy: 20 on p3ht and agnp (seeds 0..19), 10 on crossed_barrel, steels and
  expt_gap_window, the same for the default, gp-ei, BoTorch and random (run with `--runs` and
  `--peer-runs`; the per-set defaults in `SETS` are smaller), except BoTorch on expt_gap_window (5
  runs: about 400 s per run on the 267 composition features). rf-lcb (several seconds per step) ran
  on the first 3 seeds only (5 on agnp, 1 on expt_gap), so it is shown but not compared. 'clear'
  needs 3 runs of each and a difference over 2 standard errors.
- agnp: the default and our GP-EI are close on the report's seeds (39.3 ± 2.1 vs 40.6 ± 1.4
  experiments to find all 9, 20 runs; paired difference +1.4 ± 2.7, default better in 12 runs,
  worse in 7): not a clear difference. On 30 other seeds (100..129, used for tuning, see below)
  the default needed 36.2 ± 1.3 against 44.0 ± 1.2 (paired +7.8 ± 1.8); the spread between seed
  sets is that large. The default finds 8 of the 9 sooner (29.9 ± 1.5 vs 33.4 ± 1.1 experiments)
  and loses time on the last one.
- expt_gap_window has 245 materials inside the window; with a budget of 80 no strategy can find more
  than a third of them, so it is compared at 2.5%, 5% and 10% of the window set, not at 100%. The
  default is ahead of gp-ei at each level but not clearly (5%: 49.7 vs 53.6 experiments, one run
  of each short of it; 10%: reached in 3 of 10 runs vs 2 of 10); BoTorch trails both (5%: 4 of 5
  runs, 67.6). With 5 runs each (an earlier state of this report) the default led gp-ei at 5% by
  44.8 vs 56.2; the 5 further seeds narrowed it.
- crossed_barrel: no strategy found all 30 top designs in every run within 250 experiments; the
  default got there in 5 of 10 runs (gp-ei and BoTorch in none), so 100% is 'not clear' (the
  default mean is censored); at 90% the default is clearly first (150 experiments; gp-ei got there
  in 2 of 10 runs, BoTorch in 1).
- The default was chosen on seeds that overlap the report's first seeds (p3ht, agnp, steels,
  crossed_barrel; see below): its margin there may be slightly optimistic. The later follow-up
  (weighting the mixture) used only seeds 100 and above.
"""

#: how the default was chosen (kept in the report)
TUNING_NOTES = """## How the default was chosen

The former default, `auto-logei`, chose between our GP and a 200-tree forest by 5-fold CV at every
step: 6 to 36 s per step at 30 to 150 measured points (p3ht, steels; 2 shared cores), far too slow
for a loop. Candidates were tuned with few runs (seeds 0..k-1, so partly the same seeds as the
report: an optimistic bias of the tuned default on p3ht and agnp), on p3ht and agnp (budget 100)
and then steels and crossed_barrel (budget 150). `n100`: mean experiments to find all top
candidates (runs that did not count as budget + 1), ± standard error.

| candidate | p3ht n100 | agnp n100 | notes |
|---|---|---|---|
| extra trees, 50 trees, OOB noise, EI (4 runs) | 83 (3/4 runs) | 40 | crossed_barrel: Top% at 200 = 93% |
| same, UCB beta=1 / beta=2 | 89 / 93 | 40 / 46 | |
| same, Thompson | 73 (3/4 runs) | 51 | crossed_barrel n50 = 108 |
| same, no noise term / tree-spread variance | 84 / 84 | 53 / 41 | |
| warm-started ARD GP, log-EI (5 runs) | 77.8 ± 3.0 | 43.8 ± 3.3 | |
| GP, log-EI, rank (copula) warped target | 81.8 ± 6.5 | 60.4 ± 5.0 | |
| GP, log-EI, Yeo-Johnson warped target | 79.4 ± 5.7 | 44.4 ± 2.7 | |
| GP, UCB beta = 1 / 2 / 3 | 74.6 / 81.8 / 80.4 | - / 34.8 / - | |
| extra trees (50), log-EI, rank-warped | 79.6 ± 9.4 | 38.2 ± 2.6 | |
| extra trees (100), UCB beta=2 | 86.4 ± 2.8 | 40.4 ± 6.9 | |
| **GP + extra-trees mixture, log-EI** | **62.4 ± 4.5** | **42.8 ± 4.4** | |
| GP + extra-trees mixture, UCB beta=2 | 68.4 ± 3.6 | 44.0 ± 3.0 | |

On steels (267 composition features; 4 runs, budget 150) the mixture with the GP on the forest's
10 / 20 most important features needed 59.2 ± 7.1 / 55.5 ± 6.5 experiments to find all 16 top
steels, extra trees alone 71.8 ± 11.2; on crossed_barrel none found all 30 within 150 (Top% at
150: mixture 88%, extra trees 80%). The mixture with log-EI won or tied everywhere, so it became
the default (`etgp-logei`, 20 GP features as our GP's default). No setting is specific to a set.
It costs about 0.1 s per step at 100 points (one Cholesky factorisation on most steps; the GP
re-optimises its hyper-parameters and re-chooses its features after 10% more data).

### Follow-up: weighting the mixture by held-out performance (not adopted)

Aim: beat GP-EI clearly on agnp (5 smooth process parameters, where a GP is strong) without losing
elsewhere. Tuned only on seeds disjoint from the report's: agnp seeds 100..129 (30 runs), p3ht
seeds 100..119 (20 runs). `n100` as above; `paired`: mean difference to the default over the same
seeds (positive: the candidate needs more experiments), ± standard error.

| candidate | agnp n100 | agnp paired | p3ht n100 | p3ht paired |
|---|---|---|---|---|
| **default (equal-weight mixture, log-EI)** | **36.2 ± 1.3** | | **61.4 ± 2.6** | |
| our GP-EI (reference) | 44.0 ± 1.2 | +7.8 ± 1.8 | - | - |
| stacking weights (GP LOO from K^-1, forest out-of-bag; maximise LOO log density of the mixture, Beta(2, 2) prior on the weight) | 35.4 ± 1.2 | -0.9 ± 1.7 | 70.0 ± 2.7 | +8.6 ± 3.5 |
| stacked mean, equal-weight mixture variance | 35.0 ± 1.4 | -1.3 ± 1.8 | 69.4 ± 3.1 | +8.0 ± 3.6 |
| least-squares stacking of the LOO means, shrunk to 1/2 (5 pseudo-rows) | 38.3 ± 1.5 | +2.1 ± 1.7 | 69.8 ± 3.2 | +8.4 ± 4.0 |
| pseudo-BMA, weight ∝ exp(0.2 × summed LOO log density) | 42.3 ± 1.4 | +6.1 ± 1.7 | - | - |
| GP re-optimised at every step (instead of after 10% more data) | 35.1 ± 1.4 | -1.2 ± 1.4 | 66.8 ± 2.7 | +5.5 ± 2.6 |
| 100 trees instead of 50 | 37.6 ± 1.3 | +1.4 ± 2.1 | 68.0 ± 3.5 | +6.5 ± 3.8 |
| Yeo-Johnson warped target | 38.2 ± 1.1 | +2.0 ± 1.4 | 66.3 ± 2.9 | +5.0 ± 3.1 |
| EI instead of log-EI | 36.2 (same picks) | 0 | 62.5 ± 2.9 | +1.1 ± 1.1 |

Stacking does what it should as a predictor: at 40 random points it gives the GP a weight of about
0.9 on agnp, steels and crossed_barrel and 0.2 to 0.8 on p3ht. But the closed loop does not gain
from it: on agnp any change is within one standard error, and on p3ht every weighted variant lost
5 to 9 experiments. What the equal-weight mixture adds is exploration where the two models
disagree, not a better mean; a weight near 1 on the GP removes most of that. No variant beat the
default on both sets, so the default is unchanged and steels, crossed_barrel and expt_gap were not
rerun for these candidates. With these seeds the default already beats our GP-EI on agnp
(36.2 vs 44.0, paired +7.8 ± 1.8); on the report's seeds 0..19 the two are close (see Limits).
"""


def _spec(name: str) -> str:
    """What a stored result was computed with (the default's current definition included)."""
    return DEFAULT_STRATEGY if name == "default" else name


def _make(name: str, seed: int):
    return BoTorchLogEI() if name == "botorch" else make_strategy(name, seed)


def run_set(key: str, args, store: dict) -> None:
    """Run the missing strategies (or runs) of one set and store their per-run curves."""
    dataset, objective, budget, runs, peer_runs, _ = SETS[key]
    budget = args.budget or budget
    runs = args.runs or runs
    peer_runs = min(args.peer_runs or peer_runs, runs)
    ds = load(dataset)
    X = featurize(ds)
    Xu, yu, _ = average_duplicates(X, ds.y.to_numpy(dtype=float))
    entry = store.setdefault(key, {})
    protocol = {"budget": budget, "seed": args.seed, "n_initial": 2, "top_fraction": 0.05}
    if entry.get("protocol") != protocol:  # another protocol: stored curves are not comparable
        entry.update(protocol=protocol, strategies={})
    entry["dataset"] = dataset
    entry["objective"] = [objective.direction, objective.low, objective.high]
    for name in args.strategies:
        spec = _spec(name)
        n_runs = peer_runs if name in COSTLY else runs
        old = entry["strategies"].get(name)
        done = len(old["curves"]) if args.reuse and old and old["spec"] == spec else 0
        if done >= n_runs:
            print(f"{key}: reusing stored {name} ({spec}, {done} runs)", flush=True)
            continue
        t0 = time.perf_counter()  # run r uses seed + r: stored runs are extended, not redone
        res = benchmark(Xu.to_numpy(dtype=float), yu, {name: _make(name, args.seed)}, runs=n_runs - done,
                        budget=budget, objective=objective, seed=args.seed + done)
        entry.update(n_pool=res.n_pool, n_top=res.n_top)
        curves = (old["curves"] if done else []) + np.round(res.curves[name], 5).tolist()
        wall = time.perf_counter() - t0 + (old["wall_s"] if done else 0.0)
        per_run = (res.seconds[name] * (n_runs - done) + (old["seconds_per_run"] * done if done else 0.0)) / n_runs
        entry["strategies"][name] = {"spec": spec, "wall_s": wall, "seconds_per_run": per_run, "curves": curves}
        _save(key, entry, store)
        write_report(store)


def _save(key: str, entry: dict, store: dict) -> None:
    """Write this set's entry into the JSON, keeping what other processes (other sets) wrote there."""
    import fcntl

    with open(JSON_PATH.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        on_disk = json.loads(JSON_PATH.read_text()) if JSON_PATH.exists() else {}
        on_disk[key] = entry
        store.update({k: v for k, v in on_disk.items() if k != key})
        JSON_PATH.write_text(json.dumps(on_disk, indent=None, default=float))


def result_of(entry: dict, names: list[str] | None = None) -> BenchmarkResult:
    names = [n for n in STRATEGIES if n in entry["strategies"]] if names is None else names
    return BenchmarkResult(entry["n_pool"], entry["n_top"],
                           {n: np.asarray(entry["strategies"][n]["curves"]) for n in names},
                           {n: entry["strategies"][n]["seconds_per_run"] for n in names})


def _cell(row, pct: str, runs: int) -> str:
    mean, se, reached = row[f"runs_mean_{pct}pct"], row[f"runs_se_{pct}pct"], row[f"reached_{pct}pct"]
    if reached == runs:
        return f"{mean:.1f} ± {se:.1f}" if runs > 1 else f"{mean:.0f}"
    return f"≥ {mean:.1f} ({reached}/{runs})"


def _censored_runs_to(res: BenchmarkResult, name: str, level: float) -> np.ndarray:
    budget = res.curves[name].shape[1]
    per_run = res.runs_to(name, level)
    return np.where(np.isfinite(per_run), per_run, budget + 1)


def _runs(n: int) -> str:
    return f"{n} run{'s' if n != 1 else ''}"


def report_levels(res: BenchmarkResult, levels: tuple, budget: int) -> list[float]:
    """The Top% levels to compare at: the highest that any strategy reached in some run and, if the
    default did not reach it in every run, also the highest that the default reached in every run."""
    ordered = sorted(levels, reverse=True)
    first = next((lv for lv in ordered
                  if any((_censored_runs_to(res, n, lv) <= budget).any() for n in res.curves)), ordered[-1])
    out = [first]
    if "default" in res.curves and (_censored_runs_to(res, "default", first) > budget).any():
        full = [lv for lv in ordered if lv < first and (_censored_runs_to(res, "default", lv) <= budget).all()]
        out += full[:1]
    return out


def compare(res: BenchmarkResult, level: float, budget: int, peer: str) -> dict:
    """Experiments the default and ``peer`` need to find ``level`` of the top set: all runs (mean ±
    s.e., unpaired) and paired over the seeds both ran (same two initial experiments). Runs that
    never got there count as budget + 1. 'clear': both have 3 or more runs, the default got there in
    every run and the difference exceeds 2 standard errors (a censored default mean is only a lower
    bound); 'too few runs' when either has fewer than 3 runs."""
    d, p = _censored_runs_to(res, "default", level), _censored_runs_to(res, peer, level)
    se = float(np.hypot(*(x.std(ddof=1) / np.sqrt(len(x)) if len(x) > 1 else 0.0 for x in (d, p))))
    n = min(len(d), len(p))
    if min(len(d), len(p)) < 3:
        clear = "too few runs"
    else:
        clear = "clear" if (d <= budget).all() and abs(p.mean() - d.mean()) > 2 * se else "not clear"
    return {"level": level, "default": d, "peer": p, "se": se, "n_common": n, "diff": p[:n] - d[:n],
            "censored": bool((d > budget).any() or (p > budget).any()), "clear": clear}


def verdict(res: BenchmarkResult, levels: tuple, budget: int) -> list[str]:
    """Lines per level and peer (GP-EI, BoTorch): does the default need fewer experiments?"""
    out = []
    for level, peer in ((lv, pe) for lv in report_levels(res, levels, budget) for pe in ("gp-ei", "botorch")):
        if "default" not in res.curves or peer not in res.curves:
            continue
        c = compare(res, level, budget, peer)
        d, p, n, diff = c["default"], c["peer"], c["n_common"], c["diff"]
        dm, pm = float(d.mean()), float(p.mean())
        word = "fewer" if dm < pm else ("the same number of" if dm == pm else "MORE")
        clear = {"not clear": "not a clear difference", "too few runs": "too few runs to tell"}.get(c["clear"], "clear")
        paired = f"paired over {n} common seed{'s' if n > 1 else ''}: {d[:n].mean():.1f} vs {p[:n].mean():.1f}"
        if n > 1:
            paired += f", difference {diff.mean():+.1f} ± {diff.std(ddof=1) / np.sqrt(n):.1f}"
        paired += f", default better in {int((diff > 0).sum())}, worse in {int((diff < 0).sum())}"
        censored = "; runs that never got there count as budget + 1" if c["censored"] else ""
        out.append(f"- default vs {peer}, experiments to {level * 100:g}%: {dm:.1f} ({_runs(len(d))}) vs "
                   f"{pm:.1f} ({_runs(len(p))}) → default needs **{word}** ({pm - dm:+.1f} ± {c['se']:.1f}, {clear}; "
                   f"{paired}{censored}).")
    return out


def overview(store: dict) -> list[str]:
    """The headline table: experiments to find the top set per set and strategy, and the verdict."""
    rows = ["| set | level | default | gp-ei | BoTorch | rf-lcb | random | default fewer than gp-ei / BoTorch? |",
            "|---|---|---|---|---|---|---|---|"]
    for key in SETS:
        entry = store.get(key)
        if not entry or "default" not in entry.get("strategies", {}):
            continue
        levels, budget = SETS[key][5], entry["protocol"]["budget"]
        res = result_of(entry)
        for level in report_levels(res, levels, budget):
            verdicts = []
            for peer in ("gp-ei", "botorch"):
                if peer in res.curves:
                    c = compare(res, level, budget, peer)
                    word = "yes" if c["default"].mean() < c["peer"].mean() else "no"
                    verdicts.append(f"{word} ({c['clear']})")
            cells = [f"{key} (budget {budget})", f"{level * 100:g}%"]
            for name in ("default", "gp-ei", "botorch", "rf-lcb", "random"):
                if name not in res.curves:
                    cells.append("-")
                    continue
                x = _censored_runs_to(res, name, level)
                reached = int((x <= budget).sum())
                if reached == len(x):
                    se = f" ± {x.std(ddof=1) / np.sqrt(len(x)):.1f}" if len(x) > 1 else ""
                    cells.append(f"{x.mean():.1f}{se} ({_runs(len(x))})")
                else:
                    cells.append(f"≥ {x.mean():.1f} ({reached}/{_runs(len(x))} got there)")
            cells.append(" / ".join(verdicts))
            rows.append("| " + " | ".join(cells) + " |")
    return ["## Overview: experiments to find the top set", "",
            "Mean over runs (± standard error when every run got there); `≥`: some runs did not get there "
            "within the budget and count as budget + 1. Level: 100% of the top set where any strategy found it all, "
            "otherwise the highest level reached; a second row gives the highest level the default reached in every "
            "run when it did not always reach the first. 'clear': both have at least 3 runs, the default got there in "
            "every run and the difference exceeds 2 standard errors (unpaired, all runs); 'too few runs': a "
            "strategy has fewer than 3 runs.", ""] + rows + [""]


def write_report(store: dict) -> None:
    """Rebuild closed_loop.md and the curve plots from the stored results."""
    lines = ["# Closed-loop benchmark (Liang et al. 2021 protocol)", "",
             "Pool-based simulated campaigns: duplicate inputs averaged, 2 random initial experiments, then one "
             "experiment at a time chosen from the rest of the pool; top = best ceil(5%) of the pool (with a target "
             "window: every material inside it). Same seeds for every strategy (run r of every strategy starts from "
             "the same two experiments). One process, one BLAS/torch thread, on a 2-core machine shared with other "
             "jobs (times are wall-clock under that load).", "",
             f"Default strategy: `{DEFAULT_STRATEGY}` (see `matloop.design.simulate.DEFAULT_STRATEGY`).", "",
             "Columns `n to p%`: experiments (initial 2 included) until a run has found p% of the top set, mean ± "
             "standard error over runs; `≥ m (k/n)`: only k of n runs got there within the budget, the others "
             "count as budget + 1. `curve p%`: first point where the *mean* Top% curve reaches p% (Liang et al.'s "
             "definition, used for AF). EF_max: best enhancement factor over random; s/run: seconds per run.", ""]
    intro = len(lines)
    total = 0.0
    for key in SETS:
        entry = store.get(key)
        if not entry or not entry.get("strategies"):
            continue
        levels = SETS[key][5]
        budget = entry["protocol"]["budget"]
        runs = {n: len(s["curves"]) for n, s in entry["strategies"].items()}
        res = result_of(entry)
        summary = res.summary(levels)
        wall = sum(s["wall_s"] for s in entry["strategies"].values())
        total += wall
        pcts = [f"{lv * 100:g}" for lv in levels]
        head = (["strategy", "runs"] + [f"n to {p}%" for p in pcts]
                + [f"curve {pcts[-1]}%", f"AF {pcts[-1]}%", "Top% at budget", "EF_max", "s/run"])
        lines += [f"## {key} ({entry['dataset']}; pool {res.n_pool}, {res.n_top} top; budget {budget}, "
                  f"wall {wall / 60:.1f} min)", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for _, row in summary.iterrows():
            name = row["strategy"]
            cells = [LABELS.get(name, name), str(runs[name])] + [_cell(row, p, runs[name]) for p in pcts]
            cells += [f"{row[f'evals_to_{pcts[-1]}pct']:.0f}", f"{row[f'AF_{pcts[-1]}pct']:.2f}",
                      f"{100 * res.mean_curve(name)[-1]:.0f}%", f"{row['EF_max']:.1f}", f"{row['seconds_per_run']:.1f}"]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", f"![{key}](closed_loop_{key}.png)", ""]
        lines += verdict(res, levels, budget) + [""]
        plot(key, entry, res)
    lines += [f"Total wall time of the stored runs: {total / 60:.1f} min.", ""]
    lines[intro:intro] = overview(store) + [LIMITS]
    lines += [TUNING_NOTES]
    (RESULTS / "closed_loop.md").write_text("\n".join(lines))


def plot(key: str, entry: dict, res: BenchmarkResult) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    budget = entry["protocol"]["budget"]
    i = np.arange(1, budget + 1)
    for name, curves in res.curves.items():
        mean = curves.mean(axis=0)
        se = curves.std(axis=0, ddof=1) / np.sqrt(len(curves)) if len(curves) > 1 else 0 * mean
        label = f"{LABELS.get(name, name)} ({_runs(len(curves))})"
        line, = ax.plot(i, 100 * mean, label=label, lw=2 if name == "default" else 1.2)
        ax.fill_between(i, 100 * (mean - se), 100 * (mean + se), color=line.get_color(), alpha=0.15)
    ax.plot(i, 100 * np.minimum(i / res.n_pool, 1), "k:", lw=1, label="random (analytic)")
    ax.set(xlabel="experiments", ylabel="top candidates found (%)", ylim=(0, 102), xlim=(1, budget),
           title=f"{key}: pool {res.n_pool}, {res.n_top} top (mean ± s.e. over runs)")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(RESULTS / f"closed_loop_{key}.png", dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--runs", type=int, default=None, help="runs per strategy (default: per set)")
    parser.add_argument("--peer-runs", type=int, default=None,
                        help=f"runs of the costly baselines {', '.join(COSTLY)} (default: per set)")
    parser.add_argument("--budget", type=int, default=None, help="experiments per run (default: per set)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--strategies", nargs="+", default=STRATEGIES)
    parser.add_argument("--reuse", action="store_true", help="keep stored results with the same protocol")
    parser.add_argument("--report-only", action="store_true", help="only rebuild the report and plots from the JSON")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    store = json.loads(JSON_PATH.read_text()) if JSON_PATH.exists() else {}
    if args.report_only:
        write_report(store)
        return
    import torch

    torch.set_num_threads(1)
    with threadpool_limits(1):
        for key in args.sets:
            run_set(key, args, store)
    write_report(store)
    print((RESULTS / "closed_loop.md").read_text())


if __name__ == "__main__":
    main()
