"""Every query of the scores domain."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterable, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, cast

from sqlalchemy import ColumnElement, Numeric, Row, Select, and_, distinct, exists, func, literal, or_, select, true
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.db import driver_connection
from crm_shared.pagination import keyset_after

from ..distributions.buckets import RATIO, score_buckets
from ..distributions.cells import score_cells
from ..formulas.models import FormulaVersion
from ..model_fits.models import Calibration
from ..purchases.models import KnownCustomer, Purchase
from ..purchases.repository import survivors
from .models import CENTS, CODES, CustomerScore, ScoreChange, ScoreFields, StageChange
from .schemas import ScoreFilters

S = CustomerScore
# A score table: the live scores, or the copies a backtest kept (same columns).
ScoreModel = type[ScoreFields]
ChangeModel = type[ScoreChange] | type[StageChange]
LIST_FIELDS = (
    "customer_id",
    "stage",
    "abc_class",
    "gold",
    "drag",
    "rfm_segment",
    "r",
    "f",
    "m",
    "composite_score",
    "clv",
    "p_alive",
    "churn_risk",
    "total_spend",
    "last_purchase_at",
)
SORT_FIELDS = frozenset({"clv", "composite_score", "churn_risk", "customer_id"})
# Null before the first calibration. Nulls go last, as a second section ordered by id alone, so each
# section is one range of a (column, customer_id) index and the keyset stays a plain row comparison.
NULLABLE_SORTS = frozenset({"clv", "churn_risk"})


async def resolve_merged(session: AsyncSession, customer_id: uuid.UUID) -> uuid.UUID:
    """The survivor of a merged customer (the id itself when it was not merged)."""
    return (await survivors(await driver_connection(session), [customer_id]))[customer_id]


async def is_known(session: AsyncSession, customer_id: uuid.UUID) -> bool:
    """Whether the service has heard of the customer or scored it."""
    known = exists().where(KnownCustomer.customer_id == customer_id)
    scored = exists().where(S.customer_id == customer_id)
    return bool(await session.scalar(select(or_(known, scored))))


def _product_lines() -> Any:
    """Distinct product lines of the row's customer's orders placed by `as_of` and not cancelled by then."""
    lines = func.unnest(Purchase.product_lines).table_valued("line").render_derived(name="pl")
    return (
        select(func.array_agg(aggregate_order_by(distinct(lines.c.line), lines.c.line)))
        .select_from(Purchase)
        .join(lines, true())  # a function in FROM sees the rows before it (implicitly lateral)
        .where(
            Purchase.customer_id == S.customer_id,
            Purchase.ordered_at <= S.as_of,
            or_(Purchase.cancelled_at.is_(None), Purchase.cancelled_at > S.as_of),
        )
        .scalar_subquery()
    )


async def detail(session: AsyncSession, customer_id: uuid.UUID) -> Row[Any] | None:
    """The score row with what explaining it needs: the known attributes, the formula version it was
    scored with, the horizons and choices of its calibration and the product lines, in one round trip."""
    stmt = (
        select(
            S,
            KnownCustomer.payment_terms,
            KnownCustomer.brand_contribution,
            KnownCustomer.declared_budget,
            KnownCustomer.share_of_wallet,
            FormulaVersion.formula,
            Calibration.rules["clv"]["horizons_days"].label("horizons"),
            Calibration.selection.label("selection"),
            _product_lines().label("product_lines"),
        )
        .outerjoin(KnownCustomer, KnownCustomer.customer_id == S.customer_id)
        .outerjoin(FormulaVersion, FormulaVersion.version == S.formula_version)
        .outerjoin(Calibration, Calibration.id == S.calibration_id)
        .where(S.customer_id == customer_id)
    )
    return (await session.execute(stmt)).one_or_none()


async def horizons(session: AsyncSession, calibration_ids: Iterable[int]) -> dict[int, list[int]]:
    """The horizons in days of each calibration's expected purchases (the rules in force when it was made)."""
    ids = sorted(set(calibration_ids))
    if not ids:
        return {}
    stmt = select(Calibration.id, Calibration.rules["clv"]["horizons_days"]).where(Calibration.id.in_(ids))
    return {i: list(h or []) for i, h in (await session.execute(stmt)).all()}


