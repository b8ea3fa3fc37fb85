"""Why does BoTorch (GP + qLogNEHVI) reach 90 % of redoxmers' hypervolume sooner than our default?

A diagnosis probe for issue #17 on the *tuning* seeds (0-2) only; it changes no default. The
acquisition stays matloop's batch-aware Monte-Carlo EHVI (:func:`matloop.design.multi_suggest.rank_multi`)
and only the surrogate of every goal is swapped:

- ``etgp``: the default (extra-trees + warm-started GP mixture), as in ``closed_loop_multi.py``;
- ``fastgp``: matloop's own ARD GP alone (:class:`matloop.design.surrogate.WarmStartGP`, no forest);
- ``stgp``: BoTorch's ``SingleTaskGP`` (the surrogate of the BoTorch rows: Matern-5/2 ARD, BoTorch's
  default priors, inputs min-max scaled, outputs standardised), predictive std with the noise;
- ``stgp-latent``: the same GP, std of the latent function only (what qLogNEHVI samples);
- ``fastgp-latent`` / ``etgp-latent``: matloop's GP (alone / in the default mixture) with the GP's learned
  noise taken out of its predictive std (the latent function's std, as qLogNEHVI);
- ``botorch-on-etgp`` (the reverse swap): BoTorch's qLogNEHVI, as in ``closed_loop_multi.py``, on our
  ``etgp`` surrogates (marginal mean and std of the mixture, joint correlation of its GP member).

The same seeds, start and hypervolume measure as ``closed_loop_multi.py``. Also: held-out accuracy
of each surrogate on random training sets (RMSE / std and Gaussian NLL of each goal).

usage: python benchmarks/closed_loop_multi_probe.py [--set redoxmers] [--variants ...] [--seeds 3]
                                                    [--accuracy-only] [--out closed_loop_multi_probe]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from sklearn.base import BaseEstimator, RegressorMixin  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from closed_loop_multi import RESULTS, HVTracker, _to, load_set  # noqa: E402

from matloop.design.multi_suggest import rank_multi  # noqa: E402
from matloop.design.surrogate import make_surrogate  # noqa: E402

VARIANTS = ("etgp", "fastgp", "stgp", "stgp-latent", "fastgp-latent", "etgp-latent")


class BoTorchGP(RegressorMixin, BaseEstimator):
    """BoTorch's SingleTaskGP behind matloop's surrogate interface (fit / predict(return_std) /
    batch_covariance), so that rank_multi can use it unchanged."""

    def __init__(self, noise_in_std: bool = True, random_state=None):
        self.noise_in_std = noise_in_std
        self.random_state = random_state

    def _x(self, X):
        import torch

        return torch.tensor((np.asarray(X, dtype=float) - self.lo_) / self.span_, dtype=torch.double)

    def fit(self, X, y):
        import torch
        from botorch.fit import fit_gpytorch_mll
        from botorch.models import SingleTaskGP
        from botorch.models.transforms import Standardize
        from gpytorch.mlls import ExactMarginalLogLikelihood

        X = np.asarray(X, dtype=float)
        torch.manual_seed(0 if self.random_state is None else int(self.random_state))
        self.lo_ = X.min(axis=0)
        span = X.max(axis=0) - self.lo_
        self.span_ = np.where(span > 0, span, 1.0)
        ty = torch.tensor(np.asarray(y, dtype=float).reshape(-1, 1), dtype=torch.double)
        self.model_ = SingleTaskGP(self._x(X), ty, outcome_transform=Standardize(m=1))
        fit_gpytorch_mll(ExactMarginalLogLikelihood(self.model_.likelihood, self.model_))
        self.model_.eval()
        return self

    def predict(self, X, return_std: bool = False):
        import torch

        with torch.no_grad():
            post = self.model_.posterior(self._x(X), observation_noise=self.noise_in_std)
            mu = post.mean.squeeze(-1).numpy()
            sd = post.variance.clamp_min(1e-18).sqrt().squeeze(-1).numpy()
        return (mu, sd) if return_std else mu

    def batch_covariance(self, X):
        import torch

        from matloop.design.batch import BatchCovariance

        with torch.no_grad():
            C = self.model_.posterior(self._x(X)).mvn.covariance_matrix.numpy()
            noise = float(self.model_.likelihood.noise.mean()) * float(self.model_.outcome_transform.stdvs) ** 2
        return BatchCovariance(lambda j: C[:, j], np.diag(C).copy(), noise)


class LatentGP(RegressorMixin, BaseEstimator):
    """matloop's WarmStartGP (``mixture=False``) or ForestGPBlend (``mixture=True``) whose predictive std
    leaves out the GP's learned measurement noise (the std of the latent function)."""

    def __init__(self, mixture: bool = False, random_state=None):
        self.mixture = mixture
        self.random_state = random_state

    def fit(self, X, y):
        self.model_ = make_surrogate("etgp" if self.mixture else "fastgp", self.random_state).fit(X, y)
        return self

    def predict(self, X, return_std: bool = False):
        m = self.model_
        gp = m.gp_ if self.mixture else m
        Xg = np.asarray(X, dtype=float)[:, m.gp_features_] if self.mixture else X
        mu_gp, sd_gp = gp.predict(Xg, return_std=True)
        latent = np.maximum(sd_gp**2 - gp.y_std_**2 * np.exp(gp.theta_[-1]), 1e-18)
        if not self.mixture:
            return (mu_gp, np.sqrt(latent)) if return_std else mu_gp
        mu_f, sd_f = m.forest_.predict(X, return_std=True)
        mu = 0.5 * (mu_f + mu_gp)
        return (mu, np.sqrt(0.5 * (sd_f**2 + latent) + 0.25 * (mu_f - mu_gp) ** 2)) if return_std else mu

    def batch_covariance(self, X):
        return self.model_.batch_covariance(X)


