"""The rule sets, their defaults and their validation, and how the API reads them. Each rule set is a pydantic
model so a bad update is refused with a pointer to the offending field; `RULE_SETS` maps a rule set's name
to its model."""

from __future__ import annotations

from functools import cache
from typing import Any, Literal, Self
from zoneinfo import available_timezones

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from ..currency_rates.codes import check_currency
from ..value.abc import AbcThresholds
from ..value.errors import FormulaError
from ..value.rfm import RFM_SEGMENTS_DEFAULT, validate_segments


class _Rules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RfmSegmentRule(_Rules):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    r: tuple[int, int] | None = Field(default=None, description="inclusive [low, high] within 1-5; omitted = 1-5")
    f: tuple[int, int] | None = None
    m: tuple[int, int] | None = None


class RfmSegments(_Rules):
    """Named RFM segments: the first rule whose ranges contain a customer's (R, F, M) wins; the last rule
    must match everything."""

    segments: list[RfmSegmentRule] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _check(self) -> Self:
        try:
            validate_segments([s.model_dump(exclude_none=True) for s in self.segments])
        except FormulaError as exc:
            raise ValueError(f"{exc.term}: {exc.detail}") from exc
        return self


class Abc(_Rules):
    """ABC by cumulative revenue share (A = first `a`, B = next `b`), gold = top `gold_share` by the last 12
    months' revenue, drag = no order for more than `drag_days` days."""

    a: float = Field(default=0.80, gt=0, lt=1)
    b: float = Field(default=0.15, gt=0, lt=1)
    gold_share: float = Field(default=0.05, gt=0, le=1)
    drag_days: int = Field(default=365, ge=1, le=3650)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.a + self.b >= 1:
            raise ValueError("a + b must be < 1")
        return self

    def thresholds(self) -> AbcThresholds:
        return AbcThresholds(self.a, self.b)


class Lifecycle(_Rules):
    """Stage thresholds, checked in this order: churned, introduction, decline, growth, else maturity."""

    churned_p_alive: float = Field(default=0.15, ge=0, le=1, description="P(alive) below this: churned")
    churned_days: int = Field(default=365, ge=1, description="no purchase for more days than this: churned")
    decline_p_alive: float = Field(default=0.5, ge=0, le=1, description="P(alive) below this: decline")
    decline_trend: float = Field(
        default=-0.3, ge=-1, le=0, description="frequency and spend trends both at or below this: decline"
    )
    growth_max_purchase_days: int = Field(default=3, ge=1, description="up to this many purchase days: growth")
    growth_trend: float = Field(default=0.2, ge=0, le=1, description="spend trend at or above this: growth")

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.churned_p_alive > self.decline_p_alive:
            raise ValueError("churned_p_alive must not exceed decline_p_alive")
        return self


def check_horizons(horizons: list[int]) -> list[int]:
    """Prediction horizons: 1 to 6 distinct whole days in 1..3650 (the rules' and a backtest run's)."""
    if not 1 <= len(horizons) <= 6:
        raise ValueError("horizons_days must hold 1 to 6 horizons")
    if any(h <= 0 or h > 3650 for h in horizons) or len(set(horizons)) != len(horizons):
        raise ValueError("horizons_days must be distinct whole days in 1..3650")
    return horizons


class Clv(_Rules):
    """Purchase-model time unit, prediction horizons, CLV horizon, margin and discount rate, trend window."""

    unit_days: float = Field(default=7.0, gt=0, le=365, description="model time unit in days (7 = weeks)")
    horizons_days: list[int] = Field(default=[90, 365], min_length=1, max_length=6)
    horizon_months: int = Field(default=12, ge=1, le=120, description="CLV horizon")
    annual_discount_rate: float = Field(default=0.10, ge=0, le=1)
    margin: float = Field(default=0.30, gt=0, le=1, description="profit margin on spend")
    trend_window_days: int = Field(default=180, ge=7, le=730, description="recent vs previous window")

    @model_validator(mode="after")
    def _check(self) -> Self:
        check_horizons(self.horizons_days)
        return self


