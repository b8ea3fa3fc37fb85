"""A small 1-D convolutional network ensemble for diffraction patterns, with calibrated probabilities
and class activation maps.

:class:`PatternCNNClassifier` reads the processed pattern on its common grid (the ``I(2θ=...)`` columns
of :class:`~matloop.represent.pattern_features.PatternFeatureSet`; other columns are ignored) and
trains ``n_members`` networks, after Oviedo et al., npj Comput. Mater. 5, 60 (2019) and the averaged
CNN ensembles of XCA (Maffettone et al. 2021):

- architecture: three convolutions (kernel 9, 'same' padding, ReLU; max-pooling by 4 after the first
  two) and one linear layer over the flattened channels, so that peak *positions* count (a global
  average pool would make the network blind to where a peak is, and positions identify a phase).
  Each class score is then a sum over positions of the linear weights times the last convolution's
  activations; that sum's terms, mapped back onto the grid, are the class activation map (the
  decomposition CAM, Zhou et al. 2016, makes for a pooled network);
- each member is trained on the other folds of a stratified ``n_members``-fold split (the members
  differ by data, initialisation and augmentation draws), with class-balanced cross-entropy, AdamW and
  a fixed number of epochs;
- on-the-fly augmentation (:func:`matloop.represent.diffraction_sim.augment`): every epoch a fresh
  perturbed copy of every training pattern (strain shift, Scherrer broadening, texture, noise,
  background) is trained on beside the originals;
- calibration: each pattern's held-out member gives out-of-fold logits; one temperature ``T``
  (Guo et al. 2017) minimises their negative log-likelihood; predictions average the members'
  ``softmax(logits / T)``.

Training needs PyTorch (imported lazily; without it :class:`matloop.InputError` says what to install);
the weights are kept as NumPy arrays and prediction is NumPy only, so a saved model loads without
torch and without unpickling anything (as :mod:`matloop.models.neural`).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from matloop.models.curve_input import CurveInputMixin

__all__ = ["PatternCNNClassifier", "apply_temperature", "fit_temperature"]


def _import_torch():
    try:
        import torch
    except ImportError:
        from matloop.errors import InputError

        raise InputError('the 1-D CNN on diffraction patterns needs PyTorch: pip install "matloop[torch]" '
                         "(or use --model rf, which needs no PyTorch)") from None
    return torch


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(logits: np.ndarray, target: np.ndarray) -> float:
    """The temperature ``T`` minimising the NLL of ``softmax(logits / T)`` (searched over 0.05-20)."""
    from scipy.optimize import minimize_scalar

    idx = np.arange(len(target))

    def nll(log_t: float) -> float:
        p = _softmax(logits / np.exp(log_t))
        return float(-np.mean(np.log(np.clip(p[idx, target], 1e-12, None))))

    return float(np.exp(minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded").x))


def apply_temperature(proba: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities rescaled as ``softmax(log p / T)`` (temperature scaling of any classifier's output)."""
    return _softmax(np.log(np.clip(proba, 1e-12, None)) / temperature)


