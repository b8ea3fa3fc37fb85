"""``CrystalGraphRegressor``: a CGCNN deep ensemble on crystal structures, with calibrated uncertainty.

What ``--model gnn`` fits. Input: crystal structures (a column of file paths, CIF/POSCAR/JSON text or
pymatgen ``Structure`` objects, read by :func:`matloop.represent.structure_io.read_structures`; bad rows
are reported all at once). Network: CGCNN (Xie & Grossman, Phys. Rev. Lett. 120, 145301 (2018));
:mod:`matloop.models.gnn.cgcnn` says why CGCNN rather than MEGNet or ALIGNN.

Uncertainty: a cross-fitted deep ensemble (Lakshminarayanan et al. 2017). The training rows are split
into ``n_members`` folds and member ``k`` is trained on all folds but ``k``, which it uses for early
stopping. Every training row is therefore predicted by one member that did not see it, and these
held-out residuals calibrate one member's variance ``var(member means) + s`` with
:func:`matloop.models.base.calibrate_noise_scale` (as the other matloop models are calibrated on
cross-validated residuals), without refitting the ensemble in an outer cross-validation. The ensemble
mean's std is ``sqrt(var(member means) / m + s)``, and intervals come from the learnt distribution of the
held-out errors in units of that std (:class:`~matloop.models.predictive.ResidualDistribution`, as
AutoModel's), since the errors are heavy-tailed. On a 1,500-structure flla subsample (fold 0 of 5) this
took the miscalibration area from 0.078 to 0.048 at 0.963 coverage (see ``_fit_residuals``).

Applicability domain: :class:`~matloop.models.domain.ApplicabilityDomain` (k nearest neighbours) on
the members' pooled crystal features, the representation the networks actually predict from.

Persistence: the weights are NumPy arrays (one ``state_dict`` per member) with a SHA-256 digest each,
saved inside matloop's model file and copied into freshly built networks (:mod:`.weights`); no pickle,
no ``torch.load``. Predicting needs PyTorch, like fitting.

Cost (``benchmarks/gnn_speed.py``, ``gnn_epoch_cost.py``): on 3,000 flla structures (149 edges per
crystal) one fold, 2,400 training crystals, took 589 s of one CPU core (5 members, 387 epochs in all;
graphs for 2,400 crystals: 1 s), measured on a heavily shared machine; one epoch of one member measured
alone: 0.82 CPU-s. ``n_jobs=2`` trains two members at once on two cores. ``time_budget`` bounds the
whole fit (the CLI's default is 600 s).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from matloop.errors import MatloopError
from matloop.models.neural import _torch_threads

#: Magpie element properties (matloop's bundled table) used as atom features
ATOM_PROPERTY_SOURCE, N_ATOM_PROPERTIES = "magpie", 22


def import_torch():
    """PyTorch, or a :class:`matloop.MatloopError` saying how to install it."""
    try:
        import torch
    except ImportError as err:
        raise MatloopError('the crystal graph network (--model gnn) needs PyTorch: pip install "matloop[torch]"') from err
    return torch


_threads = _torch_threads  # one implementation of the intra-op thread setting (models.neural)


def atom_table() -> np.ndarray:
    """(119, 22) float32: standardised Magpie properties of element Z in row Z (missing: the mean)."""
    from matloop.represent.element_data import element_table, impute_mean

    table = element_table(ATOM_PROPERTY_SOURCE).iloc[:, :N_ATOM_PROPERTIES]
    values = np.asarray(impute_mean(table), dtype=np.float64)
    body = values[1:]
    scale = body.std(axis=0)
    values = (values - body.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    values[0] = 0.0
    return np.nan_to_num(values).astype(np.float32)


def read_input(X) -> tuple[list, np.ndarray, str]:
    """Structures, their 1-based rows and the column name from any structure input."""
    from matloop.io.rows import source_rows
    from matloop.represent.structure_io import read_structures

    column = str(X.name) if isinstance(X, pd.Series) and X.name is not None else "structure"
    if isinstance(X, pd.DataFrame):
        column = str(X.columns[0])
    rows = source_rows(X) if isinstance(X, (pd.Series, pd.DataFrame)) else np.arange(1, len(X) + 1)
    return read_structures(X, column=column), np.asarray(rows), column


def member_splits(n: int, n_members: int, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, validation) row positions of each member: folds of a permutation (one member: 15 %)."""
    order = rng.permutation(n)
    if n < 10:
        return [(order, np.zeros(0, dtype=np.int64))] * n_members
    if n_members == 1:
        n_val = max(1, int(round(0.15 * n)))
        return [(np.sort(order[n_val:]), np.sort(order[:n_val]))]
    folds = np.array_split(order, n_members)
    return [(np.sort(np.concatenate(folds[:k] + folds[k + 1:])), np.sort(folds[k])) for k in range(n_members)]


