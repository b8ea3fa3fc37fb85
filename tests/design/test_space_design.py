"""The first design over a design space (design/space_design.py): numeric parameters spread over their
ranges, categorical levels given out in turn, measured points counted."""

from pathlib import Path

import numpy as np
import pandas as pd

from matloop.design.campaign_files import read_space
from matloop.design.coldstart import space_filling_design

ROOT = Path(__file__).resolve().parents[2]


def test_a_first_design_spreads_the_numbers_and_uses_every_category():
    space, _ = read_space(ROOT / "docs" / "examples" / "reaction_space.yaml")
    design = space_filling_design(space, 8, seed=0)
    assert len(design) == 8 and space.feasible(design).all()
    assert len(design.drop_duplicates()) == 8
    # clustering the one-hot categories too put all 8 between 115 and 135 degC and 6 and 7.5 h
    assert design["temperature"].max() - design["temperature"].min() >= 0.5 * 120
    assert design["time_h"].max() - design["time_h"].min() >= 0.5 * 11
    assert sorted(design["solvent"].value_counts()) == [1, 1, 2, 2, 2]  # 5 levels over 8 points
    assert sorted(design["catalyst"].value_counts()) == [2, 3, 3]


def test_measured_levels_count_and_are_not_repeated():
    space, _ = read_space(ROOT / "docs" / "examples" / "reaction_space.yaml")
    measured = pd.DataFrame({"temperature": [100.0, 120.0], "time_h": [5.0, 6.0], "solvent": ["O", "O"],
                             "catalyst": ["Pd", "Pd"]})
    design = space_filling_design(space, 3, measured=measured, seed=1)
    assert "O" not in set(design["solvent"]) and "Pd" not in set(design["catalyst"])  # the least used first
    assert space.feasible(design).all()


def test_a_space_without_categories_keeps_the_medoids_of_its_unit_coordinates():
    from matloop.design.coldstart import medoids, space_points
    from matloop.design.space import DesignSpace

    space = DesignSpace.from_dict({"a": {"low": 0, "high": 1}, "b": {"low": 10, "high": 20}})
    pts = space_points(space, 1024, seed=3, top_up=16)
    expected = pts.iloc[medoids(space.unit(pts), 4, seed=3)].reset_index(drop=True)
    assert np.allclose(space_filling_design(space, 4, seed=3).to_numpy(dtype=float), expected.to_numpy(dtype=float))


def test_a_space_of_categories_only_gives_every_level_in_turn():
    from matloop.design.space import DesignSpace

    space = DesignSpace.from_dict({"solvent": ["CCO", "O", "CS(C)=O", "CN(C)C=O"], "catalyst": ["Pd", "Ni", "Cu"],
                                   "base": ["K2CO3", "Cs2CO3"]})
    design = space_filling_design(space, 5, seed=0)
    assert len(design.drop_duplicates()) == 5
    assert set(design["solvent"]) == {"CCO", "O", "CS(C)=O", "CN(C)C=O"} and set(design["catalyst"]) == {"Pd", "Ni", "Cu"}
    assert sorted(design["base"].value_counts()) == [2, 3]


def test_transfer_values_of_a_space_composition():
    """--transfer on a design-space campaign: the library's values of its composition join the encoding
    (was silently ignored); a space without a composition is an error."""
    import pytest

    from matloop.design.history import space_transfer_encoder
    from matloop.design.space import DesignSpace
    from matloop.errors import InputError

    space, _ = read_space(ROOT / "docs" / "examples" / "anneal_space.yaml")
    frame = space_filling_design(space, 3, seed=0)
    X = space_transfer_encoder(space, "auto")(frame)
    own = space.encode(frame)
    assert X.shape[0] == 3 and X.shape[1] > own.shape[1] and np.allclose(X[:, : own.shape[1]], own)
    assert np.isfinite(X).all()
    with pytest.raises(InputError, match="needs a composition parameter"):
        space_transfer_encoder(DesignSpace.from_dict({"t": {"low": 0, "high": 1}}), "auto")