def _conv(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1-D convolution with 'same' zero padding, as torch.nn.Conv1d(padding=k // 2): (n, C, L) -> (n, O, L)."""
    k = W.shape[2]
    xp = np.pad(x, ((0, 0), (0, 0), (k // 2, k // 2)))
    windows = np.lib.stride_tricks.sliding_window_view(xp, k, axis=2)  # (n, C, L, k)
    return np.einsum("nclk,ock->nol", windows, W, optimize=True) + b[None, :, None]


POOL = 4


def _pool(x: np.ndarray, size: int = POOL) -> np.ndarray:
    n, c, length = x.shape
    m = length // size
    return x[:, :, : size * m].reshape(n, c, m, size).max(axis=3)


def _forward(weights: list[np.ndarray], X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(logits, last convolution's activations (n, channels, positions)) of one member, NumPy only."""
    W1, b1, W2, b2, W3, b3, Wd, bd = weights
    h = _pool(np.maximum(_conv(X[:, None, :], W1, b1), 0))
    h = _pool(np.maximum(_conv(h, W2, b2), 0))
    a = np.maximum(_conv(h, W3, b3), 0)
    return a.reshape(len(a), -1) @ Wd.T + bd, a


class PatternCNNClassifier(CurveInputMixin, ClassifierMixin, BaseEstimator):
    """Ensemble of small 1-D CNNs on processed diffraction patterns (see the module docs).

    Parameters
    ----------
    n_members : int
        Networks, one per fold of the stratified split that gives the out-of-fold logits.
    channels : tuple of 3 int
        Channels of the three convolutions.
    kernel : int
        Convolution width in grid points (odd).
    epochs : int
        Passes over the training patterns (each with fresh augmented copies when ``augment``).
    augment : bool
        Train on physically perturbed copies too (:class:`~matloop.represent.diffraction_sim.Augmentation`
        defaults); needs a grid (from the ``I(2θ=...)`` column names).
    learning_rate, weight_decay, batch_size : float, float, int
        AdamW settings.
    n_threads : int or None
        PyTorch threads while fitting (restored afterwards); None leaves the setting alone.
    random_state : int or None

    Attributes
    ----------
    classes_, weights_ (per member: conv and linear arrays), temperature_, oof_proba_ (calibrated
    out-of-fold probabilities of the training rows), columns_ (the curve columns used).
    """

    def __init__(self, n_members: int = 4, channels: tuple[int, int, int] = (8, 16, 16), kernel: int = 9,
                 epochs: int = 40, augment: bool = True, learning_rate: float = 3e-3, weight_decay: float = 1e-4,
                 batch_size: int = 16, n_threads: int | None = None, random_state: int | None = 0):
        self.n_members, self.channels, self.kernel, self.epochs = n_members, channels, kernel, epochs
        self.augment, self.learning_rate, self.weight_decay = augment, learning_rate, weight_decay
        self.batch_size, self.n_threads, self.random_state = batch_size, n_threads, random_state

    def fit(self, X, y) -> PatternCNNClassifier:
        """Train the members on stratified folds, then the temperature on their out-of-fold logits."""
        from sklearn.model_selection import StratifiedKFold

        torch = _import_torch()
        Y = self._select(X, fit=True)
        labels = np.asarray(y)
        self.classes_, target = np.unique(labels, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError("needs at least 2 classes")
        k = int(self.n_members)
        if k < 2 or len(target) < 2 * k:
            raise ValueError(f"n_members must be at least 2 and the data at least 2 * n_members rows; got {k}, "
                             f"{len(target)}")
        rng = np.random.default_rng(self.random_state)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a class rarer than the folds: stratified as far as it goes
            folds = list(StratifiedKFold(k, shuffle=True, random_state=self.random_state).split(Y, target))
        logits = np.zeros((len(target), len(self.classes_)))
        self.weights_ = []
        previous = torch.get_num_threads()
        if self.n_threads:
            torch.set_num_threads(int(self.n_threads))
        try:
            with torch.random.fork_rng(devices=[]):
                for train, test in folds:
                    weights = self._fit_member(torch, Y[train], target[train], int(rng.integers(2**31 - 1)))
                    self.weights_.append(weights)
                    logits[test] = _forward(weights, Y[test])[0]
        finally:
            torch.set_num_threads(previous)
        self.temperature_ = fit_temperature(logits, target)
        self.oof_proba_ = _softmax(logits / self.temperature_)
        return self

    def _fit_member(self, torch, Y: np.ndarray, target: np.ndarray, seed: int) -> list[np.ndarray]:
        from matloop.represent.diffraction_sim import augment

        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        c1, c2, c3 = (int(c) for c in self.channels)
        k = int(self.kernel) | 1
        nn = torch.nn
        positions = Y.shape[1] // POOL // POOL
        if positions < 1:
            raise ValueError(f"a pattern of {Y.shape[1]} grid points is too short for the network (needs {POOL ** 2})")
        net = nn.Sequential(nn.Conv1d(1, c1, k, padding=k // 2), nn.ReLU(), nn.MaxPool1d(POOL),
                            nn.Conv1d(c1, c2, k, padding=k // 2), nn.ReLU(), nn.MaxPool1d(POOL),
                            nn.Conv1d(c2, c3, k, padding=k // 2), nn.ReLU(), nn.Flatten(), nn.Dropout(0.3),
                            nn.Linear(c3 * positions, len(self.classes_)))
        counts = np.bincount(target, minlength=len(self.classes_)).astype(float)
        class_weight = np.where(counts > 0, len(target) / (len(counts) * np.maximum(counts, 1)), 0.0)
        loss_fn = nn.CrossEntropyLoss(weight=torch.as_tensor(class_weight, dtype=torch.float32))
        optimiser = torch.optim.AdamW(net.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)
        grid = self._grid() if self.augment else None
        y_t = torch.as_tensor(target, dtype=torch.long)
        for _ in range(int(self.epochs)):
            data, labels = Y, y_t
            if grid is not None:
                extra, source = augment(Y, grid, 1, rng)
                data, labels = np.vstack([Y, extra]), torch.cat([y_t, y_t[torch.as_tensor(source)]])
            x_t = torch.as_tensor(data, dtype=torch.float32)[:, None, :]
            net.train()
            for idx in torch.randperm(len(x_t)).split(max(1, int(self.batch_size))):
                optimiser.zero_grad()
                loss = loss_fn(net(x_t[idx]), labels[idx])
                loss.backward()
                optimiser.step()
        convs = [m for m in net if isinstance(m, nn.Conv1d | nn.Linear)]
        out = []
        for m in convs:
            out += [m.weight.detach().numpy().astype(np.float64).copy(), m.bias.detach().numpy().astype(np.float64).copy()]
        return out

    # ------------------------------------------------------------------ predict
    def _member_logits(self, X) -> tuple[np.ndarray, list[np.ndarray]]:
        check_is_fitted(self, "weights_")
        Y = self._select(X)
        outs = [_forward(w, Y) for w in self.weights_]
        return np.stack([o[0] for o in outs]), [o[1] for o in outs]

    def predict_proba(self, X) -> np.ndarray:
        """Calibrated class probabilities: the members' temperature-scaled softmax, averaged."""
        logits, _ = self._member_logits(X)
        return np.mean([_softmax(z / self.temperature_) for z in logits], axis=0)

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def predict_std(self, X) -> np.ndarray:
        """Spread of the members' probabilities (model disagreement), per class."""
        logits, _ = self._member_logits(X)
        return np.std([_softmax(z / self.temperature_) for z in logits], axis=0)

    def cam(self, X, label=None) -> np.ndarray:
        """Class activation maps on the grid: for each pattern, how much each grid point drove the score of
        ``label`` (default: the predicted class), averaged over members, ReLU'd and scaled to a maximum of 1."""
        logits, acts = self._member_logits(X)
        proba = np.mean([_softmax(z / self.temperature_) for z in logits], axis=0)
        which = np.argmax(proba, axis=1) if label is None else \
            np.full(len(proba), int(np.searchsorted(self.classes_, label)))
        length = len(self.columns_)
        total = np.zeros((len(proba), length))
        for weights, a in zip(self.weights_, acts, strict=True):
            Wd = weights[6].reshape(len(self.classes_), a.shape[1], a.shape[2])
            maps = np.einsum("nkl,nkl->nl", a, Wd[which])  # each position's share of the class score
            coarse = (np.arange(maps.shape[1]) + 0.5) * length / maps.shape[1]
            total += np.vstack([np.interp(np.arange(length) + 0.5, coarse, m) for m in maps])
        total = np.maximum(total / len(self.weights_), 0)
        top = total.max(axis=1, keepdims=True)
        return np.divide(total, top, out=np.zeros_like(total), where=top > 0)
