"""Probe for #21: does more capacity close the gap of the SOAP Δ-correction to GAP/MTP on the mlearn sets?

Session 11 found the shipped correction (``models/potentials/soap_delta.py``: SOAP n_max 8, l_max 6, hard
cutoff, M 2000, no two-body term) underfitting: training errors equal validation errors, and the kernel alone
on the raw DFT data is as good as on CHGNet's residuals (``results/potentials_delta_forces.md``). This probe
adds, one at a time, what the paper's GAP has and ours lacks:

- a finer descriptor (n_max, l_max up to 10-12, as in the Si GAPs of the Csányi/Kermode groups);
- a smooth cutoff: dscribe's ``poly`` weighting (Caro, PRB 100, 024112 (2019)) that brings every neighbour's
  density to zero at ``r0`` (without it dscribe truncates the Gaussians at r_cut + 1.86 Å);
- GAP's two-body term: a pair energy ``sum_{i<j} phi(r_ij)`` with ``phi`` a linear combination of K Gaussian
  radial functions times a cosine cutoff (linear in its coefficients, so it joins the same least squares with
  a ridge prior of scale ``delta_2b``);
- more sparse points (M up to 4000).

Same protocol as ``potentials_delta_forces.py``: hyper-parameters (M, sigma_E, sigma_F, delta_2b) on a 20 %
validation split of the training structures (seed 0) by the smallest product of validation energy and force
MAEs, refit on all training structures, test MAEs last. Both targets: CHGNet's residuals (Δ) and the raw DFT
data (the kernel alone), from the same rows. The derivative rows use only the centres within reach of the
moved atom (the shipped ``design_rows``).

usage: OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python benchmarks/potentials_soap_capacity.py --element Ge
       --n-max 10 --l-max 10 --smooth 5.0 --pair 20 --m-max 4000 --tag ge_n10l10_s5_p20
       (CHGNet's predictions are read from / written to ``--cache`` as in ``potentials_delta_forces.py``)
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from potentials import _GAP_MTP  # noqa: E402

from matloop.models.potentials.soap_delta import VOIGT, strain_rows  # noqa: E402  ((1/V) dE/d(strain), Voigt order)

RESULTS = Path(__file__).parent / "results" / "potentials_soap_capacity"
SIGMA_E = (0.0001, 0.0002, 0.0003, 0.0005, 0.001, 0.002)
SIGMA_F = (0.01, 0.02, 0.05, 0.1)
DELTA_2B = (0.001, 0.03, 1.0, 10.0)
SIGMA_V = (None, 0.002, 0.01, 0.05)  # eV/atom on the virial per atom; None: no stress rows  # prior std of the pair coefficients (eV)
EV_PER_A3_IN_GPA = 160.21766208


def descriptor(element: str, n_max: int, l_max: int, r_cut: float, smooth: float | None, sigma: float = 0.5):
    from dscribe.descriptors import SOAP

    kw = {"weighting": {"function": "poly", "r0": smooth, "c": 1, "m": 1}} if smooth else {}
    return SOAP(species=[element], r_cut=smooth or r_cut, n_max=n_max, l_max=l_max, sigma=sigma,
                periodic=True, average="off", **kw)


def soap_rows(desc, atoms, sparse: np.ndarray, zeta: int, forces: bool = True):
    """Energy row (M) and force rows (3n x M) of the SOAP kernel part (one element): the shipped
    :func:`matloop.models.potentials.soap_delta.design_rows` (derivatives only for the centres a moved atom
    reaches), without its element-constant column."""
    from matloop.models.potentials.soap_delta import design_rows

    n, m = len(atoms), len(sparse)
    e_row, f_rows = design_rows(desc, atoms, sparse, np.zeros(m, dtype=int), np.zeros(n, dtype=int), 1, zeta, forces)
    return e_row[:m], None if f_rows is None else f_rows[:, :m]


def pair_rows(atoms, k: int, r_cut: float):
    """Energy row (K) and force rows (3n x K) of the two-body term (one element; the shipped
    :mod:`matloop.models.potentials.pair_term`)."""
    from matloop.models.potentials.pair_term import pair_rows as rows

    return rows(atoms, np.zeros(len(atoms), dtype=int), 1, k, r_cut)


def chgnet_stress(el: str, cache: Path, sets: dict) -> dict:
    """CHGNet's stresses (GPa, tensile +) of every structure, cached."""
    path = cache / el / "chgnet_stress.npz"
    if not path.exists():
        import torch

        from matloop.models.potentials.features import load_chgnet
        from matloop.models.potentials.finetune import predict

        torch.set_num_threads(1)
        model = load_chgnet()
        np.savez(path, **{s: np.array([p["stress"] for p in predict(model, recs, batch_size=2, stress=True)])
                          for s, recs in sets.items()})
    data = np.load(path)
    return {s: data[s] for s in sets}


