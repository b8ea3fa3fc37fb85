import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_friedman1

from matloop.models.automodel import AutoClassifier, AutoModel
from matloop.models.forest import ExtraTreesRegressor, RandomForestRegressor
from matloop.models.pipeline import MaterialModel
from matloop.models.registry import make_model


class _Constant:
    """A deliberately bad candidate: predicts the training mean."""

    def __init__(self):
        pass

    def get_params(self, deep=True):
        return {}

    def set_params(self, **p):
        return self

    def fit(self, X, y):
        self.mean_ = float(np.mean(y))
        self.sd_ = float(np.std(y))
        return self

    def predict(self, X, return_std=False):
        m = np.full(len(X), self.mean_)
        return (m, np.full(len(X), self.sd_)) if return_std else m


def _data(n=160, seed=0):
    X, y = make_friedman1(n_samples=n, noise=0.5, random_state=seed)
    return X, y


def test_repeated_inner_cv_for_small_data():
    X, y = _data()
    cands = {"rf": RandomForestRegressor(30, random_state=0, noise="oob"), "const": _Constant()}
    model = AutoModel(candidates=cands, cv=4).fit(X[:120], y[:120])  # "auto": 2 repeats up to 1,000 rows
    assert model.cv_repeats_ == 2 and model.oof_prediction_.shape == (120,)
    assert model.oof_predictions_["rf"].shape == (120,) and model.weights_.get("const", 0) <= 0.1
    once = AutoModel(candidates=cands, cv=4, cv_repeats=1).fit(X[:120], y[:120])
    assert once.cv_repeats_ == 1
    # the second repeat reshuffles the folds: its out-of-fold predictions differ from the first's
    assert not np.allclose(model.oof_predictions_["rf"], once.oof_predictions_["rf"])


def test_automodel_prefers_good_models_and_calibrates():
    X, y = _data()
    cands = {"rf": RandomForestRegressor(60, random_state=0, noise="oob"),
             "et": ExtraTreesRegressor(60, random_state=0, noise="oob"), "const": _Constant()}
    model = AutoModel(candidates=cands, cv=4, cv_repeats=1).fit(X[:120], y[:120])
    assert model.weights_.get("const", 0.0) <= 0.1
    assert model.cv_scores_["ensemble"] <= min(model.cv_scores_["rf"], model.cv_scores_["et"]) + 1e-9
    mean, std = model.predict(X[120:], return_std=True)
    assert np.mean(np.abs(mean - y[120:])) < 0.7 * np.mean(np.abs(y[120:] - y[:120].mean()))
    z = (y[:120] - model.oof_prediction_) / model.oof_std_
    assert abs(np.sqrt(np.mean(z**2)) - 1.0) < 1e-6  # recalibrated on out-of-fold residuals
    members = model.member_predictions(X[120:])
    assert set(members.columns) == {"rf", "rf_median", "et", "et_median", "const"}
    assert model.feature_importances_.shape == (10,)


def test_automodel_drops_redundant_copies_of_a_feature():
    X, y = _data()
    X = np.hstack([X, X[:, :3] * 2.0 + 1.0])  # exact monotone copies
    model = AutoModel(candidates={"rf": RandomForestRegressor(30, random_state=0, noise="oob")}, cv=3).fit(X, y)
    assert len(model.selected_features_) <= 10


def test_default_automodel_runs_on_small_data():
    X, y = _data(70)
    model = make_model("auto").fit(X, y)
    assert set(model.cv_scores_) >= {"rf", "et", "ensemble"}
    assert np.all(model.predict(X[:5], return_std=True)[1] > 0)


def test_autoclassifier_probabilities_are_calibrated_and_accurate():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 5))
    p = 1 / (1 + np.exp(-2 * X[:, 0]))
    y = np.where(rng.random(600) < p, "metal", "insulator")
    clf = AutoClassifier().fit(X[:400], y[:400])
    proba = clf.predict_proba(X[400:])[:, list(clf.classes_).index("metal")]
    assert np.corrcoef(proba, p[400:])[0, 1] > 0.8
    assert abs(proba.mean() - (y[400:] == "metal").mean()) < 0.1
    assert set(clf.predict(X[400:])) <= {"metal", "insulator"}


def test_autoclassifier_balanced_threshold_raises_recall_of_a_rare_class():
    from sklearn.metrics import balanced_accuracy_score

    rng = np.random.default_rng(1)
    X = rng.normal(size=(1500, 4))
    p = 1 / (1 + np.exp(-(2.5 * X[:, 0] - 3.0)))  # about 12 % positives
    y = (rng.random(1500) < p).astype(int)
    balanced = AutoClassifier().fit(X[:1000], y[:1000])
    plain = AutoClassifier(threshold=0.5).fit(X[:1000], y[:1000])
    assert balanced.threshold_ == pytest.approx(y[:1000].mean())
    assert balanced_accuracy_score(y[1000:], balanced.predict(X[1000:])) > \
        balanced_accuracy_score(y[1000:], plain.predict(X[1000:])) + 0.03
    with pytest.raises(ValueError, match="threshold"):
        AutoClassifier(threshold=1.5).fit(X[:100], y[:100])


def test_automodel_tries_log_target_and_tree_median_on_a_skewed_target():
    rng = np.random.default_rng(2)
    X = rng.uniform(size=(150, 4))
    y = np.exp(3 * X[:, 0] + rng.normal(0, 0.4, 150))  # log-normal: strongly right-skewed
    model = AutoModel(candidates={"et": ExtraTreesRegressor(40, random_state=0, noise="oob")}, cv=3).fit(X, y)
    assert set(model.cv_scores_) == {"et", "et_median", "et_log", "et_log_median", "ensemble"}
    assert min(model.cv_scores_["et_log"], model.cv_scores_["et_log_median"]) < model.cv_scores_["et"]
    plain = AutoModel(candidates={"et": ExtraTreesRegressor(40, random_state=0, noise="oob")}, cv=3,
                      log_target=False).fit(X, y)
    assert "et_log" not in plain.cv_scores_
    mean, std = model.predict(X[:10], return_std=True)
    assert np.all(mean > 0) and np.all(std > 0)


def test_material_model_end_to_end_on_formulas():
    from matloop.datasets import load

    ds = load("matbench_expt_gap")
    f = ds.frame.sample(150, random_state=1)
    model = MaterialModel(RandomForestRegressor(50, random_state=0, noise="oob"), kind="composition")
    model.fit(f["composition"], f["gap expt"])
    table = model.predict_table(pd.Series(["GaAs", "ZnO", "Xe", "NaCl"]))
    assert list(table.columns) == ["prediction", "std", "lower_95", "upper_95", "in_domain", "domain_distance"]
    assert (table["std"] > 0).all() and table["in_domain"].dtype == bool
    with pytest.raises(Exception, match="unknown element"):
        model.predict(pd.Series(["Xx2O"]))
