"""Diffraction benchmarks. Part 1 (this file's :func:`classification`): space-group and dimensionality
classification of experimental thin-film patterns, CNN ensemble vs peak-feature forest, with and
without physics-informed augmentation. (Phase mapping of composition libraries: see
``benchmarks/diffraction_phases.py``, to be joined here by :func:`phase_mapping`.)

Data: ``../shared/data/xrd/autoXRD_oviedo2019`` (Oviedo et al., npj Comput. Mater. 5, 60 (2019); Apache
2.0): 88 experimental patterns in 7 space-group sub-folders (one class, P21a, has a single pattern and
is therefore always wrong when it is tested: counted, not removed), and ``exp_dimensionality.csv``:
73 patterns (0D 14, 2D 14, 3D 45) as (2θ, intensity) column pairs under a label row.

Protocol (stated exactly): every pattern is featurized by ``PatternFeatureSet`` (common 2θ grid of all
patterns at Cu Kα1, background removed, Savitzky-Golay smoothed, scaled to its maximum; plus peak
features), which uses no labels. Stratified 5-fold cross-validation (shuffled, seeds listed in the
results), each test fold predicted by models trained on the other four folds only; everything the
models choose or calibrate (the CNN's temperature, the forest's temperature, the auto choice) is
fitted inside the training folds (nested). Models:

- ``forest``: extra trees (300) on the peak columns, temperature-calibrated (``PeakForestClassifier``);
- ``forest+aug``: the same trained on the originals plus 4 augmented copies per training pattern
  (calibration folds grouped by source pattern);
- ``cnn``: ``PatternCNNClassifier`` (4 members = 4 inner folds, 30 epochs), without augmentation;
- ``cnn+aug``: the same with a fresh augmented copy of every training pattern each epoch;
- ``match``: ``PatternMatchClassifier``, the nearest training pattern of each class after a square
  root, a 0.1° Gaussian broadening and the best of 13 uniform lattice strains within ±1.5 %
  (search-match), temperature-calibrated on leave-one-out scores of the training folds (defaults fixed
  before any run; no setting was tuned on these data);
- ``blend2``: the mean of the calibrated probabilities of ``cnn+aug`` and ``forest`` (session 8);
- ``blend``: the mean of ``cnn+aug``, ``forest`` and ``match``, with one temperature fitted on the
  mean of their inner out-of-fold probabilities (``PatternBlendClassifier(recalibrate=True)``);
- ``auto8``: ``cnn+aug``, ``forest`` or ``blend2``, whichever has the lowest inner out-of-fold log
  loss (what ``matloop fit`` used in session 8);
- ``auto``: what ``matloop fit/validate`` uses on pattern input (``PatternAutoClassifier``): ``cnn+aug``,
  ``forest``, ``match`` or ``blend``, whichever has the lowest inner out-of-fold log loss (inner
  out-of-fold probabilities: the CNN's members and the forest's 4 folds, the match's leave-one-out;
  the choice sees no test fold).

``--models`` runs a subset (the ones the others need are fitted anyway). ``--protocol oviedo`` replaces the
stratified splits by Oviedo et al.'s kind (their script: unstratified ``KFold(5, shuffle=True,
random_state=3)`` over the first 86 space-group patterns in their reading order; ``--seeds 3`` is their exact
split), to compare under their split as well as ours.

Reported: accuracy, balanced accuracy, expected calibration error (top label, 10 equal-width bins;
with 73-88 predictions even a perfectly calibrated model shows an ECE of ~0.04-0.07, see
:func:`ece_floor`), log loss, and wall time per fit. Anchor: Oviedo et al. report 89 % (space group) and 93 %
(dimensionality) accuracy.

    nice python benchmarks/diffraction.py [--seeds 0 1] [--tasks space_group dimensionality] [--protocol oviedo]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "xrd" / "autoXRD_oviedo2019"
RESULTS = Path(__file__).resolve().parent / "results"
MODELS = ("forest", "forest+aug", "cnn", "cnn+aug", "match", "blend2", "blend", "auto8", "auto")
BASE = ("forest", "forest+aug", "cnn", "cnn+aug", "match")
#: the fitted models each combined model needs
NEEDS = {"blend2": ("cnn+aug", "forest"), "auto8": ("cnn+aug", "forest"), "blend": ("cnn+aug", "forest", "match"),
         "auto": ("cnn+aug", "forest", "match")}


def load_space_group():
    from matloop.io.patterns import index_folder, read_patterns

    files, labels, _ = index_folder(DATA / "Experimental")
    patterns = read_patterns(files, skip_invalid=True)  # 4 files have lone-number lines (as --skip-invalid)
    dropped = {Path(p.source).name: p.meta["dropped_lines"] for p in patterns if p.meta.get("dropped_lines")}
    print(f"  dropped bad lines (skip_invalid): {dropped}", flush=True)
    return patterns, np.array(labels)


def load_dimensionality():
    from matloop.io.patterns import Pattern

    frame = pd.read_csv(DATA / "exp_dimensionality.csv", header=None, low_memory=False)
    patterns, labels = [], []
    for j in range(0, frame.shape[1], 2):
        x = pd.to_numeric(frame.iloc[1:, j], errors="coerce").to_numpy()
        y = pd.to_numeric(frame.iloc[1:, j + 1], errors="coerce").to_numpy()
        keep = np.isfinite(x) & np.isfinite(y)
        patterns.append(Pattern(x=x[keep], y=y[keep], source=f"exp_dimensionality column {j}"))
        labels.append(str(frame.iloc[0, j]))
    return patterns, np.array(labels)


def ece(proba: np.ndarray, target: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error of the top label: sum over confidence bins of |accuracy - confidence|
    weighted by the bin's share."""
    conf = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == target).astype(float)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    return float(sum(abs(correct[which == b].mean() - conf[which == b].mean()) * np.mean(which == b)
                     for b in range(bins) if np.any(which == b)))


