"""Enumerate the compositions of a chemical space lazily, in chunks, without materialising strings.

Two kinds of space:

- :class:`ElementSpace`: every reduced integer formula over a set of elements, e.g. all compositions
  of Li, Fe, Mn, P, O with 2 to 4 elements and at most 20 atoms per formula unit (``LiFePO4``,
  ``Fe2O3``, ``Li3Mn2P5O12``...). Each composition appears once: the element subset is fixed and
  the atom counts have no common divisor.
- :class:`StoichiometrySpace`: explicit integer ranges per element, e.g. ``Li 0-2, Fe 1, P 1,
  O 3-5``. An element whose range includes 0 may be absent. Multiples of one ratio (``LiFePO4`` and
  ``Li2Fe2P2O8``) are kept once, as the smallest multiple inside the ranges.

Both spaces are a deterministic sequence of *raw indices* ``0 .. n_raw-1``; ``block(start, stop)``
turns any range of raw indices into a :class:`~matloop.io.formula.Compositions` (CSR, atomic
numbers ascending, integer amounts) by unranking the indices with numpy (the combinatorial number
system for element subsets and atom counts, mixed radix for ranges), then dropping the rows that
are not canonical (common divisor, too many atoms...). A chunk therefore holds *at most*
``stop - start`` compositions, any chunk can be produced on its own (by a Dask worker, say), and
memory stays that of one chunk however large the space.

Formula strings are made only when asked (:func:`integer_formulas`), for the few rows kept.
"""

from __future__ import annotations

import functools
import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from matloop.errors import InputError, error_table
from matloop.io.elements import ATOMIC_NUMBER, SYMBOLS
from matloop.io.formula import Compositions

__all__ = [
    "DEFAULT_CHUNK",
    "ChemicalSpace",
    "ElementSpace",
    "StoichiometrySpace",
    "enumerate_compositions",
    "integer_formulas",
    "parse_elements",
    "parse_ranges",
]

#: raw indices per chunk: about 100 MB of magpie features at most
DEFAULT_CHUNK = 100_000
_MAX_RAW = 2**62


class ChemicalSpace(ABC):
    """A finite, ordered set of compositions addressed by raw index (see the module docstring)."""

    @property
    @abstractmethod
    def n_raw(self) -> int:
        """Size of the raw index space (an upper bound on the number of compositions)."""

    @property
    @abstractmethod
    def elements(self) -> tuple[str, ...]:
        """The elements of the space, by atomic number."""

    @abstractmethod
    def block(self, start: int, stop: int, return_index: bool = False):
        """The compositions of raw indices ``start:stop``, in order (at most ``stop - start``);
        with ``return_index=True`` also the raw index of each (a global, chunking-independent id)."""

    def bounds(self, chunk_size: int = DEFAULT_CHUNK) -> list[tuple[int, int]]:
        """Raw index ranges of the chunks (the unit of work, in process or on a cluster)."""
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        return [(s, min(s + chunk_size, self.n_raw)) for s in range(0, self.n_raw, chunk_size)]

    def chunks(self, chunk_size: int = DEFAULT_CHUNK) -> Iterator[Compositions]:
        """Compositions chunk by chunk (lazily; chunks without compositions are skipped)."""
        for start, stop in self.bounds(chunk_size):
            comps = self.block(start, stop)
            if len(comps):
                yield comps

    def count(self, chunk_size: int = 1_000_000) -> int:
        """Exact number of compositions (counts chunk by chunk; nothing is kept)."""
        return sum(len(c) for c in self.chunks(chunk_size))

    def __len__(self) -> int:
        return self.count()


# ----------------------------------------------------------------------------- combinatorics
@functools.lru_cache(maxsize=64)
def _binomial_table(n: int, k: int) -> np.ndarray:
    """``table[c, i] = C(c, i)`` for ``c < n``, ``i <= k`` (int64; callers keep values < 2**62)."""
    table = np.zeros((max(n, 1), k + 1), dtype=np.int64)
    for c in range(n):
        for i in range(min(c, k) + 1):
            table[c, i] = math.comb(c, i)
    table.flags.writeable = False
    return table


