"""Probes behind issue #17's three missed benchmark targets: why the default loses, and what was tried.

Every candidate change was tried on a TUNING set/seed group first; only what helped there was run
on the HELD-OUT group, and no default was changed unless the held-out group agreed.

Parts: ``batch`` (target a: candidate changes on ``batch_penalty.py``'s tuning plate oer_plate_3496,
seeds 0..7); ``plates`` (diagnosis on both plates: surrogates fitted to 50 random compositions);
``history`` (target b: probe arms on ``campaign_prior.py``'s tuning direction, campaign oer_plate_3496
with history oer_plate_3851, seeds 0..3, each with a shuffled-history control); ``multi`` (target c:
EHVI variants on redoxmers tuning seeds 0, 1, 2, 6, 7, 8; held-out redoxmers seeds 3, 4, 5 and a
fixed 1,000-row dye_lasers subsample, subsample seed 12345, with BoTorch qLogNEHVI) and
``multi-models`` (each goal's surrogate from 30 random rows, ours and BoTorch's GP); ``batch2`` (target a,
second round: the candidates of ``batch_candidates.py`` on any ``batch_penalty`` set or on one goal of a
several-goal set, ``--sets redoxmers:gsol``, top set its best 1 %; with the ``--split`` label; full curves
stored per seed). What each
candidate is: the docstrings below and ``results/default_probes.md``.

Results: ``results/default_probes.json`` (stored after every run) and ``results/default_probes.md``
(``--report-only`` rebuilds it; the reading comes from ``results/default_probes_notes.md``).
usage: python benchmarks/default_probes.py --part PART [--seeds ...] [--set NAME] [--split ...] [--budget N]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))

RESULTS = Path(__file__).parent / "results"
JSON_PATH = RESULTS / "default_probes.json"


def _store() -> dict:
    return json.loads(JSON_PATH.read_text()) if JSON_PATH.exists() else {}


def _save(part: str, key: str, seed, value) -> None:
    import fcntl
    import tempfile

    RESULTS.mkdir(exist_ok=True)
    with open(Path(tempfile.gettempdir()) / "matloop_default_probes.lock", "w") as lock:  # several processes store
        fcntl.flock(lock, fcntl.LOCK_EX)
        store = _store()  # another process may have stored runs meanwhile
        store.setdefault(part, {}).setdefault(key, {})[str(seed)] = value
        JSON_PATH.write_text(json.dumps(store))


# ----------------------------------------------------------------------------------- batch (target a)
def _blend(weight: float, seed: int):
    from matloop.design.surrogate import ForestGPBlend

    class WeightedBlend(ForestGPBlend):
        """The default mixture with weight ``w`` on the GP (0.5 = the default)."""

        def __init__(self, n_estimators=50, max_gp_features=20, warm_start=True, random_state=None, w=0.5):
            super().__init__(n_estimators, max_gp_features, warm_start, random_state)
            self.w = w

        def _predict_mean_var(self, X, return_var):
            m_f, s_f = self.forest_.predict(X, return_std=True)
            m_g, s_g = self.gp_.predict(X[:, self.gp_features_], return_std=True)
            w = self.w
            mean = w * m_g + (1 - w) * m_f
            return mean, (w * s_g**2 + (1 - w) * s_f**2 + w * (1 - w) * (m_g - m_f) ** 2) if return_var else None

    return WeightedBlend(random_state=seed, w=weight)


def _hedge_strategy(seed: int):
    """Fantasy batch whose picks alternate between the mixture's and its GP member's posterior."""
    from matloop.design.acquisition import Context, Posterior, make_acquisition
    from matloop.design.batch import RankOneConditioner
    from matloop.design.simulate import SurrogateStrategy
    from matloop.design.surrogate import make_surrogate

    class Hedge(SurrogateStrategy):
        def propose(self, Xm, ym, Xc, k, rng, objective):
            prev = getattr(self, "_model", None)
            model = prev if (prev is not None and len(Xm) > self._n_fitted) else self.make_model()
            model.fit(Xm, ym)
            self._model, self._n_fitted = model, len(Xm)
            acq = make_acquisition(self.acquisition, objective)
            posts = [objective.posterior(*model.predict(Xc, return_std=True)),
                     objective.posterior(*model.gp_.predict(Xc[:, model.gp_features_], return_std=True))]
            ctx = Context(best=objective.best(ym), X_candidates=Xc, X_measured=Xm, rng=rng)
            gp = RankOneConditioner(model.batch_covariance(Xc))
            chosen = []
            for t in range(k):
                post = posts[t % 2] if k > 1 else posts[0]
                values = np.asarray(acq(Posterior(post.mean, post.std * np.sqrt(gp.ratio())), ctx), float).copy()
                values[chosen] = -np.inf
                j = int(np.argmax(values))
                chosen.append(j)
                gp.condition(j)
                if ctx.best is not None:
                    ctx = replace(ctx, best=max(ctx.best, float(post.mean[j])))
            return np.array(chosen)

    return Hedge(lambda: make_surrogate("etgp", seed), acquisition="logei", name="hedge", reuse_model=True)


def batch_part(names, seeds, batches) -> None:
    import batch_penalty as bp

    from matloop.design.simulate import SurrogateStrategy, make_strategy

    def make(name, seed):
        if name == "blend-w0.75":
            return SurrogateStrategy(lambda: _blend(0.75, seed), acquisition="logei", name=name, reuse_model=True)
        if name == "hedge":
            return _hedge_strategy(seed)
        return make_strategy(name, seed, batch_method="fantasy")

    bp.make = make
    for name in names:
        for k in batches:
            e = bp.run_config("tuning", "oer_plate_3496", name, k, list(seeds), 100)
            for seed, curve in zip(seeds, e["curves"], strict=True):
                _save("batch", f"oer_plate_3496|{name}|{k}", seed, curve[-1])
            print(f"oer_plate_3496 {name} k={k}: Top% @100 per seed {[round(c[-1], 2) for c in e['curves']]}", flush=True)


def batch2_part(names, seeds, batches, sets, split) -> None:
    """Candidates of ``batch_candidates.py`` (and any ``batch_penalty`` strategy) on any set, with a split label."""
    import batch_penalty as bp
    from batch_candidates import make_candidate

    bp.make = lambda name, seed, _old=bp.make: make_candidate(name, seed) or _old(name, seed)
    for key in sets:
        if ":" in key and key not in bp.SETS:  # one goal of a multi-goal set alone ("redoxmers:ered"): best 1 %
            _add_single_goal_set(bp, key)
        for name in names:
            for k in batches:
                for seed in seeds:  # one seed per call: stored as soon as it is done
                    e = bp.run_config(split, key, name, k, [seed], 100)
                    _save("batch2", f"{split}|{key}|{name}|{k}", seed, e["curves"][0])
                    print(f"{split} {key} {name} k={k} seed {seed}: Top% @100 {e['curves'][0][-1]:.2f} "
                          f"({e['seconds_per_run']:.0f} s)", flush=True)


def _add_single_goal_set(bp, key: str) -> None:
    """Register ``SET:GOAL`` (a multi-goal set scored on one goal, top set its best 1 %) with batch_penalty."""
    import closed_loop_multi as clm

    from matloop.design.acquisition import Objective

    name, goal = key.split(":")
    X, Y, goals, _ = clm.load_set(name)
    j = [g.column for g in goals].index(goal)
    direction = goals[j].direction
    bp.SETS[key] = (key, Objective(direction), 0.01, 100)

    class _Single:  # what run_config needs of a dataset: featurize() input and .y
        y = pd.Series(Y[:, j])

    features = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    bp.load = lambda ds_name, _old=bp.load: _Single() if ds_name == key else _old(ds_name)
    bp.featurize = lambda ds, _old=bp.featurize: features if isinstance(ds, _Single) else _old(ds)


# ---------------------------------------------------------------------------------- plates (diagnosis)
def plates_part(seeds, n_train: int = 50) -> None:
    from scipy.stats import spearmanr

    from matloop.datasets import load
    from matloop.design.acquisition import Context, Objective, make_acquisition
    from matloop.design.simulate import average_duplicates
    from matloop.design.surrogate import featurize, make_surrogate

    for name in ("oer_plate_3496", "oer_plate_3851"):
        ds = load(name)
        Xu, y, _ = average_duplicates(featurize(ds), ds.y.to_numpy(float))
        X = Xu.to_numpy(float)
        X = (X - X.mean(0)) / np.where(X.std(0) > 0, X.std(0), 1)
        top = np.argsort(y)[: int(np.ceil(0.01 * len(y)))]
        for m in ("etgp", "fastgp", "gp"):
            for seed in seeds:
                tr = np.random.default_rng(seed).choice(len(y), n_train, replace=False)
                te = np.setdiff1d(np.arange(len(y)), tr)
                mu, sd = make_surrogate(m, seed).fit(X[tr], y[tr]).predict(X[te], return_std=True)
                good = y[te] <= np.quantile(y, 0.05)
                z = (y[te] - mu) / sd
                v = make_acquisition("logei", Objective("min"))(Objective("min").posterior(mu, sd),
                                                                  Context(best=-y[tr].min()))
                _save("plates", f"{name}|{m}", seed, {
                    "spearman": float(spearmanr(mu, y[te])[0]),
                    "rmse_top5": float(np.sqrt(np.mean((mu - y[te])[good] ** 2)) / y.std()),
                    "nll": float(np.mean(0.5 * np.log(2 * np.pi * sd**2 / y.std() ** 2) + 0.5 * z**2)),
                    "top1_in_acq50": int(np.isin(te[np.argsort(-v)[:50]], top).sum()),
                    "median_sd": float(np.median(sd) / y.std())})
            print(f"{name} {m}: done", flush=True)


# --------------------------------------------------------------------------------- history (target b)
def _union(frame: pd.DataFrame, comp: dict, elements: list) -> np.ndarray:
    W = np.zeros((len(frame), len(elements)))
    for c, el in comp.items():
        W[:, elements.index(el)] = frame[c].to_numpy(float)
    return W / np.maximum(W.sum(1, keepdims=True), 1e-12)


def history_run(camp: str, hist: str, arm: str, seed: int, budget: int = 100, batch: int = 5,
                history_rows: int = 200, focus: float = 0.2) -> dict:
    """One campaign as ``campaign_prior.history_run``, with the probe arms of the module docstring."""
    import campaign_prior as cp

    import matloop.design.history as H
    from matloop.design.acquisition import Context, Objective, make_acquisition
    from matloop.design.batch import select_batch
    from matloop.design.coldstart import coverage_pool
    from matloop.design.suggest import rank_candidates
    from matloop.design.surrogate import DEFAULT_SURROGATE, make_surrogate

    frame, params, _, _ = cp._averaged(camp, [cp.TARGET])
    y = frame[cp.TARGET].to_numpy(float)
    X = frame[params].to_numpy(float)
    hframe, hparams, _, _ = cp._averaged(hist, [cp.TARGET])
    if arm.startswith("bad"):
        hframe[cp.TARGET] = np.random.default_rng(1000 + seed).permutation(hframe[cp.TARGET].to_numpy())
    n_top = int(np.ceil(0.01 * len(y)))
    top = set(np.argsort(y)[:n_top].tolist())
    objective = Objective("min")
    prior = H.HistoryPrior(params, cp.TARGET, seed).fit([(hframe, hist)])
    rows_arm = arm.endswith("rows")
    if rows_arm:  # the history's rows as data: union element loadings + a task column (1 = this campaign)
        cc, hc = H._composition_columns(params), H._composition_columns(hparams)
        elements = sorted(set(cc.values()) | set(hc.values()))
        Xc_all = np.column_stack([_union(frame, cc, elements), np.ones(len(frame))])
        sub = np.random.default_rng(seed).choice(len(hframe), min(history_rows, len(hframe)), replace=False)
        Xh = np.column_stack([_union(hframe.iloc[sub], hc, elements), np.zeros(len(sub))])
        yh = hframe[cp.TARGET].to_numpy(float)[sub]
        model_rows = make_surrogate(DEFAULT_SURROGATE, seed)
    measured: list[int] = []
    found: list[int] = []
    t0 = time.perf_counter()
    while len(measured) < budget:
        open_ = np.setdiff1d(np.arange(len(y)), measured)
        k = min(batch, budget - len(measured))
        if "focused" in arm and not measured:  # first batch: cover the history's best 20 %
            h = prior.predict(frame.iloc[open_])
            good = np.flatnonzero(h <= np.quantile(h, focus))
            pos = good[coverage_pool(X[open_][good], k, None, seed)]
        elif rows_arm:
            model_rows.fit(np.vstack([Xh, Xc_all[measured]]), np.r_[yh, y[measured]])
            mean, std = model_rows.predict(Xc_all[open_], return_std=True)
            post = objective.posterior(mean, std)
            best = objective.best(y[measured]) if measured else float(np.max(post.mean))
            ctx = Context(best=best, X_candidates=Xc_all[open_], X_measured=Xc_all[measured],
                          rng=np.random.default_rng(seed))
            pos, _ = select_batch(make_acquisition("logei", objective), post, ctx, k, method="fantasy",
                                  covariance=model_rows.batch_covariance(Xc_all[open_]))
        else:
            saved = H.history_helps
            if "nosafe" in arm:
                H.history_helps = lambda *a, **kw: (True, "safeguard off")
            try:
                hh = H.apply_history(prior, X[measured], y[measured], frame.iloc[measured], X[open_],
                                     frame.iloc[open_], DEFAULT_SURROGATE, None, "fantasy", objective, seed,
                                     use="mean" if "mean" in arm else "feature")
            finally:
                H.history_helps = saved
            pos = rank_candidates(hh["X_train"], y[measured], hh["X_candidates"], frame.iloc[open_], objective, k,
                                  hh["acquisition"], hh["batch_method"], hh["model"], seed).chosen_positions
        for p in open_[pos]:
            measured.append(int(p))
            if int(p) in top:
                found.append(len(measured))
    return {"found": found, "n_top": n_top, "budget": budget, "seconds": round(time.perf_counter() - t0, 1)}


def history_knowledge() -> None:
    """How the history model's prediction ranks each campaign plate (real and shuffled history): Spearman,
    the percentiles of the plate's best 1 % under it, and how many of them lie in its best 5-30 %."""
    import campaign_prior as cp
    from scipy.stats import spearmanr

    from matloop.design.history import HistoryPrior
    for camp, hist in cp.PLATES:
        frame, params, _, _ = cp._averaged(camp, [cp.TARGET])
        y, (hframe, _, _, _) = frame[cp.TARGET].to_numpy(float), cp._averaged(hist, [cp.TARGET])
        for shuffled in (False, True):
            if shuffled:
                hframe[cp.TARGET] = np.random.default_rng(0).permutation(hframe[cp.TARGET].to_numpy())
            h = HistoryPrior(params, cp.TARGET, 0).fit([(hframe, hist)]).predict(frame)
            rank = np.argsort(np.argsort(h))[np.argsort(y)[: int(np.ceil(0.01 * len(y)))]] / len(y)
            _save("history_knowledge", f"{camp} ({'shuffled' if shuffled else 'real'})", 0,
                  {"spearman": float(spearmanr(h, y)[0]), "best1_percentiles_under_h": np.round(np.sort(rank) * 100, 1).tolist(),
                   "best1_within": {f"{q:g}": int((rank < q).sum()) for q in (0.05, 0.1, 0.2, 0.3)}})


