"""Probe for #21: how the SOAP Δ-correction weighs its data (the noise levels and the force rows).

The shipped fit (``models/potentials/soap_delta.py``, ``potential fit --correction soap``) chooses sigma_E,
sigma_F and delta_2b by 5-fold cross-validation over the training structures, every force component with the
same sigma_F. This probe computes the shipped model's design rows once per element (the same descriptor, the
same sparse set and folds as the CLI with seed 0; kept in ``--cache``), then compares on them, all choices made
by cross-validation on the training set, test errors last:

- ``shipped``: uniform force rows (what the CLI does);
- ``fine grid`` (``--fine``): uniform force rows, the search over a finer grid (:data:`FINE`);
- ``second kernel`` (``--second R_CUT N_MAX L_MAX SIGMA M``): the shipped columns plus a second SOAP kernel's
  (another cutoff and resolution, its own M sparse environments; multi-scale kernels, Willatt, Musil & Ceriotti,
  J. Chem. Phys. 150, 154110 (2019)), its prior scale searched with the rest;
- ``more kernels`` (``--more R_CUT N_MAX L_MAX SIGMA M``, repeatable): the shipped second kernel (:func:`_shipped2`,
  prior scale 1) plus further kernels;
- ``base scale`` (``--base``): the shipped second kernel plus the base's own energies and forces as one more column
  (``SoapCorrection.base_scale``, what ``potential fit --correction soap`` does by default; its prior searched);
- ``embedding`` (``--embed K R_CUT``): the base-scale run plus an embedded-atom-like term (:func:`embed_rows`: smooth
  functions of each atom's neighbour densities), its prior ``delta_emb`` searched;
- ``config-type sigmas`` (``--types``): the base-scale run with each training structure's energy and force sigmas
  multiplied by a factor of its configuration type (AIMD, elastic, surface, vacancy), each factor searched with the
  rest (:data:`TYPES`; GAP fits set such per-type sigmas by hand, e.g. Bartók, Kermode, Bernstein & Csányi,
  Phys. Rev. X 8, 041048 (2018));
- ``force-scaled F0``: each force component's sigma grows with the DFT force on its atom,
  ``sigma_F * sqrt(1 + (|F_atom| / F0)^2)`` (large forces, in hot MD frames, are fitted less tightly; GAP
  fits often use such force-dependent regularisation), F0 in ``--f0`` eV/Å.

It also prints, for information only, the test errors of every setting the search tried (not used to choose), and
stores the chosen model's test energy error by the test structures' group (AIMD, elastic, surface, vacancy).

usage: OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python benchmarks/potentials_soap_weights.py --element Ge
       [--f0 2 1 0.5] [--cache /tmp/matloop_soap_rows]
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

RESULTS = Path(__file__).parent / "results" / "potentials_soap_weights"


def _say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def chgnet_residuals(records, path: Path) -> tuple[np.ndarray, list[np.ndarray]]:
    """DFT minus pre-trained CHGNet: total energies (eV) and forces (eV/Å), cached in ``path``."""
    if path.exists():
        with np.load(path) as data:
            e, f = data["energy"], data["forces"]
    else:
        from matloop.models.potentials.finetune import FineTunedPotential

        pred = FineTunedPotential.pretrained().predict(records, batch_size=2, n_threads=1)
        e = np.array([p["energy_per_atom"] * r.n_atoms for r, p in zip(records, pred, strict=True)])
        f = np.concatenate([p["forces"] for p in pred])
        np.savez(path, energy=e, forces=f)
    ends = np.cumsum([0] + [r.n_atoms for r in records])
    energies = np.array([r.energy for r in records]) - e
    forces = [np.asarray(r.forces) - f[a:b] for r, a, b in zip(records, ends[:-1], ends[1:], strict=True)]
    return energies, forces


#: the kernels' exponent (``--zeta``; None: the shipped DEFAULTS["zeta"])
ZETA: int | None = None


def _zeta() -> int:
    from matloop.models.potentials.soap_delta import DEFAULTS

    return int(ZETA or DEFAULTS["zeta"])


def rows(element: str, cache: Path, seed: int, folds: int, limit: int | None = None) -> dict:
    """The shipped model's rows of the training and test sets (computed once, then read from ``cache``)."""
    from matloop.datasets.potential_sets import open_potential_set
    from matloop.models.potentials.pair_term import n_pairs
    from matloop.models.potentials.soap_delta import DEFAULTS, design_rows, kernel_prior, soap_descriptor
    from matloop.models.potentials.soap_fit import _assign_groups, sparse_environments

    folder = cache / element
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / "rows.npz").exists():
        with np.load(folder / "rows.npz") as data:
            return {k: data[k] for k in data.files}
    out = {}
    sets = {part: open_potential_set(f"mlearn_{element.lower()}_{part}")[:limit] for part in ("train", "test")}
    atoms = {part: [r.atoms() for r in recs] for part, recs in sets.items()}
    species = sorted({el for a in atoms["train"] for el in a.get_chemical_symbols()})
    index = {el: k for k, el in enumerate(species)}
    s = DEFAULTS
    desc = soap_descriptor(species, s["r_cut"], s["n_max"], s["l_max"], s["sigma"])
    zs = {part: [np.array([index[el] for el in a.get_chemical_symbols()]) for a in atoms[part]] for part in atoms}
    rng = np.random.default_rng(seed)  # the same draws as fit_correction(seed=seed): sparse set, then folds
    sparse, sparse_z = sparse_environments(desc, atoms["train"], zs["train"], len(species), 4000 if limit is None
                                           else 50, rng)
    group, _, _ = _assign_groups(rng, len(atoms["train"]), folds, 0.2)
    out["group"], out["sparse_z"], out["prior"] = group, sparse_z, kernel_prior(sparse, sparse_z, _zeta())
    out["n_pair"] = np.array(n_pairs(len(species)) * s["pair_basis"])
    for part in ("train", "test"):
        energies, forces = chgnet_residuals(sets[part], folder / f"chgnet_{part}.npz")
        e_rows, f_rows, start = [], [], time.perf_counter()
        for k, a in enumerate(atoms[part]):
            e, f = design_rows(desc, a, sparse, sparse_z, zs[part][k], len(species), _zeta(),
                               pair=(s["pair_basis"], s["pair_cut"]))
            e_rows.append(e / len(a))
            f_rows.append(f.astype(np.float32))
            if (k + 1) % 20 == 0:
                _say(f"{element} {part}: rows of {k + 1}/{len(atoms[part])} ({time.perf_counter() - start:.0f} s)")
        out[f"{part}_E"], out[f"{part}_yE"] = np.array(e_rows), energies / np.array([len(a) for a in atoms[part]])
        out[f"{part}_F"] = np.vstack(f_rows)
        out[f"{part}_yF"] = np.concatenate([f.ravel() for f in forces])
        out[f"{part}_struct"] = np.repeat(np.arange(len(atoms[part])), [3 * len(a) for a in atoms[part]])
        dft = np.concatenate([np.asarray(r.forces) for r in sets[part]])
        out[f"{part}_fmag"] = np.repeat(np.linalg.norm(dft, axis=1), 3)  # |F_atom| for each component
    np.savez(folder / "rows.npz", **out)
    return out


