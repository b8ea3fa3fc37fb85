"""Probes for #17's several-goal target (c): why BoTorch qLogNEHVI leads on dye_lasers, and candidates.

Each variant replays :func:`closed_loop_multi.run` with a changed piece of the default
(:func:`matloop.design.multi_suggest.rank_multi`), so that one difference is isolated at a time:

- ``ehvi-botorchgp``: our EHVI and batch, BoTorch's SingleTaskGP (inputs scaled to the pool's unit
  cube, outcome standardised, BoTorch's default priors) as each goal's surrogate: model vs acquisition.
- ``ehvi-latent`` / ``ehvi-fastgp``: the std of the latent function / our GP alone (as in
  ``default_probes.py``).
- ``ehvi-warp``: a goal whose measured values have |skewness| > 1 is modelled after a Yeo-Johnson
  warp (:class:`matloop.design.multi_options.GoalWarp`); EHVI samples are mapped back to its units.
- ``ehvi`` (with ``WARP_SKEW`` None) and ``ehvi-nowarp`` are the default without the warp.

Runs are stored in ``results/default_probes.json`` (part ``multi``, same keys as ``default_probes.py
--part multi``) and reported by ``default_probes.py --report-only``.

usage: python benchmarks/multi_probes.py --set dye_lasers --subsample 1000 --strategies ehvi-botorchgp
                                         --seeds 0 1 2 --batch 4 --budget 40 --split tuning
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))


class BotorchGP:
    """BoTorch SingleTaskGP as a matloop surrogate (fit / predict with the noisy predictive std)."""

    def __init__(self, lo: np.ndarray, span: np.ndarray, seed: int = 0):
        self.lo, self.span, self.seed = lo, span, seed

    def _u(self, X):
        import torch

        keep = self.span > 0
        return torch.tensor((np.asarray(X)[:, keep] - self.lo[keep]) / self.span[keep], dtype=torch.double)

    def fit(self, X, y):
        import torch
        from botorch.fit import fit_gpytorch_mll
        from botorch.models import SingleTaskGP
        from botorch.models.transforms import Standardize
        from gpytorch.mlls import ExactMarginalLogLikelihood

        torch.manual_seed(self.seed)
        self.model_ = SingleTaskGP(self._u(X), torch.tensor(np.asarray(y, dtype=float)[:, None]),
                                   outcome_transform=Standardize(m=1))
        fit_gpytorch_mll(ExactMarginalLogLikelihood(self.model_.likelihood, self.model_))
        return self

    def predict(self, X, return_std=False):
        import torch

        with torch.no_grad():
            post = self.model_.posterior(self._u(X), observation_noise=True)
        mu = post.mean.detach().numpy().ravel()
        return (mu, post.variance.detach().sqrt().numpy().ravel()) if return_std else mu


def variant(strategy: str, X_pool: np.ndarray):
    """(surrogate factory or model name, latent flag) of a probe strategy."""
    lo, span = X_pool.min(axis=0), X_pool.max(axis=0) - X_pool.min(axis=0)
    table = {"ehvi": ("etgp", False), "ehvi-latent": ("etgp", True), "ehvi-fastgp": ("fastgp", False),
             "ehvi-fastgp-latent": ("fastgp", True),
             "ehvi-botorchgp": (lambda seed: BotorchGP(lo, span, seed), False), "ehvi-warp": ("etgp", False)}
    return table[strategy]


def main(argv=None) -> None:
    import closed_loop_multi as clm
    import default_probes as dp

    from matloop.design import multi_suggest as ms

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", default="dye_lasers")
    ap.add_argument("--subsample", type=int, default=0)
    ap.add_argument("--strategies", nargs="+", default=["ehvi-botorchgp"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--budget", type=int, default=40)
    ap.add_argument("--split", choices=("tuning", "held-out"), default="tuning")
    ap.add_argument("--tag", default="", help="appended to the set's label (e.g. _to100 for longer runs)")
    args = ap.parse_args(argv)

    X, Y, goals, _ = clm.load_set(args.set)
    if args.subsample:  # the same fixed subsample as default_probes.py
        keep = np.sort(np.random.default_rng(12345).choice(len(X), args.subsample, replace=False))
        X, Y = X[keep], Y[keep]
    tracker = clm.HVTracker(Y, goals)
    original_make, original_propose, latent = ms.make_surrogate, clm.propose, dp._latent_hooks()

    def propose(strategy, Xa, Ya, goals_, measured, open_idx, k, rng, seed):
        if strategy in ("random", "botorch", "parego"):
            return original_propose(strategy, Xa, Ya, goals_, measured, open_idx, k, rng, seed)
        model, is_latent = variant(strategy, X)
        if callable(model):
            ms.make_surrogate = lambda name, rs=0: model(rs if rs is not None else 0)
        latent(is_latent)
        from matloop.design import multi_options as mo

        old_warp, mo.WARP_SKEW = mo.WARP_SKEW, (1.0 if strategy.endswith("-warp") else None)
        try:
            r = ms.rank_multi(Xa[measured], Ya[measured], Xa[open_idx], pd.DataFrame(index=np.arange(len(open_idx))),
                              goals_, batch=k, scalarize="ehvi", seed=seed, model="etgp" if callable(model) else model)
        finally:
            latent(False)
            ms.make_surrogate, mo.WARP_SKEW = original_make, old_warp
        return open_idx[r.chosen_positions]

    clm.propose = propose
    label = f"{args.split}|{args.set}{f'_sub{args.subsample}' if args.subsample else ''}{args.tag}|batch{args.batch}"
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        for strategy in args.strategies:
            for seed in args.seeds:
                t0 = time.perf_counter()
                curve = clm.run(strategy, X, Y, goals, tracker, args.budget, 5, args.batch, seed)
                dp._save("multi", f"{label}|{strategy}", seed, curve.round(4).tolist())
                print(f"{label} {strategy} seed {seed}: n=20 {curve[19]:.3f}, final {curve[-1]:.3f} "
                      f"({time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