def history_part(arms, seeds) -> None:
    import campaign_prior as cp
    history_knowledge()

    for seed in seeds:
        for arm in arms:
            run = history_run("oer_plate_3496", "oer_plate_3851", arm, seed)
            _save("history", f"oer_plate_3496|{arm}", seed, run)
            print(f"{arm} seed {seed}: half at {cp._to_half(run)}, first at {cp._first(run)}", flush=True)


# ----------------------------------------------------------------------------------- multi (target c)
def _latent_hooks():
    """Context switches that make the surrogates' std the latent function's (the noise term removed)."""
    from matloop.design import surrogate as S
    blend, gp = S.ForestGPBlend._predict_mean_var, S.WarmStartGP._predict_mean_var

    def gp_latent(self, X, return_var):
        m, v = gp(self, X, return_var)
        return (m, v) if v is None else (m, np.maximum(v - self.y_std_**2 * np.exp(self.theta_[-1]),
                                                       1e-12 * self.y_std_**2))

    def blend_latent(self, X, return_var):
        if not return_var:
            return blend(self, X, False)
        f = self.forest_
        tp = f._tree_predictions(f.cleaner_._transform_array(X))
        m_f, v_f = tp.mean(axis=0), f._variance(tp)
        m_g, v_g = gp_latent(self.gp_, X[:, self.gp_features_], True)
        return 0.5 * (m_f + m_g), 0.5 * (v_f + v_g) + 0.25 * (m_f - m_g) ** 2

    def on(flag: bool) -> None:
        S.ForestGPBlend._predict_mean_var = blend_latent if flag else blend
        S.WarmStartGP._predict_mean_var = gp_latent if flag else gp
    return on