def surrogate(variant: str, seed: int):
    if variant in ("etgp", "fastgp"):
        return variant
    if variant.endswith("gp-latent") and not variant.startswith("st"):
        return LatentGP(mixture=variant.startswith("etgp"), random_state=seed)
    return BoTorchGP(noise_in_std=variant == "stgp", random_state=seed)


def _etgp_model(sur, d: int):
    """A BoTorch ``Model`` over one goal: ``etgp``'s mean and std, its GP member's latent correlation."""
    import torch
    from botorch.models.model import Model
    from botorch.posteriors.gpytorch import GPyTorchPosterior
    from gpytorch.distributions import MultivariateNormal
    from scipy.linalg import solve_triangular

    gp = sur.gp_

    class EtgpModel(Model):
        num_outputs = 1

        def posterior(self, X, output_indices=None, observation_noise=False, posterior_transform=None, **kw):
            A = X.detach().numpy()
            shape, n = A.shape[:-2], A.shape[-2]
            flat = A.reshape(-1, d)
            mu, sd = sur.predict(flat, return_std=True)
            Z = gp.cleaner_._transform_array(flat[:, sur.gp_features_]).reshape(-1, n, len(gp.Z_[0]))
            V = solve_triangular(gp.L_, gp._kernel(gp.Z_, Z.reshape(-1, Z.shape[-1]), gp.theta_), lower=True,
                                 check_finite=False).T.reshape(len(Z), n, -1)
            K = np.stack([gp._kernel(z, z, gp.theta_) for z in Z]) - V @ V.transpose(0, 2, 1)
            dg = np.sqrt(np.maximum(np.diagonal(K, axis1=1, axis2=2), 1e-12))
            C = K / dg[:, :, None] / dg[:, None, :]
            s = sd.reshape(len(Z), n)
            C = C * s[:, :, None] * s[:, None, :] + 1e-9 * np.eye(n)
            mvn = MultivariateNormal(torch.tensor(mu.reshape(*shape, n), dtype=torch.double),
                                     torch.tensor(C.reshape(*shape, n, n), dtype=torch.double))
            return GPyTorchPosterior(mvn)

    return EtgpModel()


def _botorch_on_etgp(Xm, Sm, Xc, k, seed):
    """qLogNEHVI (as closed_loop_multi._botorch) over the candidates, on one ``etgp`` per goal (scores)."""
    import torch
    from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
    from botorch.models.model import ModelList
    from botorch.optim import optimize_acqf_discrete
    from botorch.sampling import SobolQMCNormalSampler
    from botorch.sampling.list_sampler import ListSampler
    from closed_loop_multi import BOTORCH_SAMPLES

    torch.manual_seed(seed)
    models = [_etgp_model(make_surrogate("etgp", seed).fit(Xm, Sm[:, j]), Xm.shape[1]) for j in range(Sm.shape[1])]
    smin, smax = Sm.min(axis=0), Sm.max(axis=0)
    ref = torch.tensor(smin - 0.1 * np.where(smax > smin, smax - smin, 1.0), dtype=torch.double)
    sampler = ListSampler(*[SobolQMCNormalSampler(torch.Size([BOTORCH_SAMPLES]), seed=seed + j)
                            for j in range(len(models))])
    acqf = qLogNoisyExpectedHypervolumeImprovement(model=ModelList(*models), ref_point=ref,
                                                   X_baseline=torch.tensor(Xm, dtype=torch.double),
                                                   prune_baseline=True, sampler=sampler, cache_root=False)
    choices = torch.tensor(Xc, dtype=torch.double)
    with torch.no_grad():
        picked, _ = optimize_acqf_discrete(acqf, q=k, choices=choices, max_batch_size=256, unique=True)
    d = torch.cdist(picked, choices)
    out: list[int] = []
    for row in d:
        out.append(next(i for i in torch.argsort(row).tolist() if i not in out))
    return np.array(out)


