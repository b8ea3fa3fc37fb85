"""Phase mapping of composition libraries: shift-tolerant non-negative matrix factorisation.

A combinatorial library gives one diffraction pattern per composition, and each pattern is a
mixture of a few phases. Plain NMF (``X ≈ H W``: fractions times basis patterns) fails on real
libraries because a phase's peaks move as its lattice parameter changes with composition (alloying,
Vegard's law): one phase then needs several components. On a log-Q axis a lattice expansion by
(1 + ε) moves *every* peak of the phase by the same amount, -ln(1 + ε), so a phase becomes one basis
pattern that may be shifted per sample. :class:`PhaseMapper` factorises

    X[i] ≈ Σ_k Σ_s H[i, k, s] · shift_s(W[k])     (H, W ≥ 0; |s| ≤ max_shift bins)

with multiplicative updates (Lee & Seung, NIPS 2000; the shift-invariant form as in AgileFD, Suram
et al., ACS Comb. Sci. 19, 37 (2017), and Kusne et al., Sci. Rep. 4, 6367 (2014)). The phase fraction
of component k in sample i is its integrated intensity Σ_s H[i, k, s] · ΣW[k], normalised per sample.

- Initialisation: the first start takes its basis patterns from the K most distinct samples, chosen by
  the successive projection algorithm (Araújo et al. 2001; Gillis & Vavasis 2014: in a library where
  each phase has a sample rich in it, these samples are near-pure), so the result does not depend on
  a lucky random start; the other restarts are random; the best reconstruction is kept.
- ``n_components="auto"``: the number of phases is chosen by cross-validated reconstruction: 10 % of
  the entries are held out (masked in the updates) and each K is fitted from the projection start
  (three quarters of the iterations: it ranks K; the chosen K is then fitted with every restart).
  Held-out error keeps falling past the true number of phases on real libraries, because a spare
  component models one phase's peak shifts or widths as a second, nearly identical pattern; so a K
  whose basis patterns include two that correlate at :data:`DUPLICATE_CORRELATION` or more (at their
  best relative shift, searched up to :data:`DUPLICATE_SPAN` times the allowed shift: a phase whose
  lattice changes by more than the allowed shift comes out as two components covering adjacent windows
  of its range) is not a set of distinct phases and is not eligible (``basis_similarity_`` holds each
  K's highest pair). Among the eligible K, the smallest whose held-out error is within 2 % of their
  best is kept; if the full fit of that K (all restarts) shows a duplicate after all, the next is taken.
- Bootstrap uncertainty of the fractions: the Q points are resampled with replacement and the
  fractions refitted with the bases fixed; ``fractions_std_`` is their spread.
- References (simulated patterns of candidate phases): :meth:`match_references` names each
  component after the reference it correlates best with over the allowed shifts;
  :meth:`fit_references` instead fixes the bases to the references and fits the fractions only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["DUPLICATE_CORRELATION", "DUPLICATE_SPAN", "PhaseMapper", "log_q_grid", "projection_start"]

_EPS = 1e-9
#: two basis patterns correlating at least this much (at their best relative shift) are one phase; set a
#: priori (a pattern and its shifted, broadened copy correlate above it; two different phases well below)
DUPLICATE_CORRELATION = 0.9
#: the relative shifts searched for a duplicate: up to this many times the allowed shift. A phase whose lattice
#: changes by more than the allowed ±shift across the library is fitted as two components, each covering a
#: window of the range, whose patterns coincide at a relative shift of up to two windows' half-widths
DUPLICATE_SPAN = 2


def projection_start(X: np.ndarray, K: int) -> list[int]:
    """Rows of ``X`` picked by the successive projection algorithm: each the row (scaled to unit sum, so a
    mixture is a convex combination of pure patterns and never the farthest) farthest from the span of
    those already picked, i.e. the K most distinct patterns."""
    R = np.clip(np.asarray(X, dtype=float), 0, None)
    R = R / np.maximum(R.sum(axis=1, keepdims=True), _EPS)
    picked: list[int] = []
    for _ in range(K):
        j = int(np.argmax((R ** 2).sum(axis=1)))
        picked.append(j)
        u = R[j] / max(float(np.linalg.norm(R[j])), _EPS)
        R = R - np.outer(R @ u, u)
    return picked


def basis_similarity(W: np.ndarray, shifts: np.ndarray) -> float:
    """The highest correlation between two basis patterns over the allowed relative shifts (0 for K < 2)."""
    K = len(W)
    if K < 2:
        return 0.0
    stacks = _shift_stack(W, shifts)  # (K, S, m)
    Z = stacks - stacks.mean(axis=2, keepdims=True)
    Z /= np.maximum(np.linalg.norm(Z, axis=2, keepdims=True), _EPS)
    base = W - W.mean(axis=1, keepdims=True)
    base /= np.maximum(np.linalg.norm(base, axis=1, keepdims=True), _EPS)
    best = 0.0
    for a in range(K):
        for b in range(a + 1, K):
            best = max(best, float((Z[a] @ base[b]).max()))
    return best


def log_q_grid(q: np.ndarray, n_points: int | None = None) -> np.ndarray:
    """An even grid in ln Q over the range of ``q`` (same number of points by default)."""
    q = np.asarray(q, dtype=float)
    return np.exp(np.linspace(np.log(q[0]), np.log(q[-1]), n_points or len(q)))


def _shift_stack(W: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """(K, S, m): every basis moved by every shift (zeros shifted in)."""
    K, m = W.shape
    out = np.zeros((K, len(shifts), m), dtype=W.dtype)
    for j, s in enumerate(shifts):
        if s >= 0:
            out[:, j, s:] = W[:, : m - s]
        else:
            out[:, j, : m + s] = W[:, -s:]
    return out


def _unshift_sum(G: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Adjoint of :func:`_shift_stack`: (K, S, m) -> (K, m)."""
    K, _, m = G.shape
    out = np.zeros((K, m), dtype=G.dtype)
    for j, s in enumerate(shifts):
        if s >= 0:
            out[:, : m - s] += G[:, j, s:]
        else:
            out[:, -s:] += G[:, j, : m + s]
    return out


