"""Companies: individuals belong to an existing, unmerged company customer; members list; filter."""

import uuid

import pytest

from .helpers import idem, outbox_events, snapshot


@pytest.fixture
async def client(api):
    """Staff calls: how a partner's calls are confined to its own customers is test_partner_isolation's."""
    return api


async def _create(client, **body):
    r = await client.post("/api/v1/customers", json=body, headers=idem())
    assert r.status_code == 201, r.text
    return r.json()


async def _company(client, name="Acme"):
    return (await _create(client, kind="company", company_name=name))["id"]


async def test_individual_joins_a_company(client, db):
    acme = await _company(client)
    ana = await _create(client, first_name="Ana", company_id=acme)
    assert ana["company_id"] == acme
    assert await db.fetchval("SELECT company_id FROM customers WHERE id = $1", uuid.UUID(ana["id"])) == uuid.UUID(acme)


async def test_move_and_leave_by_update(client, db):
    acme, beta = await _company(client), await _company(client, "Beta")
    ana = await _create(client, first_name="Ana", company_id=acme)
    url = f"/api/v1/customers/{ana['id']}"
    moved = await client.patch(url, json={"company_id": beta}, headers={**idem(), "If-Match": '"1"'})
    assert moved.status_code == 200, moved.text
    assert moved.json()["company_id"] == beta
    left = await client.patch(url, json={"company_id": None}, headers={**idem(), "If-Match": '"2"'})
    assert left.json()["company_id"] is None
    changed = [e["data"]["changed"] for e in await outbox_events(db) if e["type"] == "customer.updated"]
    assert changed == [["company_id"], ["company_id"]]


@pytest.mark.parametrize("case", ["unknown", "individual", "merged", "company_member"])
async def test_bad_company_on_create_is_422_and_changes_nothing(client, db, case):
    acme = await _company(client)
    bo = await _create(client, first_name="Bo")
    merged = await _company(client, "Old Acme")
    await db.execute("UPDATE customers SET merged_into = $1 WHERE id = $2", uuid.UUID(acme), uuid.UUID(merged))
    body = {
        "unknown": {"first_name": "Ana", "company_id": str(uuid.uuid4())},
        "individual": {"first_name": "Ana", "company_id": bo["id"]},
        "merged": {"first_name": "Ana", "company_id": merged},
        "company_member": {"kind": "company", "company_name": "Sub", "company_id": acme},
    }[case]
    before = await snapshot(db)
    r = await client.post("/api/v1/customers", json=body, headers=idem())
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["pointer"] == "#/company_id"
    assert await snapshot(db) == before


async def test_bad_company_on_update_is_422_and_changes_nothing(client, db):
    acme, beta = await _company(client), await _company(client, "Beta")
    ana = await _create(client, first_name="Ana")
    before = await snapshot(db)
    for url, target in [
        (f"/api/v1/customers/{acme}", acme),  # itself
        (f"/api/v1/customers/{acme}", beta),  # a company cannot belong to a company
        (f"/api/v1/customers/{ana['id']}", ana["id"]),  # itself, and not a company
        (f"/api/v1/customers/{ana['id']}", str(uuid.uuid4())),
    ]:
        r = await client.patch(url, json={"company_id": target}, headers={**idem(), "If-Match": '"1"'})
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["pointer"] == "#/company_id"
    assert await snapshot(db) == before


async def test_members_by_name_with_pagination(client):
    acme, beta = await _company(client), await _company(client, "Beta")
    for name in ["Cy", "Ana", "Bo"]:
        await _create(client, first_name=name, company_id=acme)
    await _create(client, first_name="Dee", company_id=beta)
    await _create(client, first_name="Eve")
    url = f"/api/v1/customers/{acme}/members"
    page = (await client.get(url, params={"limit": 2})).json()
    assert [c["display_name"] for c in page["items"]] == ["Ana", "Bo"]
    rest = (await client.get(url, params={"limit": 2, "cursor": page["next_cursor"]})).json()
    assert [c["display_name"] for c in rest["items"]] == ["Cy"]
    assert rest["next_cursor"] is None
    other = await client.get(f"/api/v1/customers/{beta}/members", params={"cursor": page["next_cursor"]})
    assert other.status_code == 400
    filtered = (await client.get("/api/v1/customers", params={"company_id": acme, "sort": "+display_name"})).json()
    assert [c["display_name"] for c in filtered["items"]] == ["Ana", "Bo", "Cy"]


async def test_members_skip_merged_and_unknown_is_404(client, db):
    acme = await _company(client)
    ana = await _create(client, first_name="Ana", company_id=acme)
    bo = await _create(client, first_name="Bo", company_id=acme)
    await db.execute("UPDATE customers SET merged_into = $1 WHERE id = $2", uuid.UUID(ana["id"]), uuid.UUID(bo["id"]))
    items = (await client.get(f"/api/v1/customers/{acme}/members")).json()["items"]
    assert [c["id"] for c in items] == [ana["id"]]
    assert (await client.get(f"/api/v1/customers/{uuid.uuid4()}/members")).status_code == 404
    individual = await client.get(f"/api/v1/customers/{ana['id']}/members")
    assert individual.json()["items"] == []