def multi_models_part(name: str, seeds, n_train: int = 30) -> None:
    """Held-out accuracy of each goal's surrogate from ``n_train`` random rows (ours and BoTorch's GP)."""
    import closed_loop_multi as clm

    from matloop.design.surrogate import make_surrogate

    X, Y, goals, _ = clm.load_set(name)
    for seed in seeds:
        idx = np.random.default_rng(seed).permutation(len(X))
        tr, te = idx[:n_train], idx[n_train:n_train + 600]
        for j, g in enumerate(goals):
            y, s = Y[:, j], Y[tr, j].std()
            for m in ("etgp", "fastgp", "botorch"):
                if m == "botorch":
                    mu, sd = _botorch_gp(X, tr, te, y)
                else:
                    mu, sd = make_surrogate(m, seed).fit(X[tr], y[tr]).predict(X[te], return_std=True)
                z = (y[te] - mu) / sd
                _save("multi_models", f"{name}|{g.column}|{m}", seed, {
                    "rmse": float(np.sqrt(np.mean((y[te] - mu) ** 2)) / s),
                    "nll": float(np.mean(0.5 * np.log(2 * np.pi * (sd / s) ** 2) + 0.5 * z**2)),
                    "cover68": float(np.mean(np.abs(z) < 1))})
        print(f"{name} seed {seed}: done", flush=True)


