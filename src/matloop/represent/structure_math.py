"""Per-structure numerics behind :class:`~matloop.represent.structure.StructureFeaturizer`.

Each function takes one pymatgen ``Structure`` (or plain arrays) and returns a small numpy vector.
Neighbour searches use pymatgen's C-accelerated ``Structure.get_neighbor_list`` and all pair
arithmetic is done on whole arrays (no Python loop over pairs or sites).
"""

from __future__ import annotations

import os
import warnings
from functools import cache

import numpy as np
from scipy import constants as _constants

#: Angstrom to Bohr, as matminer's SineCoulombMatrix (CODATA "Angstrom star" / Bohr radius)
ANG_TO_BOHR = _constants.value("Angstrom star") / _constants.value("Bohr radius")
#: g/cm^3 per amu/Angstrom^3 (CODATA via scipy, as pymatgen's ``Structure.density``)
AMU_PER_A3_TO_G_PER_CM3 = _constants.physical_constants["atomic mass unit-kilogram relationship"][0] * 1e27

CRYSTAL_SYSTEMS = ("triclinic", "monoclinic", "orthorhombic", "tetragonal", "trigonal", "hexagonal", "cubic")
_SYSTEM_START = np.array([1, 3, 16, 75, 143, 168, 195])  # first space group number of each system

#: order of the 32 crystallographic point groups (Hermann-Mauguin symbols, with setting variants)
POINT_GROUP_ORDER = {
    "1": 1, "-1": 2, "2": 2, "m": 2, "2/m": 4, "222": 4, "mm2": 4, "mmm": 8,
    "4": 4, "-4": 4, "4/m": 8, "422": 8, "4mm": 8, "-42m": 8, "-4m2": 8, "4/mmm": 16,
    "3": 3, "-3": 6, "32": 6, "312": 6, "321": 6, "3m": 6, "31m": 6, "3m1": 6, "-3m": 12, "-31m": 12,
    "-3m1": 12, "6": 6, "-6": 6, "6/m": 12, "622": 12, "6mm": 12, "-6m2": 12, "-62m": 12, "6/mmm": 24,
    "23": 12, "m-3": 24, "432": 24, "-43m": 24, "m-3m": 48,
}  # fmt: skip
#: point groups containing the inversion (the 11 Laue classes)
CENTROSYMMETRIC = {
    "-1",
    "2/m",
    "mmm",
    "4/m",
    "4/mmm",
    "-3",
    "-3m",
    "-31m",
    "-3m1",
    "6/m",
    "6/mmm",
    "m-3",
    "m-3m",
}


@cache
def element_tables() -> dict[str, np.ndarray]:
    """Arrays indexed by atomic number: ``mass`` (amu), ``radius`` and ``covalent`` (Angstrom).

    ``radius`` is pymatgen's empirical atomic radius (matminer's DensityFeatures convention), falling
    back to pymatgen's calculated radius and then to the Cordero covalent radius where it is missing
    (noble gases, some actinides); NaN where none is known (Z >= 97). ``covalent`` is the Cordero et
    al. (2008) covalent radius shipped with pymatgen; NaN beyond Cm.
    """
    from pymatgen.analysis.molecule_structure_comparator import CovalentRadius
    from pymatgen.core import Element

    n = 119
    mass, radius, covalent = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for z in range(1, n):
            el = Element.from_Z(z)
            mass[z] = float(el.atomic_mass)
            cov = CovalentRadius.radius.get(el.symbol)
            covalent[z] = np.nan if cov is None else float(cov)
            r = el.atomic_radius or el.atomic_radius_calculated or cov
            radius[z] = np.nan if r is None else float(r)
    return {"mass": mass, "radius": radius, "covalent": covalent}


