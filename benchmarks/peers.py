"""Peer strategies measured in the same run as ours (benchmark extras only, never imported by matloop).

- BoTorch: ``SingleTaskGP`` (its default: Matern-5/2 ARD kernel with priors, learned noise, input
  normalisation and outcome standardisation) with analytic ``LogExpectedImprovement`` (Ament et al.
  2023), maximised over the discrete pool, as a BoTorch user would write it.
"""

from __future__ import annotations

import numpy as np

from matloop.design.simulate import Strategy


class BoTorchLogEI(Strategy):
    """BoTorch SingleTaskGP + LogEI over a discrete candidate pool (sequential, k=1 per step)."""

    name = "botorch_logei"

    def propose(self, X_measured, y_measured, X_candidates, k, rng, objective):
        import torch
        from botorch.acquisition.analytic import LogExpectedImprovement
        from botorch.fit import fit_gpytorch_mll
        from botorch.models import SingleTaskGP
        from botorch.models.transforms import Normalize, Standardize
        from gpytorch.mlls import ExactMarginalLogLikelihood

        torch.manual_seed(int(rng.integers(2**31)))
        Xt = torch.as_tensor(np.asarray(X_measured), dtype=torch.float64)
        if objective.direction == "range":
            raise ValueError("the BoTorch peer is run on maximise/minimise goals only")
        y_max = objective.sign * np.asarray(y_measured, dtype=float)  # BoTorch maximises
        yt = torch.as_tensor(y_max, dtype=torch.float64).reshape(-1, 1)
        lo = torch.as_tensor(np.minimum(X_measured.min(0), X_candidates.min(0)), dtype=torch.float64)
        hi = torch.as_tensor(np.maximum(X_measured.max(0), X_candidates.max(0)), dtype=torch.float64)
        bounds = torch.stack([lo, torch.where(hi > lo, hi, lo + 1.0)])
        model = SingleTaskGP(Xt, yt, input_transform=Normalize(d=Xt.shape[1], bounds=bounds),
                             outcome_transform=Standardize(m=1))
        try:
            fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        except Exception:  # noqa: BLE001 - BoTorch falls back to its priors; so do we
            pass
        acq = LogExpectedImprovement(model, best_f=yt.max())
        with torch.no_grad():
            Xc = torch.as_tensor(np.asarray(X_candidates), dtype=torch.float64).unsqueeze(1)
            values = acq(Xc).numpy()
        return np.argsort(-values, kind="stable")[:k]
