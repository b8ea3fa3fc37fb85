"""The one rule that decides whether a SMILES string is a usable molecule, shared by every path.

``read_table``'s validation, the molecule featurizers (:mod:`matloop.represent.molecule_smiles`),
column detection and ``design molecules`` all judge SMILES here, so a row that passes ``check`` is
featurizable and ``--skip-invalid`` skips exactly the rows featurization would reject.

Bounds before native code
-------------------------
RDKit's SMILES writer (canonicalisation) recurses once per atom along the molecular graph: a
straight chain of about 18,000 carbons (``'C' * 20000``) overflows the C stack and kills the
process with SIGSEGV (measured with RDKit 2025.09 in a subprocess: chains of 17,800 atoms
canonicalise, 18,100 crash; parsing alone survives 39,000). Some descriptors are also polynomial in
size (``Ipc`` takes 13 s for a 200-carbon chain). So every string is checked *before* any RDKit
call, by counting in Python:

- at most :data:`MAX_SMILES_LENGTH` characters (2,000; the bundled ESOL and FreeSolv SMILES are at
  most 98 characters),
- at most :data:`MAX_ATOMS` atoms (500, counted from the atom tokens of the string: bracket atoms,
  organic-subset symbols and ``*``) - drugs, dyes and polymer repeat units are far below it,
- branches nested at most :data:`MAX_BRANCH_DEPTH` deep (100).

A string beyond a bound is a bad row with the bound in its reason; RDKit never sees it. At these
bounds parsing and canonicalisation take well under a second even for rings and cages.

Validity
--------
RDKit parses and sanitises the string (:func:`parse_unique`); ``*`` atoms are polymer end groups
and each must be bonded to exactly one real atom (a bare ``*`` or ``**`` is a bad row); the capped
unit (``*`` replaced by carbon, see :mod:`matloop.represent.molecule_smiles`) must sanitise too.
"""

from __future__ import annotations

import re

__all__ = ["MAX_ATOMS", "MAX_BRANCH_DEPTH", "MAX_SMILES_LENGTH", "bounds_problem", "cap_end_groups",
           "end_group_problem", "parse_unique", "require_rdkit"]

MAX_SMILES_LENGTH = 2000
MAX_ATOMS = 500
MAX_BRANCH_DEPTH = 100

_ATOM_TOKEN = re.compile(r"\[[^\]]*\]|Cl|Br|[BCNOPSFI]|[bcnops]|\*")
_TIMESTAMP = re.compile(r"^\[\d\d:\d\d:\d\d\]\s*")
_POSITION = re.compile(r"around position (\d+)")
_VALENCE = re.compile(r"Explicit valence for atom # (\d+) (\w+), (\d+), is greater than permitted")
_KEKULE = re.compile(r"Unkekulized atoms: ([\d ]+)")
_WHITESPACE = re.compile(r"\s")
_ATOM_INDEX = re.compile(r"\batom #? ?(\d+)")


def require_rdkit():
    """Import RDKit's ``Chem``, or raise an ImportError that names the extra to install."""
    try:
        from rdkit import Chem
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "molecule featurizers need RDKit: pip install 'matloop[molecule]' (or pip install rdkit)"
        ) from exc
    return Chem


def bounds_problem(smiles: str) -> str | None:
    """Why ``smiles`` is too large to hand to RDKit safely, or ``None``. Pure Python, no RDKit."""
    if len(smiles) > MAX_SMILES_LENGTH:
        return (f"SMILES too long: {len(smiles):,} characters (at most {MAX_SMILES_LENGTH:,}); larger "
                "molecules are outside what these models and featurizers handle")
    n_atoms = len(_ATOM_TOKEN.findall(smiles))
    if n_atoms > MAX_ATOMS:
        return (f"molecule too large: {n_atoms:,} atoms (at most {MAX_ATOMS:,}); larger molecules are "
                "outside what these models and featurizers handle")
    depth = deepest = 0
    for ch in smiles:
        if ch == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif ch == ")":
            depth -= 1
    if deepest > MAX_BRANCH_DEPTH:
        return f"branches nested {deepest} deep (at most {MAX_BRANCH_DEPTH})"
    return None


def end_group_problem(mol) -> str | None:
    """Why the ``*`` atoms of ``mol`` are not polymer end groups, or None if they are."""
    for atom in mol.GetAtoms():
        if atom.GetAtomicNum() != 0:
            continue
        neighbours = [n.GetAtomicNum() for n in atom.GetNeighbors()]
        if len(neighbours) != 1:
            return (
                f"'*' (atom {atom.GetIdx() + 1}) is bonded to {len(neighbours)} atoms; a polymer end "
                "group '*' must be bonded to exactly one atom"
            )
        if neighbours[0] == 0:
            return f"'*' (atom {atom.GetIdx() + 1}) is bonded to another '*'; end groups need a real atom"
    return None


