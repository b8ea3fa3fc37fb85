"""Crystal graphs: the periodic neighbour graph of a structure as plain NumPy arrays.

A crystal graph (Xie & Grossman, Phys. Rev. Lett. 120, 145301 (2018), "Crystal Graph Convolutional
Neural Networks for an Accurate and Interpretable Prediction of Material Properties") has one node
per site of the cell and a directed edge from every site to each of its nearest periodic images of
other (or the same) sites within ``cutoff``. Edges carry the distance; the network expands it in
Gaussians (:class:`GaussianDistance`).

:class:`CrystalGraphConverter` turns pymatgen structures into graphs. Its parameters (cutoff,
number of neighbours, Gaussian grid) are plain data saved with a model (``to_dict``/``from_dict``),
so a model is always rebuilt with the graph it was trained on. Neighbours come from pymatgen's
C-accelerated ``Structure.get_neighbor_list`` (:func:`matloop.represent.structure_math.neighbour_list`);
selection of the nearest neighbours is done on whole arrays (no Python loop over sites or pairs).

Neighbour rule: each site keeps every neighbour within ``cutoff`` whose distance is at most the
distance of its ``max_neighbors``-th nearest one (plus ``tie_tolerance``). CGCNN cuts at exactly 12
neighbours, which makes the graph depend on the order of sites when several neighbours are equally
far (every site of a cubic crystal); keeping the whole tied shell makes the graph (and the neighbour
counts) independent of site order and identical in a supercell and its unit cell.

A :class:`GraphSet` concatenates many graphs with per-crystal offsets (``atom_ptr``, ``edge_ptr``), the
layout that :mod:`matloop.models.gnn.batching` slices mini-batches from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from matloop.errors import InputError, error_table

CITATION = ("Xie, T. & Grossman, J. C. Crystal Graph Convolutional Neural Networks for an Accurate and "
            "Interpretable Prediction of Material Properties. Phys. Rev. Lett. 120, 145301 (2018). "
            "doi:10.1103/PhysRevLett.120.145301")


@dataclass(frozen=True)
class CrystalGraph:
    """One crystal: atomic numbers of the sites and directed edges ``centres[k] <- neighbours[k]``.

    ``distances[k]`` is the distance (Angstrom) from site ``centres[k]`` to the periodic image of
    site ``neighbours[k]``; edges are sorted by centre, then distance.
    """

    atomic_numbers: np.ndarray  # (n_sites,) int
    centres: np.ndarray  # (n_edges,) int, site that receives the message
    neighbours: np.ndarray  # (n_edges,) int, site that sends it
    distances: np.ndarray  # (n_edges,) float

    @property
    def n_sites(self) -> int:
        return int(self.atomic_numbers.size)

    def neighbour_counts(self) -> np.ndarray:
        """Number of neighbours of every site."""
        return np.bincount(self.centres, minlength=self.n_sites)


@dataclass(frozen=True)
class GraphSet:
    """Many crystal graphs concatenated; crystal ``i`` owns atoms ``atom_ptr[i]:atom_ptr[i+1]`` and
    edges ``edge_ptr[i]:edge_ptr[i+1]``; edge site indices are local to their crystal."""

    atomic_numbers: np.ndarray
    centres: np.ndarray
    neighbours: np.ndarray
    distances: np.ndarray
    atom_ptr: np.ndarray
    edge_ptr: np.ndarray

    def __len__(self) -> int:
        return int(self.atom_ptr.size - 1)

    @classmethod
    def from_graphs(cls, graphs: Sequence[CrystalGraph]) -> GraphSet:
        """Concatenate graphs (one ``np.concatenate`` per array)."""
        n_atoms = np.array([g.n_sites for g in graphs], dtype=np.int64)
        n_edges = np.array([g.centres.size for g in graphs], dtype=np.int64)
        ptr = lambda counts: np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)  # noqa: E731
        cat = lambda name, dtype: (np.concatenate([getattr(g, name) for g in graphs]).astype(dtype)  # noqa: E731
                                   if graphs else np.zeros(0, dtype))
        return cls(cat("atomic_numbers", np.int64), cat("centres", np.int64), cat("neighbours", np.int64),
                   cat("distances", np.float32), ptr(n_atoms), ptr(n_edges))

    def graph(self, i: int) -> CrystalGraph:
        """Crystal ``i`` as a :class:`CrystalGraph`."""
        a, b = self.atom_ptr[i], self.atom_ptr[i + 1]
        e, f = self.edge_ptr[i], self.edge_ptr[i + 1]
        return CrystalGraph(self.atomic_numbers[a:b], self.centres[e:f], self.neighbours[e:f], self.distances[e:f])


class GaussianDistance:
    """Expansion of distances on a grid of Gaussians: ``exp(-(d - mu_k)^2 / width^2)``, ``mu_k`` from
    ``dmin`` to ``cutoff`` in steps of ``step`` (CGCNN: 0 to 8 A by 0.2 A, width = step)."""

    def __init__(self, dmin: float = 0.0, dmax: float = 8.0, step: float = 0.2, width: float | None = None):
        if not step > 0 or not dmax > dmin:
            raise ValueError(f"need step > 0 and dmax > dmin, got step={step}, dmin={dmin}, dmax={dmax}")
        self.centres = np.arange(dmin, dmax + step / 2, step)
        self.width = float(step if width is None else width)

    def expand(self, distances: np.ndarray) -> np.ndarray:
        """(n, n_gaussians) float32 array."""
        d = np.asarray(distances, dtype=np.float64)[:, None]
        return np.exp(-((d - self.centres[None, :]) ** 2) / self.width**2).astype(np.float32)


class CrystalGraphConverter:
    """Structures -> crystal graphs with a fixed, recorded neighbour rule.

    Parameters
    ----------
    cutoff : float
        Largest neighbour distance (Angstrom); CGCNN's radius 8.
    max_neighbors : int
        Each site keeps its nearest neighbours up to the distance of the ``max_neighbors``-th one
        (ties included, see the module docstring); CGCNN's 12.
    gaussian_step : float
        Spacing (and width) of the Gaussian distance grid used by the network.
    tie_tolerance : float
        Distances within this many Angstrom of the last kept one count as tied.
    """

    def __init__(self, cutoff: float = 8.0, max_neighbors: int = 12, gaussian_step: float = 0.2,
                 tie_tolerance: float = 1e-4):
        if not cutoff > 0 or int(max_neighbors) < 1 or not gaussian_step > 0:
            raise ValueError(f"need cutoff > 0, max_neighbors >= 1 and gaussian_step > 0, got {cutoff}, "
                             f"{max_neighbors}, {gaussian_step}")
        self.cutoff = float(cutoff)
        self.max_neighbors = int(max_neighbors)
        self.gaussian_step = float(gaussian_step)
        self.tie_tolerance = float(tie_tolerance)

    def to_dict(self) -> dict:
        """The parameters as JSON-safe data (saved with a model)."""
        return {"cutoff": self.cutoff, "max_neighbors": self.max_neighbors, "gaussian_step": self.gaussian_step,
                "tie_tolerance": self.tie_tolerance}

    @classmethod
    def from_dict(cls, data: dict) -> CrystalGraphConverter:
        """Rebuild from :meth:`to_dict` output (unknown keys are refused)."""
        unknown = set(data) - {"cutoff", "max_neighbors", "gaussian_step", "tie_tolerance"}
        if unknown:
            raise ValueError(f"unknown crystal-graph converter parameters: {', '.join(sorted(unknown))}")
        return cls(**data)

    def gaussians(self) -> GaussianDistance:
        """The distance expansion the network uses."""
        return GaussianDistance(0.0, self.cutoff, self.gaussian_step)

    def convert(self, structure) -> CrystalGraph:
        """The graph of one ordered pymatgen ``Structure`` (ValueError for disordered or isolated sites)."""
        from matloop.represent.structure_math import neighbour_list

        if not structure.is_ordered:
            raise ValueError("partial occupancies are not supported by the crystal graph (one element per site)")
        z = np.asarray(structure.atomic_numbers, dtype=np.int64)
        centres, neighbours, distances = neighbour_list(structure, self.cutoff)
        keep = distances > 1e-8  # a site is not its own neighbour
        centres, neighbours, distances = centres[keep], neighbours[keep], distances[keep]
        order = np.lexsort((neighbours, np.round(distances, 8), centres))
        centres, neighbours, distances = centres[order], neighbours[order], distances[order]
        counts = np.bincount(centres, minlength=len(z))
        if (counts == 0).any():
            lonely = np.flatnonzero(counts == 0)
            raise ValueError(f"site {int(lonely[0]) + 1} ({structure[int(lonely[0])].specie}) has no neighbour "
                             f"within {self.cutoff:g} A (isolated atom); use a larger cutoff")
        start = np.concatenate([[0], np.cumsum(counts)[:-1]])
        last = start + np.minimum(counts, self.max_neighbors) - 1  # index of each site's k-th nearest edge
        limit = distances[last] + self.tie_tolerance
        keep = distances <= limit[centres]
        return CrystalGraph(z, centres[keep], neighbours[keep], distances[keep].astype(np.float64))

    def transform(self, structures: Sequence, rows: Sequence[int] | None = None,
                  column: str = "structure") -> GraphSet:
        """A :class:`GraphSet` of ``structures``; rows that cannot become a graph are reported together
        in one :class:`matloop.InputError` (``rows``: the 1-based rows to name, default 1..n)."""
        graphs, records = [], []
        rows = list(range(1, len(structures) + 1)) if rows is None else list(rows)
        for i, s in enumerate(structures):
            try:
                graphs.append(self.convert(s))
            except ValueError as err:
                records.append({"row": int(rows[i]), "column": column, "value": str(s.composition.reduced_formula),
                                "reason": str(err)})
        if records:
            raise InputError(f"{len(records)} structure(s) cannot be turned into a crystal graph",
                             error_table(records))
        return GraphSet.from_graphs(graphs)
