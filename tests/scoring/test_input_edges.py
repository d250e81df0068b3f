"""Careless and hostile input to the scoring service (issue 10): a 4xx naming what is wrong, never a 5xx;
and the money range every service accepts (crm_shared.bounds) fits the scoring service's columns, so an
order the customer service accepts is one scoring can hold."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import msgspec
import pytest

from crm_scoring.main import create_app
from crm_shared.bounds import DECIMAL_PLACES, MAX_AMOUNT
from crm_shared.testing import TEST_CURSOR_SECRET, app_client, user_headers

from .events import deliver, order_created
from .helpers import BASE, cid, insert_score_change, seed_base

SCORES = "/api/v1/scores"


def idem(**extra: str) -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4()), **extra}


def _parameters(r) -> set[str]:
    assert r.headers["content-type"] == "application/problem+json", r.text
    return {e.get("parameter") or e.get("pointer") for e in r.json().get("errors") or []}


@pytest.mark.parametrize("tag", ['"' + "9" * 5000 + '"', '"²"'.encode("latin-1"), '"9223372036854775808"'])
async def test_rules_if_match_that_is_not_an_etag_is_412(api, db, tag):
    before = await db.fetch("SELECT * FROM rule_sets ORDER BY name")
    r = await api.put(f"{SCORES}/rules/lifecycle", json={"churned_days": 400}, headers=idem(**{"If-Match": tag}))
    assert r.status_code == 412, r.text
    assert await db.fetch("SELECT * FROM rule_sets ORDER BY name") == before


@pytest.mark.parametrize("as_of", ["0001-01-01T00:30:00+01:00", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])
async def test_recompute_as_of_out_of_range_is_422(api, as_of):
    r = await api.post(f"{SCORES}/recompute", json={"as_of": as_of})
    assert r.status_code == 422, r.text
    assert _parameters(r) == {"#/as_of"}


@pytest.mark.parametrize("params", [{"from": "0001-01-01T00:30:00+01:00"}, {"to": "2201-01-01T00:00:00Z"}])
async def test_audit_dates_out_of_range_are_422(settings, params):
    auditor = user_headers("admin-1", "scores:read", "audit:read", service="scoring")
    async with app_client(create_app(settings), headers=auditor) as client:
        r = await client.get(f"{SCORES}/audit", params=params)
    assert r.status_code == 422, r.text
    assert _parameters(r) == set(params)


def _resigned(cursor: str, payload: bytes) -> str:
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    payload = payload.replace(b"$F", msgspec.json.decode(raw[:-12])["f"].encode())
    mac = hmac.new(TEST_CURSOR_SECRET.encode(), payload, hashlib.sha256).digest()[:12]
    return base64.urlsafe_b64encode(payload + mac).decode().rstrip("=")


@pytest.mark.parametrize(
    "payload",
    [
        b'{"p": ["not a number", "x"], "f": "$F"}',
        b'{"p": ["1.5", "not-a-uuid"], "f": "$F"}',
        b'{"p": [1], "f": "$F"}',
        b'{"p": {"a": 1}, "f": "$F"}',
        b'{"p": ["yesterday", 1], "f": "$F"}',
        b'{"p": ["2026-01-01T00:00:00+00:00", 99999999999999999999], "f": "$F"}',
    ],
)
async def test_signed_but_malformed_cursors_are_400_naming_cursor(reader, db, payload):
    await seed_base(db)
    customer = cid(next(iter(BASE)))
    now = datetime.now(UTC)
    for i in range(3):
        await insert_score_change(db, customer, now - timedelta(days=i))
    for url, params in (
        (f"{SCORES}/customers", {"sort": "-clv"}),
        (f"{SCORES}/customers", {"sort": "churn_risk"}),
        (f"{SCORES}/customers/{customer}/history", {}),
    ):
        page = (await reader.get(url, params={**params, "limit": 1})).json()
        r = await reader.get(url, params={**params, "limit": 1, "cursor": _resigned(page["next_cursor"], payload)})
        assert r.status_code == 400, (url, params, r.text)
        assert _parameters(r) == {"cursor"}


# -- one money range for every service -------------------------------------------------------------


async def test_the_shared_amount_range_fits_every_money_column(db):
    """Every numeric money column of the scoring service holds any accepted amount, with room to spare
    (1,000 times) for the sums kept beside them."""
    columns = await db.fetch(
        """
        SELECT table_name, column_name, numeric_precision, numeric_scale FROM information_schema.columns
        WHERE table_schema = 'public' AND data_type = 'numeric'
          AND (column_name LIKE '%amount%' OR column_name LIKE '%spend%' OR column_name IN ('clv', 'declared_budget'))
        """
    )
    assert {c["table_name"] for c in columns} >= {"purchases", "customer_scores", "known_customers"}
    for c in columns:
        if c["numeric_precision"] is None:
            continue  # unbounded numeric holds anything
        capacity = Decimal(10) ** (c["numeric_precision"] - c["numeric_scale"])
        assert capacity >= MAX_AMOUNT * 1000, (c["table_name"], c["column_name"])
    assert DECIMAL_PLACES == 4  # the customer service's scale; scoring rounds to its own (2)


async def test_the_largest_accepted_amount_is_applied(api, db):
    largest = MAX_AMOUNT - Decimal(1).scaleb(-DECIMAL_PLACES)
    customer = uuid.uuid4()
    event = order_created(customer, datetime.now(UTC) - timedelta(days=1), largest)
    await deliver(api, event)
    stored = await db.fetchval("SELECT amount FROM purchases WHERE order_id = $1", uuid.UUID(event["data"]["order_id"]))
    assert stored == largest.quantize(Decimal("0.01"))
