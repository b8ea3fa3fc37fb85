"""Fitting the SOAP Δ-correction (:class:`~matloop.models.potentials.soap_delta.SoapCorrection`).

:func:`fit_correction` picks the sparse environments (k-means++ per element), builds every structure's energy and
force rows once, chooses the noise levels ``sigma_E``, ``sigma_F`` and the two-body prior ``delta_2b`` by K-fold
cross-validation over the structures (each fold's normal equations are the total minus its share, so K folds cost K
solves per setting, not K passes over the data), and refits the weights on every structure. With
``settings["sparse2"] > 0`` a second, short-range SOAP kernel joins the same linear model (multi-scale kernels:
Willatt, Musil & Ceriotti, J. Chem. Phys. 150, 154110 (2019); measured in ``benchmarks/potentials_soap_weights.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from matloop.errors import InputError, error_table
from matloop.models.potentials.soap_delta import (
    BASE_SEARCH,
    DEFAULTS,
    EV_PER_A3_IN_GPA,
    SEARCH,
    START,
    STRESS_SEARCH,
    VOIGT,
    SoapCorrection,
    _normalise,
    design_rows,
    kernel_prior,
    kmeanspp,
    soap_descriptor,
    solve_weights,
    strain_rows,
)


def _search(score: Callable[[dict], float], space: dict | None = None) -> dict:
    """Coordinate descent over ``space`` (default :data:`SEARCH`) from :data:`START` (two sweeps): the noise
    levels and the priors with the smallest ``score``."""
    space = space or SEARCH
    hp = {name: START.get(name, values[0]) for name, values in space.items()}
    for _sweep in range(2):
        for name, values in space.items():
            hp[name] = min(values, key=lambda v, name=name: score({**hp, name: v}))
    return hp


def sparse_environments(desc, atoms_list: Sequence, zs: Sequence[np.ndarray], n_species: int, n_sparse: int,
                        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The sparse set: normalised descriptors of ``n_sparse`` training atoms and their element indices, picked
    by k-means++ within each element (shares proportional to its atoms)."""
    Q, _ = _normalise(np.vstack([desc.create(a) for a in atoms_list]))
    z_all = np.concatenate(zs)
    picks = []
    for k in range(n_species):
        own = np.flatnonzero(z_all == k)
        share = max(1, int(round(n_sparse * len(own) / len(z_all))))
        picks.append(own[kmeanspp(Q[own], share, rng)])
    chosen = np.concatenate(picks)
    return Q[chosen], z_all[chosen]


def _assign_groups(rng: np.random.Generator, n: int, folds: int, val_fraction: float) -> tuple[np.ndarray, list, str]:
    """Each structure's group, the groups held out in turn, and the scheme in words: ``folds`` (>= 2) groups
    of a random permutation, or (``folds=1``) group 0 the ``val_fraction`` split and group 1 always fitted."""
    order = rng.permutation(n)
    group = np.ones(n, int)
    if folds >= 2:
        folds = min(folds, n)
        group[order] = np.arange(n) % folds
        return group, list(range(folds)), f"{folds}-fold cross-validation"
    n_val = min(n - 1, max(1, int(round(val_fraction * n))))
    group[order[:n_val]] = 0
    return group, [0], f"a validation split of {n_val} structures"


def _voigt(stress) -> np.ndarray:
    """The six Voigt components (:data:`VOIGT`) of a 3 x 3 stress."""
    s = np.asarray(stress, dtype=float).reshape(3, 3)
    return np.array([s[a, b] for a, b in VOIGT])


