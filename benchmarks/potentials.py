"""Interatomic potentials on the mlearn benchmark (Zuo et al. 2020): zero-shot and fine-tuned CHGNet.

For each bundled mlearn test set (Si, Ge, Li, Cu, Ni) the energy MAE (meV/atom), force MAE (eV/Å, over
force components) and stress MAE (GPa, 6 components) of

- the pre-trained universal CHGNet 0.3.0, zero-shot: raw (its MP-compatible energy scale) and with
  per-element energy offsets, fitted on the element's *training* set where one exists (an honest
  correction: no test label used) and on the test set itself otherwise (Cu, Ni: optimistic);
- CHGNet fine-tuned on the element's training set (Si, Ge, Li) with ``matloop.models.potentials.finetune``
  (offsets into the composition model, then energy + force + stress fine-tuning with a validation split
  and early stopping; capped by ``--epochs`` and ``--budget`` seconds per element on this machine);

beside the paper's errors of GAP, MTP, NNP, SNAP and qSNAP where their values could be sourced (see
``PAPER`` below). Writes ``benchmarks/results/potentials.{json,md}``.

    .venv/bin/python benchmarks/potentials.py [--epochs 30] [--budget 900] [--elements Si Ge Li Cu Ni]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "results"
TRAINED = ("Si", "Ge", "Li")

#: Zuo et al., J. Phys. Chem. A 124, 731 (2020): test-set energy MAE (meV/atom) and force MAE (eV/Å) of the
#: paper's potentials. GAP and MTP: as quoted from the paper by the ACEpotentials.jl authors (their
#: ``examples/zuobench/error_table.jl`` and tutorial, tables ``e_table_gap_mtp`` / ``f_table_gap_mtp``, rows
#: Ni, Cu, Li, Mo, Si, Ge; forces given to 2 decimals there). NNP, SNAP, qSNAP: None, not found in any source
#: reachable from this session (the stored copies of the paper hold only its first page); never guessed.
_GAP_MTP = {"Ni": ((0.42, 0.02), (0.48, 0.01)), "Cu": ((0.46, 0.01), (0.41, 0.01)), "Li": ((0.49, 0.01), (0.49, 0.01)),
            "Si": ((2.91, 0.07), (2.21, 0.06)), "Ge": ((2.06, 0.05), (1.79, 0.05))}
PAPER: dict[str, dict[str, dict[str, float | None]]] = {
    el: {"GAP": {"energy_mae": _GAP_MTP[el][0][0], "force_mae": _GAP_MTP[el][0][1]},
         "MTP": {"energy_mae": _GAP_MTP[el][1][0], "force_mae": _GAP_MTP[el][1][1]},
         **{pot: {"energy_mae": None, "force_mae": None} for pot in ("NNP", "SNAP", "qSNAP")}}
    for el in ("Si", "Ge", "Li", "Cu", "Ni")}
PAPER_SOURCE = ("GAP and MTP: Zuo et al. (2020) as quoted by ACEpotentials.jl (github.com/ACEsuit/ACEpotentials.jl, "
                "examples/zuobench/error_table.jl and examples/Tutorial/ACEpotentials-Tutorial.jl, 'e_table_gap_mtp' "
                "and 'f_table_gap_mtp'; a secondary source, forces rounded to 0.01 eV/Å there). NNP, SNAP, qSNAP: not "
                "found (searched the mlearn and uf3 repositories, the stored web pages incl. a slideshare copy of the "
                "paper whose stored text ends after the introduction, and documentation; session 10: 14 more look-ups "
                "in the stored pages (arXiv 1906.08888 copies, PubMed, Cambridge and eScholarship records: abstracts "
                "only), the UF3 and PACE papers' stored text, the mlearn mvl_models README, code and docs); left "
                "empty, not guessed")


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--patience", type=int, default=4)
    parser.add_argument("--budget", type=float, default=600.0, help="fine-tuning seconds per element (the CLI default)")
    parser.add_argument("--elements", nargs="+", default=["Si", "Ge", "Li", "Cu", "Ni"])
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--force-weight", type=float, default=1.0, help="0: energy-only fine-tuning (much cheaper)")
    parser.add_argument("--energy-weight", type=float, default=1.0, help="energy loss weight (relative to epoch 0)")
    parser.add_argument("--stress-weight", type=float, default=0.1)
    parser.add_argument("--freeze", default="embeddings", choices=("none", "embeddings", "backbone"))
    parser.add_argument("--name", default="potentials", help="results file stem (benchmarks/results/NAME.{json,md})")
    parser.add_argument("--rewrite", action="store_true", help="only re-render NAME.md from NAME.json")
    parser.add_argument("--keep", action="store_true", help="keep the other elements already in NAME.json")
    parser.add_argument("--batch", type=int, default=2, help="structures per prediction batch (memory)")
    parser.add_argument("--no-readout-refit", action="store_true", help="skip the readout refit on cached features")
    parser.add_argument("--add-delta", action="store_true", help="copy the rows of the Δ-correction's CLI run "
                        "(results/potentials_soap_cli/*.json: CHGNet + SOAP kernel) into NAME.json and re-render")
    parser.add_argument("--add-run", nargs=2, metavar=("OTHER", "LABEL"), help="copy the fine-tuned rows of "
                        "results/OTHER.json into NAME.json as a labelled run (kept beside NAME's own rows) and re-render")
    args = parser.parse_args(argv)
    if args.add_run:
        _add_run(args.name, *args.add_run)
        return 0
    if args.add_delta:
        results = json.loads((OUT / f"{args.name}.json").read_text())
        rows = [json.loads(p.read_text()) for p in sorted((OUT / "potentials_soap_cli").glob("*.json"))]
        results["delta"] = {"command": "benchmarks/potentials_soap_cli.py", "rows": rows}
        _write(results, args.name)
        return 0
    if args.rewrite:
        _write(json.loads((OUT / f"{args.name}.json").read_text()), args.name)
        return 0

    from matloop import progress
    from matloop.datasets.potential_sets import CITATION, open_potential_set
    from matloop.models.potentials.finetune import FineTunedPotential, errors, finetune

    OUT.mkdir(exist_ok=True)
    results = {"citation": CITATION, "paper": PAPER, "paper_source": PAPER_SOURCE, "elements": {},
               "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "threads": args.threads,
                           "load_before": _load()},
               "settings": vars(args)}
    if args.keep and (OUT / f"{args.name}.json").exists():
        results["elements"] = json.loads((OUT / f"{args.name}.json").read_text())["elements"]
    zero = FineTunedPotential.pretrained()
    with progress.reporting("potentials"):
        for el in args.elements:
            test = open_potential_set(f"mlearn_{el.lower()}_test")
            row: dict = {"n_test": len(test)}
            t0 = time.perf_counter()
            zs_pred = zero.predict(test, batch_size=args.batch, n_threads=args.threads)
            zs = errors(test, zs_pred)
            row["zero_shot"] = zs
            row["zero_shot_seconds"] = round(time.perf_counter() - t0, 1)
            from matloop.models.potentials.finetune import fit_offsets

            self_offsets = fit_offsets(test, [p["energy_per_atom"] for p in zs_pred])
            row["zero_shot_offset_test"] = errors(test, zs_pred, self_offsets)["energy_mae"]
            progress.say(f"{el}: zero-shot energy MAE {zs['energy_mae']:.1f} meV/atom (offset fitted on the test set: "
                         f"{row['zero_shot_offset_test']:.1f}), force MAE {zs['force_mae']:.3f} eV/Å")
            if el in TRAINED:
                train = open_potential_set(f"mlearn_{el.lower()}_train")
                load_start = _load()
                t0 = time.perf_counter()
                pot = finetune(train, epochs=args.epochs, patience=args.patience, learning_rate=args.lr,
                               time_budget=args.budget, n_threads=args.threads, seed=0,
                               force_weight=args.force_weight, energy_weight=args.energy_weight,
                               stress_weight=args.stress_weight, freeze=args.freeze,
                               readout_refit=not args.no_readout_refit)
                fit_s = time.perf_counter() - t0
                offsets = pot.meta["energy_offsets_ev_per_atom"]
                row["zero_shot_offset_train"] = errors(test, zs_pred, offsets)["energy_mae"]
                ft = errors(test, pot.predict(test, batch_size=args.batch, n_threads=args.threads))
                row["fine_tuned"] = ft
                row["fine_tune"] = {k: pot.meta.get(k) for k in ("learning_curve", "stopped", "best_epoch", "n_train",
                                                                "n_val", "targets", "freeze", "energy_offsets_ev_per_atom",
                                                                "readout_refit", "final_readout_refit",
                                                                "fit_seconds")}
                row["fine_tune_seconds"] = round(fit_s, 1)
                row["load_during_fit"] = [load_start, _load()]
                progress.say(f"{el}: fine-tuned energy MAE {ft['energy_mae']:.1f} meV/atom, force MAE "
                             f"{ft['force_mae']:.3f} eV/Å ({fit_s:.0f} s)")
            results["elements"][el] = row
            _write(results, args.name)
    return 0


def _add_run(name: str, other: str, label: str) -> None:
    """Keep the fine-tuned figures of ``results/OTHER.json`` in ``NAME.json`` under ``runs`` (one per label)."""
    results = json.loads((OUT / f"{name}.json").read_text())
    source = json.loads((OUT / f"{other}.json").read_text())
    rows = {el: {k: r[k] for k in ("fine_tuned", "fine_tune_seconds", "load_during_fit", "fine_tune") if k in r}
            for el, r in source["elements"].items() if "fine_tuned" in r}
    runs = [run for run in results.get("runs", []) if run["label"] != label]
    runs.append({"label": label, "source": f"benchmarks/results/{other}.json", "settings": source["settings"],
                 "elements": rows})
    results["runs"] = runs
    _write(results, name)


def _run_lines(results: dict) -> list[str]:
    """A table of the labelled runs (``--add-run``) with each run's own verdict against the paper."""
    runs = results.get("runs") or []
    if not runs:
        return []
    lines = ["", "## Further fine-tuning runs (same test sets; each row is one run, nothing chosen on the test sets)", "",
             "| run | element | fine-tuned E | fine-tuned F | fine-tuned S | fit time (s) | load average during fit | "
             "best epoch | settings |", "|---|---|--:|--:|--:|--:|---|--:|---|"]
    for run in runs:
        s = run["settings"]
        setting = (f"freeze {s['freeze']}, budget {s['budget']:g} s, lr {s['lr']:g}, weights E {s.get('energy_weight', 1.0):g}"
                   f" / F {s['force_weight']:g} / S {s.get('stress_weight', 0.1):g}")
        for el, r in run["elements"].items():
            ft, load = r["fine_tuned"], r.get("load_during_fit") or [math.nan, math.nan]
            meta = r.get("fine_tune") or {}
            lines.append(f"| {run['label']} | {el} | {_fmt(ft['energy_mae'])} | {_fmt(ft['force_mae'], 3)} | "
                         f"{_fmt(ft['stress_mae'], 2)} | {_fmt(r.get('fine_tune_seconds'), 0)} | {load[0]:.1f} -> "
                         f"{load[1]:.1f} | {meta.get('best_epoch', '–')} | {setting}; trained on "
                         f"{meta.get('targets', '?')} |")
    for run in runs:
        lines.append(f"- {run['label']} ({run['source']}): " + _verdict({"elements": run["elements"],
                                                                             "paper": results["paper"]}))
    return lines


