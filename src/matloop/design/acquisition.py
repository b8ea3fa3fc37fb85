"""Acquisition functions: small composable objects that score candidates.

Each acquisition maps a predictive distribution over candidates (a :class:`Posterior`) and the
campaign's state (a :class:`Context`: best value so far, features of measured and candidate
materials) to one score per candidate; higher is better. They are separated from models and from
batch selection so that any surrogate with ``predict(X, return_std=True)`` can drive any strategy.

All scores are computed for **maximisation**; minimisation goals are handled by
:class:`Objective`, which flips the sign of the predictions before scoring.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np
from scipy.special import erfcx, log_ndtr, ndtr
from scipy.stats import norm

_SQRT_HALF = np.sqrt(0.5)
_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)
_LOG_SQRT_PI_HALF = 0.5 * np.log(np.pi / 2.0)
_MIN_STD = 1e-12


@dataclass
class Posterior:
    """Predictive mean and standard deviation of each candidate (maximisation sense)."""

    mean: np.ndarray
    std: np.ndarray

    def __post_init__(self) -> None:
        self.mean = np.asarray(self.mean, dtype=float).reshape(-1)
        self.std = np.maximum(np.asarray(self.std, dtype=float).reshape(-1), _MIN_STD)
        if self.mean.shape != self.std.shape:
            raise ValueError(f"mean and std differ in length: {self.mean.shape} vs {self.std.shape}")


@dataclass
class Context:
    """What an acquisition may need besides the posterior.

    Attributes
    ----------
    best : float or None
        Best measured value so far, in the maximisation sense.
    X_candidates, X_measured : ndarray or None
        Standardised features of the candidates and of the measured materials (for novelty).
    rng : numpy.random.Generator
        Randomness for sampling acquisitions (Thompson).
    """

    best: float | None = None
    X_candidates: np.ndarray | None = None
    X_measured: np.ndarray | None = None
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))


@dataclass(frozen=True)
class Objective:
    """The goal of a campaign for one target: maximise, minimise, or land in a window.

    ``transform`` turns predictions into the maximisation sense used by every acquisition;
    window goals are scored by :class:`ProbabilityInWindow` (their "improvement" is not monotone).
    """

    direction: str = "max"  # "max", "min" or "range"
    low: float | None = None
    high: float | None = None

    def __post_init__(self) -> None:
        if self.direction not in ("max", "min", "range"):
            raise ValueError(f"direction must be 'max', 'min' or 'range', got {self.direction!r}")
        if self.direction == "range" and (self.low is None or self.high is None or self.low >= self.high):
            raise ValueError(f"a target range needs low < high, got {self.low}..{self.high}")

    @property
    def sign(self) -> float:
        return -1.0 if self.direction == "min" else 1.0

    def posterior(self, mean: np.ndarray, std: np.ndarray) -> Posterior:
        """Predictions in the maximisation sense."""
        return Posterior(self.sign * np.asarray(mean, dtype=float), std)

    def best(self, y: np.ndarray) -> float | None:
        """Best measured value in the maximisation sense (for windows: closeness to the window)."""
        y = np.asarray(y, dtype=float)
        y = y[np.isfinite(y)]
        if not len(y):
            return None
        if self.direction == "range":
            return float(-np.min(self.distance_to_window(y)))
        return float(np.max(self.sign * y))

    def distance_to_window(self, y: np.ndarray) -> np.ndarray:
        """0 inside the window, else the distance to its nearest edge."""
        y = np.asarray(y, dtype=float)
        return np.maximum(0.0, np.maximum(self.low - y, y - self.high))

    def is_hit(self, y: np.ndarray) -> np.ndarray:
        """Whether measured values meet a window goal (always False for max/min)."""
        if self.direction != "range":
            return np.zeros(np.shape(y), dtype=bool)
        return self.distance_to_window(y) == 0


class Acquisition(ABC):
    """Scores candidates; higher is better. Subclasses implement :meth:`score`."""

    #: short name used on the command line and in reports
    name: str = ""
    #: one-line explanation used in the ``reason`` column of suggestions
    explanation: str = ""

    @abstractmethod
    def score(self, posterior: Posterior, context: Context) -> np.ndarray:
        """One score per candidate."""

    def __call__(self, posterior: Posterior, context: Context | None = None) -> np.ndarray:
        return self.score(posterior, context or Context())

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({params})"


def _improvement_z(posterior: Posterior, context: Context, xi: float) -> np.ndarray:
    if context.best is None:
        raise ValueError("this acquisition needs the best measured value (Context.best)")
    return (posterior.mean - context.best - xi) / posterior.std


class ExpectedImprovement(Acquisition):
    """Expected improvement over the best measurement (Jones et al. 1998)."""

    name = "ei"
    explanation = "largest expected improvement over the best measured"

    def __init__(self, xi: float = 0.0):
        self.xi = xi

    def score(self, posterior: Posterior, context: Context) -> np.ndarray:
        z = _improvement_z(posterior, context, self.xi)
        return posterior.std * (norm.pdf(z) + z * ndtr(z))


def log_h(z: np.ndarray) -> np.ndarray:
    """``log(phi(z) + z * Phi(z))``, accurate for very negative ``z`` (Ament et al. 2023)."""
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    upper = z > -1.0
    zu = z[upper]
    out[upper] = np.log(norm.pdf(zu) + zu * ndtr(zu))
    zl = z[~upper]
    log_phi = -0.5 * zl**2 - _LOG_SQRT_2PI
    # w = log(|z| Phi(z) / phi(z)) = log(|z| erfcx(-z/sqrt2)) + log(sqrt(pi/2)); h = phi * (1 - e^w)
    with np.errstate(over="ignore", divide="ignore"):
        w = np.log(np.abs(zl) * erfcx(-zl * _SQRT_HALF)) + _LOG_SQRT_PI_HALF
    tiny = zl < -1e6  # asymptotic regime: 1 - e^w ~ 1/z^2
    log1mexp = np.where(w > -np.log(2.0), np.log(-np.expm1(np.minimum(w, -1e-300))), np.log1p(-np.exp(w)))
    out[~upper] = log_phi + np.where(tiny, -2.0 * np.log(np.abs(zl)), log1mexp)
    return out


class LogExpectedImprovement(Acquisition):
    """Logarithm of expected improvement, numerically stable where EI underflows to 0.

    Ranks exactly like EI, but keeps distinguishing candidates whose improvement is very unlikely,
    which is what makes it usable for optimisation over large spaces (Ament et al., NeurIPS 2023).
    """

    name = "logei"
    explanation = "largest expected improvement over the best measured"

    def __init__(self, xi: float = 0.0):
        self.xi = xi

    def score(self, posterior: Posterior, context: Context) -> np.ndarray:
        z = _improvement_z(posterior, context, self.xi)
        return log_h(z) + np.log(posterior.std)


class ProbabilityOfImprovement(Acquisition):
    """Probability of beating the best measurement (Kushner 1964).

    Ling et al. (2017) call the same ranking MLI, maximum likelihood of improvement.
    """

    name = "pi"
    explanation = "most likely to beat the best measured"

    def __init__(self, xi: float = 0.0):
        self.xi = xi

    def score(self, posterior: Posterior, context: Context) -> np.ndarray:
        return ndtr(_improvement_z(posterior, context, self.xi))


class MaximumLikelihoodOfImprovement(ProbabilityOfImprovement):
    """MLI of Ling et al. 2017 (Integr Mater Manuf Innov 6, 207): the PI ranking, in log form."""

    name = "mli"

    def score(self, posterior: Posterior, context: Context) -> np.ndarray:
        return log_ndtr(_improvement_z(posterior, context, self.xi))


class UpperConfidenceBound(Acquisition):
    """Optimism under uncertainty: ``mean + beta * std`` (LCB when the goal is minimisation)."""

    name = "ucb"
    explanation = "high prediction plus a bonus for uncertainty"

    def __init__(self, beta: float = 2.0):
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        self.beta = beta

    def score(self, posterior: Posterior, context: Context) -> np.ndarray:
        return posterior.mean + self.beta * posterior.std


class Exploitation(Acquisition):
    """Pure exploitation: the best predicted mean. MEI of Ling et al. 2017."""

    name = "mei"
    explanation = "best predicted value"

    def score(self, posterior: Posterior, context: Context) -> np.ndarray:
        return posterior.mean.copy()


class MaximumUncertainty(Acquisition):
    """Active learning for model accuracy: the largest predictive std (MU of Ling et al. 2017)."""

    name = "mu"
    explanation = "the model is least sure here: measuring it teaches the most"

    def score(self, posterior: Posterior, context: Context) -> np.ndarray:
        return posterior.std.copy()


class ThompsonSampling(Acquisition):
    """One draw from each candidate's predictive distribution (Thompson 1933).

    Draws are independent per candidate (the surrogates' marginal posteriors); successive calls give
    different draws, which is what makes Thompson batches diverse.
    """

    name = "thompson"
    explanation = "best in a plausible draw of the unknown function"

    def score(self, posterior: Posterior, context: Context) -> np.ndarray:
        return posterior.mean + posterior.std * context.rng.standard_normal(len(posterior.mean))


class ProbabilityInWindow(Acquisition):
    """Probability that the property lands in a target window ``[low, high]``.

    Works on the raw (untransformed) predictions: build it with the window's bounds and give it the
    posterior of the property itself (``Objective(direction="range")`` keeps the sign).
    """

    name = "window"
    explanation = "most likely to land in the target window"

    def __init__(self, low: float, high: float):
        if not low < high:
            raise ValueError(f"window needs low < high, got {low}..{high}")
        self.low, self.high = float(low), float(high)

    def score(self, posterior: Posterior, context: Context) -> np.ndarray:
        upper = ndtr((self.high - posterior.mean) / posterior.std)
        lower = ndtr((self.low - posterior.mean) / posterior.std)
        return np.clip(upper - lower, 0.0, 1.0)


class Novelty(Acquisition):
    """Distance to the nearest measured material in standardised feature space.

    For outside-the-box exploration: ignores the predictions entirely.
    """

    name = "novelty"
    explanation = "far from everything measured so far"

    def score(self, posterior: Posterior, context: Context) -> np.ndarray:
        if context.X_candidates is None or context.X_measured is None:
            raise ValueError("novelty needs candidate and measured features (Context.X_candidates/X_measured)")
        return nearest_distance(context.X_candidates, context.X_measured)


def nearest_distance(A: np.ndarray, B: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Euclidean distance of each row of ``A`` to its nearest row of ``B`` (chunked, no n*m blow-up)."""
    A = np.asarray(A, dtype=float)
    B = np.asarray(B, dtype=float)
    if len(B) == 0:
        return np.full(len(A), np.inf)
    b2 = np.einsum("ij,ij->i", B, B)
    out = np.empty(len(A))
    for s in range(0, len(A), chunk):
        a = A[s : s + chunk]
        d2 = np.einsum("ij,ij->i", a, a)[:, None] + b2[None, :] - 2.0 * a @ B.T
        out[s : s + chunk] = np.sqrt(np.maximum(d2.min(axis=1), 0.0))
    return out


ACQUISITIONS: dict[str, type[Acquisition]] = {
    cls.name: cls
    for cls in (
        ExpectedImprovement,
        LogExpectedImprovement,
        ProbabilityOfImprovement,
        MaximumLikelihoodOfImprovement,
        UpperConfidenceBound,
        Exploitation,
        MaximumUncertainty,
        ThompsonSampling,
        Novelty,
    )
}
ACQUISITIONS["lcb"] = UpperConfidenceBound  # the same rule; the objective's sign makes it a lower bound


def make_acquisition(name: str, objective: Objective | None = None, **params) -> Acquisition:
    """An acquisition by name (``ei``, ``logei``, ``pi``, ``mli``, ``ucb``/``lcb``, ``mei``, ``mu``,
    ``thompson``, ``novelty``, ``window``). A window objective always uses ``window``."""
    if objective is not None and objective.direction == "range":
        if name not in ("window", "mu", "novelty", "thompson"):
            name = "window"
        if name == "window":
            return ProbabilityInWindow(objective.low, objective.high)
    if name == "window":
        raise ValueError("the 'window' acquisition needs a target range (--target-range LO HI)")
    try:
        return ACQUISITIONS[name](**params)
    except KeyError:
        raise ValueError(f"unknown acquisition {name!r}; known: {', '.join(sorted([*ACQUISITIONS, 'window']))}") from None
