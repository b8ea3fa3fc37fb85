"""AutoModel and MaterialModel keep predictions and intervals inside the target's bounds (detected or
given), give intervals from their predictive distribution, and save the bounds with the model."""

import numpy as np
import pandas as pd
import pytest

from matloop.errors import InputError
from matloop.evaluate.uncertainty_metrics import distribution_metrics
from matloop.models.automodel import AutoModel
from matloop.models.forest import ExtraTreesRegressor, RandomForestRegressor
from matloop.models.pipeline import MaterialModel


def _small(**kw) -> AutoModel:
    return AutoModel(candidates={"et": ExtraTreesRegressor(n_estimators=40, random_state=0, noise="oob"),
                                 "rf": RandomForestRegressor(n_estimators=40, random_state=0, noise="oob")},
                     random_state=0, **kw)


@pytest.fixture(scope="module")
def gaps():
    """A band-gap-like target: 40 % exact zeros ("metals"), the rest positive and skewed."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(700, 6))
    latent = 1.2 * X[:, 0] + 0.5 * X[:, 1] + 0.6 * rng.standard_t(3, size=700)
    y = np.where(latent < 0.3, 0.0, np.exp(0.4 * latent) - 1)
    return X[:500], y[:500], X[500:], y[500:]


def test_nonnegative_target_detected_and_everything_stays_nonnegative(gaps):
    X, y, Xt, yt = gaps
    m = _small().fit(X, y)
    assert m.bounds_ == (0.0, None)
    mean, std = m.predict(Xt, return_std=True)  # still a mean and a std
    assert mean.shape == std.shape == (200,) and mean.min() >= 0 and np.all(std >= 0)
    lower, upper = m.predict_interval(Xt)
    assert lower.min() >= 0 and np.all(upper >= lower) and np.all((mean >= lower) | np.isclose(mean, lower))
    # the Gaussian reading of the same prediction would have gone below zero
    assert np.any(mean - 1.96 * std < 0)
    q = m.predict_quantiles(Xt, [0.1, 0.5, 0.9])
    assert q.shape == (200, 3) and np.all(np.diff(q, axis=1) >= 0) and q.min() >= 0
    dist = m.predict_distribution(Xt)
    metrics = distribution_metrics(yt, mean, dist, std)
    assert 0.9 <= metrics["coverage_95"] <= 1.0 and metrics["miscalibration_area"] < 0.1
    # P(gap = 0) is higher where the gap is 0
    p0 = dist.prob_at_lower()
    assert p0[yt == 0].mean() > p0[yt > 0].mean() + 0.2


def test_no_bounds_and_given_bounds(gaps):
    X, y, Xt, _ = gaps
    free = _small(bounds=None).fit(X, y)
    assert free.bounds_ == (None, None)
    assert free.predict_interval(Xt)[0].min() < 0  # unbounded: the distribution may go below zero
    frac = y / (1 + y)  # in [0, 1)
    m = _small(bounds=(0, 1)).fit(X, frac)
    lower, upper = m.predict_interval(Xt, alpha=0.01)
    assert lower.min() >= 0 and upper.max() <= 1
    assert np.all((m.predict(Xt) >= 0) & (m.predict(Xt) <= 1))
    with pytest.raises(InputError, match="outside the bounds"):
        _small(bounds=(0, 0.5)).fit(X, frac)
    with pytest.raises(ValueError):
        _small(bounds="sometimes").fit(X, y)


def test_material_model_table_inside_bounds_and_saved(gaps, tmp_path):
    from matloop.models.persistence import load_model, save_model

    X, y, Xt, _ = gaps
    cols = [f"p{j}" for j in range(X.shape[1])]
    frame, test = pd.DataFrame(X, columns=cols), pd.DataFrame(Xt, columns=cols)
    model = MaterialModel(_small(), kind="parameters").fit(frame, y)
    assert model.bounds_ == (0.0, None) and model.estimator_.bounds_ == (0.0, None)
    table = model.predict_table(test)
    assert table["lower_95"].min() >= 0 and (table["prediction"] >= 0).all()
    lo, hi = model.estimator_.predict_interval(test)
    assert np.allclose(table["lower_95"], lo) and np.allclose(table["upper_95"], hi)
    path = save_model(model, tmp_path / "gap.model")
    again = load_model(path)
    assert again.bounds_ == (0.0, None)
    pd.testing.assert_frame_equal(again.predict_table(test), table)


def test_material_model_with_a_gaussian_estimator_clips_its_interval(gaps):
    X, y, Xt, _ = gaps
    cols = [f"p{j}" for j in range(X.shape[1])]
    model = MaterialModel(RandomForestRegressor(n_estimators=30, random_state=0), kind="parameters",
                          bounds=(0, None)).fit(pd.DataFrame(X, columns=cols), y)
    table = model.predict_table(pd.DataFrame(Xt, columns=cols))
    assert table["lower_95"].min() == 0  # clipped, not negative
    inside = table["lower_95"] > 0
    assert np.allclose((table["upper_95"] - table["prediction"])[inside],
                       (table["prediction"] - table["lower_95"])[inside])  # Gaussian where not clipped


def test_cross_validation_scores_the_predictive_distribution(gaps):
    from sklearn.model_selection import KFold

    from matloop.evaluate.cross_validation import cross_validate

    X, y, _, _ = gaps
    cols = [f"p{j}" for j in range(X.shape[1])]
    frame = pd.DataFrame(X[:300], columns=cols)
    result = cross_validate(lambda: MaterialModel(_small(), kind="parameters", domain=False), frame, y[:300],
                            KFold(3, shuffle=True, random_state=0))
    preds = result.predictions
    assert (preds["lower"] >= 0).all()
    inside = ((preds["y_true"] >= preds["lower"]) & (preds["y_true"] <= preds["upper"])).to_numpy()
    per_fold = [inside[preds["fold"].to_numpy() == k].mean() for k in range(3)]
    assert result.mean["coverage_95"] == pytest.approx(np.mean(per_fold))
    # the distribution's calibration, not the Gaussian reading of mean and std
    from matloop.evaluate.uncertainty_metrics import miscalibration_area

    gaussian = np.mean([miscalibration_area(p["y_true"], p["prediction"], p["std"]) for _, p in preds.groupby("fold")])
    assert result.mean["miscalibration_area"] < 0.1
    assert abs(result.mean["miscalibration_area"] - gaussian) > 1e-3