def cap_end_groups(mol):
    """A copy of ``mol`` with each ``*`` end group replaced by a carbon (methyl) cap.

    Bond orders are kept, so ``*=C`` gets a ``=CH2`` cap. Molecules without dummy atoms are
    returned unchanged (the same object). Raises ``ValueError`` if a ``*`` is not bonded to
    exactly one real atom (see :func:`end_group_problem`).
    """
    Chem = require_rdkit()
    dummies = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() == 0]
    if not dummies:
        return mol
    problem = end_group_problem(mol)
    if problem:
        raise ValueError(problem)
    rw = Chem.RWMol(mol)
    for idx in dummies:
        atom = rw.GetAtomWithIdx(idx)
        atom.SetAtomicNum(6)
        atom.SetIsotope(0)
        atom.SetAtomMapNum(0)
        atom.SetFormalCharge(0)
        atom.SetNumRadicalElectrons(0)
        atom.SetNumExplicitHs(0)
        atom.SetNoImplicit(False)
        atom.SetIsAromatic(False)
        atom.SetChiralTag(Chem.ChiralType.CHI_UNSPECIFIED)
    capped = rw.GetMol()
    Chem.SanitizeMol(capped)
    return capped


def parse_unique(strings: list) -> tuple[list, list, list]:
    """Parse distinct values (already stripped); returns molecules, capped molecules and reasons.

    ``reasons[k]`` is ``None`` for a usable molecule; ``mols``/``capped`` hold ``None`` where bad.
    """
    Chem = require_rdkit()
    from rdkit import rdBase

    capture_cls = getattr(rdBase, "CaptureErrorLog", None)  # RDKit >= 2025.09
    mols, capped, reasons = [], [], []
    with rdBase.BlockLogs():
        for value in strings:
            mol, reason = None, None
            if not isinstance(value, str):
                reason = f"expected a SMILES string, got {type(value).__name__} {value!r}"
            elif not value:
                reason = "empty SMILES"
            elif _WHITESPACE.search(value):
                reason = "SMILES contains whitespace (RDKit would ignore the text after it)"
            elif (reason := bounds_problem(value)) is None:
                if capture_cls is not None:
                    with capture_cls() as capture:
                        mol = Chem.MolFromSmiles(value)
                    log = capture.messages
                else:  # pragma: no cover - older RDKit
                    mol, log = Chem.MolFromSmiles(value), ""
                if mol is None:
                    reason = _diagnose(Chem, value, log)
                elif "*" in value:
                    reason = end_group_problem(mol)
            cap = None
            if mol is not None and reason is None:
                try:
                    cap = cap_end_groups(mol) if "*" in value else mol
                except Exception as exc:  # RDKit sanitization of the capped unit
                    reason = f"cannot cap the '*' end groups: {exc}"
            mols.append(mol if reason is None else None)
            capped.append(cap if reason is None else None)
            reasons.append(reason)
    return mols, capped, reasons


def _diagnose(Chem, smiles: str, log: str) -> str:
    """A readable reason why RDKit rejected ``smiles`` (parse error or chemistry problem)."""
    raw = Chem.MolFromSmiles(smiles, sanitize=False)
    if raw is None:
        return _parse_error_reason(log)
    problems = [_problem_reason(p.GetType(), p.Message()) for p in Chem.DetectChemistryProblems(raw)]
    if problems:
        return "; ".join(dict.fromkeys(problems))
    try:
        Chem.SanitizeMol(raw)
        Chem.RemoveHs(raw)
    except Exception as exc:
        return str(exc).strip() or type(exc).__name__
    return _parse_error_reason(log)


def _parse_error_reason(log: str) -> str:
    """Condense RDKit's multi-line SMILES parse error log into one reason."""
    lines = [_TIMESTAMP.sub("", line).strip() for line in log.splitlines()]
    lines = [line for line in lines if line]
    position = next((m.group(1) for m in map(_POSITION.search, lines) if m), None)
    message = next((line for line in lines if line.startswith("SMILES Parse Error:")), "")
    message = message.removeprefix("SMILES Parse Error:").strip()
    message = re.split(r" while parsing:| for input:", message)[0].strip()
    if message.startswith("Failed parsing SMILES"):
        message = ""
    reason = "SMILES parse error" + (f": {message}" if message else "")
    return reason + (f" (near position {position})" if position else "")


def _problem_reason(kind: str, message: str) -> str:
    """Tidy one RDKit sanitization problem; atom numbers become 1-based."""
    match = _VALENCE.search(message)
    if match:
        idx, element, valence = match.groups()
        return f"explicit valence of atom {int(idx) + 1} {element} is {valence}, greater than permitted"
    match = _KEKULE.search(message)
    if match:
        atoms = " ".join(str(int(i) + 1) for i in match.group(1).split())
        return f"can't kekulize aromatic atoms {atoms}"
    text = _ATOM_INDEX.sub(lambda m: f"atom {int(m.group(1)) + 1}", message.strip()) or kind
    return text[0].lower() + text[1:]
