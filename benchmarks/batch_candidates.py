"""Candidate batch strategies probed for issue #17 target (a) (``default_probes.py --part batch``).

None of them is shipped; they are kept so that the probe figures in ``results/default_probes.md`` can be
rerun. Each is the default (``etgp`` mixture, log-EI, ``fantasy`` batch on the GP member's posterior
covariance) with one change:

- ``trust-N-F``: a local-exploitation phase (TuRBO-like trust region, Eriksson et al. 2019). Once the
  campaign holds ``START`` results, the first ``N`` picks of every round are restricted to the
  fraction ``F`` of the pool nearest the incumbent (the best measured input), in the GP member's
  length-scale units (so the region follows what the model has learnt matters); the rest of the
  round is the default fantasy batch, conditioned on the local picks. With ``k = 1`` every other
  pick is local.
- ``trustgp-N-F``: as ``trust``, but the local picks are scored by the GP member alone (a confident
  GP is what exploits a narrow optimum; the mixture's wider std spreads picks).
- ``trust-N-F-gG`` / ``trustgp-N-F-gG`` (session 9): the same, but the local picks are made only while
  the campaign is improving: when one of the last ``G`` results beat every earlier one (TuRBO's
  success rule in its simplest form: exploit around a discovery, stop once it stops paying).
- ``blend-wW`` (session 9): the mixture with weight ``W`` on its GP member (0.5 = the default);
  ``etgp-floor`` / ``blend-wW-floor``: the mixture's variance never below its GP member's (in regions
  no data has reached the forest's std is small, and the mixture explores them less than a GP would);
  ``etgp-latent``: the acquisition sees the members' uncertainty about the function only (the forest's
  sampling variance without its out-of-bag noise term, the GP's latent variance without its learned
  noise): the forest's noise term (its residual spread, which does not shrink where data accumulate)
  otherwise keeps an exploration bonus on the incumbent's region for ever.
- ``latent-N`` (session 9): the default fantasy batch whose last ``N`` picks per round are scored with
  the mixture's latent std (``ForestGPBlend.predict_latent``) instead of its predictive std: part of
  each round explores, the rest keeps the default's exploitation of the incumbent's region.
  ``latent-N-sG``: the same, but only in rounds where none of the last ``G`` results beat the earlier
  best (exploit while it pays, explore once it stalls).
- ``gpfirst``: the first pick of every round is the GP member's log-EI argmax over the whole pool.
- ``preq`` / ``preqw``: prequential choice between the mixture and its GP member. Every prediction made
  for a pick is kept; before each round, the log predictive density of the last ``WINDOW`` results
  (predicted before they were measured) is summed for both models. ``preq`` uses the model with the
  higher sum for the whole round; ``preqw`` mixes the two posteriors with weights proportional to
  ``exp(sum)`` (Bayesian model averaging over the window).
- ``early-N-STRATEGY`` (session 20): ``STRATEGY`` (e.g. ``gp-ei``, ``fastgp-logei``, fantasy batch) while the
  campaign holds fewer than ``N`` results, the default from then on: a GP alone is the stronger model on
  a handful of points (photo_pce10: sequential GP-ARD-EI finds half the top 1 % after 24 experiments,
  the default's batch of 5 after 34), the mixture the stronger explorer later (oer_plate_3496).
- ``etgp-cold`` / ``fastgp-cold-ACQ`` (session 20): the mixture, or its GP alone, re-optimising the GP's
  hyper-parameters at every refit (``warm_start=False``) instead of after 10 % more data; ``etgp-priorX`` /
  ``fastgp-priorX-ACQ``: the GP's log-normal prior widths times ``X``. On photo_pce10 the scikit-learn GP
  (``gp-ei``, no priors, refitted every step) beat our warm-started GP (``fastgp-ei``): which difference is it?
- ``coldfirst-N`` (session 20): the first ``N`` picks of every round are the log-EI choices of a separate
  GP (all features, hyper-parameters re-optimised at every refit, the ``fastgp-cold`` of above), the rest
  the default fantasy batch conditioned on them: on photo_pce10 that GP alone matches GP-ARD-EI.
- ``mixfeat`` (session 22): the default on the inputs plus mixture-presence features where the inputs
  are loadings (at least 3 columns summing to the same total in every row, some of them exactly 0): one
  0/1 indicator per such column (component present) and the number of components present. The pool of
  photo_pce10 holds its best on the simplex's binary edges (10 of its 11 best, 5.6 % of the pool); a GP
  on loadings sees no difference between a component at 0 and at 0.05, a mixture scientist does.
- ``temper-G`` (session 24): the fantasy batch whose variance ratio (what the picks leave of each
  candidate's uncertainty) is raised to the power ``G`` < 1: the picks of one round spread less, so a
  round spends more of itself where its first pick points (on small pools held out in session 24, the
  sequential picks found 31-39 % of the top set after 7 experiments, the batch of 5 10-21 %).
- ``liar-B`` (session 24): optimistic fantasies: each pick is taken as measured at its mean plus ``B``
  predictive stds, which raises the mean of the candidates correlated with it (by ``B rho std``, rho
  from the GP member's covariance) and the incumbent, as a sequential campaign would after a good result.
- ``keepbest``: the fantasy batch without the kriging-believer update of the incumbent (every pick of a
  round is scored against the measured best; only the variances are conditioned on earlier picks),
  so a round spends more of its picks where the predicted mean is high.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from matloop.design.acquisition import Context, Posterior, make_acquisition
from matloop.design.batch import RankOneConditioner
from matloop.design.simulate import Strategy
from matloop.design.surrogate import WarmStartGP as _REAL_GP  # bound now: etgp-cold swaps the module's name
from matloop.design.surrogate import make_surrogate

START = 10
WINDOW = 10


class LocalBatch(Strategy):
    """The default fantasy batch with ``n_local`` picks per round from a trust region (see module doc)."""

    def __init__(self, seed: int, n_local: int = 1, fraction: float = 0.02, local_score: str = "mix",
                 global_gp_first: bool = False, name: str = "trust", prequential: str = "",
                 update_best: bool = True, gate: int = 0, latent_slots: int = 0, stall: int = 0,
                 cold_first: int = 0, temper: float = 1.0, liar: float = 0.0):
        self.seed, self.n_local, self.fraction, self.prequential = seed, n_local, fraction, prequential
        self.temper, self.liar = temper, liar
        self.gate, self.latent_slots, self.stall = gate, latent_slots, stall
        self.cold_first = cold_first
        self._kept: dict = {}
        self.update_best = update_best
        self.local_score, self.global_gp_first, self.name = local_score, global_gp_first, name
        self._model, self._n_fitted = None, 0

    def _region(self, model, Xm, ym, Xc, objective) -> np.ndarray:
        gp, cols = model.gp_, model.gp_features_
        lengths = np.exp(gp.theta_[:-2])
        Zc = gp.cleaner_._transform_array(Xc[:, cols]) / lengths
        inc = int(np.argmax(objective.sign * np.asarray(ym, float)))
        zi = gp.cleaner_._transform_array(Xm[inc:inc + 1, cols]) / lengths
        dist = np.sqrt(((Zc - zi) ** 2).sum(axis=1))
        m = max(1, int(np.ceil(self.fraction * (len(Xc) + len(Xm)))))
        return np.argsort(dist, kind="stable")[:m]

    def propose(self, Xm, ym, Xc, k, rng, objective):
        model = self._model if (self._model is not None and len(Xm) > self._n_fitted) else make_surrogate("etgp", self.seed)
        model.fit(Xm, ym)
        self._model, self._n_fitted = model, len(Xm)
        acq = make_acquisition("logei", objective)
        mix = objective.posterior(*model.predict(Xc, return_std=True))
        n_latent = self.latent_slots
        if n_latent and self.stall:  # explore only once the incumbent has stopped improving
            y = objective.sign * np.asarray(ym, float)
            if len(y) <= self.stall or y.max() > y[:-self.stall].max():
                n_latent = 0
        lat = objective.posterior(*latent_posterior(model, Xc)) if n_latent else None
        gpp = objective.posterior(*model.gp_.predict(Xc[:, model.gp_features_], return_std=True))
        if self.cold_first:  # a GP of its own, hyper-parameters re-optimised at every refit, on every feature
            cold = _gp_variant(self.seed, False, 1.0).fit(Xm, ym)
            coldp = objective.posterior(*cold.predict(Xc, return_std=True))
        if self.prequential:
            mix = self._prequential(mix, gpp, Xm, ym, objective)
        ctx = Context(best=objective.best(ym), X_candidates=Xc, X_measured=Xm, rng=rng)
        local_on = len(Xm) >= START
        if local_on and self.gate:  # only while the incumbent improves (see module doc)
            y = objective.sign * np.asarray(ym, float)
            local_on = bool(y.max() > y[:-self.gate].max())
        if k == 1:
            n_local = 1 if (local_on and len(Xm) % 2 == 0) else 0
        else:
            n_local = min(self.n_local, k) if local_on else 0
        region = self._region(model, Xm, ym, Xc, objective) if n_local else None
        gp = RankOneConditioner(model.batch_covariance(Xc))
        chosen = []
        mean_shift = np.zeros(len(Xc))
        for t in range(k):
            ratio = gp.ratio() ** self.temper
            if self.liar:  # an optimistic fantasy moves the mean of the candidates correlated with the picks
                mix = Posterior(mix.mean + mean_shift, mix.std)
                mean_shift = np.zeros(len(Xc))
            use_gp = (t < n_local and self.local_score == "gp") or (t == 0 and self.global_gp_first)
            post = gpp if use_gp else mix
            if t < self.cold_first:
                post = coldp
            if n_latent and t >= k - n_latent:  # the last slots: EI on the function's std
                post = Posterior(mix.mean, lat.std)
            values = np.asarray(acq(Posterior(post.mean, post.std * np.sqrt(ratio)), ctx), float).copy()
            if t < n_local:
                mask = np.full(len(values), -np.inf)
                mask[region] = 0.0
                values = values + mask
            values[chosen] = -np.inf
            if not np.isfinite(values).any():  # region exhausted: fall back to the whole pool
                values = np.asarray(acq(Posterior(mix.mean, mix.std * np.sqrt(ratio)), ctx), float).copy()
                values[chosen] = -np.inf
            j = int(np.argmax(values))
            chosen.append(j)
            if t == k - 1:
                break
            before = gp.latent.copy()
            gp.condition(j)
            if self.liar:  # fantasy y_j = mean_j + liar * std_j: neighbours move by liar * rho_ij * std_i
                u = gp.factors[-1]
                rho = u / np.sqrt(np.maximum(before + gp.noise, 1e-300))
                mean_shift = self.liar * rho * mix.std * np.sqrt(ratio)
            if ctx.best is not None and self.update_best:
                ctx = replace(ctx, best=max(ctx.best, float(mix.mean[j] + self.liar * mix.std[j] * np.sqrt(ratio[j]))))
        if self.prequential:
            for j in chosen:
                self._kept[Xc[j].tobytes()] = (self._raw[0][j], self._raw[1][j], self._raw[2][j], self._raw[3][j])
        return np.array(chosen)

    def _prequential(self, mix, gpp, Xm, ym, objective):
        """The posterior of the model that predicted the latest results best (see module doc)."""
        self._raw = (mix.mean, mix.std, gpp.mean, gpp.std)
        y = objective.sign * np.asarray(ym, float)
        ll = np.zeros(2)
        seen = 0
        for i in range(len(Xm) - 1, -1, -1):
            kept = self._kept.get(Xm[i].tobytes())
            if kept is None:
                continue
            for m, (mu, sd) in enumerate(((kept[0], kept[1]), (kept[2], kept[3]))):
                ll[m] += -np.log(max(sd, 1e-12)) - 0.5 * ((y[i] - mu) / max(sd, 1e-12)) ** 2
            seen += 1
            if seen == WINDOW:
                break
        if seen < 3:
            return mix
        if self.prequential == "select":
            return gpp if ll[1] > ll[0] else mix
        w = 1.0 / (1.0 + np.exp(np.clip(ll[0] - ll[1], -50, 50)))  # weight of the GP member
        mean = w * gpp.mean + (1 - w) * mix.mean
        var = w * gpp.std**2 + (1 - w) * mix.std**2 + w * (1 - w) * (gpp.mean - mix.mean) ** 2
        return Posterior(mean, np.sqrt(var))


def latent_posterior(model, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of the *function* under the default mixture (``ForestGPBlend``): each member's
    uncertainty without its noise term (the forest's out-of-bag residual variance, the GP's learned
    noise), mixed as ``ForestGPBlend`` mixes them (the disagreement term stays)."""
    forest, gp = model.forest_, model.gp_
    m_f, s_f = forest.predict(X, return_std=True)
    v_f = np.maximum(s_f**2 - forest._noise_variance(forest.cleaner_._transform_array(X)), 0.0)
    m_g, s_g = gp.predict(X[:, model.gp_features_], return_std=True)
    v_g = np.maximum(s_g**2 - gp.y_std_**2 * float(np.exp(gp.theta_[-1])), 0.0)
    var = 0.5 * (v_f + v_g) + 0.25 * (m_f - m_g) ** 2
    return 0.5 * (m_f + m_g), np.sqrt(np.maximum(var, 1e-12 * gp.y_std_**2))


