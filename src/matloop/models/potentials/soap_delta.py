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
two-body term (:mod:`.pair_term`: a smooth pair energy per element pair, linear in its coefficients) and a
second, short-range kernel of the same form (r_cut 3.5 Å, n_max = l_max = 8, its own sparse set; multi-scale
kernels, Willatt, Musil & Ceriotti, J. Chem. Phys. 150, 154110 (2019)); forces
``F_j = -dE/dr_j`` by the chain rule through ``dq/dp = (I - q q^T)/|p|`` and ``dp_i/dr_j`` from central
differences of dscribe's periodic descriptor (moving an atom moves its periodic images; dscribe's own
numerical derivatives did not agree with that for periodic cells); the stress ``(1/V) dE/d(strain)`` by
central differences over the six strains. The weights solve GAP's subset-of-regressors problem
``(Phi_E' Phi_E / sigma_E^2 + Phi_F' Phi_F / sigma_F^2 + prior) w = Phi_E' y_E / sigma_E^2 +
Phi_F' y_F / sigma_F^2`` (energy rows per atom, ``sigma_E`` in eV/atom, ``sigma_F`` in eV/Å; the prior is
each kernel's ``K_MM`` on its weights and ``1/delta_2b^2`` on the two-body ones); the two noise levels and
``delta_2b`` are chosen by 5-fold cross-validation over the training structures (smallest product of the
held-out energy and force MAEs, coordinate descent over grids; one split of a couple of dozen structures made
the choice, and the test error, depend on which structures were held out), then the model is refitted on all
of them (:mod:`.soap_fit`). Where the training structures carry stresses, each adds six rows, the model's own
strain derivative (:func:`strain_rows`), with a noise level ``sigma_S`` (GPa) searched with the rest; "left out"
is its first value, so the stresses are used only when they lower the held-out energy and force errors. GAP and
MTP fits use the virials the same way; they are the only data that see how the energy changes with the cell.
On mlearn Si they lowered the cross-validated energy MAE by 13 % (2.43 -> 2.12 meV/atom, sigma_S 0.1 GPa); on
Ge the search left them out.
The descriptor (n_max = l_max = 10, 4000 sparse environments, the two-body term) was chosen on the mlearn
Si/Ge/Li sets (``benchmarks/potentials_soap_capacity.py``), the second kernel there too
(``benchmarks/potentials_soap_weights.py``: cross-validated errors 9-17 % lower in energy, 10-13 % in forces),
and the kernels' exponent zeta 16, much sharper than GAP's usual 4. The fit's own criterion (the product of
the cross-validated energy and force MAEs) fell on Ge at every step 4 -> 8 -> 12 -> 16 (energy / forces
2.37 / 0.0572, 2.22 / 0.0534, 2.10 / 0.0520, 2.07 / 0.0514 meV/atom / eV/Å) and on Si from 4 to 8 to 12 to
16 (2.84 / 0.0622, 2.49 / 0.0585, 2.35 / 0.0593, 2.43 / 0.0572; 12 and 16 within 0.3 %); on Li the CLI's
cross-validated energy went 0.38, 0.35, 0.33 for 4, 8, 16. zeta 2 was worse everywhere
(``benchmarks/results/potentials_soap_weights_reading.md``).

Cost: the forces need ``6 n`` descriptor evaluations per structure, each only for the centres the moved
atom can reach (so the cost per atom does not grow with the cell): about 1-3 s for a 64-atom cell, at fit
time and at every force call. That is fine for fits, evaluation, relaxations and short MD of cells of a few
hundred atoms, not for large-scale MD. A force call never builds the M-wide design rows (one n x M x F
product instead); the fit builds them one coordinate at a time, so memory grows as ``n (F + M)``, not
``n^2 F``. dscribe is the ``soap`` extra; without it :func:`require_dscribe` raises a
:class:`~matloop.errors.MatloopError` naming it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from matloop.errors import InputError, MatloopError

