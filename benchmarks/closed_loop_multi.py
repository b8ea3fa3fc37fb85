"""Several objectives in a closed loop: fraction of the pool's hypervolume reached vs experiments.

Sets (bundled, Olympus; Häse et al. 2021): ``dye_lasers`` (3,458 dyes from three SMILES fragments;
maximise peak_score, minimise spectral_overlap, maximise fluo_rate) and ``redoxmers`` (1,408
molecules from four substituent labels; minimise abs_lam_diff, ered, gsol). Inputs are encoded
once by :class:`matloop.design.encode.ParameterEncoder` (labels one-hot, SMILES a chemical embedding
with RDKit) and every strategy sees the same matrix.

Strategies, same seeds (run ``r`` starts from the same random experiments for all of them):
``ehvi`` (matloop's default: :func:`matloop.design.multi_suggest.rank_multi`, one ``etgp`` surrogate
per goal, batch-aware Monte-Carlo EHVI), ``parego`` (matloop, random Chebyshev weights per pick),
``random``, and the peer ``botorch`` (qLogNEHVI, Ament et al. 2023, on one SingleTaskGP per goal,
maximised over the pool with ``optimize_acqf_discrete``: sequential greedy for batches).

The hypervolume is measured after scaling each goal by the pool's range, with the reference point
10 % of the range below the pool's worst value of each goal; the fraction is HV(measured) /
HV(whole pool). "To 90 %" is the first experiment count at which the mean curve over runs reaches
0.9 (``>B`` when the budget ``B`` ran out first).

Also timed: one suggestion (batch 5, 3 goals, 50 measured rows) on the whole dye_lasers pool, in
process (encoding included) with 2 BLAS threads.

usage: python benchmarks/closed_loop_multi.py [--quick] [--seeds N] [--budget N] [--batches 1 4]
                                              [--sets dye_lasers redoxmers] [--strategies ehvi ...]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "2")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from matloop.datasets import load  # noqa: E402
from matloop.design.goals import Goal  # noqa: E402
from matloop.design.multi_suggest import rank_multi  # noqa: E402
from matloop.design.multiobjective import hypervolume  # noqa: E402
from matloop.design.surrogate import featurize  # noqa: E402

RESULTS = Path(__file__).parent / "results"
STRATEGIES = ("ehvi", "parego", "random", "botorch")
#: Monte-Carlo samples of qLogNEHVI (BoTorch's default is 128; 32 keeps a 2-core run within an hour)
BOTORCH_SAMPLES = 32


def load_set(name: str):
    """(features, raw goal values, goals) of a bundled multi-objective set."""
    ds = load(name)
    goals = [Goal(c, d) for c, d in ds.direction.items()]
    X = featurize(ds).to_numpy(dtype=float)
    Y = ds.frame[[g.column for g in goals]].to_numpy(dtype=float)
    return X, Y, goals, getattr(ds, "encoding", None)


class HVTracker:
    """Hypervolume fraction of any subset of the pool (goals scaled by the pool's range)."""

    def __init__(self, Y: np.ndarray, goals: list[Goal]):
        S = np.column_stack([g.score(Y[:, j]) for j, g in enumerate(goals)])
        lo, hi = S.min(axis=0), S.max(axis=0)
        self.Z = (S - lo) / np.where(hi > lo, hi - lo, 1.0)
        self.ref = np.full(len(goals), -0.1)
        self.total = hypervolume(self.Z, self.ref)

    def fraction(self, idx) -> float:
        return hypervolume(self.Z[np.asarray(idx)], self.ref) / self.total


def propose(strategy: str, X, Y, goals, measured, open_idx, k, rng, seed):
    """Indices (into the pool) of the next ``k`` experiments."""
    if strategy == "random":
        return rng.choice(open_idx, size=min(k, len(open_idx)), replace=False)
    if strategy in ("ehvi", "parego"):
        frame = pd.DataFrame(index=np.arange(len(open_idx)))
        r = rank_multi(X[measured], Y[measured], X[open_idx], frame, goals, batch=k, scalarize=strategy, seed=seed)
        return open_idx[r.chosen_positions]
    if strategy == "botorch":
        return open_idx[_botorch(X[measured], Y[measured], X[open_idx], goals, k, seed)]
    raise ValueError(strategy)


def _botorch(Xm, Ym, Xc, goals, k, seed):
    """qLogNEHVI on one SingleTaskGP per goal (inputs scaled to the unit cube, outputs standardised)."""
    import torch
    from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import ModelListGP, SingleTaskGP
    from botorch.models.transforms import Standardize
    from botorch.optim import optimize_acqf_discrete
    from gpytorch.mlls import SumMarginalLogLikelihood

    torch.manual_seed(seed)
    lo = np.minimum(Xm.min(axis=0), Xc.min(axis=0))
    span = np.maximum(Xm.max(axis=0), Xc.max(axis=0)) - lo
    keep = span > 0
    scale = lambda A: (A[:, keep] - lo[keep]) / span[keep]  # noqa: E731
    S = np.column_stack([g.score(Ym[:, j]) for j, g in enumerate(goals)])
    tx = torch.tensor(scale(Xm), dtype=torch.double)
    ty = torch.tensor(S, dtype=torch.double)
    models = [SingleTaskGP(tx, ty[:, j:j + 1], outcome_transform=Standardize(m=1)) for j in range(len(goals))]
    model = ModelListGP(*models)
    fit_gpytorch_mll(SumMarginalLogLikelihood(model.likelihood, model))
    smin, smax = S.min(axis=0), S.max(axis=0)
    ref = torch.tensor(smin - 0.1 * np.where(smax > smin, smax - smin, 1.0), dtype=torch.double)
    from botorch.sampling import SobolQMCNormalSampler

    acqf = qLogNoisyExpectedHypervolumeImprovement(model=model, ref_point=ref, X_baseline=tx, prune_baseline=True,
                                                   sampler=SobolQMCNormalSampler(torch.Size([BOTORCH_SAMPLES]),
                                                                                 seed=seed))
    choices = torch.tensor(scale(Xc), dtype=torch.double)
    with torch.no_grad():
        picked, _ = optimize_acqf_discrete(acqf, q=k, choices=choices, max_batch_size=256, unique=True)
    # map the chosen rows back to candidate positions
    d = torch.cdist(picked, choices)
    out: list[int] = []
    for row in d:
        order = torch.argsort(row).tolist()
        out.append(next(i for i in order if i not in out))
    return np.array(out)


def run(strategy, X, Y, goals, tracker, budget, n_init, k, seed) -> np.ndarray:
    """HV fraction after 1..budget experiments of one campaign."""
    rng = np.random.default_rng(seed)
    order = list(rng.choice(len(X), size=n_init, replace=False))  # the same start for every strategy
    pick_rng = np.random.default_rng(seed + 10_000)
    while len(order) < budget:
        measured = np.array(order)
        open_idx = np.setdiff1d(np.arange(len(X)), measured)
        new = propose(strategy, X, Y, goals, measured, open_idx, min(k, budget - len(order)), pick_rng, seed)
        order.extend(int(i) for i in new)
        if strategy == "botorch":
            print(f"  botorch: {len(order)} experiments, {tracker.fraction(order):.3f}", flush=True)
    return np.array([tracker.fraction(order[:i]) for i in range(1, budget + 1)])


def joint_model_check(names=("redoxmers", "dye_lasers"), n_train: int = 40, seeds: int = 3) -> dict:
    """Does a joint model help? Each goal's ``etgp`` surrogate on the inputs alone, against the same
    surrogate with the other goals' predictions as extra features (stacking: out-of-fold predictions on
    the training rows, the other goals' own models on the held-out rows). Held-out RMSE / std and
    Gaussian NLL, per goal, ``n_train`` random training rows, the rest held out."""
    from sklearn.model_selection import KFold

    from matloop.design.surrogate import make_surrogate

    out = {}
    for name in names:
        X, Y, goals, _ = load_set(name)
        rows = []
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            train = rng.choice(len(X), n_train, replace=False)
            test = np.setdiff1d(np.arange(len(X)), train)
            oof = np.zeros((n_train, len(goals)))
            held = np.zeros((len(test), len(goals)))
            for j in range(len(goals)):
                for a, b in KFold(5, shuffle=True, random_state=seed).split(train):
                    oof[b, j] = make_surrogate("etgp", seed).fit(X[train[a]], Y[train[a], j]).predict(X[train[b]])
                held[:, j] = make_surrogate("etgp", seed).fit(X[train], Y[train, j]).predict(X[test])
            for j, g in enumerate(goals):
                others = [i for i in range(len(goals)) if i != j]
                sd_y = Y[test, j].std()
                for label, Xtr, Xte in (("inputs", X[train], X[test]),
                                        ("inputs + other goals", np.column_stack([X[train], oof[:, others]]),
                                         np.column_stack([X[test], held[:, others]]))):
                    mu, sd = make_surrogate("etgp", seed).fit(Xtr, Y[train, j]).predict(Xte, return_std=True)
                    sd = np.maximum(sd, 1e-9)
                    nll = float(np.mean(0.5 * np.log(2 * np.pi * sd**2) + 0.5 * ((Y[test, j] - mu) / sd) ** 2))
                    rows.append({"goal": g.column, "model": label, "seed": seed,
                                 "rmse_over_std": float(np.sqrt(np.mean((mu - Y[test, j]) ** 2)) / sd_y),
                                 "nll": nll - float(np.log(sd_y))})
        frame = pd.DataFrame(rows).groupby(["goal", "model"])[["rmse_over_std", "nll"]].mean().reset_index()
        out[name] = frame.to_dict(orient="records")
        print(name, frame.to_string(index=False), flush=True)
    return out


def _summary(curves: list, secs: list, budget: int) -> dict:
    mean = np.mean(curves, axis=0)
    return {"curves": curves, "mean": mean.tolist(), "seconds": secs, "to90": to90(mean, budget),
            "to90_per_seed": [to90(np.array(c), budget) for c in curves]}


def _to(curve, level: float):
    hit = np.flatnonzero(np.asarray(curve) >= level)
    return int(hit[0]) + 1 if len(hit) else f">{len(curve)}"


def to90(curve: np.ndarray, budget: int):
    hit = np.flatnonzero(curve >= 0.9)
    return int(hit[0]) + 1 if len(hit) else f">{budget}"


def _dye_pool(n_measured: int, seed: int):
    """dye_lasers with its goals blanked except on ``n_measured`` random rows: (dataset, goals, frame)."""
    ds = load("dye_lasers")
    goals = [Goal(c, d) for c, d in ds.direction.items()]
    frame = ds.frame.copy()
    blank = np.ones(len(frame), dtype=bool)
    blank[np.random.default_rng(seed).choice(len(frame), n_measured, replace=False)] = False
    frame.loc[blank, [g.column for g in goals]] = np.nan
    return ds, goals, frame


def time_suggestion(n_measured: int = 50, batch: int = 5, repeats: int = 2) -> dict:
    """Wall-clock of one 3-goal suggestion on the whole dye_lasers pool (encoding included)."""
    from matloop.design.multi_suggest import suggest_multi

    times, cpu = [], []
    for r in range(repeats):
        ds, goals, frame = _dye_pool(n_measured, r)
        ds.frame = frame
        t0, c0 = time.perf_counter(), time.process_time()
        suggest_multi(ds, goals, batch=batch)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"pool": 3458, "goals": 3, "measured": n_measured, "batch": batch, "seconds": times,
            "best_seconds": min(times), "cpu_seconds": cpu, "load_average": os.getloadavg()[0]}