def _delta_lines(results: dict) -> list[str]:
    """The CHGNet + SOAP Δ-correction rows (``--add-delta``) with their own verdict against the paper."""
    delta = results.get("delta")
    if not delta:
        return []
    rows = delta["rows"]
    lines = ["", "## CHGNet + SOAP Δ-correction fitted to energies, forces and, where cross-validation keeps them, "
             "stresses (`potential fit --correction soap`)", "",
             f"Through the CLI, end to end (`{delta['command']}`, CLI defaults, one core per element; "
             "results/potentials_soap_cli.md). The model was chosen on validation splits of the training sets by the "
             "probes results/potentials_delta_forces.md, results/potentials_soap_capacity.md and "
             "results/potentials_soap_weights.md; its noise levels (the stresses' among them), priors and the scale of "
             "CHGNet's own energies and forces are chosen inside each fit by 5-fold cross-validation over the training structures. Best energies "
             "and forces matloop reaches here:", "",
             "| element | test E | test F | test S (GPa) | fit time, 1 core (s) | load |", "|---|--:|--:|--:|--:|---|"]
    for r in rows:
        lines.append(f"| {r['element']} | {r['energy_mae']:.2f} | {r['force_mae']:.3f} | {r['stress_mae']:.2f} | "
                     f"{r['fit_seconds']:.0f} | {' / '.join(map(str, r['load']))} |")
    elements = {r["element"]: {"fine_tuned": r} for r in rows}
    lines.append("- " + _verdict({"elements": elements, "paper": results["paper"]}).replace(
        "fine-tuned CHGNet", "CHGNet + SOAP Δ").replace("fine-tuned elements", "elements"))
    return lines


