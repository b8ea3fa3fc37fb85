"""Chemical plausibility filters for enumerated compositions: the SMACT rules, vectorised.

A composition passes (Davies et al., Chem 1, 617 (2016); SMACT, Davies et al., JOSS 4, 1361 (2019))
when one oxidation state per element, taken from a table of known states, makes it

1. **charge neutral**: ``sum_i n_i q_i = 0`` over the atom counts ``n_i`` (all atoms of an element
   share one state, as in SMACT's ``smact_filter``; so ``Fe3O4`` fails with integer states), and
2. **electronegativity ordered** (the Pauling test): every cation is less electronegative than
   every anion (``max chi(cations) < min chi(anions)``); an element without a Pauling
   electronegativity fails the test, as in SMACT.

Pure elements pass (as SMACT's ``smact_validity``); compositions made only of metals pass when
``allow_alloys=True`` (``smact_validity``'s default), and are otherwise tested like any other
(``smact_filter``'s behaviour, our default).

Speed: the oxidation-state combinations that pass the Pauling test are enumerated **once per
element set** (cached), and all rows of a chunk with that element set are tested at once by one
matrix product ``counts @ states.T == 0``. No Python loop runs per composition.

Oxidation-state sets (``oxidation_states=``)
-------------------------------------------
Bundled from SMACT 4.0.2 (MIT licence; ``represent/data/screen_smact_data.json``, see
``screen_PROVENANCE.md``):

- ``icsd24`` (default, SMACT's current default for ``smact_filter``): states reported more than
  five times in the 2024 ICSD (``oxidation_states_icsd24_filtered.txt``),
- ``icsd16``: states occurring in the 2016 ICSD,
- ``smact14``: the original hand-compiled SMACT set (very permissive),

and the pymatgen sets of the composition featurizers (:func:`matloop.represent.composition_charge.
oxidation_states`): ``common``, ``icsd`` and ``all``. A mapping ``{symbol: [states]}`` is accepted too.
Electronegativities (``electronegativity=``): ``smact`` (SMACT's Pauling values, CRC Handbook
92nd ed.; default), ``pymatgen`` (``Element.X``), or a mapping.
"""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from matloop.errors import MatloopError
from matloop.io.elements import ATOMIC_NUMBER, N_ELEMENTS, SYMBOLS
from matloop.io.formula import Compositions

__all__ = [
    "ELECTRONEGATIVITY_SOURCES",
    "OXIDATION_STATE_SETS",
    "ChemistryRules",
    "electronegativities",
    "oxidation_state_set",
    "smact_valid",
]

SMACT_SETS = ("icsd24", "icsd16", "smact14")
PYMATGEN_SETS = ("common", "icsd", "all")
OXIDATION_STATE_SETS = SMACT_SETS + PYMATGEN_SETS
ELECTRONEGATIVITY_SOURCES = ("smact", "pymatgen")
#: most oxidation-state combinations enumerated for one element set
MAX_COMBINATIONS = 5_000_000
_BLOCK = 4_000_000  # elements of one (rows x combinations) product

CITE_SMACT = (
    "Davies, D. W.; Butler, K. T.; Jackson, A. J.; Morris, A.; Frost, J. M.; Skelton, J. M.; Walsh, A. "
    "Computational screening of all stoichiometric inorganic materials. Chem 2016, 1, 617-627. "
    "doi:10.1016/j.chempr.2016.09.010; Davies, D. W. et al. SMACT: Semiconducting Materials by "
    "Analogy and Chemical Theory. J. Open Source Softw. 2019, 4, 1361. doi:10.21105/joss.01361"
)


@functools.cache
def _smact_data() -> dict:
    from matloop.represent.composition_data import _DATA

    with open(_DATA / "screen_smact_data.json", encoding="utf-8") as fh:
        return json.load(fh)


def oxidation_state_set(name: str | Mapping[str, Sequence[int]] = "icsd24") -> dict[str, list[int]]:
    """``{symbol: [states]}`` of a named set (see the module docstring) or a validated copy of a mapping."""
    if isinstance(name, Mapping):
        out = {}
        for sym, states in name.items():
            if sym not in ATOMIC_NUMBER:
                raise MatloopError(f"unknown element {sym!r} in the oxidation states")
            if any(float(s) != int(s) for s in states):
                raise MatloopError(f"oxidation states of {sym} must be whole numbers, got {list(states)}")
            out[sym] = sorted({int(s) for s in states})
        return out
    if name in SMACT_SETS:
        return {k: list(v) for k, v in _smact_data()["oxidation_states"][name].items()}
    if name in PYMATGEN_SETS:
        from matloop.represent.composition_charge import oxidation_states

        return oxidation_states(name)
    raise MatloopError(f"unknown oxidation-state set {name!r}; known: {', '.join(OXIDATION_STATE_SETS)}")