def table() -> str:
    """``results/potentials_soap_capacity.md`` from every run's JSON (``--table``)."""
    runs = sorted((json.loads(f.read_text()) for f in RESULTS.glob("*.json")),
                  key=lambda r: ("LiGeSi".index(r["args"]["element"]), r["tag"]))
    lines = ["# Probe: more capacity for the SOAP Δ-correction (mlearn test sets)", "",
             "Written by `benchmarks/potentials_soap_capacity.py` (one run per row, protocol in its docstring; "
             "`--table` renders this file). Test MAEs: energy meV/atom, forces eV/Å over components; "
             "hyper-parameters chosen on a 20 % validation split of the training structures by the smallest "
             "product of validation energy and force MAEs. Δ: fitted to CHGNet's residuals (what `potential fit "
             "--correction soap` ships); raw: the same kernel model on the DFT data alone. Rows: seconds for the "
             "descriptor derivatives and design rows of training and test sets on one core (two runs shared the "
             "2 cores).", "",
             "| element | n_max / l_max | cutoff | two-body K | M | virials | Δ test E / F | raw test E / F | "
             "Δ chosen (sigma_E, sigma_F, delta_2b, sigma_V) | rows (s) | GAP E / F | MTP E / F |",
             "|---|---|---|--:|--:|---|---|---|---|--:|---|---|"]
    for r in runs:
        a, res = r["args"], {x["target"]: x for x in r["results"]}
        d, w = res["delta"], res["raw"]
        cut = f"smooth to zero at {a['smooth']} Å" if a.get("smooth") else f"hard {a['r_cut']} Å (+1.86 Å tails)"

        def pair(x):
            return f"{x.get('test_e', x.get('test_energy_mae')):.2f} / {x.get('test_f', x.get('test_force_mae')):.3f}"

        chosen = ", ".join(str(d.get(k)) for k in ("sigma_E", "sigma_F", "delta_2b", "sigma_V"))
        lines.append(f"| {a['element']} | {a['n_max']} / {a['l_max']} | {cut} | {a['pair']} | {d.get('M', a['m_max'])} | "
                     f"{'yes' if a.get('stress') else 'no'} | {pair(d)} | {pair(w)} | {chosen} | "
                     f"{r['rows_seconds_1core']:.0f} | {r['gap'][0]} / {r['gap'][1]} | {r['mtp'][0]} / {r['mtp'][1]} |")
    text = "\n".join(lines) + "\n"
    reading = RESULTS.parent / "potentials_soap_capacity_reading.md"
    if reading.exists():
        text += "\n" + reading.read_text()
    (RESULTS.parent / "potentials_soap_capacity.md").write_text(text)
    return text