def fit_correction(atoms_list: Sequence, energies: np.ndarray, forces: Sequence[np.ndarray], *,
                   n_sparse: int = 4000, folds: int = 5, val_fraction: float = 0.2, seed: int = 0,
                   settings: dict | None = None, base: tuple | None = None,
                   stresses: Sequence[np.ndarray | None] | None = None,
                   say: Callable[[str], None] | None = None) -> SoapCorrection:
    """Fit the correction to residual total energies ``energies`` (eV, DFT minus base) and residual forces
    (n x 3 per structure, eV/Å) of ``atoms_list`` (ASE ``Atoms``). ``sigma_E``, ``sigma_F`` and ``delta_2b``
    are chosen by ``folds``-fold cross-validation over the structures (``folds=1``: one ``val_fraction``
    split; ``seed`` shuffles), then the weights are refitted on every structure. The normal equations are sums
    over structures, so each fold's fit is the total minus that fold's share: the descriptor derivatives are
    computed once, and K folds cost K solves per setting, not K passes over the data.

    ``base``: the base potential's own total energies (eV) and forces of ``atoms_list``. With them the fit has
    one more column, the base itself, and so chooses the base's scale (:attr:`SoapCorrection.base_scale`, its
    prior std ``delta_base`` searched with the rest; the smallest keeps the base as it is).

    ``stresses``: residual stresses (3 x 3 GPa, tensile +, DFT minus base; None for a structure without one). Each
    adds six rows, the correction's strain derivative (:func:`strain_rows`), with the noise level ``sigma_S``
    searched with the rest (None: left out; the criterion stays the held-out energy and force errors, and the
    held-out stress MAE is reported beside them). With a ``base``, its third
    entry holds the base's own stresses (3 x 3 GPa), the base column's stress rows."""
    import time

    from matloop.models.potentials.pair_term import n_pairs

    say = say or (lambda _msg: None)
    settings = {**DEFAULTS, **(settings or {})}
    if len(atoms_list) < 5:
        raise InputError(f"the SOAP correction needs at least 5 structures (to choose its noise levels on held-out "
                         f"ones); got {len(atoms_list)}")
    bad = [{"row": k + 1, "column": "outputs.forces", "value": None, "reason": "no forces: the correction needs them"}
           for k, f in enumerate(forces) if f is None]
    if bad:
        raise InputError(f"{len(bad)} structures have no forces", error_table(bad))
    if base is not None and not len(base[0]) == len(base[1]) == len(atoms_list):
        raise InputError(f"the base's energies ({len(base[0])}) and forces ({len(base[1])}) must be one per "
                         f"structure ({len(atoms_list)})")
    with_stress = stresses is not None and any(s is not None for s in stresses)
    if with_stress and len(stresses) != len(atoms_list):
        raise InputError(f"the stresses must be one per structure ({len(stresses)} for {len(atoms_list)})")
    if with_stress and base is not None:
        own = base[2] if len(base) > 2 else [None] * len(atoms_list)
        lacking = [k for k, (s, b) in enumerate(zip(stresses, own, strict=True)) if s is not None and b is None]
        if lacking:
            raise InputError(f"structure {lacking[0] + 1} has a stress but the base gives none: with a base, its own "
                             f"stresses are needed too ({len(lacking)} structures lack them)")
    start = time.perf_counter()
    species = sorted({el for a in atoms_list for el in a.get_chemical_symbols()})
    index = {el: k for k, el in enumerate(species)}
    desc = soap_descriptor(species, settings["r_cut"], settings["n_max"], settings["l_max"], settings["sigma"])
    zs = [np.array([index[el] for el in a.get_chemical_symbols()]) for a in atoms_list]
    rng = np.random.default_rng(seed)

    sparse, sparse_z = sparse_environments(desc, atoms_list, zs, len(species), n_sparse, rng)
    m, n_species, z_all = len(sparse), len(species), np.concatenate(zs)
    second, m2 = None, 0
    if int(settings["sparse2"]):  # its own draws, so the first kernel's sparse set and folds stay as without it
        desc2 = soap_descriptor(species, settings["r_cut2"], int(settings["n_max2"]), int(settings["l_max2"]),
                                settings["sigma2"])
        second = (desc2, *sparse_environments(desc2, atoms_list, zs, len(species), int(settings["sparse2"]),
                                              np.random.default_rng(seed + 1)))
        m2 = len(second[1])
    k_pair = int(settings["pair_basis"])
    n_pair = n_pairs(n_species) * k_pair
    say(f"SOAP correction: {len(atoms_list)} structures, {len(z_all)} atoms, {m} sparse environments"
        + (f", a second kernel (r_cut {settings['r_cut2']} Å) with {m2}" if m2 else "")
        + (f", a two-body term of {k_pair} functions per element pair" if k_pair else ""))

    group, held, how = _assign_groups(rng, len(atoms_list), folds, val_fraction)
    n_base = 0 if base is None else 1
    width = m + n_pair + n_species + m2 + n_base
    at2 = m + n_pair + n_species  # the second kernel's columns, then the base's
    n_groups = int(group.max()) + 1
    E_rows, y_E = np.zeros((len(atoms_list), width)), np.zeros(len(atoms_list))
    G_F, b_F = np.zeros((n_groups, width, width)), np.zeros((n_groups, width))
    G_S, b_S = (np.zeros((n_groups, width, width)), np.zeros((n_groups, width))) if with_stress else (None, None)
    f_held: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # force rows of the structures ever held out
    s_held: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # their stress rows
    for k, atoms in enumerate(atoms_list):
        e_row, f_rows = design_rows(desc, atoms, sparse, sparse_z, zs[k], n_species, settings["zeta"],
                                    pair=(k_pair, settings["pair_cut"]), second=second)
        n = len(atoms)
        if base is not None:
            e_row = np.append(e_row, base[0][k])
            f_rows = np.hstack([f_rows, np.asarray(base[1][k], dtype=float).reshape(-1, 1)])
        E_rows[k], y_E[k] = e_row / n, energies[k] / n
        y_f = np.asarray(forces[k], dtype=float).ravel()
        G_F[group[k]] += f_rows.T @ f_rows
        b_F[group[k]] += f_rows.T @ y_f
        if group[k] in held:
            f_held[k] = (f_rows.astype(np.float32), y_f)
        if with_stress and stresses[k] is not None:
            s_rows = EV_PER_A3_IN_GPA * strain_rows(
                lambda moved, k=k: design_rows(desc, moved, sparse, sparse_z, zs[k], n_species, settings["zeta"],
                                               False, (k_pair, settings["pair_cut"]), second)[0], atoms)
            if base is not None:
                s_rows = np.hstack([s_rows, _voigt(base[2][k])[:, None]])
            y_s = _voigt(stresses[k])
            G_S[group[k]] += s_rows.T @ s_rows
            b_S[group[k]] += s_rows.T @ y_s
            if group[k] in held:
                s_held[k] = (s_rows, y_s)
        if (k + 1) % 20 == 0 or k + 1 == len(atoms_list):
            say(f"SOAP correction: descriptor derivatives of {k + 1}/{len(atoms_list)} structures "
                f"({time.perf_counter() - start:.0f} s)")
    total = {"E": E_rows.T @ E_rows, "F": G_F.sum(axis=0)}
    total_b = {"E": E_rows.T @ y_E, "F": b_F.sum(axis=0)}
    if with_stress:
        total["S"], total_b["S"] = G_S.sum(axis=0), b_S.sum(axis=0)
    base_prior = np.zeros((width, width))
    base_prior[:m, :m] = kernel_prior(sparse, sparse_z, settings["zeta"])
    if m2:
        base_prior[at2:at2 + m2, at2:at2 + m2] = (kernel_prior(second[1], second[2], settings["zeta"])
                                                  / settings["delta_k2"] ** 2)
    space = {**SEARCH, **(BASE_SEARCH if n_base else {}), **(STRESS_SEARCH if with_stress else {})}

    def prior(hp: dict) -> np.ndarray:
        out = base_prior.copy()
        out[m:m + n_pair, m:m + n_pair] += np.eye(n_pair) / hp["delta_2b"] ** 2
        if n_base:
            out[-1, -1] = 1.0 / hp["delta_base"] ** 2
        return out

    grid = {}

    def score(hp: dict) -> float:
        key = tuple(hp[k] for k in space)
        if key not in grid:
            e_err, f_err, s_err, P = [], [], [], prior(hp)
            for g in held:  # the fit without group g is the total minus g's share of the sums
                out = np.flatnonzero(group == g)
                G = {"E": total["E"] - E_rows[out].T @ E_rows[out], "F": total["F"] - G_F[g]}
                b = {"E": total_b["E"] - E_rows[out].T @ y_E[out], "F": total_b["F"] - b_F[g]}
                if with_stress:
                    G["S"], b["S"] = total["S"] - G_S[g], total_b["S"] - b_S[g]
                w = solve_weights(G, b, P, hp["sigma_E"], hp["sigma_F"], hp.get("sigma_S"))
                e_err.append(np.abs(E_rows[out] @ w - y_E[out]))
                f_err.extend(np.abs(f_held[k][0] @ w - f_held[k][1]) for k in out)
                s_err.extend(np.abs(s_held[k][0] @ w - s_held[k][1]) for k in out if k in s_held)
            grid[key] = {**hp, "val_energy_mae": 1000 * float(np.mean(np.concatenate(e_err))),
                         "val_force_mae": float(np.mean(np.concatenate(f_err)))}
            if s_err:
                grid[key]["val_stress_mae"] = float(np.mean(np.concatenate(s_err)))
        return grid[key]["val_energy_mae"] * grid[key]["val_force_mae"]

    best = grid[tuple(_search(score, space)[k] for k in space)]
    w = solve_weights(total, total_b, prior(best), best["sigma_E"], best["sigma_F"], best.get("sigma_S"))
    beta = float(w[-1]) if n_base else 0.0
    say(f"SOAP correction: sigma_E {best['sigma_E']} eV/atom, sigma_F {best['sigma_F']} eV/Å, two-body prior "
        f"{best['delta_2b']} eV" + (f", sigma_S {best['sigma_S']} GPa" if with_stress and best["sigma_S"] else
                                    ", stresses left out (sigma_S None)" if with_stress else "")
        + (f", base scale prior {best['delta_base']} (base x {1 + beta:.3f})" if n_base else "")
        + f" ({len(grid)} settings tried, {how}); held-out energy MAE "
        f"{best['val_energy_mae']:.2f} meV/atom, force MAE {best['val_force_mae']:.4f} eV/Å"
        + (f", stress MAE {best['val_stress_mae']:.3f} GPa" if "val_stress_mae" in best else ""))
    meta = {"n_train": len(atoms_list), "validation": how, "n_held_out": int(np.isin(group, held).sum()),
            "groups": group.tolist(), "n_sparse": m, "chosen": best, "grid": list(grid.values()),
            "fit_seconds": round(time.perf_counter() - start, 1)}
    two = {"sparse": second[1], "sparse_z": second[2], "alpha": w[at2:at2 + m2]} if m2 else None
    return SoapCorrection(species, settings, sparse, sparse_z, w[:m], w[m + n_pair:at2], meta, w[m:m + n_pair], two,
                          beta)
