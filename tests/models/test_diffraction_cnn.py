"""The 1-D CNN ensemble on diffraction patterns (torch parts skip without PyTorch) and the pattern
auto-classifier's forest candidate (runs everywhere)."""

import numpy as np
import pandas as pd
import pytest

from matloop.represent.diffraction import Grid
from matloop.represent.diffraction_sim import render_peaks

GRID = Grid(15.0, 45.0, 0.05)
# three classes: the same peaks at 20° and 36°, the third peak at 28°, 31° or 39°
THIRD = {"a": 28.0, "b": 31.0, "c": 39.0}


def curves(n_per_class: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for label, third in THIRD.items():
        for _ in range(n_per_class):
            pos = np.array([20.0, 36.0, third]) + rng.normal(0, 0.08, 3)
            y = render_peaks(pos, np.array([100, 70, 60]) * rng.uniform(0.7, 1.3, 3), GRID)
            y = np.clip(y / y.max() + rng.normal(0, 0.02, len(GRID.points)), 0, None)
            rows.append(y / y.max())
            labels.append(label)
    frame = pd.DataFrame(np.array(rows), columns=[f"I(2θ={v:.4g})" for v in GRID.points])
    frame["peak 1 position"] = 0.0  # a non-curve column the CNN must ignore
    return frame, np.array(labels)


def test_peak_forest_probabilities_are_calibrated_and_accurate():
    from matloop.models.pattern_auto import PatternAutoClassifier

    def with_bins(frame):  # 1° binned maxima, as the peak featurizer gives the forest
        curve = frame.filter(like="I(").to_numpy()
        bins = {f"max I(2θ {a}-{a + 1})": curve[:, (GRID.points >= a) & (GRID.points < a + 1)].max(axis=1)
                for a in range(15, 45)}
        return frame.assign(**bins).drop(columns="peak 1 position")

    X, y = curves(8, 0)
    X_new, y_new = curves(4, 1)
    X, X_new = with_bins(X), with_bins(X_new)
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