CITATIONS = ("Bartók, A. P., Payne, M. C., Kondor, R. & Csányi, G. Gaussian Approximation Potentials. Phys. Rev. "
             "Lett. 104, 136403 (2010)",
             "Bartók, A. P., Kondor, R. & Csányi, G. On representing chemical environments. Phys. Rev. B 87, "
             "184115 (2013)",
             "Himanen, L. et al. DScribe: Library of descriptors for machine learning in materials science. "
             "Comput. Phys. Commun. 247, 106949 (2020)")
#: the descriptor and kernel (chosen on the mlearn Si/Ge/Li training sets: ``benchmarks/potentials_delta_forces.py``)
#: (``potentials_soap_capacity.py``: n_max/l_max 10 and the two-body term beat 8/6 without it on Si and Ge)
#: ``sparse2`` > 0 adds a second, short-range SOAP kernel (``r_cut2``, ``n_max2``, ``l_max2``, ``sigma2``) with
#: that many sparse environments and prior scale ``delta_k2`` (``benchmarks/potentials_soap_weights.py``); ``zeta`` the
#: kernels' exponent (16; files written with the earlier 4 or 8 keep it in their card)
DEFAULTS = {"r_cut": 5.0, "n_max": 10, "l_max": 10, "sigma": 0.5, "zeta": 16, "pair_basis": 20, "pair_cut": 5.0,
            "sparse2": 2000, "r_cut2": 3.5, "n_max2": 8, "l_max2": 8, "sigma2": 0.3, "delta_k2": 1.0}
#: settings of files written before the two-body term (and the second kernel) existed: read back without them
LEGACY = {"pair_basis": 0, "pair_cut": 5.0, "sparse2": 0, "r_cut2": 3.5, "n_max2": 8, "l_max2": 8, "sigma2": 0.3,
          "delta_k2": 1.0}
#: searched by cross-validation, coordinate descent (two sweeps); sigma_E reaches 0.00005 because Si at zeta 12
#: chose 0.0001, the lowest value of the earlier grid
SEARCH = {"sigma_E": (0.00005, 0.0001, 0.0002, 0.0003, 0.0005, 0.001, 0.002, 0.005),  # eV/atom
          "sigma_F": (0.01, 0.02, 0.05, 0.1, 0.2),  # eV/Å
          "delta_2b": (0.001, 0.03, 1.0, 10.0)}  # eV, prior std of the two-body coefficients
#: with the base's own energies and forces as one more column (the base's scale, see SoapCorrection.base_scale):
#: the prior std of that scale; 0.001 keeps the base as it is
BASE_SEARCH = {"delta_base": (0.001, 0.1, 0.3, 1.0)}
#: with the training structures' stresses as six more rows each: their noise level (GPa); None leaves them out,
#: and comes first, so the stresses join the fit only when they lower the held-out energy and force errors (on
#: mlearn Si the search chose 0.1, on Ge None: ``benchmarks/results/potentials_soap_weights_reading.md``)
STRESS_SEARCH = {"sigma_S": (None, 3.0, 1.0, 0.3, 0.1, 0.03)}
START = {"sigma_E": 0.0005, "sigma_F": 0.05, "delta_2b": 1.0, "delta_base": 0.001, "sigma_S": None}
#: the six stress components in Voigt order (xx, yy, zz, yz, xz, xy)
VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))
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