class _Blend:
    """Session-9 surrogate variants of the default mixture (``ForestGPBlend``), made lazily (import cost)."""

    @staticmethod
    def make(seed: int, w: float = 0.5, floor: bool = False, latent: bool = False):
        from matloop.design.surrogate import ForestGPBlend

        class Variant(ForestGPBlend):
            """``w``: weight of the GP member; ``floor``: the mixture never more confident than its GP."""

            def __init__(self, n_estimators=50, max_gp_features=20, warm_start=True, random_state=None, w=0.5,
                         floor=False, latent=False):
                super().__init__(n_estimators, max_gp_features, warm_start, random_state)
                self.w, self.floor, self.latent = w, floor, latent

            def _predict_mean_var(self, X, return_var):
                m_f, s_f = self.forest_.predict(X, return_std=True)
                m_g, s_g = self.gp_.predict(X[:, self.gp_features_], return_std=True)
                if self.latent and return_var:  # the members' uncertainty about f, without their noise terms
                    f = self.forest_
                    s_f = np.sqrt(f._variance(f._tree_predictions(f.cleaner_._transform_array(X))))
                    g = self.gp_
                    s_g = np.sqrt(np.maximum(s_g**2 - g.y_std_**2 * np.exp(g.theta_[-1]), 0.0))
                w = self.w
                mean = w * m_g + (1 - w) * m_f
                if not return_var:
                    return mean, None
                var = w * s_g**2 + (1 - w) * s_f**2 + w * (1 - w) * (m_g - m_f) ** 2
                return mean, np.maximum(var, s_g**2) if self.floor else var

        return Variant(random_state=seed, w=w, floor=floor, latent=latent)


