"""Screening throughput: enumerate, featurize (magpie), predict with a saved forest, rank; flat memory.

What is timed, for 10^5, 10^6 and 10^7 enumerated compositions (reduced integer formulas of
:class:`matloop.design.enumerate.ElementSpace`; counts are compositions, not raw indices):

- every candidate is featurized (132 magpie features) and predicted **with its std** (acquisition
  ``ucb``, so the std is needed for all), then ranked; the top 100 get the applicability-domain flag,
  formula strings and sustainability columns. Chemistry rules are off in the main rows (so every
  candidate really is featurized and predicted); one extra row shows 10^6 with the SMACT rules on.
- ``in process``: one process, one thread (1 core); ``dask``: a 2-worker ``LocalCluster``
  (``processes=True``, one thread each: 2 cores), started before the clock (start-up reported).
  Dask's nanny sets ``MALLOC_TRIM_THRESHOLD_=65536`` in its workers, which also turns off glibc's
  dynamic mmap threshold: large temporary arrays are then fresh ``mmap`` s whose pages fault in
  again on every chunk. The ``dask`` rows start the workers without it
  (``distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_: null``); the ``dask-default`` row
  keeps Dask's default, for comparison (see the page-fault and system-time columns).

The model is a :class:`matloop.models.pipeline.MaterialModel` fitted on all of Matbench
``expt_gap`` (4,604 band gaps), saved with ``save_model`` and loaded back. Screening forest:
``RandomForestRegressor(n_estimators=64, uncertainty="trees", noise="oob")``: the default forest
(300 trees, infinitesimal-jackknife variance, local noise forest) costs several times more per
prediction; its cost breakdown is measured separately (section "predict cost") so the models
layer can be tuned.

Each run is a fresh subprocess: peak memory is its ``ru_maxrss`` (and each worker's, for Dask).
CPU seconds are recorded as well as wall time, because the benchmark machine may be shared:
candidates per CPU-second does not depend on other load, and 2 x that is the rate on 2 idle cores.
Runs predicted to exceed ``--max-minutes`` are not run but extrapolated from the largest measured
size, and labelled so.

    .venv/bin/python benchmarks/screening.py              # full run
    .venv/bin/python benchmarks/screening.py --quick      # 10^4 and 10^5 only, small model
    .venv/bin/python benchmarks/screening.py --cli        # the user's path: matloop fit + matloop screen

Writes ``benchmarks/results/screening.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
TARGET_PER_MINUTE = 1_000_000
TOP = 100
#: interleaved cations and anions, so every prefix spans a chemically mixed space
ELEMENTS = ["Li", "O", "Fe", "S", "Mg", "N", "Ti", "F", "Cu", "P", "Zn", "Cl", "Na", "Se", "Mn", "Si", "Ca",
            "Br", "Co", "B", "Al", "I", "Ni", "C", "Sr", "Te", "Sn", "Ga", "Ba", "Ge", "K", "Sb"]
#: (elements, max atoms, max elements) giving about the wanted number of compositions
SPACES = {10_000: (10, 10, 3), 100_000: (12, 16, 3), 1_000_000: (16, 12, 4), 10_000_000: (28, 12, 4)}
SINGLE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
SCREEN_FOREST = {"n_estimators": 64, "uncertainty": "trees", "noise": "oob"}


def space_for(size: int):
    from matloop.design.enumerate import ElementSpace

    n_el, atoms, k = SPACES[size]
    return ElementSpace(ELEMENTS[:n_el], max_atoms=atoms, max_elements=k)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _usage() -> tuple[float, float, int, float]:
    """(user s, system s, minor page faults, peak RSS MB) of the calling process."""
    import resource as res

    r = res.getrusage(res.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime, r.ru_minflt, r.ru_maxrss / 1024.0


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# --------------------------------------------------------------------------- one run (subprocess)
def run_one(size: int, mode: str, model_path: str, rules: bool, chunk: int) -> dict:
    from matloop.design.chemistry_rules import ChemistryRules
    from matloop.design.screen import screen
    from matloop.models.persistence import load_model

    model = load_model(model_path)
    space = space_for(size)
    rule = ChemistryRules() if rules else None
    out = {"size": size, "mode": mode, "rules": rules, "space": repr(space), "chunk": chunk}
    if mode == "inprocess":
        screen(space_for(10_000), model, top=5, acquisition="ucb", rules=None, chunk_size=2000)  # warm up
        u0, t0 = _usage(), time.perf_counter()
        result = screen(space, model, top=TOP, acquisition="ucb", rules=rule, chunk_size=chunk)
        u1 = _usage()
        out.update(wall=time.perf_counter() - t0, cpu=u1[0] - u0[0] + u1[1] - u0[1], sys=u1[1] - u0[1],
                   faults=u1[2] - u0[2], peak_mb=_peak_mb(), workers_peak_mb=None)
    else:
        import dask
        from dask.distributed import Client, LocalCluster

        if mode == "dask":
            dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None})
        t0 = time.perf_counter()
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None)
        client = Client(cluster)
        screen(space_for(10_000), model, top=5, acquisition="ucb", rules=None, chunk_size=5000,
               scheduler=client)  # imports and model shipping on the workers, before the clock
        out["startup"] = time.perf_counter() - t0

        before, u0 = client.run(_usage), _usage()
        t0 = time.perf_counter()
        result = screen(space, model, top=TOP, acquisition="ucb", rules=rule, chunk_size=chunk, scheduler=client)
        wall = time.perf_counter() - t0
        after, u1 = client.run(_usage), _usage()
        delta = [[after[w][i] - before[w][i] for i in range(3)] for w in after] + [[u1[i] - u0[i] for i in range(3)]]
        out.update(wall=wall, cpu=sum(d[0] + d[1] for d in delta), sys=sum(d[1] for d in delta),
                   faults=sum(d[2] for d in delta), client_cpu=u1[0] - u0[0] + u1[1] - u0[1], peak_mb=_peak_mb(),
                   workers_peak_mb=[round(after[w][3], 1) for w in sorted(after)])
        client.close()
        cluster.close()
    counts = result.counts
    out.update(candidates=counts["candidates"], scored=counts["scored"],
               stages={k[8:]: round(v, 2) for k, v in counts.items() if k.startswith("seconds_")},
               top_formula=result.hits["formula"].iloc[0], top_score=float(result.hits["score"].iloc[0]),
               loadavg=os.getloadavg()[0])
    return out


# --------------------------------------------------------------------------- model
def build_model(path: Path, quick: bool) -> dict:
    import numpy as np

    from matloop import datasets
    from matloop.models.forest import RandomForestRegressor
    from matloop.models.persistence import save_model
    from matloop.models.pipeline import MaterialModel

    ds = datasets.load("matbench_expt_gap")
    frame = ds.frame.sample(800, random_state=0) if quick else ds.frame
    t0 = time.perf_counter()
    forest = RandomForestRegressor(random_state=0, **SCREEN_FOREST)
    model = MaterialModel(forest, featurizer="magpie", recalibrate=False).fit(frame[ds.input], frame[ds.target])
    fit = time.perf_counter() - t0
    save_model(model, path, metadata={"target_name": ds.target, "featurizer": "magpie"})
    info = {"rows": len(frame), "fit_seconds": round(fit, 1), "file_mb": round(path.stat().st_size / 2**20, 1),
            "forest": SCREEN_FOREST, "dataset": "matbench_expt_gap"}
    info["predict_cost"] = predict_cost(frame[ds.input], np.asarray(frame[ds.target], dtype=float), quick)
    return info


def predict_cost(formulas, y, quick: bool) -> list[dict]:
    """Microseconds (CPU) per candidate of each prediction stage, screening vs default forest."""
    from matloop.design.enumerate import integer_formulas
    from matloop.models.forest import RandomForestRegressor
    from matloop.represent.registry import get_featurizer

    feat = get_featurizer("magpie")
    X = feat.transform(formulas)
    comps = space_for(1_000_000).block(0, 40_000)
    q = feat.transform(integer_formulas(comps)[:10_000])
    rows = []
    configs = [("screening forest", SCREEN_FOREST), ("default forest", {})]
    for name, params in configs[:1] if quick else configs:
        t0 = time.perf_counter()
        m = RandomForestRegressor(random_state=0, **params).fit(X, y)
        fit = time.perf_counter() - t0
        Xc = m.cleaner_._transform_array(q.to_numpy())
        c0 = _cpu()
        trees = m._tree_predictions(Xc)
        c1 = _cpu()
        m._variance(trees)
        c2 = _cpu()
        m._noise_variance(Xc)
        c3 = _cpu()
        m.predict(q, return_std=True)
        c4 = _cpu()
        n = len(q)
        rows.append({"model": name, "params": {**m.get_params(), "random_state": 0}, "fit_seconds": round(fit, 1),
                     "trees_us": (c1 - c0) / n * 1e6, "variance_us": (c2 - c1) / n * 1e6,
                     "noise_us": (c3 - c2) / n * 1e6, "predict_with_std_us": (c4 - c3) / n * 1e6})
    c0 = _cpu()
    feat.transform(comps)
    rows.append({"model": "magpie featurization (for scale)", "predict_with_std_us": (_cpu() - c0) / len(comps) * 1e6})
    return rows


# --------------------------------------------------------------------------- driver
def subprocess_run(size, mode, model_path, rules, chunk) -> dict:
    env = {**os.environ, **SINGLE_THREAD}
    cmd = [sys.executable, __file__, "--worker", "--size", str(size), "--mode", mode, "--model", str(model_path),
           "--chunk", str(chunk)] + (["--rules"] if rules else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"run {size} {mode} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--max-minutes", type=float, default=20.0, help="skip (and extrapolate) longer runs")
    ap.add_argument("--chunk", type=int, default=100_000)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int)
    ap.add_argument("--mode")
    ap.add_argument("--model")
    ap.add_argument("--rules", action="store_true")
    ap.add_argument("--cli", action="store_true", help="measure the user's path instead: matloop fit + matloop screen "
                    "subprocesses (benchmarks/screening_cli.py); updates its section of screening.md")
    ap.add_argument("--cli-size", type=int, default=1_000_000, help="formulas in the --cli candidate table")
    ap.add_argument("--cli-model", type=Path, help="reuse this 'matloop fit' model (and MODEL.screen) with --cli")
    ap.add_argument("--exact-1m", action="store_true", help="with --cli, also run --exact on the big table")
    ap.add_argument("--cli-work", type=Path, help="with --cli, keep the tables, model and hits in this folder")
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(run_one(args.size, args.mode, args.model, args.rules, args.chunk)))
        return
    if args.cli:
        run_cli(args)
        return
    sizes = [10_000, 100_000] if args.quick else [100_000, 1_000_000, 10_000_000]
    with tempfile.TemporaryDirectory() as tmp:
        model_path = Path(tmp) / "screening.model"
        print("fitting and saving the screening model ...", flush=True)
        model_info = build_model(model_path, args.quick)
        print(json.dumps(model_info["predict_cost"], indent=1), flush=True)
        runs, skipped = [], []
        for size in sizes:
            for mode in ("inprocess", "dask"):
                previous = [r for r in runs if r["mode"] == mode and not r["rules"]]
                if previous:
                    last = previous[-1]
                    predicted = last["wall"] * size / last["candidates"] / 60
                    if predicted > args.max_minutes:
                        skipped.append({"size": size, "mode": mode, "predicted_minutes": predicted})
                        print(f"skip {size:,} {mode}: predicted {predicted:.0f} min", flush=True)
                        continue
                print(f"running {size:,} {mode} ...", flush=True)
                runs.append(subprocess_run(size, mode, model_path, False, args.chunk))
                print(json.dumps(runs[-1]), flush=True)
        extra = [(100_000, "dask-default", False)] if args.quick else [
            (1_000_000, "dask-default", False), (1_000_000, "inprocess", True)]
        for size, mode, rules in extra:
            print(f"running {size:,} {mode}{' with SMACT rules' if rules else ''} ...", flush=True)
            runs.append(subprocess_run(size, mode, model_path, rules, args.chunk))
    write_results(model_info, runs, skipped, args)


def run_cli(args) -> None:
    """The user's path (``matloop fit`` + ``matloop screen`` subprocesses): screening_cli.py."""
    sys.path.insert(0, str(HERE))
    import screening_cli

    with tempfile.TemporaryDirectory() as tmp:
        work = args.cli_work or Path(tmp)
        record = screening_cli.run(work, args.cli_size, args.cli_model, args.exact_1m)
    record["date"] = time.strftime("%Y-%m-%d %H:%M")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "screening_cli.json").write_text(json.dumps(record, indent=1) + "\n")
    section = screening_cli.render(record)
    screening_cli.update_markdown(RESULTS / "screening.md", section)
    print(section)