def _factorise(X: np.ndarray, K: int, shifts: np.ndarray, iters: int, rng: np.random.Generator,
               mask: np.ndarray | None = None, W: np.ndarray | None = None, H: np.ndarray | None = None,
               update_w: bool = True, sparsity: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Multiplicative updates for the shift-tolerant NMF. ``mask`` weights the entries: None (each once),
    a vector over Q (the same weights for every sample: a bootstrap draw) or a (samples x Q) array (0 hides
    an entry: cross-validation); ``sparsity`` is an L1 penalty on the weights.

    Speed: without an entry mask the products with the reconstruction go through the Gram matrix of the
    shifted bases, ``(H A) A^T = H (A A^T)`` and ``H^T (H A) = (H^T H) A``, so the (samples x Q)
    reconstruction is never formed; single precision, with a floor of 1e-12 on both factors (denormal
    floats made the products ~10x slower, measured); one BLAS thread (the matrices are small, where a
    multi-threaded BLAS only adds contention: 11x slower on a busy 2-core machine, measured).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        return _updates(X, K, shifts, iters, rng, mask, W, H, update_w, sparsity)


def _updates(X, K, shifts, iters, rng, mask, W, H, update_w, sparsity):
    n, m = X.shape
    S = len(shifts)
    f32 = np.float32
    W = (rng.random((K, m)) + 0.1).astype(f32) if W is None else np.array(W, dtype=f32)
    H = (rng.random((n, K * S)) * 0.1 + 0.01).astype(f32) if H is None else np.array(H, dtype=f32)
    entrywise = mask is not None and np.ndim(mask) == 2
    weights = None if mask is None else np.asarray(mask, dtype=f32)
    Xm = np.array(X, dtype=f32) if mask is None else np.asarray(X, dtype=f32) * weights
    eps, floor, l1 = f32(_EPS), f32(1e-12), f32(sparsity)
    A = num_h = gram = None
    for _ in range(iters):
        if A is None or update_w:
            A = _shift_stack(W, shifts).reshape(K * S, m)
            num_h = Xm @ A.T
            Aw = A if weights is None or entrywise else A * weights
            gram = None if entrywise else Aw @ A.T
        if entrywise:
            den = ((H @ A) * weights) @ A.T
        else:
            den = H @ gram
        H *= num_h / (den + l1 + eps)
        np.maximum(H, floor, out=H)
        if not update_w:
            continue
        num = _unshift_sum((H.T @ Xm).reshape(K, S, m), shifts)
        P = H.T @ ((H @ A) * weights) if entrywise else (H.T @ H) @ Aw
        W *= num / (_unshift_sum(P.reshape(K, S, m), shifts) + eps)
        top = W.max(axis=1, keepdims=True) + eps
        W /= top
        np.maximum(W, floor, out=W)
        H *= np.repeat(top[:, 0], S)[None, :]
    return W.astype(float), H.astype(float)


def _duplicate_shifts(shifts: np.ndarray) -> np.ndarray:
    """Relative shifts searched by the duplicate-phase test: :data:`DUPLICATE_SPAN` times the allowed ones."""
    return np.arange(DUPLICATE_SPAN * shifts.min(), DUPLICATE_SPAN * shifts.max() + 1)


class PhaseMapper:
    """Shift-tolerant NMF phase mapping of a library of patterns on an even ln Q grid.

    Parameters
    ----------
    n_components : int or "auto"
        Number of phases; ``"auto"`` chooses it by held-out reconstruction among 2..``max_components``.
    max_shift : float
        Largest lattice change a phase may show across the library, as a fraction (0.03 = ±3 %).
    max_components : int
        Upper end of the ``"auto"`` search.
    n_restarts : int
        Random restarts (the lowest reconstruction error wins).
    max_iter : int
        Multiplicative-update iterations per fit.
    n_bootstrap : int
        Bootstrap refits for ``fractions_std_`` (0: none).
    random_state : int
        Seed of every random choice.
    """

    def __init__(self, n_components: int | str = "auto", max_shift: float = 0.03, max_components: int = 8,
                 n_restarts: int = 3, max_iter: int = 400, n_bootstrap: int = 20, random_state: int = 0):
        self.n_components, self.max_shift, self.max_components = n_components, max_shift, max_components
        self.n_restarts, self.max_iter, self.n_bootstrap, self.random_state = n_restarts, max_iter, n_bootstrap, random_state

    def _shifts(self, grid: np.ndarray) -> np.ndarray:
        step = float(np.log(grid[1]) - np.log(grid[0]))
        s = int(np.ceil(np.log1p(self.max_shift) / step)) if self.max_shift > 0 else 0
        return np.arange(-s, s + 1)

    @staticmethod
    def _scale(X: np.ndarray) -> np.ndarray:
        X = np.clip(np.asarray(X, dtype=float), 0, None)
        return X / np.maximum(X.max(axis=1, keepdims=True), _EPS)

    def _best_fit(self, X: np.ndarray, K: int, shifts: np.ndarray,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
        best = None
        for restart in range(max(self.n_restarts, 1)):
            start = X[projection_start(X, K)] + 0.01 if restart == 0 else None  # then random starts
            W, H = _factorise(X, K, shifts, self.max_iter, rng, W=start)
            R = H @ _shift_stack(W, shifts).reshape(K * len(shifts), -1)
            err = float(np.linalg.norm(X - R) / np.linalg.norm(X))
            if best is None or err < best[2]:
                best = (W, H, err)
        return best

    def choose_components(self, X: np.ndarray, shifts: np.ndarray, rng: np.random.Generator) -> dict[int, float]:
        """Held-out relative reconstruction error for K = 2..max_components (10 % of entries masked); the
        highest basis-pair correlation of each K (at relative shifts up to :data:`DUPLICATE_SPAN` times the
        allowed one) goes to ``basis_similarity_``."""
        mask = (rng.random(X.shape) >= 0.1).astype(float)
        span = _duplicate_shifts(shifts)
        errors, self.basis_similarity_ = {}, {}
        for K in range(2, self.max_components + 1):  # the projection start: a ranking, not the fit
            start = X[projection_start(X, K)] + 0.01
            W, H = _factorise(X, K, shifts, max(3 * self.max_iter // 4, 50), rng, mask, W=start)
            R = H @ _shift_stack(W, shifts).reshape(K * len(shifts), -1)
            held = 1.0 - mask
            errors[K] = float(np.linalg.norm((X - R) * held) / np.linalg.norm(X * held))
            self.basis_similarity_[K] = basis_similarity(W, span)
        return errors

    def _pick_k(self) -> int:
        """The smallest eligible K (no duplicated basis pattern) within 2 % of the eligible best."""
        distinct = {k: e for k, e in self.cv_errors_.items() if self.basis_similarity_[k] < DUPLICATE_CORRELATION}
        pool = distinct or self.cv_errors_
        best = min(pool.values())
        return min(k for k, e in pool.items() if e <= best * 1.02)

    def _fit_distinct(self, X: np.ndarray, rng: np.random.Generator) -> tuple[int, np.ndarray, np.ndarray, float]:
        """The full fit of the chosen K; should its bases (better converged than the ranking fit's) include a
        duplicate after all, that K is not eligible either and the choice moves on (so what is reported is
        a set of distinct phases, by the same test)."""
        span = _duplicate_shifts(self.shifts_)
        tried = set()
        while True:
            K = self._pick_k()
            W, H, err = self._best_fit(X, K, self.shifts_, rng)
            similarity = basis_similarity(W, span)
            tried.add(K)
            if similarity < DUPLICATE_CORRELATION or self.basis_similarity_[K] >= DUPLICATE_CORRELATION:
                return K, W, H, err  # distinct, or nothing distinct was left to choose
            self.basis_similarity_[K] = similarity
            if self._pick_k() in tried:
                return K, W, H, err

    def fit(self, X: np.ndarray, q: np.ndarray) -> PhaseMapper:
        """Factorise patterns ``X`` (rows) measured at scattering vectors ``q`` (any units, rising)."""
        rng = np.random.default_rng(self.random_state)
        self.grid_ = log_q_grid(q)
        Xg = self._scale(np.vstack([np.interp(self.grid_, q, row) for row in np.asarray(X, dtype=float)]))
        self.shifts_ = self._shifts(self.grid_)
        if self.n_components == "auto":
            self.cv_errors_ = self.choose_components(Xg, self.shifts_, rng)
            K, W, H, err = self._fit_distinct(Xg, rng)
        else:
            K, self.cv_errors_, self.basis_similarity_ = int(self.n_components), {}, {}
            W, H, err = self._best_fit(Xg, K, self.shifts_, rng)
        self.n_components_ = K
        self.components_, self.weights_, self.reconstruction_err_ = W, H, err
        self.fractions_ = self._fractions(H, W)
        self.fractions_std_ = self._bootstrap(Xg, W, H, rng)
        self.component_names_ = [f"phase_{k + 1}" for k in range(K)]
        return self

    def _fractions(self, H: np.ndarray, W: np.ndarray) -> np.ndarray:
        K = W.shape[0]
        amount = H.reshape(len(H), K, -1).sum(axis=2) * W.sum(axis=1)[None, :]
        return amount / np.maximum(amount.sum(axis=1, keepdims=True), _EPS)

    def _bootstrap(self, X: np.ndarray, W: np.ndarray, H: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if not self.n_bootstrap:
            return np.zeros((len(X), W.shape[0]))
        draws = []
        m = X.shape[1]
        for _ in range(self.n_bootstrap):
            counts = np.bincount(rng.integers(0, m, m), minlength=m).astype(float)
            _, Hb = _factorise(X, W.shape[0], self.shifts_, 60, rng, mask=counts, W=W, H=H, update_w=False)
            draws.append(self._fractions(Hb, W))
        return np.std(draws, axis=0)

    def transform(self, X: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Phase fractions of new patterns with the learned bases fixed."""
        Xg = self._scale(np.vstack([np.interp(self.grid_, q, row) for row in np.asarray(X, dtype=float)]))
        rng = np.random.default_rng(self.random_state)
        _, H = _factorise(Xg, self.n_components_, self.shifts_, self.max_iter, rng, W=self.components_,
                          update_w=False)
        return self._fractions(H, self.components_)

    def match_references(self, references: np.ndarray, names: Sequence[str], q: np.ndarray) -> list[tuple[str, float]]:
        """Name every component after the reference pattern (on ``q``) it correlates best with over the
        allowed shifts; returns (name, correlation) per component and renames ``component_names_``."""
        R = np.vstack([np.interp(self.grid_, q, r) for r in np.asarray(references, dtype=float)])
        R = self._scale(R)
        out = []
        for W in self.components_:
            stack = _shift_stack(W[None, :], self.shifts_)[0]  # (S, m)
            best = (None, -1.0)
            for name, ref in zip(names, R, strict=True):
                corr = max(float(np.corrcoef(s, ref)[0, 1]) if s.std() > 0 and ref.std() > 0 else 0.0 for s in stack)
                if corr > best[1]:
                    best = (name, corr)
            out.append(best)
        self.component_names_ = [n for n, _ in out]
        return out

    def fit_references(self, X: np.ndarray, q: np.ndarray, references: np.ndarray, names: Sequence[str]) -> PhaseMapper:
        """Fractions of the given reference phases (bases fixed, shifts allowed) instead of learned bases."""
        rng = np.random.default_rng(self.random_state)
        self.grid_ = log_q_grid(q)
        Xg = self._scale(np.vstack([np.interp(self.grid_, q, row) for row in np.asarray(X, dtype=float)]))
        W = self._scale(np.vstack([np.interp(self.grid_, q, r) for r in np.asarray(references, dtype=float)]))
        self.shifts_ = self._shifts(self.grid_)
        _, H = _factorise(Xg, len(W), self.shifts_, self.max_iter, rng, W=W, update_w=False)
        R = H @ _shift_stack(W, self.shifts_).reshape(len(W) * len(self.shifts_), -1)
        self.components_, self.weights_, self.n_components_ = W, H, len(W)
        self.reconstruction_err_ = float(np.linalg.norm(Xg - R) / np.linalg.norm(Xg))
        self.fractions_ = self._fractions(H, W)
        self.fractions_std_ = self._bootstrap(Xg, W, H, rng)
        self.component_names_ = list(names)
        self.cv_errors_, self.basis_similarity_ = {}, {}
        return self
