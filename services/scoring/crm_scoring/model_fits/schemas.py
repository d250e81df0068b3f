"""Calibration contracts: what the last batch fits produced, for an analyst to judge the models by."""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class ModelFit(BaseModel):
    """One maximum-likelihood fit, as the batch stored it (fields it did not store read as null)."""

    model_config = ConfigDict(extra="ignore")

    model: str | None = Field(default=None, description="bgnbd, mbgnbd, paretonbd or gammagamma")
    params: dict[str, float] = Field(default_factory=dict, description="the fitted parameters by name")
    log_likelihood: float | None = Field(default=None, description="at the optimum; higher is better")
    converged: bool | None = Field(default=None, description="whether the optimizer reported convergence")
    iterations: int | None = None
    n_customers: int | None = Field(default=None, description="customers in the fit")
    n_distinct: int | None = Field(default=None, description="distinct (frequency, recency, age) rows fitted")
    message: str | None = Field(default=None, description="the optimizer's message")


class CalibrationSummary(BaseModel):
    id: int = Field(description="increasing; scores record the calibration they were computed with")
    as_of: AwareDatetime = Field(description="UTC: the date the data was cut at")
    created_at: AwareDatetime = Field(description="UTC")
    run_id: int | None = Field(description="the batch run that fitted it")
    fits: dict[str, ModelFit] = Field(description="model name (bgnbd, mbgnbd, paretonbd, gammagamma) -> its fit")


class CalibrationRead(CalibrationSummary):
    """The calibration in force: fits, plus the cut points and rules incremental scoring places customers by."""

    cuts: dict[str, Any] = Field(description="cut points of the base-relative classes (RFM quintiles, ABC, gold)")
    rules: dict[str, Any] = Field(description="the rule sets in force when it was fitted")
