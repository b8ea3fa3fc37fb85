"""Charge neutrality of compositions with tabulated oxidation states, for a whole column at once.

A composition is *charge balanced* when every atom of its whole-number formula can be given one of
its element's oxidation states so that the charges sum to zero. This is the test behind matminer's
``IonProperty`` "compound possible" (pymatgen ``Composition.oxi_state_guesses``), which enumerates
combinations per material (tens of milliseconds per formula, minutes for cells of many atoms). Here:

1. every row gets a necessary test at numpy speed: zero must lie between the lowest and highest
   reachable total charge, and in the right residue class (sums of states of an element with
   states ``{2, 4}`` are even);
2. rows that pass and have at least one element with several states are solved exactly, once per
   distinct problem, as a subset-sum over bitsets (Python integers): the reachable charges of
   ``n`` atoms of an element (its ``n``-fold sumset) are cached per element and ``n``.

Amounts are used as written (``Fe4O6`` is 4 Fe and 6 O, exactly like pymatgen). Fractional
formulas are first scaled by the smallest integer that makes every amount, as written in decimal,
whole (``Ba0.9La0.1TiO3`` -> ``Ba9LaTi10O30``); pymatgen refuses them. When the scaled formula is
so large that the exact search would span more than :data:`MAX_EXACT_WIDTH` charge units (e.g.
steels written with 1e-5 fractions), only the necessary test of step 1 is applied: sumsets of many
atoms are gap-free away from their extremes, so this can only err when zero sits within a few
units of the most negative or most positive total charge.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pandas as pd

from matloop.io.elements import ATOMIC_NUMBER, N_ELEMENTS
from matloop.io.formula import Compositions
from matloop.represent.composition_data import _DATA

__all__ = ["MAX_EXACT_WIDTH", "OXIDATION_STATE_SETS", "charge_balanced", "oxidation_states"]

#: named oxidation-state sets bundled from pymatgen (see COMPOSITION_DATA_PROVENANCE.md)
OXIDATION_STATE_SETS = ("common", "icsd", "all")
#: widest charge range (in units of e) searched exactly per formula; wider ones use the bounds test
MAX_EXACT_WIDTH = 20_000
_MAX_CACHE = 200_000


@functools.cache
def _bundled() -> dict[str, dict[str, list[int]]]:
    with open(_DATA / "comp_oxidation_states.json", encoding="utf-8") as fh:
        return {k: v for k, v in json.load(fh).items() if k in OXIDATION_STATE_SETS}


def oxidation_states(name: str = "common") -> dict[str, list[int]]:
    """The bundled oxidation states of every element (``{symbol: [states]}``) for a named set.

    ``common``: pymatgen's common oxidation states (what matminer's ``IonProperty`` uses);
    ``icsd``: states seen in the ICSD (pymatgen ``icsd_oxidation_states``); ``all``: every known
    state (very permissive).
    """
    if name not in OXIDATION_STATE_SETS:
        raise ValueError(f"oxidation_states must be one of {OXIDATION_STATE_SETS} or a mapping, got {name!r}")
    return {k: list(v) for k, v in _bundled()[name].items()}


@dataclass(frozen=True)
class _Table:
    key: object  # hashable identity for the sumset cache
    states: tuple[tuple[int, ...], ...]  # by atomic number, sorted, distinct
    lo: np.ndarray  # lowest state (0 where none)
    hi: np.ndarray  # highest state
    step: np.ndarray  # gcd of differences between states (0 for a single state)
    has: np.ndarray  # element has at least one state


def _make_table(key: object, mapping: Mapping[str, Sequence[int]]) -> _Table:
    states: list[tuple[int, ...]] = [()] * (N_ELEMENTS + 1)
    for sym, values in mapping.items():
        if sym not in ATOMIC_NUMBER:
            raise ValueError(f"unknown element {sym!r} in oxidation states")
        values = [values] if isinstance(values, int | float) else list(values)
        if any(float(v) != int(v) for v in values):
            raise ValueError(f"oxidation states of {sym} must be integers, got {values}")
        states[ATOMIC_NUMBER[sym]] = tuple(sorted({int(v) for v in values}))
    lo = np.array([s[0] if s else 0 for s in states], dtype=np.int64)
    hi = np.array([s[-1] if s else 0 for s in states], dtype=np.int64)
    step = np.array([math.gcd(*[v - s[0] for v in s]) if s else 0 for s in states], dtype=np.int64)
    has = np.array([bool(s) for s in states])
    return _Table(key, tuple(states), lo, hi, step, has)


@functools.cache
def _named_table(name: str) -> _Table:
    return _make_table(name, _bundled()[name])


def _table(spec: str | Mapping[str, Sequence[int]]) -> _Table:
    if isinstance(spec, str):
        if spec not in OXIDATION_STATE_SETS:
            raise ValueError(f"oxidation_states must be one of {OXIDATION_STATE_SETS} or a mapping, got {spec!r}")
        return _named_table(spec)
    table = _make_table(None, spec)
    return _Table(table.states, *[getattr(table, f) for f in ("states", "lo", "hi", "step", "has")])


def charge_balanced(
    comps: Compositions | Sequence[str],
    oxidation_states: str | Mapping[str, Sequence[int]] = "common",
    *,
    mixed_valence: bool = True,
) -> np.ndarray:
    """Whether each composition admits a charge-neutral assignment of oxidation states.

    Parameters
    ----------
    comps : Compositions or sequence of formula strings
    oxidation_states : {"common", "icsd", "all"} or mapping
        A bundled set (see :func:`oxidation_states`) or a full table ``{symbol: [states]}``;
        elements missing from a mapping have no states, so formulas containing them are not
        balanced (unless they are pure elements).
    mixed_valence : bool
        ``True`` (pymatgen / matminer ``IonProperty``): every atom picks its own state, so
        ``Fe3O4`` balances with Fe2+ and Fe3+. ``False`` (SMACT, matminer ``fast=True``): all atoms of
        an element share one state.

    Returns
    -------
    numpy.ndarray of bool, one per composition. Pure elements are balanced (charge 0); rows
    without elements are not.
    """
    if not isinstance(comps, Compositions):
        from matloop.represent.base import as_compositions

        comps = as_compositions(comps)[0]
    table = _table(oxidation_states)
    n_rows = len(comps)
    counts = comps.n_elements
    nonempty = counts > 0
    out = np.zeros(n_rows, dtype=bool)
    if comps.z.size == 0:
        return out
    starts = comps.indptr[:-1][nonempty]

    def per_row(values: np.ndarray, ufunc: np.ufunc) -> np.ndarray:
        res = np.zeros(n_rows, dtype=values.dtype)
        res[nonempty] = ufunc.reduceat(values, starts)
        return res

    z = comps.z.astype(np.int64)
    n, whole = _whole_amounts(comps)
    missing = per_row((~table.has[z]).astype(np.int64), np.add) > 0
    # necessary test: 0 between the lowest and highest total charge, in the right residue class
    lo_e, hi_e = n * table.lo[z], n * table.hi[z]
    step_e = table.step[z] * (1 if mixed_valence else n)
    low, high = per_row(lo_e, np.add), per_row(hi_e, np.add)
    step = per_row(step_e, np.gcd)
    residue_ok = np.where(step > 0, np.mod(-low, np.maximum(step, 1)) == 0, low == 0)
    possible = nonempty & ~missing & (low <= 0) & (high >= 0) & residue_ok
    # formulas too large to scale to whole numbers: bounds test on atomic fractions
    frac = comps.fraction
    f_low = per_row(frac * table.lo[z], np.add)
    f_high = per_row(frac * table.hi[z], np.add)
    possible[~whole] = (nonempty & ~missing & (f_low <= 1e-12) & (f_high >= -1e-12))[~whole]
    multi = step_e > 0  # entries with more than one reachable total charge
    n_multi = per_row(multi.astype(np.int64), np.add)
    out[possible & ((n_multi == 0) | ~whole)] = True
    search = possible & (n_multi > 0) & whole
    if mixed_valence:  # huge formulas: keep the necessary test only (see the module docstring)
        relaxed = search & (per_row(hi_e - lo_e, np.add) > MAX_EXACT_WIDTH)
        out[relaxed] = True
        search &= ~relaxed
    if search.any():
        out[search] = _exact(comps, search, z, n, multi, -low, table, mixed_valence)
    out[counts == 1] = True  # a pure element is neutral (pymatgen and matminer agree)
    return out


def _whole_amounts(comps: Compositions) -> tuple[np.ndarray, np.ndarray]:
    """Amounts scaled per row to the smallest whole-number formula (decimal amounts as written).

    Returns the integer amounts per entry and, per row, whether the scaling worked: rows needing a
    factor of 1e15 or more, or amounts above 1e14, are not scaled (their amounts read 1, unused).
    """
    amount = comps.amount
    integral = amount == np.round(amount)
    den = np.ones(len(amount), dtype=np.int64)
    if not integral.all():
        values, inverse = np.unique(amount[~integral], return_inverse=True)
        dens = np.array([_denominator(v) for v in values.tolist()], dtype=np.int64)
        den[~integral] = dens[inverse.ravel()]
    counts = comps.n_elements
    nonempty = counts > 0
    starts = comps.indptr[:-1][nonempty]
    # decimal denominators are 2^a 5^b r: bound the lcm without overflowing int64
    twos = _multiplicity(den, 2)
    fives = _multiplicity(den, 5)
    rest = den // (2**twos * 5**fives)
    log_lcm = np.zeros(len(comps))
    log_lcm[nonempty] = (np.maximum.reduceat(twos, starts) * math.log10(2)
                         + np.maximum.reduceat(fives, starts) * math.log10(5)
                         + np.add.reduceat(np.log10(rest.astype(float)), starts))
    whole = log_lcm < 15
    safe_den = np.where(np.repeat(whole, counts), den, 1)
    mult = np.ones(len(comps), dtype=np.int64)
    mult[nonempty] = np.lcm.reduceat(safe_den, starts)
    scaled = amount * np.repeat(mult, counts)
    too_big = np.zeros(len(comps), dtype=bool)
    too_big[nonempty] = np.maximum.reduceat(scaled, starts) > 1e14  # charge sums must fit in int64
    whole &= ~too_big
    return np.rint(np.where(np.repeat(whole, counts), scaled, 1.0)).astype(np.int64), whole


def _multiplicity(values: np.ndarray, p: int) -> np.ndarray:
    out = np.zeros(len(values), dtype=np.int64)
    v = values.copy()
    while True:
        hit = (v % p == 0) & (v > 0)
        if not hit.any():
            return out
        out += hit
        v[hit] //= p


@functools.lru_cache(maxsize=65536)
def _denominator(value: float) -> int:
    """Denominator of a float's shortest decimal form (0.25 -> 4, 0.000953 -> 1000000)."""
    return min(Fraction(repr(value)).denominator, 10**17)