def _botorch_gp(X, tr, te, y):
    """BoTorch SingleTaskGP (inputs to the unit cube, standardised outcome), as the benchmark's peer."""
    import torch
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms import Standardize
    from gpytorch.mlls import ExactMarginalLogLikelihood

    lo, span = X.min(0), X.max(0) - X.min(0)
    keep = span > 0
    U = (X[:, keep] - lo[keep]) / span[keep]
    model = SingleTaskGP(torch.tensor(U[tr]), torch.tensor(y[tr][:, None]), outcome_transform=Standardize(m=1))
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    with torch.no_grad():
        post = model.posterior(torch.tensor(U[te]), observation_noise=True)
    return post.mean.detach().numpy().ravel(), post.variance.detach().sqrt().numpy().ravel()


MULTI_VARIANTS = {"ehvi": {}, "ehvi-fastgp": {"model": "fastgp"}, "ehvi-latent": {"latent": True},
                  "ehvi-fastgp-latent": {"model": "fastgp", "latent": True}}


def multi_part(name: str, strategies, seeds, batch: int, budget: int, subsample: int = 0,
               split: str = "tuning") -> None:
    import closed_loop_multi as clm

    from matloop.design.multi_suggest import rank_multi

    original, latent = clm.propose, _latent_hooks()
    def propose(strategy, X, Y, goals, measured, open_idx, k, rng, seed):
        if strategy not in MULTI_VARIANTS:
            return original(strategy, X, Y, goals, measured, open_idx, k, rng, seed)
        kw = MULTI_VARIANTS[strategy]
        latent(bool(kw.get("latent")))
        try:
            r = rank_multi(X[measured], Y[measured], X[open_idx], pd.DataFrame(index=np.arange(len(open_idx))), goals,
                           batch=k, scalarize="ehvi", seed=seed, model=kw.get("model", "etgp"))
        finally:
            latent(False)
        return open_idx[r.chosen_positions]

    clm.propose = propose
    X, Y, goals, _ = clm.load_set(name)
    if subsample:  # a fixed subsample of the pool (BoTorch on all 3,458 dye_lasers rows takes hours on 2 cores)
        keep = np.sort(np.random.default_rng(12345).choice(len(X), subsample, replace=False))
        X, Y = X[keep], Y[keep]
    tracker = clm.HVTracker(Y, goals)
    label = f"{split}|{name}{f'_sub{subsample}' if subsample else ''}|batch{batch}"
    for strategy in strategies:
        for seed in seeds:
            t0 = time.perf_counter()
            curve = clm.run(strategy, X, Y, goals, tracker, budget, 5, batch, seed)
            _save("multi", f"{label}|{strategy}", seed, curve.round(4).tolist())
            print(f"{label} {strategy} seed {seed}: final {curve[-1]:.3f} ({time.perf_counter() - t0:.0f} s)",
                  flush=True)


