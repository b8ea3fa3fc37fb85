"""Sustainability features, and composing several composition featurizers into one transformer."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from matloop.io.formula import Compositions
from matloop.represent.base import CompositionFeaturizer
from matloop.represent.composition_data import CITE_GAULTOIS, CITE_PYMATGEN, column
from matloop.represent.stats import maximum

__all__ = ["CompositeFeaturizer", "Sustainability", "default_featurizer"]


class Sustainability(CompositionFeaturizer):
    """Supply risk, raw-element cost, toxicity and radioactivity of a composition.

    Features (names, then meaning):

    - ``HHI production mean`` / ``HHI reserve mean``: Herfindahl-Hirschman index (0-10,000; above
      2,500 is "highly concentrated") of where each element is mined / where its reserves lie,
      averaged with weight fractions, as in Gaultois et al. (2013) and pymatgen's ``HHIModel``.
    - ``HHI production max`` / ``HHI reserve max``: the worst element present.
    - ``element cost USD/kg``: price of the elements in one kilogram of material (weight-fraction
      mean of element prices, pymatgen's ``costdb_elements.csv``: 2013 and 2019 prices).
    - ``toxic fraction`` / ``contains toxic``: atomic fraction of, and presence (1/0) of As, Be,
      Cd, Cr, Hg, Ni, Pb (EU RoHS Annex II metals and IARC Group 1 carcinogenic elements; flagged
      per element whatever the oxidation state).
    - ``radioactive fraction`` / ``contains radioactive``: elements without a stable isotope (Tc,
      Pm, Po and heavier; Bi counts as stable).
    - ``imputed mass fraction``: weight fraction of elements that lack an HHI or price value.

    Parameters
    ----------
    impute : {"median", None}
        Elements without HHI or price data (H, most noble gases, radioactive elements) take the
        median over the elements that have data (``"median"``: robust to the very expensive
        ones); ``None`` gives NaN for such materials.
    """

    CITATIONS = (CITE_GAULTOIS, CITE_PYMATGEN)
    _NAMES = ("HHI production mean", "HHI production max", "HHI reserve mean", "HHI reserve max",
              "element cost USD/kg", "toxic fraction", "contains toxic", "radioactive fraction",
              "contains radioactive", "imputed mass fraction")

    def __init__(self, impute: str | None = "median"):
        self.impute = impute

    def _feature_names(self) -> list[str]:
        return list(self._NAMES)

    def feature_labels(self) -> list[str]:
        return [
            "HHI of production (weight-fraction mean)", "HHI of production (worst element)",
            "HHI of reserves (weight-fraction mean)", "HHI of reserves (worst element)",
            "raw element cost (USD/kg)", "atomic fraction of toxic elements", "contains a toxic element (1/0)",
            "atomic fraction of radioactive elements", "contains a radioactive element (1/0)",
            "weight fraction without sustainability data",
        ]

    def _featurize(self, comps: Compositions) -> np.ndarray:
        if self.impute not in ("median", None):
            raise ValueError(f"impute must be 'median' or None, got {self.impute!r}")
        data, missing = _sustainability_table(self.impute)
        z = comps.z
        mass = column("atomic_mass", impute=None)[z] * comps.amount
        total = np.bincount(comps.row, weights=mass, minlength=len(comps))
        weight = mass / np.repeat(total, comps.n_elements)
        values = data[z]  # hhi_p, hhi_r, price, toxic, radioactive
        out = np.empty((len(comps), len(self._NAMES)))
        wmean = _row_sum(comps, values[:, :3] * weight[:, None])
        worst = maximum(comps, values[:, :2])
        out[:, 0], out[:, 1], out[:, 2], out[:, 3], out[:, 4] = wmean[:, 0], worst[:, 0], wmean[:, 1], worst[:, 1], wmean[:, 2]
        flags = _row_sum(comps, values[:, 3:] * comps.fraction[:, None])
        out[:, 5], out[:, 6] = flags[:, 0], flags[:, 0] > 0
        out[:, 7], out[:, 8] = flags[:, 1], flags[:, 1] > 0
        out[:, 9] = _row_sum(comps, (missing[z] * weight)[:, None])[:, 0]
        out[comps.n_elements == 0] = np.nan
        return out


def _row_sum(comps: Compositions, values: np.ndarray) -> np.ndarray:
    out = np.zeros((len(comps), values.shape[1]))
    nonempty = comps.n_elements > 0
    if values.shape[0]:
        out[nonempty] = np.add.reduceat(values, comps.indptr[:-1][nonempty], axis=0)
    return out


@functools.cache
def _sustainability_table(impute: str | None) -> tuple[np.ndarray, np.ndarray]:
    """(119, 5) table hhi_production, hhi_reserve, price, toxic, radioactive; and the missing mask."""
    raw = np.column_stack([column(c, impute=None) for c in ("hhi_production", "hhi_reserve", "price_usd_per_kg")])
    missing = np.isnan(raw[:, :3]).any(axis=1).astype(float)
    if impute == "median":
        med = np.nanmedian(raw[1:], axis=0)
        raw = np.where(np.isnan(raw), med, raw)
    flags = np.column_stack([column("toxic", impute=None), column("radioactive", impute=None)])
    table = np.hstack([raw, flags])
    table.flags.writeable = False
    return table, missing


class CompositeFeaturizer(CompositionFeaturizer):
    """Several composition featurizers as one transformer: formulas are parsed once, the features
    of every child are concatenated in order.

    Parameters
    ----------
    featurizers : sequence of CompositionFeaturizer or registry names
        E.g. ``[magpie(), Stoichiometry()]`` or ``["magpie", "stoichiometry"]``.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.ensemble import RandomForestRegressor
    >>> model = make_pipeline(CompositeFeaturizer(["magpie", "ion"]), RandomForestRegressor())
    """

    def __init__(self, featurizers: Sequence[CompositionFeaturizer | str] = ()):
        self.featurizers = featurizers

    def _children(self) -> list[CompositionFeaturizer]:
        from matloop.represent.registry import get_featurizer

        items = [self.featurizers] if isinstance(self.featurizers, str | CompositionFeaturizer) else self.featurizers
        children = []
        for item in items:
            child = get_featurizer(item) if isinstance(item, str) else item
            if not isinstance(child, CompositionFeaturizer):
                raise TypeError(
                    f"CompositeFeaturizer takes composition featurizers, got {type(child).__name__}"
                    + (f" for {item!r}" if isinstance(item, str) else "")
                )
            children.append(child)
        if not children:
            raise ValueError("CompositeFeaturizer needs at least one featurizer")
        return children

    def _feature_names(self) -> list[str]:
        names = [name for child in self._children() for name in child.get_feature_names_out()]
        seen: set[str] = set()
        dupes = sorted({n for n in names if n in seen or seen.add(n)})
        if dupes:
            raise ValueError(f"featurizers produce the same feature names: {dupes[:5]}; use each featurizer once")
        return names

    def feature_labels(self) -> list[str]:
        return [label for child in self._children() for label in child.feature_labels()]

    def citations(self) -> list[str]:
        return list(dict.fromkeys(c for child in self._children() for c in child.citations()))

    def _featurize(self, comps: Compositions) -> np.ndarray:
        return np.hstack([np.asarray(child._featurize(comps), dtype=float) for child in self._children()])


def default_featurizer(sustainability: bool = False, element_fractions: bool = True) -> CompositeFeaturizer:
    """The composition features models use by default: magpie (132), stoichiometry (6), valence
    orbitals (8), ion properties (3) and element fractions (118; columns constant over a data set
    are dropped by the models), 267 columns; ``sustainability=True`` adds 10 more.

    Element fractions matter where materials share a host and differ in dopants (alloys: on
    Matbench steels extra trees reach 85 MPa MAE on fractions against 100 on magpie statistics);
    the statistics matter where chemistries differ widely. Models see both.
    """
    from matloop.represent.composition import ElementFraction, IonProperty, Stoichiometry, ValenceOrbital
    from matloop.represent.element_property import magpie

    children: list[CompositionFeaturizer] = [magpie(), Stoichiometry(), ValenceOrbital(), IonProperty()]
    if element_fractions:
        children.append(ElementFraction())
    if sustainability:
        children.append(Sustainability())
    return CompositeFeaturizer(children)
