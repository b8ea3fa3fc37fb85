"""Fine-tuning the last layers of a pre-trained network on a small data set, with uncertainty.

:class:`FineTunedTransfer` keeps the first layers of a library network frozen (computed once, in
NumPy), re-initialises the output layer by ridge regression of the user's target on the last
hidden layer, and trains the last ``tune_layers`` layers with PyTorch. Small data overfit a
100,000-weight network easily, so training is regularised towards the pre-trained weights
(L2-SP: ``alpha * ||W - W_pretrained||^2``, Li et al. 2018) rather than towards zero.

Uncertainty: ``n_members`` copies are fine-tuned on bootstrap samples (a bagged ensemble).
Prediction = the members' mean; variance = the members' spread plus a noise term calibrated so
that the out-of-bag residuals (each row predicted by the members that did not see it) have unit
mean square after division by the predicted std (as the forests do). Fitted weights are NumPy
arrays, so prediction needs no PyTorch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from matloop.models.base import (
    MIN_RELATIVE_NOISE_VARIANCE,
    calibrate_noise_scale,
    check_min_samples,
    check_target,
    gaussian_interval,
)
from matloop.models.pretrained import composition_inputs, load_pretrained
from matloop.models.transfer_features import compositions_from


def _silu(z: np.ndarray) -> np.ndarray:
    return z * expit(z)


class FineTunedTransfer(RegressorMixin, BaseEstimator):
    """A pre-trained source network whose last layers are fine-tuned on the user's data (bagged).

    Parameters
    ----------
    source : str
        Library model to start from (``matloop models list``).
    tune_layers : int, default=2
        Layers trained (counted from the output; 2 = last hidden layer + output layer).
    n_members : int, default=8
        Bootstrap copies (ensemble size) for the mean and the uncertainty.
    epochs : int, default=200
    learning_rate : float, default=3e-3
    alpha : float, default=1e-2
        L2-SP strength towards the pre-trained weights (per weight, in standardised units).
    batch_size : int, default=128
    n_threads : int, default=1
        PyTorch threads while fine-tuning (the layers are small; more threads rarely help).
    formula_column : str, optional
    library : path, optional
    random_state : int, default=0
    """

    def __init__(self, source: str, *, tune_layers: int = 2, n_members: int = 8, epochs: int = 200,
                 learning_rate: float = 3e-3, alpha: float = 1e-2, batch_size: int = 128,
                 n_threads: int = 1, formula_column: str | None = None, library: str | Path | None = None,
                 random_state=0):
        self.source = source
        self.tune_layers = tune_layers
        self.n_members = n_members
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.alpha = alpha
        self.batch_size = batch_size
        self.n_threads = n_threads
        self.formula_column = formula_column
        self.library = library
        self.random_state = random_state

    def _frozen(self, X) -> np.ndarray:
        """Output of the frozen layers (the input of the first tuned layer)."""
        model = load_pretrained(self.source, self.library)
        comps, _ = compositions_from(X, self.formula_column)
        n_frozen = len(model.coefs) - self.n_tuned_
        if n_frozen == 0:
            return model.standardise(composition_inputs(comps))
        hidden, _ = model.activations(composition_inputs(comps))
        return hidden[n_frozen - 1]

    def fit(self, X, y) -> FineTunedTransfer:
        """Fine-tune ``n_members`` bootstrap copies of the source network's last layers."""
        import torch

        y = check_target(y, len(y) if hasattr(y, "__len__") else 0)
        check_min_samples(len(y), 4)
        model = load_pretrained(self.source, self.library)
        self.n_tuned_ = int(min(max(1, self.tune_layers), len(model.coefs)))
        H = self._frozen(X)
        if len(H) != len(y):
            raise ValueError(f"X has {len(H)} rows but y has {len(y)}")
        self.y_mean_, self.y_scale_ = float(y.mean()), float(y.std()) or 1.0
        ys = (y - self.y_mean_) / self.y_scale_
        start = [(W.copy(), b.copy()) for W, b in zip(model.coefs[-self.n_tuned_:], model.intercepts[-self.n_tuned_:],
                                                      strict=True)]
        last = H
        for W, b in start[:-1]:
            last = _silu(last @ W + b)
        start[-1] = self._ridge_head(last, ys)
        rng = np.random.RandomState(self.random_state)
        n = len(ys)
        self.members_, oob_sum, oob_n = [], np.zeros(n), np.zeros(n)
        previous = torch.get_num_threads()
        torch.set_num_threads(int(self.n_threads))  # tiny layers: extra threads only add overhead
        try:
            self._fit_members(torch, H, ys, start, rng, oob_sum, oob_n)
        finally:
            torch.set_num_threads(previous)
        has = oob_n > 0
        member_pred = np.array([self._forward(m, H[has]) for m in self.members_])
        residuals = ys[has] - oob_sum[has] / oob_n[has]
        self.noise_scale_ = calibrate_noise_scale(residuals, member_pred.var(axis=0), 1.0,
                                                  floor=MIN_RELATIVE_NOISE_VARIANCE)
        return self

    def _fit_members(self, torch, H, ys, start, rng, oob_sum, oob_n) -> None:
        n = len(ys)
        with torch.random.fork_rng(devices=[]):
            for _ in range(int(self.n_members)):
                seed = int(rng.randint(2**31 - 1))
                counts = np.bincount(rng.randint(0, n, n), minlength=n)
                layers = self._train_member(torch, H, ys, counts, start, seed)
                self.members_.append(layers)
                out = counts == 0
                oob_sum[out] += self._forward(layers, H[out])
                oob_n[out] += 1

    @staticmethod
    def _ridge_head(last: np.ndarray, ys: np.ndarray, alpha: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """Output layer re-initialised by ridge regression of the target on the last hidden layer."""
        mean = last.mean(axis=0)
        centred = last - mean
        gram = centred.T @ centred + alpha * np.eye(last.shape[1])
        w = np.linalg.solve(gram, centred.T @ (ys - ys.mean()))
        return w[:, None], np.array([ys.mean() - mean @ w])

    def _train_member(self, torch, H, ys, counts, start, seed):
        torch.manual_seed(seed)
        rows = np.repeat(np.arange(len(ys)), counts)
        Xt = torch.as_tensor(H[rows], dtype=torch.float32)
        yt = torch.as_tensor(ys[rows], dtype=torch.float32)
        params, anchors = [], []
        for W, b in start:
            for value in (W, b):
                anchors.append(torch.as_tensor(value, dtype=torch.float32))
                params.append(torch.nn.Parameter(anchors[-1].clone()))
        optimiser = torch.optim.Adam(params, lr=self.learning_rate)
        generator = torch.Generator().manual_seed(seed)
        batch = int(min(self.batch_size, len(rows)))
        for _ in range(int(self.epochs)):
            for idx in torch.randperm(len(rows), generator=generator).split(batch):
                optimiser.zero_grad()
                h = Xt[idx]
                for i in range(0, len(params), 2):
                    h = h @ params[i] + params[i + 1]
                    if i + 2 < len(params):
                        h = torch.nn.functional.silu(h)
                penalty = sum(((p - a) ** 2).sum() for p, a in zip(params, anchors, strict=True))
                loss = torch.nn.functional.mse_loss(h[:, 0], yt[idx]) + self.alpha * penalty / len(rows)
                loss.backward()
                optimiser.step()
        values = [p.detach().numpy().astype(np.float64) for p in params]
        return [(values[i], values[i + 1]) for i in range(0, len(values), 2)]

    @staticmethod
    def _forward(layers, H: np.ndarray) -> np.ndarray:
        h = H
        for i, (W, b) in enumerate(layers):
            h = h @ W + b
            if i + 1 < len(layers):
                h = _silu(h)
        return h[:, 0]

    def predict(self, X, return_std: bool = False):
        """Ensemble mean; with ``return_std=True`` also the std (spread + calibrated noise)."""
        check_is_fitted(self, "members_")
        H = self._frozen(X)
        preds = np.array([self._forward(m, H) for m in self.members_])
        mean = preds.mean(axis=0) * self.y_scale_ + self.y_mean_
        if not return_std:
            return mean
        var = preds.var(axis=0) + self.noise_scale_
        return mean, np.sqrt(var) * self.y_scale_

    def predict_interval(self, X, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds of the central ``1 - alpha`` Gaussian interval (``alpha``: miscoverage)."""
        mean, std = self.predict(X, return_std=True)
        return gaussian_interval(mean, std, 1.0 - alpha)