def _verdict(results: dict) -> str:
    """Whether fine-tuned CHGNet beats every potential of the paper's table on energy MAE on at least two
    elements and is within the table's range on forces; says so when the table's values are missing."""
    beats, missing, energy_only = [], [], []
    for el, r in results["elements"].items():
        if "fine_tuned" not in r:
            continue
        paper = results["paper"].get(el, {})
        energies = [v["energy_mae"] for v in paper.values() if v["energy_mae"] is not None]
        forces = [v["force_mae"] for v in paper.values() if v["force_mae"] is not None]
        if not energies:
            missing.append(el)
            continue
        ft = r["fine_tuned"]
        # beating *every* potential needs beating the known ones: a loss to GAP or MTP is conclusive
        if ft["energy_mae"] < min(energies) and ft["force_mae"] <= max(forces):
            beats.append(el)
        elif ft["energy_mae"] < min(energies):
            energy_only.append(f"{el} ({ft['energy_mae']:.3f} meV/atom against {min(energies)}, a value the source "
                               "gives to two decimals, so this is a tie within its rounding when under 0.005 apart; forces "
                               f"{ft['force_mae']:.3f} eV/Å against at most {max(forces)}, a value the source rounds "
                               "to 0.01)")
    n_known = sum(1 for el in results["elements"] if el not in missing and "fine_tuned" in results["elements"][el])
    verdict = (f"Not met: fine-tuned CHGNet beats the paper's known potentials (GAP, MTP) on energy MAE with forces "
               f"within their range on {len(beats)} of {n_known} fine-tuned elements ({', '.join(beats) or 'none'}); "
               "the target needs 2. Beating every potential of the table needs beating GAP and MTP, so the missing "
               "NNP/SNAP/qSNAP values cannot change a 'not met'."
               + (f" Below GAP and MTP on energy alone: {'; '.join(energy_only)}." if energy_only else ""))
    if len(beats) >= 2:
        verdict = (f"Beats GAP and MTP on {', '.join(beats)}; NNP/SNAP/qSNAP values are missing, so 'every "
                   "potential' is not fully checked.")
    return verdict


