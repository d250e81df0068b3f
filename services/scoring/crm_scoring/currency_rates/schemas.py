"""Exchange-rate contracts: a bulk load of dated rates, and the rates as listed."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from crm_shared.bounds import Day
from crm_shared.schemas.common import ReadModel

from .codes import check_currency

Currency = Annotated[str, AfterValidator(check_currency), Field(examples=["USD"], description="ISO 4217 code")]
EARLIEST = date(1900, 1, 1)
MAX_RATES = 10_000


def _sane_day(day: date) -> date:
    # Beyond the shared day range (crm_shared.bounds.Day): a rate is not published years ahead.
    if day < EARLIEST or day.year > date.today().year + 1:
        raise ValueError("must be a day between 1900-01-01 and the end of next year")
    return day


class RateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    currency: Currency
    valid_from: Annotated[Day, AfterValidator(_sane_day)] = Field(description="first day the rate applies")
    rate: Decimal = Field(
        gt=0, max_digits=20, decimal_places=10, description="units of the quote currency one unit is worth"
    )


class RatesLoad(BaseModel):
    """Rates to add or replace (same currency and valid_from: replaced); the rest are kept."""

    model_config = ConfigDict(extra="forbid")

    quote_currency: Currency = Field(description="the currency the rates are in: the reporting currency")
    rates: list[RateIn] = Field(min_length=1, max_length=MAX_RATES)


class RatesLoaded(BaseModel):
    quote_currency: str
    created: int = Field(description="rates new to the table")
    updated: int = Field(description="rates that replaced another value")
    unchanged: int = Field(description="rates already loaded with that value")


class RateRead(ReadModel):
    quote_currency: str
    currency: str
    valid_from: date
    rate: Decimal
    updated_at: datetime
    updated_by: str | None