def electronegativities(source: str | Mapping[str, float] = "smact") -> np.ndarray:
    """Pauling electronegativity by atomic number (index 0 unused; NaN where unknown)."""
    out = np.full(N_ELEMENTS + 1, np.nan)
    if isinstance(source, Mapping):
        items = source.items()
    elif source == "smact":
        items = _smact_data()["pauling_electronegativity"].items()
    elif source == "pymatgen":
        from matloop.represent.composition_data import column

        return column("pauling_electronegativity", impute=None).copy()
    else:
        raise MatloopError(f"electronegativity must be one of {ELECTRONEGATIVITY_SOURCES} or a mapping, got {source!r}")
    for sym, value in items:
        if sym not in ATOMIC_NUMBER:
            raise MatloopError(f"unknown element {sym!r} in the electronegativities")
        out[ATOMIC_NUMBER[sym]] = np.nan if value is None else float(value)
    return out


@functools.cache
def _metal_mask() -> np.ndarray:
    mask = np.zeros(N_ELEMENTS + 1, dtype=bool)
    mask[[ATOMIC_NUMBER[s] for s in _smact_data()["metals"]]] = True
    return mask


def _freeze(value) -> object:
    if isinstance(value, Mapping):
        return tuple(sorted((k, tuple(v) if isinstance(v, Sequence) else v) for k, v in value.items()))
    return value


@dataclass(frozen=True)
class ChemistryRules:
    """The SMACT charge-neutrality and electronegativity rules (see the module docstring).

    Parameters
    ----------
    oxidation_states : str or mapping
        One of :data:`OXIDATION_STATE_SETS` (default ``"icsd24"``) or ``{symbol: [states]}``.
    electronegativity : str or mapping
        ``"smact"`` (default), ``"pymatgen"`` or ``{symbol: value}``.
    pauling : bool
        Apply the electronegativity-ordering test (``False``: charge neutrality only).
    allow_alloys : bool
        Let compositions made only of metals pass (SMACT ``smact_validity`` default ``True``).
    allow_pure_elements : bool
        Let single-element compositions pass.
    """

    oxidation_states: str | Mapping[str, Sequence[int]] = "icsd24"
    electronegativity: str | Mapping[str, float] = "smact"
    pauling: bool = True
    allow_alloys: bool = False
    allow_pure_elements: bool = True
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        states = oxidation_state_set(self.oxidation_states)  # validates
        table: list[tuple[int, ...]] = [()] * (N_ELEMENTS + 1)
        for sym, values in states.items():
            table[ATOMIC_NUMBER[sym]] = tuple(values)
        object.__setattr__(self, "_states", tuple(table))
        object.__setattr__(self, "_chi", electronegativities(self.electronegativity))

    def __getstate__(self) -> dict:  # the cache is rebuilt where the rules are used (Dask workers)
        state = dict(self.__dict__)
        state["_cache"] = {}
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def describe(self) -> str:
        """One line for reports and ``--help``: what is tested with which data."""
        name = self.oxidation_states if isinstance(self.oxidation_states, str) else "custom"
        chi = self.electronegativity if isinstance(self.electronegativity, str) else "custom"
        tests = "charge neutrality" + (" + Pauling electronegativity order" if self.pauling else "")
        extra = "; all-metal compositions pass" if self.allow_alloys else ""
        return f"SMACT rules: {tests} (oxidation states '{name}', electronegativity '{chi}'){extra}"

    # ------------------------------------------------------------------ per element set
    def combinations(self, z: Sequence[int]) -> np.ndarray:
        """Oxidation-state combinations of the element set ``z`` that pass the Pauling test
        (all of them when ``pauling=False``): an ``(n, len(z))`` int array, cached per set."""
        key = tuple(int(v) for v in z)
        found = self._cache.get(key)
        if found is not None:
            return found
        lists = [self._states[v] for v in key]
        n = int(np.prod([len(s) for s in lists], dtype=np.float64))
        if n > MAX_COMBINATIONS:
            raise MatloopError(f"{'-'.join(SYMBOLS[v] for v in key)} has {n:,} oxidation-state combinations "
                               f"(more than {MAX_COMBINATIONS:,}); use fewer elements per composition")
        combos = np.array(list(itertools.product(*lists)), dtype=np.int64).reshape(n, len(key))
        if self.pauling and len(key) > 1 and len(combos):
            chi = self._chi[list(key)]
            if np.isnan(chi).any():
                combos = combos[:0]
            else:
                cation_max = np.where(combos > 0, chi, -np.inf).max(axis=1)
                anion_min = np.where(combos < 0, chi, np.inf).min(axis=1)
                combos = combos[cation_max < anion_min]
        combos = combos[_plausibility_order(key, combos)]
        combos.flags.writeable = False
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[key] = combos
        return combos

    # ------------------------------------------------------------------ whole columns
    def __call__(self, comps: Compositions | Sequence[str]) -> np.ndarray:
        return self.valid(comps)

    def valid(self, comps: Compositions | Sequence[str]) -> np.ndarray:
        """Whether each composition passes the rules (one bool per row)."""
        return self._evaluate(_as_comps(comps), explain=False)

    def explain(self, comps: Compositions | Sequence[str]) -> list[str]:
        """The first passing assignment of each row (``"Li+1 Fe+2 P+5 O-2"``); ``""`` where none,
        ``"element"``/``"alloy"`` where a row passes for being a pure element or all-metal."""
        return self._evaluate(_as_comps(comps), explain=True)

    def _evaluate(self, comps: Compositions, explain: bool):
        n = len(comps)
        ok = np.zeros(n, dtype=bool)
        text = [""] * n if explain else None
        for z, rows, amounts in _groups(comps):
            if len(z) == 1 and self.allow_pure_elements:
                ok[rows] = True
                if explain:
                    for r in rows.tolist():
                        text[r] = "element"
                continue
            if self.allow_alloys and _metal_mask()[list(z)].all():
                ok[rows] = True
                if explain:
                    for r in rows.tolist():
                        text[r] = "alloy"
                continue
            combos = self.combinations(z)
            if not len(combos):
                continue
            first = _first_neutral(amounts, combos, index=explain)
            ok[rows] = first >= 0 if explain else first
            if explain:
                for r, f in zip(rows.tolist(), first.tolist(), strict=True):
                    if f >= 0:
                        text[r] = " ".join(f"{SYMBOLS[e]}{q:+d}" for e, q in zip(z, combos[f].tolist(), strict=True))
        return text if explain else ok


