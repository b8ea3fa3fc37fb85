"""Averaged SOAP descriptors of crystal structures through DScribe (optional: ``pip install 'matloop[soap]'``)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from matloop.errors import InputError, error_table
from matloop.io.elements import ATOMIC_NUMBER, SYMBOLS
from matloop.represent.structure_features import as_structures
from matloop.represent.structure_io import MIN_DISTANCE

CITATIONS = (
    "Bartok, A. P., Kondor, R. & Csanyi, G. On representing chemical environments. Phys. Rev. B 87, "
    "184115 (2013). doi:10.1103/PhysRevB.87.184115",
    "Himanen, L. et al. DScribe: Library of descriptors for machine learning in materials science. "
    "Comput. Phys. Commun. 247, 106949 (2020). doi:10.1016/j.cpc.2019.106949",
    "Laakso, J. et al. Updates to the DScribe library: New descriptors and derivatives. J. Chem. Phys. "
    "158, 234802 (2023). doi:10.1063/5.0151031",
)


def _soap_class():
    try:
        from dscribe.descriptors import SOAP
    except ImportError as exc:
        raise ImportError(
            "SOAPFeaturizer needs DScribe, an optional dependency: pip install 'matloop[soap]'"
        ) from exc
    return SOAP


class SOAPFeaturizer(TransformerMixin, BaseEstimator):
    """Smooth Overlap of Atomic Positions power spectrum, averaged over the sites of each crystal.

    ``fit`` fixes the species set (all elements in the training structures, or ``species`` if given),
    so training and test matrices have the same columns; ``transform`` reports rows holding an element
    outside that set instead of silently ignoring it. ``average="outer"`` (default) averages the
    per-site power spectra; ``"inner"`` averages the expansion coefficients first (DScribe's modes).
    Both are invariant to translations and to the choice of cell (a supercell gives the same vector).

    Columns are named ``soap {A}-{B} {k}``: the k-th (n, n', l) component of the block of species
    pair A-B in DScribe's layout. Runs in this process (``n_jobs=1``) unless told otherwise.
    """

    def __init__(
        self,
        r_cut: float = 5.0,
        n_max: int = 6,
        l_max: int = 4,
        sigma: float = 0.5,
        rbf: str = "gto",
        average: str = "outer",
        species: Sequence[str] | None = None,
        n_jobs: int = 1,
        base_dir: str | os.PathLike | None = None,
        min_distance: float = MIN_DISTANCE,
    ):
        self.r_cut = r_cut
        self.n_max = n_max
        self.l_max = l_max
        self.sigma = sigma
        self.rbf = rbf
        self.average = average
        self.species = species
        self.n_jobs = n_jobs
        self.base_dir = base_dir
        self.min_distance = min_distance

    def fit(self, X=None, y=None):
        """Fix the species set (from ``species`` or the structures in X) and the column names."""
        soap_cls = _soap_class()
        if self.average not in ("inner", "outer"):
            raise ValueError(f"average must be 'inner' or 'outer' (an averaged SOAP), got {self.average!r}")
        if self.species is not None:
            unknown = sorted(s for s in self.species if s not in ATOMIC_NUMBER)
            if unknown:
                raise ValueError(f"unknown element symbols in species: {unknown}")
            numbers = {ATOMIC_NUMBER[s] for s in self.species}
        else:
            if X is None:
                raise ValueError("SOAPFeaturizer.fit needs structures or an explicit species list")
            structures, _ = as_structures(X, self.base_dir, self.min_distance)
            self._check_ordered(structures)
            numbers = {z for s in structures for z in s.atomic_numbers}
        self.species_ = [SYMBOLS[z] for z in sorted(numbers)]
        self.descriptor_ = soap_cls(
            species=self.species_, r_cut=self.r_cut, n_max=self.n_max, l_max=self.l_max, sigma=self.sigma,
            rbf=self.rbf, average=self.average, periodic=True, sparse=False,
        )  # fmt: skip
        self.feature_names_out_ = self._names()
        self.n_features_in_ = 1
        return self

    def transform(self, X) -> pd.DataFrame:
        """Averaged SOAP vector of each structure, one row per input."""
        check_is_fitted(self, "descriptor_")
        structures, index = as_structures(X, self.base_dir, self.min_distance)
        self._check_ordered(structures)
        known = set(self.species_)
        records = []
        for row, s in enumerate(structures, start=1):
            extra = sorted({el.symbol for el in s.composition.elements} - known)
            if extra:
                records.append(
                    {"row": row, "column": "structure", "value": f"<Structure {s.composition.reduced_formula}>",
                     "reason": f"element(s) {', '.join(extra)} not seen in fit (species {', '.join(self.species_)}); "
                     "refit, or pass species= covering every element"}
                )  # fmt: skip
        if records:
            raise InputError(
                f"{len(records)} structures hold elements outside the fitted species", error_table(records)
            )
        if not structures:
            return pd.DataFrame(np.empty((0, len(self.feature_names_out_))), columns=self.feature_names_out_)
        atoms = [_to_ase(s) for s in structures]
        out = np.asarray(self.descriptor_.create(atoms, n_jobs=self.n_jobs), dtype=float)
        return pd.DataFrame(out.reshape(len(atoms), -1), columns=self.feature_names_out_, index=index)

    def get_feature_names_out(self, input_features: Iterable[str] | None = None) -> np.ndarray:
        """Column names (``soap {A}-{B} {k}``)."""
        check_is_fitted(self, "descriptor_")
        return np.asarray(self.feature_names_out_, dtype=object)

    def feature_labels(self) -> list[str]:
        """Human-readable labels (the names say the species pair and the component index)."""
        return list(self.get_feature_names_out())

    def citations(self) -> list[str]:
        """SOAP and DScribe references."""
        return list(CITATIONS)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags

    def _names(self) -> list[str]:
        names = [""] * self.descriptor_.get_number_of_features()
        for i, a in enumerate(self.species_):
            for b in self.species_[i:]:
                block = self.descriptor_.get_location((a, b))
                for k, pos in enumerate(range(block.start, block.stop)):
                    names[pos] = f"soap {a}-{b} {k}"
        if "" in names:  # pragma: no cover - guards against a DScribe layout change
            raise RuntimeError("could not name every SOAP column from DScribe's layout")
        return names

    @staticmethod
    def _check_ordered(structures: Sequence) -> None:
        records = [
            {"row": row, "column": "structure", "value": f"<Structure {s.composition.reduced_formula}>",
             "reason": "disordered structure (partial occupancies): SOAP needs an ordered cell"}
            for row, s in enumerate(structures, start=1) if not s.is_ordered
        ]  # fmt: skip
        if records:
            raise InputError(f"{len(records)} disordered structures", error_table(records))


def _to_ase(structure):
    from ase import Atoms

    return Atoms(
        numbers=structure.atomic_numbers,
        scaled_positions=structure.frac_coords,
        cell=structure.lattice.matrix,
        pbc=True,
    )
