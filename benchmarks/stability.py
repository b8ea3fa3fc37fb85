"""Stable or not? E_hull classification of the relaxation pipeline vs composition-only ML on bundled DFT data.

Ground truth: the bundled ``flla`` set (Materials Project DFT formation energies). For a compound X its
true energy above the hull is computed *leave-one-out*: X (every entry with its reduced formula) is
left out of the hull of its chemical system, so a stable compound lies at or below zero and an
unstable one above. "Stable" means E_hull < 0.1 eV/atom (the usual synthesizability window).

Compared on one stratified sample (number of elements 2/3 x truly stable/not; only compounds whose
elements all have a bundled elemental structure and with at most ``--max-sites`` sites, so CHGNet's
references are computed, not fitted):

- ``pipeline``: :func:`matloop.design.stability.validate_stability` from the formula alone, the way
  ``screen --validate stability`` runs it: prototype substitution with the compound's own structures
  left out of the library, CHGNet relaxation of ``--structures`` candidates, E_hull against the
  leave-one-out hull. A hit without a result (no prototype, failed) counts as "not stable".
- ``chgnet_dft_structure``: CHGNet relaxation started from the compound's own DFT structure (the
  potential's error alone, with the right structure known: an upper bound for the pipeline).
- ``composition_ml``: matloop's AutoModel on the default composition features, formation energy
  predicted out-of-fold (5 folds grouped by reduced formula over all of flla), then the same
  leave-one-out hull. Also scored on every eligible compound, not only the sample.

The CHGNet formation-energy error of ``chgnet_dft_structure`` on the calibration sample (the pipeline
sample plus ``--calibration`` more compounds) is the ``e_hull_std`` that
``src/matloop/design/data/stability_calibration.json`` stores (with this provenance) and that every
``--validate stability`` row reports. Times are wall seconds on this machine, with its load average.

usage: .venv/bin/python benchmarks/stability.py [--pipeline 24] [--calibration 36] [--seed 0]
       [--structures 2] [--steps 150] [--ml-budget 30] [--no-calibration-file]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).parent / "results"
CALIBRATION = Path(__file__).parents[1] / "src" / "matloop" / "design" / "data" / "stability_calibration.json"
THRESHOLD = 0.1
#: sigma of a normal distribution with this mean absolute value: sqrt(pi/2)
NORMAL_SCALE = 1.2533


def scores(truth: np.ndarray, predicted: np.ndarray) -> dict:
    """Precision, recall, F1 and accuracy of 'stable' (True) predictions."""
    tp = int((truth & predicted).sum())
    fp = int((~truth & predicted).sum())
    fn = int((truth & ~predicted).sum())
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    return {"n": len(truth), "truly_stable": int(truth.sum()), "predicted_stable": int(predicted.sum()),
            "precision": precision, "recall": recall, "f1": f1, "accuracy": float((truth == predicted).mean())}


def ground_states(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per reduced formula: the lowest formation energy (its structure), with element count."""
    from pymatgen.core import Composition

    comps = [Composition(f) for f in frame["formula"]]
    frame = frame.assign(reduced=[c.reduced_formula for c in comps], n_elements=[len(c.elements) for c in comps])
    frame = frame.sort_values("formation_energy_per_atom").drop_duplicates("reduced")
    return frame.reset_index(drop=True)


def stratified(frame: pd.DataFrame, n: int, seed: int, exclude=()) -> pd.DataFrame:
    """``n`` rows, equal shares of (2 or 3 elements) x (truly stable or not)."""
    rng = np.random.default_rng(seed)
    parts = []
    for k, (_, group) in enumerate(frame[~frame["reduced"].isin(exclude)].groupby(["n_elements", "truth_stable"])):
        take = n // 4 + (1 if k < n % 4 else 0)
        parts.append(group.iloc[rng.permutation(len(group))[:take]])
    return pd.concat(parts).reset_index(drop=True)


