"""Composition featurizers beyond element statistics, and the composite that models use by default.

Each class reproduces a matminer featurizer (same feature names, same values within 1e-9; see
``tests/represent/test_composition.py`` and ``scripts/make_composition_reference.py``) but works on
a whole column of formulas at once with numpy:

- :class:`Stoichiometry`: p-norms of the atomic fractions (matminer ``Stoichiometry``).
- :class:`ValenceOrbital`: mean s/p/d/f valence electrons and their shares (matminer ``ValenceOrbital``).
- :class:`IonProperty`: charge balance possible, max and mean ionic character (matminer ``IonProperty``).
- :class:`ElementFraction`: atomic fraction of each element H..Og (matminer ``ElementFraction``).
- :class:`~matloop.represent.composition_extra.Sustainability`: supply risk (HHI), raw element cost,
  toxic and radioactive content.
- :class:`~matloop.represent.composition_extra.CompositeFeaturizer` and :func:`default_featurizer`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import numpy as np

from matloop.io.elements import SYMBOLS
from matloop.io.formula import Compositions
from matloop.represent.base import CompositionFeaturizer
from matloop.represent.composition_charge import _whole_amounts, charge_balanced, oxidation_states
from matloop.represent.composition_data import (
    CITE_DEML,
    CITE_MATMINER,
    CITE_PYMATGEN,
    CITE_WARD,
    column,
    element_extras,
)
from matloop.represent.composition_extra import CompositeFeaturizer, Sustainability, default_featurizer
from matloop.represent.element_data import element_table, impute_mean
from matloop.represent.stats import weighted_mean

__all__ = [
    "CompositeFeaturizer",
    "ElementFraction",
    "IonProperty",
    "Stoichiometry",
    "Sustainability",
    "ValenceOrbital",
    "charge_balanced",
    "default_featurizer",
    "element_extras",
    "oxidation_states",
]

def _per_row_sum(comps: Compositions, values: np.ndarray) -> np.ndarray:
    out = np.zeros(len(comps))
    nonempty = comps.n_elements > 0
    if values.size:
        out[nonempty] = np.add.reduceat(values, comps.indptr[:-1][nonempty])
    return out


class Stoichiometry(CompositionFeaturizer):
    """Lp norms of the atomic fractions: how many elements, and how evenly they are mixed.

    ``0-norm`` is the number of elements; the ``p``-norm for p > 0 is ``(sum f_i^p)^(1/p)``, which
    falls from 1 (pure element) towards 0 as the mixture evens out (Ward et al. 2016).

    Parameters
    ----------
    p_list : sequence of int
        Norms to compute (matminer's default 0, 2, 3, 5, 7, 10).
    num_atoms : bool
        Also give ``num atoms``: atoms in the smallest whole-number formula (Fe4O6 -> 5).
    """

    CITATIONS = (CITE_WARD,)

    def __init__(self, p_list: Sequence[int] = (0, 2, 3, 5, 7, 10), num_atoms: bool = False):
        self.p_list = p_list
        self.num_atoms = num_atoms

    def _ps(self) -> list[int]:
        ps = list(self.p_list)
        if any(p < 0 for p in ps):
            raise ValueError(f"p-norms are not defined for p < 0, got p_list={ps}")
        return ps

    def _feature_names(self) -> list[str]:
        return (["num atoms"] if self.num_atoms else []) + [f"{p:d}-norm" for p in self._ps()]

    def feature_labels(self) -> list[str]:
        labels = ["atoms per formula unit"] if self.num_atoms else []
        return labels + ["number of elements" if p == 0 else f"{p}-norm of atomic fractions" for p in self._ps()]

    def _featurize(self, comps: Compositions) -> np.ndarray:
        cols = []
        if self.num_atoms:
            n, whole = _whole_amounts(comps)
            nonempty = comps.n_elements > 0
            g = np.zeros(len(comps), dtype=np.int64)
            g[nonempty] = np.gcd.reduceat(n, comps.indptr[:-1][nonempty])
            atoms = _per_row_sum(comps, n.astype(float)) / np.maximum(g, 1)
            cols.append(np.where(whole, atoms, comps.total))
        frac = comps.fraction
        for p in self._ps():
            if p == 0:
                cols.append(comps.n_elements.astype(float))
            else:
                cols.append(_per_row_sum(comps, frac**p) ** (1.0 / p))
        return np.column_stack(cols) if cols else np.empty((len(comps), 0))


class ValenceOrbital(CompositionFeaturizer):
    """Mean number of valence electrons in s, p, d and f orbitals, and each one's share of the total.

    Magpie's valence-electron counts per element (via matminer), fraction-weighted over the
    composition; shares divide by the mean total number of valence electrons (Deml et al. 2016).

    Parameters
    ----------
    orbitals : sequence of {"s", "p", "d", "f"}
    props : sequence of {"avg", "frac"}
        Mean counts (``avg``) and/or shares (``frac``).
    """

    CITATIONS = (CITE_WARD, CITE_DEML)

    def __init__(self, orbitals: Sequence[str] = ("s", "p", "d", "f"), props: Sequence[str] = ("avg", "frac")):
        self.orbitals = orbitals
        self.props = props

    def _check(self) -> tuple[list[str], list[str]]:
        orbitals, props = list(self.orbitals), list(self.props)
        bad = [o for o in orbitals if o not in "spdf" or len(o) != 1]
        if bad or not orbitals:
            raise ValueError(f"orbitals must be some of 's', 'p', 'd', 'f', got {orbitals}")
        if not props or any(p not in ("avg", "frac") for p in props):
            raise ValueError(f"props must be some of 'avg', 'frac', got {props}")
        return orbitals, props

    def _feature_names(self) -> list[str]:
        orbitals, props = self._check()
        return [f"{p} {o} valence electrons" for p in props for o in orbitals]

    def feature_labels(self) -> list[str]:
        orbitals, props = self._check()
        what = {"avg": "mean number of {} valence electrons", "frac": "share of valence electrons in {} orbitals"}
        return [what[p].format(o) for p in props for o in orbitals]

    def _featurize(self, comps: Compositions) -> np.ndarray:
        orbitals, props = self._check()
        table = _valence_table()
        cols = ["spdf".index(o) for o in orbitals]
        avg = weighted_mean(comps, table[comps.z][:, cols])
        parts = {"avg": avg}
        if "frac" in props:
            parts["frac"] = avg / weighted_mean(comps, table[comps.z][:, [4]])
        return np.hstack([parts[p] for p in props])


@functools.cache
def _valence_table() -> np.ndarray:
    """(119, 5) magpie NsValence, NpValence, NdValence, NfValence, NValence, mean-imputed."""
    names = ["NsValence", "NpValence", "NdValence", "NfValence", "NValence"]
    table = impute_mean(element_table("magpie")[names].to_numpy())  # matminer's imputation rule
    table.flags.writeable = False
    return table


class IonProperty(CompositionFeaturizer):
    """Whether a charge-balanced ionic compound is possible, and the ionic character of the bonds.

    - ``compound possible``: 1 when the atoms can take common oxidation states that sum to zero
      (see :func:`~matloop.represent.composition_charge.charge_balanced`), else 0.
    - ``max ionic char``: ``1 - exp(-(X_a - X_b)^2 / 4)`` for the most different pair of elements
      (Pauling electronegativities X from pymatgen; missing ones take the mean, as in matminer).
    - ``avg ionic char``: ``sum over pairs a<b of f_a f_b (1 - exp(-(X_a - X_b)^2 / 4))``.

    Parameters
    ----------
    oxidation_states : {"common", "icsd", "all"} or mapping
        Oxidation states for the charge-balance test (matminer uses pymatgen's common states).
    fast : bool
        matminer's ``fast``: every atom of an element takes the same state (Fe3O4 is then not
        balanced). The default lets atoms of one element differ, as matminer's default does.
    """

    CITATIONS = (CITE_WARD, CITE_PYMATGEN)

    def __init__(self, oxidation_states: str | Mapping[str, Sequence[int]] = "common", fast: bool = False):
        self.oxidation_states = oxidation_states
        self.fast = fast

    def _feature_names(self) -> list[str]:
        return ["compound possible", "max ionic char", "avg ionic char"]

    def feature_labels(self) -> list[str]:
        return ["charge-balanced compound possible (1/0)", "maximum ionic character of a bond",
                "mean ionic character (fraction-weighted over pairs)"]

    def _featurize(self, comps: Compositions) -> np.ndarray:
        out = np.zeros((len(comps), 3))
        out[:, 0] = charge_balanced(comps, self.oxidation_states, mixed_valence=not self.fast)
        x = column("pauling_electronegativity")[comps.z]
        nonempty = comps.n_elements > 0
        starts = comps.indptr[:-1][nonempty]
        if x.size:
            spread = np.zeros(len(comps))
            spread[nonempty] = np.maximum.reduceat(x, starts) - np.minimum.reduceat(x, starts)
            out[:, 1] = 1.0 - np.exp(-0.25 * spread**2)
            first, second = _pairs(comps)
            frac = comps.fraction
            char = 1.0 - np.exp(-0.25 * (x[first] - x[second]) ** 2)
            row = np.repeat(np.arange(len(comps)), comps.n_elements)[first]
            out[:, 2] = np.bincount(row, weights=frac[first] * frac[second] * char, minlength=len(comps))
        out[~nonempty] = np.nan
        return out


def _pairs(comps: Compositions) -> tuple[np.ndarray, np.ndarray]:
    """Entry indices (i, j), i < j, of every pair of elements within each row."""
    counts = comps.n_elements
    pos = np.arange(comps.indptr[-1]) - np.repeat(comps.indptr[:-1], counts)  # position in row
    later = np.repeat(counts, counts) - pos - 1  # partners after each entry
    first = np.repeat(np.arange(comps.indptr[-1]), later)
    step = np.arange(len(first)) - np.repeat(np.cumsum(later) - later, later) + 1
    return first, first + step


class ElementFraction(CompositionFeaturizer):
    """Atomic fraction of every element, one column per element H..Og (matminer ``ElementFraction``).

    Sparse and long (118 columns), so not in the default set; useful for linear models and for
    composition-space distances.
    """

    CITATIONS = (CITE_MATMINER,)

    def _feature_names(self) -> list[str]:
        return list(SYMBOLS[1:])

    def feature_labels(self) -> list[str]:
        return [f"atomic fraction of {s}" for s in SYMBOLS[1:]]

    def _featurize(self, comps: Compositions) -> np.ndarray:
        return comps.to_dense(normalize=True)[:, 1:]