class EarlySwitch(Strategy):
    """``first`` while fewer than ``n_switch`` results are held, ``then`` afterwards (``early-N-STRATEGY``)."""

    def __init__(self, first: Strategy, then: Strategy, n_switch: int, name: str):
        self.first, self.then, self.n_switch, self.name = first, then, n_switch, name

    def propose(self, X_measured, y_measured, X_candidates, k, rng, objective):
        use = self.first if len(y_measured) < self.n_switch else self.then
        return use.propose(X_measured, y_measured, X_candidates, k, rng, objective)


def mixture_presence(X: np.ndarray) -> np.ndarray | None:
    """Presence indicators and the number of components present for the mixture columns of ``X`` (None
    when there are none). Mixture: the varying columns of ``X``, all of them and at least 3, are linearly
    dependent with coefficients of one sign (a constant row sum of the raw loadings, so standardised
    inputs work too); a component is absent where its column is at its minimum (a loading of 0), and
    some rows must have one. A pool with a process column beside its loadings gets no features."""
    span = X.max(axis=0) - X.min(axis=0)
    cols = np.flatnonzero(span > 0)
    if len(cols) < 3:
        return None
    Z = X[:, cols] - X[:, cols].mean(axis=0)
    _, sv, vt = np.linalg.svd(Z, full_matrices=False)
    v = vt[-1]
    if sv[-1] > 1e-3 * sv[0] or not ((v > 1e-6).all() or (v < -1e-6).all()):
        return None
    absent = np.isclose(X[:, cols], X[:, cols].min(axis=0), rtol=0, atol=1e-9 * span[cols])
    if not absent.any():
        return None
    present = (~absent).astype(float)
    return np.column_stack([present, present.sum(axis=1)])


