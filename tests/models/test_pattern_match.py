"""The search-match candidate of the pattern classifier: nearest shift-tolerant reference per class."""

import numpy as np

from matloop.represent.diffraction import Grid
from standins import PATTERN_RANGE, with_peak_bins
from standins import three_peak_patterns as curves

GRID = Grid(*PATTERN_RANGE)


def _strained(frame, strain):
    """The curves of ``frame`` with every peak moved by a uniform lattice strain."""
    from matloop.represent.diffraction_sim import _shift_axis

    out = frame.copy()
    cols = [c for c in frame.columns if c.startswith("I(")]
    origin = _shift_axis(GRID.points, GRID, np.array([[strain]]))[0]
    out[cols] = np.vstack([np.interp(origin, GRID.points, row, left=0, right=0) for row in frame[cols].to_numpy()])
    return out


def test_match_classifies_new_patterns_with_calibrated_probabilities_and_survives_save_and_load(tmp_path):
    from matloop.models.pattern_match import PatternMatchClassifier
    from matloop.models.persistence import load_model, save_model

    X, y = curves(6, 0)
    X_new, y_new = curves(5, 1)
    model = PatternMatchClassifier().fit(X, y)
    proba = model.predict_proba(X_new)
    assert np.mean(model.predict(X_new) == y_new) == 1.0
    assert proba.max(axis=1).mean() > 0.8  # confident where it is right ...
    assert model.oof_proba_.shape == (len(y), 3) and np.mean(model.classes_[model.oof_proba_.argmax(1)] == y) == 1
    save_model(model, tmp_path / "match.model")
    assert np.allclose(load_model(tmp_path / "match.model").predict_proba(X_new), proba)


def test_strain_tolerance_finds_a_shifted_copy_and_leave_one_out_never_sees_the_row_itself():
    from matloop.models.pattern_match import PatternMatchClassifier

    X, y = curves(3, 0)
    shifted = _strained(X, 0.01)  # 1 % strain: the 39° peak moves by ~0.4°, eight grid points
    tolerant = PatternMatchClassifier(strain=0.015).fit(X, y)
    rigid = PatternMatchClassifier(strain=0.0, broadening=0.0).fit(X, y)
    cols = [c for c in X.columns if c.startswith("I(")]
    for model, low, high in ((tolerant, 0.95, 1.0), (rigid, 0.0, 0.8)):
        sim = model._similarity(model._prepare(shifted[cols].to_numpy()), model.references_)
        assert np.all((np.diag(sim) >= low) & (np.diag(sim) <= high))
    assert np.all(tolerant.nearest(shifted) == np.arange(len(y)))
    # a class of one pattern: fitted, the pattern is its own nearest reference; left out, it has none
    y_single = y.astype("<U8")
    y_single[0] = "lonely"
    model = PatternMatchClassifier().fit(X, y_single)
    k = list(model.classes_).index("lonely")
    assert model.predict_proba(X.iloc[:1])[0, k] > 0.5
    assert model.oof_proba_[0, k] < 0.2


def test_auto_scores_match_and_a_recalibrated_blend():
    from matloop.models.pattern_auto import PatternAutoClassifier, PatternBlendClassifier, blend_proba

    X, y = curves(5, 0)
    X = with_peak_bins(X)
    auto = PatternAutoClassifier(candidates=("forest", "match"), cv=3, random_state=0).fit(X, y)
    assert set(auto.scores_) == {"forest", "match", "blend"}
    assert auto.scores_[auto.chosen_]["log_loss"] == min(s["log_loss"] for s in auto.scores_.values())
    parts = [PatternAutoClassifier(candidates=(n,), cv=3, random_state=0).fit(X, y).model_ for n in ("forest", "match")]
    plain = PatternBlendClassifier(("forest", "match")).from_models(parts, y)
    tuned = PatternBlendClassifier(("forest", "match"), recalibrate=True).from_models(parts, y)
    target = np.searchsorted(tuned.classes_, y)

    def nll(p):
        return -np.mean(np.log(p[np.arange(len(y)), target]))

    assert plain.temperature_ == 1.0 and np.allclose(plain.oof_proba_, blend_proba([m.oof_proba_ for m in parts]))
    assert tuned.temperature_ != 1.0 and nll(tuned.oof_proba_) <= nll(plain.oof_proba_) + 1e-9


def test_row_interpolation_equals_numpy_interp_row_by_row_outside_and_at_the_ends():
    from matloop.models.pattern_match import _interp_rows

    rng = np.random.default_rng(0)
    x = np.cumsum(rng.uniform(0.5, 1.5, 40))
    rows = rng.normal(size=(7, 40))
    points = np.concatenate([[x[0] - 1, x[0], x[-1], x[-1] + 0.3], rng.uniform(x[0] - 2, x[-1] + 2, 60)])
    expected = np.vstack([np.interp(points, x, r, left=0.0, right=0.0) for r in rows])
    assert np.allclose(_interp_rows(points, x, rows), expected, atol=1e-12)
