"""Stress rows for the #21 probe (``potentials_soap_weights.py --stress``): does fitting the DFT stresses help?

Until this probe the SOAP Δ-correction was fitted to energies and forces only; its stress followed from the scaled
base and the correction's own strain derivative (``SoapCorrection.stress``). GAP and MTP fits use the virials too (e.g.
Bartók, Kermode, Bernstein & Csányi, Phys. Rev. X 8, 041048 (2018); Novikov et al., Mach. Learn.: Sci. Technol.
2, 025002 (2021)): six more observations per structure, the only ones that see how the energy changes with the
cell. The correction is linear in its weights, so its stress is too: each structure's stress row (per Voigt
component, GPa) is ``(160.2 / V) d(energy row)/d(strain)``, by central differences of the energy rows of strained
cells (``soap_delta.strain_rows``, which ``SoapCorrection.stress`` and the shipped fit use too). The base column is
CHGNet's own stress.

Columns, in the order of the probe's base-scale run: the shipped first kernel, the two-body term and the element
counts (:func:`design_rows`), the shipped second kernel, then the base. The sparse sets are recomputed with the
probe's draws (seed for the first kernel, seed + 1 for the second) and checked against the cached energy rows.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def chgnet_stresses(records, path: Path) -> np.ndarray:
    """Pre-trained CHGNet's stresses (n x 6, GPa, tensile +), cached in ``path``."""
    if path.exists():
        with np.load(path) as data:
            return data["stress"]
    from matloop.models.potentials.finetune import FineTunedPotential
    from matloop.models.potentials.soap_delta import VOIGT

    pred = FineTunedPotential.pretrained().predict(records, batch_size=2, n_threads=1)
    out = np.array([[p["stress"][i, j] for i, j in VOIGT] for p in pred])
    np.savez(path, stress=out)
    return out


def stress_rows(element: str, cache: Path, R: dict, second: dict, seed: int, zeta: int,
                say=print) -> dict:
    """``{part}_S`` (6 n x width), ``{part}_yS`` (DFT minus CHGNet, GPa) and ``{part}_sstruct`` (the structure of
    each row) for the training and test sets; cached as ``stress_rows.npz`` beside the probe's rows ``R``."""
    path = cache / element / "stress_rows.npz"
    if path.exists():
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    from matloop.datasets.potential_sets import open_potential_set
    from matloop.models.potentials.soap_delta import (
        DEFAULTS,
        EV_PER_A3_IN_GPA,
        FD_STEP,
        VOIGT,
        design_rows,
        kernel_rows,
        soap_descriptor,
        strain_rows,
    )
    from matloop.models.potentials.soap_fit import sparse_environments

    s = DEFAULTS
    sets = {part: open_potential_set(f"mlearn_{element.lower()}_{part}") for part in ("train", "test")}
    atoms = {part: [r.atoms() for r in recs] for part, recs in sets.items()}
    species = sorted({el for a in atoms["train"] for el in a.get_chemical_symbols()})
    zs = {part: [np.array([species.index(el) for el in a.get_chemical_symbols()]) for a in atoms[part]]
          for part in atoms}
    desc = soap_descriptor(species, s["r_cut"], s["n_max"], s["l_max"], s["sigma"])
    desc2 = soap_descriptor(species, s["r_cut2"], int(s["n_max2"]), int(s["l_max2"]), s["sigma2"])
    sparse, sparse_z = sparse_environments(desc, atoms["train"], zs["train"], len(species), 4000,
                                           np.random.default_rng(seed))
    sparse2, sparse2_z = sparse_environments(desc2, atoms["train"], zs["train"], len(species), int(s["sparse2"]),
                                             np.random.default_rng(seed + 1))
    pair = (int(s["pair_basis"]), s["pair_cut"])
    out = {}
    for part in ("train", "test"):
        base = chgnet_stresses(sets[part], cache / element / f"chgnet_stress_{part}.npz")
        S, yS, start = [], [], time.perf_counter()
        for k, a in enumerate(atoms[part]):
            z = zs[part][k]

            def energy_row(moved, z=z):
                e = design_rows(desc, moved, sparse, sparse_z, z, len(species), zeta, False, pair)[0]
                return np.concatenate([e, kernel_rows(desc2, moved, sparse2, sparse2_z, z, zeta, False)[0]])

            if k == 0:  # the recomputed sparse sets must be the cached rows' own
                check = energy_row(a) / len(a)
                cached = np.concatenate([R[f"{part}_E"][0], second[f"{part}_E"][0]])
                if not np.allclose(check, cached, rtol=1e-6, atol=1e-9):
                    raise SystemExit(f"{element}: the recomputed sparse sets differ from the cached rows'")
            rows = EV_PER_A3_IN_GPA * strain_rows(energy_row, a, FD_STEP)
            S.append(np.hstack([rows, base[k][:, None]]))
            dft = sets[part][k].stress
            yS.append(np.array([dft[i, j] for i, j in VOIGT]) - base[k])
            if (k + 1) % 20 == 0:
                say(f"{element} {part}: stress rows of {k + 1}/{len(atoms[part])} ({time.perf_counter() - start:.0f} s)")
        out[f"{part}_S"], out[f"{part}_yS"] = np.vstack(S), np.concatenate(yS)
        out[f"{part}_sstruct"] = np.repeat(np.arange(len(atoms[part])), 6)
    np.savez(path, **out)
    return out
