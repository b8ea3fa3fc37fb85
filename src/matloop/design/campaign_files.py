"""Files a campaign reads or writes besides its ledger: the batch output and the design space.

Split out of :mod:`matloop.design.campaign` (which re-exports these names): checks that run
before any work (a bad output path fails now, not after the fit) and the safe space reader.
"""

from __future__ import annotations

import os
from pathlib import Path

from matloop.design.space import DesignSpace
from matloop.errors import InputError, MatloopError, error_table


def check_output(path: str | Path) -> Path:
    """The batch's output file, checked before any work: a table format matloop writes, an existing
    writable folder, not a folder itself. Raises :class:`InputError` naming the problem."""
    from matloop.io.write import output_format

    path = Path(path)
    output_format(path)
    folder = path.parent
    problem = None
    if path.is_dir():
        problem = "is a folder"
    elif not folder.is_dir():
        problem = f"its folder {str(folder)!r} does not exist"
    elif not os.access(folder, os.W_OK | os.X_OK):
        problem = f"its folder {str(folder)!r} is not writable"
    elif path.exists() and not os.access(path, os.W_OK):
        problem = "the file exists and is not writable"
    if problem:
        raise InputError(f"cannot write {str(path)!r}: {problem}",
                         error_table([{"row": 0, "column": "--output", "value": str(path), "reason": problem}]))
    return path


def _staging_path(path: Path) -> Path:
    """A temporary name beside ``path`` with the same suffixes (so the format is the same), renamed
    over ``path`` in one step once the ledger has committed."""
    import secrets

    return path.with_name(f".{secrets.token_hex(4)}.partial-{path.name}")


def read_space(path: str | Path) -> tuple[DesignSpace, dict]:
    """A space and its spec dict (stored in the ledger so the campaign is self-contained)."""
    from matloop.io.specfile import read_spec

    path = Path(path)
    spec = read_spec(path)  # size-capped, unique keys, no YAML aliases; problems are InputError
    try:
        return DesignSpace.from_dict(spec), spec
    except InputError:
        raise
    except (MatloopError, ValueError, TypeError, AttributeError, KeyError) as exc:
        raise InputError(f"{path.name}: {exc}") from None
