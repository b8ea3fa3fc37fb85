"""The composition featurizers keep scikit-learn's estimator contract without importing scikit-learn."""

from __future__ import annotations

import copy
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)
from sklearn.utils.validation import check_is_fitted

from matloop.represent.composition import CompositeFeaturizer, Stoichiometry, default_featurizer
from matloop.represent.element_property import magpie, xenonpy
from matloop.represent.estimator import LightTransformer, is_estimator

FORMULAS = ["NaCl", "Fe2O3", "SiO2", "Al2O3", "MgO"]


def test_featurizing_imports_neither_sklearn_nor_scipy():
    code = ("import sys\n"
            "from matloop.represent.element_property import magpie\n"
            "from matloop.represent.composition import default_featurizer\n"
            "magpie().fit_transform(['Fe2O3', 'NaCl']); default_featurizer().fit_transform(['SiO2'])\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'scipy')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("make", [magpie, xenonpy, Stoichiometry, default_featurizer])
def test_sklearn_contract_checks(make):
    featurizer = make()
    name = type(featurizer).__name__
    for check in (check_get_params_invariance, check_set_params, check_no_attributes_set_in_init,
                  check_parameters_default_constructible):
        check(name, featurizer)
    cloned = clone(featurizer)
    assert cloned is not featurizer and repr(cloned.get_params()) == repr(featurizer.get_params())
    assert is_estimator(featurizer) and isinstance(featurizer, LightTransformer)
    np.testing.assert_array_equal(cloned.fit_transform(FORMULAS).to_numpy(), featurizer.transform(FORMULAS).to_numpy())


def test_params_repr_and_errors():
    featurizer = magpie()
    assert repr(featurizer) == "ElementProperty()"
    assert repr(xenonpy(impute=None)) == "ElementProperty(impute=None, source='xenonpy')"
    assert featurizer.set_params(stats=("mean",)) is featurizer
    assert featurizer.get_params()["stats"] == ("mean",)
    assert list(featurizer.transform(["Fe2O3"]).columns)[0] == "MagpieData mean Number"
    with pytest.raises(ValueError, match="Invalid parameter 'colour'"):
        featurizer.set_params(colour="red")
    composite = CompositeFeaturizer(["magpie", "stoichiometry"])
    assert repr(composite) == "CompositeFeaturizer(featurizers=['magpie', 'stoichiometry'])"


def test_pipeline_nested_params_grid_and_set_output():
    pipe = make_pipeline(magpie(), StandardScaler())
    pipe.set_params(elementproperty__stats=("mean", "maximum"))
    assert pipe.get_params()["elementproperty__stats"] == ("mean", "maximum")
    out = pipe.fit_transform(FORMULAS)
    assert out.shape == (5, 44) and isinstance(out, np.ndarray)
    pipe.set_output(transform="pandas")
    frame = pipe.fit_transform(FORMULAS)
    assert isinstance(frame, pd.DataFrame) and list(frame.columns)[:2] == ["MagpieData mean Number",
                                                                           "MagpieData maximum Number"]
    copied = clone(pipe)
    assert copied.get_params()["elementproperty__stats"] == ("mean", "maximum")


def test_tags_fitted_and_copies():
    featurizer = magpie()
    tags = get_tags(featurizer)
    assert tags.input_tags.string and not tags.input_tags.two_d_array and not tags.requires_fit
    assert tags.transformer_tags is not None
    check_is_fitted(featurizer)  # stateless: usable without fit
    state = dict(featurizer.__getstate__(), _sklearn_version="1.0")  # as BaseEstimator saved it
    restored = type(featurizer).__new__(type(featurizer))
    restored.__setstate__(state)
    assert "_sklearn_version" not in vars(restored) and restored.get_params() == featurizer.get_params()
    twin = copy.deepcopy(default_featurizer())
    np.testing.assert_array_equal(twin.transform(FORMULAS).to_numpy(), default_featurizer().transform(FORMULAS).to_numpy())
    bundle = featurizer._repr_mimebundle_()
    assert bundle["text/plain"] == "ElementProperty()" and "<div" in bundle.get("text/html", "<div")
