"""Crystal-structure featurizer: density, symmetry, lattice, RDF, coordination, sine Coulomb, composition."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted

from matloop.errors import InputError, error_table
from matloop.represent import structure_math as sm
from matloop.represent.structure_io import MIN_DISTANCE, read_structures

GROUPS = ("density", "symmetry", "lattice", "rdf", "coordination", "sine_coulomb")
_NEEDS_ORDER = {"rdf", "coordination", "sine_coulomb"}
_MAX_NEIGHBOUR_CUTOFF = 30.0

CITATIONS = {
    "matminer": "Ward, L. et al. Matminer: An open source toolkit for materials data mining. "
    "Comput. Mater. Sci. 152, 60-69 (2018). doi:10.1016/j.commatsci.2018.05.018",
    "pymatgen": "Ong, S. P. et al. Python Materials Genomics (pymatgen): A robust, open-source python library "
    "for materials analysis. Comput. Mater. Sci. 68, 314-319 (2013). doi:10.1016/j.commatsci.2012.10.028",
    "spglib": "Togo, A., Shinohara, K. & Tanaka, I. Spglib: a software library for crystal symmetry search. "
    "Sci. Technol. Adv. Mater.: Methods 4, 2384822 (2024). doi:10.1080/27660400.2024.2384822",
    "sine_coulomb": "Faber, F., Lindmaa, A., von Lilienfeld, O. A. & Armiento, R. Crystal structure "
    "representations for machine learning models of formation energies. Int. J. Quantum Chem. 115, "
    "1094-1101 (2015). doi:10.1002/qua.24917",
}


def as_structures(X, base_dir=None, min_distance: float = MIN_DISTANCE,
                  allow_disorder: bool = True) -> tuple[list, pd.Index]:
    """Read structures from any accepted input and return them with the index to give the output
    (``allow_disorder=False``: partial occupancies are bad rows, reported with the unreadable ones)."""
    index = X.index if isinstance(X, (pd.Series, pd.DataFrame)) else None
    structures = read_structures(X, base_dir=base_dir, min_distance=min_distance, allow_disorder=allow_disorder)
    return structures, (index if index is not None else pd.RangeIndex(len(structures)))


def cell_formulas(structures: Sequence) -> list[str]:
    """Element formula of each cell as written (e.g. ``Na4Cl4``), oxidation states dropped."""
    return [
        "".join(f"{el}{amt:.10g}" for el, amt in s.composition.element_composition.get_el_amt_dict().items())
        for s in structures
    ]


class StructureFeaturizer(TransformerMixin, BaseEstimator):
    """Features of crystal structures, matminer-compatible where matminer has the same feature.

    Groups (``features``; all by default):

    - ``density``: ``density`` (g/cm^3), ``vpa`` (volume per atom, A^3), ``packing fraction``
      (atomic-radius spheres / cell volume), as matminer's DensityFeatures; occupancy-weighted, so
      disordered cells work. NaN packing fraction for elements with no known radius (Z >= 97).
    - ``symmetry``: ``spacegroup_num``; crystal system **one-hot** (``crystal_system=cubic``, ...:
      seven 0/1 columns, because the systems have no natural order a model should exploit);
      ``is_centrosymmetric``; ``point_group_order``; ``n_sites_primitive``. spglib through pymatgen's
      SpacegroupAnalyzer with ``symprec`` (A) and ``angle_tolerance`` (degrees); use ``symprec=0.1``
      (Materials Project's value) for relaxed, slightly distorted structures.
    - ``lattice``: a, b, c, alpha, beta, gamma and b/a, c/a, c/b of spglib's standardized
      *conventional* cell, so primitive cells, conventional cells and supercells agree.
    - ``rdf``: g(r) in bins of ``rdf_bin_size`` up to ``rdf_cutoff`` (default 0-10 A by 0.5 A),
      normalised per site (matminer's RadialDistributionFunction values = ours x sites in the cell).
    - ``coordination``: mean/std/min/max coordination number and nearest-neighbour distance over sites;
      ``coordination="min_dist"`` counts atoms within ``(1 + nn_tolerance)`` x the site's nearest
      distance (rocksalt 6, bcc 8, fcc 12, diamond/wurtzite 4); ``"covalent"`` counts atoms within
      ``(1 + nn_tolerance)(r_i + r_j)`` of Cordero covalent radii (bcc then gives 14).
    - ``sine_coulomb``: eigenvalues of the sine Coulomb matrix (Faber et al. 2015, matminer's matrix),
      sorted by decreasing magnitude and zero-padded to ``n_sine_eigenvalues`` (default: the largest
      cell seen by ``fit``; larger cells keep their largest-magnitude eigenvalues). With
      ``primitive=True`` the matrix is built on spglib's standardized primitive cell, so a supercell
      gives the same eigenvalues; ``primitive=False`` uses the cell as given (matminer's convention).

    ``composition`` adds a composition featurizer of the cell's formula (a registry name such as
    ``"magpie"``, a featurizer object, or None). ``rdf``, ``coordination`` and ``sine_coulomb`` need
    ordered structures: disordered rows are reported as bad input when those groups are requested.

    ``fit`` fixes the column set (sine Coulomb length, composition columns); ``transform`` returns a
    DataFrame with one row per structure. Unreadable or unusable rows raise one
    :class:`matloop.InputError` listing them all.
    """

    def __init__(
        self,
        features: Sequence[str] | None = None,
        composition: str | object | None = "magpie",
        symprec: float = 0.01,
        angle_tolerance: float = 5.0,
        rdf_cutoff: float = 10.0,
        rdf_bin_size: float = 0.5,
        coordination: str = "min_dist",
        nn_tolerance: float = 0.1,
        n_sine_eigenvalues: int | None = None,
        primitive: bool = True,
        base_dir: str | os.PathLike | None = None,
        min_distance: float = MIN_DISTANCE,
    ):
        self.features = features
        self.composition = composition
        self.symprec = symprec
        self.angle_tolerance = angle_tolerance
        self.rdf_cutoff = rdf_cutoff
        self.rdf_bin_size = rdf_bin_size
        self.coordination = coordination
        self.nn_tolerance = nn_tolerance
        self.n_sine_eigenvalues = n_sine_eigenvalues
        self.primitive = primitive
        self.base_dir = base_dir
        self.min_distance = min_distance

    # ------------------------------------------------------------------ scikit-learn API
    def fit(self, X, y=None):
        """Read the structures and fix the output columns (sine Coulomb length, composition columns)."""
        structures, _ = as_structures(X, self.base_dir, self.min_distance, self._allow_disorder())
        groups = self._groups()
        n_eigs = self.n_sine_eigenvalues
        if "sine_coulomb" in groups and n_eigs is None:
            n_eigs = max((self._sine_size(s) for s in structures), default=0)
        self._fit_columns(structures, n_eigs)
        return self

    def fit_transform(self, X, y=None, **fit_params) -> pd.DataFrame:
        """Fit and transform, reading and analysing each structure only once."""
        structures, index = as_structures(X, self.base_dir, self.min_distance, self._allow_disorder())
        rows = self._compute(structures)
        n_eigs = self.n_sine_eigenvalues
        if "sine_coulomb" in self._groups() and n_eigs is None:
            n_eigs = max((len(r["sine_coulomb"]) for r in rows), default=0)
        self._fit_columns(structures, n_eigs)
        return self._assemble(structures, rows, index)

    def transform(self, X) -> pd.DataFrame:
        """Featurize structures (paths, file contents or pymatgen Structures) into a DataFrame."""
        check_is_fitted(self, "feature_names_out_")
        structures, index = as_structures(X, self.base_dir, self.min_distance, self._allow_disorder())
        return self._assemble(structures, self._compute(structures), index)

    def get_feature_names_out(self, input_features: Iterable[str] | None = None) -> np.ndarray:
        """Column names of :meth:`transform` (matminer's names where matminer has the feature)."""
        check_is_fitted(self, "feature_names_out_")
        return np.asarray(self.feature_names_out_, dtype=object)

    def feature_labels(self) -> list[str]:
        """Human-readable labels (units included) for plots and reports."""
        labels = {
            "density": "density (g/cm^3)",
            "vpa": "volume per atom (A^3)",
            "packing fraction": "atomic packing fraction",
            "spacegroup_num": "space group number",
            "n_sites_primitive": "atoms in the primitive cell",
            "nn distance mean": "mean nearest-neighbour distance (A)",
        }
        out = []
        for name in self.get_feature_names_out():
            if name.startswith("lattice ") and name[8:] in ("a", "b", "c"):
                out.append(f"conventional cell {name[8:]} (A)")
            elif name.startswith("lattice ") and name[8:] in ("alpha", "beta", "gamma"):
                out.append(f"conventional cell {name[8:]} (deg)")
            elif name.startswith("rdf "):
                out.append(f"radial distribution g(r), r in {name[4:]}")
            else:
                out.append(labels.get(name, name))
        return out

    def citations(self) -> list[str]:
        """References for the methods and libraries behind the requested feature groups."""
        refs = [CITATIONS["pymatgen"], CITATIONS["matminer"]]
        groups = self._groups()
        if {"symmetry", "lattice"} & set(groups) or ("sine_coulomb" in groups and self.primitive):
            refs.append(CITATIONS["spglib"])
        if "sine_coulomb" in groups:
            refs.append(CITATIONS["sine_coulomb"])
        featurizer = getattr(self, "composition_featurizer_", None)
        if featurizer is not None and hasattr(featurizer, "citations"):
            refs.extend(r for r in featurizer.citations() if r not in refs)
        return refs

    def get_cache_state(self) -> dict | None:
        """The fitted state as JSON (for :mod:`matloop.represent.feature_cache`); None if not restorable."""
        from matloop.represent.base import CompositionFeaturizer

        check_is_fitted(self, "feature_names_out_")
        comp = self.composition_featurizer_
        if comp is not None and not isinstance(comp, CompositionFeaturizer):
            return None  # a composition featurizer whose fit may learn from the data
        return {"n_sine_eigenvalues_": getattr(self, "n_sine_eigenvalues_", None),
                "feature_names_out_": list(self.feature_names_out_)}

    def set_cache_state(self, state: dict) -> StructureFeaturizer:
        """Restore a state from :meth:`get_cache_state` (the fit of the same table), without reading it."""
        self._fit_columns([], state["n_sine_eigenvalues_"])
        if list(self.feature_names_out_) != list(state["feature_names_out_"]):
            raise ValueError("cached featurizer state does not match these parameters")
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags

    # ------------------------------------------------------------------ internals
    def _allow_disorder(self) -> bool:
        return not (_NEEDS_ORDER & set(self._groups()))

    def _groups(self) -> tuple[str, ...]:
        groups = GROUPS if self.features is None else tuple(self.features)
        unknown = sorted(set(groups) - set(GROUPS))
        if unknown:
            raise ValueError(f"unknown feature groups {unknown}; choose from {list(GROUPS)}")
        return tuple(g for g in GROUPS if g in groups)

    def _bin_edges(self) -> np.ndarray:
        n_bins = int(round(self.rdf_cutoff / self.rdf_bin_size))
        if n_bins < 1 or not np.isclose(n_bins * self.rdf_bin_size, self.rdf_cutoff):
            raise ValueError(
                f"rdf_cutoff {self.rdf_cutoff} is not a whole number of bins of {self.rdf_bin_size}"
            )
        return np.linspace(0.0, self.rdf_cutoff, n_bins + 1)

    def _sine_size(self, structure) -> int:
        if not self.primitive or not structure.is_ordered:
            return len(structure)
        try:
            dataset = sm.symmetry_analysis(structure, self.symprec, self.angle_tolerance)
            return len(np.unique(dataset.std_mapping_to_primitive))
        except Exception:  # transform reports the row; here only the width is needed
            return len(structure)

    def _fit_columns(self, structures: Sequence, n_eigs: int | None) -> None:
        groups = self._groups()
        names: list[str] = []
        if "density" in groups:
            names += ["density", "vpa", "packing fraction"]
        if "symmetry" in groups:
            names += ["spacegroup_num", *(f"crystal_system={c}" for c in sm.CRYSTAL_SYSTEMS)]
            names += ["is_centrosymmetric", "point_group_order", "n_sites_primitive"]
        if "lattice" in groups:
            names += [f"lattice {p}" for p in ("a", "b", "c", "alpha", "beta", "gamma", "b/a", "c/a", "c/b")]
        if "rdf" in groups:
            edges = self._bin_edges()
            names += [f"rdf [{lo:.5f} - {hi:.5f}]A" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
        if "coordination" in groups:
            names += [f"cn {s}" for s in ("mean", "std", "min", "max")]
            names += [f"nn distance {s}" for s in ("mean", "std", "min", "max")]
        if "sine_coulomb" in groups:
            self.n_sine_eigenvalues_ = int(n_eigs)
            names += [f"sine coulomb matrix eig {i}" for i in range(self.n_sine_eigenvalues_)]
        self.composition_featurizer_ = None
        if self.composition is not None:
            if isinstance(self.composition, str):
                from matloop.represent.registry import get_featurizer

                featurizer = get_featurizer(self.composition)
            else:
                featurizer = clone(self.composition)
            self.composition_featurizer_ = featurizer.fit(cell_formulas(structures))
            names += [str(n) for n in featurizer.get_feature_names_out()]
        if len(set(names)) != len(names):
            raise ValueError("feature names collide; rename or drop the composition featurizer")
        self.feature_names_out_ = names
        self.n_features_in_ = 1

    def _compute(self, structures: Sequence) -> list[dict]:
        """Per-structure feature blocks; every unusable row is collected into one InputError."""
        groups = self._groups()
        edges = self._bin_edges() if "rdf" in groups else None
        results, records = [], []
        for row, structure in enumerate(structures, start=1):
            try:
                results.append(self._compute_one(structure, groups, edges))
            except Exception as exc:  # spglib, disorder, radii: report the row with the reason
                reason = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
                value = f"<Structure {structure.composition.reduced_formula}>"
                records.append({"row": row, "column": "structure", "value": value, "reason": reason})
        if records:
            raise InputError(
                f"could not featurize {len(records)} of {len(structures)} structures", error_table(records)
            )
        return results

    def _compute_one(self, s, groups: tuple[str, ...], edges: np.ndarray | None) -> dict:
        out: dict[str, np.ndarray] = {}
        if _NEEDS_ORDER & set(groups) and not s.is_ordered:
            raise ValueError(
                "disordered structure (partial occupancies): rdf, coordination and sine_coulomb need an "
                "ordered cell; order it first or use features=('density', 'symmetry', 'lattice')"
            )
        if "density" in groups:
            out["density"] = sm.density_features(s)
        dataset = None
        if "symmetry" in groups or "lattice" in groups or ("sine_coulomb" in groups and self.primitive):
            dataset = sm.symmetry_analysis(s, self.symprec, self.angle_tolerance)
            if "symmetry" in groups:
                out["symmetry"] = sm.symmetry_features(dataset)
            if "lattice" in groups:
                out["lattice"] = sm.lattice_features(dataset)
        if "rdf" in groups or "coordination" in groups:
            out.update(self._neighbour_features(s, groups, edges))
        if "sine_coulomb" in groups:
            if self.primitive:
                lattice, frac, z = sm.primitive_cell(dataset, np.array(s.atomic_numbers))
            else:
                lattice, frac, z = s.lattice.matrix, s.frac_coords, np.array(s.atomic_numbers)
            out["sine_coulomb"] = sm.sine_coulomb_eigenvalues(lattice, frac, z)
        return out

    def _neighbour_features(self, s, groups, edges) -> dict[str, np.ndarray]:
        n, z = len(s), np.array(s.atomic_numbers)
        cutoff = self.rdf_cutoff if "rdf" in groups else 6.0
        centers, points, distances = sm.neighbour_list(s, cutoff)
        out = {}
        if "rdf" in groups:
            out["rdf"] = sm.radial_distribution(n, s.volume, distances, edges)
        if "coordination" in groups:
            if self.coordination == "covalent" and np.isnan(sm.element_tables()["covalent"][z]).any():
                raise ValueError("no covalent radius for an element beyond Cm; use coordination='min_dist'")
            while True:  # grow the search until every site's first shell is complete
                nearest = np.full(n, np.inf)
                np.minimum.at(nearest, centers, distances)
                reach = nearest.max() * (1.0 + self.nn_tolerance)
                if self.coordination == "covalent":
                    reach = 2 * np.nanmax(sm.element_tables()["covalent"][z]) * (1.0 + self.nn_tolerance)
                if reach <= cutoff or cutoff >= _MAX_NEIGHBOUR_CUTOFF:
                    break
                cutoff = min(max(2 * cutoff, reach + 0.5), _MAX_NEIGHBOUR_CUTOFF)
                centers, points, distances = sm.neighbour_list(s, cutoff)
            cn, nearest = sm.coordination(
                n, centers, points, distances, self.coordination, self.nn_tolerance, z
            )
            out["coordination"] = sm.coordination_features(cn, nearest)
        return out

    def _assemble(self, structures: Sequence, rows: list[dict], index: pd.Index) -> pd.DataFrame:
        blocks = []
        for group in self._groups():
            if group == "sine_coulomb":
                width = self.n_sine_eigenvalues_
                block = np.zeros((len(rows), width))
                for i, r in enumerate(rows):
                    eig = r[group][:width]
                    block[i, : len(eig)] = eig
                blocks.append(block)
            else:
                blocks.append(np.vstack([r[group] for r in rows]) if rows else np.empty((0, 0)))
        if self.composition_featurizer_ is not None:
            comp = self.composition_featurizer_.transform(cell_formulas(structures))
            blocks.append(np.asarray(comp, dtype=float))
        names = self.feature_names_out_
        data = np.hstack([b.reshape(len(rows), -1) for b in blocks]) if blocks else np.empty((len(rows), 0))
        return pd.DataFrame(data, columns=names, index=index)
