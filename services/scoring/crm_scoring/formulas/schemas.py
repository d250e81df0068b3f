"""Formula contracts: what an admin sends to author a version, and what every read returns."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from crm_shared.schemas.common import Money

from .engine import DEFAULT_FORMULA

FormulaStatus = Literal["draft", "active", "retired"]
RECOMPUTE_NOTE = (
    "Scores pick the active formula up on the next recompute (POST /api/v1/scores/recompute), and for each "
    "customer rescored by a new order; stored scores keep the version they were computed with until then."
)


class FormulaCreate(BaseModel):
    """A formula version in the JSON shape `validate()` reads (see crm_scoring.formulas.engine)."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(default=None, max_length=2000, description="free text: what changed and why")
    terms: dict[str, Any] = Field(
        description="term name -> {input, rule}; rules are linear, thresholds or categories",
        examples=[DEFAULT_FORMULA["terms"]],
    )


class FormulaCheck(FormulaCreate):
    """A dry run: the formula, and optionally one customer's inputs to score with it."""

    sample: dict[str, Any] | None = Field(
        default=None,
        description="input name -> value for one customer (numbers, decimal strings or categories; null = unknown)",
        examples=[{"total_spend": "1250.00", "monthly_frequency": 2.5, "payment_terms": "cash"}],
    )


class TermRead(BaseModel):
    name: str = Field(description="the term's name")
    input: str = Field(description="the customer attribute it reads")
    rule: dict[str, Any] = Field(description="the rule in canonical form")


class ExplainRow(BaseModel):
    term: str
    input: str
    value: float | str | None = Field(description="the input used (derived growth potential included); null = unknown")
    rule: dict[str, Any]
    points: Money = Field(description="the term's points, rounded to 2 decimals")


class SampleScore(BaseModel):
    terms: list[ExplainRow] = Field(description="per term, in formula order")
    total: Money = Field(description="the composite score: the sum of the terms' points")


class FormulaCheckResult(BaseModel):
    valid: Literal[True] = Field(description="always true: an invalid formula answers 422")
    description: str
    terms: list[TermRead] = Field(description="the terms as they would be stored")
    sample: SampleScore | None = Field(default=None, description="the sample's score, when a sample was sent")


class FormulaRead(BaseModel):
    version: int = Field(description="the version number, increasing")
    status: FormulaStatus = Field(description="draft, active (exactly one) or retired")
    description: str
    terms: dict[str, Any] = Field(description="term name -> {input, rule}, as validated and stored")
    created_at: AwareDatetime = Field(description="UTC")
    created_by: str | None = Field(description="the client that created it")
    activated_at: AwareDatetime | None = Field(description="UTC, last activation; null for a draft never activated")
    activated_by: str | None = Field(description="the client that last activated it")


class FormulaActivated(FormulaRead):
    """The version now active, and which one it replaced."""

    previous_version: int | None = Field(description="the version retired by this activation; null if none")
    changed: bool = Field(description="false when the version was already active (nothing changed)")
    note: str = Field(default=RECOMPUTE_NOTE, description="when scores reflect the change")