def composition_ml(gs: pd.DataFrame, budget: float, seed: int) -> tuple[np.ndarray, float]:
    """Out-of-fold AutoModel formation energies for every row of ``gs`` (5 folds, one row per formula)."""
    from sklearn.model_selection import KFold

    from matloop.models.automodel import AutoModel
    from matloop.represent.registry import get_featurizer

    start = time.perf_counter()
    X = get_featurizer("default").transform(gs["reduced"]).to_numpy(dtype=float)
    y = gs["formation_energy_per_atom"].to_numpy(float)
    oof = np.full(len(y), np.nan)
    for train, test in KFold(5, shuffle=True, random_state=seed).split(X):
        model = AutoModel(time_budget=budget, random_state=seed, n_jobs=1).fit(X[train], y[train])
        oof[test] = model.predict(X[test])
    return oof, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pipeline", type=int, default=24, help="compounds through the full pipeline")
    ap.add_argument("--calibration", type=int, default=36, help="more compounds for the CHGNet error only")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--structures", type=int, default=2, help="candidate structures per formula")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--max-sites", type=int, default=10)
    ap.add_argument("--ml-budget", type=float, default=30.0, help="AutoModel seconds per fold")
    ap.add_argument("--no-calibration-file", action="store_true", help="do not rewrite the stored calibration")
    ap.add_argument("--out", default="stability")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    import torch

    import matloop.datasets as datasets
    from matloop.design.relax import HullReference, relax_structures
    from matloop.design.stability import p_below, validate_stability
    from matloop.represent.structure_io import read_structures

    load_start = os.getloadavg()
    t0 = time.perf_counter()
    ds = datasets.load("flla")
    gs = ground_states(ds.frame)
    reference = HullReference.from_dataset()
    print(f"flla: {len(ds.frame)} rows, {len(gs)} formulas", flush=True)
    with_structure = set(reference.elemental)
    eligible = gs[(gs["n_elements"].isin([2, 3])) & (gs["nsites"] <= args.max_sites)
                  & gs["reduced"].map(lambda f: all(e in with_structure for e in _elements(f)))].copy()
    eligible["truth_e_hull"] = [reference.hull_distance(f, ef, leave_out=[f])[0] for f, ef in
                                zip(eligible["reduced"], eligible["formation_energy_per_atom"], strict=True)]
    eligible["truth_stable"] = eligible["truth_e_hull"] < THRESHOLD
    print(f"eligible: {len(eligible)} compounds ({int(eligible['truth_stable'].sum())} stable)", flush=True)
    sample = stratified(eligible, args.pipeline, args.seed)
    extra = stratified(eligible, args.calibration, args.seed + 1, exclude=set(sample["reduced"]))
    calib = pd.concat([sample, extra], ignore_index=True)

    # CHGNet elemental references (relaxed), timed apart
    t = time.perf_counter()
    elements = sorted({e for f in calib["reduced"] for e in _elements(f)})
    for e in elements:
        reference.chemical_potential(e)
    ref_seconds = time.perf_counter() - t
    print(f"{len(elements)} elemental references in {ref_seconds:.0f} s", flush=True)

    # CHGNet from the DFT structure: the potential's own error (calibration)
    t = time.perf_counter()
    relaxed = relax_structures(read_structures(calib["structure"].tolist()), fmax=0.05, steps=200)
    dft_seconds = time.perf_counter() - t
    calib["chgnet_ef"] = [reference.formation_energy(_comp(f), e) for f, e in
                          zip(calib["reduced"], relaxed["energy_per_atom"], strict=True)]
    calib["chgnet_converged"] = relaxed["converged"].to_numpy()
    err = (calib["chgnet_ef"] - calib["formation_energy_per_atom"]).to_numpy(float)
    ok = np.isfinite(err)
    calibration = {"n": int(ok.sum()), "mae": float(np.abs(err[ok]).mean()), "rmse": float(np.sqrt((err[ok] ** 2).mean())),
                   "bias": float(err[ok].mean()), "median_abs": float(np.median(np.abs(err[ok])))}
    calib["chgnet_e_hull"] = [reference.hull_distance(f, ef, leave_out=[f])[0] if np.isfinite(ef) else np.nan
                              for f, ef in zip(calib["reduced"], calib["chgnet_ef"], strict=True)]
    print(f"CHGNet formation-energy error on {calibration['n']}: MAE {calibration['mae']:.3f}, "
          f"RMSE {calibration['rmse']:.3f} eV/atom ({dft_seconds:.0f} s)", flush=True)

    if not args.no_calibration_file:
        write_calibration(calibration, args, datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                          len(calib))

    # the full pipeline from the formula alone
    t, cpu = time.perf_counter(), time.process_time()
    found = validate_stability(sample["reduced"].tolist(), top_k=len(sample), max_ehull=THRESHOLD,
                               structures_per_formula=args.structures, steps=args.steps,
                               e_hull_std=calibration["mae"] * NORMAL_SCALE, reference=reference, leave_out=True,
                               progress=lambda m: print("  " + m, flush=True))
    pipe_seconds, pipe_cpu = time.perf_counter() - t, time.process_time() - cpu
    load_end = os.getloadavg()
    sample = sample.join(found[["validation", "e_hull", "p_stable", "prototype", "relax_converged", "reason"]])
    sample = sample.merge(calib[["reduced", "chgnet_e_hull", "chgnet_ef"]], on="reduced", how="left")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}_partial.json").write_text(json.dumps(  # a checkpoint before the ML stage
        {"calibration": calibration, "pipeline_seconds": pipe_seconds, "pipeline_cpu_seconds": pipe_cpu,
         "load_average": [load_start, load_end],
         "rows": json.loads(sample.drop(columns=["structure"]).to_json(orient="records"))}, indent=1, default=float))
    print(f"pipeline: {pipe_seconds:.0f} s wall, {pipe_cpu:.0f} s CPU for {len(sample)}", flush=True)

    # composition-only ML (last: the slowest stage on a loaded machine): out-of-fold formation energies for every flla formula
    oof, ml_seconds = composition_ml(gs, args.ml_budget, args.seed)
    ml_ef = dict(zip(gs["reduced"], oof, strict=True))
    eligible["ml_e_hull"] = [reference.hull_distance(f, ml_ef[f], leave_out=[f])[0] for f in eligible["reduced"]]
    print(f"composition ML done in {ml_seconds:.0f} s", flush=True)

    sample = sample.merge(eligible[["reduced", "ml_e_hull"]], on="reduced", how="left")

    truth = sample["truth_stable"].to_numpy(bool)
    e_pipe = sample["e_hull"].to_numpy(float)
    results = {
        "pipeline": scores(truth, np.nan_to_num(e_pipe, nan=np.inf) < THRESHOLD),
        "chgnet_dft_structure": scores(truth, np.nan_to_num(sample["chgnet_e_hull"].to_numpy(float), nan=np.inf) < THRESHOLD),
        "composition_ml": scores(truth, sample["ml_e_hull"].to_numpy(float) < THRESHOLD),
        "composition_ml_all_eligible": scores(eligible["truth_stable"].to_numpy(bool),
                                              eligible["ml_e_hull"].to_numpy(float) < THRESHOLD),
        "calib_dft_structure": scores(calib["truth_stable"].to_numpy(bool),
                                      np.nan_to_num(calib["chgnet_e_hull"].to_numpy(float), nan=np.inf) < THRESHOLD),
    }
    finite = np.isfinite(e_pipe)
    mae = {"pipeline": float(np.abs(e_pipe[finite] - sample["truth_e_hull"].to_numpy(float)[finite]).mean()),
           "composition_ml": float(np.abs(sample["ml_e_hull"] - sample["truth_e_hull"]).mean()),
           "chgnet_dft_structure": float(np.nanmean(np.abs(sample["chgnet_e_hull"] - sample["truth_e_hull"])))}
    p = sample["p_stable"].to_numpy(float)
    brier = float(np.mean((np.where(np.isfinite(p), p, 0.0) - truth) ** 2))
    timing = {"pipeline_seconds": pipe_seconds, "per_candidate_seconds": pipe_seconds / len(sample),
              "pipeline_cpu_seconds": pipe_cpu, "per_candidate_cpu_seconds": pipe_cpu / len(sample),
              "references_seconds": ref_seconds, "dft_structure_relax_seconds": dft_seconds,
              "dft_structure_per_compound_seconds": dft_seconds / len(calib), "ml_seconds": ml_seconds,
              "total_seconds": time.perf_counter() - t0, "load_average_start": load_start,
              "load_average_end": load_end, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads()}
    report = {"threshold": THRESHOLD, "settings": vars(args), "eligible": len(eligible), "calibration": calibration,
              "scores": results, "e_hull_mae": mae, "pipeline_brier_p_stable": brier, "timing": timing,
              "statuses": sample["validation"].value_counts().to_dict(),
              "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
              "machine": platform.platform(),
              "rows": json.loads(sample.drop(columns=["structure"]).to_json(orient="records"))}
    (RESULTS / f"{args.out}.json").write_text(json.dumps(report, indent=1, default=float))
    (RESULTS / f"{args.out}_partial.json").unlink(missing_ok=True)
    (RESULTS / f"{args.out}.md").write_text(markdown(report, sample))
    print((RESULTS / f"{args.out}.md").read_text())
    _ = p_below  # the p_stable of each row comes from validate_stability