class MixtureFeatures(Strategy):
    """``inner`` on the inputs plus :func:`mixture_presence` features (``mixfeat``)."""

    def __init__(self, inner: Strategy, name: str):
        self.inner, self.name = inner, name

    def propose(self, X_measured, y_measured, X_candidates, k, rng, objective):
        X = np.vstack([X_measured, X_candidates])
        extra = mixture_presence(X)
        if extra is not None:
            X = np.hstack([X, extra])
        n = len(X_measured)
        return self.inner.propose(X[:n], y_measured, X[n:], k, rng, objective)


def _gp_variant(seed: int, warm: bool, prior_scale: float):
    """``WarmStartGP`` with its warm start on or off and its prior widths scaled (``etgp-cold``, ``-priorX``)."""
    class Variant(_REAL_GP):
        def _objective(self, theta, Z, t):
            sd = self._prior_sd
            self._prior_sd = sd * prior_scale
            try:
                return super()._objective(theta, Z, t)
            finally:
                self._prior_sd = sd

    return Variant(warm_start=warm, random_state=seed)


def _gp_options(tag: str) -> tuple[bool, float]:
    """``cold`` -> no warm start; ``priorX`` -> prior widths times X."""
    return (tag != "cold", float(tag[len("prior"):]) if tag.startswith("prior") else 1.0)


