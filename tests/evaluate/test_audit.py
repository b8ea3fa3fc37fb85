"""Dataset audit: overview, memorisation baseline and CV-scheme comparison on data with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge
from sklearn.neighbors import KNeighborsRegressor

from matloop.evaluate import audit
from matloop.io import Dataset
from standins import blobs


def test_target_summary_counts_outliers_and_skew():
    s = audit.target_summary([1, 2, 3, 4, 100, np.nan])
    assert s["count"] == 5 and s["min"] == 1 and s["max"] == 100 and s["50%"] == 3
    assert s["n_outliers"] == 1  # 100 lies beyond q3 + 3 IQR = 4 + 6
    assert s["skew"] > 1


def test_element_frequency_counts_materials_per_element_in_z_order():
    freq = audit.element_frequency(["Fe2O3", "FeO", "NaCl", "La2O3"])
    assert list(freq.index) == ["O", "Na", "Cl", "Fe", "La"]
    assert freq.to_dict() == {"O": 3, "Na": 1, "Cl": 1, "Fe": 2, "La": 1}


def test_overview_finds_conflicting_repeats_missing_targets_and_rare_elements():
    frame = pd.DataFrame({"formula": ["Fe2O3", "Fe4O6", "ZnO", "TiO2", "CuO", "NiO"],
                          "gap": [1.0, 1.5, 3.3, np.nan, 1.2, 3.8]})
    ds = Dataset(frame=frame, input="formula", kind="composition", targets=["gap"])
    ov = audit.dataset_overview(ds)
    assert ov.n_rows == 6 and ov.n_labelled == 5
    assert ov.element_counts["O"] == 6 and ov.element_counts["Fe"] == 2
    assert len(ov.conflicts) == 1 and ov.conflicts["row"].tolist() == [2]  # Fe4O6 repeats Fe2O3
    assert set(ov.duplicates["row"]) == {1, 2}
    assert ov.replicate_spread == pytest.approx(np.std([1.0, 1.5], ddof=1))
    assert ov.missing.set_index("column").loc["gap", "n_missing"] == 1
    text = " ".join(ov.warnings)
    assert "1 rows have no 'gap' value" in text and "repeat(s) disagree" in text
    assert "fewer than 5 materials" in text  # every element but O is rare here
    assert ov.arity_counts.to_dict() == {2: 6}


def test_overview_flags_class_imbalance():
    frame = pd.DataFrame({"x": np.arange(55.0), "metal": [0] * 50 + [1] * 5})
    ds = Dataset(frame=frame, input=None, kind="parameters", targets=["metal"], task="classification")
    ov = audit.dataset_overview(ds)
    assert ov.imbalance_ratio == pytest.approx(10.0)
    assert any("class imbalance 10.0:1" in w for w in ov.warnings)
    balanced = audit.dataset_overview(Dataset(frame=frame.assign(metal=[0, 1] * 27 + [0]), input=None,
                                              kind="parameters", targets=["metal"], task="classification"))
    assert not any("imbalance" in w for w in balanced.warnings)


def test_clean_features_imputes_and_drops_constant_columns():
    X = pd.DataFrame({"a": [1.0, np.nan, 3.0], "b": [2.0, 2.0, 2.0], "c": [0.0, 1.0, np.inf]})
    out = audit.clean_features(X)
    assert list(out.columns) == ["a", "c"]
    assert out["a"].tolist() == [1.0, 2.0, 3.0] and np.isfinite(out.to_numpy()).all()


def test_memorisation_baseline_detects_exact_twins():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(40, 3))
    X = np.vstack([base, base])  # every material measured twice
    y = np.r_[base[:, 0] ** 3, base[:, 0] ** 3]
    memo = audit.memorisation_baseline(X, y, model_metrics={"mae": 0.05})
    assert memo.n_twins == 80
    assert memo.nearest_neighbour["mae"] < 0.2 * memo.dummy["mae"]  # the twin is usually in training
    assert memo.share > 0.9
    assert any("1-nearest-neighbour lookup already achieves" in w for w in memo.warnings)
    assert any("exact twin" in w for w in memo.warnings)


def test_memorisation_share_is_small_when_a_smooth_model_generalises():
    rng = np.random.default_rng(2)
    X = rng.uniform(-1, 1, size=(120, 6))
    y = X @ np.arange(1.0, 7.0)
    memo = audit.memorisation_baseline(X, y, model_metrics={"mae": 0.01})  # a linear model is near exact
    assert memo.n_twins == 0 and 0 < memo.share < 0.9
    assert not memo.warnings


def test_loco_warning_fires_when_a_cluster_cannot_be_predicted_from_the_others():
    X, labels = blobs((40, 40, 40, 40, 40), d=3, spread=0.5, seed=3)
    offsets = np.array([0.0, 50.0, -40.0, 80.0, 20.0])  # each family has its own level: not learnable across
    y = offsets[labels] + X["f0"].to_numpy() * 0.1
    comp = audit.compare_cv_schemes(KNeighborsRegressor(3), X, y, schemes=("random", "loco"))
    assert comp.ratio("random") == pytest.approx(1.0)
    assert comp.ratio("loco") > 5
    assert any(w.startswith("leave-one-cluster-out error is") and "new families" in w for w in comp.warnings)
    assert set(comp.results) == {"random", "loco"}


def test_no_warning_when_the_score_carries_over_to_unseen_clusters():
    X, _ = blobs((40, 40, 40, 40, 40), d=3, spread=2.0, seed=4)
    y = X.to_numpy() @ np.array([1.0, -2.0, 0.5]) + np.random.default_rng(5).normal(size=len(X))
    comp = audit.compare_cv_schemes(Ridge(alpha=1e-6), X, y, schemes=("random", "loco", "extrapolation"))
    assert comp.ratio("loco") < 1.5 and not comp.warnings
    extra = comp.table.set_index("scheme").loc["extrapolation"]
    assert extra["n_splits"] == 1 and np.isfinite(extra["reference_error"])


def test_summarize_requires_the_reference_scheme():
    with pytest.raises(ValueError, match="reference"):
        audit.summarize_cv_schemes({}, reference="random")
