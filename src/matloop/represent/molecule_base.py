"""Shared machinery of the molecule featurizers: input coercion, the union, NaN warnings.

Split from :mod:`matloop.represent.molecule` (import everything from there).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from matloop.errors import InputError, error_table
from matloop.io.rows import source_rows
from matloop.represent.api import FeaturizerAPI
from matloop.represent.molecule_smiles import _parse_column, cap_end_groups, require_rdkit

RDKIT = "RDKit: Open-source cheminformatics, https://www.rdkit.org (G. Landrum et al.), doi:10.5281/zenodo.591637"


class UndefinedDescriptorWarning(UserWarning):
    """RDKit could not compute some descriptors for some molecules; those values are NaN."""


class MoleculeFeaturizer(FeaturizerAPI, TransformerMixin, BaseEstimator):
    """Base class: subclasses implement ``_feature_names`` and ``_featurize_mols(mols) -> ndarray``.

    Stateless like the composition featurizers: ``fit`` only checks parameters, so instances are
    safe in pipelines and cross-validation.
    """

    CITATIONS: tuple[str, ...] = (RDKIT,)

    def fit(self, X=None, y=None):
        """Check parameters (no learning); returns self."""
        self._feature_names()
        self.n_features_in_ = 1
        return self

    def transform(self, X) -> pd.DataFrame:
        """Featurize SMILES (or RDKit molecules) into a DataFrame, one row per input."""
        mols, codes, index, rows = _prepare(X)
        frame = pd.DataFrame(self._featurize_mols(mols)[codes], columns=self._feature_names(), index=index)
        self._report_undefined(frame, rows)
        return frame

    def _report_undefined(self, frame: pd.DataFrame, rows: np.ndarray) -> None:
        """Hook: warn about NaN outputs (descriptors only; fingerprints are always defined)."""

    def _featurize_mols(self, mols: list) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class MoleculeFeatureUnion(MoleculeFeaturizer):
    """Several molecule featurizers side by side, parsing each SMILES once.

    Parameters
    ----------
    featurizers : list of MoleculeFeaturizer
        Their columns are concatenated in order; names must not repeat.
    """

    def __init__(self, featurizers: Sequence[MoleculeFeaturizer] = ()):
        self.featurizers = featurizers

    def _feature_names(self) -> list[str]:
        names = [n for f in self.featurizers for n in f._feature_names()]
        repeated = pd.Index(names)[pd.Index(names).duplicated()].unique()
        if len(repeated):
            raise ValueError(f"featurizers produce repeated column names, e.g. {list(repeated[:5])}")
        return names

    def feature_labels(self) -> list[str]:
        return [label for f in self.featurizers for label in f.feature_labels()]

    def citations(self) -> list[str]:
        return list(dict.fromkeys(c for f in self.featurizers for c in f.citations()))

    def _featurize_mols(self, mols: list) -> np.ndarray:
        blocks = [f._featurize_mols(mols) for f in self.featurizers]
        return np.hstack(blocks) if blocks else np.empty((len(mols), 0))

    def _report_undefined(self, frame: pd.DataFrame, rows: np.ndarray) -> None:
        start = 0
        for f in self.featurizers:
            width = len(f._feature_names())
            f._report_undefined(frame.iloc[:, start:start + width], rows)
            start += width

def _prepare(X, column: str = "smiles") -> tuple[list, np.ndarray, pd.Index, np.ndarray]:
    """Distinct featurization-ready molecules, the row -> molecule codes, output index, row labels
    (the user's file rows when ``X`` comes from a Dataset, see :mod:`matloop.io.rows`)."""
    labels = source_rows(X) if isinstance(X, (pd.Series, pd.DataFrame)) else None
    index = None
    if isinstance(X, pd.DataFrame):
        if X.shape[1] != 1:
            raise ValueError(
                f"molecule featurizers take one column of SMILES, got {X.shape[1]} columns "
                f"({list(X.columns)[:5]}); select the SMILES column first"
            )
        column, index, X = str(X.columns[0]), X.index, X.iloc[:, 0]
    if isinstance(X, pd.Series):
        column = str(X.name) if X.name is not None else column
        index, X = X.index, X.to_numpy(dtype=object)
    values = X if isinstance(X, list) else list(np.asarray(X, dtype=object).reshape(-1))
    index = pd.RangeIndex(len(values)) if index is None else index
    rows = np.arange(1, len(values) + 1) if labels is None else labels
    Chem = require_rdkit()
    if values and any(isinstance(v, Chem.Mol) for v in values):
        return _prepare_mols(values, column, rows) + (index, rows)
    _, capped, codes, _ = _parse_column(values, column, rows, "raise")
    return capped, codes, index, rows


def _prepare_mols(values: list, column: str, rows: np.ndarray) -> tuple[list, np.ndarray]:
    """Capped copies of RDKit molecules given directly; non-molecules are bad rows."""
    Chem = require_rdkit()
    capped, records = [], []
    for row, value in zip(rows, values, strict=True):
        reason = None if isinstance(value, Chem.Mol) else f"expected an RDKit Mol, got {type(value).__name__}"
        if reason is None:
            try:
                capped.append(cap_end_groups(value))
                continue
            except Exception as exc:
                reason = str(exc)
        records.append({"row": row, "column": column, "value": value, "reason": reason})
    if records:
        raise InputError(f"Could not featurize column '{column}'", error_table(records))
    return capped, np.arange(len(values))


def _warn_undefined(frame: pd.DataFrame, rows: np.ndarray, shown: int = 5) -> None:
    """One warning naming the descriptors with NaN values, grouped by the rows they affect."""
    missing = frame.isna().to_numpy()
    if not missing.any():
        return
    groups: dict[tuple, list[str]] = {}
    for j in np.flatnonzero(missing.any(axis=0)):
        groups.setdefault(tuple(rows[missing[:, j]]), []).append(str(frame.columns[j]))
    parts = []
    for bad, names in groups.items():
        listed = ", ".join(str(r) for r in bad[:shown]) + (f", ... ({len(bad)} rows)" if len(bad) > shown else "")
        parts.append(f"{', '.join(names)} (row{'s' if len(bad) > 1 else ''} {listed})")
    n_cols = sum(len(names) for names in groups.values())
    n_rows = int(missing.any(axis=1).sum())
    warnings.warn(
        f"RDKit could not compute {n_cols} descriptors for {n_rows} of {len(frame)} molecules; those "
        "values are NaN (matloop models impute them with training medians): " + "; ".join(parts),
        UndefinedDescriptorWarning,
        stacklevel=_user_stacklevel(),
    )


def _user_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside matloop.represent/sklearn."""
    frame, level = sys._getframe(2), 2  # 1 = the function calling warnings.warn
    while frame is not None and frame.f_globals.get("__name__", "").startswith(
        ("matloop.represent.molecule", "sklearn.")
    ):
        frame, level = frame.f_back, level + 1
    return level


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
