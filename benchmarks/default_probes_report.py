"""The report of ``default_probes.py``: tables of ``results/default_probes.json`` and the reading
(``results/default_probes_notes.md``) into ``results/default_probes.md``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def _mean_se(values) -> str:
    v = np.asarray(values, dtype=float)
    se = v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0.0
    return f"{v.mean():.1f} ± {se:.1f}"


def _to(curve, level: float, budget: int):
    hit = np.flatnonzero(np.asarray(curve) >= level - 1e-12)
    return int(hit[0] + 1) if len(hit) else f">{budget}"


def write_md(store: dict, notes: str, results: Path) -> str:
    import campaign_prior as cp

    lines = ["# Probes behind #17's benchmark targets (what was tried, on which sets and seeds)", "",
             "Made by `benchmarks/default_probes.py` (protocol in its docstring; raw runs in "
             "`default_probes.json`). TUNING = sets/seeds candidates were chosen on; HELD-OUT = run only after.", ""]
    if store.get("batch"):
        lines += ["## Compositions (target a): candidates on the tuning plate oer_plate_3496", "",
                  "Top% @100: share of the plate's best 1 % (22) found after 100 experiments, mean ± standard "
                  "error over seeds (2 random initial experiments, as `batch_penalty.py`).", "",
                  "| candidate | k | seeds | Top% @100 | per seed |", "|---|---|---|---|---|"]
        for key, runs in store["batch"].items():
            _, name, k = key.split("|")
            vals = [100 * runs[s] for s in sorted(runs, key=int)]
            lines.append(f"| {name} | {k} | {','.join(sorted(runs, key=int))} | {_mean_se(vals)} % | "
                         f"{', '.join(f'{v:.0f}' for v in vals)} |")
        lines.append("")
    if store.get("batch2"):
        lines += _batch2_lines(store["batch2"])
        lines += _paired_lines(store["batch2"])
    if store.get("plates"):
        lines += ["## Compositions: the surrogates on both plates (diagnosis only, nothing chosen on it)", "",
                  "Fitted to 50 random compositions; metrics on the rest, mean over seeds. `RMSE best 5 %`: on the "
                  "plate's best 5 %, in units of the plate's std; `sd`: median predicted std / plate std; "
                  "`top 1 % in log-EI's 50`: of the 22 best, how many log-EI ranks among its first 50.", "",
                  "| plate | surrogate | seeds | Spearman | RMSE best 5 % | NLL | sd | top 1 % in log-EI's 50 |",
                  "|---|---|---|---|---|---|---|---|"]
        for key, runs in store["plates"].items():
            plate, m = key.split("|")
            r = list(runs.values())
            mean = {f: np.mean([x[f] for x in r]) for f in r[0]}
            lines.append(f"| {plate} | {m} | {len(r)} | {mean['spearman']:.3f} | {mean['rmse_top5']:.3f} | "
                         f"{mean['nll']:.3f} | {mean['median_sd']:.3f} | {mean['top1_in_acq50']:.1f} |")
        lines.append("")
    if store.get("history"):
        shipped: dict = {}
        for path in (cp.TUNING_PATH, cp.JSON_PATH):  # seeds 0-9 (tuning) and 10-25 (held-out)
            for key, runs in (json.loads(path.read_text()).get("history", {}) if path.exists() else {}).items():
                shipped.setdefault(key, {}).update(runs)
        lines += ["## History (target b): arms on the tuning direction (campaign oer_plate_3496, history "
                  "oer_plate_3851)", "",
                  "Experiments to half of the plate's best 1 % (101 = not within 100), batches of 5. `cold`, "
                  "`history` and `bad history` are the shipped arms of `campaign_prior.json` (held-out seeds "
                  "10-25); 'vs cold' compares with the cold start on the arm's own seeds "
                  "(`campaign_prior_tuning.json` holds the cold runs of seeds 0-9).", "",
                  "| arm | seeds | to half (mean) | per seed | vs cold (same seeds) |", "|---|---|---|---|---|"]
        cold = shipped.get("oer_plate_3496|oer_plate_3851|cold", {})  # every seed, for the pairing
        rows = {a: {s: r for s, r in shipped.get(f"oer_plate_3496|oer_plate_3851|{a}", {}).items() if int(s) >= 10}
                for a in ("cold", "history", "bad history")}  # the shipped arms: held-out seeds only
        rows.update({key.split("|", 1)[1]: runs for key, runs in store["history"].items()})
        for arm, runs in rows.items():
            if not runs:
                continue
            half = {s: cp._to_half(runs[s]) for s in sorted(runs, key=int)}
            paired = [s for s in half if s in cold]
            base = np.mean([cp._to_half(cold[s]) for s in paired]) if paired else None
            vs = f"{100 * (np.mean([half[s] for s in paired]) / base - 1):+.0f} %" if base and arm != "cold" else ""
            lines.append(f"| {arm} | {','.join(half)} | {np.mean(list(half.values())):.1f} | "
                         f"{', '.join(map(str, half.values()))} | {vs} |")
        lines += [""] if store.get("history_knowledge") else []
        for arm, runs in store.get("history_knowledge", {}).items():
            r = runs["0"]
            within = "; of them in its best " + ", ".join(f"{100 * float(q):g} %: {n}" for q, n in
                                                         r["best1_within"].items()) if "best1_within" in r else ""
            lines.append(f"- {arm} history: Spearman {r['spearman']:.2f} between its prediction and the campaign "
                         f"plate; percentiles of the plate's best 1 % under it: "
                         f"{', '.join(f'{v:g}' for v in r['best1_percentiles_under_h'])}{within}")
        lines.append("")
    if store.get("multi_models"):
        lines += ["## Several goals: each goal's surrogate from 30 random rows (diagnosis)", "",
                  "Held-out RMSE / std and NLL in units of the goal's std (lower is better), share of held-out "
                  "values within one predicted std (0.68 if calibrated); mean over seeds and goals.", "",
                  "| set | surrogate | seeds | RMSE/std | NLL | within 1 std |", "|---|---|---|---|---|---|"]
        groups: dict = {}
        seeds_of: dict = {}
        for key, runs in store["multi_models"].items():
            name, _, m = key.split("|")
            groups.setdefault((name, m), []).extend(runs.values())
            seeds_of[(name, m)] = sorted(runs, key=int)
        for (name, m), r in groups.items():
            lines.append(f"| {name} | {m} | {','.join(seeds_of[(name, m)])} | {np.mean([x['rmse'] for x in r]):.3f} | "
                         f"{np.mean([x['nll'] for x in r]):.3f} | {np.mean([x['cover68'] for x in r]):.2f} |")
        lines.append("")
    if store.get("multi"):
        lines += ["## Several goals (target c): EHVI variants and BoTorch qLogNEHVI, batch 4", "",
                  "Fraction of the pool's hypervolume (reference 10 % of the pool's range below its worst value), "
                  "5 random initial experiments; mean curve over the listed seeds; `to 90 %`: first n where the "
                  "mean curve reaches 0.9.", "",
                  "| split | set | strategy | seeds | n=20 | n=30 | n=40 | n=60 | n=100 | n=160 | n=200 | to 90 % (mean curve) "
                  "| per seed to 90 % |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for key, runs in store["multi"].items():
            split, label, batch, strategy = key.split("|")
            seeds = sorted(runs, key=int)
            budget = min(len(runs[s]) for s in seeds)
            C = np.array([runs[s][:budget] for s in seeds])
            mean = C.mean(axis=0)
            at = [f"{mean[n - 1]:.3f}" if n <= budget else "-" for n in (20, 30, 40, 60, 100, 160, 200)]
            lines.append(f"| {split} | {label} | {strategy} | {','.join(seeds)} | {' | '.join(at)} | "
                         f"{_to(mean, 0.9, budget)} | {', '.join(str(_to(c, 0.9, budget)) for c in C)} |")
        lines += ["", *_multi_paired_lines(store["multi"]), ""]
    text = "\n".join(lines) + notes
    (results / "default_probes.md").write_text(text)
    return text


def _multi_paired_lines(runs_by_key: dict) -> list[str]:
    """Our default (``ehvi``) against BoTorch qLogNEHVI on the seeds both ran, per set and budget: experiments
    to 90 % of the pool's hypervolume (budget + 1 when never reached) and the hypervolume share at the end."""
    from batch_penalty import experiments_to

    lines = []
    for key, ours in runs_by_key.items():
        split, label, batch, strategy = key.split("|")
        peer = runs_by_key.get(f"{split}|{label}|{batch}|botorch")
        seeds = sorted(set(ours) & set(peer or {}), key=int)
        if strategy != "ehvi" or len(seeds) < 2:
            continue
        budget = min(len(r[s]) for r in (ours, peer) for s in seeds)
        n90 = np.array([[experiments_to(r[s][:budget], 0.9) for s in seeds] for r in (ours, peer)])
        end = np.array([[r[s][budget - 1] for s in seeds] for r in (ours, peer)])
        lines.append(f"- {split} {label}, {batch}, {len(seeds)} seeds ({','.join(seeds)}), to {budget} experiments: "
                     f"to 90 % ours {n90[0].mean():.1f} vs BoTorch {n90[1].mean():.1f} (paired "
                     f"{_mean_se(n90[0] - n90[1])}; fewer on {int((n90[0] < n90[1]).sum())}, more on "
                     f"{int((n90[0] > n90[1]).sum())}); share at {budget}: {end[0].mean():.3f} vs {end[1].mean():.3f} "
                     f"(paired {_mean_se(100 * (end[0] - end[1]))} points)")
    return ["Paired, ours minus BoTorch on the seeds both ran (never reached = budget + 1):", "", *lines] if lines else []