def _exact(comps, rows_mask, z, n, multi, target, table: _Table, mixed: bool) -> np.ndarray:
    """Exact subset-sum test for the masked rows, once per distinct (target, multi-state entries)."""
    rows = np.flatnonzero(rows_mask)
    entry_row = comps.row
    sel = multi & rows_mask[entry_row]
    ez, en, erow = z[sel], n[sel], entry_row[sel]
    local = np.searchsorted(rows, erow)
    k_max = int(np.bincount(local, minlength=len(rows)).max())
    pos = np.arange(len(erow)) - np.searchsorted(local, local)  # position within its row
    key = np.full((len(rows), 1 + 2 * k_max), -1, dtype=np.int64)
    key[:, 0] = target[rows]
    key[local, 1 + 2 * pos] = ez
    key[local, 2 + 2 * pos] = en
    inverse, first = _distinct_rows(key)
    if len(_ANSWERS) > _MAX_CACHE:
        _ANSWERS.clear()
    answers = np.empty(len(first), dtype=bool)
    for i, problem in enumerate(map(tuple, key[first].tolist())):
        found = _ANSWERS.get((table.key, mixed, problem))
        if found is None:
            found = _ANSWERS[(table.key, mixed, problem)] = _solve(problem, table, mixed)
        answers[i] = found
    return answers[inverse]


