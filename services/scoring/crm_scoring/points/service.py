"""Points-ledger reads: months are given as YYYY-MM, either one `month` or a `from`/`to` range running
forward; a customer's points are its months' rows and their total."""

from __future__ import annotations

import re
import uuid
from datetime import date
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.pagination import Page, PageRequest

from . import repository
from .exceptions import CustomerUnknown, InvalidMonth, MonthWithRange, ReversedRange
from .models import PointsEntry
from .schemas import CustomerPoints, PointsRead

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def parse_month(value: str | None, parameter: str) -> date | None:
    """`YYYY-MM` to the month's first day; 422 naming the parameter otherwise."""
    if value is None:
        return None
    match = _MONTH.match(value.strip())
    if match is None or not 1 <= int(match[2]) <= 12 or int(match[1]) < 1:
        raise InvalidMonth(parameter, value)
    return date(int(match[1]), int(match[2]), 1)


def month_range(month: str | None, month_from: str | None, month_to: str | None) -> tuple[date | None, date | None]:
    """The first and last month asked for (either open): `month` is one month, `from`/`to` a range."""
    one = parse_month(month, "month")
    start, end = parse_month(month_from, "from"), parse_month(month_to, "to")
    if one is not None:
        if start is not None or end is not None:
            raise MonthWithRange()
        return one, one
    if start is not None and end is not None and start > end:
        raise ReversedRange()
    return start, end


async def list_points(
    session: AsyncSession,
    page: PageRequest,
    *,
    customer_id: uuid.UUID | None,
    month: str | None,
    month_from: str | None,
    month_to: str | None,
) -> Page[PointsRead]:
    """Newest month first, then by customer."""
    start, end = month_range(month, month_from, month_to)
    binding = {"list": "points", "customer_id": customer_id, "from": start, "to": end}
    order = [PointsEntry.month.desc(), PointsEntry.customer_id]
    after = page.position(binding, order)
    if after is None:
        stmt = repository.entries(customer_id=customer_id, start=start, end=end)
    else:  # the page out of the two parts after the position (`fetch` orders and cuts them)
        month_at, customer_at = after
        stmt = repository.entries_after(
            customer_id=customer_id, start=start, end=end, after=(month_at, customer_at), rows=page.limit + 1
        )
        parts = stmt.selected_columns
        order = [parts.month.desc(), parts.customer_id]
    return await page.fetch(session, stmt, order=order, binding=binding, item=PointsRead.model_validate)


async def customer_points(session: AsyncSession, customer_id: uuid.UUID) -> CustomerPoints:
    """404 for a customer the scoring service has never heard of."""
    rows = await repository.customer_rows(session, customer_id)
    if not rows and not await repository.is_known(session, customer_id):
        raise CustomerUnknown(customer_id)
    return CustomerPoints(
        customer_id=customer_id,
        total=sum((r.points for r in rows), Decimal("0.00")),
        months=len(rows),
        items=[PointsRead.model_validate(r) for r in rows],
    )