# ---------------------------------------------------------------- the embedding term (the 'embedding' run)
# Why: a SOAP kernel on normalised power spectra sees the shape of a neighbourhood better than its scale, and the
# two-body term counts broken bonds linearly; the energy of an undercoordinated atom (a surface) grows less than
# linearly with the bonds it loses: the embedded-atom method's embedding energy (Daw & Baskes, Phys. Rev. B 29,
# 6443 (1984); Finnis & Sinclair, Philos. Mag. A 50, 45 (1984)). Each atom i of element a has densities
# rho_i^{b,d} = sum_j g_d(r_ij) f_c(r_ij) over its neighbours j of element b (the two-body term's K Gaussians and
# cosine cutoff); the term is sum_i sum_{b,d,p} c_{a,b,d,p} h_p(rho_i^{b,d}), h_p(rho) = (rho + eps)^p - eps^p,
# linear in c, with analytic forces. Measured here, not shipped (see the reading).

#: the embedding functions' powers, and the offset that keeps the square root's slope finite at rho = 0
POWERS = (0.5, 1.5, 2.0)
EPS = 0.01


def n_embed(n_species: int, k: int) -> int:
    """Columns of the term: (centre element, neighbour element, density function, power)."""
    return n_species * n_species * k * len(POWERS)


def _embedding(rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``h_p(rho)`` and ``h_p'(rho)`` for every power, each ``rho.shape + (len(POWERS),)``."""
    p = np.asarray(POWERS)
    base = rho[..., None] + EPS
    return base**p - EPS**p, p * base ** (p - 1)


def embed_rows(atoms, atom_z: np.ndarray, n_species: int, k: int, r_cut: float,
               forces: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """The structure's energy row (:func:`n_embed` columns) and force rows (3n x columns, ``-dE/dr``)."""
    from ase.neighborlist import neighbor_list

    from matloop.models.potentials.pair_term import pair_basis

    n, width, n_pow = len(atoms), n_embed(n_species, k), len(POWERS)
    i, j, d, D = neighbor_list("ijdD", atoms, r_cut)
    g, dg = pair_basis(d, k, r_cut)  # (entries, k)
    rho = np.zeros((n, n_species, k))
    np.add.at(rho, (i, atom_z[j]), g)
    h, dh = _embedding(rho)  # (n, n_species, k, P)
    block = (atom_z[:, None] * n_species + np.arange(n_species)[None, :]) * k * n_pow  # (n, n_species)
    cols = block[:, :, None] + np.arange(k * n_pow)[None, None, :]  # (n, n_species, k * P)
    e_row = np.zeros(width)
    np.add.at(e_row, cols.reshape(-1), h.reshape(-1))
    if not forces:
        return e_row, None
    # entry (i, j) moves rho_i: d rho_i / d r_j = g'(r) u, d rho_i / d r_i = -g'(r) u, u = (r_j - r_i) / r
    coef = (dh[i, atom_z[j]] * dg[:, :, None]).reshape(len(i), k * n_pow)  # (entries, k * P)
    entry_cols = cols[i, atom_z[j]]  # (entries, k * P)
    unit = D / d[:, None]
    f = np.zeros((n, 3, width))
    for a in range(3):
        push = coef * unit[:, a:a + 1]
        np.add.at(f[:, a, :], (i[:, None], entry_cols), push)
        np.add.at(f[:, a, :], (j[:, None], entry_cols), -push)
    return e_row, f.reshape(3 * n, width)


#: a finer grid around the shipped one (the ``fine grid`` run)
FINE = {"sigma_E": (0.0001, 0.0002, 0.0003, 0.0004, 0.0005, 0.0007, 0.001, 0.0015, 0.002, 0.005),
        "sigma_F": (0.01, 0.02, 0.03, 0.04, 0.05, 0.07, 0.1, 0.2),
        "delta_2b": (0.001, 0.03, 0.3, 1.0, 3.0, 10.0, 30.0)}


def second_rows(element: str, cache: Path, spec: list[float], seed: int) -> dict:
    """Rows of a second SOAP kernel (``spec`` = r_cut, n_max, l_max, sigma, M; no two-body term, no element
    constants), for the ``second kernel`` run; cached beside the shipped rows."""
    from matloop.datasets.potential_sets import open_potential_set
    from matloop.models.potentials.soap_delta import kernel_prior, kernel_rows, soap_descriptor
    from matloop.models.potentials.soap_fit import sparse_environments

    r_cut, n_max, l_max, sigma, n_sparse = spec
    path = cache / element / f"rows2_{r_cut}_{int(n_max)}_{int(l_max)}_{sigma}_{int(n_sparse)}.npz"
    if path.exists():
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    sets = {part: open_potential_set(f"mlearn_{element.lower()}_{part}") for part in ("train", "test")}
    atoms = {part: [r.atoms() for r in recs] for part, recs in sets.items()}
    species = sorted({el for a in atoms["train"] for el in a.get_chemical_symbols()})
    index = {el: k for k, el in enumerate(species)}
    desc = soap_descriptor(species, r_cut, int(n_max), int(l_max), sigma)
    zs = {part: [np.array([index[el] for el in a.get_chemical_symbols()]) for a in atoms[part]] for part in atoms}
    sparse, sparse_z = sparse_environments(desc, atoms["train"], zs["train"], len(species), int(n_sparse),
                                           np.random.default_rng(seed + 1))
    out = {"prior": kernel_prior(sparse, sparse_z, _zeta())}
    for part in ("train", "test"):
        e_rows, f_rows, start = [], [], time.perf_counter()
        for k, a in enumerate(atoms[part]):
            e, f = kernel_rows(desc, a, sparse, sparse_z, zs[part][k], _zeta())
            e_rows.append(e / len(a))
            f_rows.append(f.astype(np.float32))
            if (k + 1) % 20 == 0:
                _say(f"{element} {part}: second-kernel rows of {k + 1}/{len(atoms[part])} "
                     f"({time.perf_counter() - start:.0f} s)")
        out[f"{part}_E"], out[f"{part}_F"] = np.array(e_rows), np.vstack(f_rows)
    np.savez(path, **out)
    return out


def _shipped2() -> list[float]:
    """The shipped second kernel's spec for :func:`second_rows`, read from DEFAULTS (r_cut2, n_max2, l_max2,
    sigma2, sparse2)."""
    from matloop.models.potentials.soap_delta import DEFAULTS

    return [float(DEFAULTS[k]) for k in ("r_cut2", "n_max2", "l_max2", "sigma2", "sparse2")]

#: the second kernel's prior scale against the first (its K_MM / delta_k2^2), searched first
SECOND = {"delta_k2": (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)}


def base_columns(element: str, cache: Path) -> dict:
    """The base's own energies per atom and forces (pre-trained CHGNet, cached by :func:`chgnet_residuals`) as
    one more column of the energy and force rows (the shipped base scale, ``SoapCorrection.base_scale``)."""
    from matloop.datasets.potential_sets import open_potential_set

    out = {}
    for part in ("train", "test"):
        n = np.array([r.n_atoms for r in open_potential_set(f"mlearn_{element.lower()}_{part}")], dtype=float)
        with np.load(cache / element / f"chgnet_{part}.npz") as data:
            out[f"{part}_E"] = (data["energy"] / n)[:, None]
            out[f"{part}_F"] = data["forces"].reshape(-1, 1).astype(np.float32)
    return out


def embed_columns(element: str, cache: Path, k: int, r_cut: float) -> dict:
    """Rows of the embedding term (:mod:`matloop.models.potentials.embed_term`, ``k`` densities, cutoff ``r_cut``)
    for the ``embedding`` run; cached beside the shipped rows."""
    from matloop.datasets.potential_sets import open_potential_set

    path = cache / element / f"emb_{k}_{r_cut}.npz"
    if path.exists():
        with np.load(path) as data:
            return {key: data[key] for key in data.files}
    out = {}
    for part in ("train", "test"):
        atoms = [r.atoms() for r in open_potential_set(f"mlearn_{element.lower()}_{part}")]
        species = sorted({el for a in atoms for el in a.get_chemical_symbols()})
        rows_ = [embed_rows(a, np.array([species.index(el) for el in a.get_chemical_symbols()]), len(species), k,
                            r_cut) for a in atoms]
        out[f"{part}_E"] = np.array([e / len(a) for (e, _), a in zip(rows_, atoms, strict=True)])
        out[f"{part}_F"] = np.vstack([f for _, f in rows_]).astype(np.float32)
    np.savez(path, **out)
    return out


#: the embedding term's prior std (eV), searched
EMBED = {"delta_emb": (0.001, 0.01, 0.1, 1.0)}
#: each configuration type's factor on both sigmas (``--types``), searched from the first value, 0.5, as every
#: searched grid starts at its first value unless START says otherwise (all four at 0.5 is the base-scale run
#: with sigma_E and sigma_F halved)
TYPES = (0.5, 1.0, 2.0, 4.0)


def search(R: dict, weights: np.ndarray, space: dict | None = None, extra: dict | None = None,
           more: list[dict] = (), base_cols: dict | None = None, emb: dict | None = None,
           types: np.ndarray | None = None, stress: dict | None = None) -> tuple[dict, list[dict]]:
    """The shipped coordinate-descent search over SEARCH by K-fold CV, force rows weighted by ``weights``;
    with ``extra`` (:func:`second_rows`) a second kernel's columns are appended (their prior scale searched);
    ``more`` kernels' columns are appended after it, each with the prior scale 1 (as the shipped second kernel);
    ``emb`` (:func:`embed_columns`) next, its prior ``delta_emb`` searched (EMBED); ``base_cols`` (:func:`base_columns`)
    last, its prior ``delta_base`` searched (BASE_SEARCH). ``types`` (one label per training structure): each
    label's sigmas get a factor ``s_<label>`` searched over :data:`TYPES` (the held-out errors stay unweighted).
    ``stress`` (:func:`potentials_soap_stress.stress_rows`, the base-scale run's columns): each training structure's
    six stress rows join the fit with the noise level ``sigma_S`` (GPa, searched over the shipped STRESS_SEARCH; its
    first value, None, leaves them out); the criterion stays the CV energy x force error."""
    from matloop.models.potentials.soap_delta import BASE_SEARCH, SEARCH, STRESS_SEARCH, solve_weights
    from matloop.models.potentials.soap_fit import _search

    group, E, yE, F, yF, st = (R["group"], R["train_E"], R["train_yE"], R["train_F"], R["train_yF"],
                               R["train_struct"])
    test_E, test_F = R["test_E"], R["test_F"]
    space = dict(space or SEARCH)
    m2, at2 = 0, E.shape[1]
    if extra is not None:
        E, F = np.hstack([E, extra["train_E"]]), np.hstack([F, extra["train_F"]])
        test_E, test_F = np.hstack([test_E, extra["test_E"]]), np.hstack([test_F, extra["test_F"]])
        m2 = len(extra["prior"])
        space = {**SECOND, **space}
    spans = []
    if emb is not None:
        at_emb, n_emb = E.shape[1] + sum(len(x["prior"]) for x in more), emb["train_E"].shape[1]
        space = {**space, **EMBED}
    for x in [*more, *([emb] if emb is not None else []), *([base_cols] if base_cols is not None else [])]:
        if x is not base_cols and x is not emb:
            spans.append((E.shape[1], E.shape[1] + len(x["prior"]), x["prior"]))
        E, F = np.hstack([E, x["train_E"]]), np.hstack([F, x["train_F"]])
        test_E, test_F = np.hstack([test_E, x["test_E"]]), np.hstack([test_F, x["test_F"]])
    if base_cols is not None:
        space = {**space, **BASE_SEARCH}
    held = sorted(set(group.tolist()))
    if stress is not None:
        if stress["train_S"].shape[1] != E.shape[1]:
            raise SystemExit(f"stress rows {stress['train_S'].shape[1]} wide, the fit {E.shape[1]}")
        space = {**space, **STRESS_SEARCH}
        s_group = group[stress["train_sstruct"]]
        G_S = {g: stress["train_S"][s_group == g].T @ stress["train_S"][s_group == g] for g in held}
        b_S = {g: stress["train_S"][s_group == g].T @ stress["train_yS"][s_group == g] for g in held}
        G_S_all, b_S_all = sum(G_S.values()), sum(b_S.values())
    labels = [] if types is None else sorted(set(types.tolist()))
    space = {**space, **{f"s_{t}": TYPES for t in labels}}
    keys = list(space)
    width, m, n_pair = E.shape[1], len(R["sparse_z"]), int(R["n_pair"])
    row_group = group[st]
    kind = np.zeros(len(group), int) if types is None else np.array([labels.index(t) for t in types])
    n_kinds = max(1, len(labels))
    G_F = np.zeros((len(held), n_kinds, width, width))  # each fold's and type's share of the force sums
    b_F = np.zeros((len(held), n_kinds, width))
    for g in held:
        for t in range(n_kinds):
            idx = np.flatnonzero((row_group == g) & (kind[st] == t))
            for chunk in np.array_split(idx, max(1, len(idx) // 2000)):
                f = F[chunk].astype(float)
                G_F[g, t] += (f * weights[chunk, None]).T @ f
                b_F[g, t] += (f * weights[chunk, None]).T @ yF[chunk]

    G_all, b_all = G_F.sum(axis=0), b_F.sum(axis=0)  # each type's sums over every fold

    def factors(hp) -> np.ndarray:  # 1 / s_type^2 for each type (ones without types)
        return np.array([1.0 / hp[f"s_{t}"] ** 2 for t in labels]) if labels else np.ones(1)

    def sums(hp, g: int | None) -> tuple[dict, dict]:
        """The normal equations' sums over every structure but fold ``g`` (None: all), type factors applied."""
        c = factors(hp)
        wE = c[kind] * (group != g)
        G_Fw = np.tensordot(c, G_all if g is None else G_all - G_F[g], axes=(0, 0))
        b_Fw = c @ (b_all if g is None else b_all - b_F[g])
        G, b = {"E": (E * wE[:, None]).T @ E, "F": G_Fw}, {"E": (E * wE[:, None]).T @ yE, "F": b_Fw}
        if stress is not None:  # solve_weights adds G_S / sigma_S^2 (nothing when sigma_S is None)
            G["S"] = G_S_all if g is None else G_S_all - G_S[g]
            b["S"] = b_S_all if g is None else b_S_all - b_S[g]
        return G, b
    base = np.zeros((width, width))
    base[:m, :m] = R["prior"]
    for a, b, p in spans:
        base[a:b, a:b] = p

    def prior(hp):
        out = base.copy()
        out[m:m + n_pair, m:m + n_pair] += np.eye(n_pair) / hp["delta_2b"] ** 2
        if m2:
            out[at2:at2 + m2, at2:at2 + m2] = extra["prior"] / hp["delta_k2"] ** 2
        if emb is not None:
            out[at_emb:at_emb + n_emb, at_emb:at_emb + n_emb] = np.eye(n_emb) / hp["delta_emb"] ** 2
        if base_cols is not None:
            out[-1, -1] = 1.0 / hp["delta_base"] ** 2
        return out

    grid = {}

    def score(hp):
        key = tuple(hp[k] for k in keys)
        if key not in grid:
            e_err, f_err, s_err = [], [], []
            for g in held:
                out = np.flatnonzero(group == g)
                G, b = sums(hp, g)
                w = solve_weights(G, b, prior(hp), hp["sigma_E"], hp["sigma_F"], hp.get("sigma_S"))
                e_err.append(np.abs(E[out] @ w - yE[out]))
                rows_g = np.flatnonzero(row_group == g)
                f_err.append(np.abs(F[rows_g] @ w.astype(np.float32) - yF[rows_g]))
                if stress is not None:
                    s_g = s_group == g
                    s_err.append(np.abs(stress["train_S"][s_g] @ w - stress["train_yS"][s_g]))
            w_all = solve_weights(*sums(hp, None), prior(hp), hp["sigma_E"], hp["sigma_F"], hp.get("sigma_S"))
            test_err = 1000 * np.abs(test_E @ w_all - R["test_yE"])
            grid[key] = {**hp, "base_scale": float(w_all[-1]) if base_cols is not None else 0.0,
                         "cv_energy_mae": 1000 * float(np.mean(np.concatenate(e_err))),
                         "cv_force_mae": float(np.mean(np.concatenate(f_err))),
                         "test_energy_mae": float(np.mean(test_err)),
                         "test_energy_by_group": {str(g): [int(np.sum(R["test_group"] == g)),
                                                           float(np.mean(test_err[R["test_group"] == g]))]
                                                  for g in sorted(set(R["test_group"].tolist()))},
                         "test_force_mae": float(np.mean(np.abs(test_F @ w_all.astype(np.float32)
                                                                - R["test_yF"])))}
            if stress is not None:
                grid[key]["cv_stress_mae"] = float(np.mean(np.concatenate(s_err)))
                grid[key]["test_stress_mae"] = float(np.mean(np.abs(stress["test_S"] @ w_all - stress["test_yS"])))
        return grid[key]["cv_energy_mae"] * grid[key]["cv_force_mae"]

    best = grid[tuple(_search(score, space)[k] for k in keys)]
    return best, list(grid.values())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--element")
    parser.add_argument("--table", action="store_true", help="only render the .md from the stored runs")
    parser.add_argument("--f0", type=float, nargs="*", default=[2.0, 1.0, 0.5])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/matloop_soap_rows"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--fine", action="store_true", help="also the shipped weights on a finer grid (FINE)")
    parser.add_argument("--second", type=float, nargs=5, metavar=("R_CUT", "N_MAX", "L_MAX", "SIGMA", "M"),
                        help="a second SOAP kernel beside the shipped one (the 'second kernel' run only)")
    parser.add_argument("--more", type=float, nargs=5, action="append", default=[],
                        metavar=("R_CUT", "N_MAX", "L_MAX", "SIGMA", "M"),
                        help="further kernels (repeatable) beside the shipped second kernel, prior scale 1: "
                             "the 'more kernels' run")
    parser.add_argument("--base", action="store_true",
                        help="also the shipped second kernel plus CHGNet's own scale (the 'base scale' run; with "
                             "--more, the 'more kernels' run gets the base column instead)")
    parser.add_argument("--embed", type=float, nargs=2, metavar=("K", "R_CUT"),
                        help="the shipped second kernel, the embedding term (K densities, cutoff R_CUT) and CHGNet's "
                             "own scale: the 'embedding' run")
    parser.add_argument("--zeta", type=int, default=None,
                        help="every kernel's exponent (default: the shipped one); rows in their own cache folder, "
                             "run labels marked")
    parser.add_argument("--types", action="store_true",
                        help="the base-scale run with a sigma factor per configuration type, searched")
    parser.add_argument("--stress", action="store_true",
                        help="the base-scale run with the DFT stresses as six more rows per structure, sigma_S searched")
    parser.add_argument("--no-shipped", action="store_true", help="leave out the 'shipped' (one-kernel) run")
    parser.add_argument("--limit", type=int, default=None, help="smoke test: the first N structures, M 50")
    args = parser.parse_args(argv)
    if args.table or not args.element:
        print(table())
        return 0
    if args.zeta is not None:
        import shutil

        global ZETA
        ZETA = args.zeta
        folder = args.cache.parent / f"{args.cache.name}_zeta{args.zeta}"
        (folder / args.element).mkdir(parents=True, exist_ok=True)
        for part in ("train", "test"):  # CHGNet's predictions do not depend on the kernel
            shipped = args.cache / args.element / f"chgnet_{part}.npz"
            if shipped.exists() and not (folder / args.element / shipped.name).exists():
                shutil.copy(shipped, folder / args.element / shipped.name)
        args.cache = folder
    R = rows(args.element, args.cache, args.seed, args.folds, args.limit)
    from matloop.datasets.potential_sets import open_potential_set

    R["test_group"] = np.array([r.group for r in open_potential_set(f"mlearn_{args.element.lower()}_test")
                                ][:args.limit])
    _say(f"{args.element}: rows ready ({R['train_F'].shape[0]} force rows, width {R['train_E'].shape[1]})")
    uniform = np.ones(len(R["train_yF"]))
    runs = [] if args.no_shipped else [("shipped", uniform, None, None)]
    runs += [(f"force-scaled F0 {f0}", 1.0 / (1.0 + (R["train_fmag"] / f0) ** 2), None, None) for f0 in args.f0]
    if args.fine:
        runs.append(("fine grid", uniform, FINE, None))
    if args.second:
        extra = second_rows(args.element, args.cache, args.second, args.seed)
        runs.append(("second kernel r_cut {} n {} l {} sigma {} M {}".format(*args.second), uniform, None, extra))
    more = []
    if args.more:
        more = [second_rows(args.element, args.cache, spec, args.seed + 1 + k) for k, spec in enumerate(args.more)]
        label = "; ".join("r_cut {} n {} l {} sigma {} M {}".format(*spec) for spec in args.more)
        shipped2 = second_rows(args.element, args.cache, _shipped2(), args.seed)
        runs.append((f"shipped second kernel + {label}" + (" + base scale" if args.base else ""), uniform, None,
                     ("base", [shipped2] + more) if args.base else [shipped2] + more))
    if args.base and not args.more:
        shipped2 = second_rows(args.element, args.cache, _shipped2(), args.seed)
        runs.append(("shipped second kernel + base scale", uniform, None, ("base", [shipped2])))
    if args.embed:
        k_emb, cut = int(args.embed[0]), float(args.embed[1])
        runs.append((f"shipped second kernel + embedding K {k_emb} r_cut {cut} + base scale", uniform, None,
                     ("embed", [second_rows(args.element, args.cache, _shipped2(), args.seed)],
                      embed_columns(args.element, args.cache, k_emb, cut))))
    train_types = None
    if args.types:
        train_types = np.array([r.group for r in open_potential_set(f"mlearn_{args.element.lower()}_train")
                                ][:args.limit])
        runs.append(("shipped second kernel + base scale + config-type sigmas", uniform, None,
                     ("types", [second_rows(args.element, args.cache, _shipped2(), args.seed)])))
    stress = None
    if args.stress:
        from potentials_soap_stress import stress_rows

        shipped2 = second_rows(args.element, args.cache, _shipped2(), args.seed)
        stress = stress_rows(args.element, args.cache, R, shipped2, args.seed, _zeta(), _say)
        runs.append(("shipped second kernel + base scale + stress rows", uniform, None, ("stress", [shipped2])))
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{args.element}.json"  # runs of earlier invocations are kept (same label: replaced)
    command = "python benchmarks/potentials_soap_weights.py " + " ".join(argv or sys.argv[1:])
    if args.zeta is not None:
        runs = [(f"{label}, zeta {args.zeta}", *rest) for label, *rest in runs]
    for label, weights, space, extra in runs:
        start = time.perf_counter()
        if isinstance(extra, tuple) and extra[0] == "stress":
            best, grid = search(R, weights, space, None, extra[1], base_columns(args.element, args.cache),
                                stress=stress)
        elif isinstance(extra, tuple) and extra[0] == "types":
            best, grid = search(R, weights, space, None, extra[1], base_columns(args.element, args.cache),
                                types=train_types)
        elif isinstance(extra, tuple) and extra[0] == "embed":
            best, grid = search(R, weights, space, None, extra[1], base_columns(args.element, args.cache), extra[2])
        elif isinstance(extra, tuple):
            best, grid = search(R, weights, space, None, extra[1], base_columns(args.element, args.cache))
        elif isinstance(extra, list):
            best, grid = search(R, weights, space, None, extra)
        else:
            best, grid = search(R, weights, space, extra)
        _say(f"{args.element} {label}: chosen sigma_E {best['sigma_E']} sigma_F {best['sigma_F']} delta_2b "
             f"{best['delta_2b']} delta_k2 {best.get('delta_k2', '-')} delta_emb {best.get('delta_emb', '-')} base x {1 + best.get('base_scale', 0):.3f}: CV {best['cv_energy_mae']:.2f} / {best['cv_force_mae']:.4f}, test "
             f"{best['test_energy_mae']:.2f} / {best['test_force_mae']:.4f}")
        run = {"run": label, "chosen": best, "grid": grid, "seconds": round(time.perf_counter() - start),
               "command": command}
        kept = json.loads(path.read_text())["runs"] if path.exists() else []  # written after every run
        path.write_text(json.dumps({"element": args.element, "gap_mtp": _GAP_MTP[args.element],
                                    "runs": [r for r in kept if r["run"] != label] + [run]}, indent=1))
    print(table())
    return 0


def table() -> str:
    """Render ``results/potentials_soap_weights.md`` from every element's JSON (and a reading, if written)."""
    lines = ["# Probe: how the SOAP Δ-correction weighs its data (mlearn sets)", "",
             "Written by `benchmarks/potentials_soap_weights.py` (protocol in its docstring). Every choice by 5-fold "
             "cross-validation over the training structures (the CLI's folds, seed 0); CV and test MAEs: energy "
             "meV/atom, forces eV/Å over components. One core per run (two runs shared the 2 cores).", "",
             "| element | run | chosen (sigma_E, sigma_F, delta_2b, delta_k2) | CV E / F | test E / F | search (s) | "
             "GAP E / F | MTP E / F |", "|---|---|---|---|---|--:|---|---|"]
    for path in sorted(RESULTS.glob("*.json")):
        data = json.loads(path.read_text())
        gap, mtp = data["gap_mtp"]
        for r in data["runs"]:
            b = r["chosen"]
            lines.append(f"| {data['element']} | {r['run']} | {b['sigma_E']}, {b['sigma_F']}, {b['delta_2b']}, "
                         f"{b.get('delta_k2', '-')} | {b['cv_energy_mae']:.2f} / {b['cv_force_mae']:.4f} | "
                         f"{b['test_energy_mae']:.2f} / {b['test_force_mae']:.4f} | {r['seconds']} | "
                         f"{gap[0]} / {gap[1]} | {mtp[0]} / {mtp[1]} |")
    lines += ["", "Test energy MAE (meV/atom) of each run's chosen model by the test structures' group (runs made "
              "before this breakdown existed have none):", "", "| element | run | per group: count, MAE |", "|---|---|---|"]
    for path in sorted(RESULTS.glob("*.json")):
        data = json.loads(path.read_text())
        for r in data["runs"]:
            if "test_energy_by_group" in r["chosen"]:
                cells = "; ".join(f"{g} ({n}) {mae:.2f}" for g, (n, mae) in r["chosen"]["test_energy_by_group"].items())
                lines.append(f"| {data['element']} | {r['run']} | {cells} |")
    reading = RESULTS.parent / "potentials_soap_weights_reading.md"
    text = "\n".join(lines) + "\n" + ("\n" + reading.read_text() if reading.exists() else "")
    (RESULTS.parent / "potentials_soap_weights.md").write_text(text)
    return text


if __name__ == "__main__":
    raise SystemExit(main())
