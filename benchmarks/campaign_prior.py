"""Prior knowledge in campaigns: ``--history`` against the cold start, and the cold-start design itself.

**History** (issue #17): on the two OER composition plates (``oer_plate_3496`` and
``oer_plate_3851``: 6 metal loadings each, minimise overpotential; they share Ni, Fe, Co, Mn), a
campaign on one plate with the other plate as ``--history`` against the same campaign without it.
Protocol: duplicate inputs averaged; batches of 5 chosen exactly as ``matloop suggest`` chooses them
(:func:`matloop.design.suggest.rank_candidates`, the default surrogate and batch method; with
history, :func:`matloop.design.history.apply_history` with its cross-validated safeguard), starting
from nothing measured (the cold start's space-filling batch, or the history-ranked first batch),
until 100 experiments. Arms:

- ``cold``: no history (space-filling first batch, then the default strategy);
- ``history``: the other plate as history, as shipped: the cold start's space-filling first batch,
  then the history model's prediction as an input of the surrogate (with the safeguard and its
  10 % margin);
- ``history (margin 0)``: the same with a strict safeguard (the method shipped before);
- ``history (history-ranked start)``, ``history (prior mean)``: the history model ranks the first
  batch, or is the surrogate's prior mean throughout;
- ``bad history``: the other plate with its overpotentials shuffled among its rows (history that
  knows nothing), to measure what the safeguard lets bad history cost (also with the
  history-ranked start);
- ``wrong history``: the other plate with its loading columns rotated (Ni's loadings called Fe, Fe's
  called Co, ...): a history with structure, attached to the wrong elements.

Seeds: 0-9 were used to choose the method (``campaign_prior_tuning.py``, results
``campaign_prior_tuning.json``); the shipped method is reported on seeds 10-25, not looked at
while choosing (``--first-seed 10 --seeds 16``). The runs of the method shipped before (seeds 0-3)
are kept in the JSON as ``history_previous`` and in the report as the previous state.

Metric: experiments until half of the plate's best 1 % is found (a run that never gets there counts
as budget + 1), experiments to the first best-1 % composition, and the fraction found after 100.

**Cold start**: the first batch of 8 chosen by :func:`matloop.design.coldstart.maximin_pool` (what
``suggest`` returns with nothing measured) against 8 random picks, on every bundled campaign set
(the Liang et al. process sets, the OER plates, redoxmers with its three goals), over many seeds:
the best value found (as a percentile of the pool: 0.02 = in the best 2 %) and how often the batch
holds a best-5 % candidate. For redoxmers each goal is scored alone and the three are averaged.

Results: ``results/campaign_prior.json`` (stored after every run; ``--reuse`` skips stored runs) and
``results/campaign_prior.md``.

usage: python benchmarks/campaign_prior.py [--part cold|history|all] [--seeds 4] [--first-seed 0] [--budget 100]
                                           [--arms cold history "bad history"] [--reuse] [--report-only]
held-out run: python benchmarks/campaign_prior.py --part history --first-seed 10 --seeds 16 --reuse \
                  --arms cold history "bad history" "history (margin 0)"
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from matloop.datasets import load  # noqa: E402
from matloop.design.acquisition import Objective  # noqa: E402
from matloop.design.coldstart import coverage_pool, maximin_pool  # noqa: E402
from matloop.design.history import HistoryPrior, apply_history  # noqa: E402
from matloop.design.suggest import rank_candidates  # noqa: E402
from matloop.design.surrogate import DEFAULT_SURROGATE, featurize  # noqa: E402
from matloop.io.dataset import Dataset  # noqa: E402

RESULTS = Path(__file__).parent / "results"
JSON_PATH = RESULTS / "campaign_prior.json"
MD_PATH = RESULTS / "campaign_prior.md"
TUNING_PATH = RESULTS / "campaign_prior_tuning.json"  # the runs seen while choosing the method (seeds 0-9)
PLATES = (("oer_plate_3496", "oer_plate_3851"), ("oer_plate_3851", "oer_plate_3496"))
COLD_SETS = ("liang_p3ht", "liang_agnp", "liang_crossed_barrel", "oer_plate_3496", "oer_plate_3851", "redoxmers")
TARGET = "overpotential"
ARMS = ("coverage", "maximin", "random")


def _averaged(name: str, targets: list[str] | None = None) -> tuple[pd.DataFrame, list[str], list[str], dict]:
    ds = load(name)
    targets = targets or list(ds.targets)
    params = [c for c in ds.frame.columns if c not in ds.targets]
    frame = ds.frame.groupby(params, as_index=False, sort=False)[targets].mean()
    return frame, params, targets, dict(ds.direction)


# ------------------------------------------------------------------------------------ history runs
def _arm_options(arm: str) -> dict:
    """``apply_history`` options of an arm: ``history`` (as shipped: the two-task GP), ``history (input)``
    (the history's prediction as a surrogate input, with the safeguard), ``history (history-ranked start)``,
    ``history (prior mean)``, ``history (margin M)`` (the input with the safeguard's margin M);
    ``bad history ...`` and ``wrong history ...`` alike."""
    tail = arm.split("(", 1)[1].rstrip(")") if "(" in arm else ""
    if tail == "prior mean":
        return {"use": "mean"}
    if tail == "history-ranked start":
        return {"rank_first_batch": True, "use": "feature"}
    if tail.startswith("margin "):
        return {"margin": float(tail.split()[1]), "use": "feature"}
    if tail == "input":  # the method shipped in sessions 20-27: the history's prediction as an input
        return {"use": "feature"}
    return {}


def history_run(camp: str, hist: str, arm: str, seed: int, budget: int, batch: int = 5) -> dict:
    """One simulated campaign; returns the experiment numbers at which best-1 % compositions were found."""
    frame, params, _, _ = _averaged(camp, [TARGET])
    y = frame[TARGET].to_numpy(dtype=float)
    X = frame[params].to_numpy(dtype=float)
    n_top = int(np.ceil(0.01 * len(y)))
    top = set(np.argsort(y)[:n_top].tolist())
    objective = Objective("min")
    prior = None
    if arm != "cold":
        hframe, _, _, _ = _averaged(hist, [TARGET])
        if arm.startswith("bad history"):
            hframe[TARGET] = np.random.default_rng(1000 + seed).permutation(hframe[TARGET].to_numpy())
        if arm.startswith("wrong history"):  # structure on the wrong elements: loading columns rotated
            cols = [c for c in hframe.columns if c != TARGET]
            hframe = hframe.rename(columns=dict(zip(cols, cols[1:] + cols[:1], strict=True)))
        prior = HistoryPrior(params, TARGET, seed).fit([(hframe, hist)])
    run = simulated_campaign(frame, X, y, top, objective, prior, seed, budget, batch, **_arm_options(arm))
    return {"found": run["found"], "n_top": n_top, "budget": budget, "history_used": run["history_used"],
            "seconds": run["seconds"]}


def simulated_campaign(frame: pd.DataFrame, X: np.ndarray, y: np.ndarray, top: set, objective: Objective, prior,
                       seed: int, budget: int, batch: int = 5, **options) -> dict:
    """Batches chosen as ``matloop suggest`` chooses them (``prior``: a fitted ``HistoryPrior`` or None; ``options``
    go to ``apply_history``) from nothing measured until ``budget``; the experiment numbers at which rows of
    ``top`` were found, whether the history was used in each round, each round's model name."""
    measured: list[int] = []
    found: list[int] = []
    used: list[bool] = []
    models: list[str] = []
    t0 = time.perf_counter()
    while len(measured) < budget:
        open_ = np.setdiff1d(np.arange(len(y)), measured)
        Xt, yt, Xc = X[measured], y[measured], X[open_]
        model, acq, method = DEFAULT_SURROGATE, None, "fantasy"
        if prior is not None:
            h = apply_history(prior, Xt, yt, frame.iloc[measured], Xc, frame.iloc[open_], model, acq, method,
                              objective, seed, **options)
            Xt, Xc, model, acq, method = h["X_train"], h["X_candidates"], h["model"], h["acquisition"], h["batch_method"]
            used.append(bool(h["used"]))
        k = min(batch, budget - len(measured))
        ranking = rank_candidates(Xt, yt, Xc, frame.iloc[open_], objective, k, acq, method, model, seed)
        models.append(ranking.model_name)
        for p in open_[ranking.chosen_positions]:
            measured.append(int(p))
            if int(p) in top:
                found.append(len(measured))
    return {"found": found, "history_used": used, "models": models, "seconds": round(time.perf_counter() - t0, 1)}


def _to_half(run: dict) -> int:
    need = (run["n_top"] + 1) // 2
    return run["found"][need - 1] if len(run["found"]) >= need else run["budget"] + 1


def _first(run: dict) -> int:
    return run["found"][0] if run["found"] else run["budget"] + 1


# ------------------------------------------------------------------------------------- cold start
def cold_set(name: str, seeds: int, k: int = 8) -> dict:
    """First batch of ``k``: maximin vs random, best-found percentile and P(a best-5 % candidate)."""
    frame, params, targets, direction = _averaged(name)
    ds = Dataset(frame=frame[params].assign(**{t: np.nan for t in targets}), input=None, kind="parameters",
                 targets=targets, parameters=params)
    X = featurize(ds).to_numpy(dtype=float)
    out = {"rows": len(frame), "goals": targets, **{arm: {"pct": [], "top5": []} for arm in ARMS}}
    pcts = {}
    for t in targets:
        signed = frame[t].to_numpy(dtype=float) * (-1 if direction.get(t, "max") == "max" else 1)
        pcts[t] = pd.Series(signed).rank(pct=True, method="min").to_numpy()  # 1/N = the best
    for seed in range(seeds):
        picks = {"coverage": coverage_pool(X, k, seed=seed), "maximin": maximin_pool(X, k, seed=seed),
                 "random": np.random.default_rng(10_000 + seed).choice(len(X), k, replace=False)}
        for arm, idx in picks.items():
            best = [float(pcts[t][idx].min()) for t in targets]
            out[arm]["pct"].append(float(np.mean(best)))
            out[arm]["top5"].append(float(np.mean([b <= 0.05 for b in best])))
    return out


# ------------------------------------------------------------------------------------------ report
def _store() -> dict:
    return json.loads(JSON_PATH.read_text()) if JSON_PATH.exists() else {"history": {}, "cold": {}}


def _save(store: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    JSON_PATH.write_text(json.dumps(store, indent=1))


HOW = ("Batches of 5 from nothing measured, 100 experiments; the plate's best 1 % (22 compositions). Experiments "
       "to half of them (budget + 1 = not reached), to the first, and the fraction found after 100; mean over "
       "seeds (the per-seed values in brackets).")
HELD_OUT_READING = [
    "**Verdict against the issue's target (>= 30 % fewer experiments than the cold start with the other plate "
    "as history): not met; closer on plate 3851.** Session 28 ships the two-task GP; session 29 adds two fixes "
    "found on other public pairs (`history_pairs.md`): campaign columns the history lacks reach the campaign's GP "
    "(none here: both plates are six element loadings), and a history whose learnt weight `a` falls below 0.25 "
    "is set aside for that suggestion (the cold start's surrogate). As shipped now (`history`), on the 16 "
    "held-out seeds: 16 % fewer experiments than the cold start on plate 3496 (52.8 vs 62.6, one standard error "
    "9 %) and 24 % fewer on plate 3851 (64.3 vs 85.1, ± 6 %); session 28's version (`history (session 28)`) -15 % "
    "and -25 %, the same runs on all but a few seeds (the weight rarely falls below 0.25 with the real history); "
    "the method shipped in sessions 20-27 (`history (input)`, the history's prediction as a surrogate input) "
    "-12 % and -11 %. \"Never worse on average than the cold start\", the controls: a history that knows nothing "
    "(`bad history`, values shuffled: its GP finds no structure, cross-validated R^2 0.00-0.04 against 0.71-0.78 "
    "for the real plates, so the history is an input with the cross-validated safeguard; these runs are those of "
    "sessions 20-27, identical run for run) -5 % and -17 %; a history with structure on the wrong elements "
    "(`wrong history`, the loading columns rotated) +6 % ± 11 % and +4 % ± 4 % (session 28: +3 % ± 8 % and "
    "-1 % ± 5 %; without the weight rule, with 0.1 and with 0.25 the rotated history cost between -1 % and +9 % "
    "on these seeds and between -11 % and +16 % on the tuning seeds 0-9, each within two standard errors of "
    "nothing: the rule was set by a loosely related pair, snar with benzylation's table, which it makes level). "
    "The method was chosen on seeds 0-9 (`history_two_task_probe.py` and the tuning table below). Machine: 2 cores, "
    "two runs at a time, one BLAS thread; a run of 100 experiments takes 7-12 s (the history GP's fit about 3 s "
    "of it).", ""]
TUNING_READING = [
    "Reading (the method was chosen on these seeds only): every variant that steers the search towards the "
    "history's best region did worse than the history as a surrogate input: the hedged first batch (-3 % and "
    "-0 %), the piBO weight (C = 10: -6 % and -11 %; C = 30: +13 % and +3 %), and the loadings-only history model "
    "(-8 % and -11 %). The history's single best prediction is at the 6th-9th percentile of the new plate and "
    "64-82 % of the plate's best 1 % lie in the history's best 10 %: it knows the region, not the optimum, and "
    "the campaign's own model soon knows more. The safeguard variants are within the noise of each other "
    "(no safeguard -28 % and -22 % on 6 seeds; 10 % margin -17 % and -14 %, strict -8 % and -14 % on 10 seeds); "
    "the 10 % margin was chosen because it did as well or better than the strict one on both plates and its "
    "shuffled-history control stayed below the cold start (-8 %, -20 %). Reproduce: "
    "`python benchmarks/campaign_prior_tuning.py --arms ... --seeds 0 1 2 3 4 5` (one arm name as in the table).", "",
    "Session 22, the `focus` arms (seeds 0-9, both plates; nothing shipped): the history's best 20 % of a plate "
    "holds 18 of plate 3496's 22 best and all 22 of plate 3851's (computed before these runs from both plates' "
    "values, so the arms' design saw the held-out plate's statistics, not its campaigns), so every batch was chosen inside the history's "
    "best `Q` of the plate (the shipped method otherwise). Against the shipped method on the same seeds (10 % "
    "margin: -17 % and -14 %): `focus 0.2` -21 % and -8 %, `focus 0.3` -17 % and -32 %, but their shuffled-history "
    "controls cost +37 % and +29 % on plate 3496 (a focus on a wrong fifth of the plate never finds half of the "
    "best 1 % in 5-6 of 10 seeds). With the focus only while the history's prediction ranks the campaign's own "
    "results alike (`focus 0.3 rho`, first batch over the whole plate) the shuffled control is safe (-4 %, -15 %) "
    "and the real history gives -15 % and -22 %: the shipped method's gain, not the target's 30 %. Finding the "
    "first best-1 % composition is what the plain focus speeds up (10-12 experiments against the shipped method's 13 "
    "and 29); finding half of "
    "them is not, because inside the history's best fifth its ranking is no better than the campaign's own model.",
    ""]
PREVIOUS_READING = [
    "Reading at the time (4 seeds per arm, so differences of 10-20 % are within the seed-to-seed spread): as "
    "shipped then (space-filling first batch, then the history model's prediction as a surrogate input, with the "
    "strict safeguard) the campaign needed fewer experiments than the cold start on both plates, short of the "
    "30 % target. The `bad history` control also did better than the cold start, as well as the real history on "
    "plate 3851. Letting the history rank the first batch found plate 3851's best compositions at experiment 2 "
    "in every seed (-46 %) but misled plate 3496's campaign (+45 %), so it is not the default. Other mechanisms "
    "tried then: `default_probes.md`.", ""]


def _history_table(hist: dict) -> list[str]:
    """The arms' table and each arm's change against the cold start (same seeds)."""
    lines = ["| campaign plate | history | arm | seeds | to half of best 1 % | to the first | found at 100 |"
             " history kept (share of batches) |", "|---|---|---|---|---|---|---|---|"]
    for key in sorted(hist):
        camp, hplate, arm = key.split("|")
        runs = [hist[key][s] for s in sorted(hist[key], key=int)]
        half = [_to_half(r) for r in runs]
        first = [_first(r) for r in runs]
        frac = [len(r["found"]) / r["n_top"] for r in runs]
        kept = [np.mean(r["history_used"]) for r in runs if r["history_used"]]
        seeds = sorted(map(int, hist[key]))
        lines.append(f"| {camp} | {hplate if arm != 'cold' else '-'} | {arm} | {len(runs)} ({seeds[0]}-{seeds[-1]}) | "
                     f"{np.mean(half):.1f} ({', '.join(map(str, half))}) | {np.mean(first):.1f} "
                     f"({', '.join(map(str, first))}) | {np.mean(frac):.0%} | "
                     f"{f'{np.mean(kept):.0%}' if kept else '-'} |")
    lines += ["", "Change against the cold start on the same seeds (mean experiments to half of the best 1 %; "
              "negative = fewer; ± one standard error of the paired per-seed differences, in % of the cold mean):", ""]
    for camp, _ in PLATES:
        cold = next((v for k, v in hist.items() if k.startswith(camp + "|") and k.endswith("|cold")), None)
        for key in sorted(k for k in hist if k.startswith(camp + "|") and not k.endswith("|cold")):
            seeds = [s for s in hist[key] if cold and s in cold]
            if not seeds:
                continue
            a = np.array([_to_half(hist[key][s]) for s in seeds], dtype=float)
            c = np.array([_to_half(cold[s]) for s in seeds], dtype=float)
            se = np.std(a - c, ddof=1) / np.sqrt(len(a)) / c.mean() if len(a) > 1 else float("nan")
            lines.append(f"- {camp}, {key.split('|')[2]}: {a.mean():.1f} vs {c.mean():.1f} "
                         f"({(a.mean() - c.mean()) / c.mean():+.0%} ± {se:.0%}, {len(a)} seeds)")
    return lines + [""]


def write_report(store: dict) -> None:
    lines = ["# Prior knowledge in campaigns: `--history` and the cold start", "",
             "Generated by `python benchmarks/campaign_prior.py` (protocol in its docstring). Runs stored in "
             "`campaign_prior.json`.", ""]
    hist = store.get("history", {})
    tuning = json.loads(TUNING_PATH.read_text()).get("history", {}) if TUNING_PATH.exists() else {}
    if hist:
        lines += ["## `--history`: held-out seeds (not looked at while choosing the method)", "",
                  "A campaign on one OER plate with the other plate as history. " + HOW, "",
                  "Arms: `cold` (no history), `history` (as shipped since session 28: space-filling first batch, "
                  "then the two-task GP, `matloop.design.history_gp`), `history (input)` (the method shipped in "
                  "sessions 20-27: the history model's prediction as a surrogate input, with the cross-validated "
                  "safeguard and its 10 % margin), `bad history` (the history's values shuffled: what a history that "
                  "knows nothing costs), `wrong history` (the history's loading columns rotated: structure on the "
                  "wrong elements), `history (margin 0)` (the input with a strict safeguard, shipped before "
                  "session 20). Command: `python benchmarks/campaign_prior.py --part history --first-seed 10 "
                  "--seeds 16 --reuse --arms cold history \"bad history\" \"wrong history\" \"history (input)\" "
                  "\"history (margin 0)\"`.", ""]
        lines += _history_table(hist)
        lines += HELD_OUT_READING
    if tuning:
        lines += ["## Tuning seeds 0-9 (seen while choosing; `campaign_prior_tuning.json`)", "", HOW, "",
                  "`history` is the two-task GP shipped since session 28 (its probe arms are in "
                  "`history_two_task_probe.md`); the other arms vary the history as an input (sessions 20-27): "
                  "`history (margin 0)` is the method shipped before (strict safeguard); `(margin 0.1)` the one "
                  "chosen; `(nosafe)` no safeguard; `(hedged start)` 2 of the 5 first picks the history's best "
                  "predictions (spread over its best 2 %), 3 space-filling; `(pibo C)` the acquisition times "
                  "`pi(x) ** (C / n)` (piBO), `log pi` the history's standardised prediction; `(loadings prior)` "
                  "the history model on element loadings alone (no element properties). Seeds 0-5 for all arms, "
                  "0-9 for `cold`, `(margin 0)` and `(margin 0.1)`.", ""]
        lines += _history_table(tuning)
        lines += TUNING_READING
    previous = store.get("history_previous", {})
    if previous:
        lines += ["## Previous state (the method shipped before, seeds 0-3, 4 seeds per arm)", "", HOW, "",
                  "`history` here is the strict safeguard (`history (margin 0)` above).", ""]
        lines += _history_table(previous)
        lines += PREVIOUS_READING
    cold = store.get("cold", {})
    if cold:
        lines += ["## Cold start: the first batch of 8, space-filling vs random", "",
                  "`coverage` (the default: candidates nearest the centres of 8 k-means clusters), `maximin` (greedy "
                  "maximin distance) and 8 random picks. Best value in the batch as a percentile of the pool (lower "
                  "is better; 0.02 = in the best 2 %; 8 random picks average about 1/9), mean over seeds, and the "
                  "share of batches holding a best-5 % candidate. Redoxmers: each of its three goals scored alone, "
                  "averaged.", "",
                  "| set | rows | seeds | " + " | ".join(f"{a}: best percentile" for a in ARMS) + " | "
                  + " | ".join(f"{a}: has a best-5 %" for a in ARMS) + " |", "|---|---|---|" + "---|" * 6]
        for name, r in cold.items():
            lines.append(f"| {name} | {r['rows']} | {len(r['random']['pct'])} | "
                         + " | ".join(f"{np.mean(r[a]['pct']):.3f}" for a in ARMS) + " | "
                         + " | ".join(f"{np.mean(r[a]['top5']):.0%}" for a in ARMS) + " |")
        means = {a: np.mean([np.mean(r[a]["pct"]) for r in cold.values()]) for a in ARMS}
        lines += ["", "Mean over the sets: " + ", ".join(f"{a} {v:.3f}" for a, v in means.items())
                  + ". A space-filling batch is chosen to teach the model the whole pool, not to hit the best "
                  "candidate; on best-of-8 the coverage design is about level with random picks and maximin "
                  "(corners and edges: pure compositions, extreme settings) is worse, which is why coverage is "
                  "the default.", ""]
    MD_PATH.write_text("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=("cold", "history", "all"), default="all")
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--cold-seeds", type=int, default=100)
    ap.add_argument("--budget", type=int, default=100)
    ap.add_argument("--arms", nargs="+", default=["cold", "history", "bad history"])
    ap.add_argument("--plates", nargs="+", default=[p[0] for p in PLATES])
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args()
    store = _store()
    if not args.report_only:
        if args.part in ("cold", "all"):
            for name in COLD_SETS:
                store["cold"][name] = cold_set(name, args.cold_seeds)
                _save(store)
                print(f"cold start {name}: done", flush=True)
        if args.part in ("history", "all"):
            for seed in range(args.first_seed, args.first_seed + args.seeds):  # seeds outermost: balanced if cut short
                for camp, hplate in PLATES:
                    if camp not in args.plates:
                        continue
                    for arm in args.arms:
                        key = f"{camp}|{hplate}|{arm}"
                        store = _store()  # other processes may have stored runs meanwhile
                        if args.reuse and str(seed) in store["history"].get(key, {}):
                            continue
                        run = history_run(camp, hplate, arm, seed, args.budget)
                        store = _store()
                        store["history"].setdefault(key, {})[str(seed)] = run
                        _save(store)
                        print(f"{key} seed {seed}: half at {_to_half(run)}, first at {_first(run)}, "
                              f"{len(run['found'])}/{run['n_top']} ({run['seconds']} s)", flush=True)
    write_report(store)
    print(f"wrote {MD_PATH}")


if __name__ == "__main__":
    main()