def conditions(filters: ScoreFilters, model: ScoreModel = CustomerScore) -> list[ColumnElement[bool]]:
    """The WHERE terms of a segment (shared with the distributions)."""
    out: list[ColumnElement[bool]] = []
    for name in ("stage", "abc_class", "rfm_segment"):
        values = getattr(filters, name)
        if values and name in CODES and hasattr(model, CODES[name][0]):
            # The live table's indexes lead with the small-integer copy (models.STAGE_CODE_SQL).
            column, code = CODES[name]
            out.append(getattr(model, column).in_([code[v] for v in values]))
        elif values:
            out.append(getattr(model, name).in_(values))
    for name in ("gold", "drag"):
        value = getattr(filters, name)
        if value is not None:
            out.append(getattr(model, name) == value)
    bounds = (("clv", "clv"), ("p_alive", "p_alive"), ("churn_risk", "churn_risk"), ("composite", "composite_score"))
    for name, column_name in bounds:
        low, high = getattr(filters, f"{name}_min"), getattr(filters, f"{name}_max")
        cents = _cents_column(model, column_name)
        if cents is not None:  # the live table's indexes keep money in whole cents (models.CENTS)
            out += [cents >= cents_ceil(low)] if low is not None else []
            out += [cents <= cents_floor(high)] if high is not None else []
        elif low is not None:
            out.append(getattr(model, column_name) >= bound(low))
        if high is not None:
            out.append(getattr(model, column_name) <= bound(high))
    return out


def bound(value: Decimal | float) -> ColumnElement[Any]:
    """A filter's bound as a plain number: bound to the column's own type, numeric(14, 2), it was cast to it,
    and a bound beyond the column's range (`clv_min=10000000000000`, which matches no one) overflowed: a 500."""
    return literal(value, Numeric()) if isinstance(value, Decimal) else literal(value)


INT8 = (-(2**63), 2**63 - 1)
_BEYOND_INT8 = Decimal(10**17)  # money this large or larger has more cents than int8 holds


def _cents_column(model: Any, column_name: str) -> Any:
    """The whole-cents copy of a money column, where `model`'s table keeps one (the live scores)."""
    name = CENTS.get(column_name)
    return getattr(model, name) if name is not None and hasattr(model, name) else None


def _cents(value: Decimal, rounding: Callable[[Decimal], int] | None) -> int:
    """A money figure in whole cents (`rounding`: math.ceil or floor for a bound between two cents; None for
    a value of the column itself), within int8: values and bounds of numeric(14, 2) are far inside it, so a
    clamped one still compares as the figure would (a cursor's value is the client's to send)."""
    if value.is_nan():
        return INT8[1]  # numeric NaN sorts above every figure
    if not value.is_finite() or abs(value) >= _BEYOND_INT8:
        return INT8[1] if value > 0 else INT8[0]
    scaled = value.scaleb(2)
    whole = int(scaled.quantize(Decimal(1), ROUND_HALF_EVEN)) if rounding is None else rounding(scaled)
    return min(max(whole, INT8[0]), INT8[1])


def cents_ceil(value: Decimal) -> int:
    """The fewest cents at least `value`: `cents >= cents_ceil(v)` is `money >= v`, `< ` is `<`."""
    return _cents(value, math.ceil)


def cents_floor(value: Decimal) -> int:
    """The most cents at most `value`: `cents <= cents_floor(v)` is `money <= v`, `>` is `>`."""
    return _cents(value, math.floor)


RANGE_FILTERS = tuple(f"{n}_{end}" for n in ("clv", "p_alive", "churn_risk", "composite") for end in ("min", "max"))


def _keyset(
    stmt: Select[Any], columns: Sequence[Any], descending: bool, after: Sequence[Any] | None, n: int
) -> Select[Any]:
    """Rows after `after` in (columns) order, as a row comparison an index on the columns can range-scan."""
    order = [(c, descending) for c in columns]
    if after is not None:
        stmt = stmt.where(keyset_after(order, after))
    return stmt.order_by(*(c.desc() if descending else c.asc() for c in columns)).limit(n)


async def list_page(
    session: AsyncSession,
    filters: ScoreFilters,
    field: str,
    descending: bool,
    after: Sequence[Any] | None,
    limit: int,
    *,
    model: ScoreModel = CustomerScore,
    scope: Sequence[ColumnElement[bool]] = (),
    extra_fields: Sequence[str] = (),
) -> list[Row[Any]]:
    """Up to limit + 1 rows after `after` = (sort value or None in the nulls section, customer id), from
    `model`'s table narrowed by `scope` (a backtest's copies: its run), with LIST_FIELDS and `extra_fields`."""
    columns = (getattr(model, n) for n in (*LIST_FIELDS, *extra_fields))
    base = select(*columns).where(*scope, *conditions(filters, model))
    key, ident = getattr(model, field), model.customer_id
    if (cents := _cents_column(model, field)) is not None:  # money sorts walk their whole-cents index
        key = cents
        if after is not None and after[0] is not None:
            after = (_cents(Decimal(after[0]), None), after[1])

    async def fetch(stmt: Select[Any]) -> list[Row[Any]]:
        return list((await session.execute(stmt)).all())

    if field == "customer_id":
        return await fetch(_keyset(base, [ident], descending, None if after is None else [after[1]], limit + 1))
    if field not in NULLABLE_SORTS:
        return await fetch(_keyset(base, [key, ident], descending, after, limit + 1))
    rows: list[Row[Any]] = []
    bounded = getattr(filters, f"{field}_min") is not None or getattr(filters, f"{field}_max") is not None
    if after is None or after[0] is not None:
        rows = await fetch(_keyset(base.where(key.is_not(None)), [key, ident], descending, after, limit + 1))
    if len(rows) <= limit and not bounded:  # a bound on the column excludes its nulls
        tail_after = [after[1]] if after is not None and after[0] is None else None
        rows += await fetch(_keyset(base.where(key.is_(None)), [ident], descending, tail_after, limit + 1 - len(rows)))
    return rows


