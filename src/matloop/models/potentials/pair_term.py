"""GAP's two-body term for the SOAP correction: a smooth pair energy per pair of elements.

Why: a SOAP kernel on normalised power spectra sees the *shape* of a neighbourhood better than its scale;
compressed and stretched cells and close contacts are what a pair energy describes best, and GAP models
combine both (Bartók & Csányi, Int. J. Quantum Chem. 115, 1051 (2015); Deringer & Csányi, PRB 95, 094203
(2017)). Here ``E_2b = sum_{i<j} phi_ab(r_ij)`` with ``phi_ab(r) = sum_k c_abk g_k(r) f_c(r)``: K Gaussians
(centres evenly spaced on [1.5 Å, r_cut], width the spacing) times a cosine cutoff, so ``E_2b`` and its forces
go smoothly to zero at ``r_cut``. The term is linear in ``c``: its columns join the correction's least squares
(with a Gaussian prior of standard deviation ``delta_2b`` on each coefficient), and its forces are analytic.
"""

from __future__ import annotations

import numpy as np

INNER = 1.5  # Å, the first Gaussian centre


def n_pairs(n_species: int) -> int:
    """Unordered element pairs (including like pairs)."""
    return n_species * (n_species + 1) // 2


def pair_index(za: np.ndarray, zb: np.ndarray, n_species: int) -> np.ndarray:
    """Index of each unordered pair ``(za, zb)`` among the :func:`n_pairs` pairs."""
    lo, hi = np.minimum(za, zb), np.maximum(za, zb)
    return lo * n_species - lo * (lo - 1) // 2 + (hi - lo)


def pair_basis(r: np.ndarray, k: int, r_cut: float) -> tuple[np.ndarray, np.ndarray]:
    """The K basis functions at distances ``r`` and their r-derivatives, each (len(r), k)."""
    mu = np.linspace(INNER, r_cut, k)
    width = mu[1] - mu[0] if k > 1 else r_cut - INNER
    g = np.exp(-0.5 * ((r[:, None] - mu) / width) ** 2)
    dg = -g * (r[:, None] - mu) / width**2
    fc = 0.5 * (np.cos(np.pi * r / r_cut) + 1)
    dfc = -0.5 * np.pi / r_cut * np.sin(np.pi * r / r_cut)
    return g * fc[:, None], dg * fc[:, None] + g * dfc[:, None]


def pair_rows(atoms, atom_z: np.ndarray, n_species: int, k: int, r_cut: float,
              forces: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """The structure's energy row (n_pairs * k) and force rows (3n x n_pairs * k, ``-dE/dr``) of the term."""
    from ase.neighborlist import neighbor_list

    i, j, d, D = neighbor_list("ijdD", atoms, r_cut)
    width = n_pairs(n_species) * k
    cols = pair_index(atom_z[i], atom_z[j], n_species)[:, None] * k + np.arange(k)  # (entries, k)
    b, db = pair_basis(d, k, r_cut)
    e_row = np.zeros(width)
    np.add.at(e_row, cols, 0.5 * b)  # every pair is listed from both ends
    if not forces:
        return e_row, None
    f = np.zeros((len(atoms), 3, width))  # F_i = sum_j phi'(r_ij) (r_j - r_i) / r_ij over i's entries
    unit = D / d[:, None]
    for a in range(3):
        np.add.at(f[:, a, :], (i[:, None], cols), db * unit[:, a:a + 1])
    return e_row, f.reshape(3 * len(atoms), width)
