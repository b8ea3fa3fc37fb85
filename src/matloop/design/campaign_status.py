"""What ``campaign status`` prints: where a campaign stands, as labelled lines or a Jupyter table.

Split out of :mod:`matloop.design.campaign` (which re-exports :class:`CampaignStatus`) to keep
that module small; it only formats numbers the campaign has already computed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: front rows printed by ``campaign status`` (a 3-goal front can hold a large share of what was measured)
FRONT_SHOWN = 12


@dataclass
class CampaignStatus:
    """A summary of where a campaign stands (prints as labelled lines; renders as a table in Jupyter)."""

    name: str
    target: str
    goal: str
    n_candidates: int
    n_measured: int
    n_suggested: int
    n_pending: int
    best: float | None
    best_material: str | None
    best_setting: dict | None = None  # the best candidate's inputs by column name (parameters or material)
    n_initial: int = 0  # measured candidates given at creation (the start, not experiments of the campaign)
    n_experiments: int = 0  # result rows recorded after creation (one per experiment, any number of goals)
    n_failed: int = 0  # candidates whose experiment failed (never measured successfully)
    n_vetoed: int = 0  # candidates ruled out by a person (campaign veto)
    n_retracted: int = 0  # entries withdrawn as recorded in error (campaign retract)
    n_abandoned: int = 0  # suggestions that will not be run (campaign abandon)
    front: list[str] | None = None  # several goals: the measured Pareto front, one "col = value, ..." line per row
    hypervolume: float | None = None  # several goals: the front's hypervolume (goals scaled by their measured ranges)
    hypervolume_start: float | None = None  # several goals: the start table's front on the same scale
    best_replicates: int = 1  # measurements averaged into the best value (the rule: mean of replicates)
    subject: str = ""  # one goal with outcome constraints: "; subject to ..." (the best meets them)
    same: list[str] | None = None  # columns every batch shares by default (campaign new --same)

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs, in display order."""
        out = [("campaign", self.name), ("goal", self.goal if self.front is not None else f"{self.goal} {self.target}{self.subject}"),
               ("candidates", str(self.n_candidates)),
               ("measured", f"{self.n_measured} candidates ({self.n_initial} measured in the start table, "
                            f"{self.n_experiments} result{'s' if self.n_experiments != 1 else ''} recorded since)"),
               ("suggested", f"{self.n_suggested} ({self.n_pending} awaiting results"
                             + (f", {self.n_abandoned} abandoned)" if self.n_abandoned else ")"))]
        if self.same:
            out.append(("batches share", f"{', '.join(self.same)} (campaign new --same; campaign suggest --same COL "
                                         "or --no-same for one batch)"))
        if self.n_failed or self.n_vetoed:
            out.append(("failed / vetoed", f"{self.n_failed} failed, {self.n_vetoed} vetoed (not suggested again)"))
        if self.n_retracted:
            out.append(("retracted", f"{self.n_retracted} entr{'ies' if self.n_retracted != 1 else 'y'} recorded in "
                                     "error (kept in 'campaign history', left out of everything else)"))
        if self.best is not None:
            n = self.best_replicates
            out.append(("best value", f"{self.best:.6g}"))
            out.append(("best at", self.best_text()))
            out.append(("best rule", f"each candidate's mean of its replicates (the best: {n} measurement"
                                     f"{'s' if n != 1 else ''})"))
        if self.front is not None:  # several goals (design/campaign_multi.py)
            out.append(("hypervolume", f"{self.hypervolume:.4g} (each goal scaled by its measured range; reference "
                                       f"10% of the range below the worst){self._progress_text()}"))
            out.append(("Pareto front", f"{len(self.front)} rows measured on every goal"))
            out += [(f"  front {i}", line) for i, line in enumerate(self.front[:FRONT_SHOWN], 1)]
            if len(self.front) > FRONT_SHOWN:
                out.append(("  ...", f"{len(self.front) - FRONT_SHOWN} more front rows (all of them: the table "
                                     "'Pareto-optimal materials' of campaign report)"))
        return out

    def _progress_text(self) -> str:
        """What the campaign's own experiments added to the front, on today's scale (the scale moves as
        results widen a goal's range, so a bare hypervolume is not comparable between two statuses)."""
        if self.hypervolume_start is None or not self.n_experiments:
            return ""
        start, now = self.hypervolume_start, self.hypervolume or 0.0
        if start <= 0:
            return "; nothing measured on every goal at the start"
        return f"; the start table's front on this scale: {start:.4g} ({(now - start) / start:+.0%} since)"

    def best_text(self) -> str:
        """The best candidate as ``column = value`` pairs (never an unlabelled vector)."""
        if not self.best_setting:
            return _fmt(self.best_material) if isinstance(self.best_material, str) else str(self.best_material)
        return ", ".join(f"{k} = {_fmt(v)}" for k, v in self.best_setting.items())

    def __str__(self) -> str:
        rows = self.rows()
        width = max(len(k) for k, _ in rows) + 2
        return "\n".join(f"{k + ':':<{width}}{v}" for k, v in rows)

    def _repr_html_(self) -> str:
        import html

        body = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>"
                       f"{html.escape(v)}</td></tr>" for k, v in self.rows())
        return f"<table>{body}</table>"


def _fmt(value) -> str:
    if isinstance(value, float | np.floating) and not isinstance(value, bool):
        return f"{float(value):.6g}"
    if isinstance(value, str) and ("\n" in value or len(value) > 200):  # inline structure text: a short label
        from matloop.io.detect import material_label

        return material_label(value, width=200)
    return str(value)


def campaign_overview(engine) -> list[dict]:
    """Every campaign of a ledger (``campaign list``, ``GET /api/campaigns``): name, goal(s), kind, who
    created it and when, its candidates and its measured values (those retracted left out)."""
    import json

    from sqlalchemy import func, inspect, select

    from matloop.design.goals import goals_from_config
    from matloop.design.ledger import campaigns, candidates, measurements

    with engine.connect() as conn:
        rows = conn.execute(select(campaigns).order_by(campaigns.c.id)).mappings().all()
        n_cand = dict(conn.execute(select(candidates.c.campaign_id, func.count())
                                   .group_by(candidates.c.campaign_id)).all())
        n_meas = dict(conn.execute(select(measurements.c.campaign_id, func.count())
                                   .group_by(measurements.c.campaign_id)).all())
        gone: dict[int, int] = {}
        if inspect(conn).has_table("campaign_events"):
            from matloop.design.ledger_events import events

            for cid, extra in conn.execute(select(events.c.campaign_id, events.c.extra)
                                           .where(events.c.kind == "retracted")).all():
                gone[cid] = gone.get(cid, 0) + str(json.loads(extra).get("entry", "")).startswith("m")
    out = []
    for r in rows:
        cfg = json.loads(r["config"])
        out.append({"name": r["name"], "goals": [g.words() for g in goals_from_config(cfg)], "kind": cfg.get("kind"),
                    "created_at": r["created_at"], "created_by": r["created_by"],
                    "candidates": int(n_cand.get(r["id"], 0)),
                    "measurement_values": int(n_meas.get(r["id"], 0)) - gone.get(r["id"], 0)})
    return out
