"""A chemical language model over SMILES: a back-off n-gram with ring and branch bookkeeping (iQSPR).

The model follows the design of iQSPR (Ikebata et al. 2017, J. Comput. Aided Mol. Des. 31, 379;
XenonPy's ``NGram``): SMILES are split into tokens (atoms, bracket atoms, bonds, branches, ring
labels), an n-gram counts which token follows each context, and a molecule is *modified* by deleting
a random number of tokens from the end of its SMILES and regrowing the tail from the model. Before
the cut the molecule may be rewritten from a random starting atom (a random RDKit SMILES), so the
regrown part can be any region of the molecule, not only the end of its canonical string.

Symbols and grammar
-------------------
Ring digits become ``R`` (open) and ``&k`` (close the ring ``k`` places below the top of the stack),
so every SMILES decodes back to the same molecule; XenonPy, which always closes the most recently
opened ring, cannot write crossed closures of fused systems (:mod:`~matloop.design.molecules.tokens`).

Each context is also keyed by a small *state*: how many rings are open (0-3+) and how deep the
current branch is (0-2+). A mask forbids symbols that cannot follow: ``)`` with no open branch, a
ring label after ``)``, ending with open rings or branches, closing a ring onto the atom that opened
it or onto its chain neighbour, and any bond an atom has no valence left for (C 4, N 3, O 2, bracket
atoms from element, charge and hydrogens). By default the model reads and grows Kekulé SMILES, so
aromaticity cannot fail either: trained on ESOL, about 98% of sampled strings are valid molecules
(an unmasked aromatic n-gram: about 65%). What remains invalid is rejected by RDKit.

Sampling picks, at every token, a random order between ``min_order`` and ``order`` (as XenonPy
does: long contexts reproduce realistic fragments, short ones recombine them) and backs off to
shorter contexts until one has been seen with an allowed continuation.

Training is vectorised: per order, all (state, context, next token) rows are counted with one
``numpy.unique``.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

import numpy as np

from matloop.design.molecules.chem import canonical_or_none, largest_ring, rings_ok, to_mol
from matloop.design.molecules.tokens import (  # noqa: F401  (tokenize: re-exported)
    ANY_STATE,
    ATOM,
    BOND,
    BOS,
    BOS_SYMBOL,
    CLOSE,
    END,
    END_SYMBOL,
    MAX_OPEN_RINGS,
    OPEN,
    RING,
    UNLIMITED_VALENCE,
    Walk,
    decode,
    encode,
    symbol_info,
    tokenize,
)

__all__ = ["NGramModel", "tokenize", "encode", "decode"]


class NGramModel:
    """Back-off n-gram over SMILES symbols; samples molecules and modifies existing ones (iQSPR).

    Parameters
    ----------
    order : int
        Longest context (tokens). iQSPR uses up to 10; with a few thousand training molecules
        contexts beyond ~8 tokens mostly reproduce training fragments.
    min_order : int
        Shortest context drawn when choosing the order for the next token (see module docstring).
    augment : int
        Random (non-canonical) SMILES added per training molecule, so the model sees each molecule
        written from several starting atoms, as the modification proposal rewrites them.
    delete_range : (int, int)
        Number of tail tokens a modification deletes, drawn uniformly in this range.
    reversible : bool
        Only accept regrown tails whose length is also in ``delete_range``, so that every
        modification can be undone by the reverse one. Cut-and-regrow then satisfies detailed
        balance with respect to the n-gram prior (the prior terms of the Metropolis-Hastings ratio
        cancel and the deletion probabilities are equal), and molecules do not drift in size. Without
        it (XenonPy's behaviour) regrown tails are on average longer than the cut ones: in a 30-step
        SMC run towards a Crippen logP window, from ESOL + FreeSolv molecules, the final molecules had
        60 heavy atoms on average without it and 23 with it.
    reorder_prob : float
        Probability that a modification first rewrites the SMILES from a random atom.
    ring_filter : bool
        Reject grown molecules with implausible rings (Jensen's rules as in the graph GA: no double
        bond in a 3- or 4-membered ring, no ring allene) or a ring larger than any in the training
        molecules (at least 6). An n-gram cannot count ring atoms, so without this it happily closes
        cyclobutadienes and 14-membered aromatic rings.
    kekulize : bool
        Learn and grow Kekulé SMILES (explicit single/double bonds, no lowercase aromatic atoms).
        Aromatic SMILES fail RDKit's kekulization whenever a regrown ring has the wrong size or
        electron count, which is most invalid output of an aromatic n-gram; in Kekulé form
        only valence errors remain. Outputs are canonical (aromatic) SMILES either way.
    max_tokens : int or None
        Longest SMILES grown, in symbols (default: 1.5x the longest training string).
    max_tries : int
        Attempts per modification before giving up (the particle then stays as it is).
    random_state : int or None
        Seed of the random SMILES used for augmentation.
    """

    def __init__(self, order: int = 8, min_order: int = 2, augment: int = 2, delete_range: tuple[int, int] = (1, 10),
                 reorder_prob: float = 0.5, kekulize: bool = True, reversible: bool = True, ring_filter: bool = True,
                 max_tokens: int | None = None, max_tries: int = 20, random_state: int | None = 0):
        self.order = order
        self.min_order = min_order
        self.augment = augment
        self.delete_range = delete_range
        self.reorder_prob = reorder_prob
        self.kekulize = kekulize
        self.reversible = reversible
        self.ring_filter = ring_filter
        self.max_tokens = max_tokens
        self.max_tries = max_tries
        self.random_state = random_state

    # ------------------------------------------------------------------ training
    def fit(self, smiles: Sequence[str]) -> NGramModel:
        """Count contexts in the valid, supported SMILES of ``smiles`` (others are left out and counted)."""
        if not 0 <= self.min_order <= self.order:
            raise ValueError(f"need 0 <= min_order <= order, got {self.min_order} and {self.order}")
        lo, hi = self.delete_range
        if not 1 <= lo <= hi:
            raise ValueError(f"delete_range must be (lo, hi) with 1 <= lo <= hi, got {self.delete_range}")
        Chem = _chem()
        rng = np.random.default_rng(self.random_state)
        canon = list(dict.fromkeys(c for c in (canonical_or_none(s) for s in smiles) if c is not None))
        corpus: list[list[str]] = []
        self.training_smiles_: list[str] = []
        self.max_ring_ = 6
        for c in canon:
            mol = self._prepare(Chem.MolFromSmiles(c))
            symbols = None if mol is None else encode(self._write(mol))
            if symbols is None:
                continue
            self.training_smiles_.append(c)
            self.max_ring_ = max(self.max_ring_, largest_ring(mol))
            corpus.append(symbols)
            for _ in range(int(self.augment)):
                symbols = encode(self._write(mol, rng))
                if symbols is not None:
                    corpus.append(symbols)
        self.n_left_out_ = len(smiles) - len(self.training_smiles_)
        if not corpus:
            raise ValueError("no valid, supported SMILES to train the language model on")
        vocab = sorted({s for seq in corpus for s in seq})
        self.vocabulary_ = [BOS_SYMBOL, END_SYMBOL, *vocab]
        self.index_ = {s: i for i, s in enumerate(self.vocabulary_)}
        info = np.array([symbol_info(s) for s in self.vocabulary_])
        if not self.kekulize:  # aromatic bonds count 1.5: no valence bookkeeping
            info[info[:, 0] == ATOM, 3] = UNLIMITED_VALENCE
        self.kind_, self.ring_k_, self.bond_, self.valence_ = (info[:, j] for j in range(4))
        self._info = [tuple(int(v) for v in row) for row in info]
        self.max_tokens_ = int(self.max_tokens or np.ceil(1.5 * max(len(s) for s in corpus)))
        self._count(corpus)
        self._masks: dict[tuple, np.ndarray] = {}
        return self

    def _count(self, corpus: list[list[str]]) -> None:
        seqs, states, starts = [], [], []
        offset = 0
        for symbols in corpus:
            ids = [0] + [self.index_[s] for s in symbols] + [1]
            walk, st = Walk(), [0]
            for sym in symbols:
                walk.step(*self._info[self.index_[sym]])
                st.append(walk.state)
            seqs.append(ids)
            states.append([-1] + st)  # state before predicting position i (none for the BOS slot)
            starts.append(np.full(len(ids), offset))
            offset += len(ids)
        seq = np.concatenate([np.asarray(s) for s in seqs])
        state = np.concatenate([np.asarray(s) for s in states])
        start = np.concatenate(starts)
        pos = np.flatnonzero(state >= 0)
        table: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
        for k in range(-1, self.order + 1):  # k = -1: the unigram of any state (last resort)
            p = pos[pos - max(k, 0) >= start[pos]]
            first = np.full(len(p), ANY_STATE) if k < 0 else state[p]
            rows = np.column_stack([first] + [seq[p - j] for j in range(max(k, 0), 0, -1)] + [seq[p]])
            uniq, counts = np.unique(rows, axis=0, return_counts=True)
            ctx = uniq[:, :-1]
            change = np.flatnonzero(np.any(ctx[1:] != ctx[:-1], axis=1)) + 1
            bounds = np.concatenate([[0], change, [len(uniq)]])
            keys = ctx[bounds[:-1]].astype(np.uint16)
            nxt, cnt = uniq[:, -1], counts.astype(float)
            for i, key in enumerate(keys):
                a, b = bounds[i], bounds[i + 1]
                table[key.tobytes()] = (nxt[a:b], cnt[a:b])
        self.table_ = table
        self.n_contexts_ = len(table)

    # ------------------------------------------------------------------ grammar
    def _mask(self, walk: Walk) -> np.ndarray:
        key = walk.mask_key()
        mask = self._masks.get(key)
        if mask is None:
            mask = self._build_mask(*key)
            self._masks[key] = mask
        return mask

    def _build_mask(self, last: int, in_branch: bool, free: int, pending: int, rings: tuple) -> np.ndarray:
        """Which symbols may follow (grammar and valence; see the module docstring)."""
        kind, ring_k, bond, valence = self.kind_, self.ring_k_, self.bond_, self.valence_
        atom, bond_sym = kind == ATOM, kind == BOND
        if last == BOS:
            return atom.copy()
        if last == BOND:
            return atom & (valence >= pending)
        if last == OPEN:
            return (atom & (free >= 1)) | (bond_sym & (bond <= free))
        allowed = (atom & (free >= 1)) | (bond_sym & (bond <= free))
        if free >= 2:
            allowed |= kind == OPEN
        if in_branch:
            allowed |= kind == CLOSE
        if not in_branch and not rings:
            allowed |= kind == END
        if last in (ATOM, RING):
            ring = kind == RING
            order = np.maximum(bond, 1)
            if len(rings) < MAX_OPEN_RINGS:
                allowed |= ring & (ring_k < 0) & (order <= free)
            for k, (ok, opener_free, open_order) in enumerate(rings):
                if ok:
                    eff = np.maximum(order, open_order)
                    allowed |= ring & (ring_k == k) & (eff <= free) & (eff - open_order <= opener_free)
        return allowed

    # ------------------------------------------------------------------ sampling
    def _entries(self, state: int, seq: list[int], top: int):
        """(next ids, counts) of the contexts of ``seq`` from order ``top`` down, then any-state unigram."""
        for k in range(min(top, len(seq)), -1, -1):
            entry = self.table_.get(array("H", [state, *seq[len(seq) - k:]]).tobytes() if k else
                                    array("H", [state]).tobytes())
            if entry is not None:
                yield entry
        yield self.table_[array("H", [ANY_STATE]).tobytes()]

    def _grow(self, ids: list[int], walk: Walk, rng: np.random.Generator, limit: int | None = None
              ) -> list[int] | None:
        """Extend ``ids`` (without BOS) token by token until the end symbol; None if stuck or longer than
        ``max_tokens_`` symbols, or than ``limit`` new symbols."""
        seq = [0, *ids]
        stop = self.max_tokens_ if limit is None else min(self.max_tokens_, len(ids) + limit)
        while len(seq) <= stop:
            mask = self._mask(walk)
            top = int(rng.integers(self.min_order, self.order + 1))
            chosen = -1
            for nxt, cnt in self._entries(walk.state, seq, top):
                w = cnt * mask[nxt]
                total = w.sum()
                if total > 0:
                    j = int(np.searchsorted(np.cumsum(w), rng.random() * total, side="right"))
                    chosen = int(nxt[min(j, len(nxt) - 1)])
                    break
            if chosen < 0:
                return None
            if chosen == 1:
                return seq[1:]
            seq.append(chosen)
            walk.step(*self._info[chosen])
        return None

    def sample(self, n: int, random_state: int | np.random.Generator | None = None) -> list[str | None]:
        """``n`` SMILES drawn from the model (raw strings, not validated; ``None`` where growth failed)."""
        rng = np.random.default_rng(random_state)
        out: list[str | None] = []
        for _ in range(int(n)):
            ids = self._grow([], Walk(), rng)
            out.append(None if ids is None else decode([self.vocabulary_[i] for i in ids]))
        return out

    def _prepare(self, mol):
        """The molecule as the model writes it (a Kekulé copy when ``kekulize``), or None."""
        if mol is None or not self.kekulize:
            return mol
        from matloop.represent.molecule_smiles import kekule_copy

        return kekule_copy(mol)

    def _write(self, mol, rng: np.random.Generator | None = None) -> str:
        """Canonical SMILES of a prepared molecule, or a random one (random starting atom) with ``rng``."""
        Chem = _chem()
        if rng is None:
            return Chem.MolToSmiles(mol, kekuleSmiles=self.kekulize)
        return Chem.MolToRandomSmilesVect(mol, 1, randomSeed=int(rng.integers(2**31)),
                                          kekuleSmiles=self.kekulize)[0]

    def supports(self, smiles: str) -> bool:
        """Whether the model can modify this molecule (valid, and written only in tokens it knows)."""
        return self._known(smiles) is not None

    def _known(self, text: str) -> str | None:
        """Canonical SMILES of a grown string if RDKit accepts it and it passes :meth:`_accept`."""
        mol = to_mol(text)
        return None if mol is None else self._accept(mol)

    def _accept(self, mol) -> str | None:
        """Canonical SMILES of a valid molecule unless its rings are implausible (``ring_filter``) or the
        model cannot write it back in its own tokens (RDKit may write a grown atom as a bracket atom
        the model never saw, e.g. a hypervalent ``[SH]``; such a molecule could not be modified)."""
        if self.ring_filter and not rings_ok(mol, self.max_ring_):
            return None
        prepared = self._prepare(mol)
        if prepared is None or self._ids(self._write(prepared)) is None:
            return None
        return _chem().MolToSmiles(mol)

    def _ids(self, smiles: str) -> list[int] | None:
        symbols = encode(smiles)
        if symbols is None or any(s not in self.index_ for s in symbols):
            return None
        return [self.index_[s] for s in symbols]

    def modify(self, smiles: str, random_state: int | np.random.Generator | None = None) -> str | None:
        """A valid molecule made by cutting the tail of ``smiles`` and regrowing it; canonical SMILES.

        Returns ``None`` if no valid, different molecule came out of ``max_tries`` attempts (or the
        molecule holds a token the model never saw).
        """
        rng = np.random.default_rng(random_state)
        self.last_attempts_ = self.last_valid_ = self.last_stopped_ = 0
        mol = to_mol(smiles)
        if mol is None:
            return None
        Chem = _chem()
        original = Chem.MolToSmiles(mol)
        mol = self._prepare(mol)
        if mol is None:
            return None
        written = self._write(mol)
        for _ in range(self.max_tries):
            text = self._write(mol, rng) if rng.random() < self.reorder_prob else written
            ids = self._ids(text) or self._ids(written)
            if ids is None:
                return None
            lo, hi = self.delete_range
            keep = max(1, len(ids) - int(rng.integers(lo, hi + 1)))
            walk = Walk()
            for i in ids[:keep]:
                walk.step(*self._info[i])
            grown = self._grow(ids[:keep], walk, rng, hi if self.reversible else None)
            if grown is None or (self.reversible and len(grown) - keep < lo):
                self.last_stopped_ += 1
                continue
            self.last_attempts_ += 1
            grown_mol = to_mol(decode([self.vocabulary_[i] for i in grown]))
            if grown_mol is None:
                continue
            self.last_valid_ += 1
            new = self._accept(grown_mol)
            if new is not None and new != original:
                return new
        return None

    def propose(self, smiles: Sequence[str], random_state: int | np.random.Generator | None = None
                ) -> tuple[list[str], dict[str, int]]:
        """One modification of each molecule (the molecule itself where none succeeded).

        Returns the proposals and counts: ``attempts`` (strings grown to the end), ``valid`` (of
        those, RDKit accepted), ``stopped`` (regrowths abandoned because the tail outgrew
        ``delete_range`` or ``max_tokens``) and ``changed`` (molecules actually modified).
        """
        rng = np.random.default_rng(random_state)
        out, counts = [], {"attempts": 0, "valid": 0, "stopped": 0, "changed": 0}
        for s in smiles:
            new = self.modify(s, rng)
            counts["attempts"] += self.last_attempts_
            counts["valid"] += self.last_valid_
            counts["stopped"] += self.last_stopped_
            counts["changed"] += new is not None
            out.append(s if new is None else new)
        return out, counts

    def log_prob(self, smiles: str) -> float:
        """Log-probability of a SMILES under the highest-order contexts available (back-off, masked).

        A plausibility score ("how much does this look like the training chemistry"), not the exact
        probability of the random-order sampler; ``-inf`` for tokens the model never saw.
        """
        mol = self._prepare(to_mol(smiles))
        ids = None if mol is None else self._ids(self._write(mol))
        if ids is None:
            return float("-inf")
        seq, walk, total = [0], Walk(), 0.0
        for nxt in [*ids, 1]:
            mask = self._mask(walk)
            p, penalty = 0.0, 1.0
            for ids_k, cnt in self._entries(walk.state, seq, self.order):
                w = cnt * mask[ids_k]
                hit = w[ids_k == nxt].sum()
                if hit > 0:
                    p = penalty * float(hit / w.sum())
                    break
                penalty *= 0.4  # "stupid back-off" (Brants et al. 2007)
            if p <= 0:
                return float("-inf")
            total += np.log(p)
            if nxt != 1:
                seq.append(nxt)
                walk.step(*self._info[nxt])
        return total


def _chem():
    from matloop.represent.molecule_smiles import require_rdkit

    return require_rdkit()