def time_cli_suggestion(n_measured: int = 50, batch: int = 5, repeats: int = 2) -> dict:
    """The user's path: ``matloop suggest pool.csv --goal ... --batch 5`` as a fresh process (start-up,
    imports, reading, SMILES encoding, three surrogates, EHVI batch, writing) on the dye_lasers pool
    with ``n_measured`` rows measured; wall and CPU time of the process (children included)."""
    import subprocess
    import tempfile

    _, goals, frame = _dye_pool(n_measured, 0)
    cmd = [sys.executable, "-m", "matloop.cli.main", "suggest", "pool.csv",
           *[a for g in goals for a in ("--goal", g.text())], "--batch", str(batch), "-o", "next.csv"]
    times, cpu = [], []
    with tempfile.TemporaryDirectory() as work:
        frame.to_csv(Path(work) / "pool.csv", index=False)
        for _ in range(repeats):
            c0 = os.times()
            t0 = time.perf_counter()
            subprocess.run(cmd, cwd=work, check=True, capture_output=True)
            times.append(time.perf_counter() - t0)
            c1 = os.times()
            cpu.append(c1.children_user + c1.children_system - c0.children_user - c0.children_system)
        chosen = len(pd.read_csv(Path(work) / "next.csv"))
    return {"command": "matloop " + " ".join(cmd[3:]), "pool": len(frame), "measured": n_measured, "batch": batch,
            "rows_written": chosen, "seconds": times, "best_seconds": min(times), "cpu_seconds": cpu,
            "load_average": os.getloadavg()[0]}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="3 seeds, 40 experiments (the default sizes)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    p.add_argument("--budget", type=int, default=40)
    p.add_argument("--initial", type=int, default=5)
    p.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    p.add_argument("--sets", nargs="+", default=["redoxmers", "dye_lasers"])
    p.add_argument("--strategies", nargs="+", default=list(STRATEGIES))
    p.add_argument("--no-timing", action="store_true")
    p.add_argument("--out", default="closed_loop_multi")
    p.add_argument("--merge", nargs="+", metavar="NAME", help="only merge results/NAME.json files into --out")
    p.add_argument("--timing-only", action="store_true", help="only time one suggestion (into --out)")
    p.add_argument("--joint-only", action="store_true", help="only measure a joint model (into --out)")
    args = p.parse_args(argv)
    if args.merge:
        merge(args.merge, args.out)
        return
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{args.out}.json"
    result = json.loads(path.read_text()) if path.exists() else {}
    result.setdefault("runs", {})
    if not args.timing_only:
        result["protocol"] = {"seeds": args.seeds, "budget": args.budget, "initial": args.initial,
                              "reference": "10% of the pool's range below its worst value per goal"}
    if not args.no_timing:
        result["timing"] = time_suggestion()
        print("one suggestion:", result["timing"], flush=True)
        result["timing_cli"] = time_cli_suggestion()
        print("one suggestion from the command line:", result["timing_cli"], flush=True)
        path.write_text(json.dumps(result, indent=1))
    if args.timing_only:  # the report's timing lines are edited by hand (the report has hand-written parts)
        return
    if args.joint_only:
        result["joint"] = joint_model_check()
        path.write_text(json.dumps(result, indent=1))
        return
    for name in args.sets:
        X, Y, goals, enc = load_set(name)
        tracker = HVTracker(Y, goals)
        result.setdefault("sets", {})[name] = {"n": len(X), "features": X.shape[1],
                                               "goals": [g.text() for g in goals],
                                               "encoding": enc.summary() if enc is not None else "numeric"}
        for k in args.batches:
            for strategy in args.strategies:
                key = f"{name}|batch{k}|{strategy}"
                curves, secs = [], []
                for seed in range(args.first_seed, args.first_seed + args.seeds):
                    t0 = time.perf_counter()
                    curves.append(run(strategy, X, Y, goals, tracker, args.budget, args.initial, k, seed).tolist())
                    secs.append(time.perf_counter() - t0)
                    print(f"{key} seed {seed}: final {curves[-1][-1]:.3f} in {secs[-1]:.0f} s", flush=True)
                    result["runs"][key] = _summary(curves, secs, args.budget)  # saved after every seed
                    path.write_text(json.dumps(result, indent=1))
                result["runs"][key] = _summary(curves, secs, args.budget)
                path.write_text(json.dumps(result, indent=1))
                write_md(result, args.out)
    write_md(result, args.out)