def _unrank_combinations(rank: np.ndarray, n: int, k: int) -> np.ndarray:
    """The ``k``-subsets of ``{0..n-1}`` with the given colex ranks, as ascending rows.

    Colex rank of ``c_1 < ... < c_k`` is ``sum_i C(c_i, i)``; each ``c_i`` is found, from ``i = k``
    down, as the largest ``c`` with ``C(c, i) <= remaining rank`` (a vectorised ``searchsorted``).
    """
    out = np.empty((len(rank), k), dtype=np.int64)
    table = _binomial_table(n, k)
    r = np.asarray(rank, dtype=np.int64).copy()
    for i in range(k, 0, -1):
        c = np.searchsorted(table[:, i], r, side="right") - 1
        out[:, i - 1] = c
        r -= table[c, i]
    return out


def _to_compositions(z: np.ndarray, amounts: np.ndarray) -> Compositions:
    """CSR compositions from ``(n, s)`` atomic numbers (ascending per row) and amounts; zero amounts
    are dropped."""
    present = amounts > 0
    counts = present.sum(axis=1)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return Compositions(indptr, z[present].astype(np.int16), amounts[present].astype(np.float64))


def _concat(parts: list[Compositions]) -> Compositions:
    if not parts:
        return Compositions(np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int16), np.zeros(0))
    if len(parts) == 1:
        return parts[0]
    offsets = np.cumsum([0] + [int(p.indptr[-1]) for p in parts[:-1]])
    indptr = np.concatenate([[0]] + [p.indptr[1:] + o for p, o in zip(parts, offsets, strict=True)])
    return Compositions(indptr.astype(np.int64), np.concatenate([p.z for p in parts]),
                        np.concatenate([p.amount for p in parts]))


def _elements(symbols: Sequence[str], where: str = "elements") -> tuple[str, ...]:
    records = [{"row": 0, "column": where, "value": s, "reason": "not an element symbol (case-sensitive)"}
               for s in symbols if s not in ATOMIC_NUMBER]
    if records:
        raise InputError(f"unknown element symbol in {where}", error_table(records))
    dupes = sorted({s for s in symbols if list(symbols).count(s) > 1})
    if dupes:
        raise InputError(f"{where}: elements given more than once: {', '.join(dupes)}")
    return tuple(sorted(symbols, key=ATOMIC_NUMBER.__getitem__))


