"""Space files as scientists write them: the short form, and notes beside a parameter.

:meth:`matloop.design.space.DesignSpace.from_dict` reads the long form (``parameters:`` a list of
``{name, type, ...}``); :func:`long_form_spec` turns the short form (a mapping from name to spec) into
it, so that the ledger stores one form, in the file's order. The user guide is ``docs/design_spaces.md``.
"""

from __future__ import annotations

from matloop.errors import MatloopError

#: keys a parameter may carry for people (kept in the ledger's copy of the file, not used)
NOTE_KEYS = ("unit", "units", "description", "comment")

_SPACE_KEYS = ("constraints", "min_separation")
_SPACE_HELP = ("a space file needs its parameters, e.g.\n  parameters:\n    - {name: temperature, type: continuous, "
               "low: 300, high: 900, step: 5}\nor the short form\n  temperature: {low: 300, high: 900, step: 5}\n"
               "  solvent: [water, ethanol]\n(docs/design_spaces.md)")


def long_form_spec(spec, strict: bool = True) -> dict:
    """The space with ``parameters`` as a list of dicts. Short form: a mapping from name to spec (under
    ``parameters`` or at the top level): a list is categorical labels; a mapping with ``elements`` a
    composition, with ``values`` categorical, else continuous unless its ``type`` says otherwise.
    ``strict`` (files): a key the format does not know is an error; a ledger's stored copy is read as it was."""
    if not isinstance(spec, dict):
        raise MatloopError(_SPACE_HELP)
    params = spec.get("parameters")
    if params is None:
        params = {k: v for k, v in spec.items() if k not in _SPACE_KEYS}
    elif strict:  # the long form: nothing else at the top level goes unread
        unknown = sorted(str(k) for k in spec if k not in (*_SPACE_KEYS, "parameters"))
        if unknown:
            raise MatloopError(f"unknown key(s) {unknown} beside 'parameters' (known: parameters, "
                               f"{', '.join(_SPACE_KEYS)})")
    for name in params if isinstance(params, dict) else ():
        if str(name).lower().startswith(("constraint", "min_sep")) and name not in _SPACE_KEYS:
            raise MatloopError(f"{name!r} reads like a misspelt {', '.join(map(repr, _SPACE_KEYS))}: a parameter "
                               "must not be named so")
    if isinstance(params, list):
        return spec
    if not isinstance(params, dict) or not params:
        raise MatloopError(_SPACE_HELP)
    listed = []
    for name, p in params.items():
        if isinstance(p, list):
            p = {"type": "categorical", "values": p}
        if not isinstance(p, dict):
            raise MatloopError(f"parameter {name!r}: expected a mapping such as {{low: 0, high: 1}} or a list "
                               f"of labels, got {p!r}\n{_SPACE_HELP}")
        kind = p.get("type") or ("composition" if "elements" in p else "categorical" if "values" in p
                                 else "continuous")
        listed.append({**p, "name": str(name), "type": kind})
    return {**{k: spec[k] for k in _SPACE_KEYS if k in spec}, "parameters": listed}
