"""Templates and the filters they format figures with (money as the API sends it: decimal strings)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from .session import CSRF_FIELD, CSRF_HEADER, csrf_token

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
NAV = (
    ("/", "Overview"),
    ("/customers", "Customers"),
    ("/churn", "Churn"),
    ("/winback", "Win-back"),
    ("/campaigns", "Campaigns"),
    ("/complaints", "Complaints"),
)


NO_VALUE = "\u2013"  # an en dash where the API has no figure


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def money(value: Any) -> str:
    amount = _decimal(value)
    return NO_VALUE if amount is None else f"{amount:,.2f}"


def number(value: Any) -> str:
    amount = _decimal(value)
    if amount is None:
        return NO_VALUE
    return f"{amount:,.0f}" if amount == amount.to_integral_value() else f"{amount:,.2f}"


def percent(value: Any, places: int = 1) -> str:
    share = _decimal(value)
    return NO_VALUE if share is None else f"{share * 100:.{places}f} %"


def day(value: Any) -> str:
    if not value:
        return NO_VALUE
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).strftime("%Y-%m-%d")
    except ValueError:
        return str(value)


def moment(value: Any) -> str:
    if not value:
        return NO_VALUE
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return str(value)


def link(path: str, **params: Any) -> str:
    """A console URL with these query parameters (unset ones dropped; lists repeated)."""
    query = urlencode({k: v for k, v in params.items() if v not in (None, "", [], ())}, doseq=True)
    return f"{path}?{query}" if query else path


def with_param(request: Request, name: str, value: Any, *, drop: tuple[str, ...] = ()) -> str:
    """This page's URL with one parameter set (or removed when None), every other one kept."""
    items = [(k, v) for k, v in request.query_params.multi_items() if k != name and k not in drop]
    if value not in (None, ""):
        items.append((name, str(value)))
    query = urlencode(items)
    return f"{request.url.path}?{query}" if query else request.url.path


def label(value: Any) -> str:
    return str(value).replace("_", " ") if value is not None else NO_VALUE


def churn_link(period: dict[str, Any]) -> str:
    """The churn records detected in a report period ([start, end))."""
    return link("/churn", **{"from": period.get("period_start"), "to": period.get("period_end")}) + "#records"


def lost_link(period: dict[str, Any]) -> str:
    """The lost customers (records not won back) of a report period."""
    params = {"from": period.get("period_start"), "to": period.get("period_end"), "record_status": "lost"}
    return link("/churn", **params) + "#records"


def stage_link(stage: dict[str, Any]) -> str:
    return link("/customers", stage=stage.get("stage"))


def daily_series(group: str, points: list[dict[str, Any]], days: list[str]) -> dict[str, Any]:
    """One group's counts per day (a chart dataset) from the API's zero-filled or sparse points."""
    counts = {p["day"]: p["count"] for p in points if p["group"] == group}
    return {"label": label(group), "data": [counts.get(d, 0) for d in days]}


TEMPLATES.env.filters.update(
    churn_link=churn_link, lost_link=lost_link, stage_link=stage_link, daily_series=daily_series
)
TEMPLATES.env.filters.update(money=money, number=number, percent=percent, day=day, moment=moment, label=label)
TEMPLATES.env.globals.update(link=link, with_param=with_param, nav=NAV, csrf_field=CSRF_FIELD, csrf_header=CSRF_HEADER)


def render(request: Request, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("viewer", None)
    page = request.url.path
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {"csrf": csrf_token(request), "current": page, "htmx": "HX-Request" in request.headers, **context},
        status_code=status_code,
    )
