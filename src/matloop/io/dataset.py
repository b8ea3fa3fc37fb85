"""The one table type that flows through matloop: a :class:`Dataset`.

Bundled datasets (:mod:`matloop.datasets`) and user files (:func:`matloop.io.read_table`) both
come back as a ``Dataset``, so models, validation and campaigns never care where data came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

INPUT_KINDS = ("composition", "structure", "molecule", "parameters", "pattern")
TASKS = ("regression", "classification")


@dataclass
class Dataset:
    """A table of materials (or experiments) with its meaning attached.

    Attributes
    ----------
    frame : pandas.DataFrame
        Every row and column as read; nothing is dropped or converted behind the user's back.
    input : str or None
        The column holding the material (formula, SMILES, structure file path); ``None`` for
        parameter tables, whose numeric non-target columns are the inputs.
    kind : str
        One of ``composition``, ``structure``, ``molecule``, ``parameters``.
    targets : list of str
        Target column(s); may be empty for a pure candidate table.
    task : str
        ``regression`` or ``classification`` (of the first target).
    name, description, units, citation, license, provenance : str
        Metadata; ``units`` maps target column to unit.
    direction : dict
        Objective direction per target where it is meaningful: ``"max"`` or ``"min"``.
    fold_column : str or None
        Column holding official cross-validation folds (e.g. Matbench v0.1's ``fold``, 0-4).
    rows : numpy.ndarray
        1-based row numbers of ``frame`` rows in the source file, used in every error message.
    skipped : pandas.DataFrame
        Rows left out by ``skip_invalid`` with their reasons (columns row, column, value, reason),
        followed by the row's original cells.
    parameters : list of str or None
        The input columns of a parameter table when they were chosen explicitly (e.g. by
        :func:`matloop.io.read_table`, which leaves out identifier and bookkeeping columns);
        ``None`` means every numeric column other than targets and folds, and every text column of
        repeated labels (a solvent, a SMILES fragment: see :func:`matloop.io.categorical.categorical_problem`).
    extra_inputs : list of str
        Numeric columns models use beside the material's features (processing conditions,
        measured descriptors); see :attr:`inputs`.
    encoding : object or None
        The fitted :class:`matloop.design.encode.ParameterEncoder` of a parameter table, set by
        :func:`matloop.design.encode.dataset_encoder` on first use and shared by subsets, so that
        features computed in pieces (measured rows, candidates) line up.
    """

    frame: pd.DataFrame
    input: str | None
    kind: str
    targets: list[str] = field(default_factory=list)
    task: str = "regression"
    name: str = ""
    description: str = ""
    units: dict[str, str] = field(default_factory=dict)
    direction: dict[str, str] = field(default_factory=dict)
    fold_column: str | None = None
    citation: str = ""
    license: str = ""
    provenance: str = ""
    rows: np.ndarray | None = None
    skipped: pd.DataFrame | None = None
    parameters: list[str] | None = None
    extra_inputs: list[str] = field(default_factory=list)
    encoding: object | None = field(default=None, repr=False, compare=False)
    #: how the files of a ``pattern`` input were read (``unit``, ``wavelength``, ``skip_invalid``)
    pattern_options: dict | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in INPUT_KINDS:
            raise ValueError(f"kind must be one of {INPUT_KINDS}, got {self.kind!r}")
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.rows is None:
            self.rows = np.arange(1, len(self.frame) + 1)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def target(self) -> str:
        """The first target column (most tasks have exactly one)."""
        if not self.targets:
            raise ValueError(f"dataset {self.name or '(unnamed)'} has no target column")
        return self.targets[0]

    @property
    def parameter_columns(self) -> list[str]:
        """Numeric columns and categorical text columns other than targets and folds: the inputs of a
        parameter table."""
        if self.parameters is not None:
            return [c for c in self.parameters if c in self.frame.columns]
        from matloop.io.categorical import categorical_problem

        skip = set(self.targets) | {self.fold_column, self.input}
        return [c for c in self.frame.columns if c not in skip and (
            pd.api.types.is_numeric_dtype(self.frame[c]) or categorical_problem(self.frame[c]) is None)]

    @property
    def labelled(self) -> np.ndarray:
        """Boolean mask of rows with every target present (training data)."""
        if not self.targets:
            return np.zeros(len(self.frame), dtype=bool)
        return self.frame[self.targets].notna().all(axis=1).to_numpy()

    @property
    def X(self) -> pd.Series | pd.DataFrame:
        """The inputs: the input column, or the parameter columns of a parameter table.

        It carries the 1-based source rows (:mod:`matloop.io.rows`), so featurizers name file rows."""
        from matloop.io.rows import attach_source_rows

        if self.input is None:
            return attach_source_rows(self.frame[self.parameter_columns], self.rows)
        return attach_source_rows(self.frame[self.input], self.rows)

    @property
    def inputs(self) -> pd.Series | pd.DataFrame:
        """What models take: :attr:`X`, with the extra input columns after the material column."""
        if self.input is None or not self.extra_inputs:
            return self.X
        from matloop.io.rows import attach_source_rows

        return attach_source_rows(self.frame[[self.input, *self.extra_inputs]], self.rows)

    @property
    def y(self) -> pd.Series:
        """The first target column."""
        return self.frame[self.target]

    @property
    def folds(self) -> np.ndarray | None:
        """Official fold of each row, or ``None``."""
        return None if self.fold_column is None else self.frame[self.fold_column].to_numpy()

    def training(self) -> Dataset:
        """The labelled rows only."""
        return self.subset(self.labelled)

    def pool(self) -> Dataset:
        """The candidate rows: those with an empty target."""
        return self.subset(~self.labelled)

    def subset(self, mask_or_index) -> Dataset:
        """A dataset with the selected rows (boolean mask or positions), metadata kept."""
        idx = np.flatnonzero(mask_or_index) if np.asarray(mask_or_index).dtype == bool else np.asarray(mask_or_index)
        out = Dataset(**{**self.__dict__, "frame": self.frame.iloc[idx].reset_index(drop=True),
                         "rows": np.asarray(self.rows)[idx]})
        return out
