"""Referrals: recorded once, never self or unknown or cyclic; sources, referred lists, top referrers."""

import uuid

import pytest

from .helpers import idem, outbox_events, snapshot


@pytest.fixture
async def client(api):
    """These are staff features (partners may not use them): the tests call as a staff user."""
    return api


async def _customer(client, name):
    r = await client.post("/api/v1/customers", json={"first_name": name}, headers=idem())
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _refer(client, referred, referrer, **extra):
    body = {"referrer_id": referrer, **extra}
    return await client.put(f"/api/v1/customers/{referred}/referral", json=body, headers=idem())


async def test_record_and_read_the_source(client, db):
    ana, bo = await _customer(client, "Ana"), await _customer(client, "Bo")
    r = await _refer(client, bo, ana, referred_at="2026-10-01T09:00:00+02:00", source="member-get-member")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["referrer_id"] == ana
    assert body["referred_id"] == bo
    assert body["referred_at"] == "2026-10-01T07:00:00Z"
    row = await db.fetchrow("SELECT * FROM referrals")
    assert (str(row["referrer_id"]), str(row["referred_id"]), row["source"]) == (ana, bo, "member-get-member")
    got = await client.get(f"/api/v1/customers/{bo}/referral")
    assert got.status_code == 200
    assert got.json() == body
    (event,) = [e for e in await outbox_events(db) if e["type"] == "referral.recorded"]
    assert event["subject"] == bo
    assert event["data"]["referral"]["referrer_id"] == ana


async def test_referred_at_defaults_to_now(client, db):
    ana, bo = await _customer(client, "Ana"), await _customer(client, "Bo")
    assert (await _refer(client, bo, ana)).status_code == 201
    assert await db.fetchval("SELECT now() - referred_at < interval '1 minute' FROM referrals")


async def test_same_referral_again_is_unchanged(client, db):
    ana, bo = await _customer(client, "Ana"), await _customer(client, "Bo")
    first = await _refer(client, bo, ana, source="fair")
    before = await snapshot(db)
    for extra in ({"source": "fair"}, {}, {"referred_at": first.json()["referred_at"]}):
        again = await _refer(client, bo, ana, **extra)
        assert again.status_code == 200, again.text
        assert again.json() == first.json()
    after = await snapshot(db)
    assert after["referrals"] == before["referrals"]
    assert after["outbox_messages"] == before["outbox_messages"]


async def test_different_referrer_conflicts_and_changes_nothing(client, db):
    ana, bo, cy = await _customer(client, "Ana"), await _customer(client, "Bo"), await _customer(client, "Cy")
    await _refer(client, bo, ana, source="fair")
    before = await snapshot(db)
    r = await _refer(client, bo, cy)
    assert r.status_code == 409
    assert r.json()["referrer_id"] == ana
    changed_source = await _refer(client, bo, ana, source="web")
    assert changed_source.status_code == 409
    assert await snapshot(db) == before


@pytest.mark.parametrize(
    ("case", "pointer"),
    [
        ("self", "#/referrer_id"),
        ("unknown", "#/referrer_id"),
        ("future", "#/referred_at"),
        ("naive", "#/referred_at"),
        ("not_uuid", "#/referrer_id"),
        ("extra", "#/reward"),
    ],
)
async def test_bad_referral_names_field_and_changes_nothing(client, db, case, pointer):
    ana, bo = await _customer(client, "Ana"), await _customer(client, "Bo")
    body = {
        "self": {"referrer_id": bo},
        "unknown": {"referrer_id": str(uuid.uuid4())},
        "future": {"referrer_id": ana, "referred_at": "2099-01-01T00:00:00Z"},
        "naive": {"referrer_id": ana, "referred_at": "2026-01-01T00:00:00"},
        "not_uuid": {"referrer_id": "ana"},
        "extra": {"referrer_id": ana, "reward": 10},
    }[case]
    before = await snapshot(db)
    r = await client.put(f"/api/v1/customers/{bo}/referral", json=body, headers=idem())
    assert r.status_code == 422, r.text
    assert any(e.get("pointer") == pointer for e in r.json()["errors"]), r.json()
    assert await snapshot(db) == before