# ----------------------------------------------------------------------------- element spaces
class ElementSpace(ChemicalSpace):
    """All reduced integer formulas over ``elements`` with ``min_elements..max_elements`` distinct
    elements and at most ``max_atoms`` atoms per formula unit.

    Raw indices run over element subsets (by size, then colex order) times atom-count patterns:
    the ``s``-part patterns with total at most ``max_atoms`` correspond one to one to the
    ``s``-subsets of ``{1..max_atoms}`` (their partial sums), so there are ``C(max_atoms, s)`` of
    them; a pattern whose counts share a divisor is dropped in :meth:`block`.

    Parameters
    ----------
    elements : sequence of str
    max_atoms : int
        Largest number of atoms per formula unit (sum of the integer counts).
    max_elements : int, optional
        Most distinct elements per composition (default: all of them, at most ``max_atoms``).
    min_elements : int
        Fewest distinct elements (default 2: pure elements are rarely what one screens for).
    """

    def __init__(self, elements: Sequence[str], max_atoms: int = 20, max_elements: int | None = None,
                 min_elements: int = 2):
        self._elements = _elements(list(elements))
        m = len(self._elements)
        if m == 0:
            raise InputError("give at least one element")
        max_atoms = int(max_atoms)
        if max_atoms < 1:
            raise InputError(f"max_atoms must be at least 1, got {max_atoms}")
        hi = min(m, max_atoms) if max_elements is None else int(max_elements)
        lo = int(min_elements)
        if not 1 <= lo <= hi:
            raise InputError(f"need 1 <= min_elements <= max_elements, got {lo} and {hi}")
        if lo > min(m, max_atoms):
            raise InputError(f"min_elements={lo} but only {m} elements and {max_atoms} atoms are allowed")
        self.max_atoms = max_atoms
        self.min_elements = lo
        self.max_elements = min(hi, m, max_atoms)
        self._z = np.array([ATOMIC_NUMBER[e] for e in self._elements], dtype=np.int64)
        sizes = list(range(self.min_elements, self.max_elements + 1))
        blocks = [math.comb(m, s) * math.comb(max_atoms, s) for s in sizes]
        if sum(blocks) >= _MAX_RAW:
            raise InputError(f"the space has about {sum(blocks):.3g} raw compositions: too many to enumerate; "
                             "use fewer elements, atoms or elements per composition")
        self._sizes = sizes
        self._offsets = np.concatenate([[0], np.cumsum(blocks)]).astype(np.int64)

    def __repr__(self) -> str:
        return (f"ElementSpace({'-'.join(self._elements)}, max_atoms={self.max_atoms}, "
                f"elements per composition {self.min_elements}..{self.max_elements})")

    @property
    def elements(self) -> tuple[str, ...]:
        return self._elements

    @property
    def n_raw(self) -> int:
        return int(self._offsets[-1])

    def block(self, start: int, stop: int, return_index: bool = False):
        start, stop = max(int(start), 0), min(int(stop), self.n_raw)
        parts, index = [], []
        for j, s in enumerate(self._sizes):
            lo, hi = max(start, int(self._offsets[j])), min(stop, int(self._offsets[j + 1]))
            if lo >= hi:
                continue
            local = np.arange(lo, hi, dtype=np.int64) - self._offsets[j]
            n_patterns = math.comb(self.max_atoms, s)
            subset = _unrank_combinations(local // n_patterns, len(self._elements), s)
            marks = _unrank_combinations(local % n_patterns, self.max_atoms, s) + 1  # partial sums
            counts = np.diff(marks, axis=1, prepend=0)
            keep = np.gcd.reduce(counts, axis=1) == 1
            parts.append(_to_compositions(self._z[subset[keep]], counts[keep]))
            index.append(np.arange(lo, hi, dtype=np.int64)[keep])
        comps = _concat(parts)
        if return_index:
            return comps, np.concatenate(index) if index else np.zeros(0, dtype=np.int64)
        return comps


# ----------------------------------------------------------------------------- stoichiometry ranges
class StoichiometrySpace(ChemicalSpace):
    """Integer atom counts per element within explicit ranges.

    Parameters
    ----------
    ranges : mapping of element to int or (low, high)
        Inclusive integer ranges of atoms per formula unit; ``0`` in a range makes the element
        optional. ``{"Li": (0, 2), "Fe": 1, "P": 1, "O": (3, 5)}``.
    max_atoms : int, optional
        Also cap the total number of atoms.
    min_elements, max_elements : int, optional
        Bounds on the number of distinct elements present (default 1 and all).

    Rows that are multiples of a ratio are kept once: as the smallest multiple that lies in the
    ranges (``Li2Fe2P2O8`` is dropped when ``LiFePO4`` is in range, kept when it is not).
    """

    def __init__(self, ranges: Mapping[str, int | tuple[int, int]], max_atoms: int | None = None,
                 min_elements: int = 1, max_elements: int | None = None):
        records, parsed = [], {}
        for el, value in ranges.items():
            lo, hi = (value, value) if np.isscalar(value) else tuple(value)
            if not all(float(v).is_integer() for v in (lo, hi)) or not 0 <= int(lo) <= int(hi) or int(hi) == 0:
                records.append({"row": 0, "column": "ranges", "value": f"{el}={value}",
                                "reason": "need whole numbers 0 <= low <= high, high >= 1"})
                continue
            parsed[el] = (int(lo), int(hi))
        if records:
            raise InputError("bad stoichiometry range", error_table(records))
        self._elements = _elements(list(parsed), "ranges")
        self._lo = np.array([parsed[e][0] for e in self._elements], dtype=np.int64)
        self._hi = np.array([parsed[e][1] for e in self._elements], dtype=np.int64)
        self._z = np.array([ATOMIC_NUMBER[e] for e in self._elements], dtype=np.int64)
        self._radix = self._hi - self._lo + 1
        n = math.prod(int(r) for r in self._radix)
        if n >= _MAX_RAW:
            raise InputError(f"the ranges span about {n:.3g} combinations: too many to enumerate")
        self._n = n
        self.max_atoms = None if max_atoms is None else int(max_atoms)
        self.min_elements = int(min_elements)
        self.max_elements = len(self._elements) if max_elements is None else int(max_elements)

    def __repr__(self) -> str:
        parts = [f"{e}={lo}" if lo == hi else f"{e}={lo}:{hi}"
                 for e, lo, hi in zip(self._elements, self._lo, self._hi, strict=True)]
        return f"StoichiometrySpace({', '.join(parts)})"

    @property
    def elements(self) -> tuple[str, ...]:
        return self._elements

    @property
    def n_raw(self) -> int:
        return self._n

    def block(self, start: int, stop: int, return_index: bool = False):
        start, stop = max(int(start), 0), min(int(stop), self._n)
        index = np.arange(start, stop, dtype=np.int64)
        digits = np.empty((len(index), len(self._radix)), dtype=np.int64)
        rest = index
        for j in range(len(self._radix) - 1, -1, -1):  # last element varies fastest
            digits[:, j] = rest % self._radix[j]
            rest = rest // self._radix[j]
        counts = self._lo + digits
        present = counts > 0
        n_el = present.sum(axis=1)
        keep = (n_el >= self.min_elements) & (n_el <= self.max_elements) & (n_el > 0)
        if self.max_atoms is not None:
            keep &= counts.sum(axis=1) <= self.max_atoms
        g = np.gcd.reduce(counts, axis=1)
        ratio = counts // np.maximum(g, 1)[:, None]
        need = np.where(ratio > 0, -(-self._lo // np.maximum(ratio, 1)), 1)  # ceil(low / ratio)
        smallest = np.maximum(need.max(axis=1), 1)
        keep &= g == smallest  # the smallest multiple of the ratio inside the ranges
        comps = _to_compositions(np.broadcast_to(self._z, counts.shape)[keep], counts[keep])
        return (comps, index[keep]) if return_index else comps


# ----------------------------------------------------------------------------- helpers
def enumerate_compositions(elements: Sequence[str] | None = None, max_atoms: int = 20,
                           max_elements: int | None = None, min_elements: int = 2,
                           ranges: Mapping[str, int | tuple[int, int]] | None = None,
                           chunk_size: int = DEFAULT_CHUNK) -> Iterator[Compositions]:
    """Chunks of the compositions of an element space or of stoichiometry ranges (give one)."""
    if (elements is None) == (ranges is None):
        raise InputError("give either elements or stoichiometry ranges")
    if ranges is not None:
        space: ChemicalSpace = StoichiometrySpace(ranges, max_atoms=max_atoms, min_elements=1,
                                                  max_elements=max_elements)
    else:
        space = ElementSpace(elements, max_atoms, max_elements, min_elements)
    return space.chunks(chunk_size)


def parse_elements(text: str) -> list[str]:
    """``"Li,Fe,Mn,P,O"`` (commas or spaces) to a list of symbols; unknown symbols raise InputError."""
    symbols = [s for s in text.replace(",", " ").split() if s]
    _elements(symbols, "--elements")
    return symbols


def parse_ranges(text: str) -> dict[str, tuple[int, int]]:
    """``"Li=0:2,Fe=1,P=1,O=3:5"`` to ``{"Li": (0, 2), "Fe": (1, 1), ...}`` (``-`` also separates)."""
    out, records = {}, []
    for item in (s.strip() for s in text.replace(";", ",").split(",")):
        if not item:
            continue
        el, _, rng = item.partition("=")
        bounds = rng.replace("-", ":").split(":")
        try:
            lo, hi = (int(bounds[0]), int(bounds[-1])) if len(bounds) in (1, 2) else (None, None)
        except ValueError:
            lo = hi = None
        if not _ or lo is None:
            records.append({"row": 0, "column": "--ranges", "value": item,
                            "reason": "write ELEMENT=N or ELEMENT=LOW:HIGH (whole numbers)"})
            continue
        out[el.strip()] = (lo, hi)
    if records:
        raise InputError("could not read the stoichiometry ranges", error_table(records))
    return out


def integer_formulas(comps: Compositions, order: str = "electronegativity") -> list[str]:
    """Formula strings with integer counts (``LiFePO4``, ``Fe2O3``), for the few rows one reports.

    ``order="electronegativity"`` lists elements by Pauling electronegativity as pymatgen does
    (cations first); ``"z"`` by atomic number. Amounts that are not whole are written as ``%g``.
    """
    if order not in ("electronegativity", "z"):
        raise ValueError(f"order must be 'electronegativity' or 'z', got {order!r}")
    z = comps.z.astype(np.int64)
    if order == "electronegativity":
        from matloop.represent.composition_data import column

        x = column("pauling_electronegativity", impute=None)
        key = np.where(np.isnan(x[z]), 99.0, x[z]) * 1000 + z
    else:
        key = z.astype(float)
    row = comps.row
    perm = np.lexsort((key, row))
    amounts = comps.amount[perm]
    text = [SYMBOLS[e] + ("" if a == 1 else (str(int(a)) if float(a).is_integer() else f"{a:g}"))
            for e, a in zip(z[perm].tolist(), amounts.tolist(), strict=True)]
    ip = comps.indptr.tolist()
    return ["".join(text[ip[i]:ip[i + 1]]) for i in range(len(comps))]
