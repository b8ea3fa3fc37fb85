import numpy as np
import pandas as pd
import pytest

from matloop.design.space import DesignSpace, optimize
from matloop.errors import MatloopError

SPEC = {
    "parameters": [
        {"name": "temperature", "type": "continuous", "low": 300, "high": 900},
        {"name": "layers", "type": "integer", "low": 1, "high": 10},
        {"name": "solvent", "type": "categorical", "values": ["water", "ethanol", "toluene"]},
        {"name": "alloy", "type": "composition", "elements": {"Fe": [0.5, 0.9], "Ni": [0, 0.3], "Cr": [0, 0.3]}},
    ],
    "constraints": ["temperature + 50 * layers <= 1200", "Ni + Cr <= 0.4"],
}


def test_samples_are_feasible_and_typed():
    space = DesignSpace.from_dict(SPEC)
    s = space.sample(500, np.random.default_rng(0))
    assert len(s) == 500 and space.feasible(s).all()
    assert np.allclose(s[["Fe", "Ni", "Cr"]].sum(axis=1), 1.0)
    assert (s["Fe"] >= 0.5 - 1e-9).all() and (s["Ni"] + s["Cr"] <= 0.4 + 1e-9).all()
    assert np.allclose(s["layers"], s["layers"].round()) and set(s["solvent"]) <= {"water", "ethanol", "toluene"}
    assert space.encode(s).shape == (500, 1 + 1 + 3 + 3)
    assert space.formulas(s.head(1))[0].startswith("Fe")


def test_yaml_file_and_errors(tmp_path):
    p = tmp_path / "space.yaml"
    p.write_text("parameters:\n  - {name: x, type: continuous, low: 0, high: 1}\nconstraints: ['x > 0.5']\n")
    space = DesignSpace.from_file(p)
    assert (space.sample(100, np.random.default_rng(1))["x"] > 0.5).all()
    with pytest.raises(MatloopError, match="low < high"):
        DesignSpace.from_dict({"parameters": [{"name": "x", "type": "continuous", "low": 1, "high": 0}]})
    with pytest.raises(MatloopError, match="unknown name"):
        DesignSpace.from_dict({"parameters": [{"name": "x", "type": "continuous", "low": 0, "high": 1}],
                               "constraints": ["y < 1"]})
    with pytest.raises(MatloopError, match="not allowed|only"):
        DesignSpace.from_dict({"parameters": [{"name": "x", "type": "continuous", "low": 0, "high": 1}],
                               "constraints": ["__import__('os').system('x') < 1"]})
    with pytest.raises(MatloopError, match="cannot sum to 1"):
        DesignSpace.from_dict({"parameters": [{"name": "c", "type": "composition",
                                               "elements": {"Fe": [0, 0.3], "Ni": [0, 0.3]}}]})


def test_optimizer_finds_the_constrained_optimum():
    space = DesignSpace.from_dict({"parameters": [
        {"name": "x", "type": "continuous", "low": -5, "high": 5},
        {"name": "y", "type": "continuous", "low": -5, "high": 5}], "constraints": ["x + y <= 1"]})

    def score(f: pd.DataFrame) -> np.ndarray:  # maximum on the constraint boundary at (1.5, -0.5)
        return -((f["x"] - 2.0) ** 2 + (f["y"] + 0.0) ** 2).to_numpy()

    best = optimize(space, score, n=5, rng=np.random.default_rng(0))
    assert best.loc[0, "x"] == pytest.approx(1.5, abs=0.05) and best.loc[0, "y"] == pytest.approx(-0.5, abs=0.05)
    assert space.feasible(best).all()


def test_a_constraint_on_a_parameter_named_as_a_python_keyword():
    """A wavelength parameter called 'lambda' and a name with spaces work in constraints (ast alone refused them)."""
    space = DesignSpace.from_dict({"parameters": [
        {"name": "lambda", "type": "continuous", "low": 400, "high": 800},
        {"name": "temp (C)", "type": "continuous", "low": 20, "high": 100}],
        "constraints": ["lambda + 2 * temp (C) <= 700"]})
    frame = pd.DataFrame({"lambda": [400.0, 600.0], "temp (C)": [50.0, 90.0]})
    assert space.feasible(frame).tolist() == [True, False]
    points = space.sample(50, np.random.default_rng(0))
    assert (points["lambda"] + 2 * points["temp (C)"] <= 700 + 1e-9).all()
    with pytest.raises(MatloopError, match="unknown name 'if'"):
        DesignSpace.from_dict({"parameters": [{"name": "x", "type": "continuous", "low": 0, "high": 1}],
                               "constraints": ["if < 1"]})


def test_a_log_scale_parameter_spans_its_decades():
    """A concentration from 0.001 to 1 M (log: true) is sampled, designed and modelled in log10, and
    suggested at two significant digits; on a linear scale 9 of 10 points would lie above 0.1 M."""
    space = DesignSpace.from_dict({"conc": {"low": 0.001, "high": 1, "log": True}, "temperature": {"low": 20, "high": 80}})
    x = space.sample(4000, np.random.default_rng(0))["conc"].to_numpy()
    assert (x >= 0.001).all() and (x <= 1).all()
    assert 0.02 < np.median(x) < 0.05  # near the geometric mean 0.032, not 0.5
    assert abs((x < 0.01).mean() - 1 / 3) < 0.03  # one decade of three
    enc = space.encode(pd.DataFrame({"conc": [0.001, 0.1], "temperature": [20.0, 80.0]}))
    assert enc[:, 0].tolist() == pytest.approx([-3.0, -1.0])
    rounded = space.round(pd.DataFrame({"conc": [0.0031416, 0.047321, 0.99999], "temperature": [50.0] * 3}))
    assert rounded["conc"].tolist() == pytest.approx([0.0031, 0.047, 1.0])
    from matloop.design.coldstart import space_filling_design

    first = space_filling_design(space, 8, seed=0)["conc"].to_numpy()
    assert (first < 0.01).sum() >= 2 and (first > 0.1).sum() >= 2  # the first batch covers the decades
    cycles = DesignSpace.from_dict({"cycles": {"type": "integer", "low": 1, "high": 1000, "log": True}})
    c = cycles.sample(3000, np.random.default_rng(1))["cycles"].to_numpy()
    assert (c == np.round(c)).all() and c.min() >= 1 and c.max() <= 1000 and 15 < np.median(c) < 60
    assert cycles.round(pd.DataFrame({"cycles": [347.0, 3.0, 999.6]}))["cycles"].tolist() == [350, 3, 1000]
    for bad in ({"low": 0, "high": 1, "log": True}, {"type": "categorical", "values": ["a", "b"], "log": True},
                {"low": 1, "high": 9, "log": "yes"}):
        with pytest.raises(MatloopError, match="log"):
            DesignSpace.from_dict({"c": bad})
