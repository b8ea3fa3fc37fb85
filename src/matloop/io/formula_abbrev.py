"""Organic-cation abbreviations of hybrid perovskite formulas: ``MAPbI3``, ``(FA0.8MA0.2)PbI3``.

Hybrid halide perovskite papers and datasets write the A-site organic cations as capital-letter
abbreviations. The formula parser (:mod:`matloop.io.formula`) expands them into their atoms so that
featurizers see real elements: ``MAPbI3`` is read as ``CH6NPbI3`` (``CH3NH3PbI3``).

=========  ========================  =========================  ===============
written    cation                    formula                    atoms
=========  ========================  =========================  ===============
``MA``     methylammonium            CH3NH3+                    C1 H6 N1
``FA``     formamidinium             HC(NH2)2+                  C1 H5 N2
``GA``     guanidinium               C(NH2)3+                   C1 H6 N3
``EA``     ethylammonium             CH3CH2NH3+                 C2 H8 N1
``DMA``    dimethylammonium          (CH3)2NH2+                 C2 H8 N1
``BA``     n-butylammonium           CH3(CH2)3NH3+              C4 H12 N1
``PEA``    phenethylammonium         C6H5CH2CH2NH3+             C8 H12 N1
=========  ========================  =========================  ===============

Sources for the names and compositions: W. Li, Z. Wang, F. Deschler, S. Gao, R. H. Friend,
A. K. Cheetham, "Chemically diverse and multifunctional hybrid organic-inorganic perovskites",
Nat. Rev. Mater. 2, 16099 (2017), doi:10.1038/natrevmats.2016.99 (MA, FA, GA, EA, DMA); M. D. Smith,
E. J. Crace, A. Jaffe, H. I. Karunadasa, "The Diversity of Layered Halide Perovskites",
Annu. Rev. Mater. Res. 48, 111-136 (2018), doi:10.1146/annurev-matsci-070317-115406 (BA, PEA);
the mixed-cation notation ``Cs0.05(FA0.83MA0.17)0.95Pb(I0.83Br0.17)3`` is that of M. Saliba et al.,
Energy Environ. Sci. 9, 1989-1997 (2016), doi:10.1039/C5EE03874J.

Case matters, as for element symbols: ``GA`` is guanidinium, ``Ga`` gallium; ``BA`` butylammonium,
``Ba`` barium. An abbreviation is only read as one when the next character is not a lowercase
letter, so ``BAr`` stays boron + argon and ``FAg`` fluorine + silver. The longest abbreviation wins
(``PEA`` is phenethylammonium, not P + EA). Other cations (octylammonium, ...) must be written as
atoms (``C8H17NH3``); the parser's error message says so.
"""

from __future__ import annotations

__all__ = ["ORGANIC_CATIONS", "abbreviation_at", "unknown_symbol_hint"]

#: abbreviation -> (name, atoms of the cation)
ORGANIC_CATIONS: dict[str, tuple[str, dict[str, float]]] = {
    "MA": ("methylammonium CH3NH3", {"C": 1.0, "H": 6.0, "N": 1.0}),
    "FA": ("formamidinium HC(NH2)2", {"C": 1.0, "H": 5.0, "N": 2.0}),
    "GA": ("guanidinium C(NH2)3", {"C": 1.0, "H": 6.0, "N": 3.0}),
    "EA": ("ethylammonium CH3CH2NH3", {"C": 2.0, "H": 8.0, "N": 1.0}),
    "DMA": ("dimethylammonium (CH3)2NH2", {"C": 2.0, "H": 8.0, "N": 1.0}),
    "BA": ("n-butylammonium CH3(CH2)3NH3", {"C": 4.0, "H": 12.0, "N": 1.0}),
    "PEA": ("phenethylammonium C6H5CH2CH2NH3", {"C": 8.0, "H": 12.0, "N": 1.0}),
}
_LONGEST_FIRST = sorted(ORGANIC_CATIONS, key=len, reverse=True)


def abbreviation_at(s: str, i: int) -> str | None:
    """The organic-cation abbreviation starting at ``s[i]``, or ``None``.

    It must not be followed by a lowercase letter (``FAg`` is F + Ag, ``BAr`` is B + Ar).
    """
    for abbrev in _LONGEST_FIRST:
        if s.startswith(abbrev, i):
            j = i + len(abbrev)
            if j < len(s) and s[j].islower():
                continue
            return abbrev
    return None


def unknown_symbol_hint(sym: str, s: str, i: int) -> str:
    """What to write instead of the unknown symbol ``sym`` found at ``s[i]`` ('' when nothing applies)."""
    if sym.upper() in ORGANIC_CATIONS:  # 'Ma', 'Fa', 'Pea': an abbreviation in the wrong case
        abbrev = sym.upper()
        return f" (did you mean {abbrev!r}, {ORGANIC_CATIONS[abbrev][0]}? abbreviations are written in capitals)"
    if len(sym) == 1 and i + 1 < len(s) and s[i + 1].isupper():  # a run of capitals: an unknown abbreviation
        known = ", ".join(f"{a} = {ORGANIC_CATIONS[a][0]}" for a in ORGANIC_CATIONS)
        return (f" (the organic-cation abbreviations matloop knows are {known}; write any other cation as atoms, "
                "e.g. C8H17NH3 for octylammonium)")
    return ""
