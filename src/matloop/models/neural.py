"""A small deep ensemble: multilayer perceptrons with Gaussian likelihood heads.

Each member predicts a mean and a variance and is trained by the Gaussian negative log-likelihood
(Lakshminarayanan, Pritzel & Blundell 2017, "Simple and scalable predictive uncertainty
estimation using deep ensembles"). Members differ by initialisation, by mini-batch order and by
their validation split, which is used for early stopping (the weights of the best validation
epoch are kept). The ensemble is treated as a uniform mixture: mean = average of the member
means, variance = average member variance + variance of the member means.

Training uses PyTorch on the CPU (an optional dependency: ``pip install "matloop[torch]"``);
the fitted weights are stored as plain NumPy arrays and prediction is NumPy only, so a saved
model is loaded and used without PyTorch and without unpickling anything.
Inputs are imputed and standardised, the target standardised. Meant for up to ~5,000 rows.
"""

from __future__ import annotations

import contextlib

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state

from matloop.errors import MatloopError
from matloop.models.base import UncertaintyRegressorMixin, check_features, check_min_samples, check_target
from matloop.models.preprocessing import fit_cleaner

MIN_VARIANCE = 1e-6  # in standardised target units


def _import_torch():
    try:
        import torch
    except ImportError as err:  # pragma: no cover - torch is installed in development
        raise MatloopError('NeuralEnsembleRegressor needs PyTorch: pip install "matloop[torch]"') from err
    return torch


