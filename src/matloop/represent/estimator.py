"""A scikit-learn transformer base that does not import scikit-learn.

``import sklearn.base`` costs about 0.7 s (it pulls in scipy.stats, scipy.sparse and most of
``sklearn.utils``), more than featurizing 200,000 formulas. The composition featurizers are used
where nothing else needs scikit-learn (``matloop featurize``, ``matloop.represent`` from a script),
so their base class, :class:`LightTransformer`, implements scikit-learn's estimator contract itself
and imports scikit-learn only inside the methods that only scikit-learn calls (tags, output
containers, HTML display), when it is loaded already:

- ``get_params`` / ``set_params`` (nested ``a__b`` keys), as :class:`sklearn.base.BaseEstimator`
  does, so :func:`sklearn.base.clone`, pipelines and grid searches work;
- ``__repr__`` showing the parameters that differ from their defaults;
- ``fit_transform`` and ``set_output`` (:class:`sklearn.base.TransformerMixin`): with an output
  container configured (``set_output`` or ``sklearn.set_config(transform_output=...)``) the
  output of ``transform`` / ``fit_transform`` is wrapped by scikit-learn's own function;
- ``__sklearn_tags__`` (those of a ``TransformerMixin, BaseEstimator``), ``_repr_mimebundle_``.

The difference a user can see: ``isinstance(featurizer, sklearn.base.BaseEstimator)`` is False;
:func:`is_estimator` answers for both kinds.
"""

from __future__ import annotations

import functools
import inspect
import math
import sys
from collections import defaultdict
from typing import Any

#: scikit-learn's default limit on the characters of an estimator's repr
N_CHAR_MAX = 700