def make_candidate(name: str, seed: int) -> Strategy | None:
    """``trust-N-F``, ``trustgp-N-F``, ``gpfirst``, ... (module doc); None for any other name."""
    head, _, tag = name.partition("-")
    if head in ("etgp", "fastgp") and (tag.split("-")[0] == "cold" or tag.startswith("prior")):
        from matloop.design import surrogate as sg
        from matloop.design.simulate import SurrogateStrategy

        tag, _, acq = tag.partition("-")
        warm, scale = _gp_options(tag)
        if head == "fastgp":
            return SurrogateStrategy(lambda: _gp_variant(seed, warm, scale), acquisition=acq or "logei", name=name,
                                     reuse_model=True)

        class Blend(sg.ForestGPBlend):
            def fit(self, X, y):
                real = sg.WarmStartGP
                sg.WarmStartGP = lambda warm_start, random_state: _gp_variant(seed, warm, scale)
                try:
                    return super().fit(X, y)
                finally:
                    sg.WarmStartGP = real

        return SurrogateStrategy(lambda: Blend(random_state=seed, warm_start=warm), acquisition="logei", name=name,
                                 reuse_model=True)
    if name == "mixfeat":
        from matloop.design.simulate import make_strategy

        return MixtureFeatures(make_strategy("default", seed, batch_method="fantasy"), name)
    if name.startswith("early-"):
        from matloop.design.simulate import make_strategy

        n, _, first = name[len("early-"):].partition("-")
        return EarlySwitch(make_strategy(first, seed, batch_method="fantasy"),
                           make_strategy("default", seed, batch_method="fantasy"), int(n), name)
    if name.startswith("blend-w") or name in ("etgp-floor", "etgp-latent"):  # session 9: surrogate variants
        from matloop.design.simulate import SurrogateStrategy

        w = 0.5 if name.startswith("etgp") else float(name[len("blend-w"):].split("-")[0])
        floor, latent = name.endswith("floor"), name.endswith("latent")
        return SurrogateStrategy(lambda: _Blend.make(seed, w, floor, latent), acquisition="logei", name=name,
                                 reuse_model=True)
    if name in ("preq", "preqw"):
        return LocalBatch(seed, n_local=0, name=name, prequential="select" if name == "preq" else "weight")
    if name == "keepbest":
        return LocalBatch(seed, n_local=0, name=name, update_best=False)
    if name.startswith("latent-"):  # session 9: the last N picks of a round scored on the latent std
        n, _, g = name[len("latent-"):].partition("-s")
        return LocalBatch(seed, n_local=0, name=name, latent_slots=int(n), stall=int(g) if g else 0)
    if name.startswith("coldfirst-"):  # session 20: the first N picks of a round from a GP refitted every step
        return LocalBatch(seed, n_local=0, cold_first=int(name.split("-")[1]), name=name)
    if name.startswith("temper-"):  # session 24: the fantasy's variance ratio to the power G (1 = default)
        return LocalBatch(seed, n_local=0, temper=float(name.split("-")[1]), name=name)
    if name.startswith("liar-"):  # session 24: optimistic fantasies, mean + B std (0 = the default's believer)
        return LocalBatch(seed, n_local=0, liar=float(name.split("-")[1]), name=name)
    if name == "gpfirst":
        return LocalBatch(seed, n_local=0, global_gp_first=True, name=name)
    head, _, rest = name.partition("-")
    if head in ("trust", "trustgp") and rest:
        n, _, f = rest.partition("-")
        f, _, g = f.partition("-g")
        return LocalBatch(seed, n_local=int(n), fraction=float(f), local_score="gp" if head == "trustgp" else "mix",
                          name=name, gate=int(g) if g else 0)
    return None
