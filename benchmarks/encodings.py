"""Which encoding of categorical, SMILES and composition parameters helps the default surrogate?

Two measurements on the bundled Olympus sets (issue #17, "Inputs"):

A. Held-out error of the default surrogate (``etgp``, :data:`matloop.design.surrogate.DEFAULT_SURROGATE`)
   trained on ``n`` random rows (campaign-sized: 60 and 240) and scored on up to 1,000 other rows,
   5 repeats, for each encoding of the parameter columns:

   - ``numeric only``: what matloop did before (text columns ignored; redoxmers and dye_lasers then
     have no input at all),
   - ``codes``: each label as an integer code (the naive alternative),
   - ``one-hot``: :class:`~matloop.design.encode.ParameterEncoder` with ``smiles="onehot"``,
   - ``chemical``: the default encoder (SMILES columns -> RDKit descriptors + Morgan PCA), dye_lasers only,
   - ``loadings`` vs ``loadings + elements`` (``composition="both"``) on the OER plates.

   Scores: RMSE / std of the test target (lower is better), Spearman rho (higher is better), and the
   mean Gaussian negative log-likelihood of the predictive distribution (lower is better).
   vapdiff_crystal's target is its crystal score as an ordinal 1..4 (clear solution .. large crystallites).

B. Transfer between OER plates (they share Ni, Fe, Co, Mn): train on one whole plate, predict the
   other plate's rows that use only the shared elements, and all its rows, with (a) the raw loadings
   (every element a column, zero where absent: the other plate's own elements are never seen), (b)
   :func:`~matloop.design.encode.composition_features` (loading-weighted Magpie properties, the same
   names on both plates) and (c) both. Spearman rho, and the share of the target plate's best 5 %
   found in the top 10 % of the transferred prediction (a prior's use in a campaign).

usage: python benchmarks/encodings.py [--repeats 5] [--sizes 60 240] [--quick]
Writes ``benchmarks/results/encodings.md`` and ``.json``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from matloop.datasets import load  # noqa: E402
from matloop.design.encode import ParameterEncoder, composition_features  # noqa: E402
from matloop.design.surrogate import DEFAULT_SURROGATE, make_surrogate  # noqa: E402

RESULTS = Path(__file__).parent / "results"
CRYSTAL = {"clear_solution": 1, "fine_powder": 2, "small_crystallites": 3, "large_crystallites": 4}


def _encodings(name: str, frame: pd.DataFrame, cols: list[str]) -> dict[str, pd.DataFrame | None]:
    text = [c for c in cols if not pd.api.types.is_numeric_dtype(frame[c])]
    numeric = [c for c in cols if c not in text]
    out: dict[str, pd.DataFrame | None] = {"numeric only": frame[numeric].astype(float) if numeric else None}
    if text:
        codes = frame[cols].copy()
        for c in text:
            codes[c] = pd.factorize(codes[c], sort=True)[0].astype(float)
        out["codes"] = codes.astype(float)
        out["one-hot"] = ParameterEncoder(smiles="onehot").fit_transform(frame[cols])
        enc = ParameterEncoder().fit(frame[cols])
        if any(k == "smiles" for _, k, _, _ in enc.describe()):
            out["chemical"] = enc.transform(frame[cols])
    if name.startswith("oer"):
        out = {"loadings": ParameterEncoder().fit_transform(frame[cols]),
               "loadings + elements": ParameterEncoder(composition="both").fit_transform(frame[cols])}
    return out


def _score(y_true: np.ndarray, mu: np.ndarray, sd: np.ndarray) -> dict[str, float]:
    sd = np.maximum(sd, 1e-9 * (np.std(y_true) + 1e-12))
    return {"nrmse": float(np.sqrt(np.mean((y_true - mu) ** 2)) / np.std(y_true)),
            "spearman": float(spearmanr(y_true, mu).statistic),
            "nll": float(np.mean(0.5 * np.log(2 * np.pi * sd**2) + 0.5 * ((y_true - mu) / sd) ** 2))}


def part_a(sizes: list[int], repeats: int) -> list[dict]:
    sets = {"redoxmers": ["abs_lam_diff", "ered", "gsol"], "dye_lasers": ["peak_score", "spectral_overlap", "fluo_rate"],
            "vapdiff_crystal": ["crystal_score"], "oer_plate_3496": ["overpotential"],
            "oer_plate_3851": ["overpotential"]}
    rows = []
    for name, targets in sets.items():
        ds = load(name)
        frame = ds.frame
        cols = [c for c in frame.columns if c not in ds.targets]
        encodings = _encodings(name, frame, cols)
        for target in targets:
            y = frame[target].map(CRYSTAL).to_numpy(dtype=float) if target == "crystal_score" else \
                frame[target].to_numpy(dtype=float)
            for n in sizes:
                for enc_name, X in encodings.items():
                    if X is None:
                        rows.append({"set": name, "target": target, "n_train": n, "encoding": enc_name,
                                     "n_features": 0, "nrmse": None, "spearman": None, "nll": None,
                                     "note": "no input column (the table was refused)"})
                        continue
                    scores, t0 = [], time.perf_counter()
                    for r in range(repeats):
                        rng = np.random.default_rng(1000 + r)
                        perm = rng.permutation(len(y))
                        train, test = perm[:n], perm[n:n + 1000]
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            model = make_surrogate(DEFAULT_SURROGATE, r).fit(X.to_numpy()[train], y[train])
                            mu, sd = model.predict(X.to_numpy()[test], return_std=True)
                        scores.append(_score(y[test], mu, sd))
                    mean = {k: float(np.mean([s[k] for s in scores])) for k in scores[0]}
                    se = {f"{k}_se": float(np.std([s[k] for s in scores]) / np.sqrt(repeats)) for k in scores[0]}
                    rows.append({"set": name, "target": target, "n_train": n, "encoding": enc_name,
                                 "n_features": X.shape[1], **mean, **se,
                                 "seconds_per_fit": (time.perf_counter() - t0) / repeats})
                    print(f"{name:16s} {target:17s} n={n:4d} {enc_name:20s} nRMSE {mean['nrmse']:.3f} "
                          f"rho {mean['spearman']:.3f} NLL {mean['nll']:.3f}", flush=True)
    return rows


def _raw(frame: pd.DataFrame, elements: list[str]) -> pd.DataFrame:
    return pd.DataFrame({f"{el.lower()}_load": frame.get(f"{el.lower()}_load", pd.Series(0.0, index=frame.index))
                         for el in elements}).astype(float)


def part_b() -> list[dict]:
    plates = {p: load(f"oer_plate_{p}").frame for p in ("3851", "3496")}
    load_cols = {p: [c for c in f.columns if c.endswith("_load")] for p, f in plates.items()}
    elements = sorted({c[:-5].capitalize() for cols in load_cols.values() for c in cols})
    shared = sorted(set(load_cols["3851"]) & set(load_cols["3496"]))
    rows = []
    for source, target in (("3851", "3496"), ("3496", "3851")):
        fs, ft = plates[source], plates[target]
        own = [c for c in load_cols[target] if c not in shared]
        only_shared = (ft[own].sum(axis=1) == 0).to_numpy()
        feats = {
            "raw loadings": (_raw(fs, elements), _raw(ft, elements)),
            "element features": (composition_features(fs, load_cols[source]), composition_features(ft, load_cols[target])),
        }
        feats["element means only"] = (composition_features(fs, load_cols[source], stats=("mean",)),
                                       composition_features(ft, load_cols[target], stats=("mean",)))
        feats["raw + element features"] = tuple(pd.concat([a, b], axis=1) for a, b in zip(
            feats["raw loadings"], feats["element features"], strict=True))
        ys, yt = fs["overpotential"].to_numpy(dtype=float), ft["overpotential"].to_numpy(dtype=float)
        for name, (Xs, Xt) in feats.items():
            for model_name in (DEFAULT_SURROGATE, "rf"):
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    mu = make_surrogate(model_name, 0).fit(Xs.to_numpy(), ys).predict(Xt.to_numpy())
                for subset, mask in (("shared-element rows", only_shared), ("all rows", np.ones(len(yt), bool))):
                    y, m = yt[mask], mu[mask]
                    best = y <= np.quantile(y, 0.05)  # minimise overpotential
                    top = m <= np.quantile(m, 0.10)
                    rows.append({"train": source, "predict": target, "rows": subset, "n": int(mask.sum()),
                                 "features": name, "model": model_name, "n_features": Xs.shape[1],
                                 "spearman": float(spearmanr(y, m).statistic),
                                 "best5_in_top10": float((best & top).sum() / best.sum()),
                                 "seconds": time.perf_counter() - t0})
                    print(f"{source}->{target} {subset:20s} {name:24s} {model_name:5s} rho "
                          f"{rows[-1]['spearman']:.3f} best5%-in-top10% {rows[-1]['best5_in_top10']:.2f}", flush=True)
    return rows


def _fmt(v, digits=3) -> str:
    return "n/a" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.{digits}f}"


def _summary(a: list[dict], b: list[dict]) -> list[str]:
    """Mean nRMSE per (set, n train, encoding) over the set's targets, and mean rho per transfer feature set."""
    out = ["Mean nRMSE over each set's targets (lower is better):", "",
           "| set | n train | " + " | ".join(ENC_ORDER) + " |", "|---|---|" + "---|" * len(ENC_ORDER)]
    frame = pd.DataFrame(a)
    if len(frame):
        for (name, n), grp in frame.groupby(["set", "n_train"], sort=False):
            means = grp.groupby("encoding")["nrmse"].mean()
            out.append(f"| {name} | {n} | " + " | ".join(_fmt(means.get(e)) if e in means.index else "" for e in ENC_ORDER)
                       + " |")
    t = pd.DataFrame(b)
    if len(t):
        out += ["", "Transfer between the plates, Spearman rho averaged over both directions:", "",
                "| rows | model | " + " | ".join(t["features"].unique()) + " |",
                "|---|---|" + "---|" * t["features"].nunique()]
        for (rows, model), grp in t.groupby(["rows", "model"], sort=False):
            means = grp.groupby("features")["spearman"].mean()
            out.append(f"| {rows} | {model} | " + " | ".join(_fmt(means[f]) for f in t["features"].unique()) + " |")
    return out


