"""Tables of ``benchmarks/structures.py``: per-fold records -> ``structures.json`` summary and ``structures.md``.

Kept apart from the runner so that the report can be rebuilt (``--markdown-only``) while a run goes
on. Comparisons between two models use only the folds both have finished (paired), and say how many
of them the structure AutoModel won. ``structure_auto_gnn`` (what ``matloop fit`` builds: the same
AutoModel plus the network candidate) gets its own targets table and a paired comparison with
``structure_auto``, the network alone and composition-only. Free text kept across rewrites (the dated
notes of each session) lives in ``results/structures_notes.md`` and is appended at the end.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"
ORDER = ("composition_auto", "matminer_rf", "structure_rf", "chgnet_rf", "gnn", "structure_auto", "structure_auto_gnn")
AUTOS = ("structure_auto", "structure_auto_gnn")
SET_ORDER = ("log10_kvrh", "log10_gvrh", "dielectric_n", "flla_eform", "perov_heat")
MISCAL_TARGET = 0.05
GNN_TARGET_SECONDS = 600.0


def _mean(folds: list[dict], key: str) -> float:
    vals = [f["metrics"][key] if key in f["metrics"] else f.get(key) for f in folds]
    vals = [v for v in vals if v is not None]
    return float(np.mean(vals)) if vals else float("nan")


def summarize(records: list[dict]) -> dict:
    """Set -> model -> {folds, rows, mean metrics, per-fold MAE, errors}."""
    out: dict = {}
    for r in records:
        cell = out.setdefault(r["set"], {}).setdefault(r["model"], {"folds": [], "errors": []})
        (cell["errors"] if "error" in r else cell["folds"]).append(r)
    summary = {}
    for set_name, models in out.items():
        summary[set_name] = {}
        for name, cell in models.items():
            folds = sorted(cell["folds"], key=lambda f: f["fold"])
            s = {"folds_done": [f["fold"] for f in folds], "errors": [f"fold {e['fold']}: {e['error']}"
                                                                         for e in cell["errors"]]}
            if folds:
                s["rows_train"] = sorted({f.get("rows_train") for f in folds if f.get("rows_train") is not None})
                s["rows_test"] = int(sum(f["rows_test"] for f in folds))
                s["mean"] = {k: _mean(folds, k) for k in ("mae", "rmse", "r2", "miscalibration_area", "coverage_95",
                                                          "miscalibration_area_gaussian", "seconds")}
                s["mae_sd"] = float(np.std([f["metrics"]["mae"] for f in folds]))
                s["fold_mae"] = {f["fold"]: f["metrics"]["mae"] for f in folds}
                s["load"] = [min(f["load_before"] for f in folds), max(f["load_after"] for f in folds)]
                s["commits"] = sorted({f.get("commit", "")[:10] for f in folds})
                if name in AUTOS:
                    s["weights"] = {f["fold"]: f.get("weights") for f in folds}
                    s["sets"] = folds[-1].get("sets")
                    s["candidates_finished"] = {f["fold"]: f.get("candidates_finished") for f in folds}
                if name == "structure_auto_gnn":
                    s["network"] = {f["fold"]: {k: f.get(k) for k in ("gnn_note", "gnn_budget", "gnn_seconds", "gnn_epochs",
                                                                      "gnn_oof_mae", "gnn_test_mae")} for f in folds}
                s["settings"] = folds[-1].get("settings", {})
            summary[set_name][name] = s
    return summary


def _paired(a: dict, b: dict) -> tuple[float, float, int, int]:
    """Mean MAE of a and b over the folds both finished, a's wins, the number of such folds."""
    common = sorted(set(a.get("fold_mae", {})) & set(b.get("fold_mae", {})))
    if not common:
        return float("nan"), float("nan"), 0, 0
    ma = np.array([a["fold_mae"][k] for k in common])
    mb = np.array([b["fold_mae"][k] for k in common])
    return float(ma.mean()), float(mb.mean()), int(np.sum(ma < mb)), len(common)


def targets(summary: dict, model: str = "structure_auto") -> list[dict]:
    """The issue's targets per set: AutoModel vs composition-only (2x on perov) and vs the peer, miscal."""
    rows = []
    for set_name in [s for s in SET_ORDER if s in summary and (model == "structure_auto" or model in summary[s])]:
        models = summary[set_name]
        auto = models.get(model, {})
        row = {"set": set_name}
        for other, factor in (("composition_auto", 2.0 if set_name == "perov_heat" else 1.0), ("matminer_rf", 1.0)):
            ma, mb, wins, n = _paired(auto, models.get(other, {}))
            row[other] = {"auto_mae": ma, "other_mae": mb, "ratio": mb / ma if n else float("nan"), "wins": wins,
                          "folds": n, "needed_ratio": factor,
                          "met": bool(n and mb / ma >= factor and (factor > 1 or wins * 2 > n))}
        miscal = auto.get("mean", {}).get("miscalibration_area", float("nan"))
        row["miscalibration"] = {"value": miscal, "met": bool(miscal <= MISCAL_TARGET)}
        rows.append(row)
    return rows


