"""SMILES as symbols for the chemical language model: tokens, exact ring encoding, grammar state.

A SMILES is split into tokens (atoms, bracket atoms, bonds, branches, ring labels). Ring-closure
digits carry no chemistry in themselves (``C1CC1`` = ``C2CC2``), so they become two kinds of
symbols: ``R`` opens a ring bond at the current atom, and ``&k`` closes the ring opened ``k``
places below the top of the stack of open rings (``&0`` the most recent). A bond written before a
ring digit (``C=1``) is part of the symbol (``=R``, ``=&0``). :func:`encode` and :func:`decode` are
exact inverses up to ring labels, crossed ring closures of fused systems included.

:class:`Walk` follows a symbol prefix and knows what may come next: the branch depth, the open
rings, and the free valence of every atom (how many more bonds it can take: C 4, N 3, O 2, bracket
atoms from their element, charge and hydrogens), which the language model turns into a mask of
allowed symbols.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from matloop.represent.molecule_smiles import require_rdkit

__all__ = ["tokenize", "encode", "decode", "symbol_info", "Walk"]

_TOKEN = re.compile(r"(\[[^\[\]]+\]|Br|Cl|%\d\d|[BCNOSPFI]|[bcnosp]|[()=#\-\\/:.*~?>$@+]|\d)")
_BONDS = frozenset({"-", "=", "#", ":", "/", "\\"})
_UNSUPPORTED = frozenset({".", "*", "~", "?", ">", "$", "@", "+"})
ATOM, BOND, OPEN, CLOSE, RING, END, BOS = range(7)
BOS_SYMBOL, END_SYMBOL = "^", "$"
MAX_OPEN_RINGS = 6
ANY_STATE = 15


def tokenize(smiles: str) -> list[str] | None:
    """SMILES tokens (``Cl``, ``[nH]``, ``%12``, ...), or ``None`` if some character is not SMILES."""
    tokens = _TOKEN.findall(smiles)
    return tokens if "".join(tokens) == smiles else None


def encode(smiles: str) -> list[str] | None:
    """Model symbols of a SMILES (ring digits become ``R`` / ``&k``), or ``None`` if unsupported.

    Unsupported: several fragments (``.``), dummy atoms, reaction and query syntax.
    """
    tokens = tokenize(smiles)
    if not tokens or any(t in _UNSUPPORTED for t in tokens):
        return None
    symbols: list[str] = []
    stack: list[int] = []
    bond = ""
    for i, tok in enumerate(tokens):
        is_label = tok[0].isdigit() or tok[0] == "%"
        if tok in _BONDS and i + 1 < len(tokens) and (tokens[i + 1][0].isdigit() or tokens[i + 1][0] == "%"):
            bond = tok
            continue
        if is_label:
            label = int(tok.lstrip("%"))
            if label in stack:
                k = len(stack) - 1 - stack.index(label)
                stack.remove(label)
                symbols.append(f"{bond}&{k}")
            else:
                stack.append(label)
                symbols.append(f"{bond}R")
            bond = ""
        else:
            symbols.append(tok)
    return None if stack else symbols


def decode(symbols: Sequence[str]) -> str:
    """SMILES of a symbol sequence: ring symbols get the smallest free ring labels."""
    out: list[str] = []
    stack: list[int] = []
    free = list(range(1, 100))
    for sym in symbols:
        if sym.endswith("R") and not sym.startswith("["):
            label = free.pop(0)
            stack.append(label)
            out.append(sym[:-1] + (str(label) if label < 10 else f"%{label:02d}"))
        elif "&" in sym and not sym.startswith("["):
            bond, k = sym.split("&")
            label = stack.pop(len(stack) - 1 - int(k))
            free.insert(int(np.searchsorted(free, label)), label)
            out.append(bond + (str(label) if label < 10 else f"%{label:02d}"))
        else:
            out.append(sym)
    return "".join(out)


_VALENCE = {"B": 3, "C": 4, "N": 3, "O": 2, "P": 5, "S": 6, "F": 1, "Cl": 1, "Br": 1, "I": 1}
_BOND_ORDER = {"-": 1, "=": 2, "#": 3, ":": 1, "/": 1, "\\": 1, "": 0}
UNLIMITED_VALENCE = 8


def symbol_info(symbol: str) -> tuple[int, int, int, int]:
    """(class, k, bond order, valence) of a symbol.

    ``k`` is the stack offset of a ring closure (-1 otherwise); the bond order is that of a bond
    symbol or of the bond written in a ring symbol (0 = unspecified, i.e. single); the valence is the
    largest usual valence of an organic-subset atom (bracket and aromatic atoms: unlimited).
    """
    if symbol == BOS_SYMBOL:
        return BOS, -1, 0, 0
    if symbol == END_SYMBOL:
        return END, -1, 0, 0
    if symbol == "(":
        return OPEN, -1, 0, 0
    if symbol == ")":
        return CLOSE, -1, 0, 0
    if symbol in _BONDS:
        return BOND, -1, _BOND_ORDER[symbol], 0
    if not symbol.startswith("[") and symbol.endswith("R"):
        return RING, -1, _BOND_ORDER[symbol[:-1]], 0
    if not symbol.startswith("[") and "&" in symbol:
        bond, k = symbol.split("&")
        return RING, int(k), _BOND_ORDER[bond], 0
    return ATOM, -1, 0, _VALENCE.get(symbol) or _bracket_valence(symbol)


_BRACKET = re.compile(r"^\[(\d*)([A-Z][a-z]?)(@*)(H\d?)?([+-]+\d*)?(:\d+)?\]$")


def _bracket_valence(symbol: str) -> int:
    """Bonds a bracket atom can make: the largest valence of its isoelectronic neutral element minus its
    hydrogens (``[N+]`` 4, ``[O-]`` 1, ``[C@@H]`` 3); unlimited when unsure (aromatic, metals)."""
    match = _BRACKET.match(symbol)
    if match is None:
        return UNLIMITED_VALENCE
    _, element, _, hydrogens, charge, _ = match.groups()
    table = require_rdkit().GetPeriodicTable()
    try:
        z = table.GetAtomicNumber(element)
    except Exception:
        return UNLIMITED_VALENCE
    if charge:
        sign = 1 if charge[0] == "+" else -1
        digits = charge.lstrip("+-")
        z -= sign * (int(digits) if digits else len(charge))
    if z not in (5, 6, 7, 8, 9, 15, 16, 17, 35, 53):  # other elements: hypervalent, metals, ...
        return UNLIMITED_VALENCE
    n_h = 0 if not hydrogens else int(hydrogens[1:] or 1)
    valence = max(table.GetValenceList(z)) - n_h
    return valence if valence > 0 else UNLIMITED_VALENCE


class Walk:
    """Parser state after a symbol prefix: branches, open rings, and the free valence of each atom.

    ``rings`` holds ``[opening atom, bond order]`` per open ring; ``free[i]`` is how many more bonds
    atom ``i`` can take; ``parent[i]`` the atom it is bonded to by the chain (a ring closure to it
    would duplicate that bond).
    """

    __slots__ = ("depth", "rings", "atom", "branch", "last", "free", "parent", "pending", "closed")

    def __init__(self) -> None:
        self.depth, self.rings, self.atom, self.branch, self.last = 0, [], -1, [], BOS
        self.free, self.parent, self.pending, self.closed = [], [], 0, []

    def step(self, kind: int, k: int, bond: int, valence: int) -> None:
        if kind == ATOM:
            order = self.pending or 1
            if self.atom >= 0:
                self.free[self.atom] -= order
                self.free.append(valence - order)
            else:
                self.free.append(valence)
            self.parent.append(self.atom)
            self.atom, self.pending = len(self.free) - 1, 0
            self.closed = []
        elif kind == BOND:
            self.pending = bond
        elif kind == OPEN:
            self.branch.append(self.atom)
            self.depth += 1
        elif kind == CLOSE:
            self.atom = self.branch.pop()
            self.depth -= 1
        elif kind == RING:
            if k < 0:
                self.free[self.atom] -= max(bond, 1)
                self.rings.append([self.atom, max(bond, 1)])
            else:
                opener, order = self.rings.pop(len(self.rings) - 1 - k)
                eff = max(order, bond)
                self.free[self.atom] -= eff
                self.free[opener] -= eff - order
                self.closed.append(opener)
        self.last = kind

    @property
    def state(self) -> int:
        return min(len(self.rings), 3) * 3 + min(self.depth, 2)

    def mask_key(self) -> tuple:
        atom = self.atom
        free = min(self.free[atom], 3) if atom >= 0 else 3
        parent = self.parent[atom] if atom >= 0 else -1
        rings = tuple((a != atom and a != parent and a not in self.closed, min(self.free[a], 3), order)
                      for a, order in reversed(self.rings))
        return self.last, self.depth > 0, free, self.pending, rings
