"""The periodic table as arrays: symbols indexed by atomic number.

Index 0 is unused so that ``SYMBOLS[z]`` is the symbol of element ``z``.
"""

from __future__ import annotations

import numpy as np

SYMBOLS: tuple[str, ...] = (
    "",
    "H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne", "Na", "Mg", "Al", "Si", "P", "S", "Cl", "Ar",
    "K", "Ca", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Ge", "As", "Se", "Br",
    "Kr", "Rb", "Sr", "Y", "Zr", "Nb", "Mo", "Tc", "Ru", "Rh", "Pd", "Ag", "Cd", "In", "Sn", "Sb", "Te",
    "I", "Xe", "Cs", "Ba", "La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm",
    "Yb", "Lu", "Hf", "Ta", "W", "Re", "Os", "Ir", "Pt", "Au", "Hg", "Tl", "Pb", "Bi", "Po", "At", "Rn",
    "Fr", "Ra", "Ac", "Th", "Pa", "U", "Np", "Pu", "Am", "Cm", "Bk", "Cf", "Es", "Fm", "Md", "No", "Lr",
    "Rf", "Db", "Sg", "Bh", "Hs", "Mt", "Ds", "Rg", "Cn", "Nh", "Fl", "Mc", "Lv", "Ts", "Og",
)  # fmt: skip

N_ELEMENTS = len(SYMBOLS) - 1  # 118
ATOMIC_NUMBER: dict[str, int] = {s: z for z, s in enumerate(SYMBOLS) if s}
SYMBOL_ARRAY = np.array(SYMBOLS, dtype=object)
_symbol_key = {s: sum(ord(c) << (8 * i) for i, c in enumerate(s)) for s in ATOMIC_NUMBER}
#: Z by key (an uppercase letter + a lowercase one << 8), 0 for none: the byte parser's symbol table
_Z_BY_KEY = np.zeros(1 << 15, dtype=np.int16)
_Z_BY_KEY[[k for k in _symbol_key.values() if k < 1 << 15]] = [ATOMIC_NUMBER[s] for s, k in _symbol_key.items()
                                                               if k < 1 << 15]


def atomic_numbers(symbols) -> np.ndarray:
    """Atomic numbers of element symbols; 0 where a symbol is not an element."""
    return np.array([ATOMIC_NUMBER.get(s, 0) for s in symbols], dtype=np.int16)
