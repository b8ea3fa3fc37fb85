"""Read a small JSON or YAML settings file a user hands us (a design space): safely, or an InputError.

Why a module of its own: ``json.loads``/``yaml.safe_load`` on an untrusted file raise
``RecursionError`` on deep nesting, ``UnicodeDecodeError`` on binary, silently keep the last of two
equal keys, and YAML aliases can describe an exponentially large document in a few lines (the
"billion laughs": harmless when loaded, fatal when the spec is later written out as JSON). Here a
spec file is at most ``MAX_SPEC_BYTES`` (10 MB), decoded like a table, free of control characters,
and parsed with unique keys and without YAML aliases; every problem is a
:class:`matloop.InputError` (exit status 2).
"""

from __future__ import annotations

import json
from pathlib import Path

from matloop.errors import InputError
from matloop.io.guard import CONTROL_CHARACTERS, decode_text

__all__ = ["MAX_SPEC_BYTES", "read_spec"]

MAX_SPEC_BYTES = 10_000_000


def _unique(pairs: list[tuple[str, object]]) -> dict:
    data = dict(pairs)
    if len(data) < len(pairs):
        seen: set[str] = set()
        key = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise InputError(f"the key {str(key)[:80]!r} appears twice in one object; every key must be unique")
    return data


def _yaml_loader():
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        """SafeLoader that rejects aliases (``*ref``) and repeated mapping keys."""

        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise InputError(f"YAML aliases (*{event.anchor}) are not allowed in a spec file (line "
                                 f"{event.start_mark.line + 1}); write the values out")
            return super().compose_node(parent, index)

        def construct_mapping(self, node, deep=False):
            keys = [self.construct_object(k, deep=deep) for k, _ in node.value]
            hashable = [k for k in keys if isinstance(k, str | int | float | bool) or k is None]
            if len(set(hashable)) < len(hashable):
                seen: set = set()
                key = next(k for k in hashable if k in seen or seen.add(k))
                raise InputError(f"the key {str(key)[:80]!r} appears twice in one mapping (line "
                                 f"{node.start_mark.line + 1}); every key must be unique")
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def read_spec(path: str | Path) -> object:
    """The parsed content of a ``.json``, ``.yaml`` or ``.yml`` file (JSON for ``.json``, else YAML).

    Raises :class:`FileNotFoundError` when there is no such file and :class:`matloop.InputError`
    when it cannot be read (too large, not text, control characters, malformed, nested too deeply,
    repeated keys, YAML aliases).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{'not a file' if path.exists() else 'no such file'}: {path}")
    size = path.stat().st_size
    if size > MAX_SPEC_BYTES:
        raise InputError(f"{path.name} holds {size:,} bytes; a spec file holds at most {MAX_SPEC_BYTES:,}")
    text = decode_text(path.read_bytes(), path.name)
    bad = CONTROL_CHARACTERS.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        raise InputError(f"{path.name} contains the control character U+{ord(bad.group()):04X} on line {line}; "
                         "a spec file is plain text")
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text, object_pairs_hook=_unique)
        import yaml

        return yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - a SafeLoader subclass
    except InputError as exc:
        raise InputError(f"{path.name}: {exc.message}") from None
    except RecursionError:
        raise InputError(f"{path.name} is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, numbers too long to convert
        raise InputError(f"{path.name} is not valid JSON: {' '.join(str(exc).split())[:300]}") from None
    except Exception as exc:  # yaml.YAMLError and its subclasses
        if type(exc).__module__.startswith("yaml"):
            raise InputError(f"{path.name} is not valid YAML: {' '.join(str(exc).split())[:300]}") from None
        raise
