"""The points ledger over HTTP: rows the batch job wrote (inserted here with SQL), filtered by customer and
month, paginated; one customer's months with their total; month parameters validated."""

import uuid
from datetime import date
from decimal import Decimal

import pytest

URL = "/api/v1/scores/points"
A, B, C = (uuid.UUID(int=i) for i in (1, 2, 3))


async def insert(db, customer_id: uuid.UUID, month: date, points: str, version: int | None = 1) -> None:
    await db.execute(
        "INSERT INTO points_ledger (customer_id, month, points, formula_version, run_id) VALUES ($1, $2, $3, $4, 7)",
        customer_id,
        month,
        Decimal(points),
        version,
    )


@pytest.fixture
async def ledger(db):
    """Three customers over Sep-Nov 2026, B missing September."""
    for cid, base in ((A, 10), (B, 20), (C, 30)):
        for m in (9, 10, 11):
            if (cid, m) != (B, 9):
                await insert(db, cid, date(2026, m, 1), f"{base + m}.50")


async def test_list_newest_month_first(reader, ledger):
    r = await reader.get(URL)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [(i["month"], i["customer_id"]) for i in items] == [
        ("2026-11-01", str(A)),
        ("2026-11-01", str(B)),
        ("2026-11-01", str(C)),
        ("2026-10-01", str(A)),
        ("2026-10-01", str(B)),
        ("2026-10-01", str(C)),
        ("2026-09-01", str(A)),
        ("2026-09-01", str(C)),
    ]
    first = items[0]
    assert (first["points"], first["formula_version"], first["run_id"]) == ("21.50", 1, 7)
    assert first["recorded_at"].endswith(("Z", "+00:00"))
    assert r.json()["next_cursor"] is None


async def test_pagination_across_pages(reader, ledger):
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await reader.get(URL, params=params)).json()
        seen += [(i["month"], i["customer_id"]) for i in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert len(seen) == len(set(seen)) == 8
    assert seen == sorted(seen, key=lambda k: (-date.fromisoformat(k[0]).toordinal(), k[1]))
    # a cursor is bound to the filters it was issued for
    page = (await reader.get(URL, params={"limit": 3})).json()
    other = await reader.get(URL, params={"limit": 3, "month": "2026-11", "cursor": page["next_cursor"]})
    assert other.status_code == 400
    assert other.json()["errors"][0]["parameter"] == "cursor"


async def test_filters(reader, ledger):
    async def keys(**params):
        r = await reader.get(URL, params=params)
        assert r.status_code == 200, r.text
        return [(i["month"][:7], i["customer_id"]) for i in r.json()["items"]]

    assert await keys(month="2026-10") == [("2026-10", str(A)), ("2026-10", str(B)), ("2026-10", str(C))]
    assert await keys(customer_id=str(B)) == [("2026-11", str(B)), ("2026-10", str(B))]
    assert await keys(**{"from": "2026-10", "customer_id": str(C)}) == [("2026-11", str(C)), ("2026-10", str(C))]
    assert await keys(to="2026-09") == [("2026-09", str(A)), ("2026-09", str(C))]
    assert await keys(**{"from": "2026-09", "to": "2026-10", "customer_id": str(A)}) == [
        ("2026-10", str(A)),
        ("2026-09", str(A)),
    ]
    assert await keys(month="2025-01") == []


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"month": "2026-13"}, "month"),
        ({"month": "2026-1"}, "month"),
        ({"month": "2026-11-01"}, "month"),
        ({"month": "Nov 2026"}, "month"),
        ({"month": "0000-05"}, "month"),
        ({"from": "2026/10"}, "from"),
        ({"to": "x"}, "to"),
        ({"from": "2026-11", "to": "2026-10"}, "from"),
        ({"month": "2026-11", "from": "2026-10"}, "month"),
        ({"customer_id": "not-a-uuid"}, "customer_id"),
    ],
)
async def test_bad_month_names_the_parameter(reader, params, parameter):
    r = await reader.get(URL, params=params)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert [e.get("parameter") for e in r.json()["errors"]] == [parameter]


async def test_customer_points_and_total(reader, ledger):
    r = await reader.get(f"/api/v1/scores/customers/{A}/points")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["customer_id"] == str(A)
    assert [i["month"] for i in body["items"]] == ["2026-11-01", "2026-10-01", "2026-09-01"]
    assert [i["points"] for i in body["items"]] == ["21.50", "20.50", "19.50"]
    assert (body["total"], body["months"]) == ("61.50", 3)


async def test_known_customer_without_points(reader, db):
    cid = uuid.uuid4()
    await db.execute("INSERT INTO known_customers (customer_id) VALUES ($1)", cid)
    r = await reader.get(f"/api/v1/scores/customers/{cid}/points")
    assert r.status_code == 200, r.text
    assert (r.json()["items"], r.json()["total"], r.json()["months"]) == ([], "0.00", 0)


async def test_unknown_customer_is_404(reader):
    r = await reader.get(f"/api/v1/scores/customers/{uuid.uuid4()}/points")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"


async def test_needs_scores_read(settings):
    from crm_scoring.main import create_app
    from crm_shared.testing import app_client, user_headers

    headers = user_headers("x", "customers:read", service="scoring")
    async with app_client(create_app(settings), headers=headers) as c:
        assert (await c.get(URL)).status_code == 403
        assert (await c.get(f"/api/v1/scores/customers/{A}/points")).status_code == 403