@contextlib.contextmanager
def _torch_threads(torch, n_threads: int | None):
    """Use ``n_threads`` intra-op threads inside the block (``None``: leave the user's setting)."""
    if n_threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(int(n_threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class NeuralEnsembleRegressor(UncertaintyRegressorMixin, BaseEstimator):
    """Deep ensemble of small MLPs with mean and variance outputs (Gaussian NLL).

    Parameters
    ----------
    n_members : int, default=5
    hidden_layer_sizes : tuple of int, default=(64, 64)
        SiLU hidden layers.
    learning_rate : float, default=3e-3
        AdamW step size.
    weight_decay : float, default=1e-4
        AdamW (decoupled) weight decay.
    batch_size : int, default=64
    max_epochs : int, default=300
    patience : int, default=30
        Stop after this many epochs without a better validation NLL.
    validation_fraction : float, default=0.15
        Rows held out (a different random draw per member) for early stopping. With fewer
        than 10 rows there is no split and early stopping watches the training loss.
    n_threads : int or None, default=None
        PyTorch intra-op threads while fitting, restored afterwards; ``None`` respects the
        caller's ``torch.set_num_threads``. Networks this small train fastest on 1 thread.
    random_state : int, RandomState or None
        Seeds initialisation, splits and batch order; PyTorch's global RNG is left untouched.

    Attributes
    ----------
    coefs_, intercepts_ : list (members) of list (layers) of ndarray
        Weights ``W`` (inputs x outputs) and biases of each layer of each member.
    n_epochs_ : list of int
        Epochs each member trained (including the patience window).
    """

    def __init__(self, n_members: int = 5, *, hidden_layer_sizes: tuple[int, ...] = (64, 64),
                 learning_rate: float = 3e-3, weight_decay: float = 1e-4, batch_size: int = 64,
                 max_epochs: int = 300, patience: int = 30, validation_fraction: float = 0.15,
                 n_threads: int | None = None, random_state=None):
        self.n_members = n_members
        self.hidden_layer_sizes = hidden_layer_sizes
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.n_threads = n_threads
        self.random_state = random_state

    def fit(self, X, y) -> NeuralEnsembleRegressor:
        """Train ``n_members`` networks on standardised data with early stopping."""
        X = check_features(self, X, reset=True)
        y = check_target(y, X.shape[0])
        check_min_samples(X.shape[0])
        if int(self.n_members) < 1 or int(self.max_epochs) < 1:
            raise ValueError(f"n_members and max_epochs must be at least 1, got {self.n_members}, {self.max_epochs}")
        if not 0 <= self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in [0, 1), got {self.validation_fraction}")
        torch = _import_torch()
        rng = check_random_state(self.random_state)
        self.cleaner_, Xs = fit_cleaner(X, scale=True)
        self.y_mean_ = float(y.mean())
        self.y_scale_ = float(y.std()) if y.std() > 0 else 1.0
        ys = (y - self.y_mean_) / self.y_scale_
        self.coefs_, self.intercepts_, self.n_epochs_ = [], [], []
        with _torch_threads(torch, self.n_threads), torch.random.fork_rng(devices=[]):
            for _ in range(int(self.n_members)):
                seed = int(rng.randint(np.iinfo(np.int32).max))
                coefs, intercepts, epochs = self._fit_member(torch, Xs, ys, seed)
                self.coefs_.append(coefs)
                self.intercepts_.append(intercepts)
                self.n_epochs_.append(epochs)
        return self

    def _fit_member(self, torch, Xs: np.ndarray, ys: np.ndarray, seed: int):
        torch.manual_seed(seed)
        member_rng = np.random.RandomState(seed)
        n = len(ys)
        order = member_rng.permutation(n)
        n_val = int(round(self.validation_fraction * n)) if n >= 10 else 0
        val, train = (order[:n_val], order[n_val:]) if n_val > 0 else (order, order)
        layers, width = [], Xs.shape[1]
        for size in self.hidden_layer_sizes:
            layers += [torch.nn.Linear(width, int(size)), torch.nn.SiLU()]
            width = int(size)
        net = torch.nn.Sequential(*layers, torch.nn.Linear(width, 2))
        optimiser = torch.optim.AdamW(net.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)
        X_t = torch.as_tensor(Xs, dtype=torch.float32)
        y_t = torch.as_tensor(ys, dtype=torch.float32)
        X_tr, y_tr, X_va, y_va = X_t[train], y_t[train], X_t[val], y_t[val]
        batch = max(1, min(int(self.batch_size), len(train)))
        generator = torch.Generator().manual_seed(seed)
        best, best_state, since_best, epoch = np.inf, None, 0, 0
        for epoch in range(1, int(self.max_epochs) + 1):  # noqa: B007 - epoch is reported after the loop
            net.train()
            for idx in torch.randperm(len(train), generator=generator).split(batch):
                optimiser.zero_grad()
                loss = _gaussian_nll(torch, net(X_tr[idx]), y_tr[idx])
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
                optimiser.step()
            net.eval()
            with torch.no_grad():
                score = float(_gaussian_nll(torch, net(X_va), y_va))
            if score < best - 1e-4 or best_state is None:
                best, since_best = score, 0
                best_state = [p.detach().clone() for p in net.parameters()]
            else:
                since_best += 1
                if since_best >= self.patience:
                    break
        linear = [m for m in net if isinstance(m, torch.nn.Linear)]
        params = iter(best_state)
        coefs, intercepts = [], []
        for _ in linear:
            coefs.append(next(params).numpy().T.astype(np.float64).copy())
            intercepts.append(next(params).numpy().astype(np.float64).copy())
        return coefs, intercepts, epoch

    def _member_outputs(self, Xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Means and variances (standardised units) of every member: two (members, points) arrays."""
        means, variances = [], []
        for coefs, intercepts in zip(self.coefs_, self.intercepts_, strict=True):
            h = Xs
            for W, b in zip(coefs[:-1], intercepts[:-1], strict=True):
                h = h @ W + b
                h = h * expit(h)  # SiLU
            out = h @ coefs[-1] + intercepts[-1]
            means.append(out[:, 0])
            variances.append(np.logaddexp(0.0, out[:, 1]) + MIN_VARIANCE)  # softplus
        return np.asarray(means), np.asarray(variances)

    def _predict_mean_var(self, X: np.ndarray, return_var: bool):
        Xs = self.cleaner_._transform_array(X)
        means, variances = self._member_outputs(Xs)
        mean = means.mean(axis=0)
        var = (variances + means**2).mean(axis=0) - mean**2
        return mean * self.y_scale_ + self.y_mean_, np.maximum(var, MIN_VARIANCE) * self.y_scale_**2


def _gaussian_nll(torch, output, target):
    mean = output[:, 0]
    var = torch.nn.functional.softplus(output[:, 1]) + MIN_VARIANCE
    return 0.5 * (torch.log(var) + (target - mean) ** 2 / var).mean()