NOTES_PATH = RESULTS / "default_probes_notes.md"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=("batch", "batch2", "plates", "history", "history-knowledge", "multi",
                                       "multi-models"))
    ap.add_argument("--sets", nargs="+", default=["oer_plate_3496"], help="sets of --part batch2 (batch_penalty keys)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--strategies", nargs="+", default=["default", "blend-w0.75", "hedge", "fastgp-logei"])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 5])
    ap.add_argument("--arms", nargs="+", default=["history nosafe", "bad history nosafe"])
    ap.add_argument("--set", default="redoxmers")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--budget", type=int, default=40)
    ap.add_argument("--subsample", type=int, default=0)
    ap.add_argument("--split", choices=("tuning", "held-out"), default="tuning", help="label of --part multi runs")
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args(argv)
    from threadpoolctl import threadpool_limits
    if not args.report_only and args.part:
        with threadpool_limits(1):
            if args.part == "batch":
                batch_part(args.strategies, args.seeds, args.batches)
            elif args.part == "batch2":
                batch2_part(args.strategies, args.seeds, args.batches, args.sets, args.split)
            elif args.part == "plates":
                plates_part(args.seeds)
            elif args.part == "history":
                history_part(args.arms, args.seeds)
            elif args.part == "history-knowledge":
                history_knowledge()
            elif args.part == "multi-models":
                multi_models_part(args.set, args.seeds)
            else:
                multi_part(args.set, args.strategies, args.seeds, args.batch, args.budget, args.subsample, args.split)
    notes = NOTES_PATH.read_text() if NOTES_PATH.exists() else ""
    from default_probes_report import write_md

    write_md(_store(), notes, RESULTS)
    print(f"wrote {RESULTS / 'default_probes.md'}")


if __name__ == "__main__":
    main()
