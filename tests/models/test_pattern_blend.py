"""The blend candidate of the pattern auto-classifier: the mean of the CNN's and the forest's probabilities."""

import numpy as np
import pytest

from matloop.represent.diffraction import Grid
from standins import PATTERN_RANGE, with_peak_bins
from standins import three_peak_patterns as curves

GRID = Grid(*PATTERN_RANGE)


def test_blend_is_scored_beside_the_candidates_and_survives_save_and_load(tmp_path):
    pytest.importorskip("torch")
    from matloop.models.diffraction_cnn import PatternCNNClassifier
    from matloop.models.pattern_auto import PatternAutoClassifier, PatternBlendClassifier
    from matloop.models.persistence import load_model, save_model

    X, y = curves(4, 0)
    X_new, _ = curves(2, 1)
    X, X_new = with_peak_bins(X), with_peak_bins(X_new)
    auto = PatternAutoClassifier(cv=2, epochs=4, random_state=0).fit(X, y)
    assert set(auto.scores_) == {"cnn", "forest", "match", "blend"}
    assert auto.scores_[auto.chosen_]["log_loss"] == min(s["log_loss"] for s in auto.scores_.values())
    cnn = PatternCNNClassifier(n_members=2, epochs=4, n_threads=1, random_state=0).fit(X, y)
    forest = PatternAutoClassifier(cv=2, candidates=("forest",), random_state=0).fit(X, y).model_
    blend = PatternBlendClassifier().from_models([cnn, forest])
    assert np.allclose(blend.oof_proba_, (cnn.oof_proba_ + forest.oof_proba_) / 2)
    proba = blend.predict_proba(X_new)
    assert np.allclose(proba, (cnn.predict_proba(X_new) + forest.predict_proba(X_new)) / 2)
    assert blend.cam(X_new).shape == (len(X_new), len(GRID.points))
    save_model(blend, tmp_path / "blend.model")
    assert np.allclose(load_model(tmp_path / "blend.model").predict_proba(X_new), proba)


def test_without_a_second_candidate_there_is_no_blend():
    from matloop.models.pattern_auto import PatternAutoClassifier

    X, y = curves(5, 0)
    model = PatternAutoClassifier(candidates=("forest",), cv=3).fit(with_peak_bins(X), y)
    assert set(model.scores_) == {"forest"} and model.chosen_ == "forest"