class LightTransformer:
    """scikit-learn's ``TransformerMixin, BaseEstimator`` contract without importing scikit-learn.

    Subclasses take their parameters as explicit keyword arguments of ``__init__`` and store them
    unchanged under the same names (scikit-learn's rule), and define ``fit`` and ``transform``.
    """

    _sklearn_auto_wrap_output_keys = frozenset({"transform"})  # read by scikit-learn's set_output machinery

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in ("transform", "fit_transform"):  # as _SetOutputMixin does for TransformerMixin
            method = cls.__dict__.get(name)
            if method is not None and not getattr(method, "_wraps_output", False):
                setattr(cls, name, _wrap_output(method, name))

    # ----------------------------------------------------------------- parameters
    @classmethod
    def _get_param_names(cls) -> list[str]:
        """The ``__init__`` keyword parameters, sorted (scikit-learn's rule: no ``*args``)."""
        init = getattr(cls.__init__, "deprecated_original", cls.__init__)
        if init is object.__init__:
            return []
        parameters = [p for p in inspect.signature(init).parameters.values()
                      if p.name != "self" and p.kind != p.VAR_KEYWORD]
        if any(p.kind == p.VAR_POSITIONAL for p in parameters):
            raise RuntimeError(f"{cls.__name__}: scikit-learn estimators take no *args in __init__")
        return sorted(p.name for p in parameters)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Parameters of this featurizer (and, with ``deep``, of estimators among them as ``a__b``)."""
        out: dict[str, Any] = {}
        for key in self._get_param_names():
            value = getattr(self, key)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{key}__{k}", v) for k, v in value.get_params().items())
            out[key] = value
        return out

    def set_params(self, **params):
        """Set parameters (``name=value``, nested ``name__sub=value``); returns self."""
        if not params:
            return self
        valid = self.get_params(deep=True)
        nested: dict[str, dict[str, Any]] = defaultdict(dict)
        for key, value in params.items():
            key, delim, sub_key = key.partition("__")
            if key not in valid:
                raise ValueError(f"Invalid parameter {key!r} for estimator {self}. Valid parameters are: "
                                 f"{self._get_param_names()!r}.")
            if delim:
                nested[key][sub_key] = value
            else:
                setattr(self, key, value)
                valid[key] = value
        for key, sub_params in nested.items():
            valid[key].set_params(**sub_params)
        return self

    def __repr__(self) -> str:
        init = inspect.signature(type(self).__init__).parameters
        shown = []
        for key, value in self.get_params(deep=False).items():
            default = init[key].default if key in init else inspect.Parameter.empty
            if default is inspect.Parameter.empty or not _same_default(value, default):
                shown.append(f"{key}={value!r}")
        text = f"{type(self).__name__}({', '.join(shown)})"
        if len("".join(text.split())) > N_CHAR_MAX:  # as scikit-learn: keep both ends
            text = f"{text[:N_CHAR_MAX // 2]}...{text[-(N_CHAR_MAX // 2):]}"
        return text

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        state.pop("_sklearn_version", None)  # written by BaseEstimator into models saved before
        self.__dict__.update(state)

    # ----------------------------------------------------------------- transformer
    def fit_transform(self, X, y=None, **fit_params):
        """``fit(X, y)`` then ``transform(X)``."""
        if y is None:
            return self.fit(X, **fit_params).transform(X)
        return self.fit(X, y, **fit_params).transform(X)

    def set_output(self, *, transform: str | None = None):
        """Output container of ``transform`` and ``fit_transform``: ``"default"``, ``"pandas"``
        (both a DataFrame here) or ``"polars"``; ``None`` leaves it unchanged. Returns self."""
        if transform is None:
            return self
        if not hasattr(self, "_sklearn_output_config"):
            self._sklearn_output_config = {}
        self._sklearn_output_config["transform"] = transform
        return self

    # ----------------------------------------------------------------- scikit-learn only
    def __sklearn_tags__(self):
        return _shadow()().__sklearn_tags__()

    def _repr_mimebundle_(self, **kwargs) -> dict[str, str]:
        """Jupyter's display: scikit-learn's diagram when scikit-learn is loaded, else the repr."""
        output = {"text/plain": repr(self)}
        if "sklearn" in sys.modules:
            from sklearn import get_config

            try:
                from sklearn.utils._repr_html.estimator import estimator_html_repr
            except ImportError:  # scikit-learn < 1.7
                from sklearn.utils._estimator_html_repr import estimator_html_repr
            if get_config()["display"] == "diagram":
                output["text/html"] = estimator_html_repr(self)
        return output


def is_estimator(obj: object) -> bool:
    """A scikit-learn estimator: a ``BaseEstimator`` or a :class:`LightTransformer`."""
    if isinstance(obj, LightTransformer):
        return True
    base = sys.modules.get("sklearn.base")
    return base is not None and isinstance(obj, base.BaseEstimator)


def _same_default(value: object, default: object) -> bool:
    if isinstance(value, float) and isinstance(default, float) and math.isnan(value) and math.isnan(default):
        return True
    return repr(value) == repr(default)


@functools.cache
def _shadow() -> type:
    """A real ``TransformerMixin, BaseEstimator`` class, for the tags scikit-learn expects."""
    from sklearn.base import BaseEstimator, TransformerMixin

    class _Shadow(TransformerMixin, BaseEstimator):
        pass

    return _Shadow


def _wrap_output(method, name: str):
    """``method`` whose result scikit-learn wraps in the configured container, when one is configured.

    Without scikit-learn loaded no container can have been configured globally, and ``set_output``
    stores one only on the instance: the result is returned as it is, at no cost.
    """

    @functools.wraps(method)
    def wrapped(self, X, *args, **kwargs):
        data = method(self, X, *args, **kwargs)
        if "sklearn" not in sys.modules and not hasattr(self, "_sklearn_output_config"):
            return data
        from sklearn.utils._set_output import _wrap_data_with_container

        key = "transform"
        if isinstance(data, tuple):
            return (_wrap_data_with_container(key, data[0], X, self), *data[1:])
        return _wrap_data_with_container(key, data, X, self)

    wrapped._wraps_output = True
    return wrapped
