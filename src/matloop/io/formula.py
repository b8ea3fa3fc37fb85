"""A vectorised chemical-formula parser.

``parse_formulas`` turns a column of formula strings into a :class:`Compositions` object: a compact
sparse (CSR) table of element amounts, one row per input, ready for vectorised featurizers.

Accepted syntax
---------------
- Element symbols, case-checked (``Co`` is cobalt, ``CO`` is carbon monoxide, ``co`` is an error).
- Integer, decimal (``C0.000953``) and scientific (``C9.53e-4``) amounts; a missing amount is 1.
- Parentheses, brackets and braces, nested: ``Ca3(PO4)2``, ``[Co(NH3)6]Cl3``.
- Hydrates and adducts joined by ``·`` ``•`` ``*`` or by ``.`` followed by a letter or a digit group
  that starts a new unit: ``CuSO4·5H2O``, ``CuSO4*5H2O``, ``Na2CO3.H2O``. A ``.`` between digits is
  always a decimal point, so write ``CuSO4·5H2O`` rather than the ambiguous ``CuSO4.5H2O``
  (which reads as ``O`` x 4.5 followed by ``H2O``).
- Whitespace anywhere is ignored (``Hf2 Si2 Te2``).
- The organic cations of hybrid perovskites written as capital-letter abbreviations (``MAPbI3``,
  ``(FA0.8MA0.2)PbI3``; MA, FA, GA, EA, DMA, BA, PEA) are expanded into their atoms, see
  :mod:`matloop.io.formula_abbrev` (case matters: ``GA`` is guanidinium, ``Ga`` gallium).

Rejected, each with a reason: empty strings, charges (``Fe2+``, ``O2-``, ``Fe^3+``), negative amounts
(``Fe-0.5``) and variable ones (``O7-x``), unknown or mis-cased symbols, zero or non-finite amounts,
amounts above ``MAX_AMOUNT`` (10^9 atoms of one element per formula unit: a typo or an overflow such as
``Fe1e308O1e308``, whose total is infinite and whose fractions would all be NaN),
unparseable numbers, unbalanced, mismatched, empty or absurdly deep brackets, control characters, values
that are not text, and cells longer than ``MAX_FORMULA_CHARS`` (checked before any parsing).

Speed
-----
Plain formulas (letters, digits and decimal points only) are parsed for the whole column at once with
numpy on the raw bytes; only formulas with brackets, hydrates, exponents or errors go through a small
recursive parser, once per distinct string.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from matloop.errors import InputError, error_table, shorten
from matloop.io.elements import _Z_BY_KEY, ATOMIC_NUMBER, N_ELEMENTS, SYMBOLS
from matloop.io.formula_abbrev import ORGANIC_CATIONS, abbreviation_at, unknown_symbol_hint

if TYPE_CHECKING:  # parse_formulas imports it: _parse_unique and Compositions are numpy-only
    import pandas as pd

__all__ = ["MAX_FORMULA_CHARS", "Compositions", "parse_formulas", "parse_formula"]

_SEP = 0x1F  # unit separator: joins the column into one buffer
_MAX_SAFE_DIGITS = 15  # integer mantissas below 2**53 convert exactly
#: largest amount of one element in a formula unit; beyond it a formula is a typo or an overflow
#: (``Fe1e308O1e308`` sums to inf and every fraction would be NaN). Far above any real formula unit
#: (supercells, proteins: ~1e5 atoms), far below overflow even when squared in featurizer statistics.
MAX_AMOUNT = 1e9
MAX_FORMULA_CHARS = 1000  #: longest formula cell parsed; a steel with 6-decimal amounts has ~100-250 characters


@dataclass(frozen=True)
class Compositions:
    """Element amounts of many materials in compressed sparse row form.

    Row ``i`` holds elements ``z[indptr[i]:indptr[i+1]]`` (atomic numbers, ascending) with the
    amounts ``amount[indptr[i]:indptr[i+1]]`` exactly as written (repeated elements summed).
    """

    indptr: np.ndarray
    z: np.ndarray
    amount: np.ndarray

    def __len__(self) -> int:
        return len(self.indptr) - 1

    @property
    def row(self) -> np.ndarray:
        """Row index of every stored entry."""
        return np.repeat(np.arange(len(self)), np.diff(self.indptr))

    @property
    def n_elements(self) -> np.ndarray:
        """Number of distinct elements per row."""
        return np.diff(self.indptr)

    @property
    def total(self) -> np.ndarray:
        """Sum of the amounts per row (atoms per formula unit as written)."""
        return np.bincount(self.row, weights=self.amount, minlength=len(self))

    @property
    def fraction(self) -> np.ndarray:
        """Atomic fraction of every stored entry (rows sum to 1)."""
        return self.amount / np.repeat(self.total, self.n_elements)

    def to_dense(self, normalize: bool = True) -> np.ndarray:
        """An ``(n, 119)`` matrix indexed by atomic number; column 0 is unused."""
        out = np.zeros((len(self), N_ELEMENTS + 1))
        out[self.row, self.z] = self.fraction if normalize else self.amount
        return out

    def take(self, rows: Sequence[int] | np.ndarray) -> Compositions:
        """The compositions of the given rows, in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        counts = np.diff(self.indptr)[rows]
        indptr = np.concatenate([[0], np.cumsum(counts)])
        src = np.repeat(self.indptr[rows] - indptr[:-1], counts) + np.arange(indptr[-1])
        return Compositions(indptr, self.z[src], self.amount[src])

    def formulas(self, decimals: int = 6) -> list[str]:
        """Normalised formula strings (elements by atomic number, fractional amounts)."""
        frac = np.round(self.fraction, decimals)
        parts = [f"{SYMBOLS[z]}{a:g}" for z, a in zip(self.z.tolist(), frac.tolist(), strict=True)]
        ip = self.indptr.tolist()
        return ["".join(parts[ip[i] : ip[i + 1]]) for i in range(len(self))]

    def chemical_systems(self) -> list[str]:
        """Element sets such as ``Fe-O`` (alphabetical), for grouping by chemical system."""
        syms = [SYMBOLS[z] for z in self.z.tolist()]
        ip = self.indptr.tolist()
        return ["-".join(sorted(syms[ip[i] : ip[i + 1]])) for i in range(len(self))]


