"""Mass-churn alerts (DOMAIN.md 3: when many leave at once, respond strategically, not with individual
offers). Evaluated on each new record, cheaply: for the record's month and each scope the record falls in
(overall, its ABC class, segment, region), count the month's records and those of the baseline months
before it (one range scan for every scope); only when the month's count reaches `alert_min_churned` and
`alert_factor` x the baseline's monthly mean are the rates computed (active customers at the month's
start, from the churn-rate ledger) and the alert stored. One alert per month and scope: later records
update its figures; the `alert.mass_churn` event goes out once, when the alert is raised. A scope with
no churn in its baseline months has no baseline and raises nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared import outbox
from crm_shared.pagination import Page, PageRequest
from crm_shared.schemas.churn import MassChurnAlertData

from ..config import Settings
from ..events import envelope
from ..reports import ledger
from ..reports.service import month_start
from .exceptions import AlertNotFound
from .models import ChurnAlert
from .schemas import AlertFilters, AlertRead

if TYPE_CHECKING:
    from ..records.models import ChurnRecord

RECOMMENDATION = (
    "Many customers are leaving at once: respond strategically rather than with individual offers - "
    "review quality across the firm (total quality management), strengthen complaint management, and "
    "answer the competitor's advantage."
)
_SCOPE_COLUMN = {"abc_class": "abc_class", "segment": "segment", "region": "region"}
_RATE = Decimal("0.000001")

# The month's records and the baseline months' of every scope of a record, in one range scan.
_COUNT = """
SELECT {counts}
FROM churn_records WHERE folded_into IS NULL AND detected_at >= :baseline AND detected_at < :next
"""

_UPSERT = text("""
INSERT INTO churn_alerts AS a (id, period_start, period_end, dimension, value, churned, active_at_start, rate,
                               baseline_rate, factor, recommendation)
VALUES (:id, :start, :end, :dimension, :value, :churned, :active, :rate, :baseline_rate, :factor, :recommendation)
ON CONFLICT (period_start, dimension, value) DO UPDATE SET
    churned = EXCLUDED.churned, active_at_start = EXCLUDED.active_at_start, rate = EXCLUDED.rate,
    baseline_rate = EXCLUDED.baseline_rate, factor = EXCLUDED.factor, updated_at = now()
RETURNING id, (xmax = 0) AS raised
""")


def _instant(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def scopes(record: ChurnRecord) -> list[tuple[str, str]]:
    out = [("overall", "")]
    out += [(dim, getattr(record, col)) for dim, col in _SCOPE_COLUMN.items() if getattr(record, col) is not None]
    return out


async def evaluate(session: AsyncSession, settings: Settings, record: ChurnRecord) -> list[uuid.UUID]:
    """Raise or update the alerts the new record's month calls for; the ids of newly raised ones."""
    month = month_start(record.detected_at.astimezone(UTC).date())
    nxt, baseline = month_start(month, 1), month_start(month, -settings.alert_baseline_months)
    params: dict[str, Any] = {"month": _instant(month), "baseline": _instant(baseline), "next": _instant(nxt)}
    counts = []
    for i, (dimension, value) in enumerate(scopes(record)):
        scope = "true" if dimension == "overall" else f"{_SCOPE_COLUMN[dimension]} = :value_{i}"
        params[f"value_{i}"] = value
        counts += [f"count(*) FILTER (WHERE {scope} AND detected_at >= :month)", f"count(*) FILTER (WHERE {scope})"]
    row = (await session.execute(text(_COUNT.format(counts=", ".join(counts))), params)).one()
    raised = []
    for i, (dimension, value) in enumerate(scopes(record)):
        churned, before = row[2 * i], row[2 * i + 1] - row[2 * i]
        mean = Decimal(before) / settings.alert_baseline_months
        if churned < settings.alert_min_churned or not mean or churned < settings.alert_factor * mean:
            continue
        # Active at the month's start from the churn-rate ledger (a small table), not a scan of the customers.
        filters = {dimension: value} if dimension != "overall" else {}
        active = (await ledger.active_series(session, [month], filters))[month]
        rate = (Decimal(churned) / active.count).quantize(_RATE) if active.count else Decimal(0)
        baseline_rate = (mean / active.count).quantize(_RATE) if active.count else Decimal(0)
        values = {
            "id": uuid.uuid4(),
            "start": month,
            "end": nxt,
            "dimension": dimension,
            "value": value,
            "churned": churned,
            "active": active.count,
            "rate": rate,
            "baseline_rate": baseline_rate,
            "factor": (Decimal(churned) / mean).quantize(Decimal("0.001")),
            "recommendation": RECOMMENDATION,
        }
        alert_id, new = (await session.execute(_UPSERT, values)).one()
        if new:
            raised.append(alert_id)
            data = MassChurnAlertData(
                alert_id=alert_id,
                period_start=month,
                period_end=nxt,
                dimension=dimension,  # type: ignore[arg-type]
                value=value,
                churned=churned,
                active_at_start=active.count,
                rate=rate,
                baseline_rate=baseline_rate,
                factor=values["factor"],
                recommendation=RECOMMENDATION,
                at=datetime.now(UTC),
            )
            await outbox.publish(session, [envelope("alert.mass_churn", subject=None, data=data)])
    return raised


def listing(filters: AlertFilters) -> Select[ChurnAlert]:
    stmt = select(ChurnAlert)
    if filters.dimension is not None:
        stmt = stmt.where(ChurnAlert.dimension == filters.dimension)
    if filters.from_ is not None:
        stmt = stmt.where(ChurnAlert.period_start >= filters.from_)
    if filters.to is not None:
        stmt = stmt.where(ChurnAlert.period_start < filters.to)
    return stmt


async def list_alerts(session: AsyncSession, filters: AlertFilters, page: PageRequest) -> Page[AlertRead]:
    return await page.fetch(
        session,
        listing(filters),
        order=(ChurnAlert.period_start.desc(), ChurnAlert.id.desc()),
        binding=filters.model_dump(mode="json"),
        item=AlertRead.model_validate,
    )


async def get(session: AsyncSession, alert_id: uuid.UUID) -> ChurnAlert:
    alert = (await session.execute(select(ChurnAlert).where(ChurnAlert.id == alert_id))).scalar_one_or_none()
    if alert is None:
        raise AlertNotFound(alert_id)
    return alert