_ANSWERS: dict[tuple, bool] = {}  # solved problems, shared by every call (features are recomputed often)


def _distinct_rows(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group identical rows of an int64 matrix: (group of each row, first row of each group).

    Columns are folded pairwise into dense codes (a hash join, no lexicographic sort of rows).
    """
    code = np.zeros(len(key), dtype=np.int64)
    for col in key.T:
        col_code, col_uniques = pd.factorize(col)
        code, _ = pd.factorize(code * len(col_uniques) + col_code)
    _, first = np.unique(code, return_index=True)
    return code, first


def _solve(key: tuple[int, ...], table: _Table, mixed: bool) -> bool:
    """Is ``key[0]`` a sum of one reachable total (offset from its minimum) per (z, n) entry?"""
    target = key[0]
    entries = [_sumset(table, zz, nn, mixed) for zz, nn in zip(key[1::2], key[2::2], strict=True) if zz >= 0]
    entries.sort(key=lambda e: len(e[0]))
    if not mixed:  # few totals per entry, possibly far apart: sparse sets, pruned by what remains
        room = list(itertools.accumulate(e[0][-1] for e in reversed(entries)))[::-1][1:] + [0]
        reach = {0}
        for (pos, _), left in zip(entries, room, strict=True):
            reach = {r + t for r in reach for t in pos if target - left <= r + t <= target}
            if not reach:
                return False
        return target in reach
    # dense totals: bitsets (bit i set when total i is reachable), starting from the largest set
    mask = (1 << (target + 1)) - 1
    acc = entries[-1][1] & mask
    for pos, _ in entries[:-1]:
        bits = 0
        for t in pos:
            if t > target:
                break
            bits |= acc << t
        acc = bits & mask
        if not acc:
            return False
    return bool((acc >> target) & 1)


_SUMSETS: dict[tuple, tuple[tuple[int, ...], int]] = {}


def _sumset(table: _Table, z: int, n: int, mixed: bool) -> tuple[tuple[int, ...], int]:
    """Reachable total charges of ``n`` atoms of element ``z`` (ascending offsets from the lowest
    total), and the same as a bitset."""
    key = (table.key, z, n, mixed)
    found = _SUMSETS.get(key)
    if found is None:
        offsets = [s - table.states[z][0] for s in table.states[z]]
        positions = _nfold(tuple(offsets), n) if mixed else tuple(n * o for o in offsets)
        bits = 0
        if mixed:
            flags = np.zeros(positions[-1] + 1, dtype=bool)
            flags[list(positions)] = True
            bits = int.from_bytes(np.packbits(flags, bitorder="little").tobytes(), "little")
        found = (positions, bits)
        if len(_SUMSETS) > _MAX_CACHE:
            _SUMSETS.clear()
        _SUMSETS[key] = found
    return found


def _nfold(offsets: tuple[int, ...], n: int) -> tuple[int, ...]:
    """Distinct sums of ``n`` values drawn with repetition from ``offsets`` (which include 0).

    With 0 among the values, ``x`` is such a sum exactly when at most ``n`` positive values add
    up to ``x``, i.e. when ``m(x) <= n`` for the fewest-coins function ``m`` of coin change; ``m``
    is tabulated once per element (:func:`_fewest_coins`), so this costs one numpy pass per ``n``.
    """
    g = math.gcd(*offsets)
    coins = tuple(sorted({o // g for o in offsets if o > 0}))
    if not coins:
        return (0,)
    table, a, bound = _fewest_coins(coins)
    x = np.arange(n * a + 1)
    # beyond ``bound`` a fewest-coins sum always contains the largest coin: m(x) = m(x - a) + 1
    j = np.where(x > bound, -(-(x - bound) // a), 0)
    base = x - j * a
    fewest = np.where(base >= 0, table[np.maximum(base, 0)] + j, _NEVER)
    return tuple((np.flatnonzero(fewest <= n) * g).tolist())


_NEVER = 1 << 40


@functools.cache
def _fewest_coins(coins: tuple[int, ...]) -> tuple[np.ndarray, int, int]:
    """Fewest coins summing to each ``x`` in ``[0, bound]`` (``_NEVER`` if impossible).

    In a fewest-coins sum each coin ``c`` smaller than the largest ``a`` appears fewer than ``a``
    times (``a`` copies of ``c`` could be swapped for ``c`` copies of ``a``), so above
    ``bound = (a - 1) * sum(c < a)`` the largest coin is always used.
    """
    a = coins[-1]
    bound = (a - 1) * sum(c for c in coins if c < a)
    table = np.full(bound + 1, _NEVER, dtype=np.int64)
    table[0] = 0
    for x in range(1, bound + 1):
        table[x] = min([int(table[x - c]) for c in coins if c <= x] + [_NEVER - 1]) + 1
    return table, a, bound