def site_table(structure) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Site index, atomic number and occupancy of every (site, species) pair: works when disordered."""
    entries = [(i, sp.Z, occ) for i, site in enumerate(structure) for sp, occ in site.species.items()]
    site, z, occ = (np.array(col) for col in zip(*entries, strict=True))
    return site.astype(np.intp), z.astype(np.intp), occ.astype(float)


def density_features(structure) -> np.ndarray:
    """``[density (g/cm^3), volume per atom (A^3), packing fraction]``, occupancy-weighted.

    Packing fraction = sum over sites of 4/3 pi r^3 (atomic radii, see :func:`element_tables`)
    divided by the cell volume, as matminer's DensityFeatures.
    """
    tables = element_tables()
    _, z, occ = site_table(structure)
    volume = structure.volume
    density = float(tables["mass"][z] @ occ) / volume * AMU_PER_A3_TO_G_PER_CM3
    packing = 4.0 / 3.0 * np.pi * float(tables["radius"][z] ** 3 @ occ) / volume
    return np.array([density, volume / len(structure), packing])


def symmetry_analysis(structure, symprec: float, angle_tolerance: float):
    """The spglib dataset of a structure through pymatgen's ``SpacegroupAnalyzer``.

    spglib's C library prints "ssm_get_exact_positions failed" and the like to stderr while it tries
    tolerances on distorted cells (harmless: the search goes on); ``SPGLIB_WARNING=OFF`` silences it
    unless the user set the variable.
    """
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    os.environ.setdefault("SPGLIB_WARNING", "OFF")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*OLD_ERROR_HANDLING", category=DeprecationWarning)
        analyzer = SpacegroupAnalyzer(structure, symprec=symprec, angle_tolerance=angle_tolerance)
    return analyzer.get_symmetry_dataset()


def symmetry_features(dataset) -> np.ndarray:
    """``[space group number, crystal system one-hot (7), centrosymmetric, point group order, primitive sites]``.

    All of these are properties of the crystal, not of the cell it is written in (a supercell gives
    the same values).
    """
    number = int(dataset.number)
    onehot = np.zeros(len(CRYSTAL_SYSTEMS))
    onehot[np.searchsorted(_SYSTEM_START, number, side="right") - 1] = 1.0
    pointgroup = str(dataset.pointgroup).strip()
    if pointgroup not in POINT_GROUP_ORDER:
        raise ValueError(f"unknown point group symbol {pointgroup!r} from spglib")
    n_primitive = len(np.unique(dataset.mapping_to_primitive))
    return np.concatenate(
        [[number], onehot, [float(pointgroup in CENTROSYMMETRIC), POINT_GROUP_ORDER[pointgroup], n_primitive]]
    )


def lattice_features(dataset) -> np.ndarray:
    """``[a, b, c, alpha, beta, gamma, b/a, c/a, c/b]`` of spglib's standardized conventional cell.

    Using the conventional cell makes the values independent of the cell the file was written in
    (primitive, conventional or a supercell all give the same numbers).
    """
    matrix = np.asarray(dataset.std_lattice, dtype=float)
    a, b, c = np.linalg.norm(matrix, axis=1)

    def angle(u, v):
        cos = np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v))
        return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))

    alpha, beta, gamma = angle(matrix[1], matrix[2]), angle(matrix[0], matrix[2]), angle(matrix[0], matrix[1])
    return np.array([a, b, c, alpha, beta, gamma, b / a, c / a, c / b])


def neighbour_list(structure, cutoff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre index, neighbour index and distance of every pair closer than ``cutoff`` (both directions)."""
    centers, points, _, distances = structure.get_neighbor_list(cutoff)
    return centers.astype(np.intp), points.astype(np.intp), distances


