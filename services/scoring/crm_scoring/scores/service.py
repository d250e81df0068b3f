"""Score reads: a merged id answers with its survivor, the composite score is explained with the formula
version it was computed with, and the lists page by keyset with cursors bound to their filters and sort."""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from decimal import Decimal
from functools import partial
from operator import attrgetter
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Row
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_shared import ndjson
from crm_shared.pagination import Page, PageRequest

from ..compute.score import PURCHASE_MODEL, RFM_FREQUENCY
from ..formulas.engine import explain
from ..selection.signals import FALLBACK
from ..value.errors import FormulaError
from . import repository
from .exceptions import InvalidRange, ScoresNotFound
from .models import CustomerScore, ScoreChange, StageChange
from .schemas import (
    RANGES,
    Abc,
    Clv,
    Composite,
    CustomerScores,
    Explanation,
    ExplanationTerm,
    Lifecycle,
    Rfm,
    ScoreChangeRead,
    ScoreFilters,
    ScoreListItem,
    ScoreListQuery,
    StageChangeRead,
    Summary,
)

log = logging.getLogger("crm.scoring.scores")
ReadT = TypeVar("ReadT", bound=BaseModel)
# Read beside the list's fields for the live list's items (the calibration gives the horizons' days).
LIVE_FIELDS = ("expected_purchases", "expected_spend", "calibration_id")
EXPORT_PAGE = 2000  # rows per page of the export (each page in its own short read session)


def check_ranges(filters: ScoreFilters) -> None:
    for low, high in RANGES:
        lo, hi = getattr(filters, low), getattr(filters, high)
        if lo is not None and hi is not None and lo > hi:
            raise InvalidRange(low, high)


def _number(value: Decimal | float | None) -> float | None:
    return None if value is None else float(value)


def _points(value: float) -> Decimal:
    """The 2-decimal points `explain` computed, as an exact decimal so the terms add up to the score."""
    return Decimal(f"{value:.2f}") + 0 if math.isfinite(value) else Decimal("0.00")  # + 0: no "-0.00"


def explanation(row: Row[Any]) -> Explanation | None:
    """Per-term points of the row's formula version on the row's inputs and the known attributes."""
    if row.formula is None:
        return None
    s = row.CustomerScore
    inputs = {
        "total_spend": _number(s.total_spend),
        "monthly_frequency": s.monthly_frequency,
        "monthly_avg_spend": _number(s.monthly_avg_spend),
        "tenure_months": s.tenure_months,
        "payment_terms": row.payment_terms,
        "brand_contribution": row.brand_contribution,
        "declared_budget": _number(row.declared_budget),
        "share_of_wallet": _number(row.share_of_wallet),
    }
    try:
        rows = explain(row.formula, inputs)
    except FormulaError:  # a stored version was validated when written; do not fail the whole read over it
        log.warning("formula version %s of customer %s cannot be explained", s.formula_version, s.customer_id)
        return None
    terms = [ExplanationTerm(**{**r, "points": _points(r["points"])}) for r in rows]
    return Explanation(terms=terms, total=sum((t.points for t in terms), Decimal("0.00")))


def per_horizon(
    horizons: Sequence[int] | None, expected: Sequence[float | None] | None
) -> dict[str, float | None] | None:
    """Expected purchases keyed by their horizon in days ({"90": 1.2, ...}), as the read models show them."""
    if expected is None or horizons is None:
        return None
    return {str(h): v for h, v in zip(horizons, expected, strict=False)}


def _clv(row: Row[Any]) -> Clv | None:
    s = row.CustomerScore
    if s.calibration_id is None:
        return None
    chosen = row.selection or {}
    return Clv(
        p_alive=s.p_alive,
        churn_risk=s.churn_risk,
        churn_signal=chosen.get("churn_signal", FALLBACK),
        churn_horizon_days=chosen.get("horizon_days"),
        purchase_model=chosen.get("purchase_model") or PURCHASE_MODEL,
        expected_purchases=per_horizon(row.horizons, s.expected_purchases),
        expected_spend=s.expected_spend,
        clv=s.clv,
        calibration_id=s.calibration_id,
    )


def to_scores(row: Row[Any]) -> CustomerScores:
    s = row.CustomerScore
    summary = Summary.model_validate(
        {name: getattr(s, name) for name in Summary.model_fields if name != "product_lines"}
        | {"product_lines": row.product_lines or []}
    )
    return CustomerScores(
        customer_id=s.customer_id,
        as_of=s.as_of,
        computed_at=s.computed_at,
        summary=summary,
        rfm=Rfm(r=s.r, f=s.f, m=s.m, segment=s.rfm_segment, frequency_basis=RFM_FREQUENCY),
        abc=Abc(abc_class=s.abc_class, gold=s.gold, drag=s.drag),
        composite=Composite(score=s.composite_score, formula_version=s.formula_version, explanation=explanation(row)),
        clv=_clv(row),
        lifecycle=Lifecycle(stage=s.stage, reason=s.stage_reason, since=s.stage_since),
    )


async def get_scores(session: AsyncSession, customer_id: uuid.UUID) -> CustomerScores:
    """The customer's scores, or its survivor's when it was merged (then `.customer_id != customer_id`)."""
    survivor = await repository.resolve_merged(session, customer_id)
    row = await repository.detail(session, survivor)
    if row is None:
        raise ScoresNotFound(customer_id)
    return to_scores(row)


