"""Peer strategies measured in the same run as ours (benchmark extras only, never imported by matloop).

- BoTorch: ``SingleTaskGP`` (its default: Matern-5/2 ARD kernel with priors, learned noise, input
  normalisation and outcome standardisation) with analytic ``LogExpectedImprovement`` (Ament et al.
  2023), maximised over the discrete pool, as a BoTorch user would write it.
- For a target window (land between ``low`` and ``high``), where improvement is not defined,
  the same GP models the property itself and candidates are ranked by the log-probability that
  its posterior lies inside the window (BoTorch has no window acquisition; this is the analytic
  expression a user would write on the posterior, and the rule our default uses).
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_ndtr

from matloop.design.simulate import Strategy


def log_window_probability(mean: np.ndarray, std: np.ndarray, low: float, high: float) -> np.ndarray:
    """``log P(low <= Y <= high)`` for ``Y ~ N(mean, std^2)``, accurate far from the window.

    Uses the tail on the far side of the window: for a mean above the window,
    ``Phi(b) - Phi(a)`` with ``a, b`` very negative; below it, the mirrored ``Phi(-a) - Phi(-b)``.
    """
    std = np.maximum(np.asarray(std, dtype=float), 1e-12)
    a = (low - np.asarray(mean, dtype=float)) / std
    b = (high - np.asarray(mean, dtype=float)) / std
    above = (a + b) < 0  # mean above the window centre
    hi = np.where(above, b, -a)
    lo = np.where(above, a, -b)
    log_hi, log_lo = log_ndtr(hi), log_ndtr(lo)
    return log_hi + np.log1p(-np.exp(np.minimum(log_lo - log_hi, -1e-300)))


def fit_single_task_gp(X_measured, y_max, X_candidates, rng):
    """BoTorch's standard GP (SingleTaskGP, ARD Matern-5/2, inputs normalised over measured and
    candidate rows, outputs standardised) fitted by marginal likelihood to ``y_max`` (to be
    maximised). Returns the model and the measured inputs, targets and candidates as tensors."""
    import torch
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms import Normalize, Standardize
    from gpytorch.mlls import ExactMarginalLogLikelihood

    torch.manual_seed(int(rng.integers(2**31)))
    Xt = torch.as_tensor(np.asarray(X_measured), dtype=torch.float64)
    yt = torch.as_tensor(np.asarray(y_max, dtype=float), dtype=torch.float64).reshape(-1, 1)
    lo = torch.as_tensor(np.minimum(X_measured.min(0), X_candidates.min(0)), dtype=torch.float64)
    hi = torch.as_tensor(np.maximum(X_measured.max(0), X_candidates.max(0)), dtype=torch.float64)
    bounds = torch.stack([lo, torch.where(hi > lo, hi, lo + 1.0)])
    model = SingleTaskGP(Xt, yt, input_transform=Normalize(d=Xt.shape[1], bounds=bounds),
                         outcome_transform=Standardize(m=1))
    try:
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    except Exception:  # noqa: BLE001 - BoTorch falls back to its priors; so do we
        pass
    return model, Xt, yt, torch.as_tensor(np.asarray(X_candidates), dtype=torch.float64)


class BoTorchLogEI(Strategy):
    """BoTorch SingleTaskGP + LogEI over a discrete candidate pool (sequential, k=1 per step)."""

    name = "botorch_logei"

    def propose(self, X_measured, y_measured, X_candidates, k, rng, objective):
        import torch
        from botorch.acquisition.analytic import LogExpectedImprovement

        window = objective.direction == "range"
        y_max = np.asarray(y_measured, dtype=float) * (1.0 if window else objective.sign)  # BoTorch maximises
        model, _, yt, Xc = fit_single_task_gp(X_measured, y_max, X_candidates, rng)
        with torch.no_grad():
            if window:
                post = model.posterior(Xc)
                mean = post.mean.squeeze(-1).numpy()
                std = post.variance.clamp_min(1e-18).sqrt().squeeze(-1).numpy()
                values = log_window_probability(mean, std, objective.low, objective.high)
            else:
                values = LogExpectedImprovement(model, best_f=yt.max())(Xc.unsqueeze(1)).numpy()
        return np.argsort(-values, kind="stable")[:k]