def ece_floor(proba: np.ndarray, draws: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """ECE (mean, 5th and 95th percentile) of a perfectly calibrated model with these confidences and
    this many predictions: each prediction drawn right with its own confidence. The noise level below
    which a measured ECE says nothing."""
    rng = np.random.default_rng(seed)
    top = proba.argmax(axis=1)
    values = [ece(proba, np.where(rng.random(len(top)) < proba.max(axis=1), top, (top + 1) % proba.shape[1]))
              for _ in range(draws)]
    return float(np.mean(values)), float(np.quantile(values, 0.05)), float(np.quantile(values, 0.95))


def _augmented_peaks(F: pd.DataFrame, featurizer, curve_cols, peak_cols, y, rng, n_copies=4):
    """Peak features of ``n_copies`` augmented copies of each processed curve, with their source rows."""
    from matloop.io.patterns import Pattern
    from matloop.represent.diffraction_sim import augment
    from matloop.represent.pattern_features import grid_from_columns

    grid = grid_from_columns(F.columns)
    extra, source = augment(F.iloc[:, curve_cols].to_numpy(), grid, n_copies, rng)
    peaks = featurizer._featurizers()[1].transform_array([Pattern(x=grid.points, y=row) for row in extra])
    out = pd.DataFrame(np.zeros((len(extra), F.shape[1])), columns=F.columns)
    out.iloc[:, curve_cols] = extra
    out.iloc[:, peak_cols] = peaks
    return out, y[source], source


def oviedo_order(patterns, labels, keep: int = 86):
    """The space-group patterns as Oviedo et al.'s script reads them (folders, then files, in Windows'
    case-insensitive order) and only its first ``keep`` (``exp_num = 86``: the last two pm-3m files are
    never used there)."""
    key = [(Path(p.source).parent.name.upper(), Path(p.source).name.upper()) for p in patterns]
    order = sorted(range(len(patterns)), key=key.__getitem__)[:keep]
    return [patterns[i] for i in order], labels[order]


def run_task(patterns, labels, seeds, log, models=MODELS, protocol: str = "strict") -> dict:
    """``protocol``: ``strict`` (ours: stratified 5-fold per seed) or ``oviedo`` (their script's kind of
    split, unstratified ``KFold(5, shuffle=True, random_state=seed)``; seed 3 is theirs)."""
    from sklearn.model_selection import KFold, StratifiedGroupKFold, StratifiedKFold

    from matloop.models.diffraction_cnn import PatternCNNClassifier
    from matloop.models.pattern_auto import PeakForestClassifier
    from matloop.models.pattern_match import PatternMatchClassifier
    from matloop.represent.pattern_features import PatternFeatureSet, curve_columns

    featurizer = PatternFeatureSet().fit(patterns)
    F = featurizer.transform(patterns)
    curve = curve_columns(F.columns)
    peak = np.setdiff1d(np.arange(F.shape[1]), curve)
    classes, target = np.unique(labels, return_inverse=True)
    models = tuple(m for m in MODELS if m in models)
    base = [m for m in BASE if m in models or any(m in NEEDS.get(c, ()) for c in models)]
    out = {m: {"proba": [], "target": [], "seconds": []} for m in (*base, *(m for m in models if m not in BASE))}
    fold_accuracy = {m: [] for m in out}
    for seed in seeds:
        folds = KFold(5, shuffle=True, random_state=seed).split(F) if protocol == "oviedo" else \
            StratifiedKFold(5, shuffle=True, random_state=seed).split(F, target)
        for k, (train, test) in enumerate(folds):
            Ftr, ytr, Fte = F.iloc[train].reset_index(drop=True), labels[train], F.iloc[test].reset_index(drop=True)
            fits = {}
            for name in base:
                t0 = time.perf_counter()
                if name == "forest":
                    model = PeakForestClassifier(random_state=seed).fit(Ftr, ytr)
                elif name == "forest+aug":
                    rng = np.random.default_rng(seed)
                    Fa, ya, src = _augmented_peaks(Ftr, featurizer, curve, peak, ytr, rng)
                    Fall = pd.concat([Ftr, Fa], ignore_index=True)
                    yall = np.concatenate([ytr, ya])
                    groups = np.concatenate([np.arange(len(ytr)), src])
                    inner = list(StratifiedGroupKFold(4, shuffle=True, random_state=seed).split(Fall, yall, groups))
                    model = PeakForestClassifier(random_state=seed).fit(Fall, yall, folds=inner)
                elif name == "match":
                    model = PatternMatchClassifier().fit(Ftr, ytr)
                else:
                    model = PatternCNNClassifier(n_members=4, epochs=30, augment=name == "cnn+aug", n_threads=1,
                                                 random_state=seed).fit(Ftr, ytr)
                seconds = time.perf_counter() - t0
                fits[name] = model
                proba = np.zeros((len(test), len(classes)))
                proba[:, np.searchsorted(classes, model.classes_)] = model.predict_proba(Fte)
                out[name]["proba"].append(proba)
                out[name]["target"].append(target[test])
                out[name]["seconds"].append(seconds)
            if set(out) & set(NEEDS):
                _choose(out, fits, ytr, Fte, classes, target[test])
            for n in out:
                fold_accuracy.setdefault(n, []).append(float(np.mean(out[n]["proba"][-1].argmax(1) == target[test])))
            log(f"  seed {seed} fold {k + 1}: " + ", ".join(
                f"{n} {np.mean(out[n]['proba'][-1].argmax(1) == target[test]):.2f}" for n in out)
                + (f" (auto chose {out['auto']['chosen'][-1]})" if "auto" in out else ""))
    summary = {}
    per_fold_seed = np.repeat(list(seeds), 5)
    for name, rec in out.items():
        proba, tgt = np.vstack(rec["proba"]), np.concatenate(rec["target"])
        seed_of = np.concatenate([np.full(len(t), s) for t, s in zip(rec["target"], per_fold_seed, strict=True)])
        pred = proba.argmax(axis=1)
        recall = [np.mean(pred[tgt == c] == c) for c in np.unique(tgt)]
        summary[name] = {"accuracy": float(np.mean(pred == tgt)), "balanced_accuracy": float(np.mean(recall)),
                         "ece": ece(proba, tgt),
                         "log_loss": float(-np.mean(np.log(np.clip(proba[np.arange(len(tgt)), tgt], 1e-12, None)))),
                         "fold_mean_accuracy": float(np.mean(fold_accuracy[name])),
                         "per_seed": {int(sd): {"accuracy": float(np.mean(pred[seed_of == sd] == tgt[seed_of == sd])),
                                                "ece": ece(proba[seed_of == sd], tgt[seed_of == sd])}
                                      for sd in seeds},
                         "ece_perfectly_calibrated": ece_floor(proba),
                         "seconds_per_fit": float(np.mean(rec["seconds"])), "n_predictions": int(len(tgt))}
        if "chosen" in rec:
            summary[name]["chosen"] = {c: rec["chosen"].count(c) for c in set(rec["chosen"])}
    return {"n_patterns": len(labels), "classes": {str(c): int(np.sum(labels == c)) for c in classes},
            "grid": featurizer.describe(), "models": summary}


def _choose(out: dict, fits: dict, ytr: np.ndarray, Fte, classes: np.ndarray, test_target: np.ndarray) -> None:
    """blend2, blend, auto8 and auto of one fold, from the fitted base models, as
    ``PatternAutoClassifier`` combines them (see the module docs)."""
    from matloop.models.pattern_auto import PatternBlendClassifier

    _, tr = np.unique(ytr, return_inverse=True)
    models = {n: fits[n] for n in ("cnn+aug", "forest", "match") if n in fits}
    if "cnn+aug" in models and "forest" in models:
        models["blend2"] = PatternBlendClassifier(("cnn+aug", "forest")).from_models([fits["cnn+aug"], fits["forest"]], ytr)
    if len(models) >= 4:
        models["blend"] = PatternBlendClassifier(("cnn+aug", "forest", "match"), recalibrate=True).from_models(
            [fits["cnn+aug"], fits["forest"], fits["match"]], ytr)
    loss = {n: -np.mean(np.log(np.clip(m.oof_proba_[np.arange(len(tr)), tr], 1e-12, None))) for n, m in models.items()}
    seconds = sum(out[n]["seconds"][-1] for n in ("cnn+aug", "forest", "match") if n in fits)
    for name, candidates in (("blend2", ("blend2",)), ("blend", ("blend",)), ("auto8", ("cnn+aug", "forest", "blend2")),
                             ("auto", ("cnn+aug", "forest", "match", "blend"))):
        if name not in out:
            continue
        chosen = min(candidates, key=loss.get)
        proba = np.zeros((len(test_target), len(classes)))
        proba[:, np.searchsorted(classes, models[chosen].classes_)] = models[chosen].predict_proba(Fte)
        out[name]["proba"].append(proba)
        out[name]["target"].append(test_target)
        out[name]["seconds"].append(seconds)
        if name.startswith("auto"):
            out[name].setdefault("chosen", []).append(chosen)


def classification(seeds=(0,), tasks=("space_group", "dimensionality"), tag: str = "", models=MODELS,
                   protocol: str = "strict") -> dict:
    """Part 1: cross-validated classification of the Oviedo 2019 experimental patterns."""
    import torch

    torch.set_num_threads(1)
    loaders = {"space_group": load_space_group, "dimensionality": load_dimensionality}
    strict = "stratified 5-fold CV (shuffled) over all patterns, repeated over seeds; nested calibration and choice"
    oviedo = ("Oviedo et al.'s kind of split: unstratified KFold(5, shuffle=True, random_state=seed; seed 3 is "
              "their script's), their first 86 space-group patterns (all 73 dimensionality patterns); nested "
              "calibration and choice")
    results = {"protocol": oviedo if protocol == "oviedo" else strict,
               "seeds": list(seeds), "cpu_count": os.cpu_count(), "tasks": {}}
    for task in tasks:
        print(f"{task}:", flush=True)
        t0 = time.perf_counter()
        patterns, labels = loaders[task]()
        if protocol == "oviedo" and task == "space_group":
            patterns, labels = oviedo_order(patterns, labels)
        results["tasks"][task] = run_task(patterns, labels, seeds, lambda s: print(s, flush=True), models, protocol)
        results["tasks"][task]["wall_seconds"] = time.perf_counter() - t0
        write(results, tag)
    return results


def write(results: dict, tag: str = "") -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"diffraction{tag}.json").write_text(json.dumps(results, indent=1))
    anchor = {"space_group": 0.89, "dimensionality": 0.93}
    lines = ["# Diffraction pattern classification (Oviedo et al. 2019 experimental patterns)", "",
             f"Protocol: {results['protocol']}; seeds {results['seeds']}; see the docstring of "
             "`benchmarks/diffraction.py` for the exact models. Machine: shared, 2 cores, run under nice.", ""]
    for task, res in results["tasks"].items():
        lines += [f"## {task} ({res['n_patterns']} patterns; classes {res['classes']})", "",
                  f"Anchor: Oviedo et al. 2019 report {anchor[task]:.0%} accuracy. Wall time {res.get('wall_seconds', 0):.0f} s.", "",
                  "| model | accuracy | per seed (mean ± sd) | fold mean | balanced accuracy | ECE | ECE per seed "
                  "| ECE if perfectly calibrated (90 % range) | log loss | s per fit |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for name, m in res["models"].items():
            floor = m.get("ece_perfectly_calibrated", (float("nan"),) * 3)
            seeds_acc = [v["accuracy"] for v in m.get("per_seed", {}).values()]
            seeds_ece = " / ".join(f"{v['ece']:.3f}" for v in m.get("per_seed", {}).values())
            per_seed = " / ".join(f"{a:.3f}" for a in seeds_acc) + (
                f" ({np.mean(seeds_acc):.3f} ± {np.std(seeds_acc, ddof=1):.3f})" if len(seeds_acc) > 1 else "")
            lines.append(f"| {name} | {m['accuracy']:.3f} | {per_seed} | {m.get('fold_mean_accuracy', float('nan')):.3f} | "
                         f"{m['balanced_accuracy']:.3f} | {m['ece']:.3f} | {seeds_ece} | "
                         f"{floor[0]:.3f} ({floor[1]:.3f}-{floor[2]:.3f}) | {m['log_loss']:.3f} | {m['seconds_per_fit']:.1f} |")
        for name in ("auto8", "auto"):
            if "chosen" in res["models"].get(name, {}):
                lines += ["", f"{name} chose: {res['models'][name]['chosen']}"]
        lines.append("")
    (RESULTS / f"diffraction{tag}.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--tasks", nargs="+", default=["space_group", "dimensionality"])
    parser.add_argument("--tag", default="", help="suffix of the result files (diffraction<TAG>.md|json)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--protocol", choices=["strict", "oviedo"], default="strict",
                        help="strict: stratified 5-fold per seed over all patterns (default); oviedo: their script's "
                             "kind of split (unstratified KFold per seed, their 86 space-group patterns; --seeds 3 "
                             "is their split)")
    args = parser.parse_args()
    classification(tuple(args.seeds), tuple(args.tasks), args.tag, tuple(args.models), args.protocol)


if __name__ == "__main__":
    main()
