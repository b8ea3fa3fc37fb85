"""A GAP-style Δ-correction of CHGNet: sparse SOAP kernel regression of its residual energies and forces.

Why: fine-tuning CHGNet on a few hundred of the user's DFT structures plateaus at 2-3x the errors of
potentials fitted to those data alone (mlearn Si/Ge: ~5 meV/atom and ~0.15 eV/Å against GAP/MTP's ~2-3 and
0.05-0.07; ``benchmarks/results/potentials.md``). Learning the *difference* between the user's DFT and
the universal potential with a Gaussian Approximation Potential (GAP: Bartók, Payne, Kondor & Csányi,
Phys. Rev. Lett. 104, 136403 (2010)) keeps CHGNet's physics where data are thin and lets a local kernel
model absorb the systematic error where they are not.

The model. Each atom ``i`` is described by its SOAP power spectrum ``p_i`` (Bartók, Kondor & Csányi,
Phys. Rev. B 87, 184115 (2013); computed with dscribe, Himanen et al., Comput. Phys. Commun. 247, 106949
(2020)), normalised ``q_i = p_i/|p_i|``. Its energy is ``eps_i = c_Z + sum_m alpha_m k(q_i, q_m)`` with
``k = (q_i . q_m)^zeta`` between atoms of the same element (0 otherwise), ``q_m`` the M sparse
environments (training atoms picked by k-means++ seeding on ``1 - q.q'``) and ``c_Z`` a constant per
element (absorbing the energy reference). The structure's correction is ``E = sum_i eps_i`` plus GAP's
two-body term (:mod:`.pair_term`: a smooth pair energy per element pair, linear in its coefficients); forces
``F_j = -dE/dr_j`` by the chain rule through ``dq/dp = (I - q q^T)/|p|`` and ``dp_i/dr_j`` from central
differences of dscribe's periodic descriptor (moving an atom moves its periodic images; dscribe's own
numerical derivatives did not agree with that for periodic cells); the stress ``(1/V) dE/d(strain)`` by
central differences over the six strains. The weights solve GAP's subset-of-regressors problem
``(Phi_E' Phi_E / sigma_E^2 + Phi_F' Phi_F / sigma_F^2 + prior) w = Phi_E' y_E / sigma_E^2 +
Phi_F' y_F / sigma_F^2`` (energy rows per atom, ``sigma_E`` in eV/atom, ``sigma_F`` in eV/Å; the prior is
``K_MM`` on the kernel weights and ``1/delta_2b^2`` on the two-body ones); the two noise levels and
``delta_2b`` are chosen by 5-fold cross-validation over the training structures (smallest product of the
held-out energy and force MAEs, coordinate descent over grids; one split of a couple of dozen structures made
the choice, and the test error, depend on which structures were held out), then the model is refitted on all
of them.
The descriptor (n_max = l_max = 10, 4000 sparse environments, the two-body term) was chosen on the mlearn
Si/Ge/Li sets (``benchmarks/potentials_soap_capacity.py``).

Cost: the forces need ``6 n`` descriptor evaluations per structure, each only for the centres the moved
atom can reach (so the cost per atom does not grow with the cell): about 1-3 s for a 64-atom cell, at fit
time and at every force call. That is fine for fits, evaluation, relaxations and short MD of cells of a few
hundred atoms, not for large-scale MD. A force call never builds the M-wide design rows (one n x M x F
product instead); the fit builds them one coordinate at a time, so memory grows as ``n (F + M)``, not
``n^2 F``. dscribe is the ``soap`` extra; without it :func:`require_dscribe` raises a
:class:`~matloop.errors.MatloopError` naming it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from matloop.errors import InputError, MatloopError, error_table

CITATIONS = ("Bartók, A. P., Payne, M. C., Kondor, R. & Csányi, G. Gaussian Approximation Potentials. Phys. Rev. "
             "Lett. 104, 136403 (2010)",
             "Bartók, A. P., Kondor, R. & Csányi, G. On representing chemical environments. Phys. Rev. B 87, "
             "184115 (2013)",
             "Himanen, L. et al. DScribe: Library of descriptors for machine learning in materials science. "
             "Comput. Phys. Commun. 247, 106949 (2020)")
#: the descriptor and kernel (chosen on the mlearn Si/Ge/Li training sets: ``benchmarks/potentials_delta_forces.py``)
#: (``potentials_soap_capacity.py``: n_max/l_max 10 and the two-body term beat 8/6 without it on Si and Ge)
DEFAULTS = {"r_cut": 5.0, "n_max": 10, "l_max": 10, "sigma": 0.5, "zeta": 4, "pair_basis": 20, "pair_cut": 5.0}
#: settings of files written before the two-body term existed (read back as "no two-body term")
LEGACY = {"pair_basis": 0, "pair_cut": 5.0}
#: searched by cross-validation, coordinate descent (two sweeps)
SEARCH = {"sigma_E": (0.0001, 0.0002, 0.0003, 0.0005, 0.001, 0.002, 0.005),  # eV/atom
          "sigma_F": (0.01, 0.02, 0.05, 0.1, 0.2),  # eV/Å
          "delta_2b": (0.001, 0.03, 1.0, 10.0)}  # eV, prior std of the two-body coefficients
START = {"sigma_E": 0.0005, "sigma_F": 0.05, "delta_2b": 1.0}
FD_STEP = 1e-4  # Å (positions) and strain
EV_PER_A3_IN_GPA = 160.21766208


DSCRIBE_HINT = 'the SOAP correction needs dscribe, the soap extra: pip install "matloop[soap]"'


def require_dscribe() -> None:
    """Raise a clear :class:`MatloopError` when dscribe cannot be imported."""
    import importlib.util

    if importlib.util.find_spec("dscribe") is None:
        raise MatloopError(DSCRIBE_HINT)


def soap_descriptor(species: Sequence[str], r_cut: float, n_max: int, l_max: int, sigma: float):
    """dscribe's periodic, per-atom SOAP power spectrum for ``species``."""
    require_dscribe()
    from dscribe.descriptors import SOAP

    return SOAP(species=list(species), r_cut=r_cut, n_max=n_max, l_max=l_max, sigma=sigma, periodic=True,
                average="off")


