"""Exchange-rate rules: a load is all or nothing (any bad rate refuses the whole load, naming it), loading the
same rates again changes nothing, and a list defaults to the rates quoted in the reporting currency. The
summaries convert with them in SQL (compute/summary.py)."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.errors import FieldError
from crm_shared.pagination import Page, PageRequest

from ..rules.repository import load_rules
from . import repository
from .exceptions import InvalidRates
from .models import CurrencyRate
from .schemas import RateRead, RatesLoad, RatesLoaded


def to_read(rate: CurrencyRate) -> RateRead:
    return RateRead.model_validate(rate)


def _problems(data: RatesLoad) -> list[FieldError]:
    """What field-by-field validation cannot see: a rate of the quote itself, a rate given twice."""
    errors, seen = [], set[tuple[str, date]]()
    for i, r in enumerate(data.rates):
        if r.currency == data.quote_currency:
            errors.append(FieldError(detail="is the quote currency itself", pointer=f"#/rates/{i}/currency"))
        elif (r.currency, r.valid_from) in seen:
            errors.append(FieldError(detail="repeats an earlier rate's day", pointer=f"#/rates/{i}/valid_from"))
        seen.add((r.currency, r.valid_from))
    return errors


async def load(session: AsyncSession, data: RatesLoad, *, by: str | None) -> RatesLoaded:
    if errors := _problems(data):
        raise InvalidRates(errors)
    rows = [{"quote_currency": data.quote_currency, **r.model_dump()} for r in data.rates]
    created, updated = await repository.upsert(session, rows, by=by)
    unchanged = len(rows) - created - updated
    return RatesLoaded(quote_currency=data.quote_currency, created=created, updated=updated, unchanged=unchanged)


async def list_rates(
    session: AsyncSession, page: PageRequest, *, quote_currency: str | None, currency: str | None
) -> Page[RateRead]:
    quote = quote_currency or (await load_rules(session)).tenant.reporting_currency
    return await page.fetch(
        session,
        repository.rates(quote, currency),
        order=[CurrencyRate.currency, CurrencyRate.valid_from],
        binding={"quote_currency": quote, "currency": currency},
        item=to_read,
    )
