"""Speed of ``matloop report`` (``build_report``): seconds per stage for 500 and ~5,000 rows.

Dataset: the bundled Matbench ``expt_gap`` (4,604 compositions, experimental band gap); 500 rows
are a seeded random subset. Model and settings: the report's defaults (a 100-tree matloop random
forest with uncertainty, 5 folds, UMAP when installed, the default ``--time-budget``). Every run is a
fresh Python process (imports, numba's cache and BLAS start as they would for ``matloop report``).

Stages are timed from the report's progress messages, so the same script times older versions of
the code: ``--src OLD_TREE/src --label before`` runs another source tree (a copy of ``src``) in the
workers. Stage groups: setup (reading, featurizing, PCA map and clusters, probe fits), cv (random,
leave-one-cluster-out and extrapolation CV, 1-NN baseline, applicability domain), learning curve,
interpretation (permutation importance, SHAP, PD/ICE), umap, figures (drawing and PNG encoding).
Also recorded: the rows the cross-validations used, whether a UMAP map was drawn, CPU seconds
(user + system: less sensitive than wall time to other jobs on a shared machine) and the load average.

usage: python benchmarks/report_speed.py [--sizes 500 5000] [--budget S] [--label after]
                                          [--src PATH] [--append] [--rebuild]
Results: ``benchmarks/results/report_speed.json`` (all runs, appended with ``--append``) and
``report_speed.md`` (a table per label).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
NOTES = ("Labels: *before (HEAD)* runs the report code of commit df0548c (build, sections, audit, interpret) with the "
         "rest of the working tree, at its default 180 s budget; *after* runs this version at its default 60 s "
         "budget; the last two rows swap the budgets. Both plan their row counts from timed probe fits, so under "
         "heavy load they cross-validate a subsample (CV rows) and say so in the report. Before, UMAP compiled "
         "numba kernels in every process and computed all pairwise distances through a Python callback "
         "(about 40 s for 500 rows), so it was skipped for large tables.")
GROUPS = ("setup", "cv", "learning curve", "interpretation", "umap", "figures")
#: progress message (old and new wording) -> stage group
PATTERNS = [
    (r"^(auditing the data|reading the data|featurizing|mapping the feature space \(PCA|timing two probe fits)", "setup"),
    (r"^(cross-validating|1-nearest-neighbour|applicability domain)", "cv"),
    (r"^learning curve", "learning curve"),
    (r"^interpreting", "interpretation"),
    (r"^(loading UMAP|mapping the feature space \(UMAP)", "umap"),
    (r"^drawing the figures", "figures"),
]


def worker(size: int, budget: float | None, out: Path) -> None:
    """One report in this process; writes its timings to ``out`` (JSON)."""
    import resource

    import numpy as np

    from matloop.datasets import load
    from matloop.report import build, sections

    ds = load("matbench_expt_gap")
    if size < len(ds.frame):
        ds = ds.subset(np.sort(np.random.default_rng(0).choice(len(ds.frame), size, replace=False)))
    events: list[tuple[float, float, str]] = []
    t0, c0 = time.perf_counter(), time.process_time()

    def progress(message: str) -> None:
        events.append((time.perf_counter() - t0, time.process_time() - c0, message))

    first = sections.add_overview_section

    def overview(*args, **kwargs):  # older code says nothing before it draws: mark where drawing starts
        if not any(m == "drawing the figures" for _, _, m in events):
            progress("drawing the figures")
        return first(*args, **kwargs)

    sections.add_overview_section = overview
    load_avg = os.getloadavg()[0]
    kwargs = {} if budget is None else {"time_budget": budget}
    report = build.build_report(ds, progress=progress, **kwargs)
    total, cpu_total = time.perf_counter() - t0, time.process_time() - c0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    stages, cpu = dict.fromkeys(GROUPS, 0.0), dict.fromkeys(GROUPS, 0.0)
    for (t, c, message), (t_next, c_next, _) in zip(events, [*events[1:], (total, cpu_total, "")], strict=True):
        group = next((g for pattern, g in PATTERNS if re.search(pattern, message)), None)
        if group:
            stages[group] += t_next - t
            cpu[group] += c_next - c
    html = report.to_html()
    sub = re.search(r"random subsample of (\d+) of (\d+) rows", html)
    names = [name for name, _, _ in report.figures]
    umap_rows = re.search(r"UMAP of (\d+) rows", " ".join(m for _, _, m in events))
    out.write_text(json.dumps({
        "rows": len(ds.frame), "cv_rows": int(sub.group(1)) if sub else len(ds.frame), "budget": budget,
        "stages": stages, "stages_cpu": cpu, "total": total, "cpu": usage.ru_utime + usage.ru_stime,
        "figures": len(names),
        "umap": any(n.startswith("umap") for n in names),
        "umap_rows": int(umap_rows.group(1)) if umap_rows else None,
        "load_start": load_avg, "load_end": os.getloadavg()[0],
    }))


def _run(size: int, budget: float | None, src: str | None) -> dict:
    out = RESULTS / f".report_speed_{os.getpid()}_{size}.json"
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    cmd = [sys.executable, __file__, "--worker", str(size), "--out", str(out)]
    if budget is not None:
        cmd += ["--budget", str(budget)]
    subprocess.run(cmd, check=True, env=env)
    try:
        return json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)


def _table(runs: list[dict], key: str = "stages") -> str:
    head = ("| label | rows | CV rows | budget (s) | " + " | ".join(GROUPS)
            + " | wall total (s) | CPU total (s) | figures | UMAP rows | load |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in runs:
        stages = " | ".join(f"{r[key][g]:.1f}" for g in GROUPS)
        umap = f"{r['umap_rows'] or r['cv_rows']:,}" if r["umap"] else "skipped"
        lines.append(f"| {r['label']} | {r['rows']:,} | {r['cv_rows']:,} | {r['budget'] or 'default'} | {stages} | "
                     f"{r['total']:.1f} | {r['cpu']:.1f} | {r['figures']} | {umap} | "
                     f"{r['load_start']:.1f}-{r['load_end']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 5000])
    parser.add_argument("--budget", type=float, default=None, help="--time-budget (default: the report's)")
    parser.add_argument("--label", default="after")
    parser.add_argument("--src", default=None, help="run the workers on another source tree")
    parser.add_argument("--append", action="store_true", help="keep earlier runs in the JSON")
    parser.add_argument("--rebuild", action="store_true", help="only rewrite the Markdown from the JSON")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        worker(args.worker, args.budget, args.out)
        return
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "report_speed.json"
    runs = json.loads(path.read_text())["runs"] if (args.append or args.rebuild) and path.exists() else []
    for size in [] if args.rebuild else args.sizes:
        run = {"label": args.label, **_run(size, args.budget, args.src)}
        runs.append(run)
        print(_table([run]).splitlines()[-1], flush=True)
    path.write_text(json.dumps({"dataset": "matbench_expt_gap", "model": "report default (100-tree matloop RF)",
                                "machine": f"{os.cpu_count()} CPUs (shared)", "runs": runs}, indent=1))
    md = ["# matloop report: seconds per stage", "",
          "Matbench expt_gap (4,604 compositions; 500 = seeded random subset), the report's default model and "
          "settings, one fresh process per run. Stage groups are described in `benchmarks/report_speed.py`. "
          "CPU = user + system seconds of the run (other jobs on the shared machine inflate wall time, much "
          "less CPU time); load = 1-minute load average at start and end (2 CPUs: a load of 6 leaves this run "
          "about a third of the machine).", "", NOTES, "", "## Wall seconds per stage", "",
          _table(runs), "", "## CPU seconds per stage (user + system, all threads)", "", _table(runs, "stages_cpu"), ""]
    (RESULTS / "report_speed.md").write_text("\n".join(md))
    print(_table(runs))


if __name__ == "__main__":
    main()