def _fmt(v, digits=1) -> str:
    return "–" if v is None or v != v else f"{v:.{digits}f}"  # v != v: NaN


def _write(results: dict, name: str = "potentials") -> None:
    (OUT / f"{name}.json").write_text(json.dumps(results, indent=1))
    lines = ["# Interatomic potentials on the mlearn test sets (Zuo et al. 2020)", "",
             "Energy MAE in meV/atom, force MAE in eV/Å (over force components), stress MAE in GPa. Written by "
             "`benchmarks/potentials.py` "
             f"(settings: {results['settings']})."
             + (" The first table holds this file's own run; the runs added later (`--add-run`) are under 'Further "
                "fine-tuning runs'." if results.get("runs") else ""), "",
             "| element | n test | CHGNet zero-shot E (raw) | zero-shot E, offsets from train set | zero-shot E, offsets "
             "fitted on test (optimistic) | zero-shot F | zero-shot S | fine-tuned E | fine-tuned F | fine-tuned S | "
             "fine-tune time (s) |",
             "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for el, r in results["elements"].items():
        zs, ft = r["zero_shot"], r.get("fine_tuned") or {}
        lines.append(f"| {el} | {r['n_test']} | {_fmt(zs['energy_mae'])} | {_fmt(r.get('zero_shot_offset_train'))} | "
                     f"{_fmt(r['zero_shot_offset_test'])} | {_fmt(zs['force_mae'], 3)} | {_fmt(zs['stress_mae'], 2)} | "
                     f"{_fmt(ft.get('energy_mae'))} | {_fmt(ft.get('force_mae'), 3)} | {_fmt(ft.get('stress_mae'), 2)} | "
                     f"{_fmt(r.get('fine_tune_seconds'), 0)} |")
    lines += ["", "## Paper (GAP, MTP, NNP, SNAP, qSNAP)", "", f"Source: {results['paper_source']}.", "",
              "| element | " + " | ".join(f"{p} E / F" for p in ("GAP", "MTP", "NNP", "SNAP", "qSNAP")) + " |",
              "|---|" + "---|" * 5]
    for el, pots in results["paper"].items():
        lines.append(f"| {el} | " + " | ".join(f"{_fmt(v['energy_mae'], 2)} / {_fmt(v['force_mae'], 2)}"
                                              for v in pots.values()) + " |")
    lines += ["", "## Target", "", _verdict(results)]
    lines += _run_lines(results)
    lines += _delta_lines(results)
    lines += ["", *results.get("notes", [])]
    lines += ["", "## Learning curves (fine-tuning)", ""]
    for el, r in results["elements"].items():
        if "fine_tune" in r:
            f = r["fine_tune"]
            lines.append(f"- {el}: {f['n_train']} training / {f['n_val']} validation structures, targets {f['targets']}, "
                         f"frozen {f['freeze']}, best epoch {f['best_epoch']} ({f['stopped']}); load average "
                         f"{r['load_during_fit'][0]:.1f} -> {r['load_during_fit'][1]:.1f} on {results['machine']['cpus']} "
                         "cores")
            ro = f.get("readout_refit") or {}
            if "val_energy_mae" in ro:
                lines.append(f"  - readout refit on cached features (before epoch 0): energy MAE train "
                             f"{ro['train_energy_mae_before']:.2f} -> {ro['train_energy_mae']:.2f}, val "
                             f"{ro['val_energy_mae_before']:.2f} -> {ro['val_energy_mae']:.2f} meV/atom, best of "
                             f"{ro['steps']} full-batch steps at step {ro['best_step']}, {ro['seconds']:.0f} s")
            fr = f.get("final_readout_refit") or {}
            if "val_energy_mae" in fr:
                lines.append(f"  - readout refit after the best epoch: val energy MAE {fr['val_energy_mae']:.2f} meV/atom, "
                             f"force MAE {fr['val_force_mae']:.4f} eV/Å, "
                             + ("kept" if fr["accepted"] else "worse than epoch 0, so epoch 0 was kept"))
            for c in f["learning_curve"]:
                lines.append(f"  - epoch {c['epoch']} ({c.get('structures_seen', 0)} structures seen): E train {c['train_energy_mae']:.2f} / val {c['val_energy_mae']:.2f} "
                             f"meV/atom, F train {_fmt(c['train_force_mae'], 4)} / val {c['val_force_mae']:.4f} eV/Å, "
                             f"{c['seconds']:.0f} s")
    (OUT / f"{name}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
