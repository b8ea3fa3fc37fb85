"""Stable or not? E_hull classification of the relaxation pipeline vs composition-only ML on bundled DFT data.

Ground truth: the bundled ``flla`` set (Materials Project DFT formation energies). For a compound X its
true energy above the hull is computed *leave-one-out*: X (every entry with its reduced formula) is
left out of the hull of its chemical system, so a stable compound lies at or below zero and an
unstable one above. "Stable" means E_hull < 0.1 eV/atom (the usual synthesizability window).

Eligible: compounds with 2 or 3 elements, at most ``--max-sites`` sites, every element with a bundled
elemental structure (CHGNet's references computed, not fitted). Two disjoint samples of them:

1. ``--calibrate N`` (seed ``--cal-seed``): CHGNet relaxes each compound from its DFT structure; the
   formation-energy errors fit the shipped correction (candidates of
   :mod:`matloop.design.stability_calibration`, chosen by 5-fold out-of-fold MAE) and ``e_hull_std``
   (lowest Brier score of p_stable on the out-of-fold corrected E_hull), written with the compound list
   and provenance to ``src/matloop/design/data/stability_calibration.json``. At most a third of each
   unstable stratum goes here (unstable compounds are few: 65 of 924).
2. ``--pipeline N`` (seed ``--seed``): the evaluation, drawn from the eligible compounds *not* in the
   stored calibration, stratified (2/3 elements x stable/not; a stratum short of its share gives the
   rest to the others). Methods, each scored on the same rows:

   - ``pipeline``: :func:`matloop.design.stability.validate_stability` from the formula alone with the
     stored correction and e_hull_std (what ``--validate stability`` users get): prototype substitution
     with the compound's own structures left out, CHGNet relaxation of ``--structures`` candidates, E_hull
     against the leave-one-out hull. No result (no prototype, failed) counts as "not stable".
   - ``dft_structure``: CHGNet relaxation of the compound's own DFT structure, the same correction.
   - ``composition_ml``: AutoModel on the default composition features, formation energy out-of-fold
     (5 folds over all flla formulas), the same hull.

   The pipeline runs in chunks of ``--chunk``; after each the rows and the full report are written, so
   a cut run still reports (``--resume`` continues from the checkpoint).

usage: nice -n 5 .venv/bin/python benchmarks/stability.py --calibrate 120 [--cal-seed 1] [--pipeline 0]
       nice -n 5 .venv/bin/python benchmarks/stability.py --pipeline 160 [--seed 0] [--structures 2] [--steps 150]
           [--chunk 10] [--resume] [--ml-budget 10] [--bootstrap 2000]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from stability_report import diagnosis, evaluate, markdown, p_threshold_table, scores  # noqa: E402

RESULTS = Path(__file__).parent / "results"
CALIBRATION = Path(__file__).parents[1] / "src" / "matloop" / "design" / "data" / "stability_calibration.json"
THRESHOLD = 0.1
#: sigma of a normal distribution with this mean absolute value: sqrt(pi/2)
NORMAL_SCALE = 1.2533
#: the share of each unstable stratum the calibration may take (the rest is left for the evaluation)
CAL_UNSTABLE_SHARE = 1 / 3


def ground_states(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per reduced formula: the lowest formation energy (its structure), with element count."""
    from pymatgen.core import Composition

    comps = [Composition(f) for f in frame["formula"]]
    frame = frame.assign(reduced=[c.reduced_formula for c in comps], n_elements=[len(c.elements) for c in comps])
    frame = frame.sort_values("formation_energy_per_atom").drop_duplicates("reduced")
    return frame.reset_index(drop=True)