def radial_distribution(n_sites: int, volume: float, distances: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Radial distribution function g(r) averaged over the sites of the cell.

    g = (pair counts in the shell) / (n_sites * shell volume * number density), so an ideal gas gives
    1 and a supercell gives the same values as its unit cell. matminer's RadialDistributionFunction
    omits the division by ``n_sites``: matminer's values = ours x number of sites in the cell.

    Distances are snapped to 1e-9 A before binning, so a shell lying exactly on a bin edge (2a = 6.5 A
    in wurtzite with a = 3.25 A) always falls in the upper bin, whatever rounding the neighbour search
    made: bins are half-open, ``[lo, hi)``.
    """
    counts, _ = np.histogram(np.round(distances, 9), bins=edges)
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    return counts / shell / (n_sites * n_sites / volume)


def coordination(
    n_sites: int,
    centers: np.ndarray,
    points: np.ndarray,
    distances: np.ndarray,
    method: str,
    tolerance: float,
    z: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Coordination number and nearest-neighbour distance of every site.

    ``method="min_dist"``: neighbours are the atoms within ``(1 + tolerance)`` times the site's
    nearest-neighbour distance (pymatgen's MinimumDistanceNN rule). ``method="covalent"``: atoms
    within ``(1 + tolerance) * (r_i + r_j)`` with Cordero covalent radii (``z`` = atomic numbers).
    Sites without a neighbour in the list get coordination 0 and distance NaN.
    """
    nearest = np.full(n_sites, np.inf)
    np.minimum.at(nearest, centers, distances)
    if method == "min_dist":
        bonded = distances <= nearest[centers] * (1.0 + tolerance) + 1e-8
    elif method == "covalent":
        radii = element_tables()["covalent"][z]
        bonded = distances <= (radii[centers] + radii[points]) * (1.0 + tolerance)
    else:
        raise ValueError(f"unknown coordination method {method!r}; use 'min_dist' or 'covalent'")
    cn = np.bincount(centers[bonded], minlength=n_sites).astype(float)
    nearest[~np.isfinite(nearest)] = np.nan
    return cn, nearest


def coordination_features(cn: np.ndarray, nearest: np.ndarray) -> np.ndarray:
    """``[cn mean, std, min, max, nn distance mean, std, min, max]`` over the sites of the cell."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN nearest: stays NaN
        stats = [np.nanmean, np.nanstd, np.nanmin, np.nanmax]
        return np.array([f(cn) for f in stats] + [f(nearest) for f in stats])


def sine_coulomb_eigenvalues(
    lattice: np.ndarray, frac: np.ndarray, z: np.ndarray, block: int = 256
) -> np.ndarray:
    """Eigenvalues of the sine Coulomb matrix (Faber et al. 2015), sorted by decreasing magnitude.

    M_ii = 0.5 Z_i^2.4; M_ij = Z_i Z_j / |sum_k a_k sin^2(pi (x_i - x_j)_k)| with the distance in
    Bohr, exactly matminer's SineCoulombMatrix (whose eigenvalues come unsorted from ``np.linalg.eig``).
    Computed in row blocks so memory stays O(block * n).
    """
    z = np.asarray(z, dtype=float)
    n = len(z)
    matrix = np.empty((n, n))
    for start in range(0, n, block):
        stop = min(start + block, n)
        diff = frac[start:stop, None, :] - frac[None, :, :]
        trig = np.linalg.norm(np.sin(np.pi * diff) ** 2 @ lattice, axis=-1) * ANG_TO_BOHR
        with np.errstate(divide="ignore"):
            matrix[start:stop] = np.outer(z[start:stop], z) / trig
    np.fill_diagonal(matrix, 0.5 * z**2.4)
    eig = np.linalg.eigvalsh(matrix)
    return eig[np.argsort(-np.abs(eig), kind="stable")]


#: spglib's transformations from the standardized conventional to the primitive cell, by centring
#: letter: (a_p, b_p, c_p) = (a_s, b_s, c_s) P  (spglib documentation, "Definitions and conventions")
_CENTRING = {
    "P": np.eye(3),
    "A": np.array([[1.0, 0, 0], [0, 0.5, -0.5], [0, 0.5, 0.5]]),
    "C": np.array([[0.5, 0.5, 0], [-0.5, 0.5, 0], [0, 0, 1.0]]),
    "I": np.array([[-0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.5, 0.5, -0.5]]),
    "F": np.array([[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]),
    "R": np.array([[2 / 3, -1 / 3, -1 / 3], [1 / 3, 1 / 3, -2 / 3], [1 / 3, 1 / 3, 1 / 3]]),
}


def primitive_cell(dataset, atomic_numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """spglib's standardized (idealized) primitive cell ``(lattice rows, frac_coords, Z)`` from a dataset.

    The same cell as ``spglib.standardize_cell(to_primitive=True)``, built from the dataset already
    computed for the symmetry features (saving a second symmetry search). The standardized primitive
    is the same for a cell and any of its supercells, so features computed on it (the sine Coulomb
    matrix) do not depend on how the file chose its cell. ``atomic_numbers`` are those of the input
    sites, in the order the dataset was computed from.
    """
    centring = _CENTRING.get(str(dataset.international)[:1])
    if centring is None:
        raise ValueError(f"unexpected centring in space group symbol {dataset.international!r}")
    std_positions = np.asarray(dataset.std_positions, dtype=float)
    lattice = centring.T @ np.asarray(dataset.std_lattice, dtype=float)
    frac = std_positions @ np.linalg.inv(centring).T
    primitive_index, first_std = np.unique(dataset.std_mapping_to_primitive, return_index=True)
    if len(first_std) != round(abs(np.linalg.det(centring)) * len(std_positions)):
        raise ValueError("spglib's standardized cell does not reduce to a primitive cell")
    # Z of each primitive atom: from any input atom that maps onto it
    mapping = np.asarray(dataset.mapping_to_primitive)
    first_input = np.full(int(max(mapping.max(), primitive_index.max())) + 1, -1)
    first_input[mapping[::-1]] = np.arange(len(mapping))[::-1]
    z = np.asarray(atomic_numbers)[first_input[primitive_index]]
    return lattice, frac[first_std] % 1.0, z