ENC_ORDER = ["numeric only", "codes", "one-hot", "chemical", "loadings", "loadings + elements"]


def write(a: list[dict], b: list[dict], args) -> None:
    RESULTS.mkdir(exist_ok=True)
    meta = {"repeats": args.repeats, "sizes": args.sizes, "surrogate": DEFAULT_SURROGATE,
            "command": "python benchmarks/encodings.py " + " ".join(
                [f"--repeats {args.repeats}", "--sizes " + " ".join(map(str, args.sizes))])}
    (RESULTS / "encodings.json").write_text(json.dumps({"meta": meta, "cv": a, "transfer": b}, indent=1))
    lines = ["# Encodings of categorical, SMILES and composition parameters", "",
             f"`{meta['command']}`; default surrogate `{DEFAULT_SURROGATE}`; see the script's docstring for the "
             "protocol. nRMSE = RMSE / std of the test target (lower is better), rho = Spearman (higher is better), "
             "NLL = Gaussian negative log-likelihood (lower is better); mean ± standard error over the repeats.", "",
             "## Summary", "", *_summary(a, b), "",
             "## A. Held-out error by encoding", "",
             "| set | target | n train | encoding | features | nRMSE | rho | NLL |", "|---|---|---|---|---|---|---|---|"]
    for r in a:
        if r["nrmse"] is None:
            lines.append(f"| {r['set']} | {r['target']} | {r['n_train']} | {r['encoding']} | 0 | {r['note']} | | |")
            continue
        lines.append(f"| {r['set']} | {r['target']} | {r['n_train']} | {r['encoding']} | {r['n_features']} | "
                     f"{_fmt(r['nrmse'])} ± {_fmt(r['nrmse_se'])} | {_fmt(r['spearman'])} ± {_fmt(r['spearman_se'])} | "
                     f"{_fmt(r['nll'])} ± {_fmt(r['nll_se'])} |")
    lines += ["", "## B. Transfer between the OER plates (train on one whole plate, predict the other)", "",
              "| train | predict | rows | n | features | model | rho | best 5 % in top 10 % |",
              "|---|---|---|---|---|---|---|---|"]
    for r in b:
        lines.append(f"| {r['train']} | {r['predict']} | {r['rows']} | {r['n']} | {r['features']} | {r['model']} | "
                     f"{_fmt(r['spearman'])} | {_fmt(r['best5_in_top10'], 2)} |")
    (RESULTS / "encodings.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS / 'encodings.md'} and .json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[60, 240])
    parser.add_argument("--skip-a", action="store_true", help="only the plate transfer")
    parser.add_argument("--report-only", action="store_true", help="rewrite the report from the stored JSON")
    args = parser.parse_args()
    if args.report_only:
        stored = json.loads((RESULTS / "encodings.json").read_text())
        args.repeats, args.sizes = stored["meta"]["repeats"], stored["meta"]["sizes"]
        write(stored["cv"], stored["transfer"], args)
        return
    b = part_b()
    a = [] if args.skip_a else part_a(args.sizes, args.repeats)
    write(a, b, args)


if __name__ == "__main__":
    main()