def write_calibration(calibration: dict, args, date: str, n: int) -> None:
    import chgnet

    CALIBRATION.parent.mkdir(exist_ok=True)
    CALIBRATION.write_text(json.dumps({
        "e_hull_std": round(calibration["mae"] * NORMAL_SCALE, 4),
        "formation_energy_rmse": round(calibration["rmse"], 4),
        "formation_energy_mae": round(calibration["mae"], 4), "formation_energy_bias": round(calibration["bias"], 4),
        "n": calibration["n"], "potential": f"CHGNet 0.3.0 (chgnet {getattr(chgnet, '__version__', '?')})",
        "what": "error (eV/atom) of CHGNet formation energies (relaxed from the DFT structure, fmax 0.05, 200 steps; "
                "elemental references relaxed with CHGNet) against the Materials Project DFT values of bundled flla "
                "compounds (2-3 elements, stratified by stability). e_hull_std = MAE x sqrt(pi/2), the normal "
                "scale of the typical error; the errors have heavy tails (the RMSE is larger, set by a few "
                "compounds off by 0.5 eV/atom and more), so p_stable is optimistic for such outliers",
        "source": f"benchmarks/stability.py --pipeline {args.pipeline} --calibration {args.calibration} "
                  f"--seed {args.seed} (compounds: {n})", "date": date}, indent=1) + "\n")


