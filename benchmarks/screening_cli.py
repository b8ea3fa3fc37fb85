"""The user's screening path, end to end: ``matloop fit`` (default model) then ``matloop screen``.

Run by ``benchmarks/screening.py --cli``. What is measured, each command a fresh subprocess (its
wall time, its own CPU time from ``wait4``, its peak RSS):

1. ``matloop fit train.csv --target "gap expt" -o gap.model`` on the Matbench ``expt_gap`` training
   folds (folds 1-4, 3,680 rows; the default model ``auto``). ``fit`` also writes
   ``gap.model.screen``, the compact screening model (:mod:`matloop.models.compact`).
2. Accuracy cost of the compact model, on the held-out fold 0 (924 rows never seen by either model)
   and on 20,000 enumerated candidates: MAE of the compact model against the full model, and each
   against the measured gaps.
3. ``matloop screen --candidates c1m.csv --model gap.model --top 100 -o hits.csv`` on ~10^6 enumerated
   formulas written to a CSV (the compact model ranks, the full model re-scores the shortlist), and
   on 10^5 of them both that way and with ``--exact`` (the full model scores every candidate): the
   hit lists are compared (how many of the exact top 100 the fast path finds). ``--exact`` on 10^6 is
   extrapolated from its 10^5 rate unless ``--exact-1m`` is given.

Start-up (imports, loading both models, reading and validating the table) is inside the times.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

TOP = 100
ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
BEGIN, END = "<!-- cli-path:begin -->", "<!-- cli-path:end -->"


def _matloop() -> list[str]:
    return [sys.executable, "-m", "matloop.cli.main"]


def timed_rusage(cmd: list[str], cwd: Path) -> dict:
    """Run ``cmd``: wall seconds, CPU seconds (user + system, of that child only, from os.wait4), peak RSS MB."""
    t0 = time.perf_counter()
    with open(cwd / "stdout.txt", "w") as so, open(cwd / "stderr.txt", "w") as se:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=so, stderr=se, env={**os.environ, **ENV})
        _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    out, err = (cwd / "stdout.txt").read_text(), (cwd / "stderr.txt").read_text()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-3000:]}")
    return {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "sys": ru.ru_stime, "peak_mb": ru.ru_maxrss / 1024,
            "stdout": out, "stderr": err, "loadavg": os.getloadavg()[0]}


def write_tables(work: Path, size: int) -> tuple[int, int]:
    """train.csv / heldout.csv (Matbench folds) and c1m.csv / c100k.csv (enumerated formulas)."""
    from matloop import datasets
    from matloop.design.enumerate import integer_formulas

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from screening import space_for

    ds = datasets.load("matbench_expt_gap")
    frame = ds.frame[[ds.input, ds.target, "fold"]]
    frame[frame["fold"] != 0].drop(columns="fold").to_csv(work / "train.csv", index=False)
    frame[frame["fold"] == 0].drop(columns="fold").to_csv(work / "heldout.csv", index=False)
    formulas: list[str] = []
    for comps in space_for(1_000_000).chunks(500_000):
        formulas += integer_formulas(comps)
        if len(formulas) >= size:
            break
    formulas = formulas[:size]
    (work / "c1m.csv").write_text("formula\n" + "\n".join(formulas) + "\n")
    (work / "c100k.csv").write_text("formula\n" + "\n".join(formulas[:: max(1, size // 100_000)]) + "\n")
    return len(formulas), len(formulas[:: max(1, size // 100_000)])


def accuracy(work: Path) -> dict:
    """MAE of the compact model vs the full one (held-out fold and enumerated candidates)."""
    import numpy as np
    import pandas as pd

    from matloop.io.formula import parse_formulas
    from matloop.models.compact import load_screening_model
    from matloop.models.persistence import load_model

    full = load_model(work / "gap.model")
    compact, why = load_screening_model(work / "gap.model")
    if compact is None:
        raise RuntimeError(why)
    held = pd.read_csv(work / "heldout.csv")
    y = held.iloc[:, 1].to_numpy(dtype=float)
    F = full.features(parse_formulas(held.iloc[:, 0].to_numpy(dtype=object)))
    p_full, p_comp = full.estimator_.predict(F), compact.predict(F)
    cand = pd.read_csv(work / "c100k.csv")["formula"].sample(20_000, random_state=0).to_numpy(dtype=object)
    Fc = full.features(parse_formulas(cand))
    c_full, c_comp = full.estimator_.predict(Fc), compact.predict(Fc)
    return {"heldout_rows": len(y), "mae_full_vs_measured": float(np.mean(np.abs(p_full - y))),
            "mae_compact_vs_measured": float(np.mean(np.abs(p_comp - y))),
            "mae_compact_vs_full_heldout": float(np.mean(np.abs(p_comp - p_full))),
            "candidates": len(cand), "mae_compact_vs_full_candidates": float(np.mean(np.abs(c_comp - c_full))),
            "spearman_compact_vs_full_candidates": float(pd.Series(c_comp).corr(pd.Series(c_full), method="spearman")),
            "target_spread_mad": float(np.mean(np.abs(y - np.median(y))))}


def run(work: Path, size: int, model: Path | None, exact_1m: bool) -> dict:
    """Everything above; returns the JSON-able record."""
    import pandas as pd

    work.mkdir(parents=True, exist_ok=True)
    n_big, n_small = write_tables(work, size)
    record: dict = {"candidates_big": n_big, "candidates_small": n_small}
    if model is None:
        print("matloop fit (default model) on the expt_gap training folds ...", flush=True)
        fit = timed_rusage(_matloop() + ["fit", "train.csv", "--target", "gap expt", "-o", "gap.model"], work)
        record["fit"] = {k: fit[k] for k in ("wall", "cpu", "peak_mb", "loadavg")} | {"stdout": fit["stdout"][-800:]}
    else:
        for suffix in ("", ".screen"):
            (work / f"gap.model{suffix}").write_bytes(Path(f"{model}{suffix}").read_bytes())
        record["fit"] = {"reused": str(model)}
    record["model_mb"] = (work / "gap.model").stat().st_size / 2**20
    record["compact_mb"] = (work / "gap.model.screen").stat().st_size / 2**20
    record["accuracy"] = accuracy(work)
    print(json.dumps(record["accuracy"], indent=1), flush=True)
    runs = []
    plan = [("c1m.csv", n_big, "compact", []), ("c1m.csv", n_big, "compact-jobs2", ["--jobs", "2"]),
            ("c100k.csv", n_small, "compact", []), ("c100k.csv", n_small, "exact", ["--exact"])]
    if exact_1m:
        plan.append(("c1m.csv", n_big, "exact", ["--exact"]))
    for table, n, mode, extra in plan:
        print(f"matloop screen {table} ({mode}) ...", flush=True)
        out = f"hits_{mode.split('-')[0]}_{n}.csv"
        r = timed_rusage(_matloop() + ["screen", "--candidates", table, "--model", "gap.model", "--top", str(TOP),
                                       "-o", out, *extra], work)
        runs.append({"table": table, "candidates": n, "mode": mode, "wall": r["wall"], "cpu": r["cpu"],
                     "sys": r["sys"], "peak_mb": r["peak_mb"], "loadavg": r["loadavg"], "hits": out})
        print(json.dumps({k: v for k, v in runs[-1].items()}), flush=True)
    fast = pd.read_csv(work / f"hits_compact_{n_small}.csv")
    exact = pd.read_csv(work / f"hits_exact_{n_small}.csv")
    common = set(fast["formula"]) & set(exact["formula"])
    top10 = set(fast["formula"].head(10)) & set(exact["formula"].head(10))
    merged = fast.merge(exact, on="formula", suffixes=("_fast", "_exact"))
    record["recall"] = {"top": TOP, "found": len(common), "found_top10": len(top10),
                        "max_prediction_diff_common": float((merged["prediction_fast"]
                                                             - merged["prediction_exact"]).abs().max())}
    record["runs"] = runs
    return record


def render(record: dict) -> str:
    """The markdown section for screening.md."""
    a, rec = record["accuracy"], record["recall"]
    fit = record["fit"]
    lines = [BEGIN, "## The user's path: `matloop fit` (default model) + `matloop screen --candidates`", "",
             "Produced by `benchmarks/screening.py --cli` (see `benchmarks/screening_cli.py`). The model is what "
             "`matloop fit train.csv --target \"gap expt\" -o gap.model` saves by default (`auto`), fitted on the "
             "Matbench expt_gap training folds 1-4; `fit` also saves `gap.model.screen`, a 64-tree forest distilled "
             f"from it ({record['compact_mb']:.1f} MB beside the {record['model_mb']:.1f} MB model). Every command "
             "is a fresh single-threaded subprocess; times include start-up, loading both models, reading and "
             "validating the CSV and writing the hits.", ""]
    if "cpu" in fit:
        lines += [f"`matloop fit`: {fit['wall']:.0f} s wall, {fit['cpu']:.0f} s CPU (load average {fit['loadavg']:.1f}).",
                  ""]
    lines += ["| candidates | scoring | wall s | candidates/min (wall) | CPU s (system) | candidates/min per CPU core | "
              "peak RSS MB | load avg |", "|---:|---|---:|---:|---:|---:|---:|---:|"]
    label = {"compact": "compact model ranks, full model re-scores the shortlist (default)",
             "compact-jobs2": "the same with `--jobs 2` (2 threads)",
             "exact": "`--exact`: full model scores every candidate"}
    for r in record["runs"]:
        lines.append(f"| {r['candidates']:,} | {label[r['mode']]} | {r['wall']:.1f} | {60 * r['candidates'] / r['wall']:,.0f} | "
                     f"{r['cpu']:.1f} ({r['sys']:.1f}) | {60 * r['candidates'] / r['cpu']:,.0f} | {r['peak_mb']:,.0f} | "
                     f"{r['loadavg']:.1f} |")
    big = [r for r in record["runs"] if r["mode"] == "compact" and r["table"] == "c1m.csv"][0]
    ex = [r for r in record["runs"] if r["mode"] == "exact"][0]
    ex_rate = ex["candidates"] / ex["cpu"]
    lines += ["", f"Target: 1,000,000 candidates/min on 2 cores with the default fitted model. The default path "
              f"screened {big['candidates']:,} formulas at {60 * big['candidates'] / big['cpu']:,.0f}/min per CPU "
              f"core (one core busy; {60 * big['candidates'] / big['wall']:,.0f}/min of wall time on this shared, "
              f"loaded machine): target {'met' if 60 * big['candidates'] / big['cpu'] >= 1e6 else 'NOT met'} on CPU "
              f"time, {'met' if 60 * big['candidates'] / big['wall'] >= 1e6 else 'not met'} on wall time. "
              f"`--exact` runs at {60 * ex_rate:,.0f}/min per CPU core ({big['candidates'] / ex_rate:.0f} s CPU "
              f"for {big['candidates']:,}, extrapolated linearly from the {ex['candidates']:,}-candidate run, "
              "start-up included, unless listed above). On a shared machine wall times measure the other jobs as "
              "much as matloop; CPU time is what 2 idle cores would give (one of them, single-threaded; `--jobs 2` "
              "uses both).", "",
              "Accuracy cost of the compact model:", "",
              f"- held-out fold 0 ({a['heldout_rows']} compositions neither model saw): MAE against the measured gaps "
              f"{a['mae_full_vs_measured']:.3f} eV (full model) and {a['mae_compact_vs_measured']:.3f} eV (compact); "
              f"compact against full {a['mae_compact_vs_full_heldout']:.3f} eV (mean absolute deviation of the gaps "
              f"from their median: {a['target_spread_mad']:.3f} eV);",
              f"- {a['candidates']:,} enumerated candidates: compact against full MAE "
              f"{a['mae_compact_vs_full_candidates']:.3f} eV, Spearman {a['spearman_compact_vs_full_candidates']:.3f};",
              f"- hits: of the top {rec['top']} that `--exact` finds among the {record['candidates_small']:,} "
              f"candidates, the default path finds {rec['found']} (top 10: {rec['found_top10']}); the predictions it "
              f"reports are the full model's (largest difference on common hits {rec['max_prediction_diff_common']:.1e}).",
              "", END]
    return "\n".join(lines)


def update_markdown(md: Path, section: str) -> None:
    """Replace (or append) the CLI section of screening.md, leaving the rest as it is."""
    text = md.read_text() if md.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    md.write_text(text)
