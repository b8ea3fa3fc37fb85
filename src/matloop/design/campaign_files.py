"""Files a campaign reads or writes besides its ledger: the batch output, the design space, the export.

Split out of :mod:`matloop.design.campaign` (which re-exports these names): checks that run
before any work (a bad output path fails now, not after the fit) and the safe space reader.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from matloop.design.space import DesignSpace
from matloop.design.space_spec import long_form_spec
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
        spec = long_form_spec(spec)  # a list of parameters: their order survives the ledger's JSON
        return DesignSpace.from_dict(spec), spec
    except InputError:
        raise
    except (MatloopError, ValueError, TypeError, AttributeError, KeyError) as exc:
        raise InputError(f"{path.name}: {exc}") from None


def export_table(campaign) -> pd.DataFrame:
    """``campaign export``: one row per measurement (with its candidate's columns) and one per
    unmeasured candidate, plus every suggestion's rank, prediction and batch; failures, vetoes and
    retractions (:func:`~matloop.design.campaign_failures.export_events`)."""
    from matloop.design.campaign_failures import export_events

    cands = campaign.ledger.candidates()
    meas = campaign.ledger.measurements(retracted=True).rename(columns={"id": "measurement_id", "value": "measured_value",
                                                      "source": "measurement_source"})
    sug = campaign.ledger.suggestions()
    out = cands.merge(meas.drop(columns=["extra", "idempotency_key"]), on="candidate_id", how="left")
    if not sug.empty:
        s = sug.rename(columns={"id": "suggestion_id", "rank": "suggested_rank", "prediction": "suggested_prediction",
                                "std": "suggested_std", "acquisition": "suggested_acquisition",
                                "reason": "suggested_reason", "created_at": "suggested_at",
                                "created_by": "suggested_by", "batch_id": "suggestion_batch"})
        keep = ["candidate_id", "suggestion_batch", "suggested_rank", "suggested_prediction", "suggested_std",
                "suggested_acquisition", "suggested_reason", "model", "model_version", "suggested_at"]
        first = s[keep].drop_duplicates("candidate_id", keep="last")
        out = out.merge(first, on="candidate_id", how="left")
    return export_events(campaign, out)  # status (ok / failed), failure reasons, vetoes


#: the columns ``campaign export`` writes around each candidate's own columns (:func:`export_table`)
EXPORT_COLUMNS = {"candidate_id", "key", "source", "measurement_id", "target", "measured_value", "recorded_at",
                  "recorded_by", "measurement_source", "suggestion_batch", "suggested_rank", "suggested_prediction",
                  "suggested_std", "suggested_acquisition", "suggested_reason", "model", "model_version",
                  "suggested_at", "status", "failure_reason", "retracted_reason", "vetoed_reason", "vetoed_by"}


def wide_from_export(frame: pd.DataFrame, source: str) -> tuple[pd.DataFrame, str]:
    """A ``campaign export`` (one row per measurement, the goal in ``target``, the value in
    ``measured_value``) as a table of one row per candidate with a column per measured goal (the mean
    of its replicates; failed and retracted rows left out), so that last campaign's export is this
    one's ``--history``. Any other table is returned as it is. Returns ``(table, source name)``."""
    if not {"key", "target", "measured_value", "status"} <= set(frame.columns):
        return frame, source
    value = pd.to_numeric(frame["measured_value"], errors="coerce")
    keep = (frame["status"].astype(str) == "ok") & value.notna() & frame["target"].notna()
    ok = frame[keep].assign(measured_value=value[keep])
    if ok.empty:
        raise InputError(f"{source} is a campaign export with no measurement to learn from (every row unmeasured, "
                         "failed or retracted)")
    wide = ok.pivot_table(index="key", columns="target", values="measured_value", aggfunc="mean", sort=False)
    inputs = [c for c in frame.columns if c not in EXPORT_COLUMNS and c not in wide.columns]
    table = ok.drop_duplicates("key").set_index("key")[inputs].join(wide).reset_index(drop=True)
    table.columns = [str(c) for c in table.columns]
    return table, (f"{source} (a campaign export: {len(ok)} measurements of {len(table)} candidates, "
                   "replicates averaged)")