def _targets_table(title: str, rows: list[dict]) -> list[str]:
    lines = [title, "", "| set | structure AutoModel MAE | composition-only MAE (ratio, folds won) | matminer+RF MAE "
             "(ratio, folds won) | AutoModel miscal. <= 0.05 |", "|---|---|---|---|---|"]
    for row in rows:
        c, p, m = row["composition_auto"], row["matminer_rf"], row["miscalibration"]

        def cell(x: dict) -> str:
            if not x["folds"]:
                return "not run"
            need = f", needs >= {x['needed_ratio']:g}x" if x["needed_ratio"] > 1 else ""
            if np.isnan(x["auto_mae"]):
                return "n/a"
            return (f"{x['other_mae']:.4g} ({x['ratio']:.2f}x{need}, {x['wins']}/{x['folds']}): "
                    f"{'met' if x['met'] else 'NOT met'}")

        if np.isnan(m["value"]):
            lines.append(f"| {row['set']} | not run | {cell(c)} | {cell(p)} | not run |")
            continue
        lines.append(f"| {row['set']} | {c['auto_mae']:.4g} | {cell(c)} | {cell(p)} | {m['value']:.3f}: "
                     f"{'met' if m['met'] else 'NOT met'} |")
    lines += ["", "A target counts as met when the structure AutoModel's MAE, over the folds both models finished, is "
              "lower (by the factor asked) and it won the majority of those folds.", ""]
    return lines


def _network_section(summary: dict) -> list[str]:
    """structure_auto_gnn against structure_auto, the network alone and composition-only, on paired folds."""
    sets = [s for s in SET_ORDER if s in summary and summary[s].get("structure_auto_gnn", {}).get("fold_mae")]
    if not sets:
        return []
    lines = ["## The network as a candidate of the structure AutoModel (paired folds)", "",
             "structure_auto_gnn = what `matloop fit --model auto` builds on a structure table; the network candidate's "
             "own test MAE (trained inside it, on every training row, under its budget) and its ensemble weight per "
             "fold. MAE over the folds both columns have; wins = folds where structure_auto_gnn is lower.", "",
             "| set | folds | with network | without (wins) | composition-only (wins) | network alone, gnn column "
             "(wins) | candidate's own test MAE | network weight per fold | network s per fold |",
             "|---|---|---|---|---|---|---|---|---|"]
    for set_name in sets:
        models = summary[set_name]
        a = models["structure_auto_gnn"]
        cells = []
        for other in ("structure_auto", "composition_auto", "gnn"):
            ma, mb, wins, n = _paired(a, models.get(other, {}))
            cells.append(f"{mb:.4g} ({wins}/{n})" if n else "-")
        net = a.get("network", {})
        own = [v["gnn_test_mae"] for v in net.values() if v.get("gnn_test_mae") is not None]
        weights = ", ".join(f"{k}: {(a['weights'].get(k) or {}).get('gnn', 0):.2f}" for k in sorted(a["weights"]))
        secs = ", ".join(f"{v['gnn_seconds']:.0f}" if v.get("gnn_seconds") else "out" for v in net.values())
        own_mae = f"{np.mean(own):.4g}" if own else "-"
        lines.append(f"| {set_name} | {len(a['fold_mae'])} | {np.mean(list(a['fold_mae'].values())):.4g} | "
                     + " | ".join(cells) + f" | {own_mae} | {weights} | {secs} |")
    notes = {n.get("gnn_note") for s in sets for n in summary[s]["structure_auto_gnn"].get("network", {}).values()}
    lines += ["", "network notes: " + "; ".join(sorted(str(n) for n in notes)), ""]
    return lines