class _ParseError(Exception):
    """A reason why one formula cannot be read."""


def parse_formula(text: str) -> dict[str, float]:
    """Parse one formula into ``{symbol: amount}``; raises :class:`InputError` when invalid."""
    comps = parse_formulas([text])
    return {SYMBOLS[z]: float(a) for z, a in zip(comps.z, comps.amount, strict=True)}


def parse_formulas(
    values: Sequence[object] | pd.Series | np.ndarray,
    column: str = "formula",
    rows: Sequence[int] | np.ndarray | None = None,
    errors: str = "raise",
) -> Compositions | tuple[Compositions, pd.DataFrame]:
    """Parse a column of formulas.

    Parameters
    ----------
    values : sequence of str
        The formulas; ``None``/NaN count as empty.
    column : str
        Column name used in error reports.
    rows : sequence of int, optional
        Row numbers used in error reports (default: 1-based positions).
    errors : {"raise", "collect"}
        ``"raise"`` raises :class:`InputError` listing every bad row; ``"collect"`` returns
        ``(compositions, error_table)`` where bad rows are empty compositions.
    """
    if errors not in ("raise", "collect"):
        raise ValueError(f"errors must be 'raise' or 'collect', got {errors!r}")
    import pandas as pd

    from matloop.io.factorize import factorize_exact

    series = pd.Series(values, dtype=object) if not isinstance(values, pd.Series) else values
    codes, uniques = factorize_exact(series)
    raw, text = uniques.tolist(), pd.api.types.infer_dtype(uniques, skipna=False) == "string"  # (C loops)
    uniq = raw if text else [u if isinstance(u, str) else str(u) for u in raw]  # numbers, bytes...: read as text
    lengths = np.fromiter(map(len, uniq), dtype=np.int64, count=len(uniq))
    too_long = {int(k): int(lengths[k]) for k in np.flatnonzero(lengths > MAX_FORMULA_CHARS)}  # never parsed
    parsed, reasons = _parse_unique([u if k not in too_long else "" for k, u in enumerate(uniq)] if too_long
                                    else uniq)  # (a 10 MB cell: 1 GB)
    for k, u in enumerate([] if text else raw):
        if not isinstance(u, str):  # a number or other object where a formula belongs
            reasons[k] = f"expected a formula, found {type(u).__name__} {shorten(repr(u))}"
    reasons.update({k: f"formula too long: {m:,} characters (at most {MAX_FORMULA_CHARS:,})"
                    for k, m in too_long.items()})
    bad_unique = np.zeros(len(uniq) + 1, dtype=bool)  # last slot: missing values (code -1)
    bad_unique[-1] = True
    for k in reasons:
        bad_unique[k] = True
    bad_rows = bad_unique[codes]
    if bad_rows.any():
        row_labels = np.arange(1, len(series) + 1) if rows is None else np.asarray(rows)
        records = []
        for i in np.flatnonzero(bad_rows):
            code = codes[i]
            value = series.iloc[i]
            reason = "empty formula" if code < 0 else reasons[code]
            records.append({"row": row_labels[i], "column": column, "value": value, "reason": reason})
        table = error_table(records)
        if errors == "raise":
            raise InputError(f"Could not read column '{column}'", table)
    else:
        table = error_table()
    expanded = parsed.take(np.where(codes < 0, len(uniq), codes))
    if errors == "collect":
        return expanded, table
    return expanded


