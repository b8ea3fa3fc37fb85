"""Speed and accuracy of ``matloop validate`` with the default model, end to end through the CLI.

What a user runs: ``matloop validate TABLE --target Y --json v.json`` (5-fold CV of the auto model,
featurization included), in a fresh process, timed by wall clock. The default ``--time-budget``
(480 s shared by the folds) must let a ~4,000-molecule SMILES table (1,241 default features) finish
in at most 10 minutes on 2 cores, with no loss of accuracy beyond noise on the tables where an
unlimited budget also finishes (ESOL, FreeSolv): those rows are run twice, at the default budget and
at ``--time-budget 1e6``.

Datasets: the bundled ESOL (1,128) and FreeSolv (642) via ``matloop datasets export``, and MoleculeNet
Lipophilicity (4,200; ``benchmarks/data/lipophilicity.csv.xz``, see its PROVENANCE.md).

usage: python benchmarks/validate_speed.py [--sets esol freesolv lipophilicity] [--unlimited esol freesolv]
                                           [--skip-default] [--table-only]
Results: ``benchmarks/results/validate_speed.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
RESULTS = HERE / "results"
SETS = {"esol": ("esol", "measured log solubility in mols per litre", "log10(mol/L)"),
        "freesolv": ("freesolv", "expt", "kcal/mol"),
        "lipophilicity": (None, "logD", "logD")}


def _matloop(*args: str) -> list[str]:
    return [sys.executable, "-m", "matloop.cli.main", *args]


def _table(name: str, folder: Path) -> tuple[Path, str]:
    bundled, target, _ = SETS[name]
    path = folder / f"{name}.csv"
    if path.exists():
        pass
    elif bundled is None:
        path.write_bytes(lzma.decompress((HERE / "data" / f"{name}.csv.xz").read_bytes()))
    else:
        subprocess.run(_matloop("datasets", "export", bundled, "-o", str(path)), check=True, capture_output=True)
    return path, target


def run(name: str, folder: Path, budget: float | None) -> dict:
    path, target = _table(name, folder)
    out = folder / f"{name}_{budget}.json"
    argv = _matloop("validate", str(path), "--target", target, "--json", str(out), "--quiet")
    if budget is not None:
        argv += ["--time-budget", f"{budget:g}"]
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{name}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
    report = json.loads(out.read_text())
    mean = report["mean"]
    return {"set": name, "rows": report["n_rows"], "budget": "default (480 s)" if budget is None else f"{budget:g} s",
            "wall_s": round(wall, 1), "mae": mean["mae"], "rmse": mean["rmse"], "r2": mean["r2"],
            "coverage_95": mean.get("coverage_95"), "miscalibration_area": mean.get("miscalibration_area"),
            "load_before": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--unlimited", nargs="*", default=["esol", "freesolv"], choices=list(SETS))
    parser.add_argument("--skip-default", action="store_true", help="run only the unlimited budgets")
    parser.add_argument("--table-only", action="store_true", help="rewrite the Markdown table from the JSON")
    args = parser.parse_args()
    rows = []
    if args.table_only:
        return write_results(rows)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sets:
            for budget in ([] if args.skip_default else [None]) + ([1e6] if name in args.unlimited else []):
                print(f"{name} budget={budget} ...", file=sys.stderr, flush=True)
                rows.append(run(name, Path(tmp), budget))
                print(rows[-1], file=sys.stderr, flush=True)
    write_results(rows)


def write_results(rows: list[dict]) -> None:
    """Merge ``rows`` into the results JSON (a set and budget measured again replaces its row) and
    write the Markdown table from every stored row."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "validate_speed.json"
    if path.exists():
        done = {(r["set"], r["budget"]) for r in rows}
        rows = [r for r in json.loads(path.read_text())["runs"] if (r["set"], r["budget"]) not in done] + rows
    path.write_text(json.dumps({"cores": os.cpu_count(), "runs": rows}, indent=1))
    head = ("| set | rows | time budget | wall (s) | MAE | RMSE | R² | 95 % coverage | miscalibration area "
            "| load average |")
    lines = ["# `matloop validate` with the default model: wall time and accuracy (5-fold, 2 cores)", "",
             "Measured by `benchmarks/validate_speed.py`: a fresh `matloop validate TABLE --target Y` process per "
             "row, featurization included. 'unlimited' is `--time-budget 1e6` (every candidate runs). The machine "
             "is shared: the load average before each run is given (2 cores; above 2, other jobs took CPU).", "",
             head, "|" + "---|" * 10]
    for r in rows:
        cov = "" if r["coverage_95"] is None else f"{r['coverage_95']:.3f}"
        mis = "" if r["miscalibration_area"] is None else f"{r['miscalibration_area']:.3f}"
        budget = "unlimited" if r["budget"] == "1e+06 s" else r["budget"]
        lines.append(f"| {r['set']} | {r['rows']} | {budget} | {r['wall_s']:.0f} | {r['mae']:.3f} | {r['rmse']:.3f} | "
                     f"{r['r2']:.3f} | {cov} | {mis} | {r.get('load_before', float('nan')):.1f} |")
    text = "\n".join(lines) + "\n"
    (RESULTS / "validate_speed.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