def _plausibility_order(z: tuple[int, ...], combos: np.ndarray) -> np.ndarray:
    """Order combinations so that explanations show the most familiar one first: fewest states
    outside pymatgen's common oxidation states, then smallest total |charge|."""
    common = _common_states()
    rare = np.zeros(len(combos), dtype=np.int64)
    for j, e in enumerate(z):
        rare += ~np.isin(combos[:, j], common.get(SYMBOLS[e], []))
    return np.lexsort((np.abs(combos).sum(axis=1), rare))


@functools.cache
def _common_states() -> dict[str, list[int]]:
    return oxidation_state_set("common")


def smact_valid(comps: Compositions | Sequence[str], oxidation_states: str | Mapping = "icsd24",
                pauling: bool = True, allow_alloys: bool = False, electronegativity: str | Mapping = "smact") -> np.ndarray:
    """Shortcut: ``ChemistryRules(...).valid(comps)``."""
    return ChemistryRules(oxidation_states, electronegativity, pauling, allow_alloys).valid(comps)


def _as_comps(comps) -> Compositions:
    if isinstance(comps, Compositions):
        return comps
    from matloop.io.formula import parse_formulas

    return parse_formulas(list(comps))


def _first_neutral(amounts: np.ndarray, combos: np.ndarray, index: bool = False) -> np.ndarray:
    """Whether some combination gives zero total charge, per row; with ``index=True`` the index of
    the first such combination (-1 if none). Whole-number counts are tested exactly (float64
    products of small integers are exact); decimal amounts with a relative tolerance of 1e-9."""
    states = combos.astype(np.float64).T
    exact = bool(np.all(amounts == np.round(amounts)))
    tol = 1e-9 * np.abs(amounts).sum(axis=1) * max(float(np.abs(combos).max()), 1.0)
    out = np.empty(len(amounts), dtype=np.int64 if index else bool)
    step = max(1, _BLOCK // max(len(combos), 1))
    for start in range(0, len(amounts), step):
        charge = amounts[start:start + step] @ states
        zero = charge == 0 if exact else np.abs(charge) <= tol[start:start + step, None]
        if index:
            out[start:start + step] = np.where(zero.any(axis=1), zero.argmax(axis=1), -1)
        else:
            out[start:start + step] = zero.any(axis=1)
    return out


def _groups(comps: Compositions):
    """``(element set, rows, (rows x elements) amounts)`` for every distinct element set."""
    n_el = comps.n_elements
    for s in np.unique(n_el[n_el > 0]).tolist():
        rows = np.flatnonzero(n_el == s)
        idx = comps.indptr[:-1][rows][:, None] + np.arange(s)
        Z = comps.z[idx].astype(np.int64)
        A = comps.amount[idx]
        if s <= 8:
            code = (Z << (7 * np.arange(s))).sum(axis=1)
        else:
            code = np.zeros(len(rows), dtype=np.int64)
            for col in Z.T:
                code = pd.factorize(code * 128 + col)[0].astype(np.int64)
        codes, _ = pd.factorize(code)
        order = np.argsort(codes, kind="stable")
        cuts = np.flatnonzero(np.diff(codes[order])) + 1
        for members in np.split(order, cuts):
            yield tuple(Z[members[0]].tolist()), rows[members], A[members]