def kernel_rows(desc, atoms, sparse: np.ndarray, sparse_z: np.ndarray, atom_z: np.ndarray, zeta: int,
                forces: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """One SOAP kernel's columns for a structure: the energy row (M kernel sums) and, with ``forces``, the force
    rows (3n x M, ``-dE/dr``)."""
    Q, norm = _normalise(desc.create(atoms))
    S = (Q @ sparse.T) * (atom_z[:, None] == sparse_z[None, :])  # (n, M), zero across elements
    e_row = (S ** zeta).sum(axis=0)
    if not forces:
        return e_row, None
    W = zeta * S ** (zeta - 1) / norm[:, None]  # dk/d(q_i . q_m) / |p_i|
    rows = np.zeros((3 * len(atoms), len(sparse)))
    for j, a, idx, dP in descriptor_steps(desc, atoms):
        u = np.einsum("if,if->i", dP, Q[idx])  # dp_i/dr_ja . q_i
        rows[3 * j + a] = -(W[idx] * (dP @ sparse.T - u[:, None] * S[idx])).sum(axis=0)
    return e_row, rows


def kernel_energy_forces(desc, atoms, sparse: np.ndarray, sparse_z: np.ndarray, atom_z: np.ndarray, zeta: int,
                         alpha: np.ndarray) -> tuple[float, np.ndarray]:
    """One kernel's energy and forces without the M-wide rows: ``dE/dr_ja = sum_i dp_i/dr_ja . g_i`` with
    ``g_i = sum_m alpha_m W_im (q_m - S_im q_i)``, one (n x M x F) product whatever M."""
    Q, norm = _normalise(desc.create(atoms))
    S = (Q @ sparse.T) * (atom_z[:, None] == sparse_z[None, :])
    A = zeta * S ** (zeta - 1) / norm[:, None] * alpha[None, :]  # (n, M)
    g = A @ sparse - (A * S).sum(axis=1)[:, None] * Q  # (n, F)
    forces = np.zeros((len(atoms), 3))
    for j, a, idx, dP in descriptor_steps(desc, atoms):
        forces[j, a] = -np.einsum("if,if->", dP, g[idx])
    return float(((S ** zeta) @ alpha).sum()), forces


def design_rows(desc, atoms, sparse: np.ndarray, sparse_z: np.ndarray, atom_z: np.ndarray, n_species: int,
                zeta: int, forces: bool = True, pair: tuple[int, float] = (0, 5.0),
                second: tuple | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """The structure's rows of the linear model in ``(alpha, c_2b, c, alpha_2)``: the energy row (M kernel sums,
    the two-body sums of ``pair = (K, r_cut)``, the atom count of each element, then the second kernel's sums when
    ``second = (desc2, sparse2, sparse2_z)``) and, with ``forces``, the force rows (3n x width, ``-dE/dr``)."""
    from matloop.models.potentials.pair_term import pair_rows

    e_kernel, f_kernel = kernel_rows(desc, atoms, sparse, sparse_z, atom_z, zeta, forces)
    counts = np.bincount(atom_z, minlength=n_species).astype(float)
    e_pair, f_pair = pair_rows(atoms, atom_z, n_species, pair[0], pair[1], forces) if pair[0] else (np.zeros(0), None)
    e2, f2 = kernel_rows(second[0], atoms, second[1], second[2], atom_z, zeta, forces) if second else (None, None)
    e_row = np.concatenate([e_kernel, e_pair, counts] + ([e2] if second else []))
    if not forces:
        return e_row, None
    blocks = [f_kernel] + ([f_pair] if pair[0] else []) + [np.zeros((3 * len(atoms), n_species))]
    return e_row, np.hstack(blocks + ([f2] if second else []))


def strain_rows(energy_row, atoms, h: float = FD_STEP) -> np.ndarray:
    """(6, width): ``(1/V) d energy_row(atoms)/d(strain)`` (eV/Å³, ASE's sign: positive when stretched) for the six
    Voigt components, by central differences over symmetric strains (a shear moves both (a, b) and (b, a) by h/2;
    the atoms move with the cell). ``energy_row``: any function of ``Atoms`` linear in the model's weights."""
    cell = atoms.cell.array.copy()
    out = []
    for a, b in VOIGT:
        rows = []
        for sign in (1, -1):
            strain = np.zeros((3, 3))
            strain[a, b] += sign * h / 2
            strain[b, a] += sign * h / 2
            moved = atoms.copy()
            moved.set_cell(cell @ (np.eye(3) + strain).T, scale_atoms=True)
            rows.append(np.atleast_1d(energy_row(moved)))
        out.append((rows[0] - rows[1]) / (2 * h))
    return np.array(out) / atoms.get_volume()


def kernel_prior(sparse: np.ndarray, sparse_z: np.ndarray, zeta: int) -> np.ndarray:
    """``K_MM``: the kernel between the sparse environments (zero across elements), the prior on their weights."""
    return (sparse @ sparse.T) ** zeta * (sparse_z[:, None] == sparse_z[None, :])


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


def solve_weights(G: dict, b: dict, prior: np.ndarray, sigma_e: float, sigma_f: float,
                  sigma_s: float | None = None) -> np.ndarray:
    """GAP's regularised normal equations ``(G_E/sigma_E^2 + G_F/sigma_F^2 + prior) w = b_E/sigma_E^2 +
    b_F/sigma_F^2`` (plus ``G_S/sigma_S^2`` and ``b_S/sigma_S^2`` when ``G`` holds stress sums ``"S"`` and
    ``sigma_s`` is not None),
    diagonally scaled and solved by Cholesky with a small jitter (the sparse kernel matrix is close to singular).
    ``prior``: K_MM on the kernel weights, I/delta_2b^2 on the two-body ones, nothing on the element constants."""
    from scipy.linalg import cho_factor, cho_solve

    A = G["E"] / sigma_e**2 + G["F"] / sigma_f**2 + prior
    y = b["E"] / sigma_e**2 + b["F"] / sigma_f**2
    if "S" in G and sigma_s is not None:
        A, y = A + G["S"] / sigma_s**2, y + b["S"] / sigma_s**2
    d = 1.0 / np.sqrt(np.diag(A) + 1e-300)
    As = A * d[:, None] * d[None, :]
    As[np.diag_indices_from(As)] += 1e-9
    return cho_solve(cho_factor(As), y * d) * d


class SoapCorrection:
    """A fitted correction: energy, forces and stress of a structure (ASE ``Atoms``) to add to the base.

    ``base_scale`` (beta): the corrected potential is ``(1 + beta) * base + correction``. Universal potentials
    are systematically soft (Deng, B. et al., Systematic softening in universal machine learning interatomic
    potentials, npj Comput. Mater. 11, 9 (2025)), and with a few hundred structures
    the kernel terms can replace much of the base; the fit chooses beta (prior N(0, delta_base^2)) by
    cross-validation, 0 when the base is kept as it is. Applied where the base's predictions are at hand
    (:class:`~matloop.models.potentials.corrected.CorrectedPotential`); :meth:`energy_forces` is the
    correction's own part."""

    def __init__(self, species: Sequence[str], settings: dict, sparse: np.ndarray, sparse_z: np.ndarray,
                 alpha: np.ndarray, constants: np.ndarray, meta: dict | None = None,
                 pair_coef: np.ndarray | None = None, second: dict | None = None, base_scale: float = 0.0):
        from matloop.models.potentials.pair_term import n_pairs

        self.base_scale = float(base_scale)
        if not np.isfinite(self.base_scale):
            raise InputError(f"the SOAP correction's base scale is {base_scale} (a damaged file)")

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
        #: the second kernel: {"sparse", "sparse_z", "alpha"} arrays (empty without one)
        self.second = {k: np.asarray((second or {}).get(k, np.zeros((0, 0) if k == "sparse" else 0)),
                                     dtype=np.int64 if k == "sparse_z" else float) for k in ("sparse", "sparse_z", "alpha")}
        self._desc2 = (soap_descriptor(self.species, s["r_cut2"], int(s["n_max2"]), int(s["l_max2"]), s["sigma2"])
                       if len(self.second["alpha"]) else None)

    def _second(self) -> tuple | None:
        return (self._desc2, self.second["sparse"], self.second["sparse_z"]) if self._desc2 is not None else None

    def _z(self, atoms) -> np.ndarray:
        index = {el: k for k, el in enumerate(self.species)}
        unknown = sorted(set(atoms.get_chemical_symbols()) - set(index))
        if unknown:
            raise InputError(f"the SOAP correction was fitted on {', '.join(self.species)}; this structure also "
                             f"holds {', '.join(unknown)}")
        return np.array([index[el] for el in atoms.get_chemical_symbols()])

    @property
    def weights(self) -> np.ndarray:
        return np.concatenate([self.alpha, self.pair_coef, self.constants, self.second["alpha"]])

    def energy(self, atoms) -> float:
        """The correction's energy (eV) of ``atoms``."""
        s = self.settings
        e_row = design_rows(self._desc, atoms, self.sparse, self.sparse_z, self._z(atoms), len(self.species),
                            s["zeta"], False, (int(s["pair_basis"]), s["pair_cut"]), self._second())[0]
        return float(e_row @ self.weights)

    def energy_forces(self, atoms) -> tuple[float, np.ndarray]:
        """The correction's energy (eV) and forces (n x 3, eV/Å), without building the M-wide force rows
        (:func:`kernel_energy_forces`)."""
        from matloop.models.potentials.pair_term import pair_rows

        s, z = self.settings, self._z(atoms)
        energy, forces = kernel_energy_forces(self._desc, atoms, self.sparse, self.sparse_z, z, s["zeta"], self.alpha)
        energy += float(np.bincount(z, minlength=len(self.species)) @ self.constants)
        if int(s["pair_basis"]):
            e_pair, f_pair = pair_rows(atoms, z, len(self.species), int(s["pair_basis"]), s["pair_cut"])
            energy += float(e_pair @ self.pair_coef)
            forces += (f_pair @ self.pair_coef).reshape(-1, 3)
        if self._desc2 is not None:
            e2, f2 = kernel_energy_forces(self._desc2, atoms, self.second["sparse"], self.second["sparse_z"], z,
                                          s["zeta"], self.second["alpha"])
            energy, forces = energy + e2, forces + f2
        return energy, forces

    def stress(self, atoms, h: float = FD_STEP) -> np.ndarray:
        """``(1/V) dE/d(strain)`` (3 x 3, eV/Å³, ASE's sign: positive when stretched) by central differences
        (:func:`strain_rows`)."""
        voigt = strain_rows(self.energy, atoms, h)[:, 0]
        out = np.zeros((3, 3))
        for value, (a, b) in zip(voigt, VOIGT, strict=True):
            out[a, b] = out[b, a] = value
        return out

    # ------------------------------------------------------------------ persistence (plain arrays + JSON)

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict]:
        """Arrays and a JSON-able card; :meth:`from_arrays` inverts it."""
        arrays = {"sparse": self.sparse, "sparse_z": self.sparse_z, "alpha": self.alpha, "constants": self.constants,
                  "pair": self.pair_coef, **{f"second_{k}": v for k, v in self.second.items()}}
        card = {"kind": "soap", "species": self.species, "settings": self.settings, "meta": self.meta,
                "citations": list(CITATIONS), "base_scale": self.base_scale}
        return arrays, card

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], card: dict) -> SoapCorrection:
        if card.get("kind") != "soap":
            raise InputError(f"unknown correction kind {card.get('kind')!r}")
        species, settings = card["species"], card["settings"]
        sparse, sparse_z, alpha, constants = (arrays[k] for k in ("sparse", "sparse_z", "alpha", "constants"))
        second = {k: arrays[f"second_{k}"] for k in ("sparse", "sparse_z", "alpha") if f"second_{k}" in arrays}

        def fits(kernel: dict) -> bool:
            return (kernel["sparse"].ndim == 2 and len(kernel["sparse_z"]) == len(kernel["alpha"]) == len(kernel["sparse"])
                    and not (len(kernel["sparse_z"]) and kernel["sparse_z"].max() >= len(species)))

        has_second = bool(second) and len(second["alpha"]) > 0
        if (len(constants) != len(species) or not fits({"sparse": sparse, "sparse_z": sparse_z, "alpha": alpha})
                or (second and not fits(second)) or has_second != bool(int(settings.get("sparse2", 0)))):
            raise InputError("the SOAP correction's arrays do not fit together (a damaged file)")
        return cls(species, settings, sparse, sparse_z, alpha, constants, card.get("meta"), arrays.get("pair"), second,
                   card.get("base_scale", 0.0))
