"""Request and response bodies of the ``matloop serve`` API (pydantic): what ``/api/openapi.json``
documents. Unknown fields and wrong types are refused (422 with the problems table); cells of rows
are checked by :mod:`matloop.serve.service` against the campaign's columns."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

Row = dict[str, Any]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HistoryTable(Strict):
    source: StrictStr = Field(min_length=1, max_length=200, description="where the measurements come from "
                                                                        "(a file name, last year's campaign)")
    rows: list[Row] = Field(min_length=1, description="a related campaign's measurements as row objects: inputs "
                                                      "and the goal columns (measured on some rows at least)")


class CampaignCreate(Strict):
    name: StrictStr = Field(min_length=1, max_length=200, description="unique within the ledger; no '/'")
    goals: list[StrictStr] = Field(min_length=1, description='e.g. ["hardness:max"], ["gap:1.1..1.5"]')
    pool: list[Row] = Field(min_length=1, description="the candidates (and any measured rows) as row objects")
    input: StrictStr | None = Field(None, description="the material column (detected if omitted)")
    failed_if: StrictStr | None = Field(None, description="a rule marking results as failed, e.g. \"yield < 5\"")
    constraints: list[StrictStr] | None = None
    same: list[StrictStr] = Field(default_factory=list, max_length=20,
                                  description="columns every batch of the campaign shares unless a suggestion "
                                              "names its own (campaign new --same)")
    history: list[HistoryTable] = Field(default_factory=list, max_length=20,
                                        description="measurements of related campaigns, kept apart from the "
                                                    "campaign's own and used as prior knowledge (campaign new "
                                                    "--history)")
    target_order: list[StrictStr] | None = Field(None, max_length=100,
                                                 description="an ordinal goal's text labels, worst to best, each "
                                                             "scored by its position (campaign new --target-order)")


class SuggestRequest(Strict):
    batch: StrictInt = Field(5, ge=1, description="how many experiments to suggest")
    model: StrictStr | None = Field(None, description="surrogate (default: the campaign default)")
    acquisition: StrictStr | None = None
    seed: StrictInt = 0
    retry_failed: StrictBool = False
    same: list[StrictStr] = Field(default_factory=list, max_length=20,
                                  description="columns every experiment of the batch shares (one oven run, one "
                                              "plate): the first pick as usual, the rest among its group "
                                              "(empty: the campaign's own, if it was created with some)")
    no_same: StrictBool = Field(False, description="this batch shares nothing, whatever the campaign's same")


class ResultsRequest(Strict):
    rows: list[Row] = Field(min_length=1, description="input columns, goal columns, optional status "
                                                       "(ok|failed), reason, measurement_id")
    source: StrictStr | None = Field(None, max_length=200, description="where the results come from")
    allow_new: StrictBool = Field(False, description="record materials the campaign does not know as new ones")


class VetoRequest(Strict):
    candidate: StrictStr = Field(min_length=1, description="key, material, or #N")
    reason: StrictStr = Field(min_length=1)


class RetractRequest(Strict):
    entries: list[StrictStr] = Field(min_length=1, max_length=1000,
                                     description="m<N> (a measurement) or e<N> (a failure or veto), as the history's "
                                                 "entry column shows")
    reason: StrictStr = Field(min_length=1)


class TokenCreate(Strict):
    role: Literal["viewer", "experimenter", "admin"]
    label: StrictStr = Field("", max_length=200)


class Problem(BaseModel):
    row: int | str
    column: Any = None
    value: Any = None
    reason: Any = None


class ErrorOut(BaseModel):
    detail: str
    problems: list[Problem] = []


class Best(BaseModel):
    value: float
    at: str
    key: str | None = None
    setting: dict[str, Any] | None = None
    replicates: int = 1


class StatusOut(BaseModel):
    name: str
    goals: list[str]
    target: str
    kind: str | None = None
    input: str | None = None
    columns: list[str] = []
    candidates: int
    measurements: int
    measurement_values: int
    measured_candidates: int
    failures: int
    failed_candidates: int
    vetoed: int
    retracted: int = 0
    abandoned: int = 0
    suggestions: int
    pending: int
    best: Best | None = None
    front: list[str] | None = None
    hypervolume: float | None = None
    hypervolume_start: float | None = None  # the start table's front on the scale of ``hypervolume`` now
    same: list[str] = []  # columns every batch shares unless a suggestion names its own (campaign new --same)


class RecordOut(BaseModel):
    campaign: str
    recorded: int
    already_recorded: int
    failed: int
    failed_already: int
    new_candidates: int
    rows: int
    still_retracted: list[str] = Field([], description="values sent again that were retracted (m<N>) and stay "
                                                       "so; a new measurement of the same value needs a "
                                                       "measurement_id")
    replayed: bool


class SuggestOut(BaseModel):
    campaign: str
    batch: int
    rows: list[Row]
    notes: list[str] = []


class JobOut(BaseModel):
    job: str
    status: Literal["running", "done", "failed"]
    url: str
    result: SuggestOut | None = None
    error: ErrorOut | None = None


class VetoOut(BaseModel):
    campaign: str
    vetoed: int
    already_vetoed: int


class AbandonRequest(Strict):
    candidates: list[StrictStr] = Field(default_factory=list, max_length=1000,
                                        description="key, material, or #N of each suggested candidate that will "
                                                    "not be run (empty: every suggestion awaiting results)")
    reason: StrictStr = Field(min_length=1)


class AbandonOut(BaseModel):
    campaign: str
    abandoned: int
    already_abandoned: int


class RetractOut(BaseModel):
    campaign: str
    retracted: int
    already_retracted: int


class TokenOut(BaseModel):
    id: int
    role: str
    label: str
    token: str | None = Field(None, description="shown once, at creation")


ERRORS = {401: {"model": ErrorOut, "description": "no token or a bad one"},
          403: {"model": ErrorOut, "description": "the token's role lacks the right"},
          413: {"model": ErrorOut, "description": "request body over the limit"},
          422: {"model": ErrorOut, "description": "invalid input: one problem per row, column, value, reason"}}
CAMPAIGN_ERRORS = {**ERRORS, 404: {"model": ErrorOut, "description": "no campaign of that name"}}