def markdown(report: dict, sample: pd.DataFrame) -> str:
    s, t, c = report["scores"], report["timing"], report["calibration"]
    lines = [
        "# Stability check: E_hull classification (stable = E_hull < 0.1 eV/atom)", "",
        f"Generated by `benchmarks/stability.py` ({report['date']}). Truth: Materials Project DFT formation "
        "energies of the bundled flla set, hull built leave-one-out (the compound's formula left out of its own "
        f"reference). Stratified sample of {s['pipeline']['n']} compounds (2 and 3 elements x stable or not, "
        f"at most {report['settings']['max_sites']} sites, every element with a bundled elemental structure; "
        f"{report['eligible']} eligible), sized for a shared 2-core machine.", "",
        "| method | n | precision | recall | F1 | accuracy | E_hull MAE (eV/atom) |", "|---|---|---|---|---|---|---|"]
    for key, label in (("pipeline", "relaxation pipeline (formula -> prototypes -> CHGNet -> hull)"),
                       ("chgnet_dft_structure", "CHGNet relaxation of the known DFT structure"),
                       ("composition_ml", "composition-only ML (AutoModel, out-of-fold) + hull")):
        r = s[key]
        lines.append(f"| {label} | {r['n']} | {r['precision']:.2f} | {r['recall']:.2f} | {r['f1']:.2f} | "
                     f"{r['accuracy']:.2f} | {report['e_hull_mae'][key]:.3f} |")
    a = s["composition_ml_all_eligible"]
    lines += ["", f"Composition-only ML on all {a['n']} eligible compounds: precision {a['precision']:.2f}, "
              f"recall {a['recall']:.2f} ({a['truly_stable']} truly stable). CHGNet from the DFT structure on the "
              f"{s['calib_dft_structure']['n']}-compound calibration sample: precision "
              f"{s['calib_dft_structure']['precision']:.2f}, recall {s['calib_dft_structure']['recall']:.2f}.", "",
              f"CHGNet formation-energy error (calibration, n = {c['n']}): MAE {c['mae']:.3f}, RMSE {c['rmse']:.3f}, "
              f"bias {c['bias']:+.3f} eV/atom. MAE x sqrt(pi/2) = {c['mae'] * NORMAL_SCALE:.3f} is the `e_hull_std` that "
              f"`--validate stability` reports (a normal scale of the typical error; the RMSE is set by a few large "
              f"outliers) "
              f"(stored in src/matloop/design/data/stability_calibration.json). Brier score of the pipeline's "
              f"p_stable: {report['pipeline_brier_p_stable']:.3f}.", "",
              f"Pipeline statuses: {', '.join(f'{k} {v}' for k, v in report['statuses'].items())}.", "",
              "## Time on this machine", "",
              f"- pipeline: {t['per_candidate_seconds']:.1f} s wall ({t['per_candidate_cpu_seconds']:.1f} s of CPU "
              f"time in this process) per candidate ({report['settings']['structures']} "
              f"structures, at most {report['settings']['steps']} FIRE steps each), {t['pipeline_seconds']:.0f} s "
              f"for {s['pipeline']['n']}; elemental references once: {t['references_seconds']:.0f} s",
              f"- CHGNet relaxation from the DFT structure: {t['dft_structure_per_compound_seconds']:.1f} s per compound",
              f"- composition ML (featurize + 5 AutoModel fits on {report['settings']['ml_budget']:g} s budgets): "
              f"{t['ml_seconds']:.0f} s",
              f"- {t['cpu_count']} cores shared with other jobs; load average at start "
              f"{', '.join(f'{x:.1f}' for x in t['load_average_start'])}, at end "
              f"{', '.join(f'{x:.1f}' for x in t['load_average_end'])}; torch threads {t['torch_threads']}", "",
              "## Rows", "", "| formula | truth E_hull | pipeline | status | CHGNet (DFT structure) | ML |",
              "|---|---|---|---|---|---|"]
    for _, r in sample.iterrows():
        lines.append(f"| {r['reduced']} | {r['truth_e_hull']:.3f} | {r['e_hull']:.3f} | {r['validation']} | "
                     f"{r['chgnet_e_hull']:.3f} | {r['ml_e_hull']:.3f} |")
    return "\n".join(lines) + "\n"


def _elements(formula: str) -> list[str]:
    return [e.symbol for e in _comp(formula).elements]


def _comp(formula: str):
    from pymatgen.core import Composition

    return Composition(formula)


if __name__ == "__main__":
    main()