def main(argv=None) -> None:
    if argv is None and sys.argv[1:] == ["--table"]:
        print(table())
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--element", required=True)
    p.add_argument("--n-max", type=int, default=8)
    p.add_argument("--l-max", type=int, default=6)
    p.add_argument("--r-cut", type=float, default=5.0)
    p.add_argument("--smooth", type=float, default=None, help="poly weighting to zero at this radius (Å)")
    p.add_argument("--zeta", type=int, default=4)
    p.add_argument("--pair", type=int, default=0, help="two-body basis size K (0: none)")
    p.add_argument("--pair-cut", type=float, default=5.0)
    p.add_argument("--m-max", type=int, default=2000)
    p.add_argument("--max-train", type=int, default=None)
    p.add_argument("--cache", type=Path, default=Path("/tmp/matloop_delta21b"))
    p.add_argument("--stress", action="store_true", help="add virial rows (GAP fits virials too)")
    p.add_argument("--tag", required=True)
    args = p.parse_args(argv)
    from matloop.datasets.potential_sets import open_potential_set

    el = args.element
    sets = {s: open_potential_set(f"mlearn_{el.lower()}_{s}") for s in ("train", "test")}
    base = np.load(args.cache / el / "chgnet.npz")
    if args.max_train:
        sets["train"] = sets["train"][:args.max_train]
    desc = descriptor(el, args.n_max, args.l_max, args.r_cut, args.smooth)
    t0 = time.time()
    tr, te = sets["train"], sets["test"]
    P = np.vstack([desc.create(r.atoms()) for r in tr])
    Q = P / np.linalg.norm(P, axis=1, keepdims=True)
    from matloop.models.potentials.soap_delta import kmeanspp

    sparse = Q[kmeanspp(Q, args.m_max, np.random.default_rng(0))]
    m = len(sparse)
    print(f"{el}: F={P.shape[1]}, M={m}", flush=True)
    K = args.pair
    width = m + K + 1
    perm = np.random.default_rng(0).permutation(len(tr))
    is_val = np.zeros(len(tr), bool)
    is_val[perm[:len(tr) // 5]] = True
    blocks = ("E", "F", "V") if args.stress else ("E", "F")
    gram = {part: {b: np.zeros((width, width)) for b in blocks} for part in ("fit", "val")}
    rhs = {part: {t: {b: np.zeros(width) for b in blocks} for t in ("delta", "raw")} for part in ("fit", "val")}
    kept = {"val": [], "test": []}
    starts = {s: np.concatenate([[0], np.cumsum([r.n_atoms for r in recs])]) for s, recs in sets.items()}
    c_stress = chgnet_stress(el, args.cache, sets) if args.stress else None

    def energy_row(atoms):
        e = [soap_rows(desc, atoms, sparse, args.zeta, forces=False)[0]]
        if K:
            e.append(pair_rows(atoms, K, args.pair_cut)[0])
        return np.concatenate(e + [[len(atoms)]])

    for split, recs in (("train", tr), ("test", te)):
        for k, r in enumerate(recs):
            atoms = r.atoms()
            n = len(atoms)
            e_s, f_s = soap_rows(desc, atoms, sparse, args.zeta)
            parts_e, parts_f = [e_s], [f_s]
            if K:
                e_p, f_p = pair_rows(atoms, K, args.pair_cut)
                parts_e.append(e_p)
                parts_f.append(f_p)
            rows = {"E": (np.concatenate(parts_e + [[n]]) / n)[None, :],
                    "F": np.hstack(parts_f + [np.zeros((3 * n, 1))])}
            y_f = np.asarray(r.forces, dtype=float).ravel()
            bf = base[f"{split}_f"][starts[split][k]:starts[split][k + 1]].ravel()
            targets = {"raw": {"E": np.array([r.energy_per_atom]), "F": y_f},
                       "delta": {"E": np.array([r.energy_per_atom - base[f"{split}_e"][k]]), "F": y_f - bf}}
            if args.stress:
                rows["V"] = strain_rows(energy_row, atoms) * atoms.get_volume() / n  # dE/d(strain) per atom (eV/atom)
                vol = atoms.get_volume() / n / EV_PER_A3_IN_GPA  # GPa -> eV/atom
                dft = np.array([r.stress[a, b] for a, b in VOIGT]) * vol
                chg = np.array([c_stress[split][k][a, b] for a, b in VOIGT]) * vol
                targets["raw"]["V"], targets["delta"]["V"] = dft, dft - chg
            if split == "test" or is_val[k]:
                kept["test" if split == "test" else "val"].append(
                    ({b: v.astype(np.float32) for b, v in rows.items()}, targets, atoms.get_volume() / n / EV_PER_A3_IN_GPA))
            if split == "train":
                part = "val" if is_val[k] else "fit"
                for b in blocks:
                    gram[part][b] += rows[b].T @ rows[b]
                    for t in targets:
                        rhs[part][t][b] += rows[b].T @ targets[t][b]
            if k % 25 == 0:
                print(f"  {split} {k}/{len(recs)} {time.time() - t0:.0f} s", flush=True)
    rows_s = time.time() - t0
    Kmm = (sparse @ sparse.T) ** args.zeta
    prior_base = np.zeros((width, width))
    prior_base[:m, :m] = Kmm

    def errors(w, items, t):
        e = 1000 * np.mean([abs(rw["E"] @ w - tg[t]["E"]).item() for rw, tg, _ in items])
        f = np.mean(np.concatenate([np.abs(rw["F"] @ w - tg[t]["F"]) for rw, tg, _ in items]))
        out = {"e": float(e), "f": float(f)}
        if args.stress:  # back to GPa
            out["s"] = float(np.mean(np.concatenate([np.abs(rw["V"] @ w - tg[t]["V"]) / vol for rw, tg, vol in items])))
        return out

    def fit_weights(G, b, hp):
        A = G["E"] / hp["sigma_E"] ** 2 + G["F"] / hp["sigma_F"] ** 2 + prior_base
        y = b["E"] / hp["sigma_E"] ** 2 + b["F"] / hp["sigma_F"] ** 2
        if K:
            A[m:m + K, m:m + K] += np.eye(K) / hp["delta_2b"] ** 2
        if args.stress and hp["sigma_V"] is not None:
            A = A + G["V"] / hp["sigma_V"] ** 2
            y = y + b["V"] / hp["sigma_V"] ** 2
        from scipy.linalg import cho_factor, cho_solve

        d = 1.0 / np.sqrt(np.diag(A) + 1e-300)
        As = A * d[:, None] * d[None, :]
        As[np.diag_indices_from(As)] += 1e-9
        return cho_solve(cho_factor(As), y * d) * d

    space = {"sigma_E": SIGMA_E, "sigma_F": SIGMA_F}
    if K:
        space["delta_2b"] = DELTA_2B
    if args.stress:
        space["sigma_V"] = SIGMA_V
    results = []
    for t in ("delta", "raw"):
        seen = {}

        def score(hp, t=t, seen=seen):
            key = tuple(sorted(hp.items(), key=lambda kv: kv[0]))
            if key not in seen:
                w = fit_weights(gram["fit"], rhs["fit"][t], hp)
                seen[key] = {**hp, **{f"val_{k}": v for k, v in errors(w, kept["val"], t).items()}}
            g = seen[key]
            return g["val_e"] * g["val_f"]

        hp = {"sigma_E": 0.0003, "sigma_F": 0.05, "delta_2b": 1.0, "sigma_V": None}
        for _sweep in range(2):  # coordinate descent over the grids
            for name, values in space.items():
                hp[name] = min(values, key=lambda v, name=name: score({**hp, name: v}))
        best = seen[tuple(sorted(hp.items(), key=lambda kv: kv[0]))]
        total_g = {b: gram["fit"][b] + gram["val"][b] for b in blocks}
        total_b = {b: rhs["fit"][t][b] + rhs["val"][t][b] for b in blocks}
        w = fit_weights(total_g, total_b, hp)
        test = errors(w, kept["test"], t)
        results.append({"target": t, **best, **{f"test_{k}": v for k, v in test.items()}, "grid": list(seen.values())})
        print(f"{el} {t:5s} chosen {hp}: val {best['val_e']:.2f}/{best['val_f']:.4f}  TEST {test}", flush=True)
    (gap_e, gap_f), (mtp_e, mtp_f) = _GAP_MTP[el]
    out = {"tag": args.tag, "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
           "n_features": int(P.shape[1]), "rows_seconds_1core": round(rows_s, 1),
           "gap": [gap_e, gap_f], "mtp": [mtp_e, mtp_f], "load": os.getloadavg()[0], "results": results}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.tag}.json").write_text(json.dumps(out, indent=1))
    print(f"rows {rows_s:.0f} s; GAP {gap_e}/{gap_f} MTP {mtp_e}/{mtp_f}", flush=True)


if __name__ == "__main__":
    main()