async def test_cycles_are_rejected(client, db):
    a, b, c = await _customer(client, "A"), await _customer(client, "B"), await _customer(client, "C")
    assert (await _refer(client, b, a)).status_code == 201  # A referred B
    before = await snapshot(db)
    direct = await _refer(client, a, b)  # B referred A: A -> B -> A
    assert direct.status_code == 422
    assert direct.json()["errors"][0]["pointer"] == "#/referrer_id"
    assert await snapshot(db) == before
    assert (await _refer(client, c, b)).status_code == 201  # B referred C
    before = await snapshot(db)
    longer = await _refer(client, a, c)  # C referred A: A -> B -> C -> A
    assert longer.status_code == 422
    assert await snapshot(db) == before


async def test_unknown_customer_and_no_source_are_404(client, db):
    ana = await _customer(client, "Ana")
    before = await snapshot(db)
    r = await client.put(f"/api/v1/customers/{uuid.uuid4()}/referral", json={"referrer_id": ana}, headers=idem())
    assert r.status_code == 404
    assert (await client.get(f"/api/v1/customers/{ana}/referral")).status_code == 404
    assert (await client.get(f"/api/v1/customers/{uuid.uuid4()}/referrals")).status_code == 404
    assert await snapshot(db) == before


async def test_referrals_made_newest_first_with_pagination(client):
    ana = await _customer(client, "Ana")
    referred = []
    for day, name in enumerate(["Bo", "Cy", "Di"], start=1):
        cid = await _customer(client, name)
        assert (await _refer(client, cid, ana, referred_at=f"2026-10-0{day}T00:00:00Z")).status_code == 201
        referred.append(cid)
    page = (await client.get(f"/api/v1/customers/{ana}/referrals", params={"limit": 2})).json()
    assert [r["referred_id"] for r in page["items"]] == [referred[2], referred[1]]
    rest = (
        await client.get(f"/api/v1/customers/{ana}/referrals", params={"limit": 2, "cursor": page["next_cursor"]})
    ).json()
    assert [r["referred_id"] for r in rest["items"]] == [referred[0]]
    assert rest["next_cursor"] is None
    other = await _customer(client, "Ed")
    reused = await client.get(f"/api/v1/customers/{other}/referrals", params={"cursor": page["next_cursor"]})
    assert reused.status_code == 400
    assert (await client.get(f"/api/v1/customers/{other}/referrals")).json()["items"] == []


async def test_top_referrers(client):
    ana, bo = await _customer(client, "Ana"), await _customer(client, "Bo")
    dates = {"Cy": (ana, "2026-09-10"), "Di": (ana, "2026-10-05"), "Ed": (ana, "2026-10-06"), "Fa": (bo, "2026-10-07")}
    for name, (referrer, day) in dates.items():
        cid = await _customer(client, name)
        assert (await _refer(client, cid, referrer, referred_at=f"{day}T12:00:00Z")).status_code == 201
    everything = (await client.get("/api/v1/customers/referrals/top")).json()["items"]
    assert [(t["display_name"], t["referrals"]) for t in everything] == [("Ana", 3), ("Bo", 1)]
    assert everything[0]["referrer_id"] == ana
    october = await client.get(
        "/api/v1/customers/referrals/top",
        params={"from": "2026-10-01T00:00:00Z", "to": "2026-11-01T00:00:00Z", "limit": 1},
    )
    assert october.status_code == 200
    assert [(t["display_name"], t["referrals"]) for t in october.json()["items"]] == [("Ana", 2)]
    september = await client.get("/api/v1/customers/referrals/top", params={"to": "2026-10-01T00:00:00Z"})
    assert [(t["display_name"], t["referrals"]) for t in september.json()["items"]] == [("Ana", 1)]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"from": "2026-11-01T00:00:00Z", "to": "2026-10-01T00:00:00Z"}, "to"),
        ({"from": "yesterday"}, "from"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
    ],
)
async def test_top_referrers_bad_query(client, params, parameter):
    r = await client.get("/api/v1/customers/referrals/top", params=params)
    assert r.status_code == 422
    assert r.json()["errors"][0]["parameter"] == parameter