def write_markdown(meta: dict, records: list[dict]) -> dict:
    """Write ``structures.md``; return the JSON summary (per-set meta, per-model summary, targets)."""
    summary = summarize(records)
    commits = sorted({r.get("commit", "")[:10] for r in records if r.get("commit")})
    loads = [x for r in records if "load_before" in r for x in (r["load_before"], r["load_after"])]
    lines = ["# Structure benchmarks", "",
             "Written by `benchmarks/structures.py` from the per-fold records in `structures_folds.json` "
             "(see the script's docstring for the models). Every row of each set, shuffled 5-fold split (seed 0), "
             "the same folds for every model. MAE in the target's units (mean over the folds run, +- their sd); "
             "miscal. = miscalibration area, from the PIT of the model's predictive distribution for the "
             "AutoModels and of N(mean, std^2) for the forests and the GNN; miscal. (G) = the N(mean, std^2) "
             "reading for every model; cov95 = 95 % interval coverage (the model's own interval); s/fold = "
             "fit+predict wall seconds per fold; load = the 1-minute load average before/after the folds (2 "
             "cores shared with other jobs, so seconds are upper bounds of the idle cost).", "",
             f"git commit(s) of the library during the run: {', '.join(commits) or '-'} (plus uncommitted work of "
             "the session's other helpers in the shared tree); load average during the folds: "
             + (f"{min(loads):.1f} to {max(loads):.1f}" if loads else "-") + ".", ""]
    rows = targets(summary)
    lines += _targets_table("## Targets (issue 19)", rows)
    gnn_rows = targets(summary, "structure_auto_gnn")
    if gnn_rows:
        lines += _targets_table("## Targets of the shipped default (structure_auto_gnn: with the network candidate; "
                                "folds it has run)", gnn_rows)
    lines += _network_section(summary)
    for set_name in [s for s in SET_ORDER if s in summary]:
        i = meta.get(set_name, {}).get("info", {})
        fs = meta.get(set_name, {}).get("featurize_seconds", {})
        lines += [f"## {set_name} ({i.get('units') or 'no unit'}): {i.get('source', '')}", "",
                  f"rows {i.get('rows_used')} of {i.get('rows_total')}; predicting the training mean: MAE "
                  f"{meta.get(set_name, {}).get('baseline_mae', float('nan')):.4g}; featurization seconds (all rows, "
                  "once): " + ", ".join(f"{k} {v:.0f}" for k, v in fs.items()), "",
                  "| model | folds | train rows | MAE | RMSE | miscal. | miscal. (G) | cov95 | s/fold | load |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        models = summary[set_name]
        for name in [m for m in ORDER if m in models]:
            s = models[name]
            if "mean" not in s:
                lines.append(f"| {name} | 0 | | failed: {'; '.join(s['errors'])[:200]} | | | | | | |")
                continue
            a = s["mean"]
            gauss = a["miscalibration_area_gaussian"]
            gauss = a["miscalibration_area"] if np.isnan(gauss) else gauss
            train = "/".join(str(x) for x in s["rows_train"][:3])
            done = str(len(s["folds_done"])) + ("" if len(s["folds_done"]) >= 5 else
                                                 f" ({','.join(map(str, s['folds_done']))})")
            lines.append(f"| {name} | {done} | {train} | {a['mae']:.4g} +- {s['mae_sd']:.2g} | "
                         f"{a['rmse']:.4g} | {a['miscalibration_area']:.3f} | {gauss:.3f} | {a['coverage_95']:.3f} | "
                         f"{a['seconds']:.0f} | {s['load'][0]:.1f}-{s['load'][1]:.1f} |")
        for auto_name in AUTOS:
            auto = models.get(auto_name, {})
            if not auto.get("weights"):
                continue
            net = (f", network candidate budget {auto['settings']['gnn_budget']:g} s"
                   if "gnn_budget" in auto["settings"] else "")
            lines += ["", f"{auto_name}: sets {auto.get('sets')}, budget "
                      f"{auto['settings'].get('time_budget'):g} s per fold{net}; ensemble weights per fold: "
                      + "; ".join(f"{k}: " + ", ".join(f"{n} {w:.2f}" for n, w in (v or {}).items())
                                  for k, v in auto["weights"].items()),
                      "candidates that finished their inner CV in the kept sets (last fold): "
                      + json.dumps(list(auto["candidates_finished"].values())[-1])]
        comp = models.get("composition_auto", {})
        if comp.get("settings"):
            lines.append(f"composition AutoModel budget {comp['settings'].get('time_budget'):g} s per fold.")
        lines.append("")
    gnn = [r for r in records if r["model"] == "gnn" and "error" not in r]
    if gnn:
        lines += ["## GNN training time", "", f"target: 3,000 structures on 2 cores in < {GNN_TARGET_SECONDS:.0f} s "
                  "per fold (fit+predict wall below, on the shared machine)", "",
                  "| set | fold | train rows | s | load |", "|---|---|---|---|---|"]
        lines += [f"| {r['set']} | {r['fold']} | {r.get('rows_train')} | {r['seconds']:.0f} | "
                  f"{r['load_before']:.1f}-{r['load_after']:.1f} |" for r in sorted(gnn, key=lambda r: (r["set"],
                                                                                                   r["fold"]))]
        lines.append("")
    rate = RESULTS / "structures_throughput.json"
    if rate.exists():
        r = json.loads(rate.read_text())
        lines += ["## CHGNet featurization throughput", "",
                  f"{r['structures']} elastic-set structures ({r['mean_sites']:.1f} sites on average), cache off, "
                  f"{r['threads']} PyTorch threads, machine load average {r['load_average_1min']:.1f} at the start "
                  f"(2 cores shared): " + ", ".join(f"{k} {v:.1f} structures/s" for k, v in r.items()
                                                   if k not in ("structures", "threads", "mean_sites",
                                                                "load_average_1min")), ""]
    notes = RESULTS / "structures_notes.md"
    if notes.exists():
        lines += [notes.read_text().rstrip(), ""]
    (RESULTS / "structures.md").write_text("\n".join(lines))
    return {s: {**meta.get(s, {}), "models": summary.get(s, {})} for s in SET_ORDER if s in summary or s in meta} | \
        {"targets": rows, "targets_structure_auto_gnn": gnn_rows}
