"""The 1-D CNN ensemble on diffraction patterns (torch parts skip without PyTorch) and the pattern
auto-classifier's forest candidate (runs everywhere)."""

import numpy as np
import pytest

from matloop.represent.diffraction import Grid
from standins import PATTERN_RANGE, with_peak_bins
from standins import three_peak_patterns as curves

GRID = Grid(*PATTERN_RANGE)


def test_peak_forest_probabilities_are_calibrated_and_accurate():
    from matloop.models.pattern_auto import PatternAutoClassifier

    X, y = curves(8, 0)
    X_new, y_new = curves(4, 1)
    X, X_new = with_peak_bins(X), with_peak_bins(X_new)
    model = PatternAutoClassifier(candidates=("forest",), cv=3).fit(X, y)
    proba = model.predict_proba(X_new)
    assert proba.shape == (12, 3) and np.allclose(proba.sum(axis=1), 1)
    assert model.chosen_ == "forest" and model.cam(X_new) is None
    assert np.mean(model.predict(X_new) == y_new) >= 0.9


def test_cnn_learns_survives_save_and_load_and_its_cam_finds_the_peak(tmp_path):
    pytest.importorskip("torch")
    from matloop.models.diffraction_cnn import PatternCNNClassifier
    from matloop.models.persistence import load_model, save_model

    X, y = curves(8, 0)
    X_new, y_new = curves(5, 2)
    model = PatternCNNClassifier(n_members=3, epochs=25, n_threads=1, random_state=0).fit(X, y)
    accuracy = float(np.mean(model.predict(X_new) == y_new))
    assert accuracy >= 0.8  # chance is 1/3
    proba = model.predict_proba(X_new)
    assert np.allclose(proba.sum(axis=1), 1) and 0.05 <= model.temperature_ <= 20
    save_model(model, tmp_path / "cnn.model")
    back = load_model(tmp_path / "cnn.model")
    assert np.allclose(back.predict_proba(X_new), proba)
    # class b differs by its peak at 31°: the map of b's patterns is highest near there, not at 20° or 36°
    cam = model.cam(X_new[y_new == "b"], label="b")
    assert cam.shape == (5, len(GRID.points))
    top = GRID.points[np.argmax(cam.mean(axis=0))]
    assert abs(top - 31.0) < 2.0, top


def test_cnn_without_torch_is_a_clean_input_error(monkeypatch):
    import builtins

    from matloop.errors import InputError
    from matloop.models.diffraction_cnn import PatternCNNClassifier

    real = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("no torch")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    X, y = curves(3, 0)
    with pytest.raises(InputError, match="PyTorch"):
        PatternCNNClassifier(n_members=2).fit(X, y)
