"""The pipeline's own E_hull error: the relaxation pipeline run on the stored calibration compounds.

``benchmarks/stability.py --calibrate`` fits ``e_hull_std`` on CHGNet relaxing each calibration
compound's *known DFT structure*. ``--validate stability`` instead starts from the formula (prototype
substitution -> CHGNet relaxation -> hull), and a wrong prototype adds error. This script runs that
pipeline (:func:`matloop.design.stability.validate_stability`, the compound's own structures left out of
the prototypes and of the hull) on the *same* 150 calibration compounds, turns each E_hull into the
out-of-fold corrected one (the stored per-element correction re-fitted on the other folds, exactly as
for ``e_hull_std``: same folds, same seed), and fits ``e_hull_std_pipeline`` by the same rule (lowest
Brier score of p_stable on the stable/not truth at 0.1 eV/atom; a compound without an E_hull counts as
p_stable 0, as in the evaluation). The result is added to
``src/matloop/design/data/stability_calibration.json`` with its provenance; the evaluation compounds of
``benchmarks/stability.py --pipeline`` are not touched.

Checkpointed after every chunk (``results/stability_pipeline_cal_partial.json``); the compounds run in a
shuffled order fixed by ``--seed``, so a cut run is a random subset. ``--fit`` writes the std from
whatever rows are done; ``--tag NAME`` is a sensitivity run (own checkpoint, the json untouched).

usage: nice -n 5 .venv/bin/python benchmarks/stability_pipeline_cal.py [--structures 2] [--steps 150]
           [--chunk 10] [--limit N] [--fit]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from stability import CALIBRATION, RESULTS, THRESHOLD, _fractions  # noqa: E402


def partial_path(args) -> Path:
    return RESULTS / f"stability_pipeline_cal{'_' + args.tag if args.tag else ''}_partial.json"


def oof_errors(calibration: dict, rows: list[dict]) -> dict[str, float]:
    """Each calibration compound's out-of-fold predicted CHGNet error under the stored correction kind."""
    from matloop.design import stability_calibration as sc

    kind, alpha = calibration["correction"]["kind"], float(calibration["correction"].get("alpha") or 0.1)
    fractions = [_fractions(r["reduced"]) for r in rows]
    err = np.array([r["error"] for r in rows], dtype=float)
    oof = sc.cross_validate(fractions, err, candidates=[(kind, alpha)], folds=5, seed=int(calibration["seed"]))
    return dict(zip([r["reduced"] for r in rows], oof[(kind, alpha)].astype(float), strict=True))


def run(args, calibration: dict, truth: dict[str, bool]) -> dict:
    from matloop.design.relax import HullReference
    from matloop.design.stability import validate_stability
    from matloop.design.structure_search import PrototypeLibrary

    state = json.loads(partial_path(args).read_text()) if partial_path(args).exists() else {"rows": [], "chunks": [], "settings": vars(args)}
    compounds = [c for c in calibration["compounds"] if c in truth]
    order = [compounds[i] for i in np.random.default_rng(args.seed).permutation(len(compounds))]
    if args.limit:
        order = order[:args.limit]
    done = {r["reduced"] for r in state["rows"]}
    todo = [f for f in order if f not in done]
    if not todo:
        return state
    reference, library = HullReference.from_dataset(), PrototypeLibrary.from_datasets()
    for a in range(0, len(todo), args.chunk):
        chunk = todo[a:a + args.chunk]
        t, cpu = time.perf_counter(), time.process_time()
        found = validate_stability(chunk, top_k=len(chunk), max_ehull=THRESHOLD, structures_per_formula=args.structures,
                                   steps=args.steps, reference=reference, library=library, leave_out=True)
        cols = ["validation", "e_hull", "energy_per_atom", "formation_energy", "prototype", "relax_converged"]
        state["rows"] += [{"reduced": f, **rec} for f, rec in zip(chunk, found[cols].to_dict("records"), strict=True)]
        state["chunks"].append({"n": len(chunk), "seconds": time.perf_counter() - t,
                                "cpu_seconds": time.process_time() - cpu, "load": list(os.getloadavg())})
        partial_path(args).write_text(json.dumps(state, default=float))
        print(f"{len(state['rows'])}/{len(order)} done ({time.perf_counter() - t:.0f} s this chunk, load "
              f"{os.getloadavg()[0]:.1f})", flush=True)
    return state


