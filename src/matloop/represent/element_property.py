"""Statistics of element properties over a composition: matminer's Magpie and XenonPy's descriptors.

``ElementProperty`` looks up one table of element properties (bundled, offline; see
:mod:`matloop.represent.element_data`) for every element of every formula and summarises each
property over the composition with weighted statistics (:mod:`matloop.represent.stats`), for a
whole column at once.

Presets:

- :func:`magpie`: the 22 properties x 6 statistics (132 features) of matminer's
  ``ElementProperty.from_preset("magpie")`` (``impute_nan=True``, matminer's default), same names
  (``"MagpieData minimum Number"``), same column order, values equal to matminer's within 1e-9
  (tested against a reference table that matminer produced). Missing element values are replaced
  by the mean of the property over the elements that have it, as matminer does.
- :func:`xenonpy`: XenonPy's 58 element properties x 7 statistics (406 features) named as XenonPy
  names them (``"ave:atomic_number"``) in XenonPy's order (``Compositions(featurizers="all")``
  without ``Counting``: ave, sum, var, gmean, hmean, max, min). The statistics follow XenonPy's
  definitions: ``sum`` uses the amounts as written, the others are normalised; ``gmean`` and
  ``hmean`` treat zero and negative values as XenonPy's numpy code does (``gmean`` is NaN for
  properties that take negative values when the root is not real, e.g. ``gs_energy``; see
  :mod:`matloop.represent.stats`). The element table is rebuilt from mendeleev, pymatgen and
  Magpie because XenonPy's own table must be downloaded; values differ from it where the upstream
  databases changed (see ``data/ELEMENTS_PROVENANCE.md``). Elements beyond Pu, absent from
  XenonPy's table (XenonPy gives NaN), get the column mean (``impute=None`` gives NaN).
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Sequence

import numpy as np

from matloop.io.formula import Compositions
from matloop.represent.base import CompositionFeaturizer
from matloop.represent.element_data import SOURCES, element_array, impute_mean, property_info
from matloop.represent.stats import canonical, summarize_table

#: the properties of matminer's ``ElementProperty.from_preset("magpie")``, in its order
MAGPIE_PROPERTIES = (
    "Number", "MendeleevNumber", "AtomicWeight", "MeltingT", "Column", "Row", "CovalentRadius",
    "Electronegativity", "NsValence", "NpValence", "NdValence", "NfValence", "NValence",
    "NsUnfilled", "NpUnfilled", "NdUnfilled", "NfUnfilled", "NUnfilled", "GSvolume_pa",
    "GSbandgap", "GSmagmom", "SpaceGroupNumber",
)
MAGPIE_STATS = ("minimum", "maximum", "range", "mean", "avg_dev", "mode")
#: XenonPy ``Compositions(featurizers="all")`` order, without the ``Counting`` featurizer
XENONPY_STATS = ("mean", "sum", "var", "gmean", "hmean", "maximum", "minimum")
#: XenonPy's prefixes for our statistic names
XENONPY_PREFIX = {"mean": "ave", "maximum": "max", "minimum": "min"}

_STAT_LABEL = {
    "minimum": "minimum", "maximum": "maximum", "range": "range of", "mean": "mean",
    "avg_dev": "mean absolute deviation of", "mode": "most abundant element's", "var": "variance of",
    "sum": "sum over the formula of", "gmean": "geometric mean", "hmean": "harmonic mean",
}

CITE_MAGPIE = (
    "Ward, L.; Agrawal, A.; Choudhary, A.; Wolverton, C. A general-purpose machine learning framework "
    "for predicting properties of inorganic materials. npj Comput. Mater. 2016, 2, 16028. "
    "doi:10.1038/npjcompumats.2016.28"
)
CITE_MATMINER = (
    "Ward, L. et al. Matminer: An open source toolkit for materials data mining. Comput. Mater. Sci. "
    "2018, 152, 60-69. doi:10.1016/j.commatsci.2018.05.018 (source of the bundled Magpie tables)"
)
CITE_OQMD = (
    "Saal, J. E.; Kirklin, S.; Aykol, M.; Meredig, B.; Wolverton, C. Materials design and discovery "
    "with high-throughput density functional theory: the Open Quantum Materials Database (OQMD). "
    "JOM 2013, 65, 1501-1509. doi:10.1007/s11837-013-0755-4 (ground-state GS* properties)"
)
CITE_XENONPY = (
    "Yamada, H.; Liu, C.; Wu, S.; Koyama, Y.; Ju, S.; Shiomi, J.; Morikawa, J.; Yoshida, R. Predicting "
    "materials properties with little data using shotgun transfer learning. ACS Cent. Sci. 2019, 5, "
    "1717-1730. doi:10.1021/acscentsci.9b00804 (XenonPy)"
)
CITE_MENDELEEV = (
    "Mentel, L. M. mendeleev - A Python resource for properties of chemical elements, ions and "
    "isotopes, 2014-. https://github.com/lmmentel/mendeleev (element data)"
)
CITE_PYMATGEN = (
    "Ong, S. P. et al. Python Materials Genomics (pymatgen): A robust, open-source python library for "
    "materials analysis. Comput. Mater. Sci. 2013, 68, 314-319. doi:10.1016/j.commatsci.2012.10.028 "
    "(element data)"
)
_CITATIONS = {
    "magpie": (CITE_MAGPIE, CITE_MATMINER, CITE_OQMD),
    "xenonpy": (CITE_XENONPY, CITE_MENDELEEV, CITE_PYMATGEN, CITE_MAGPIE, CITE_OQMD),
}
_DEFAULTS = {"magpie": (MAGPIE_PROPERTIES, MAGPIE_STATS), "xenonpy": (None, XENONPY_STATS)}


class ElementProperty(CompositionFeaturizer):
    """Weighted statistics of tabulated element properties over each composition.

    Parameters
    ----------
    source : {"magpie", "xenonpy"}
        Element table (see :func:`matloop.represent.element_data.element_table`); it also sets the
        naming of the features: matminer's ``"MagpieData {stat} {property}"`` in property-major
        order for ``magpie``, XenonPy's ``"{stat}:{property}"`` in statistic-major order for
        ``xenonpy``.
    properties : sequence of str, optional
        Properties to use (default: the source's preset: matminer's 22 for ``magpie``, all 58 for
        ``xenonpy``).
    stats : sequence of str, optional
        Statistics (default: the preset's): ``minimum``, ``maximum``, ``range``, ``mean``,
        ``avg_dev``, ``mode``, ``var``, ``sum``, ``gmean``, ``hmean`` (XenonPy's ``ave``, ``max``,
        ``min`` are accepted).
    impute : {"mean", None}
        ``"mean"``: an element without a value takes the mean of the property over the elements
        that have one (matminer's rule). ``None``: missing values give NaN features.
    """

    def __init__(self, source: str = "magpie", properties: Sequence[str] | None = None,
                 stats: Sequence[str] | None = None, impute: str | None = "mean"):
        self.source = source
        self.properties = properties
        self.stats = stats
        self.impute = impute

    # ----------------------------------------------------------------- configuration
    def _source(self) -> str:
        if self.source not in SOURCES:
            raise ValueError(f"unknown source {self.source!r}; known: {', '.join(SOURCES)}")
        return self.source

    def _properties(self) -> tuple[str, ...]:
        source = self._source()
        available = tuple(element_table_columns(source))
        if self.properties is None:
            return _DEFAULTS[source][0] or available
        props = (self.properties,) if isinstance(self.properties, str) else tuple(self.properties)
        unknown = [p for p in props if p not in available]
        if unknown:
            hints = {p: difflib.get_close_matches(p, available, n=3) for p in unknown}
            detail = "; ".join(f"{p!r}" + (f" (did you mean {', '.join(h)}?)" if h else "") for p, h in hints.items())
            raise ValueError(f"unknown {source} properties: {detail}. Known: {', '.join(available)}")
        if not props:
            raise ValueError("properties is empty")
        return props

    def _stats(self) -> tuple[str, ...]:
        stats = _DEFAULTS[self._source()][1] if self.stats is None else self.stats
        stats = (stats,) if isinstance(stats, str) else tuple(stats)
        if not stats:
            raise ValueError("stats is empty")
        return tuple(canonical(s) for s in stats)

    def _by(self) -> str:
        return "statistic" if self._source() == "xenonpy" else "property"

    def _table(self) -> np.ndarray:
        if self.impute not in ("mean", None):
            raise ValueError(f"impute must be 'mean' or None, got {self.impute!r}")
        return _property_array(self._source(), self._properties(), self.impute)

    # ----------------------------------------------------------------- names and labels
    def _feature_names(self) -> list[str]:
        props, stats = self._properties(), self._stats()
        if self._by() == "statistic":
            return [f"{XENONPY_PREFIX.get(s, s)}:{p}" for s in stats for p in props]
        return [f"MagpieData {s} {p}" for p in props for s in stats]

    def feature_labels(self) -> list[str]:
        """Readable labels, e.g. ``"mean electronegativity (Pauling)"`` or ``"maximum melting
        temperature (K)"``, in the order of :meth:`get_feature_names_out`."""
        info = property_info(self._source())
        props, stats = self._properties(), self._stats()
        pairs = [(s, p) for s in stats for p in props] if self._by() == "statistic" else \
            [(s, p) for p in props for s in stats]
        return [_label(s, info.at[p, "label"], info.at[p, "unit"]) for s, p in pairs]

    def citations(self) -> list[str]:
        """The method's paper and the sources of the element data."""
        return list(_CITATIONS[self._source()])

    # ----------------------------------------------------------------- computation
    def _featurize(self, comps: Compositions) -> np.ndarray:
        return summarize_table(comps, self._table(), self._stats(), by=self._by())

    def _featurize_into(self, comps: Compositions, out: np.ndarray) -> bool:
        summarize_table(comps, self._table(), self._stats(), by=self._by(), out=out)
        return True

    def _featurize_columns_into(self, comps: Compositions, out: np.ndarray) -> bool:
        summarize_table(comps, self._table(), self._stats(), by=self._by(), out=out, layout="columns")
        return True


def magpie(**params) -> ElementProperty:
    """matminer's ``ElementProperty.from_preset("magpie")``: 22 properties x 6 statistics."""
    return ElementProperty(source="magpie", **params)


def xenonpy(**params) -> ElementProperty:
    """XenonPy's compositional descriptors: 58 properties x 7 statistics."""
    return ElementProperty(source="xenonpy", **params)


def element_table_columns(source: str) -> list[str]:
    """Property names available in a source's table."""
    return list(_full_array(source)[1])


def _full_array(source: str) -> tuple[np.ndarray, tuple[str, ...]]:
    return element_array(source)  # (read-only, cached; no pandas: see element_data.element_array)


@functools.lru_cache(maxsize=32)
def _property_array(source: str, properties: tuple[str, ...], impute: str | None) -> np.ndarray:
    """The (119, p) table of the chosen properties, imputed; read-only and cached."""
    values, columns = _full_array(source)
    position = {c: i for i, c in enumerate(columns)}
    array = values[:, [position[p] for p in properties]]
    # impute over the full table first: a property's mean does not depend on the others chosen
    array = impute_mean(array) if impute == "mean" else np.array(array, copy=True)
    array.flags.writeable = False
    return array


def _label(stat: str, label: str, unit: str) -> str:
    if unit and stat == "var":
        unit = f"({unit})^2" if any(c in unit for c in " /") else f"{unit}^2"
    return f"{_STAT_LABEL[stat]} {label}" + (f" ({unit})" if unit and stat != "sum" else "")