class CrystalGraphRegressor(BaseEstimator):
    """Deep ensemble of CGCNN networks on crystal structures, ``predict(X, return_std=True)``.

    Parameters
    ----------
    n_members : int
        Networks in the ensemble (cross-fitted: member k validates on fold k).
    cutoff, max_neighbors, gaussian_step : float, int, float
        The crystal graph (:class:`~matloop.represent.graphs.CrystalGraphConverter`).
    atom_fea_len, n_conv, h_fea_len, dropout : int, int, int, float
        The network (:class:`~matloop.models.gnn.cgcnn.CGCNN`).
    learning_rate, weight_decay, batch_size, max_epochs, patience :
        AdamW training with early stopping (:func:`~matloop.models.gnn.training.train_network`).
    time_budget : float or None
        Seconds for the whole fit (graphs included); each member gets an equal share and stops at its
        deadline with its best weights so far.
    n_threads : int or None
        PyTorch intra-op threads while fitting and predicting, restored afterwards (``None``: the caller's
        setting). Default 1: a mini-batch of 64 crystals is too small to split, and on a busy machine a
        second OpenMP thread spin-waits (measured 20x slower with 2 threads on a loaded 2-core machine).
    n_jobs : int
        Members trained at once, each in a fresh worker process with one thread (results identical to
        ``n_jobs=1``; each worker pays ~3 s to import PyTorch). 2 on an otherwise idle 2-core machine
        halves the wall time.
    device : str
        ``"cpu"`` (default) or a torch device such as ``"cuda"``.
    domain : bool
        Fit the applicability domain.
    bounds : "auto", None or (lower, upper)
        Known bounds of the target (as :class:`~matloop.models.pipeline.MaterialModel`); ``"auto"``: 0 from
        below when every training value is non-negative.
    random_state : int
        Seeds the splits, initialisation and batch order; PyTorch's global RNG is left untouched.
    """

    _calibrates_itself = True  # the held-out residuals of the cross-fitted members calibrate the std

    def __init__(self, n_members: int = 5, *, cutoff: float = 8.0, max_neighbors: int = 12,
                 gaussian_step: float = 0.2, atom_fea_len: int = 32, n_conv: int = 3, h_fea_len: int = 64,
                 dropout: float = 0.0, learning_rate: float = 3e-3, weight_decay: float = 1e-5,
                 batch_size: int = 64, max_epochs: int = 120, patience: int = 15,
                 time_budget: float | None = None, n_threads: int | None = 1, n_jobs: int = 1,
                 device: str = "cpu", domain: bool = True, bounds="auto", random_state: int | None = 0):
        self.n_members = n_members
        self.cutoff = cutoff
        self.max_neighbors = max_neighbors
        self.gaussian_step = gaussian_step
        self.atom_fea_len = atom_fea_len
        self.n_conv = n_conv
        self.h_fea_len = h_fea_len
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.time_budget = time_budget
        self.n_threads = n_threads
        self.n_jobs = n_jobs
        self.device = device
        self.domain = domain
        self.bounds = bounds
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting
    def _check_params(self) -> None:
        if int(self.n_members) < 1 or int(self.max_epochs) < 1 or int(self.batch_size) < 2:
            raise ValueError(f"need n_members >= 1, max_epochs >= 1 and batch_size >= 2, got {self.n_members}, "
                             f"{self.max_epochs}, {self.batch_size}")
        if self.time_budget is not None and not float(self.time_budget) > 0:
            raise ValueError(f"time_budget must be a positive number of seconds, got {self.time_budget}")

    def fit(self, X, y) -> CrystalGraphRegressor:
        """Read the structures, build their graphs and train the ensemble; calibrate std and domain."""
        from matloop.models.base import calibrate_noise_scale, check_min_samples, check_target
        from matloop.models.gnn.training import train_members
        from matloop.models.gnn.weights import arrays_digest
        from matloop.models.predictive import detect_bounds
        from matloop.represent.graphs import CrystalGraphConverter

        self._check_params()
        t0 = time.perf_counter()
        import_torch()
        structures, rows, column = read_input(X)
        y = check_target(y, len(structures))
        check_min_samples(len(structures), 3)
        converter = CrystalGraphConverter(self.cutoff, self.max_neighbors, self.gaussian_step)
        graphs = converter.transform(structures, rows=rows, column=column)
        self.converter_ = converter.to_dict()
        self.atom_table_ = atom_table()
        self.network_args_ = {"cutoff": float(self.cutoff), "gaussian_step": float(self.gaussian_step),
                              "atom_fea_len": int(self.atom_fea_len), "n_conv": int(self.n_conv),
                              "h_fea_len": int(self.h_fea_len), "dropout": float(self.dropout)}
        self.y_mean_ = float(y.mean())
        self.y_scale_ = float(y.std()) if y.std() > 0 else 1.0
        ys = (y - self.y_mean_) / self.y_scale_
        n, m = len(ys), int(self.n_members)
        rng = np.random.default_rng(self.random_state)
        splits = member_splits(n, m, rng)
        seeds = rng.integers(0, np.iinfo(np.int32).max, m)
        self.members_, self.weights_sha256_, self.n_epochs_, self.member_seconds_ = [], [], [], []
        preds, pooled = np.empty((m, n)), []
        held_out = np.full(n, np.nan)
        n_jobs = max(1, min(int(self.n_jobs or 1), m))
        rounds = -(-m // n_jobs)  # members trained one after another in each worker
        start = time.time() - (time.perf_counter() - t0)  # the fit's start on the wall clock
        train_args = {"learning_rate": self.learning_rate, "weight_decay": self.weight_decay,
                      "batch_size": int(self.batch_size), "max_epochs": int(self.max_epochs),
                      "patience": int(self.patience)}
        jobs = [{"graphs": graphs, "y": ys, "train": train, "val": val, "atom_table": self.atom_table_,
                 "network_args": self.network_args_, "train_args": train_args, "seed": int(seeds[k]),
                 "device": self.device, "n_threads": self.n_threads if n_jobs == 1 else 1,
                 "stop_at": None if self.time_budget is None else
                 start + float(self.time_budget) * (k // n_jobs + 1) / rounds}
                for k, (train, val) in enumerate(splits)]
        for k, (result, member_preds, features) in enumerate(train_members(jobs, n_jobs)):
            val = splits[k][1]
            preds[k] = member_preds
            pooled.append(features)
            held_out[val] = preds[k, val]
            self.members_.append(result.state)
            self.weights_sha256_.append(arrays_digest(result.state))
            self.n_epochs_.append(int(result.n_epochs))
            self.member_seconds_.append(float(result.seconds))
        model_var = preds.var(axis=0) if m > 1 else np.zeros(n)
        seen = np.isfinite(held_out)
        if seen.sum() >= 2:
            self.noise_variance_ = float(calibrate_noise_scale(ys[seen] - held_out[seen], model_var[seen],
                                                               floor=1e-6))
        else:  # fewer than 10 rows: no held-out rows; the training residuals (optimistic) are all there is
            self.noise_variance_ = float(np.mean((ys - preds.mean(axis=0)) ** 2) + 1e-6)
        self.oof_prediction_ = held_out * self.y_scale_ + self.y_mean_
        # the std the model gives each training row, beside its held-out prediction (stacking, structure_auto)
        self.oof_std_ = np.where(seen, np.sqrt(model_var / m + self.noise_variance_) * self.y_scale_, np.nan)
        self.bounds_ = detect_bounds(y, self.bounds)
        self._fit_residuals(y, preds, model_var, seen)
        self.domain_ = None
        if self.domain and n >= 12:
            from matloop.models.domain import ApplicabilityDomain

            self.domain_ = ApplicabilityDomain().fit(np.hstack(pooled))
        self.n_train_ = n
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def _fit_residuals(self, y: np.ndarray, preds: np.ndarray, model_var: np.ndarray, seen: np.ndarray) -> None:
        """The distribution of held-out errors in units of the std (:class:`ResidualDistribution`, as AutoModel's):
        the networks' errors are heavy-tailed, so Gaussian intervals with the right 95 % coverage are too wide
        at 50 % (miscalibration area 0.089 on flla); the learnt distribution follows the errors' shape.

        The std is the ensemble mean's, ``var(members) / m + s``: ``s`` is calibrated on one member's held-out
        errors (``var(members) + s``), but the mean of m members varies m times less than one of them; with
        ``var(members) + s`` the std was 10-15 % too wide on flla (mean z^2 0.81 on held-out rows)."""
        from matloop.models.predictive import ResidualDistribution

        if seen.sum() >= 2:
            pred, std, truth = self.oof_prediction_[seen], self.oof_std_[seen], y[seen]
        else:  # fewer than 10 rows: no held-out rows; the training residuals (optimistic) are all there is
            pred = preds.mean(axis=0) * self.y_scale_ + self.y_mean_
            std, truth = np.sqrt(model_var / len(preds) + self.noise_variance_) * self.y_scale_, y
        self.residuals_ = ResidualDistribution().fit(self._clip(pred), std, truth, lower=self.bounds_[0])

    def describe(self, y: np.ndarray | None = None, unit: str = "") -> str:
        """Two lines for ``matloop fit``: the ensemble, its epochs and its held-out error."""
        unit = f" {unit}" if unit else ""
        lines = [f"gnn: {len(self.members_)} CGCNN networks (epochs {', '.join(map(str, self.n_epochs_))}) "
                 f"in {self.fit_seconds_:.0f} s"]
        seen = np.isfinite(self.oof_prediction_)
        if y is not None and len(y) == len(seen) and seen.any():
            y = np.asarray(y, dtype=float)
            mae = float(np.mean(np.abs(y[seen] - self.oof_prediction_[seen])))
            base = float(np.mean(np.abs(y - np.median(y))))
            lines.append(f"  held-out MAE of the members on the rows they did not see ({int(seen.sum())} rows): "
                         f"{mae:.4g}{unit}; predicting the median gives {base:.4g}{unit}")
        return "\n".join(lines)

    def _network(self, torch):
        from matloop.models.gnn.cgcnn import CGCNN

        return CGCNN(torch.from_numpy(np.asarray(self.atom_table_, dtype=np.float32)), **self.network_args_)

    @staticmethod
    def _load(torch, net, state: dict, digest: str | None) -> None:
        from matloop.models.gnn.weights import load_arrays

        load_arrays(net, state, digest)

    # ------------------------------------------------------------------ prediction
    def _outputs(self, X) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Member predictions (members, n) in target units, variance (n,), pooled features (n, width)."""
        from sklearn.utils.validation import check_is_fitted

        from matloop.models.gnn.training import predict_network
        from matloop.represent.graphs import CrystalGraphConverter

        check_is_fitted(self, "members_")
        self._check_state()
        torch = import_torch()
        structures, rows, column = read_input(X)
        graphs = CrystalGraphConverter.from_dict(self.converter_).transform(structures, rows=rows, column=column)
        preds, pooled = [], []
        with _threads(torch, self.n_threads):
            for state, digest in zip(self.members_, self.weights_sha256_, strict=True):
                net = self._network(torch)
                self._load(torch, net, state, digest)
                p, f = predict_network(net, graphs, device=self.device)
                preds.append(p)
                pooled.append(f)
        preds = np.asarray(preds).reshape(len(self.members_), len(structures))
        # the ensemble mean's variance: the members' spread / m + the noise calibrated on one member's errors
        var = (preds.var(axis=0) / len(preds) + self.noise_variance_) * self.y_scale_**2
        width = int(self.network_args_["atom_fea_len"]) * len(self.members_)
        features = np.hstack(pooled) if pooled else np.zeros((len(structures), width))
        return preds * self.y_scale_ + self.y_mean_, var, features

    def _check_state(self) -> None:
        """Refuse a loaded state a fit cannot produce (a crafted file), before any network is built."""
        from matloop.models.gnn.weights import WeightsError

        args = self.network_args_
        limits = {"atom_fea_len": (1, 1024), "n_conv": (0, 32), "h_fea_len": (1, 4096), "cutoff": (0.5, 30.0),
                  "gaussian_step": (0.01, 10.0), "dropout": (0.0, 1.0)}
        ok = isinstance(args, dict) and set(args) == set(limits) and all(
            isinstance(args[k], int | float) and lo <= args[k] <= hi for k, (lo, hi) in limits.items())
        ok = ok and isinstance(self.members_, list) and 0 < len(self.members_) <= 100 \
            and isinstance(self.weights_sha256_, list) and len(self.weights_sha256_) == len(self.members_) \
            and np.shape(self.atom_table_) == (119, N_ATOM_PROPERTIES)
        if not ok:
            raise WeightsError("the crystal graph model's arguments or weights are malformed (a crafted or damaged "
                               "file); refusing to use it")

    def _clip(self, values: np.ndarray) -> np.ndarray:
        from matloop.models.predictive import clip_to_bounds

        return clip_to_bounds(values, getattr(self, "bounds_", None))

    def predict(self, X, return_std: bool = False):
        """Ensemble mean (inside the bounds); with ``return_std`` also the calibrated std."""
        preds, var, _ = self._outputs(X)
        mean = self._clip(preds.mean(axis=0))
        return (mean, np.sqrt(var)) if return_std else mean

    def predict_distribution(self, X, mean_std: tuple | None = None):
        """Each structure's predictive distribution (:class:`~matloop.models.predictive.PredictiveDistribution`):
        the ensemble mean and std with the learnt shape of the held-out errors; ``mean_std``: the
        ``predict(X, return_std=True)`` already computed for these rows."""
        mean, std = self.predict(X, return_std=True) if mean_std is None else mean_std
        return self._distribution(mean, std)

    def _distribution(self, mean: np.ndarray, std: np.ndarray):
        residuals = getattr(self, "residuals_", None)
        if residuals is None:  # a model saved before the distribution was learnt: Gaussian (its quantiles)
            from scipy.stats import norm

            from matloop.models.predictive import ResidualDistribution

            z = norm.ppf((np.arange(400) + 0.5) / 400)
            residuals = ResidualDistribution().fit(np.zeros(400), np.ones(400), z)
        return residuals.distribution(self._clip(mean), std, getattr(self, "bounds_", None))

    def predict_interval(self, X, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
        """Central ``1 - alpha`` interval of the predictive distribution (inside the bounds)."""
        return self.predict_distribution(X).interval(1.0 - alpha)

    def in_domain(self, X, features: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(in-domain flag, relative distance) per structure; all in domain without a fitted domain."""
        if features is None:
            features = self._outputs(X)[2]
        if getattr(self, "domain_", None) is None:
            return np.ones(len(features), dtype=bool), np.zeros(len(features))
        return self.domain_.in_domain(features), self.domain_.relative_score(features)

    def predict_table(self, X, confidence: float = 0.95) -> pd.DataFrame:
        """What ``matloop predict`` adds: prediction, std, lower/upper, in_domain, domain_distance."""
        preds, var, features = self._outputs(X)
        mean, std = preds.mean(axis=0), np.sqrt(var)
        lower, upper = self._distribution(mean, std).interval(confidence)
        flag, score = self.in_domain(None, features=features)
        pct = int(round(confidence * 100))
        return pd.DataFrame({"prediction": self._clip(mean), "std": std, f"lower_{pct}": lower,
                             f"upper_{pct}": upper, "in_domain": flag, "domain_distance": score})

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "regressor"
        tags.input_tags.two_d_array = False
        return tags