def reach(desc) -> float:
    """How far (Å) a moved atom can change a centre's descriptor: dscribe extends the cutoff by a padding that
    lets the Gaussians decay (plus a small margin for the finite-difference step)."""
    return float(desc._r_cut + desc.get_cutoff_padding()) + 0.05


def descriptor_steps(desc, atoms, h: float = FD_STEP):
    """Yield ``(j, a, idx, dP)``: ``dP`` (len(idx), F) = ``dp_i/dr_ja`` of the centres ``idx`` that atom ``j``
    can reach (minimum-image distance below :func:`reach`; every other centre's derivative is zero), for one
    coordinate of one atom, by central differences of ``desc.create`` (the atom moves with its periodic images).
    One coordinate at a time keeps memory at O(n F), and only the reachable centres make the cost O(n) per
    coordinate in large cells, not O(n^2)."""
    moved = atoms.copy()
    n, radius = len(atoms), reach(desc)
    for j in range(n):
        idx = np.flatnonzero(atoms.get_distances(j, np.arange(n), mic=True) < radius)
        centers = idx.tolist()
        for a in range(3):
            moved.positions[j, a] += h
            plus = desc.create(moved, centers=centers)
            moved.positions[j, a] -= 2 * h
            yield j, a, idx, (plus - desc.create(moved, centers=centers)) / (2 * h)
            moved.positions[j, a] += h


def soap_derivatives(desc, atoms, h: float = FD_STEP) -> tuple[np.ndarray, np.ndarray]:
    """``dp_i/dr_j`` (n, n, 3, F) from :func:`descriptor_steps`, and ``p`` (n, F): all at once, for probes
    on small cells (memory grows with n^2)."""
    P = desc.create(atoms)
    D = np.zeros((len(atoms), len(atoms), 3, P.shape[1]))
    for j, a, idx, dP in descriptor_steps(desc, atoms, h):
        D[idx, j, a] = dP
    return D, P