WHERE = {"inprocess": "in process (1 core)", "dask": "Dask, 2 workers (2 cores)",
         "dask-default": "Dask, 2 workers, Dask's default MALLOC_TRIM_THRESHOLD_"}


def _rate(r):
    return r["candidates"] / r["wall"]


def write_results(model_info: dict, runs: list[dict], skipped: list[dict], args) -> None:
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M")
    meta = {"date": stamp, "python": platform.python_version(), "machine": platform.machine(),
            "cpus": os.cpu_count(), "quick": args.quick, "chunk": args.chunk, "top": TOP}
    for s in skipped:  # extrapolate from the largest measured run of the same mode
        ref = max((r for r in runs if r["mode"] == s["mode"] and not r["rules"]), key=lambda r: r["candidates"])
        s.update(extrapolated_from=ref["candidates"], rate_per_s=_rate(ref),
                 cpu_rate_per_s=ref["candidates"] / ref["cpu"])
    (RESULTS / "screening.json").write_text(json.dumps(
        {"meta": meta, "model": model_info, "runs": runs, "extrapolated": skipped}, indent=1))
    lines = [f"# Screening throughput ({stamp})", "",
             "Enumerate (ElementSpace), featurize (magpie, 132 features), predict mean and std (saved "
             f"forest: {model_info['forest']}, fitted on {model_info['rows']:,} rows of {model_info['dataset']}), "
             f"score (ucb) and keep the top {TOP} (with domain flag, formulas, sustainability columns). "
             f"Chunks of {args.chunk:,}. Produced by `benchmarks/screening.py`.", "",
             "| candidates | where | chemistry rules | wall s | candidates/min (wall) | CPU s (system) | "
             "candidates/min per CPU-second x 2 cores | page faults | peak RSS MB (process; workers) | load avg |",
             "|---:|---|---|---:|---:|---:|---:|---:|---|---:|"]
    for r in runs:
        where = WHERE[r["mode"]]
        workers = "" if not r.get("workers_peak_mb") else "; " + ", ".join(f"{w:.0f}" for w in r["workers_peak_mb"])
        lines.append(f"| {r['candidates']:,} | {where} | {'SMACT' if r['rules'] else 'off'} | {r['wall']:.1f} | "
                     f"{60 * _rate(r):,.0f} | {r['cpu']:.1f} ({r['sys']:.1f}) | "
                     f"{60 * 2 * r['candidates'] / r['cpu']:,.0f} | {r['faults']:,} | "
                     f"{r['peak_mb']:.0f}{workers} | {r['loadavg']:.1f} |")
    for s in skipped:
        where = WHERE[s["mode"]]
        lines.append(f"| {s['size']:,} (**extrapolated** from {s['extrapolated_from']:,}, not run: predicted "
                     f"{s['predicted_minutes']:.0f} min) | {where} | off | {s['size'] / s['rate_per_s']:.0f} | "
                     f"{60 * s['rate_per_s']:,.0f} | | {60 * 2 * s['cpu_rate_per_s']:,.0f} | | | |")
    lines += ["", f"Target: {TARGET_PER_MINUTE:,} candidates per minute on 2 cores."]
    dask_runs = [r for r in runs if r["mode"] == "dask" and not r["rules"]]
    if dask_runs:
        big = max(dask_runs, key=lambda r: r["candidates"])
        wall, cpu = 60 * _rate(big), 60 * 2 * big["candidates"] / big["cpu"]
        lines += ["", f"Largest 2-worker run ({big['candidates']:,} candidates): {wall:,.0f}/min of wall time on this "
                  f"machine (load average {big['loadavg']:.1f}: the cores were shared with other jobs) and "
                  f"{cpu:,.0f}/min from CPU time (what 2 idle cores give): target "
                  f"{'met' if wall >= TARGET_PER_MINUTE else 'not met'} on wall time, "
                  f"{'met' if cpu >= TARGET_PER_MINUTE else 'not met'} on CPU time. Peak memory does not grow "
                  "with the number of candidates (one chunk's features and temporaries)."]
    lines += ["",
              "Stage seconds (summed over chunks and workers): " + "; ".join(
                  f"{r['candidates']:,} {r['mode']}: " + ", ".join(f"{k} {v}" for k, v in r["stages"].items())
                  for r in runs), "",
              "## Predict cost per candidate (CPU microseconds, 10,000 candidates)", "",
              "| model | fit s | tree predictions | variance | noise model | predict(return_std=True) |",
              "|---|---:|---:|---:|---:|---:|"]
    for p in model_info["predict_cost"]:
        if "trees_us" in p:
            lines.append(f"| {p['model']} (n_estimators={p['params']['n_estimators']}, uncertainty="
                         f"{p['params']['uncertainty']}, noise={p['params']['noise']}) | {p['fit_seconds']} | "
                         f"{p['trees_us']:.1f} | {p['variance_us']:.1f} | {p['noise_us']:.1f} | "
                         f"{p['predict_with_std_us']:.1f} |")
        else:
            lines.append(f"| {p['model']} | | | | | {p['predict_with_std_us']:.1f} |")
    (RESULTS / "screening.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
