"""Cross-validation splitters that reveal extrapolation failure, with the scikit-learn API.

A random k-fold split puts near-duplicates of every test material in the training set and so
flatters a model. The splitters here ask harder, more honest questions:

- :class:`LeaveOneClusterOut`: can the model predict a whole family of materials it has never
  seen? (k-means clusters in standardised feature space; Meredig et al. 2018, Mol. Syst. Des. Eng. 3,
  819.)
- :class:`GroupByChemicalSystem`: every material of a chemical system (``Fe-O``) is in the same fold.
- :class:`LeaveOneElementOut`: for each element, test on all materials containing it.
- :class:`ExtrapolationSplit`: train on the lower 90 % of the target, test on the top 10 %; can it
  find materials better than any it has seen?
- :class:`FoldColumnSplit`: a user ``fold`` column or the official Matbench folds.

All follow ``split(X, y=None, groups=None)`` and ``get_n_splits(...)`` and yield arrays of row
positions, so they plug into scikit-learn as well as :func:`matloop.evaluate.cross_validate`.
Test sets of :class:`LeaveOneElementOut` may overlap (a material containing Fe and O is tested in
both splits); all other splitters partition the rows (repeated k-fold once per repeat).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
from sklearn import model_selection as ms

from matloop.errors import InputError, error_table
from matloop.io.elements import ATOMIC_NUMBER, SYMBOLS
from matloop.io.factorize import factorize_exact
from matloop.io.formula import Compositions, parse_formulas

__all__ = [
    "KFold",
    "StratifiedKFold",
    "RepeatedKFold",
    "RepeatedStratifiedKFold",
    "FoldColumnSplit",
    "LeaveOneClusterOut",
    "GroupByChemicalSystem",
    "LeaveOneElementOut",
    "ExtrapolationSplit",
    "SPLITTER_NAMES",
    "make_splitter",
]

Split = tuple[np.ndarray, np.ndarray]


class KFold(ms.KFold):
    """k-fold, shuffled by default (scikit-learn's does not shuffle: sorted tables would mislead)."""

    def __init__(self, n_splits: int = 5, *, shuffle: bool = True, random_state: int | None = 0):
        super().__init__(n_splits=n_splits, shuffle=shuffle, random_state=random_state)


class StratifiedKFold(ms.StratifiedKFold):
    """Stratified k-fold for classification (class proportions kept per fold), shuffled by default."""

    def __init__(self, n_splits: int = 5, *, shuffle: bool = True, random_state: int | None = 0):
        super().__init__(n_splits=n_splits, shuffle=shuffle, random_state=random_state)


RepeatedKFold = ms.RepeatedKFold
RepeatedStratifiedKFold = ms.RepeatedStratifiedKFold


def _n_rows(X: object) -> int:
    return X.shape[0] if hasattr(X, "shape") else len(X)


def _matrix(X: object) -> np.ndarray:
    """Features as a finite float matrix, or :class:`InputError` naming the bad cells."""
    arr = np.asarray(X.to_numpy() if isinstance(X, pd.DataFrame) else X, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    bad = ~np.isfinite(arr)
    if bad.any():
        names = list(X.columns) if isinstance(X, pd.DataFrame) else list(range(arr.shape[1]))
        r, c = np.nonzero(bad)
        records = [{"row": int(i) + 1, "column": names[j], "value": arr[i, j], "reason": "not a finite number"}
                   for i, j in zip(r[:200].tolist(), c[:200].tolist(), strict=True)]
        raise InputError("features contain missing or infinite values; impute or drop them first",
                         error_table(records))
    return arr


def _as_compositions(compositions: Compositions | Sequence[str] | pd.Series | None) -> Compositions | None:
    if compositions is None or isinstance(compositions, Compositions):
        return compositions
    return parse_formulas(list(compositions))


class FoldColumnSplit:
    """One split per distinct value of a fold column: that fold is the test set.

    Parameters
    ----------
    folds : array-like, optional
        The fold label of each row (e.g. Matbench v0.1's ``fold`` column, 0-4). When omitted,
        ``groups`` passed to :meth:`split` are used. Missing labels raise :class:`InputError`.
    name : str
        Column name used in error messages.
    """

    def __init__(self, folds: Sequence | np.ndarray | pd.Series | None = None, name: str = "fold"):
        self.folds = folds
        self.name = name

    def _labels(self, n: int | None, groups: object) -> np.ndarray:
        labels = self.folds if self.folds is not None else groups
        if labels is None:
            raise InputError(f"no fold labels: pass folds= or groups= (column '{self.name}')")
        labels = pd.Series(np.asarray(labels, dtype=object))
        missing = labels.isna().to_numpy()
        if missing.any():
            records = [{"row": int(i) + 1, "column": self.name, "value": None, "reason": "missing fold label"}
                       for i in np.flatnonzero(missing)]
            raise InputError(f"column '{self.name}' has rows without a fold", error_table(records))
        if n is not None and len(labels) != n:
            raise InputError(f"column '{self.name}' has {len(labels)} labels for {n} rows")
        return labels.to_numpy()

    def get_n_splits(self, X: object = None, y: object = None, groups: object = None) -> int:
        return len(pd.unique(self._labels(None, groups)))

    def split(self, X: object, y: object = None, groups: object = None) -> Iterator[Split]:
        labels = self._labels(_n_rows(X), groups)
        codes, uniq = factorize_exact(labels, sort=True)
        if len(uniq) < 2:
            raise InputError(f"column '{self.name}' needs at least two distinct folds, found {list(uniq)}")
        for k in range(len(uniq)):
            yield np.flatnonzero(codes != k), np.flatnonzero(codes == k)


class LeaveOneClusterOut:
    """Leave-one-cluster-out CV (LOCO-CV, Meredig et al. 2018).

    Rows are clustered by k-means on standardised features (``n_init=10``, seeded, so the split is
    deterministic); each cluster in turn is the test set. Clusters are numbered by size, largest
    first. The fitted labels are kept in ``labels_`` after :meth:`split`.
    """

    def __init__(self, n_clusters: int = 5, seed: int = 0, scale: bool = True):
        self.n_clusters = n_clusters
        self.seed = seed
        self.scale = scale

    def get_n_splits(self, X: object = None, y: object = None, groups: object = None) -> int:
        return self.n_clusters

    def cluster(self, X: object) -> np.ndarray:
        """Cluster label of each row (0 = the largest cluster)."""
        from sklearn.cluster import KMeans
        from sklearn.preprocessing import StandardScaler

        arr = _matrix(X)
        if arr.shape[0] < self.n_clusters:
            raise InputError(f"{arr.shape[0]} rows cannot form {self.n_clusters} clusters")
        if self.scale:
            arr = StandardScaler().fit_transform(arr)
        raw = KMeans(n_clusters=self.n_clusters, n_init=10, random_state=self.seed).fit_predict(arr)
        counts = np.bincount(raw, minlength=self.n_clusters)
        if np.count_nonzero(counts) < self.n_clusters:
            raise InputError(f"only {np.count_nonzero(counts)} distinct points; cannot form "
                             f"{self.n_clusters} clusters")
        order = np.argsort(-counts, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(self.n_clusters)
        return rank[raw]

    def split(self, X: object, y: object = None, groups: object = None) -> Iterator[Split]:
        self.labels_ = self.cluster(X)
        for k in range(self.n_clusters):
            yield np.flatnonzero(self.labels_ != k), np.flatnonzero(self.labels_ == k)


class GroupByChemicalSystem:
    """Group k-fold over chemical systems: all materials of ``Fe-O`` share a fold.

    Parameters
    ----------
    n_splits : int
        Number of folds (at most the number of distinct systems).
    compositions : Compositions or sequence of formula strings, optional
        Source of the chemical systems; otherwise ``groups`` given to :meth:`split` are used as
        the system labels.
    seed : int
        Shuffles which systems share a fold (scikit-learn's ``GroupKFold(shuffle=True)``).
    """

    def __init__(self, n_splits: int = 5, compositions: Compositions | Sequence[str] | None = None,
                 seed: int = 0):
        self.n_splits = n_splits
        self.compositions = compositions
        self.seed = seed

    def get_n_splits(self, X: object = None, y: object = None, groups: object = None) -> int:
        return self.n_splits

    def systems(self, groups: object = None) -> np.ndarray:
        """Chemical system label of each row."""
        comps = _as_compositions(self.compositions)
        if comps is not None:
            return np.asarray(comps.chemical_systems(), dtype=object)
        if groups is None:
            raise InputError("GroupByChemicalSystem needs compositions= or groups=")
        return np.asarray(groups, dtype=object)

    def split(self, X: object, y: object = None, groups: object = None) -> Iterator[Split]:
        systems = self.systems(groups)
        n = _n_rows(X)
        if len(systems) != n:
            raise InputError(f"{len(systems)} chemical systems for {n} rows")
        n_sys = len(pd.unique(systems))
        if n_sys < self.n_splits:
            raise InputError(f"only {n_sys} distinct chemical systems for {self.n_splits} folds; "
                             "use fewer folds")
        splitter = ms.GroupKFold(n_splits=self.n_splits, shuffle=True, random_state=self.seed)
        yield from splitter.split(np.zeros((n, 1)), groups=systems)


class LeaveOneElementOut:
    """For each chosen element, test on every material containing it and train on the rest.

    Parameters
    ----------
    compositions : Compositions or sequence of formula strings
        The materials, row-aligned with ``X``.
    elements : sequence of str, optional
        Elements to leave out in turn (default: every element present).
    min_samples : int
        Elements with fewer than ``min_samples`` materials containing them, or fewer than
        ``min_samples`` without them (nothing left to train on), are skipped; see ``skipped_``.
    """

    def __init__(self, compositions: Compositions | Sequence[str] | None = None,
                 elements: Sequence[str] | None = None, min_samples: int = 5):
        self.compositions = compositions
        self.elements = elements
        self.min_samples = min_samples

    def _plan(self) -> tuple[Compositions, list[str], dict[str, str]]:
        comps = _as_compositions(self.compositions)
        if comps is None:
            raise InputError("LeaveOneElementOut needs the compositions of the rows")
        if self.elements is None:
            zs = np.unique(comps.z).tolist()
        else:
            unknown = [e for e in self.elements if e not in ATOMIC_NUMBER]
            if unknown:
                records = [{"row": None, "column": "elements", "value": e, "reason": "not an element symbol"}
                           for e in unknown]
                raise InputError("unknown elements requested", error_table(records))
            zs = [ATOMIC_NUMBER[e] for e in self.elements]
        count = np.bincount(comps.z, minlength=max(zs, default=0) + 1)  # each (row, z) stored once
        n = len(comps)
        kept, skipped = [], {}
        for z in zs:
            c = int(count[z])
            if c < self.min_samples:
                skipped[SYMBOLS[z]] = f"only {c} materials contain it"
            elif n - c < self.min_samples:
                skipped[SYMBOLS[z]] = f"only {n - c} materials lack it"
            else:
                kept.append(SYMBOLS[z])
        return comps, kept, skipped

    def get_n_splits(self, X: object = None, y: object = None, groups: object = None) -> int:
        return len(self._plan()[1])

    def split(self, X: object, y: object = None, groups: object = None) -> Iterator[Split]:
        comps, kept, self.skipped_ = self._plan()
        n = _n_rows(X)
        if len(comps) != n:
            raise InputError(f"{len(comps)} compositions for {n} rows")
        if not kept:
            raise InputError(f"no element is in at least {self.min_samples} materials and missing from "
                             f"at least {self.min_samples}; nothing to leave out")
        self.elements_ = kept
        rows, zs = comps.row, comps.z
        for sym in kept:
            has = np.zeros(n, dtype=bool)
            has[rows[zs == ATOMIC_NUMBER[sym]]] = True
            yield np.flatnonzero(~has), np.flatnonzero(has)


class ExtrapolationSplit:
    """One split: train on the lower ``quantile`` of the target, test on the rest.

    With ``direction="max"`` (default) the test set holds the largest ``1 - quantile`` of the
    target values; ``direction="min"`` (for properties to minimise) the smallest. Ties at the
    boundary go to the test set, so every test value is strictly better than every training value.
    """

    def __init__(self, quantile: float = 0.9, direction: str = "max"):
        self.quantile = quantile
        self.direction = direction

    def get_n_splits(self, X: object = None, y: object = None, groups: object = None) -> int:
        return 1

    def split(self, X: object, y: object = None, groups: object = None) -> Iterator[Split]:
        from matloop.evaluate.metrics import as_float_array

        if self.direction not in ("max", "min"):
            raise ValueError(f"direction must be 'max' or 'min', got {self.direction!r}")
        if not 0 < self.quantile < 1:
            raise ValueError("quantile must lie in (0, 1)")
        if y is None:
            raise InputError("ExtrapolationSplit needs the target values y")
        v = as_float_array(y, "target")
        if len(v) != _n_rows(X):
            raise InputError(f"{len(v)} target values for {_n_rows(X)} rows")
        v = v if self.direction == "max" else -v
        n_test = max(1, math.ceil(round((1 - self.quantile) * len(v), 9)))
        cutoff = np.sort(v)[len(v) - n_test]
        test = v >= cutoff
        if test.all():
            raise InputError("the target has too few distinct values for an extrapolation split")
        yield np.flatnonzero(~test), np.flatnonzero(test)


SPLITTER_NAMES = ("kfold", "stratified", "repeated", "loco", "group", "element", "extrapolation", "column:NAME")


def make_splitter(name: str, n_splits: int = 5, seed: int = 0, **ctx: object) -> object:
    """Build a splitter from its CLI name.

    Names: ``kfold`` (stratified for classification), ``stratified``, ``repeated`` (k-fold repeated
    ``n_repeats`` times, default 3), ``loco`` (``n_splits`` clusters), ``group`` (chemical system),
    ``element``, ``extrapolation``, ``column:NAME`` (fold labels from column NAME).

    Context (keyword arguments, as needed by the name): ``dataset`` (a :class:`matloop.io.Dataset`,
    supplying the rest), ``compositions`` (Compositions or formulas), ``frame`` (for ``column:``),
    ``task``, ``direction``, ``elements``, ``n_repeats``, ``min_samples``, ``quantile``.
    """
    dataset = ctx.get("dataset")
    task = ctx.get("task") or (dataset.task if dataset is not None else "regression")
    frame = ctx.get("frame") if ctx.get("frame") is not None else (dataset.frame if dataset is not None else None)
    key = name.strip()
    lower = key.lower()

    def compositions() -> object:
        if ctx.get("compositions") is not None:
            return ctx["compositions"]
        if dataset is not None and dataset.kind == "composition":
            return parse_formulas(dataset.frame[dataset.input], column=dataset.input, rows=dataset.rows)
        raise InputError(f"--cv {key} needs chemical compositions (a formula input column)")

    if lower == "kfold":
        cls = StratifiedKFold if task == "classification" else KFold
        return cls(n_splits=n_splits, random_state=seed)
    if lower == "stratified":
        return StratifiedKFold(n_splits=n_splits, random_state=seed)
    if lower == "repeated":
        cls = ms.RepeatedStratifiedKFold if task == "classification" else ms.RepeatedKFold
        return cls(n_splits=n_splits, n_repeats=int(ctx.get("n_repeats", 3)), random_state=seed)
    if lower == "loco":
        return LeaveOneClusterOut(n_clusters=n_splits, seed=seed)
    if lower == "group":
        return GroupByChemicalSystem(n_splits=n_splits, compositions=compositions(), seed=seed)
    if lower == "element":
        return LeaveOneElementOut(compositions=compositions(), elements=ctx.get("elements"),
                                  min_samples=int(ctx.get("min_samples", 5)))
    if lower == "extrapolation":
        direction = ctx.get("direction")
        if direction is None and dataset is not None and dataset.targets:
            direction = dataset.direction.get(dataset.target)
        return ExtrapolationSplit(quantile=float(ctx.get("quantile", 0.9)), direction=direction or "max")
    if lower.startswith("column:"):
        column = key.split(":", 1)[1]
        if frame is None or column not in frame.columns:
            have = [] if frame is None else [str(c) for c in frame.columns]
            raise InputError(f"--cv {key}: no column '{column}' in the table (columns: {', '.join(have)})")
        rows = dataset.rows if dataset is not None else None
        labels = frame[column]
        missing = labels.isna().to_numpy()
        if missing.any():
            rr = np.arange(1, len(labels) + 1) if rows is None else np.asarray(rows)
            records = [{"row": int(rr[i]), "column": column, "value": None, "reason": "missing fold label"}
                       for i in np.flatnonzero(missing)]
            raise InputError(f"column '{column}' has rows without a fold", error_table(records))
        return FoldColumnSplit(folds=labels.to_numpy(), name=column)
    raise InputError(f"unknown cross-validation '{name}'; choose one of {', '.join(SPLITTER_NAMES)}")