class Changes(_Rules):
    """What counts as a material score change (published as `score.changed`); class and segment changes
    always count."""

    composite_points: float = Field(default=1.0, ge=0)
    clv_relative: float = Field(default=0.05, ge=0)
    p_alive: float = Field(default=0.05, ge=0, le=1)


# The churn-risk signals a batch can choose from (selection/signals.py computes them).
ChurnSignal = Literal[
    "auto",
    "mbgnbd.p_no_purchase",
    "mbgnbd.p_dropout",
    "bgnbd.p_no_purchase",
    "paretonbd.p_no_purchase",
    "paretonbd.p_dropout",
    "classifier",
    "blend",
]


class Churn(_Rules):
    """The churn risk: the probability of no purchase in the next `horizon_days` days. With `signal: auto` each
    batch that refits holds out the last `horizon_days` of history, scores the customers as they were before it
    with every candidate (each purchase model's P(no purchase) and 1 - P(alive), a gradient-boosted classifier
    trained on the tenant's own history, and the blend of the classifier with the best model), and keeps the
    one that ranked best the customers who then bought nothing; a named signal is used as is."""

    # A year by default: the lifecycle's own churn rule (no purchase for churned_days, 365), so a churn risk
    # of 0.8 means what the churn service's threshold reads it as. The choice needs one horizon of history.
    horizon_days: int = Field(default=365, ge=7, le=730, description="the churn risk's horizon in days")
    signal: ChurnSignal = Field(default="auto", description="auto (chosen by evidence) or a fixed signal")
    validation_share: float = Field(
        default=0.3, ge=0.1, le=0.5, description="share of the held-out customers kept to compare candidates"
    )


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


class Tenant(_Rules):
    """The tenant's money and days: amounts in other currencies are converted to `reporting_currency` at the
    dated rates loaded under /scores/currency-rates (an order without a rate counts as a purchase but not as
    spend), and purchase days, recency and the trend windows are days of `time_zone`."""

    reporting_currency: str = Field(default="EUR", description="ISO 4217 code the spend figures are in")
    time_zone: str = Field(default="UTC", description="IANA time zone whose days the purchase days are")

    @field_validator("reporting_currency")
    @classmethod
    def _currency(cls, code: str) -> str:
        return check_currency(code)

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, name: str) -> str:
        if name not in _zones():
            raise ValueError("must be an IANA time zone name, such as Europe/Paris")
        return name


RULE_SETS: dict[str, type[_Rules]] = {
    "rfm_segments": RfmSegments,
    "abc": Abc,
    "lifecycle": Lifecycle,
    "clv": Clv,
    "changes": Changes,
    "churn": Churn,
    "tenant": Tenant,
}


def defaults() -> dict[str, dict[str, Any]]:
    """The seeded rule sets (the migration stores these)."""
    out = {name: model().model_dump(mode="json") for name, model in RULE_SETS.items() if name != "rfm_segments"}
    out["rfm_segments"] = {"segments": RFM_SEGMENTS_DEFAULT}
    return out


class Rules(BaseModel):
    """All rule sets in force, as one object."""

    model_config = ConfigDict(frozen=True)

    rfm_segments: RfmSegments = RfmSegments(segments=[RfmSegmentRule(**s) for s in RFM_SEGMENTS_DEFAULT])
    abc: Abc = Abc()
    lifecycle: Lifecycle = Lifecycle()
    clv: Clv = Clv()
    changes: Changes = Changes()
    churn: Churn = Churn()
    tenant: Tenant = Tenant()


class RuleSetRead(BaseModel):
    name: str = Field(description="the rule set: rfm_segments, abc, lifecycle, clv, changes, churn or tenant")
    rules: dict[str, Any] = Field(description="the rules in force")
    version: int = Field(description="increases on each change; the ETag. 0: built-in defaults, never stored")
    updated_at: AwareDatetime | None = Field(description="UTC; null for built-in defaults")
    updated_by: str | None = Field(description="the client that last changed them")