def _sort_value(field: str, raw: str | None) -> Any:
    if raw is None:
        return None
    if field in ("clv", "composite_score"):
        return Decimal(raw)
    if field == "churn_risk":
        return float(raw)
    return uuid.UUID(raw)


async def list_scores(
    session: AsyncSession,
    query: ScoreListQuery,
    page: PageRequest,
    *,
    model: repository.ScoreModel = CustomerScore,
    scope: Sequence[ColumnElement[bool]] = (),
    bound_to: dict[str, Any] | None = None,
    extra_fields: Sequence[str] = LIVE_FIELDS,
    to_item: Callable[[Row[Any]], BaseModel] | None = None,
) -> Page[Any]:
    """A page of the live scores, or of `model`'s table narrowed by `scope` (the cursor is also bound to
    `bound_to`, e.g. the run whose copies are listed); `extra_fields` are read beside the list's fields and
    `to_item` makes each row's item (None: live rows, see live_items). Not one statement (nulls of the sort
    key come last, apart), so it pages with `page.after` and `page.cut`."""
    check_ranges(query)
    field, descending = query.sort.removeprefix("-"), query.sort.startswith("-")
    binding = {**query.binding(), "sort": query.sort, **(bound_to or {})}
    after = page.after(binding, shape=(partial(_sort_value, field), uuid.UUID))
    rows = await repository.list_page(
        session, query, field, descending, after, page.limit, model=model, scope=scope, extra_fields=extra_fields
    )
    items, next_cursor = page.cut(rows, binding, lambda row: [_position(getattr(row, field)), str(row.customer_id)])
    built = [to_item(r) for r in items] if to_item is not None else await live_items(session, items)
    return Page[Any](items=built, next_cursor=next_cursor)


async def live_items(session: AsyncSession, rows: Sequence[Row[Any]]) -> list[ScoreListItem]:
    """List items of live score rows read with LIVE_FIELDS: expected purchases keyed by the horizons of each
    row's calibration (one small query per page; a page has one or two calibrations)."""
    values = as_dicts(rows)
    horizons = await repository.horizons(session, (v["calibration_id"] for v in values if v["calibration_id"]))
    for v in values:
        v["expected_purchases"] = per_horizon(horizons.get(v["calibration_id"]), v["expected_purchases"])
    return [ScoreListItem.model_validate(v) for v in values]


def as_dicts(rows: Sequence[Row[Any]]) -> list[dict[str, Any]]:
    """Rows of one statement as dicts, the names read once (a row's own `_mapping` costs more than its item)."""
    if not rows:
        return []
    names = rows[0]._fields
    return [dict(zip(names, r, strict=True)) for r in rows]


def export_lines(
    sessions: async_sessionmaker[AsyncSession],
    filters: ScoreFilters,
    after: uuid.UUID | None,
    *,
    page_size: int = EXPORT_PAGE,
    model: repository.ScoreModel = CustomerScore,
    scope: Sequence[ColumnElement[bool]] = (),
    extra_fields: Sequence[str] = LIVE_FIELDS,
    to_item: Callable[[Row[Any]], BaseModel] | None = None,
) -> AsyncIterator[bytes]:
    """The NDJSON export of the rows the filters select (each line the list's item), by customer id after
    `after`; `model`, `scope`, `extra_fields` and `to_item` as for list_scores. Bad ranges raise here, before
    the stream starts, so they answer 422 and not a cut stream."""
    check_ranges(filters)

    async def read_page(last: uuid.UUID | None) -> list[BaseModel]:
        async with sessions() as session:
            position = None if last is None else (None, last)
            rows = await repository.list_page(
                session,
                filters,
                "customer_id",
                False,
                position,
                page_size,
                model=model,
                scope=scope,
                extra_fields=extra_fields,
            )
            return [to_item(r) for r in rows] if to_item is not None else list(await live_items(session, rows))

    return ndjson.keyset_lines(
        read_page, after=after, key=attrgetter("customer_id"), line=_json_line, page_size=page_size
    )


def _json_line(item: BaseModel) -> str:
    return item.model_dump_json()


def _position(value: Any) -> str | None:
    return None if value is None else str(value)


async def count_scores(
    session: AsyncSession,
    filters: ScoreFilters,
    *,
    model: repository.ScoreModel = CustomerScore,
    scope: Sequence[ColumnElement[bool]] = (),
) -> int:
    check_ranges(filters)
    return await repository.count(session, filters, model=model, scope=scope)


async def _history(
    session: AsyncSession, customer_id: uuid.UUID, model: repository.ChangeModel, read: type[ReadT], page: PageRequest
) -> tuple[uuid.UUID, Page[ReadT]]:
    """A change log of the customer (its survivor's when merged), newest first."""
    survivor = await repository.resolve_merged(session, customer_id)
    if not await repository.is_known(session, survivor):
        raise ScoresNotFound(customer_id)
    changes = await page.fetch(
        session,
        repository.changes(model, survivor),
        order=[model.at.desc(), model.id.desc()],
        binding={model.__tablename__: str(survivor)},
        item=read.model_validate,
    )
    return survivor, changes


async def score_history(
    session: AsyncSession, customer_id: uuid.UUID, page: PageRequest
) -> tuple[uuid.UUID, Page[ScoreChangeRead]]:
    return await _history(session, customer_id, ScoreChange, ScoreChangeRead, page)


async def stage_history(
    session: AsyncSession, customer_id: uuid.UUID, page: PageRequest
) -> tuple[uuid.UUID, Page[StageChangeRead]]:
    return await _history(session, customer_id, StageChange, StageChangeRead, page)
