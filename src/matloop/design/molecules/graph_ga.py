"""Graph-based genetic algorithm over molecules (after Jensen 2019, Chem. Sci. 10, 3567).

Molecules are recombined and mutated as graphs with RDKit reaction SMARTS, so every child is a
sanitizable molecule (no invalid strings to reject):

* **crossover**, half the time at a ring: each parent is cut at two adjacent ring bonds (or at the
  two bonds around a ring-fusion atom) into two fragments, and fragments of the two parents are
  joined at both cut points with single or double bonds; the other half at a non-ring single bond,
  joining one fragment of each parent;
* **mutation** (with probability ``mutation_rate`` per child), one of: insert an atom into a bond,
  change a bond order, delete a ring bond, close a ring of 3-6 atoms, delete an atom, change an
  element, append an atom.

Children must have more than 5 heavy atoms and fewer than a size limit drawn from
``N(average_size, size_std)`` (Jensen's size control), no macrocycles (rings over 6 atoms), no
allenes in rings and no double bond in a 3- or 4-membered ring. Each generation a mating pool is
drawn with probability proportional to the (non-negative) score, ``offspring_size`` children are
made, and the best ``population_size`` distinct molecules of parents and children survive.

This is matloop's own implementation of the published algorithm; the operator probabilities are
Jensen's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from matloop.design.molecules.chem import rings_ok, to_mol
from matloop.represent.molecule_smiles import kekule_copy, require_rdkit

__all__ = ["GAResult", "ChildFilter", "graph_ga", "crossover", "mutate"]

_SMARTS: dict[str, object] = {}
_REACTIONS: dict[str, object] = {}


def _pattern(smarts: str):
    if smarts not in _SMARTS:
        _SMARTS[smarts] = require_rdkit().MolFromSmarts(smarts)
    return _SMARTS[smarts]


def _reaction(smarts: str):
    if smarts not in _REACTIONS:
        from rdkit.Chem import AllChem

        _REACTIONS[smarts] = AllChem.ReactionFromSmarts(smarts)
    return _REACTIONS[smarts]


class ChildFilter:
    """Jensen's child filter: more than 5 heavy atoms and fewer than a limit drawn each time from
    ``N(average_size, size_std)``; sanitizable; plausible rings (:func:`~matloop.design.molecules.chem.rings_ok`).
    """

    def __init__(self, average_size: float, size_std: float, rng: np.random.Generator):
        self.average_size, self.size_std, self.rng = average_size, size_std, rng

    def ok(self, mol) -> bool:
        n = mol.GetNumAtoms()
        if not 5 < n < self.size_std * self.rng.standard_normal() + self.average_size:
            return False
        Chem = require_rdkit()
        try:
            Chem.SanitizeMol(mol)
        except Exception:
            return False
        return rings_ok(mol, 6)

    def first(self, candidates: Sequence):
        """A uniformly random candidate among those that pass (the first passing one in random order)."""
        for i in self.rng.permutation(len(candidates)):
            if self.ok(candidates[i]):
                return candidates[i]
        return None


# ---------------------------------------------------------------------- crossover
def _fragments(mol, bonds: list[int], labels: list[tuple[int, int]]):
    Chem = require_rdkit()
    pieces = Chem.FragmentOnBonds(mol, bonds, addDummies=True, dummyLabels=labels)
    try:
        return Chem.GetMolFrags(pieces, asMols=True, sanitizeFrags=True)
    except Exception:
        return None


def _cut_chain(mol, rng: np.random.Generator):
    matches = mol.GetSubstructMatches(_pattern("[*]-;!@[*]"))
    if not matches:
        return None
    a, b = matches[int(rng.integers(len(matches)))]
    return _fragments(mol, [mol.GetBondBetweenAtoms(a, b).GetIdx()], [(1, 1)])


def _cut_ring(mol, rng: np.random.Generator):
    for _ in range(10):
        if rng.random() < 0.5:
            matches = mol.GetSubstructMatches(_pattern("[R]@[R]@[R]@[R]"))
            pairs = lambda m: ((m[0], m[1]), (m[2], m[3]))  # noqa: E731
        else:
            matches = mol.GetSubstructMatches(_pattern("[R]@[R;!D2]@[R]"))
            pairs = lambda m: ((m[0], m[1]), (m[1], m[2]))  # noqa: E731
        if not matches:
            return None
        chosen = pairs(matches[int(rng.integers(len(matches)))])
        bonds = [mol.GetBondBetweenAtoms(x, y).GetIdx() for x, y in chosen]
        frags = _fragments(mol, bonds, [(1, 1), (1, 1)])
        if frags is not None and len(frags) == 2:
            return frags
    return None


_JOIN_ONE = ("[*:1]~[1*].[1*]~[*:2]>>[*:1]-[*:2]", "[*:1]~[1*].[1*]~[*:2]>>[*:1]=[*:2]")
_JOIN_TWO = ("([*:1]~[1*].[1*]~[*:2])>>[*:1]-[*:2]", "([*:1]~[1*].[1*]~[*:2])>>[*:1]=[*:2]")


def _crossover_ring(a, b, limits: ChildFilter, rng: np.random.Generator):
    if not (a.HasSubstructMatch(_pattern("[R]")) or b.HasSubstructMatch(_pattern("[R]"))):
        return None
    for _ in range(10):
        fa, fb = _cut_ring(a, rng), _cut_ring(b, rng)
        if fa is None or fb is None:
            return None
        joined = [_reaction(r).RunReactants((x, y))[0][0] for r in _JOIN_ONE for x in fa for y in fb]
        for i in rng.permutation(len(joined)):
            if not limits.ok(joined[i]):
                continue
            closed = [p[0] for r in _JOIN_TWO for p in _reaction(r).RunReactants((joined[i],))]
            child = limits.first(closed)
            if child is not None:
                return child
    return None


def _crossover_chain(a, b, limits: ChildFilter, rng: np.random.Generator):
    join = _reaction("[*:1]-[1*].[1*]-[*:2]>>[*:1]-[*:2]")
    for _ in range(10):
        fa, fb = _cut_chain(a, rng), _cut_chain(b, rng)
        if fa is None or fb is None:
            return None
        child = limits.first([join.RunReactants((x, y))[0][0] for x in fa for y in fb])
        if child is not None:
            return child
    return None


def crossover(a, b, limits: ChildFilter, rng: np.random.Generator):
    """A child of two RDKit molecules (Kekulé copies are cut), or None; never one of the parents."""
    Chem = require_rdkit()
    parents = {Chem.MolToSmiles(a), Chem.MolToSmiles(b)}
    a, b = (kekule_copy(m) or Chem.Mol(m) for m in (a, b))
    for _ in range(10):
        make = _crossover_chain if rng.random() <= 0.5 else _crossover_ring
        child = make(a, b, limits, rng)
        if child is not None:
            smiles = Chem.MolToSmiles(child)
            if smiles and smiles not in parents:
                return child
    return None


# ---------------------------------------------------------------------- mutation
def _pick(rng: np.random.Generator, options: Sequence, p: Sequence[float] | None = None):
    return options[int(rng.choice(len(options), p=p))]


def _insert_atom(mol, rng):
    order = _pick(rng, ("single", "double", "triple"), (0.60, 0.35, 0.05))
    if order == "single":
        return f"[*:1]~[*:2]>>[*:1]{_pick(rng, ('C', 'N', 'O', 'S'))}[*:2]"
    if order == "double":
        return f"[*;!H0:1]~[*:2]>>[*:1]={_pick(rng, ('C', 'N'))}-[*:2]"
    return "[*;!R;!H1;!H0:1]~[*:2]>>[*:1]#C-[*:2]"


def _change_bond_order(mol, rng):
    return _pick(rng, ("[*:1]!-[*:2]>>[*:1]-[*:2]", "[*;!H0:1]-[*;!H0:2]>>[*:1]=[*:2]",
                       "[*:1]#[*:2]>>[*:1]=[*:2]", "[*;!R;!H1;!H0:1]~[*:2]>>[*:1]#[*:2]"),
                 (0.45, 0.45, 0.05, 0.05))


def _delete_ring_bond(mol, rng):
    return "[*:1]@[*:2]>>([*:1].[*:2])"


def _add_ring(mol, rng):
    return _pick(rng, ("[*;!r;!H0:1]~[*;!r:2]~[*;!r;!H0:3]>>[*:1]1~[*:2]~[*:3]1",
                       "[*;!r;!H0:1]~[*!r:2]~[*!r:3]~[*;!r;!H0:4]>>[*:1]1~[*:2]~[*:3]~[*:4]1",
                       "[*;!r;!H0:1]~[*!r:2]~[*:3]~[*:4]~[*;!r;!H0:5]>>[*:1]1~[*:2]~[*:3]~[*:4]~[*:5]1",
                       "[*;!r;!H0:1]~[*!r:2]~[*:3]~[*:4]~[*!r:5]~[*;!r;!H0:6]>>[*:1]1~[*:2]~[*:3]~[*:4]~[*:5]~[*:6]1"),
                 (0.05, 0.05, 0.45, 0.45))


def _delete_atom(mol, rng):
    return _pick(rng, ("[*:1]~[D1:2]>>[*:1]", "[*:1]~[D2:2]~[*:3]>>[*:1]-[*:3]",
                       "[*:1]~[D3:2](~[*;!H0:3])~[*:4]>>[*:1]-[*:3]-[*:4]",
                       "[*:1]~[D4:2](~[*;!H0:3])(~[*;!H0:4])~[*:5]>>[*:1]-[*:3]-[*:4]-[*:5]",
                       "[*:1]~[D4:2](~[*;!H0;!H1:3])~[*:4]>>[*:1]-[*:3](-[*:4])"),
                 (0.25, 0.25, 0.25, 0.1875, 0.0625))


_ELEMENTS = ("#6", "#7", "#8", "#9", "#16", "#17", "#35")
_ELEMENT_P = (0.15, 0.15, 0.14, 0.14, 0.14, 0.14, 0.14)


def _change_atom(mol, rng):
    present = [e for e in _ELEMENTS if mol.HasSubstructMatch(_pattern(f"[{e}]"))]
    if not present:
        return None
    p = np.array([_ELEMENT_P[_ELEMENTS.index(e)] for e in present])
    old = present[int(rng.choice(len(present), p=p / p.sum()))]
    others = [e for e in _ELEMENTS if e != old]
    q = np.array([_ELEMENT_P[_ELEMENTS.index(e)] for e in others])
    new = others[int(rng.choice(len(others), p=q / q.sum()))]
    return f"[{old}:1]>>[{new}:1]"


def _append_atom(mol, rng):
    order = _pick(rng, ("single", "double", "triple"), (0.60, 0.35, 0.05))
    if order == "single":
        return f"[*;!H0:1]>>[*:1]-{_pick(rng, ('C', 'N', 'O', 'F', 'S', 'Cl', 'Br'))}"
    if order == "double":
        return f"[*;!H0;!H1:1]>>[*:1]={_pick(rng, ('C', 'N', 'O'))}"
    return f"[*;H3:1]>>[*:1]#{_pick(rng, ('C', 'N'))}"


_MUTATIONS = (_insert_atom, _change_bond_order, _delete_ring_bond, _add_ring, _delete_atom, _change_atom,
              _append_atom)
_MUTATION_P = (0.15, 0.14, 0.14, 0.14, 0.14, 0.14, 0.15)


def mutate(mol, limits: ChildFilter, rng: np.random.Generator):
    """One random graph mutation of ``mol`` that passes the child filter, or None after 10 tries."""
    mol = kekule_copy(mol)
    if mol is None:
        return None
    for _ in range(10):
        smarts = _pick(rng, _MUTATIONS, _MUTATION_P)(mol, rng)
        if smarts is None:
            continue
        child = limits.first([p[0] for p in _reaction(smarts).RunReactants((mol,))])
        if child is not None:
            return child
    return None


# ---------------------------------------------------------------------- the GA
@dataclass
class GAResult:
    """Every distinct molecule scored (``smiles``, ``score``, ``generation`` first seen), the per-generation
    ``trace`` (best, mean of the population, children made, share of RDKit-valid children) and the
    final ``population``."""

    molecules: pd.DataFrame
    trace: pd.DataFrame
    population: list[str]


def graph_ga(score: Callable[[Sequence[str]], np.ndarray], initial: Sequence[str], population_size: int = 100,
             offspring_size: int = 200, generations: int = 30, mutation_rate: float = 0.01,
             average_size: float | None = None, size_std: float | None = None, patience: int | None = None,
             random_state: int | np.random.Generator | None = 0,
             callback: Callable[[int, pd.DataFrame], None] | None = None) -> GAResult:
    """Maximise ``score`` (distinct canonical SMILES -> non-negative array) with the graph GA.

    ``initial`` molecules are scored and the best ``population_size`` start (GuacaMol's protocol:
    the best of the available molecules). ``average_size``/``size_std`` set the child size limit
    (default: the 95th percentile of the initial heavy-atom counts plus 5, and 3.5 as in Jensen's
    ZINC setting); ``patience`` stops after that many generations without a better best score.
    Negative scores are shifted to 0 for the mating pool.
    """
    from rdkit import rdBase

    with rdBase.BlockLogs():
        return _run(score, initial, population_size, offspring_size, generations, mutation_rate, average_size,
                    size_std, patience, random_state, callback)


def _run(score, initial, population_size, offspring_size, generations, mutation_rate, average_size, size_std,
         patience, random_state, callback) -> GAResult:
    Chem = require_rdkit()
    rng = np.random.default_rng(random_state)
    initial = list(dict.fromkeys(c for c in (_canonical(s) for s in initial) if c is not None))
    if len(initial) < 2:
        raise ValueError("the graph GA needs at least two valid initial molecules")
    if average_size is None:
        sizes = [to_mol(s).GetNumHeavyAtoms() for s in initial]
        average_size = float(np.percentile(sizes, 95)) + 5.0
    limits = ChildFilter(float(average_size), 3.5 if size_std is None else float(size_std), rng)
    scores: dict[str, float] = {}
    first: dict[str, int] = {}

    def evaluate(smiles: list[str], generation: int) -> np.ndarray:
        new = [s for s in dict.fromkeys(smiles) if s not in scores]
        if new:
            values = np.asarray(score(new), dtype=float).reshape(-1)
            for s, v in zip(new, values, strict=True):
                scores[s], first[s] = (float(v) if np.isfinite(v) else 0.0), generation
        return np.array([scores[s] for s in smiles])

    values = evaluate(initial, 0)
    order = np.argsort(-values, kind="stable")[:population_size]
    population = [initial[i] for i in order]
    rows, best, stale = [], -np.inf, 0
    for gen in range(1, generations + 1):
        fitness = np.maximum(evaluate(population, gen), 0.0)
        p = fitness / fitness.sum() if fitness.sum() > 0 else np.full(len(population), 1.0 / len(population))
        mols = {s: to_mol(s) for s in population}
        pool = [mols[population[i]] for i in rng.choice(len(population), size=offspring_size, p=p)]
        children, made = [], 0
        for _ in range(offspring_size):
            a, b = pool[int(rng.integers(len(pool)))], pool[int(rng.integers(len(pool)))]
            child = crossover(a, b, limits, rng)
            if child is not None and rng.random() < mutation_rate:
                child = mutate(child, limits, rng)
            if child is None:
                continue
            made += 1
            canon = _canonical(Chem.MolToSmiles(child))
            if canon is not None:
                children.append(canon)
        merged = list(dict.fromkeys(population + children))
        merged_scores = evaluate(merged, gen)
        keep = np.argsort(-merged_scores, kind="stable")[:population_size]
        population = [merged[i] for i in keep]
        top = float(merged_scores[keep[0]])
        rows.append({"generation": gen, "best": top, "mean": float(merged_scores[keep].mean()),
                     "children": made, "valid_children": len(children) / max(made, 1),
                     "n_scored": len(scores)})
        if callback is not None:
            callback(gen, pd.DataFrame(rows))
        stale = 0 if top > best + 1e-12 else stale + 1
        best = max(best, top)
        if patience is not None and stale >= patience:
            break
    molecules = pd.DataFrame({"smiles": list(scores), "score": list(scores.values()),
                              "generation": [first[s] for s in scores]})
    return GAResult(molecules=molecules, trace=pd.DataFrame(rows), population=population)


def _canonical(smiles: str) -> str | None:
    mol = to_mol(smiles)
    return None if mol is None else require_rdkit().MolToSmiles(mol)