async def count(
    session: AsyncSession,
    filters: ScoreFilters,
    *,
    model: ScoreModel = CustomerScore,
    scope: Sequence[ColumnElement[bool]] = (),
) -> int:
    """Customers matching the filters: summed from the score cells (distributions/cells.py: exact, a few
    thousand rows) when only the cells' columns are filtered, else counted on the table."""
    if model is CustomerScore and not scope and all(getattr(filters, n) is None for n in RANGE_FILTERS):
        columns = cast(Any, score_cells.c)  # the filtered names are columns of the cells too
        cells = select(func.coalesce(func.sum(score_cells.c.n), 0)).where(*conditions(filters, columns))
        return int(await session.scalar(cells) or 0)
    if model is CustomerScore and not scope and _by_clv_buckets(filters):
        return await _count_by_clv_buckets(session, filters)
    stmt = select(func.count()).select_from(model).where(*scope, *conditions(filters, model))
    return int(await session.scalar(stmt) or 0)


_BUCKET_KEYS = frozenset({"stage", "abc_class", "clv_min", "clv_max"})


def _by_clv_buckets(filters: ScoreFilters) -> bool:
    """A CLV range (positive bounds), with at most stage and class besides: what the CLV buckets key on."""
    set_names = {n for n in ScoreFilters.model_fields if getattr(filters, n) not in (None, [])}
    bounds = [b for b in (filters.clv_min, filters.clv_max) if b is not None]
    return bool(bounds) and set_names <= _BUCKET_KEYS and all(b > 0 for b in bounds)


async def _count_by_clv_buckets(session: AsyncSession, filters: ScoreFilters) -> int:
    """Exact: the kept CLV buckets wholly inside the range (distributions/buckets.py), plus the customers of
    the (at most two) edge buckets counted on the table through the CLV index, each an index range no wider
    than one bucket (< 2.33%). At 1M scores a CLV range counted on the table took 106-217 ms."""
    low, high = filters.clv_min, filters.clv_max
    segment = ScoreFilters(stage=filters.stage, abc_class=filters.abc_class)
    table_terms = conditions(segment)
    # The table's terms on the CLV in whole cents: the range its index keeps (models.CENTS).
    clv, cents, bucket_of, bucket = (
        CustomerScore.clv,
        CustomerScore.clv_cents,
        func.score_bucket,
        score_buckets.c.bucket,
    )
    if low is not None and high is not None and await session.scalar(select(bucket_of(low) == bucket_of(high))):
        one_bucket = (
            select(func.count())
            .select_from(CustomerScore)
            .where(cents >= cents_ceil(low), cents <= cents_floor(high), *table_terms)
        )
        return int(await session.scalar(one_bucket) or 0)
    inside = [score_buckets.c.measure == "clv", bucket.is_not(None), *conditions(segment, cast(Any, score_buckets.c))]
    edges: list[ColumnElement[bool]] = []
    if low is not None:  # the bounds narrow the index range; the bucket test decides
        inside.append(bucket > bucket_of(low))
        edges.append(
            and_(
                cents >= cents_ceil(low),
                cents < cents_ceil(low * Decimal(RATIO) + Decimal("0.01")),
                bucket_of(clv) == bucket_of(low),
            )
        )
    if high is not None:
        inside.append(bucket < bucket_of(high))
        edges.append(
            and_(
                cents <= cents_floor(high),
                cents > cents_floor(high / Decimal(RATIO) - Decimal("0.01")),
                bucket_of(clv) == bucket_of(high),
            )
        )
    total = int(await session.scalar(select(func.coalesce(func.sum(score_buckets.c.n), 0)).where(*inside)) or 0)
    for edge in edges:
        total += int(
            await session.scalar(select(func.count()).select_from(CustomerScore).where(edge, *table_terms)) or 0
        )
    return total


def changes(model: ChangeModel, customer_id: uuid.UUID) -> Select[Any]:
    """A customer's score or stage changes (the history pages them newest first)."""
    return select(model).where(model.customer_id == customer_id)