def _batch2_lines(runs_by_key: dict) -> list[str]:
    """Target (a), second round: the candidates of ``batch_candidates.py`` on several sets (full curves)."""
    from batch_penalty import experiments_to

    lines = ["## Compositions and process sets (target a, second round): local-exploitation candidates", "",
             "Candidates of `benchmarks/batch_candidates.py` (what each is: its docstring), as `batch_penalty.py` "
             "(2 random initial experiments, budget 100). Top% @100: share of the set's top set (best 1 % of a "
             "plate, best 5 % of a Liang set) found after 100 experiments, mean ± standard error over seeds; "
             "`n50`: experiments to half of it (101 = not within 100).", "",
             "| split | set | candidate | k | seeds | Top% @100 | per seed | Top% @50 | n50 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for key in sorted(runs_by_key, key=lambda k: (k.split("|")[0] != "tuning", k)):
        split, name, cand, k = key.split("|")
        runs = runs_by_key[key]
        seeds = sorted(runs, key=int)
        C = np.array([runs[s] for s in seeds], dtype=float)
        n50 = [experiments_to(c, 0.5) for c in C]
        lines.append(f"| {split} | {name} | {cand} | {k} | {','.join(seeds)} | {_mean_se(100 * C[:, -1])} % | "
                     f"{', '.join(f'{v:.0f}' for v in 100 * C[:, -1])} | {100 * C[:, 49].mean():.0f} % | "
                     f"{np.mean(n50):.1f} |")
    return [*lines, ""]


def _held_out_references() -> dict:
    """``set|strategy|k`` -> {seed: curve} from ``batch_penalty.json`` (every held-out split merged), so
    that a candidate run on held-out seeds is paired with the default and GP-ARD-EI measured there."""
    import batch_penalty as bp

    if not bp.JSON_PATH.exists():
        return {}
    refs: dict = {}
    for key, e in json.loads(bp.JSON_PATH.read_text()).items():
        split, rest = key.split("|", 1)
        if split.startswith("held-out"):
            for seed, curve in zip(e["seeds"], e["curves"], strict=True):
                refs.setdefault(rest, {}).setdefault(str(seed), curve)
    return refs


def _paired_lines(runs_by_key: dict) -> list[str]:
    """Every candidate against the default's batch of 5 on the same set and seeds (session 20's measure):
    AUC = mean share of the top set found over the whole budget (points; positive = better), and the
    difference in experiments to half the top set (negative = better). Held-out candidates are also
    paired with sequential GP-ARD-EI; their references come from ``batch_penalty.json`` when this store
    has none, and every curve is cut to the set's budget there (50 on the small Olympus pools)."""
    import batch_penalty as bp

    lines = ["## Paired against the default's batch of 5 and, held out, sequential GP-ARD-EI (same set, same seeds)", "",
             "AUC: mean share of the top set found over the set's budget (100 experiments; 50 on fullerenes, suzuki "
             "and colors_bob), candidate minus reference (points, mean ± standard error over the shared seeds); n50: "
             "experiments to half the top set, candidate minus reference (budget + 1 when not reached). Held-out "
             "references not run in this store are `batch_penalty.json`'s runs on the same seeds.", "",
             "| split | set | candidate | k | reference | shared seeds | AUC | n50 |",
             "|---|---|---|---|---|---|---|---|"]
    held_out = _held_out_references()
    for key in sorted(runs_by_key, key=lambda k: (k.split("|")[0] != "tuning", k)):
        split, name, cand, k = key.split("|")
        budget = bp.SETS[name][3] if name in bp.SETS else 100
        refs = [("default", "5")] + ([("gp-ei", "1")] if split == "held-out" else [])
        for ref_name, ref_k in refs:
            if (cand, k) == (ref_name, ref_k):
                continue
            ref = runs_by_key.get(f"{split}|{name}|{ref_name}|{ref_k}")
            if ref is None and split == "held-out":
                ref = held_out.get(f"{name}|{ref_name}|{ref_k}")
            seeds = sorted(set(runs_by_key[key]) & set(ref or {}), key=int)
            if not seeds:
                continue
            A = np.array([runs_by_key[key][s][:budget] for s in seeds], dtype=float)
            B = np.array([ref[s][:budget] for s in seeds], dtype=float)
            half = [bp.experiments_to(x, 0.5) - bp.experiments_to(y, 0.5) for x, y in zip(A, B, strict=True)]
            label = "default k = 5" if ref_name == "default" else "GP-ARD-EI k = 1"
            lines.append(f"| {split} | {name} | {cand} | {k} | {label} | {len(seeds)} | "
                         f"{_mean_se(100 * (A.mean(1) - B.mean(1)))} | {_mean_se(half)} |")
    return [*lines, ""]
