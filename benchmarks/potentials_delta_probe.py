"""Probe for #21 (not shipped): an energy-only Δ-learning correction on top of zero-shot CHGNet.

Question: is a GAP-like correction (Bartók et al. 2010; Bartók, Kondor & Csányi 2013) fitted to the
residual energies of CHGNet a route to the paper's energy MAEs on the mlearn test sets (Zuo et al.
2020; MTP/GAP: Si 2.21/2.91, Ge 1.79/2.06, Li 0.49/0.49 meV/atom), where fine-tuning CHGNet plateaus
at 2-2.5x those values (``results/potentials.md``)?

Model: per-atom SOAP power spectra (dscribe; r_cut 5 Å, n_max 8, l_max 6, normalised), structure
kernel = mean over atom pairs of ``(p_i . p_j) ** zeta`` (GAP's per-atom-energy kernel, energies
only: no forces in the fit), kernel ridge on the per-atom energy residual
``E_DFT/N - E_CHGNet/N`` (constant offset included), the regulariser chosen by 5-fold
cross-validation on the training set only. Rows: the same kernel on the raw energies ("SOAP kernel
alone") and on CHGNet's residuals ("CHGNet + kernel Δ"), zeta 2 and 4. Forces of the corrected
model are NOT evaluated (an energy-only correction also changes the forces through its gradient).

usage: python benchmarks/potentials_delta_probe.py [--elements Si Ge Li]
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
from potentials import _GAP_MTP  # noqa: E402  (the paper's GAP and MTP errors)

RESULTS = Path(__file__).parent / "results"


def soap_atoms(records, element: str):
    """Normalised per-atom SOAP vectors of every record, and the record index of each atom."""
    from dscribe.descriptors import SOAP

    soap = SOAP(species=[element], r_cut=5.0, n_max=8, l_max=6, periodic=True, average="off")
    P = [soap.create(r.atoms()) for r in records]
    P = [p / np.linalg.norm(p, axis=1, keepdims=True) for p in P]
    return np.vstack(P), np.concatenate([[i] * len(p) for i, p in enumerate(P)])


def structure_kernel(PA, iA, PB, iB, zeta: int) -> np.ndarray:
    """Mean over atom pairs of ``(p_i . p_j) ** zeta`` between every record of A and of B."""
    nA, nB = np.bincount(iA), np.bincount(iB)
    K = np.zeros((len(nA), len(nB)))
    for s in range(0, len(PA), 2000):
        k = (PA[s:s + 2000] @ PB.T) ** zeta
        kb = np.zeros((k.shape[0], len(nB)))
        np.add.at(kb.T, iB, k.T)
        np.add.at(K, iA[s:s + 2000], kb)
    return K / nA[:, None] / nB[None, :]


def kernel_ridge(Ktr, ytr, Kte, folds: int = 5) -> tuple[np.ndarray, float]:
    """Predictions for the test rows; the regulariser from ``folds``-fold CV on the training rows."""
    c = float(ytr.mean())
    split = np.random.default_rng(0).permutation(len(ytr)) % folds
    best = None
    for lam in np.logspace(-9, -2, 15):
        err = []
        for f in range(folds):
            a, b = split != f, split == f
            w = np.linalg.solve(Ktr[np.ix_(a, a)] + lam * np.eye(a.sum()), ytr[a] - c)
            err.append(np.abs(Ktr[np.ix_(b, a)] @ w + c - ytr[b]))
        e = float(np.mean(np.concatenate(err)))
        if best is None or e < best[0]:
            best = (e, lam)
    w = np.linalg.solve(Ktr + best[1] * np.eye(len(ytr)), ytr - c)
    return Kte @ w + c, best[1]


def run(element: str) -> list[dict]:
    import torch

    from matloop.datasets.potential_sets import open_potential_set
    from matloop.models.potentials.features import load_chgnet
    from matloop.models.potentials.finetune import predict

    torch.set_num_threads(1)
    t0 = time.time()
    tr = open_potential_set(f"mlearn_{element.lower()}_train")
    te = open_potential_set(f"mlearn_{element.lower()}_test")
    model = load_chgnet()

    def chgnet_energies(records) -> np.ndarray:
        return np.array([p["energy_per_atom"] for p in predict(model, records, batch_size=4, forces=False)])

    base_tr, base_te = chgnet_energies(tr), chgnet_energies(te)
    Ptr, itr = soap_atoms(tr, element)
    Pte, ite = soap_atoms(te, element)
    ytr = np.array([r.energy_per_atom for r in tr])
    yte = np.array([r.energy_per_atom for r in te])
    offset = float(np.mean(ytr - base_tr))
    rows = [{"element": element, "model": "CHGNet zero-shot + offset", "zeta": None, "lambda": None,
             "energy_mae": 1000 * float(np.mean(np.abs(base_te + offset - yte)))}]
    for zeta in (2, 4):
        Ktr = structure_kernel(Ptr, itr, Ptr, itr, zeta)
        Kte = structure_kernel(Pte, ite, Ptr, itr, zeta)
        for name, btr, bte in (("SOAP kernel alone", 0 * base_tr, 0 * base_te),
                               ("CHGNet + kernel Δ", base_tr, base_te)):
            pred, lam = kernel_ridge(Ktr, ytr - btr, Kte)
            rows.append({"element": element, "model": name, "zeta": zeta, "lambda": lam,
                         "energy_mae": 1000 * float(np.mean(np.abs(pred + bte - yte)))})
    for r in rows:
        r.update(n_train=len(tr), n_test=len(te), element_seconds=round(time.time() - t0, 1))
        print(f"{element:3s} {r['model']:28s} zeta {r['zeta']}: test energy MAE {r['energy_mae']:.2f} meV/atom",
              flush=True)
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--elements", nargs="+", default=["Si", "Ge", "Li"])
    args = p.parse_args(argv)
    rows = [r for el in args.elements for r in run(el)]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "potentials_delta_probe.json").write_text(json.dumps(rows, indent=1))
    lines = ["# Probe: energy-only Δ-learning on top of CHGNet (mlearn test sets)", "",
             "Written by `benchmarks/potentials_delta_probe.py` (model and protocol in its docstring). Test "
             "energy MAE in meV/atom; the regulariser chosen by 5-fold CV on the training set only. "
             "Forces not fitted and not evaluated: a probe of the route, not a potential.", "",
             "| element | model | zeta | test energy MAE | GAP / MTP (paper) |", "|---|---|--:|--:|---|"]
    for r in rows:
        (gap, _), (mtp, _) = _GAP_MTP[r["element"]]
        lines.append(f"| {r['element']} | {r['model']} | {r['zeta'] or '–'} | {r['energy_mae']:.2f} | {gap} / {mtp} |")
    (RESULTS / "potentials_delta_probe.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