def merge(names: list[str], out: str) -> None:
    """One report from the JSON of several processes (each ran some sets, batches or strategies)."""
    merged: dict = {"runs": {}, "sets": {}}
    for name in names:
        part = json.loads((RESULTS / f"{name}.json").read_text())
        if part.get("runs") or "protocol" not in merged:
            merged["protocol"] = part["protocol"]
        for key, run in part["runs"].items():  # the same key from several processes: their seeds together
            if key in merged["runs"]:
                old = merged["runs"][key]
                run = _summary(old["curves"] + run["curves"], old["seconds"] + run["seconds"],
                               part["protocol"]["budget"])
            merged["runs"][key] = run
        merged["sets"].update(part.get("sets", {}))
        for extra in ("timing", "timing_cli", "joint"):
            if extra in part:
                merged[extra] = part[extra]
    order = sorted(merged["runs"], key=lambda k: (k.split("|")[0], int(k.split("|")[1][5:]),
                                                  STRATEGIES.index(k.split("|")[2])))
    merged["runs"] = {k: merged["runs"][k] for k in order}
    (RESULTS / f"{out}.json").write_text(json.dumps(merged, indent=1))
    write_md(merged, out)


def write_md(result: dict, out: str = "closed_loop_multi") -> None:
    proto = result["protocol"]
    lines = ["# Several objectives: hypervolume reached vs experiments", "",
             f"`python benchmarks/closed_loop_multi.py --budget {proto['budget']} --seeds {proto['seeds']}` (sets, "
             "batches and strategies run in separate processes with --sets/--batches/--strategies/--first-seed, "
             "joined with --merge; BoTorch rows may have fewer seeds: see 'per seed'): "
             f"{proto['budget']} experiments "
             f"({proto['initial']} random to start, the same for every strategy), reference point "
             f"{proto['reference']}. Fraction of the pool's hypervolume (mean over seeds) after n experiments; "
             "'to 75 %' / 'to 90 %': first n where the mean curve reaches 0.75 / 0.9.", ""]
    lines += ["| set | batch | strategy | n=10 | n=20 | n=30 | final | to 75 % | to 90 % | per seed (to 90 %) | s/run |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, r in result["runs"].items():
        name, batch, strategy = key.split("|")
        m = r["mean"]
        at = [f"{m[i - 1]:.3f}" if len(m) >= i else "" for i in (10, 20, 30)]
        lines.append(f"| {name} | {batch[5:]} | {strategy} | {' | '.join(at)} | {m[-1]:.3f} | {_to(m, 0.75)} | {r['to90']} | "
                     f"{', '.join(map(str, r['to90_per_seed']))} | {np.mean(r['seconds']):.0f} |")
    for key, what in (("timing", "(dye_lasers, encoding included)"),
                      ("timing_cli", "from the command line, a fresh process each time (start-up, imports, "
                                     "reading, encoding, writing included)")):
        if key in result:
            t = result[key]
            lines += ["", f"One suggestion, 3 goals, batch {t['batch']}, {t['measured']} measured rows, pool of "
                          f"{t['pool']} {what}{': `' + t['command'] + '`' if 'command' in t else ''}: best of "
                          f"{len(t['seconds'])} {t['best_seconds']:.2f} s wall (all: "
                          f"{', '.join(f'{x:.2f}' for x in t['seconds'])} s; load average {t['load_average']:.1f}), "
                          f"CPU time {', '.join(f'{x:.2f}' for x in t.get('cpu_seconds', []))} s. Target < 10 s."]
    for name, rows in result.get("joint", {}).items():
        lines += ["", f"Joint model check on {name} (40 training rows, 3 seeds; held-out RMSE / std and NLL "
                      "in units of the goal's std, lower is better):", "",
                  "| goal | model | RMSE/std | NLL |", "|---|---|---|---|"]
        lines += [f"| {r['goal']} | {r['model']} | {r['rmse_over_std']:.3f} | {r['nll']:.3f} |" for r in rows]
    for name, s in result.get("sets", {}).items():
        lines.append(f"\n{name}: {s['n']} rows, {s['features']} features ({s['encoding']}); goals {', '.join(s['goals'])}")
    (RESULTS / f"{out}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