def run(variant, X, Y, goals, tracker, budget, n_init, k, seed) -> np.ndarray:
    """As closed_loop_multi.run for ``ehvi``, with the surrogate of ``variant``."""
    rng = np.random.default_rng(seed)
    order = list(rng.choice(len(X), size=n_init, replace=False))  # the same start as closed_loop_multi
    while len(order) < budget:
        measured = np.array(order)
        open_idx = np.setdiff1d(np.arange(len(X)), measured)
        if variant == "botorch-on-etgp":
            S = np.column_stack([g.score(Y[measured, j]) for j, g in enumerate(goals)])
            pos = _botorch_on_etgp(X[measured], S, X[open_idx], min(k, budget - len(order)), seed)
            order.extend(int(i) for i in open_idx[pos])
            continue
        r = rank_multi(X[measured], Y[measured], X[open_idx], _frame(len(open_idx)), goals,
                       batch=min(k, budget - len(order)), scalarize="ehvi", model=surrogate(variant, seed), seed=seed)
        order.extend(int(i) for i in open_idx[r.chosen_positions])
    return np.array([tracker.fraction(order[:i]) for i in range(1, budget + 1)])


def _frame(n):
    import pandas as pd

    return pd.DataFrame(index=np.arange(n))


def accuracy(X, Y, goals, variants, sizes=(20, 40), seeds=3) -> list[dict]:
    """Held-out RMSE / std and NLL (in units of the goal's std) per goal, surrogate and training size."""
    rows = []
    for n_train in sizes:
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            train = rng.choice(len(X), n_train, replace=False)
            test = np.setdiff1d(np.arange(len(X)), train)
            for j, g in enumerate(goals):
                sd_y = Y[test, j].std()
                for v in variants:
                    mu, sd = make_surrogate(surrogate(v, seed), seed).fit(X[train], Y[train, j]).predict(
                        X[test], return_std=True)
                    sd = np.maximum(np.asarray(sd, dtype=float), 1e-9)
                    z = (Y[test, j] - mu) / sd
                    nll = float(np.mean(0.5 * np.log(2 * np.pi * sd**2) + 0.5 * z**2)) - float(np.log(sd_y))
                    rows.append({"n_train": n_train, "goal": g.column, "surrogate": v, "seed": seed,
                                 "rmse_over_std": float(np.sqrt(np.mean((mu - Y[test, j]) ** 2)) / sd_y),
                                 "nll": nll, "coverage90": float(np.mean(np.abs(z) < 1.645))})
    return rows


def main(argv=None) -> None:
    import pandas as pd

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--set", default="redoxmers")
    p.add_argument("--variants", nargs="+", default=["stgp", "fastgp"])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--budget", type=int, default=60)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--accuracy-only", action="store_true")
    p.add_argument("--out", default="closed_loop_multi_probe")
    args = p.parse_args(argv)
    path = RESULTS / f"{args.out}.json"
    result = json.loads(path.read_text()) if path.exists() else {"runs": {}}
    X, Y, goals, _ = load_set(args.set)
    if args.accuracy_only:
        t0 = time.perf_counter()
        rows = accuracy(X, Y, goals, args.variants)
        table = pd.DataFrame(rows).groupby(["n_train", "goal", "surrogate"])[
            ["rmse_over_std", "nll", "coverage90"]].mean().reset_index()
        print(table.to_string(index=False))
        result[f"accuracy|{args.set}"] = {"rows": table.to_dict(orient="records"), "seconds": time.perf_counter() - t0,
                                          "load_average": os.getloadavg()[0]}
        path.write_text(json.dumps(result, indent=1))
        return
    tracker = HVTracker(Y, goals)
    for v in args.variants:
        key = f"{args.set}|batch{args.batch}|{v if v.startswith('botorch') else 'ehvi+' + v}"
        old = result["runs"].get(key, {"curves": [], "seeds": [], "seconds": [], "load": []})
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            t0 = time.perf_counter()
            curve = run(v, X, Y, goals, tracker, args.budget, 5, args.batch, seed)
            old["curves"].append(curve.tolist())
            old["seeds"].append(seed)
            old["seconds"].append(time.perf_counter() - t0)
            old["load"].append(os.getloadavg()[0])
            old["to90_per_seed"] = [_to(c, 0.9) for c in old["curves"]]
            print(f"{key} seed {seed}: final {curve[-1]:.3f}, to 90 % {_to(curve, 0.9)}, "
                  f"{old['seconds'][-1]:.0f} s", flush=True)
            result["runs"][key] = old
            path.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
