"""Inverse design of molecules: iQSPR's SMC (n-gram language model) and the graph GA.

Part 1, ESOL solubility windows (logS in [-2, -1] and in [-6, -5]). ESOL (1,128 molecules) is split
at random into halves A and B. The generators' forward model is matloop's random forest with
uncertainty on the default molecule features, trained on half A; the language model sees half A
plus FreeSolv (never half B); the GA starts from half A. Each generator returns 100 molecules.
They are judged by models that never saw half A:

* judge RF: the same model class trained on half B (independent data);
* judge linear: a Delaney-type (ESOL) linear model, logS ~ Crippen logP + MW + rotatable bonds +
  aromatic proportion, least-squares fitted on half B (a different model class).

Reported: hit rate (share of returned molecules whose judged mean logS is in the window; also by
the generator's own model), validity (RDKit-valid share of the strings/graphs the generator made),
uniqueness and novelty of the returned molecules (by construction 1, checked), novelty against all
of ESOL and FreeSolv, diversity (mean pairwise Tanimoto distance, Morgan radius 2, 2048 bits), the
share in the judge's domain (nearest half-B similarity >= 0.4), evaluations and time. Baselines:
half A's own molecules (measured and judged) and 1,000 unconditioned samples of the language model
(the prior), judged the same way.

Part 2, GuacaMol goal-directed tasks that need no external data (Brown et al. 2019): Celecoxib and
Troglitazone rediscovery, C11H24 and C9H10N2O2PF2Cl isomers, Median molecules 1, Osimertinib MPO,
plus a QED x logP-window objective (not a GuacaMol task). Both generators start from ESOL + FreeSolv
(1,770 small molecules) with a budget of about 4,000 scored molecules per task, and are scored with
GuacaMol's aggregation, beside the Graph GA score published in the paper's Table 2. Those runs are
not comparable in budget or start: GuacaMol's Graph GA ran up to 1,000 generations of 200 children
(200,000 molecules) from the best 100 of 1.6 million ChEMBL molecules.

    .venv/bin/python benchmarks/molecular_design.py            # full run (11 min on 2 shared cores)
    .venv/bin/python benchmarks/molecular_design.py --quick    # smoke test

Writes ``benchmarks/results/molecular_design.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
LOGS = "measured log solubility in mols per litre"
WINDOWS = ((-2.0, -1.0), (-6.0, -5.0))


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --------------------------------------------------------------------------- judges
def delaney_features(smiles: list[str]) -> np.ndarray:
    """Crippen logP, molecular weight, rotatable bonds, aromatic proportion (Delaney 2004's inputs)."""
    from rdkit.Chem import Crippen, Descriptors

    from matloop.design.molecules.chem import to_mol

    rows = []
    for s in smiles:
        mol = to_mol(s)
        aromatic = sum(a.GetIsAromatic() for a in mol.GetAtoms()) / max(mol.GetNumHeavyAtoms(), 1)
        rows.append([Crippen.MolLogP(mol), Descriptors.MolWt(mol), Descriptors.NumRotatableBonds(mol), aromatic])
    return np.array(rows)


class LinearJudge:
    """Delaney-type linear logS model fitted by least squares."""

    def fit(self, smiles: list[str], y: np.ndarray) -> LinearJudge:
        X = np.column_stack([np.ones(len(smiles)), delaney_features(smiles)])
        self.coef_, *_ = np.linalg.lstsq(X, y, rcond=None)
        self.rmse_ = float(np.sqrt(np.mean((X @ self.coef_ - y) ** 2)))
        return self

    def predict(self, smiles: list[str]) -> np.ndarray:
        return np.column_stack([np.ones(len(smiles)), delaney_features(smiles)]) @ self.coef_


def in_window(values: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    return (values >= window[0]) & (values <= window[1])


# --------------------------------------------------------------------------- part 1
def solubility(args) -> dict:
    from matloop.datasets import load
    from matloop.design.molecules import NGramModel, PropertyPredictor, design_molecules, generation_metrics
    from matloop.design.molecules.api import bundled_corpus
    from matloop.design.molecules.chem import canonical_or_none, fingerprint_matrix, nearest_similarity

    frame = load("esol").frame[["smiles", LOGS]].copy()
    frame["smiles"] = [canonical_or_none(s.strip()) for s in frame["smiles"]]
    rng = np.random.default_rng(0)
    order = rng.permutation(len(frame))
    half_a = frame.iloc[order[: len(frame) // 2]].reset_index(drop=True)
    half_b = frame.iloc[order[len(frame) // 2:]].reset_index(drop=True)
    freesolv = [canonical_or_none(s) for s in load("freesolv").frame["smiles"]]
    everything = set(bundled_corpus())
    corpus = list(half_a["smiles"]) + [s for s in freesolv if s is not None]

    t0 = time.perf_counter()
    model = PropertyPredictor.train(half_a["smiles"].tolist(), half_a[[LOGS]], random_state=0)
    judge_rf = PropertyPredictor.train(half_b["smiles"].tolist(), half_b[[LOGS]], random_state=1)
    judge_lin = LinearJudge().fit(half_b["smiles"].tolist(), half_b[LOGS].to_numpy())
    lm = NGramModel(random_state=0).fit(corpus)
    setup_s = time.perf_counter() - t0
    log(f"models and language model ready in {setup_s:.0f} s (linear judge rmse on half B {judge_lin.rmse_:.2f})")
    # held-out accuracy of the generator's model on half B, for context
    mean_b, std_b = model.predict(half_b["smiles"].tolist())
    model_rmse = float(np.sqrt(np.mean((mean_b[:, 0] - half_b[LOGS].to_numpy()) ** 2)))
    fp_b = fingerprint_matrix(half_b["smiles"])

    def judge(smiles: list[str]) -> dict:
        rf = judge_rf.predict(smiles)[0][:, 0]
        lin = judge_lin.predict(smiles)
        sim, _ = nearest_similarity(fingerprint_matrix(smiles), fp_b)
        return {"rf": rf, "lin": lin, "judge_domain": sim >= 0.4}

    prior = [s for s in (canonical_or_none(x) for x in lm.sample(args.prior_samples, random_state=0)) if s]
    prior_metrics = generation_metrics(lm.sample(args.prior_samples, random_state=0), corpus)
    prior_judged = judge(list(dict.fromkeys(prior)))
    rows = []
    for window in WINDOWS:
        y_a = half_a[LOGS].to_numpy()
        judged_a = judge(half_a["smiles"].tolist())
        rows.append({"window": list(window), "method": "half A molecules (training set)", "n": len(half_a),
                     "hit_measured": float(in_window(y_a, window).mean()),
                     "hit_judge_rf": float(in_window(judged_a["rf"], window).mean()),
                     "hit_judge_linear": float(in_window(judged_a["lin"], window).mean())})
        rows.append({"window": list(window), "method": "language-model samples (prior)",
                     "n": len(prior_judged["rf"]),
                     "hit_judge_rf": float(in_window(prior_judged["rf"], window).mean()),
                     "hit_judge_linear": float(in_window(prior_judged["lin"], window).mean()),
                     "judge_domain": float(prior_judged["judge_domain"].mean())})
        for generator in ("smc", "ga"):
            log(f"window {window}: {generator}")
            t1 = time.perf_counter()
            evaluated = model.n_predicted
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = design_molecules(half_a, "smiles", {LOGS: window}, n=args.n, generator=generator,
                                       model=model, ngram=lm, seed=0, steps=args.smc_steps if generator == "smc"
                                       else args.ga_generations, population=args.population)
            seconds = time.perf_counter() - t1
            smiles = out["smiles"].tolist()
            judged = judge(smiles)
            trace = pd.DataFrame(out.attrs["design"]["trace"])
            validity = float(trace["proposal_validity"].mean()) if generator == "smc" else \
                float((trace["valid_children"] * trace["children"]).sum() / trace["children"].sum())
            metrics = generation_metrics(smiles, half_a["smiles"])
            rows.append({
                "window": list(window), "method": {"smc": "SMC (iQSPR, n-gram)", "ga": "graph GA"}[generator],
                "n": len(out), "hit_model": float(out["in_window"].mean()),
                "hit_judge_rf": float(in_window(judged["rf"], window).mean()),
                "hit_judge_linear": float(in_window(judged["lin"], window).mean()),
                "validity": validity, "uniqueness": metrics["uniqueness"], "novelty_vs_train": metrics["novelty"],
                "novelty_vs_esol_freesolv": float(np.mean([s not in everything for s in smiles])),
                "diversity": metrics["diversity"], "model_domain": float(out["in_domain"].mean()),
                "judge_domain": float(judged["judge_domain"].mean()),
                "mean_likelihood": float(out["likelihood"].mean()),
                "evaluations": int(out.attrs["design"]["n_evaluated"]),
                "new_predictions": int(model.n_predicted - evaluated), "seconds": seconds,
                "examples": smiles[:5],
            })
            log(f"  judge-RF hit rate {rows[-1]['hit_judge_rf']:.2f}, model {rows[-1]['hit_model']:.2f}, "
                f"{seconds:.0f} s")
    return {"rows": rows, "setup_seconds": setup_s, "model_rmse_half_b": model_rmse,
            "judge_linear_rmse_half_b": judge_lin.rmse_, "prior_metrics": prior_metrics,
            "n_half_a": len(half_a), "n_half_b": len(half_b)}


# --------------------------------------------------------------------------- part 2
def guacamol(args) -> list[dict]:
    from matloop.design.molecules import GUACAMOL_TASKS, NGramModel, graph_ga, guacamol_score, smc_sample
    from matloop.design.molecules.api import bundled_corpus

    seeds = bundled_corpus()
    lm = NGramModel(random_state=0).fit(seeds)
    rows = []
    for name, (factory, top, published) in GUACAMOL_TASKS.items():
        objective = factory()
        start_score = guacamol_score(objective(seeds), top)
        t0 = time.perf_counter()
        ga = graph_ga(objective, seeds, population_size=100, offspring_size=200, generations=args.ga_guacamol,
                      average_size=39.15, size_std=3.5, random_state=0)
        ga_seconds = time.perf_counter() - t0

        def loglik(smiles, objective=objective):
            return args.sharpness * np.log(np.maximum(objective(smiles), 1e-6))

        t0 = time.perf_counter()
        smc = smc_sample(loglik, lm, seeds, n_particles=100, steps=args.smc_guacamol, random_state=0)
        smc_seconds = time.perf_counter() - t0
        smc_scores = objective(smc.molecules["smiles"].tolist())
        row = {"task": name, "top_k": list(top), "published_graph_ga": published, "best_of_start": start_score,
               "ga": guacamol_score(ga.molecules["score"], top), "ga_scored": len(ga.molecules),
               "ga_seconds": ga_seconds,
               "ga_best": ga.molecules.sort_values("score", ascending=False)["smiles"].iloc[0],
               "smc": guacamol_score(smc_scores, top), "smc_scored": len(smc.molecules), "smc_seconds": smc_seconds,
               "smc_best": smc.molecules["smiles"].iloc[int(np.argmax(smc_scores))]}
        rows.append(row)
        log(f"{name}: start {start_score:.3f}, GA {row['ga']:.3f} ({ga_seconds:.0f} s), "
            f"SMC {row['smc']:.3f} ({smc_seconds:.0f} s), published Graph GA {published}")
    return rows


# --------------------------------------------------------------------------- report
def fmt(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown(result: dict) -> str:
    sol, env = result["solubility"], result["environment"]
    lines = [
        "# Inverse design of molecules", "",
        f"Generated by `benchmarks/molecular_design.py` on {env['date']} ({env['machine']}, {env['cpus']} CPUs, "
        f"load average {env['load']}), total {result['total_seconds'] / 60:.1f} min. "
        f"Settings: {json.dumps(result['settings'])}.", "",
        "## ESOL solubility windows", "",
        f"ESOL split at random into half A ({sol['n_half_a']}, training) and half B ({sol['n_half_b']}, judges). "
        f"Generator model: random forest with uncertainty on default molecule features, held-out RMSE on half B "
        f"{sol['model_rmse_half_b']:.2f} log units. Judges: the same model class trained on half B (judge RF) and a "
        f"Delaney-type linear model fitted on half B (RMSE on half B {sol['judge_linear_rmse_half_b']:.2f}). "
        "Hit rate = share of molecules whose judged mean logS is inside the window.", "",
        "| window | method | n | hit (own model) | hit (judge RF) | hit (judge linear) | validity | uniqueness "
        "| novelty vs train | novelty vs ESOL+FreeSolv | diversity | in judge's domain | evaluations | time (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sol["rows"]:
        own = fmt(r.get("hit_model")) if "hit_model" in r else fmt(r.get("hit_measured")) + " (measured)" \
            if "hit_measured" in r else "-"
        lines.append(f"| [{r['window'][0]:g}, {r['window'][1]:g}] | {r['method']} | {r['n']} | {own} | "
                     f"{fmt(r.get('hit_judge_rf'))} | {fmt(r.get('hit_judge_linear'))} | {fmt(r.get('validity'))} | "
                     f"{fmt(r.get('uniqueness'))} | {fmt(r.get('novelty_vs_train'))} | "
                     f"{fmt(r.get('novelty_vs_esol_freesolv'))} | {fmt(r.get('diversity'))} | "
                     f"{fmt(r.get('judge_domain'))} | {r.get('evaluations', '-')} | {fmt(r.get('seconds'), 0)} |")
    pm = sol["prior_metrics"]
    lines += ["", f"Language model alone (1,000 unconditioned samples, trained on half A + FreeSolv): validity "
              f"{pm['validity']:.3f}, uniqueness {pm['uniqueness']:.3f}, novelty {pm['novelty']:.3f}, "
              f"diversity {pm['diversity']:.3f}.", ""]
    lines += ["Examples (first five returned molecules):", ""]
    for r in sol["rows"]:
        if "examples" in r:
            lines.append(f"- [{r['window'][0]:g}, {r['window'][1]:g}] {r['method']}: "
                         + ", ".join(f"`{s}`" for s in r["examples"]))
    lines += ["", "Reading the table:", ""]
    for window in WINDOWS:
        rows = {r["method"]: r for r in sol["rows"] if tuple(r["window"]) == window}
        base = rows["half A molecules (training set)"]["hit_judge_rf"]
        for name in ("SMC (iQSPR, n-gram)", "graph GA"):
            r = rows.get(name)
            if r is None:
                continue
            lines.append(f"- [{window[0]:g}, {window[1]:g}] {name}: {r['hit_judge_rf']:.0%} of the molecules are in the "
                         f"window by the independent judge RF, against {base:.0%} of the training molecules "
                         f"({r['hit_judge_rf'] / max(base, 1e-9):.1f}x); own model {r['hit_model']:.0%}, "
                         f"linear judge {r['hit_judge_linear']:.0%}, {r['judge_domain']:.0%} within the judge's domain.")
    lines += [
        "- The own-model hit rate is what the generator optimised; the gap to the judges is the share that "
        "rests on the training model's errors or on extrapolation. Few molecules for the [-6, -5] window are "
        "within 0.4 Tanimoto of any half-B molecule, so both judges extrapolate there too: treat those hit "
        "rates as indicative, and use the `in_domain` flag of `design_molecules` when choosing molecules.",
        "- Validity: SMC = RDKit-valid share of the strings the language model grew (grammar and valence "
        "masks); GA = share of children that sanitize (graph operations: valid by construction). Uniqueness "
        "and novelty against the training half are 1 by construction of the output (checked); novelty against "
        "all of ESOL + FreeSolv counts molecules also absent from the half the generators never saw.",
        f"- Times are wall-clock on a shared machine (load average {env['load']} on {env['cpus']} CPUs); "
        "featurizing new molecules with all RDKit descriptors dominates the solubility runs.",
    ]
    lines += ["", "## GuacaMol-style goal-directed tasks", "",
              "Score = GuacaMol's aggregate (rediscovery: best score; isomers: mean of the top 159 / 250; others: "
              "mean of the top-1, top-10 and top-100 means). *Published* = Graph GA in Brown et al. 2019, "
              "Table 2. **Not comparable in budget or start**: the published runs scored up to 200,000 "
              "molecules starting from the best 100 of 1.6 M ChEMBL molecules; ours score about "
              f"{result['settings']['ga_guacamol'] * 200:,} (GA) and {result['settings']['smc_guacamol'] * 100:,} "
              "(SMC) starting from 1,770 small ESOL/FreeSolv molecules. *Start* = the same aggregate over the "
              "starting molecules.", "",
              "| task | start | graph GA (ours) | SMC (ours) | published Graph GA | GA time (s) | SMC time (s) |",
              "|---|---|---|---|---|---|---|"]
    for r in result["guacamol"]:
        lines.append(f"| {r['task']} | {r['best_of_start']:.3f} | {r['ga']:.3f} | {r['smc']:.3f} | "
                     f"{fmt(r['published_graph_ga'], 3)} | {r['ga_seconds']:.0f} | {r['smc_seconds']:.0f} |")
    tasks = result["guacamol"]
    if tasks:
        improved = [r["task"] for r in tasks if min(r["ga"], r["smc"]) > r["best_of_start"]]
        close = [r["task"] for r in tasks if r["published_graph_ga"] and max(r["ga"], r["smc"]) >= 0.95 * r["published_graph_ga"]]
        ga_wins = sum(r["ga"] > r["smc"] for r in tasks)
        lines += ["", f"- Both generators improved on the starting molecules in {len(improved)} of {len(tasks)} tasks; "
                  f"the graph GA scored higher than the SMC in {ga_wins} of {len(tasks)}. Within 5% of the published "
                  f"Graph GA score: {', '.join(close) or 'none'}. The SMC's language model learned from ~1,700 "
                  "small molecules, so drug-sized targets lie far from its prior, and both generators started "
                  "from molecules much less similar to the targets than GuacaMol's ChEMBL start."]
    lines += ["", "Best molecules found:", ""]
    lines += [f"- {r['task']}: GA `{r['ga_best']}`; SMC `{r['smc_best']}`" for r in result["guacamol"]]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny budgets (smoke test)")
    parser.add_argument("--skip-guacamol", action="store_true")
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite the .md from the saved .json without running anything")
    args = parser.parse_args()
    if args.report_only:
        result = json.loads((RESULTS / "molecular_design.json").read_text())
        (RESULTS / "molecular_design.md").write_text(markdown(result))
        print(markdown(result))
        return 0
    budgets = dict(n=100, population=100, smc_steps=30, ga_generations=15, prior_samples=1000, ga_guacamol=20,
                   smc_guacamol=40, sharpness=20.0)
    if args.quick:
        budgets.update(n=10, population=20, smc_steps=3, ga_generations=2, prior_samples=100, ga_guacamol=2,
                       smc_guacamol=3)
    for key, value in budgets.items():
        setattr(args, key, value)
    sys.path.insert(0, str(HERE.parent / "src"))
    start = time.perf_counter()
    result = {"settings": budgets, "solubility": solubility(args)}
    result["guacamol"] = [] if args.skip_guacamol else guacamol(args)
    result["total_seconds"] = time.perf_counter() - start
    result["environment"] = {"date": time.strftime("%Y-%m-%d"), "machine": platform.platform(),
                             "cpus": os.cpu_count(), "load": " ".join(f"{x:.1f}" for x in os.getloadavg()),
                             "python": platform.python_version()}
    if not args.quick:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "molecular_design.json").write_text(json.dumps(result, indent=2, default=float))
        (RESULTS / "molecular_design.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
