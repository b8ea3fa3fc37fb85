"""ApplicabilityDomain: calibrated threshold, and out-of-domain points really have larger errors."""

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestRegressor

from matloop import InputError
from matloop.models.domain import ApplicabilityDomain


def _target(X):
    return np.sin(2 * X[:, 0]) + X[:, 1] ** 2 - X[:, 2]


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(300, 3))  # the model only sees this box
    y = _target(X) + rng.normal(0, 0.05, 300)
    model = RandomForestRegressor(n_estimators=40, min_samples_leaf=2, random_state=0, n_jobs=1).fit(X, y)
    Xt = rng.uniform(-2.5, 2.5, size=(2000, 3))  # mostly outside it
    return X, model, Xt, np.abs(model.predict(Xt) - _target(Xt))


@pytest.mark.parametrize("method", ["knn", "kde"])
def test_out_of_domain_points_have_larger_errors(trained, method):
    X, _, Xt, err = trained
    ad = ApplicabilityDomain(method=method).fit(X)
    inside = ad.in_domain(Xt)
    assert 20 < inside.sum() < len(Xt) - 20
    assert err[~inside].mean() / err[inside].mean() > 1.5
    score = ad.score(Xt)
    assert np.array_equal(inside, score <= ad.threshold_)
    # the score ranks error: farther points are worse on average
    far = score > np.quantile(score, 0.75)
    near = score < np.quantile(score, 0.25)
    assert err[far].mean() > 2 * err[near].mean()


@pytest.mark.parametrize("method", ["knn", "kde"])
def test_threshold_is_calibrated_on_new_in_distribution_points(method):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 4))
    fresh = rng.normal(size=(4000, 4))
    ad = ApplicabilityDomain(method=method, threshold_quantile=0.9).fit(X)
    frac = ad.in_domain(fresh).mean()
    assert 0.85 < frac < 0.97  # about 90 %, slightly lenient by construction
    assert np.mean(ad.cv_scores_ <= ad.threshold_) == pytest.approx(0.9, abs=0.01)
    assert ad.in_domain(fresh + 6.0).mean() < 0.01


def test_importance_weights_ignore_irrelevant_features():
    rng = np.random.default_rng(2)
    X = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "noise"])
    query = rng.normal(size=(200, 3))
    query[:, 2] += 8.0  # far away, but only along a feature the model does not use
    plain = ApplicabilityDomain().fit(X)
    weighted = ApplicabilityDomain(feature_weights=[1.0, 1.0, 0.0]).fit(X)
    assert plain.in_domain(query).mean() < 0.05
    assert weighted.in_domain(query).mean() > 0.8

    class Fitted:  # anything with feature_importances_ works
        feature_importances_ = np.array([0.5, 0.5, 0.0])

    np.testing.assert_allclose(ApplicabilityDomain(feature_weights=Fitted()).fit(X).score(query),
                               weighted.score(query))


def test_scaling_and_bad_input():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(100, 2)) * [1.0, 1000.0]
    ad = ApplicabilityDomain().fit(X)
    query = np.c_[np.full(10, 5.0), np.linspace(-500, 500, 10)]  # 5 sd out along the small-scale feature
    assert not ad.in_domain(query).any()
    assert ApplicabilityDomain(scale=False).fit(X).in_domain(query).all()  # raw units would miss it
    with pytest.raises(InputError) as err:
        ad.score(np.array([[0.0, np.nan], [1.0, 2.0]]))
    assert err.value.table["row"].tolist() == [1]
    with pytest.raises(InputError):
        ad.score(np.zeros((2, 3)))
    with pytest.raises(InputError):
        ApplicabilityDomain(k=50).fit(X[:20])
    with pytest.raises(InputError):
        ApplicabilityDomain(feature_weights=[1.0, -1.0]).fit(X)
    with pytest.raises(ValueError):
        ApplicabilityDomain(method="magic").fit(X)
    assert ad.relative_score(X[:5]).shape == (5,)
