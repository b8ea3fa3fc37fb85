"""Sustainability and safety for screening: hard filters, score penalties and the per-candidate data.

Split from :mod:`matloop.design.screen` (which re-exports everything here).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from matloop.errors import InputError
from matloop.io.formula import Compositions

__all__ = ["Filters", "Penalties", "SUSTAINABILITY_COLUMNS", "sustainability"]

SUSTAINABILITY_COLUMNS = ["hhi_production", "hhi_reserve", "price_usd_per_kg", "toxic", "radioactive"]
_SUSTAINABILITY_SOURCE = {"hhi_production": "HHI production mean", "hhi_reserve": "HHI reserve mean",
                          "price_usd_per_kg": "element cost USD/kg", "toxic": "contains toxic",
                          "radioactive": "contains radioactive", "toxic_fraction": "toxic fraction",
                          "radioactive_fraction": "radioactive fraction"}

@dataclass(frozen=True)
class Filters:
    """Sustainability and safety filters (a candidate failing any is dropped before prediction).

    ``max_hhi``: largest weight-fraction mean HHI of production (0-10,000; US DoJ calls > 2,500
    highly concentrated); ``max_price``: largest raw element cost in USD/kg (2013-2019 prices);
    ``exclude_toxic``: no As, Be, Cd, Cr, Hg, Ni, Pb; ``exclude_radioactive``: no Tc, Pm, Po and
    heavier. Data and caveats: :class:`matloop.represent.composition.Sustainability`.
    """

    max_hhi: float | None = None
    max_price: float | None = None
    exclude_toxic: bool = False
    exclude_radioactive: bool = False

    @property
    def active(self) -> bool:
        return (self.max_hhi is not None or self.max_price is not None or self.exclude_toxic
                or self.exclude_radioactive)

    def mask(self, s: pd.DataFrame) -> np.ndarray:
        ok = np.ones(len(s), dtype=bool)
        if self.max_hhi is not None:
            ok &= s["hhi_production"].to_numpy() <= self.max_hhi
        if self.max_price is not None:
            ok &= s["price_usd_per_kg"].to_numpy() <= self.max_price
        if self.exclude_toxic:
            ok &= ~s["toxic"].to_numpy(dtype=bool)
        if self.exclude_radioactive:
            ok &= ~s["radioactive"].to_numpy(dtype=bool)
        return ok


@dataclass(frozen=True)
class Penalties:
    """Sustainability and safety as objectives: subtracted from the score, in score units.

    ``score = acquisition - hhi * HHI_production / 10,000 - price * log10(USD/kg)
    - toxic * (atomic fraction of toxic elements) - radioactive * (atomic fraction of radioactive
    elements)``: with the plain prediction (``mei``) a weight is "how much predicted property one
    would give up" for the whole HHI range, per tenfold price, or for a composition made wholly of
    toxic (radioactive) elements.
    """

    hhi: float = 0.0
    price: float = 0.0
    toxic: float = 0.0
    radioactive: float = 0.0

    def __post_init__(self) -> None:
        bad = {k: v for k, v in vars(self).items() if not np.isfinite(v) or v < 0}
        if bad:
            raise InputError(f"penalty weights must be finite and not negative, got {bad}")

    @property
    def active(self) -> bool:
        return bool(self.hhi or self.price or self.toxic or self.radioactive)

    def __call__(self, s: pd.DataFrame) -> np.ndarray:
        out = np.zeros(len(s))
        if self.hhi:
            out += self.hhi * s["hhi_production"].to_numpy() / 10_000.0
        if self.price:
            out += self.price * np.log10(np.maximum(s["price_usd_per_kg"].to_numpy(), 1e-3))
        if self.toxic:
            out += self.toxic * s["toxic_fraction"].to_numpy()
        if self.radioactive:
            out += self.radioactive * s["radioactive_fraction"].to_numpy()
        return out


def sustainability(comps: Compositions) -> pd.DataFrame:
    """HHI of production and reserves, element price (USD/kg), toxic and radioactive flags per row."""
    from matloop.represent.composition import Sustainability

    raw = Sustainability().transform(comps)
    out = pd.DataFrame({k: raw[v].to_numpy() for k, v in _SUSTAINABILITY_SOURCE.items()})
    out["toxic"] = out["toxic"].astype(bool)
    out["radioactive"] = out["radioactive"].astype(bool)
    return out