def fit(state: dict, calibration: dict, cal_rows: list[dict], write: bool) -> dict:
    """Out-of-fold corrected pipeline E_hull of the done rows -> e_hull_std_pipeline (and the json)."""
    from matloop.design import stability_calibration as sc
    from matloop.design.stability_calibration import Correction

    correction = Correction.from_dict(calibration["correction"])
    oof = oof_errors(calibration, cal_rows)
    by = {r["reduced"]: r for r in cal_rows}
    names = [r["reduced"] for r in state["rows"]]
    raw = np.array([float(r["e_hull"]) + correction.error(_fractions(r["reduced"])) for r in state["rows"]])
    e_oof = raw - np.array([oof[f] for f in names])
    truth = np.array([bool(by[f]["truth_stable"]) for f in names])
    true_e = np.array([float(by[f]["truth_e_hull"]) for f in names])
    std, brier = sc.fit_std(e_oof, truth, THRESHOLD)
    finite = np.isfinite(e_oof)
    err = e_oof[finite] - true_e[finite]
    dft_std = float(calibration["e_hull_std"])
    statuses: dict[str, int] = {}
    for r in state["rows"]:
        statuses[r["validation"]] = statuses.get(r["validation"], 0) + 1
    secs = sum(c["seconds"] for c in state["chunks"])
    summary = {"n": len(names), "with_e_hull": int(finite.sum()), "statuses": statuses,
               "e_hull_mae_oof": float(np.abs(err).mean()), "e_hull_rmse_oof": float(np.sqrt((err**2).mean())),
               "brier": brier, "brier_at_e_hull_std": sc.brier(sc.p_stable(e_oof, dft_std, THRESHOLD), truth),
               "share_beyond_2std": float(np.mean(np.abs(err) > 2 * std)),
               "share_beyond_2_e_hull_std": float(np.mean(np.abs(err) > 2 * dft_std)),
               "seconds": secs, "per_compound_seconds": secs / max(1, len(names)),
               "load_average": [c["load"] for c in state["chunks"]][-1] if state["chunks"] else None}
    summary["e_hull_std_fitted"] = std
    print(f"e_hull_std_pipeline {std} (Brier {brier:.4f}); {summary}", flush=True)
    if write:
        data = json.loads(CALIBRATION.read_text())
        s = state["settings"]
        data["e_hull_std_pipeline"] = std
        data["pipeline_calibration"] = {
            "what": "e_hull_std_pipeline: the normal scale whose p_stable has the lowest Brier score on the E_hull of the "
                    "relaxation pipeline (validate_stability from the formula: prototype substitution with the compound's "
                    "own structures left out, CHGNet relaxation, hull without the compound) on the calibration compounds "
                    "listed here, each E_hull corrected out-of-fold (the stored correction kind re-fitted on the other 4 "
                    "folds, the folds of e_hull_std); no E_hull counts as p_stable 0. Used by validate_stability when it "
                    "generates the structures; e_hull_std is CHGNet's error on the right (DFT) structure.",
            "structures_per_formula": s["structures"], "steps": s["steps"], "fmax": 0.1, "order_seed": s["seed"],
            "summary": summary, "source": "benchmarks/stability_pipeline_cal.py "
            f"--structures {s['structures']} --steps {s['steps']} --chunk {s['chunk']}" + (f" --limit {s['limit']}" if s["limit"] else ""),
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"), "compounds": names}
        CALIBRATION.write_text(json.dumps(data, indent=1) + "\n")
        (RESULTS / "stability_pipeline_cal_rows.json").write_text(json.dumps(
            [r | {"e_hull_oof": float(e), "truth_e_hull": float(t), "truth_stable": bool(b)}
             for r, e, t, b in zip(state["rows"], e_oof, true_e, truth, strict=True)], indent=1, default=float))
        print(f"wrote {CALIBRATION}", flush=True)
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--structures", type=int, default=2)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--chunk", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0, help="order of the compounds (a cut run is a random subset)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N compounds of the shuffled order")
    ap.add_argument("--fit", action="store_true", help="fit and write from the done rows without running more")
    ap.add_argument("--tag", default="", help="a sensitivity run: own checkpoint, the calibration json untouched")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    calibration = json.loads(CALIBRATION.read_text())
    cal_rows = json.loads((RESULTS / "stability_calibration_rows.json").read_text())
    assert [r["reduced"] for r in cal_rows] == calibration["compounds"], "calibration rows and json disagree"
    truth = {r["reduced"]: bool(r["truth_stable"]) for r in cal_rows}
    state = json.loads(partial_path(args).read_text()) if args.fit else run(args, calibration, truth)
    summary = fit(state, calibration, cal_rows, write=not args.tag)
    if args.tag:
        (RESULTS / f"stability_pipeline_cal_{args.tag}.json").write_text(json.dumps(
            {"settings": state["settings"], "summary": summary}, indent=1, default=float))


if __name__ == "__main__":
    main()