def _parse_unique(uniq: list[str], fast: tuple | None = None) -> tuple[Compositions, dict[int, str]]:
    """Parse distinct strings (``fast``: what :func:`_parse_fast` made of them, if known); returns
    compositions (plus one trailing empty row) and reasons. Each string is parsed on its own."""
    z_f, a_f, row_f, failed = _parse_fast(uniq) if fast is None else fast
    slow_idx = np.flatnonzero(failed)
    keep = ~failed[row_f]
    rows_all, z_all, a_all = [row_f[keep]], [z_f[keep]], [a_f[keep]]
    reasons: dict[int, str] = {}
    for k in slow_idx.tolist():
        try:
            counts = _parse_slow(uniq[k])
        except _ParseError as exc:
            reasons[k] = str(exc)
            continue
        rows_all.append(np.full(len(counts), k))
        z_all.append(np.array([ATOMIC_NUMBER[s] for s in counts], dtype=np.int16))
        a_all.append(np.array(list(counts.values()), dtype=np.float64))
    comps = _assemble(np.concatenate(rows_all), np.concatenate(z_all), np.concatenate(a_all), len(uniq) + 1)
    over = ~np.isfinite(comps.amount) | (comps.amount > MAX_AMOUNT)  # repeated elements already summed
    if over.any():
        entry_row = comps.row
        for e in np.flatnonzero(over)[::-1]:  # the first offending element of each row wins
            reasons[int(entry_row[e])] = (
                f"amount of {SYMBOLS[comps.z[e]]} is {comps.amount[e]:g}; at most {MAX_AMOUNT:g} atoms of an "
                "element per formula unit (a typo? write the formula unit, e.g. Fe2O3, not a sample's atom count)")
        keep = ~np.isin(entry_row, entry_row[over])
        comps = _assemble(entry_row[keep], comps.z[keep], comps.amount[keep], len(uniq) + 1)
    return comps, reasons