def stratified(frame: pd.DataFrame, n: int, seed: int, exclude=(), unstable_share: float = 1.0) -> pd.DataFrame:
    """``n`` rows, equal shares of (2 or 3 elements) x (truly stable or not); a stratum may give at most
    ``unstable_share`` of its rows when unstable, and what a short stratum cannot give goes to the others."""
    rng = np.random.default_rng(seed)
    groups = [g for _, g in frame[~frame["reduced"].isin(exclude)].groupby(["n_elements", "truth_stable"])]
    room = [len(g) if bool(g["truth_stable"].iloc[0]) else int(len(g) * unstable_share) for g in groups]
    take = [0] * len(groups)
    left = n
    while left > 0 and any(t < r for t, r in zip(take, room, strict=True)):
        open_ = [k for k in range(len(groups)) if take[k] < room[k]]
        share = max(1, left // len(open_))
        for k in open_:
            add = min(share, room[k] - take[k], left)
            take[k] += add
            left -= add
    parts = [g.iloc[rng.permutation(len(g))[:t]] for g, t in zip(groups, take, strict=True)]
    return pd.concat(parts).reset_index(drop=True)


def strata(frame: pd.DataFrame) -> str:
    return ", ".join(f"{k[0]} elements {'stable' if k[1] else 'unstable'}: {v}"
                     for k, v in frame.groupby(["n_elements", "truth_stable"]).size().items())


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


def _fractions(formula: str) -> dict[str, float]:
    return {el.symbol: float(x) for el, x in _comp(formula).fractional_composition.items()}


def _dft_relax(frame: pd.DataFrame, reference) -> tuple[np.ndarray, np.ndarray, float]:
    """CHGNet relaxation of each row's DFT structure: (energy per atom, raw formation energy, seconds)."""
    from matloop.design.relax import relax_structures
    from matloop.represent.structure_io import read_structures

    t = time.perf_counter()
    relaxed = relax_structures(read_structures(frame["structure"].tolist()), fmax=0.05, steps=200)
    energy = relaxed["energy_per_atom"].to_numpy(float)
    ef = np.array([reference.formation_energy(_comp(f), e) if np.isfinite(e) else np.nan
                   for f, e in zip(frame["reduced"], energy, strict=True)])
    return energy, ef, time.perf_counter() - t


def _hull(reference, formulas, formation_energies) -> np.ndarray:
    return np.array([reference.hull_distance(f, ef, leave_out=[f])[0] if np.isfinite(ef) else np.nan
                     for f, ef in zip(formulas, formation_energies, strict=True)])


def calibrate(eligible: pd.DataFrame, reference, args) -> None:
    """Fit and store the correction and e_hull_std on a calibration sample (stage 1)."""
    import chgnet

    from matloop.design import stability_calibration as sc

    cal = stratified(eligible, args.calibrate, args.cal_seed, unstable_share=CAL_UNSTABLE_SHARE)
    print(f"calibration sample: {len(cal)} ({strata(cal)})", flush=True)
    t = time.perf_counter()
    for e in sorted({e for f in cal["reduced"] for e in _elements(f)}):
        reference.chemical_potential(e)
    print(f"references in {time.perf_counter() - t:.0f} s", flush=True)
    _, ef, seconds = _dft_relax(cal, reference)
    err = ef - cal["formation_energy_per_atom"].to_numpy(float)
    ok = np.isfinite(err)
    cal, err = cal[ok].reset_index(drop=True), err[ok]
    fractions = [_fractions(f) for f in cal["reduced"]]
    oof = sc.cross_validate(fractions, err, folds=5, seed=args.cal_seed)
    chosen, cv_mae = sc.choose_correction(err, oof)
    correction = sc.fit_correction(fractions, err, *chosen)
    corrected_oof = ef[ok] - oof[chosen]
    e_oof = _hull(reference, cal["reduced"], corrected_oof)
    std, brier = sc.fit_std(e_oof, cal["truth_stable"].to_numpy(bool), THRESHOLD)
    resid = err - oof[chosen]
    summary = {"mae_raw": float(np.abs(err).mean()), "rmse_raw": float(np.sqrt((err**2).mean())),
               "bias_raw": float(err.mean()), "median_raw": float(np.median(err)),
               "mae_corrected_oof": float(np.abs(resid).mean()), "rmse_corrected_oof": float(np.sqrt((resid**2).mean())),
               "mae_scale": float(np.abs(resid).mean() * NORMAL_SCALE), "brier": brier,
               "relax_seconds": seconds, "load_average": list(os.getloadavg())}
    print(f"calibration: {summary}; CV MAE {cv_mae}; chosen {chosen}; std {std}", flush=True)
    date = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    CALIBRATION.write_text(json.dumps({
        "e_hull_std": std, "correction": correction.to_dict(), "n": len(cal), "seed": args.cal_seed,
        "strata": strata(cal), "cv_mae": cv_mae, "parsimony": sc.PARSIMONY, "summary": summary,
        "potential": f"CHGNet 0.3.0 (chgnet {getattr(chgnet, '__version__', '?')})",
        "what": "CHGNet formation energies (relaxed from the DFT structure, fmax 0.05, 200 steps; elemental references "
                "relaxed with CHGNet) against the Materials Project DFT values of the bundled flla compounds listed "
                "here (2-3 elements, at most 10 sites, stratified by stability). correction: the predicted CHGNet "
                "error (bias + sum of atomic fraction x per-element term), chosen among none/bias/median/per-element "
                "ridge by 5-fold out-of-fold MAE (simplest within `parsimony` of the best), subtracted from every "
                "formation energy. e_hull_std: the normal scale whose p_stable has the lowest Brier score on the "
                "out-of-fold corrected E_hull of these compounds. benchmarks/stability.py evaluates on other compounds.",
        "source": f"benchmarks/stability.py --calibrate {args.calibrate} --cal-seed {args.cal_seed} "
                  f"--max-sites {args.max_sites}", "date": date,
        "compounds": cal["reduced"].tolist()}, indent=1) + "\n")
    RESULTS.mkdir(exist_ok=True)
    rows = cal[["reduced", "formation_energy_per_atom", "truth_e_hull", "truth_stable"]].assign(
        chgnet_ef=ef[ok], error=err, oof_corrected_e_hull=e_oof)
    (RESULTS / "stability_calibration_rows.json").write_text(rows.to_json(orient="records", indent=1))
    print(f"wrote {CALIBRATION}", flush=True)


def evaluate_run(gs: pd.DataFrame, eligible: pd.DataFrame, reference, args) -> None:
    """The evaluation (stage 2), checkpointed after each pipeline chunk."""
    import torch

    from matloop.design import stability_calibration as sc
    from matloop.design.stability import load_calibration, load_correction, validate_stability
    from matloop.design.structure_search import PrototypeLibrary

    calibration, correction = load_calibration(), load_correction()
    cal_set = set(calibration.get("compounds", []))
    if not cal_set:
        raise SystemExit("the stored calibration lists no compounds: run --calibrate first")
    sample = stratified(eligible, args.pipeline, args.seed, exclude=cal_set)
    assert not cal_set & set(sample["reduced"])
    print(f"evaluation sample: {len(sample)} ({strata(sample)}); correction {correction.describe()}, "
          f"e_hull_std {calibration['e_hull_std']}", flush=True)
    partial = RESULTS / f"{args.out}_partial.json"
    state = json.loads(partial.read_text()) if args.resume and partial.exists() else {}
    load_start = state.get("load_start", list(os.getloadavg()))
    t0 = time.perf_counter()
    if "prep" not in state:
        t = time.perf_counter()
        for e in sorted({e for f in sample["reduced"] for e in _elements(f)}):
            reference.chemical_potential(e)
        ref_seconds = time.perf_counter() - t
        oof, ml_seconds = composition_ml(gs, args.ml_budget, args.seed)
        ml_ef = dict(zip(gs["reduced"], oof, strict=True))
        eligible = eligible.assign(ml_e_hull=_hull(reference, eligible["reduced"], [ml_ef[f] for f in eligible["reduced"]]))
        outside = ~eligible["reduced"].isin(set(sample["reduced"]))
        ml_std, _ = sc.fit_std(eligible.loc[outside, "ml_e_hull"], eligible.loc[outside, "truth_stable"], THRESHOLD)
        print(f"references {ref_seconds:.0f} s, composition ML {ml_seconds:.0f} s (std {ml_std})", flush=True)
        energy, ef, dft_seconds = _dft_relax(sample, reference)
        ef_c = np.array([correction.apply(x, _fractions(f)) if np.isfinite(x) else np.nan
                         for f, x in zip(sample["reduced"], ef, strict=True)])
        state = {"load_start": load_start, "prep": {
            "ref_seconds": ref_seconds, "ml_seconds": ml_seconds, "ml_std": ml_std, "dft_seconds": dft_seconds,
            "ml_all": scores(eligible["truth_stable"].to_numpy(bool), eligible["ml_e_hull"].to_numpy(float) < THRESHOLD),
            "ml_e_hull": dict(zip(eligible["reduced"], eligible["ml_e_hull"].astype(float), strict=True)),
            "dft_energy": dict(zip(sample["reduced"], energy.astype(float), strict=True)),
            "dft_e_hull": dict(zip(sample["reduced"], _hull(reference, sample["reduced"], ef_c).astype(float), strict=True))},
            "rows": [], "pipeline_seconds": 0.0, "pipeline_cpu_seconds": 0.0}
        partial.write_text(json.dumps(state, default=float))
    done = {r["reduced"] for r in state["rows"]}
    order = sample["reduced"].iloc[np.random.default_rng(args.seed).permutation(len(sample))]
    todo = [f for f in order if f not in done]  # shuffled: a cut run is a random subset, not the first strata
    library = PrototypeLibrary.from_datasets() if todo else None
    for a in range(0, len(todo), args.chunk):
        chunk = todo[a:a + args.chunk]
        t, cpu = time.perf_counter(), time.process_time()
        found = validate_stability(chunk, top_k=len(chunk), max_ehull=THRESHOLD, structures_per_formula=args.structures,
                                   steps=args.steps, reference=reference, library=library, leave_out=True)
        state["pipeline_seconds"] += time.perf_counter() - t
        state["pipeline_cpu_seconds"] += time.process_time() - cpu
        state.setdefault("chunks", []).append({"n": len(chunk), "seconds": time.perf_counter() - t,
                                               "cpu_seconds": time.process_time() - cpu, "load": list(os.getloadavg())})
        cols = ["validation", "e_hull", "p_stable", "energy_per_atom", "formation_energy", "prototype", "relax_converged", "reason"]
        for f, rec in zip(chunk, found[cols].to_dict("records"), strict=True):
            state["rows"].append({"reduced": f, **rec})
        state["load_end"] = list(os.getloadavg())
        partial.write_text(json.dumps(state, default=float))
        report(sample, state, calibration, correction, eligible, args, torch.get_num_threads(),
               partial=len(state["rows"]) < len(sample))
        print(f"pipeline {len(state['rows'])}/{len(sample)} ({state['pipeline_seconds']:.0f} s, load "
              f"{os.getloadavg()[0]:.1f}, {time.perf_counter() - t0:.0f} s in this run)", flush=True)
    if not todo:  # everything done earlier: rewrite the report from the checkpoint (--resume)
        report(sample, state, calibration, correction, eligible, args, torch.get_num_threads(), partial=False)


def report(sample, state, calibration, correction, eligible, args, threads, partial: bool) -> None:
    """Score the finished rows and write the json and markdown results."""
    from matloop.design.relax import RELAX_THREADS
    from matloop.design.stability import p_below

    prep = state["prep"]
    rows = pd.DataFrame(state["rows"]).merge(sample[["reduced", "truth_e_hull", "truth_stable", "n_elements"]], on="reduced")
    std = float(calibration["e_hull_std"])  # CHGNet on the DFT structure; the pipeline's own when stored
    std_pipeline = float(calibration.get("e_hull_std_pipeline", std))
    rows["e_hull_raw"] = [e + correction.error(_fractions(f)) for f, e in zip(rows["reduced"], rows["e_hull"], strict=True)]
    rows["p_stable_raw"] = [p_below(e, std_pipeline, THRESHOLD) for e in rows["e_hull_raw"]]
    rows["dft_e_hull"] = rows["reduced"].map(prep["dft_e_hull"]).astype(float)
    rows["dft_p_stable"] = [p_below(e, std, THRESHOLD) for e in rows["dft_e_hull"]]
    rows["ml_e_hull"] = rows["reduced"].map(prep["ml_e_hull"]).astype(float)
    rows["ml_p_stable"] = [p_below(e, prep["ml_std"], THRESHOLD) for e in rows["ml_e_hull"]]
    rows["energy_gap"] = rows["energy_per_atom"].astype(float) - rows["reduced"].map(prep["dft_energy"]).astype(float)
    n = len(rows)
    timing = {"pipeline_seconds": state["pipeline_seconds"], "per_candidate_seconds": state["pipeline_seconds"] / n,
              "pipeline_cpu_seconds": state["pipeline_cpu_seconds"], "per_candidate_cpu_seconds": state["pipeline_cpu_seconds"] / n,
              "references_seconds": prep["ref_seconds"], "dft_structure_relax_seconds": prep["dft_seconds"],
              "dft_structure_per_compound_seconds": prep["dft_seconds"] / len(sample), "ml_seconds": prep["ml_seconds"],
              "load_average_start": state["load_start"], "load_average_end": state["load_end"],
              "cpu_count": os.cpu_count(), "torch_threads": threads, "relax_threads": RELAX_THREADS,
              "median_chunk_per_candidate_seconds": float(np.median([c["seconds"] / c["n"] for c in state["chunks"]]))
              if state.get("chunks") else None}
    out = {"threshold": THRESHOLD, "settings": vars(args), "eligible": len(eligible), "evaluation_planned": len(sample),
           "partial": partial, "strata": strata(rows), "calibration": calibration | {"compounds": len(calibration["compounds"])},
           "scores": evaluate(rows, THRESHOLD, args.bootstrap, args.seed), "p_cuts": p_threshold_table(rows),
           "composition_ml_all_eligible": prep["ml_all"], "ml_std": prep["ml_std"], "diagnosis": diagnosis(rows, THRESHOLD),
           "timing": timing, "statuses": rows["validation"].value_counts().to_dict(),
           "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"), "machine": platform.platform(),
           "rows": json.loads(rows.drop(columns=["reason"]).to_json(orient="records"))}
    (RESULTS / f"{args.out}.json").write_text(json.dumps(out, indent=1, default=float))
    (RESULTS / f"{args.out}.md").write_text(markdown(out, rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calibrate", type=int, default=0, help="fit and store the calibration on this many compounds")
    ap.add_argument("--cal-seed", type=int, default=1)
    ap.add_argument("--pipeline", type=int, default=0, help="evaluation compounds (through every method)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--structures", type=int, default=2, help="candidate structures per formula")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--max-sites", type=int, default=10)
    ap.add_argument("--ml-budget", type=float, default=10.0, help="AutoModel seconds per fold")
    ap.add_argument("--chunk", type=int, default=10, help="pipeline compounds between checkpoints")
    ap.add_argument("--resume", action="store_true", help="continue from results/<out>_partial.json")
    ap.add_argument("--bootstrap", type=int, default=2000)
    ap.add_argument("--out", default="stability")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    import matloop.datasets as datasets
    from matloop.design.relax import HullReference

    gs = ground_states(datasets.load("flla").frame)
    reference = HullReference.from_dataset()
    with_structure = set(reference.elemental)
    eligible = gs[(gs["n_elements"].isin([2, 3])) & (gs["nsites"] <= args.max_sites)
                  & gs["reduced"].map(lambda f: all(e in with_structure for e in _elements(f)))].copy()
    eligible["truth_e_hull"] = [reference.hull_distance(f, ef, leave_out=[f])[0] for f, ef in
                                zip(eligible["reduced"], eligible["formation_energy_per_atom"], strict=True)]
    eligible["truth_stable"] = eligible["truth_e_hull"] < THRESHOLD
    print(f"eligible: {len(eligible)} compounds ({strata(eligible)})", flush=True)
    RESULTS.mkdir(exist_ok=True)
    if args.calibrate:
        calibrate(eligible, reference, args)
    if args.pipeline:
        evaluate_run(gs, eligible, reference, args)


def _elements(formula: str) -> list[str]:
    return [e.symbol for e in _comp(formula).elements]


def _comp(formula: str):
    from pymatgen.core import Composition

    return Composition(formula)


if __name__ == "__main__":
    main()
