"""Chart data over the current scores, and the query parameters each chart accepts (unknown ones refused,
so a misspelt filter cannot silently chart everyone)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field, field_validator

from crm_shared.schemas.common import Money
from crm_shared.schemas.scores import Stage

from ..scores.models import STAGES
from ..scores.schemas import ABC_CLASSES, one_of


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StageFilter(_Query):
    stage: list[str] | None = Field(default=None, description=f"only these stages (any of: {', '.join(STAGES)})")

    @field_validator("stage")
    @classmethod
    def _stage(cls, v: list[str] | None) -> list[str] | None:
        return one_of(STAGES, v)


class ClassFilter(_Query):
    abc_class: list[str] | None = Field(default=None, description="only these ABC classes (any of: A, B, C)")

    @field_validator("abc_class")
    @classmethod
    def _abc(cls, v: list[str] | None) -> list[str] | None:
        return one_of(ABC_CLASSES, v)


class SegmentFilter(StageFilter, ClassFilter):
    pass


class AbcQuery(StageFilter):
    points: int = Field(default=101, ge=2, le=1001, description="points of the Pareto curve")


class ClvQuery(SegmentFilter):
    bins: int = Field(default=20, ge=1, le=200)
    max: Decimal | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        max_digits=16,
        decimal_places=2,
        description="upper edge of the last bin (default: the 99th percentile of CLV, interpolated linearly, "
        "estimated from the CLV buckets within 2.33%, rounded up to the cent); "
        "customers above it are counted in `above_max`",
    )


ClassFilterQuery = Annotated[ClassFilter, Query()]
SegmentFilterQuery = Annotated[SegmentFilter, Query()]
AbcQueryDep = Annotated[AbcQuery, Query()]
ClvQueryDep = Annotated[ClvQuery, Query()]


class StageCount(BaseModel):
    stage: Stage
    count: int
    share: float = Field(description="of all customers charted; 0 when there are none")


class LifecycleDistribution(BaseModel):
    """The funnel: every stage in lifecycle order, zero-filled."""

    total: int
    stages: list[StageCount]


class AbcClassStats(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    abc_class: str = Field(alias="class")
    count: int
    share: float
    revenue: Money = Field(description="total spend of the class's customers")
    revenue_share: float
    gold: int
    drag: int


class ParetoPoint(BaseModel):
    customer_share: float
    revenue_share: float


class AbcDistribution(BaseModel):
    """Classes A, B, C (zero-filled; shares of all customers charted, classified or not) and the Pareto curve:
    the revenue share of the top customer share, customers sorted by total spend, largest first (net refunds
    count as 0), from buckets of spend: exact at bucket edges, elsewhere between the exact share / 1.0233 and
    the exact share."""

    total: int
    revenue: Money
    classes: list[AbcClassStats]
    unclassified: int = Field(description="customers without a class yet (none before the first batch run)")
    pareto: list[ParetoPoint]


class RfmCell(BaseModel):
    r: int
    f: int
    count: int
    mean_m: float | None = Field(description="mean monetary score of the cell; null when empty")


class SegmentCount(BaseModel):
    segment: str | None = Field(description="null: customers not scored (no purchase)")
    count: int


class RfmDistribution(BaseModel):
    """The 5x5 recency x frequency grid (all 25 cells) and the customers per segment: the segments of the
    rules in force in their order (zero-filled), then any other stored segment, then the unscored."""

    scored: int
    unscored: int = Field(description="customers without RFM scores (no purchase)")
    cells: list[RfmCell]
    segments: list[SegmentCount]


class ClvHistogram(BaseModel):
    """`counts[i]` customers have edges[i] <= CLV < edges[i + 1] (the last bin includes its upper edge), as
    estimated from buckets of CLV: the count below any edge is off by at most the customers whose CLV is
    within 2.33% of that edge."""

    edges: list[Money]
    counts: list[int]
    max: Money = Field(description="the upper edge of the last bin")
    scored: int
    above_max: int
    unscored: int = Field(description="customers without a CLV (no calibration yet)")