def _parse_fast(strings: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Parse plain formulas (letters, digits, dots, spaces) with numpy over one byte buffer.

    Returns atomic numbers, amounts, the row of each token, and a boolean mask of rows that need
    the slow parser (brackets, hydrates, exponents, non-ASCII text, and every kind of error).
    Tokens of such rows are still returned and must be discarded by the caller.
    """
    n = len(strings)
    if n == 0:
        return np.zeros(0, np.int16), np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
    text = "\x1f".join(strings) + "\x1f"
    if text.count("\x1f") != n:  # a separator inside a value: neutralise it, the slow path rejects it
        text = "\x1f".join(s.replace("\x1f", "\x00") for s in strings) + "\x1f"
    buf = np.frombuffer(text.encode("utf-8", errors="surrogatepass"), dtype=np.uint8)
    buf = buf[(buf != 32) & (buf != 9)] if " " in text or "\t" in text else buf  # whitespace is insignificant
    is_sep = buf == _SEP
    row_of = np.cumsum(is_sep, dtype=np.int32) - is_sep  # row of each byte (int32: half the bytes of int64)
    upper = (buf >= 65) & (buf <= 90)
    lower = (buf >= 97) & (buf <= 122)
    digit = (buf >= 48) & (buf <= 57)
    dot = buf == 46
    failed = np.zeros(n, dtype=bool)
    prev_upper = np.concatenate([[False], upper[:-1]])
    next_digit = np.concatenate([digit[1:], [False]])
    # bytes sending their row to the slow parser: brackets, hydrates, non-ASCII...; a lowercase letter not right
    # after an uppercase one (exponent 'e', 'Fe2o3', unknown 3-letter symbols); a dot not followed by a digit
    odd = ~(upper | lower | digit | dot | is_sep)
    odd |= lower & ~prev_upper
    odd |= dot & ~next_digit
    failed[row_of[odd]] = True

    # each row must start with an uppercase letter
    starts = np.concatenate([[0], np.flatnonzero(is_sep)[:-1] + 1])
    failed |= ~upper[np.minimum(starts, len(buf) - 1)] | is_sep[np.minimum(starts, len(buf) - 1)]

    # element tokens
    el_pos = np.flatnonzero(upper)
    second = np.where(lower[after := np.minimum(el_pos + 1, len(buf) - 1)], buf[after], 0)
    key = buf[el_pos].astype(np.int64) + (second.astype(np.int64) << 8)
    z = _Z_BY_KEY[key]  # keys of an uppercase and an optional lowercase letter are below 2**15
    known = z > 0
    failed[row_of[el_pos[~known]]] = True
    tok_row = row_of[el_pos]

    # numbers: maximal runs of digits/dots, each belongs to the element token before it
    numch = digit | dot
    run_start = np.flatnonzero(numch & ~np.concatenate([[False], numch[:-1]]))
    run_end = np.flatnonzero(numch & ~np.concatenate([numch[1:], [False]])) + 1
    amount = np.ones(len(el_pos))
    if len(run_start):
        owner = np.cumsum(upper, dtype=np.int32)[run_start] - 1  # token index preceding the number
        lengths = run_end - run_start
        dots = np.cumsum(dot, dtype=np.int32)
        n_dots = dots[run_end - 1] - dots[run_start] + dot[run_start]  # dots within each run
        # digit runs may not be too long to convert exactly, nor contain two dots
        # a number must belong to an element of its own row (a row may start with a digit, as in
        # '2H2O': that row goes to the slow path and its number must not land on the previous row)
        owner_row = tok_row[np.maximum(owner, 0)] if len(tok_row) else np.full(len(owner), -1)
        orphan = (owner < 0) | (owner_row != row_of[run_start])
        bad = (n_dots > 1) | (lengths - n_dots > _MAX_SAFE_DIGITS) | orphan
        failed[row_of[run_start[bad]]] = True
        values = _run_values(buf, digit, dot, run_start, run_end)
        ok = ~bad
        amount[owner[ok]] = values[ok]
    failed[tok_row[amount <= 0]] = True
    return z, amount, tok_row, failed


def _run_values(buf, digit, dot, run_start, run_end) -> np.ndarray:
    """Decimal values of digit/dot runs, exactly as ``float(str)`` gives them.

    The digits form an integer mantissa (exact below 2**53) divided by a power of ten, which IEEE
    division rounds correctly, so the result equals Python's own conversion. Runs are read a
    character position at a time; values of runs with two dots or too many digits are discarded.
    """
    lengths = run_end - run_start
    mant, after_dot = np.zeros(len(run_start)), np.zeros(len(run_start), dtype=bool)
    decimals = np.zeros(len(run_start), dtype=np.int64)
    idx = np.arange(len(run_start))
    # the j-th character of every run longer than j (a longer run than that has too many digits)
    for j in range(min(int(lengths.max(initial=0)), _MAX_SAFE_DIGITS + 2)):
        idx = idx[lengths[idx] > j] if j else idx
        char = buf[run_start[idx] + j]
        is_digit = char != 46  # a run holds digits and dots only
        d = idx[is_digit]
        mant[d] = mant[d] * 10.0 + (char[is_digit] - 48)  # exact while below 2**53
        decimals[d] += after_dot[d]
        after_dot[idx[~is_digit]] = True
    return mant / np.power(10.0, decimals)


def _assemble(rows: np.ndarray, z: np.ndarray, amount: np.ndarray, n: int) -> Compositions:
    """Sort entries by (row, z), sum repeated elements and build the CSR arrays."""
    key = rows.astype(np.int64) * 128 + z
    uniq, inv = np.unique(key, return_inverse=True)
    summed = np.bincount(inv.ravel(), weights=amount, minlength=len(uniq))
    urow = uniq // 128
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.add.at(indptr, urow + 1, 1)
    return Compositions(np.cumsum(indptr), (uniq % 128).astype(np.int16), summed)


# --------------------------------------------------------------------------- slow path
_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = frozenset(_OPEN.values())
_HYDRATE = {"·", "•", "⋅", "*", "∙"}
_CHARGE = {"+", "-", "^", "⁺", "⁻", "−"}
_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_NEGATIVE = re.compile(r"[-−](?:[0-9]|\.[0-9])")
_DIGITS = frozenset("0123456789")
_UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")
_MAX_DEPTH = 32  # deeper bracket nesting is a typo, not chemistry (and would exhaust the stack)


def _parse_slow(text: str) -> dict[str, float]:
    """Recursive-descent parser for one formula; raises _ParseError with a reason."""
    control = _CONTROL.search(text)
    if control:
        raise _ParseError(f"control character {control.group()!r} in formula")
    s = "".join(text.split())
    if not s:
        raise _ParseError("empty formula")
    _check_signs(s)
    parser = _Parser(s)
    counts = parser.formula()
    if not counts:
        raise _ParseError("no elements found")
    for sym, amt in counts.items():
        if not np.isfinite(amt):
            raise _ParseError(f"amount of {sym} is not a finite number")
        if amt <= 0:
            raise _ParseError(f"amount of {sym} is {amt:g}; amounts must be positive")
    return counts


def _check_signs(s: str) -> None:
    """Reject charges, negative amounts and variable stoichiometry, each with its own reason."""
    core = _NUMBER.sub("0", s)  # exponents such as 1e-3 are numbers, not signs
    found = [ch for ch in core if ch in _CHARGE]
    if not found:
        return
    charge = [ch for ch in found if ch in "+^⁺⁻"] or ([s[-1]] if s[-1] in "-−" else [])
    if charge:
        raise _ParseError(f"charges are not supported (found {charge[0]!r}); give the neutral formula")
    negative = _NEGATIVE.search(s)
    if negative:
        number = _NUMBER.match(s, negative.start() + 1)
        raise _ParseError(
            f"negative amount {s[negative.start():number.end()]!r}; amounts must be positive "
            "(and charges are not supported)"
        )
    raise _ParseError(
        f"{found[0]!r} inside a formula: ranges and variable amounts (such as 'O7-x') are not supported; "
        "write each amount as a number"
    )


class _Parser:
    def __init__(self, s: str):
        self.s = s
        self.i = 0
        self.last_symbol = ""

    def formula(self) -> dict[str, float]:
        """Units joined by hydrate separators, each with an optional leading multiplier."""
        total: dict[str, float] = {}
        while True:
            start = self.i
            mult = self.number() if self.at_number() else 1.0
            part = self.sequence(closing=None, depth=0)
            if not part:
                if start == 0 and self.i == len(self.s):
                    raise _ParseError(f"{self.s!r} is a number, not a formula")
                raise self.error("expected an element")
            for k, v in part.items():
                total[k] = total.get(k, 0.0) + mult * v
            if self.i >= len(self.s):
                return total
            ch = self.s[self.i]
            if ch in _HYDRATE or ch == ".":
                self.i += 1
                if self.i >= len(self.s):
                    raise _ParseError(f"nothing follows the hydrate separator {ch!r}")
                continue
            raise self.error(f"unexpected character {ch!r}")

    def sequence(self, closing: str | None, depth: int) -> dict[str, float]:
        """Elements and bracket groups up to ``closing`` (or, at top level, a separator)."""
        out: dict[str, float] = {}
        s = self.s
        while self.i < len(s):
            ch = s[self.i]
            if ch in _OPEN:
                if depth >= _MAX_DEPTH:
                    raise _ParseError(f"brackets nested more than {_MAX_DEPTH} deep")
                self.i += 1
                inner = self.sequence(_OPEN[ch], depth + 1)
                if self.i >= len(s):
                    raise _ParseError(f"unbalanced brackets: {ch!r} is never closed")
                self.i += 1
                if not inner:
                    raise _ParseError(f"empty brackets {ch + _OPEN[ch]!r}")
                mult = self.number() if self.at_number() else 1.0
                for k, v in inner.items():
                    out[k] = out.get(k, 0.0) + mult * v
            elif ch in _UPPER and (abbrev := abbreviation_at(s, self.i)) is not None:  # MA, FA, ...
                self.i += len(abbrev)
                mult = self.number() if self.at_number() else 1.0
                for k, v in ORGANIC_CATIONS[abbrev][1].items():
                    out[k] = out.get(k, 0.0) + mult * v
            elif ch in _UPPER:
                sym = self.symbol()
                mult = self.number() if self.at_number() else 1.0
                out[sym] = out.get(sym, 0.0) + mult
            elif ch in _CLOSE:
                if closing is None:
                    raise _ParseError(f"unbalanced brackets: {ch!r} has no opening bracket")
                if ch != closing:
                    raise _ParseError(f"mismatched brackets: expected {closing!r}, found {ch!r}")
                return out
            elif ch in _LOWER:
                raise _ParseError(
                    f"element symbols start with a capital letter: {s[self.i:self.i + 2]!r} "
                    "(symbols are case-sensitive)"
                )
            elif ch in _DIGITS or self.at_number():
                raise self.error("a number must follow an element or a closing bracket")
            elif closing is None:
                return out  # a hydrate separator, or a character formula() reports
            else:
                raise self.error(f"unexpected character {ch!r}")
        return out

    def at_number(self) -> bool:
        s, i = self.s, self.i
        if i >= len(s):
            return False
        return s[i] in _DIGITS or (s[i] == "." and i + 1 < len(s) and s[i + 1] in _DIGITS)

    def number(self) -> float:
        m = _NUMBER.match(self.s, self.i)
        if not m:
            raise self.error("unparseable number")
        self.i = m.end()
        nxt = self.s[self.i : self.i + 2]
        if nxt[:1] == "e" or (nxt[:1] == "." and nxt[1:] in _DIGITS and nxt[1:]):
            raise _ParseError(f"unparseable number {self.s[m.start():self.i + len(nxt)]!r}")
        return float(m.group())

    def symbol(self) -> str:
        j = self.i + 1
        while j < len(self.s) and self.s[j] in _LOWER:
            j += 1
        sym = self.s[self.i : j]
        if sym not in ATOMIC_NUMBER:
            hint = ""
            if len(sym) > 2 and sym[:2] in ATOMIC_NUMBER:
                hint = f" (did you mean {sym[:2]!r} followed by {sym[2:]!r}?)"
            elif len(sym) == 1 and (self.last_symbol + sym.lower()) in ATOMIC_NUMBER:
                hint = f" (symbols are case-sensitive: did you mean {self.last_symbol + sym.lower()!r}?)"
            else:
                hint = unknown_symbol_hint(sym, self.s, self.i)
            raise _ParseError(f"unknown element {sym!r}{hint}")
        self.i = j
        self.last_symbol = sym
        return sym

    def error(self, what: str) -> _ParseError:
        return _ParseError(f"{what} at position {self.i + 1} of {self.s!r}")