def _normalise(P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    norm = np.linalg.norm(P, axis=1)
    if np.any(norm <= 0):
        raise InputError("an atom has no neighbour within the SOAP cutoff (an isolated atom): the SOAP "
                         "correction cannot describe it")
    return P / norm[:, None], norm


def design_rows(desc, atoms, sparse: np.ndarray, sparse_z: np.ndarray, atom_z: np.ndarray, n_species: int,
                zeta: int, forces: bool = True, pair: tuple[int, float] = (0, 5.0)) -> tuple[np.ndarray, np.ndarray | None]:
    """The structure's rows of the linear model in ``(alpha, c_2b, c)``: the energy row (M kernel sums, the
    two-body sums of ``pair = (K, r_cut)``, then the atom count of each element) and, with ``forces``, the force
    rows (3n x width, ``-dE/dr``)."""
    from matloop.models.potentials.pair_term import n_pairs, pair_rows

    P = desc.create(atoms)
    Q, norm = _normalise(P)
    same = atom_z[:, None] == sparse_z[None, :]  # (n, M)
    S = (Q @ sparse.T) * same
    counts = np.bincount(atom_z, minlength=n_species).astype(float)
    k_pair, m = pair[0], len(sparse)
    e_pair, f_pair = pair_rows(atoms, atom_z, n_species, k_pair, pair[1], forces) if k_pair else (np.zeros(0), None)
    e_row = np.concatenate([(S ** zeta).sum(axis=0), e_pair, counts])
    if not forces:
        return e_row, None
    W = zeta * S ** (zeta - 1) / norm[:, None]  # dk/d(q_i . q_m) / |p_i|, zero across elements
    rows = np.zeros((3 * len(atoms), len(e_row)))
    for j, a, idx, dP in descriptor_steps(desc, atoms):
        u = np.einsum("if,if->i", dP, Q[idx])  # dp_i/dr_ja . q_i
        rows[3 * j + a, :m] = -(W[idx] * (dP @ sparse.T - u[:, None] * S[idx])).sum(axis=0)
    if k_pair:
        rows[:, m:m + n_pairs(n_species) * k_pair] = f_pair
    return e_row, rows


def kmeanspp(Q: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``m`` rows of ``Q`` (unit vectors) by k-means++ seeding on the distance ``1 - q.q'``."""
    m = min(m, len(Q))
    chosen = [int(rng.integers(len(Q)))]
    d = np.clip(1.0 - Q @ Q[chosen[0]], 0, None)
    for _ in range(m - 1):
        total = d.sum()
        k = int(rng.choice(len(Q), p=d / total)) if total > 0 else int(rng.integers(len(Q)))
        chosen.append(k)
        d = np.minimum(d, np.clip(1.0 - Q @ Q[k], 0, None))
    return np.array(chosen)


def solve_weights(G: dict, b: dict, prior: np.ndarray, sigma_e: float, sigma_f: float) -> np.ndarray:
    """GAP's regularised normal equations ``(G_E/sigma_E^2 + G_F/sigma_F^2 + prior) w = b_E/sigma_E^2 +
    b_F/sigma_F^2``, diagonally scaled and solved by Cholesky with a small jitter (the sparse kernel matrix is
    close to singular). ``prior``: K_MM on the kernel weights, I/delta_2b^2 on the two-body ones, nothing on the
    element constants."""
    from scipy.linalg import cho_factor, cho_solve

    A = G["E"] / sigma_e**2 + G["F"] / sigma_f**2 + prior
    y = b["E"] / sigma_e**2 + b["F"] / sigma_f**2
    d = 1.0 / np.sqrt(np.diag(A) + 1e-300)
    As = A * d[:, None] * d[None, :]
    As[np.diag_indices_from(As)] += 1e-9
    return cho_solve(cho_factor(As), y * d) * d


class SoapCorrection:
    """A fitted correction: energy, forces and stress of a structure (ASE ``Atoms``) to add to the base."""

    def __init__(self, species: Sequence[str], settings: dict, sparse: np.ndarray, sparse_z: np.ndarray,
                 alpha: np.ndarray, constants: np.ndarray, meta: dict | None = None,
                 pair_coef: np.ndarray | None = None):
        from matloop.models.potentials.pair_term import n_pairs

        self.species = list(species)
        self.settings = {k: settings.get(k, LEGACY.get(k)) for k in DEFAULTS}
        self.sparse = np.asarray(sparse, dtype=float)
        self.sparse_z = np.asarray(sparse_z, dtype=np.int64)
        self.alpha = np.asarray(alpha, dtype=float)
        self.constants = np.asarray(constants, dtype=float)
        self.pair_coef = np.zeros(0) if pair_coef is None else np.asarray(pair_coef, dtype=float)
        expected = n_pairs(len(self.species)) * int(self.settings["pair_basis"])
        if len(self.pair_coef) != expected:
            raise InputError(f"the SOAP correction holds {len(self.pair_coef)} two-body coefficients where its "
                             f"settings (pair_basis {self.settings['pair_basis']}, {len(self.species)} elements) "
                             f"need {expected} (a damaged file)")
        self.meta = dict(meta or {})
        s = self.settings
        self._desc = soap_descriptor(self.species, s["r_cut"], s["n_max"], s["l_max"], s["sigma"])

    def _z(self, atoms) -> np.ndarray:
        index = {el: k for k, el in enumerate(self.species)}
        unknown = sorted(set(atoms.get_chemical_symbols()) - set(index))
        if unknown:
            raise InputError(f"the SOAP correction was fitted on {', '.join(self.species)}; this structure also "
                             f"holds {', '.join(unknown)}")
        return np.array([index[el] for el in atoms.get_chemical_symbols()])

    @property
    def weights(self) -> np.ndarray:
        return np.concatenate([self.alpha, self.pair_coef, self.constants])

    def energy(self, atoms) -> float:
        """The correction's energy (eV) of ``atoms``."""
        s = self.settings
        e_row = design_rows(self._desc, atoms, self.sparse, self.sparse_z, self._z(atoms), len(self.species),
                            s["zeta"], False, (int(s["pair_basis"]), s["pair_cut"]))[0]
        return float(e_row @ self.weights)

    def energy_forces(self, atoms) -> tuple[float, np.ndarray]:
        """The correction's energy (eV) and forces (n x 3, eV/Å). Without building the M-wide force rows:
        ``dE/dr_ja = sum_i dp_i/dr_ja . g_i`` with ``g_i = sum_m alpha_m W_im (q_m - S_im q_i)``, so a call costs
        the descriptor differences and one (n x M x F) product, whatever M."""
        from matloop.models.potentials.pair_term import pair_rows

        s, z = self.settings, self._z(atoms)
        P = self._desc.create(atoms)
        Q, norm = _normalise(P)
        S = (Q @ self.sparse.T) * (z[:, None] == self.sparse_z[None, :])
        energy = float(((S ** s["zeta"]) @ self.alpha).sum())
        energy += float(np.bincount(z, minlength=len(self.species)) @ self.constants)
        A = s["zeta"] * S ** (s["zeta"] - 1) / norm[:, None] * self.alpha[None, :]  # (n, M)
        g = A @ self.sparse - (A * S).sum(axis=1)[:, None] * Q  # (n, F)
        forces = np.zeros((len(atoms), 3))
        for j, a, idx, dP in descriptor_steps(self._desc, atoms):
            forces[j, a] = -np.einsum("if,if->", dP, g[idx])
        if int(s["pair_basis"]):
            e_pair, f_pair = pair_rows(atoms, z, len(self.species), int(s["pair_basis"]), s["pair_cut"])
            energy += float(e_pair @ self.pair_coef)
            forces += (f_pair @ self.pair_coef).reshape(-1, 3)
        return energy, forces

    def stress(self, atoms, h: float = FD_STEP) -> np.ndarray:
        """``(1/V) dE/d(strain)`` (3 x 3, eV/Å³, ASE's sign: positive when stretched) by central differences."""
        cell = atoms.cell.array.copy()
        out = np.zeros((3, 3))
        for a in range(3):
            for b in range(a, 3):
                e = []
                for sign in (1, -1):
                    strain = np.zeros((3, 3))  # symmetric: a shear moves both (a, b) and (b, a) by h/2
                    strain[a, b] += sign * h / 2
                    strain[b, a] += sign * h / 2
                    moved = atoms.copy()
                    moved.set_cell(cell @ (np.eye(3) + strain).T, scale_atoms=True)
                    e.append(self.energy(moved))
                out[a, b] = out[b, a] = (e[0] - e[1]) / (2 * h)
        return out / atoms.get_volume()

    # ------------------------------------------------------------------ persistence (plain arrays + JSON)

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict]:
        """Arrays and a JSON-able card; :meth:`from_arrays` inverts it."""
        arrays = {"sparse": self.sparse, "sparse_z": self.sparse_z, "alpha": self.alpha, "constants": self.constants,
                  "pair": self.pair_coef}
        card = {"kind": "soap", "species": self.species, "settings": self.settings, "meta": self.meta,
                "citations": list(CITATIONS)}
        return arrays, card

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], card: dict) -> SoapCorrection:
        if card.get("kind") != "soap":
            raise InputError(f"unknown correction kind {card.get('kind')!r}")
        species, settings = card["species"], card["settings"]
        sparse, sparse_z, alpha, constants = (arrays[k] for k in ("sparse", "sparse_z", "alpha", "constants"))
        if (sparse.ndim != 2 or len(sparse_z) != len(sparse) or len(alpha) != len(sparse)
                or len(constants) != len(species) or (len(sparse_z) and sparse_z.max() >= len(species))):
            raise InputError("the SOAP correction's arrays do not fit together (a damaged file)")
        return cls(species, settings, sparse, sparse_z, alpha, constants, card.get("meta"), arrays.get("pair"))


