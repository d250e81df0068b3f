"""The watchlist's summary: the count and total value at risk of exactly what the list pages through, under
the list's own filters (compared with the sum of every page), as Decimal money; kept in memory from one grouped
scan and refreshed in the background (crm_churn/watchlist/summary.py), so a later change shows at the next
refresh, with `as_of` saying when the figures were taken; its filters refuse bad input by name."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from crm_churn.config import Settings
from crm_churn.main import create_app
from crm_churn.watchlist import summary
from crm_shared.testing import app_client, user_headers
from tests.churn.conftest import ADMIN
from tests.churn.events import deliver
from tests.churn.test_watchlist import NOW, WATCHLIST, base, known, scored  # noqa: F401  (base: a fixture)

SUMMARY = f"{WATCHLIST}/summary"
pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")


async def every_entry(api: httpx.AsyncClient, **filters: Any) -> list[dict[str, Any]]:
    """All pages of the list (pages of two, so several)."""
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        r = await api.get(WATCHLIST, params={**filters, "limit": 2, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        out += r.json()["items"]
        if (cursor := r.json()["next_cursor"]) is None:
            return out


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"signal": "silent"},
        {"signal": "complaints"},
        {"signal": "lapsed_top"},
        {"abc_class": "A"},
        {"stage": "decline"},
        {"abc_class": "B", "signal": "narrow_lines"},
        {"abc_class": "C"},
        {"region": "nowhere"},
    ],
)
async def test_the_summary_adds_up_the_list(
    api: httpx.AsyncClient,
    base: dict[str, uuid.UUID],  # noqa: F811
    filters: dict[str, str],
) -> None:
    r = await api.get(SUMMARY, params=filters)
    assert r.status_code == 200, r.text
    listed = await every_entry(api, **filters)
    body = r.json()
    assert body["count"] == len(listed)
    assert body["priority"] == sum(1 for e in listed if e["priority"])
    assert isinstance(body["value_at_risk"], str)  # money travels as a decimal string
    assert Decimal(body["value_at_risk"]) == sum((Decimal(e["value_at_risk"]) for e in listed), Decimal(0))


async def test_the_whole_list_by_hand(api: httpx.AsyncClient, base: dict[str, uuid.UUID]) -> None:  # noqa: F811
    # key 50 + declining 3,000 + narrow 1,000 + lapsed 400 + silent 200; not "fine" (no signal), not the churned.
    body = (await api.get(SUMMARY)).json()
    assert (body["count"], body["priority"], Decimal(body["value_at_risk"])) == (5, 1, Decimal("4650.00"))
    # Taken by this request or a recent one: never older than the kept figures may be (not the module's NOW,
    # which a long run leaves minutes behind).
    as_of, answered = datetime.fromisoformat(body["as_of"]), datetime.now(UTC)
    assert answered - timedelta(seconds=summary.MAX_AGE_SECONDS) <= as_of <= answered


async def test_the_figures_are_kept_and_refreshed_in_the_background(settings: Settings) -> None:
    app = create_app(settings)
    async with app_client(app, headers=ADMIN) as api:
        first = (await api.get(SUMMARY)).json()
        assert (first["count"], first["value_at_risk"]) == (0, "0")
        silent = uuid.uuid4()  # known for 400 days, never contacted: silent; 1,000 x 0.2 = 200 at risk
        await deliver(api, known(silent, NOW - timedelta(days=400)), scored(silent, clv="1000.00", risk=0.2))
        assert len(await every_entry(api)) == 1
        kept = (await api.get(SUMMARY)).json()
        assert kept == first  # the same figures, the same as_of: no scan per request
        cache: summary.SummaryCache = app.state.watchlist_summary
        await cache.refresh(app.state.sessionmaker)  # what the background pass does every minute
        fresh = (await api.get(SUMMARY)).json()
        assert (fresh["count"], Decimal(fresh["value_at_risk"])) == (1, Decimal("200.00"))
        assert fresh["as_of"] > first["as_of"]
        cache.read_at -= summary.IDLE_SECONDS + 1  # nobody has asked for ten minutes: no background scan
        before = cache.groups
        await cache.refresh(app.state.sessionmaker)
        assert cache.groups is before


async def test_bad_filters_are_named_and_access_is_declared(api: httpx.AsyncClient, settings: Settings) -> None:
    bad = await api.get(SUMMARY, params={"signal": "moon"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["parameter"] == "signal"
    outsider = user_headers("someone", "campaign:read", service="churn")
    async with app_client(create_app(settings), headers=outsider) as other:
        assert (await other.get(SUMMARY)).status_code == 403