def _search(score: Callable[[dict], float], space: dict | None = None) -> dict:
    """Coordinate descent over ``space`` (default :data:`SEARCH`) from :data:`START` (two sweeps): the noise
    levels and the two-body prior with the smallest ``score``."""
    hp = dict(START)
    for _sweep in range(2):
        for name, values in (space or SEARCH).items():
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


def fit_correction(atoms_list: Sequence, energies: np.ndarray, forces: Sequence[np.ndarray], *,
                   n_sparse: int = 4000, folds: int = 5, val_fraction: float = 0.2, seed: int = 0,
                   settings: dict | None = None, say: Callable[[str], None] | None = None) -> SoapCorrection:
    """Fit the correction to residual total energies ``energies`` (eV, DFT minus base) and residual forces
    (n x 3 per structure, eV/Å) of ``atoms_list`` (ASE ``Atoms``). ``sigma_E``, ``sigma_F`` and ``delta_2b``
    are chosen by ``folds``-fold cross-validation over the structures (``folds=1``: one ``val_fraction``
    split; ``seed`` shuffles), then the weights are refitted on every structure. The normal equations are sums
    over structures, so each fold's fit is the total minus that fold's share: the descriptor derivatives are
    computed once, and K folds cost K solves per setting, not K passes over the data."""
    import time

    from matloop.models.potentials.pair_term import n_pairs

    say = say or (lambda _msg: None)
    settings = {**DEFAULTS, **(settings or {})}
    if len(atoms_list) < 5:
        raise InputError(f"the SOAP correction needs at least 5 structures (a validation split); got {len(atoms_list)}")
    bad = [{"row": k + 1, "column": "outputs.forces", "value": None, "reason": "no forces: the correction needs them"}
           for k, f in enumerate(forces) if f is None]
    if bad:
        raise InputError(f"{len(bad)} structures have no forces", error_table(bad))
    start = time.perf_counter()
    species = sorted({el for a in atoms_list for el in a.get_chemical_symbols()})
    index = {el: k for k, el in enumerate(species)}
    desc = soap_descriptor(species, settings["r_cut"], settings["n_max"], settings["l_max"], settings["sigma"])
    zs = [np.array([index[el] for el in a.get_chemical_symbols()]) for a in atoms_list]
    rng = np.random.default_rng(seed)

    sparse, sparse_z = sparse_environments(desc, atoms_list, zs, len(species), n_sparse, rng)
    m, n_species, z_all = len(sparse), len(species), np.concatenate(zs)
    k_pair = int(settings["pair_basis"])
    n_pair = n_pairs(n_species) * k_pair
    say(f"SOAP correction: {len(atoms_list)} structures, {len(z_all)} atoms, {m} sparse environments"
        + (f", a two-body term of {k_pair} functions per element pair" if k_pair else ""))

    group, held, how = _assign_groups(rng, len(atoms_list), folds, val_fraction)
    width = m + n_pair + n_species
    n_groups = int(group.max()) + 1
    E_rows, y_E = np.zeros((len(atoms_list), width)), np.zeros(len(atoms_list))
    G_F, b_F = np.zeros((n_groups, width, width)), np.zeros((n_groups, width))
    f_held: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # force rows of the structures ever held out
    for k, atoms in enumerate(atoms_list):
        e_row, f_rows = design_rows(desc, atoms, sparse, sparse_z, zs[k], n_species, settings["zeta"],
                                    pair=(k_pair, settings["pair_cut"]))
        n = len(atoms)
        E_rows[k], y_E[k] = e_row / n, energies[k] / n
        y_f = np.asarray(forces[k], dtype=float).ravel()
        G_F[group[k]] += f_rows.T @ f_rows
        b_F[group[k]] += f_rows.T @ y_f
        if group[k] in held:
            f_held[k] = (f_rows.astype(np.float32), y_f)
        if (k + 1) % 20 == 0 or k + 1 == len(atoms_list):
            say(f"SOAP correction: descriptor derivatives of {k + 1}/{len(atoms_list)} structures "
                f"({time.perf_counter() - start:.0f} s)")
    total = {"E": E_rows.T @ E_rows, "F": G_F.sum(axis=0)}
    total_b = {"E": E_rows.T @ y_E, "F": b_F.sum(axis=0)}
    base_prior = np.zeros((width, width))
    base_prior[:m, :m] = (sparse @ sparse.T) ** settings["zeta"] * (sparse_z[:, None] == sparse_z[None, :])

    def prior(hp: dict) -> np.ndarray:
        out = base_prior.copy()
        out[m:m + n_pair, m:m + n_pair] += np.eye(n_pair) / hp["delta_2b"] ** 2
        return out

    grid = {}

    def score(hp: dict) -> float:
        key = tuple(hp[k] for k in SEARCH)
        if key not in grid:
            e_err, f_err = [], []
            for g in held:  # the fit without group g is the total minus g's share of the sums
                out = np.flatnonzero(group == g)
                G = {"E": total["E"] - E_rows[out].T @ E_rows[out], "F": total["F"] - G_F[g]}
                b = {"E": total_b["E"] - E_rows[out].T @ y_E[out], "F": total_b["F"] - b_F[g]}
                w = solve_weights(G, b, prior(hp), hp["sigma_E"], hp["sigma_F"])
                e_err.append(np.abs(E_rows[out] @ w - y_E[out]))
                f_err.extend(np.abs(f_held[k][0] @ w - f_held[k][1]) for k in out)
            grid[key] = {**hp, "val_energy_mae": 1000 * float(np.mean(np.concatenate(e_err))),
                         "val_force_mae": float(np.mean(np.concatenate(f_err)))}
        return grid[key]["val_energy_mae"] * grid[key]["val_force_mae"]

    best = grid[tuple(_search(score)[k] for k in SEARCH)]
    say(f"SOAP correction: sigma_E {best['sigma_E']} eV/atom, sigma_F {best['sigma_F']} eV/Å, two-body prior "
        f"{best['delta_2b']} eV ({len(grid)} settings tried, {how}); held-out energy MAE "
        f"{best['val_energy_mae']:.2f} meV/atom, force MAE {best['val_force_mae']:.4f} eV/Å")
    w = solve_weights(total, total_b, prior(best), best["sigma_E"], best["sigma_F"])
    meta = {"n_train": len(atoms_list), "validation": how, "n_held_out": int(np.isin(group, held).sum()),
            "groups": group.tolist(), "n_sparse": m, "chosen": best, "grid": list(grid.values()),
            "fit_seconds": round(time.perf_counter() - start, 1)}
    return SoapCorrection(species, settings, sparse, sparse_z, w[:m], w[m + n_pair:], meta, w[m:m + n_pair])
