"""The customer service's audit log: each write leaves exactly one row, committed with the change (a refused
write leaves none and changes nothing); reading customers, contacts or duplicates unmasked is recorded, a
masked read is not; admins (audit:read) list the log newest first with filters and signed cursors; nobody
else reads it."""

import uuid
from datetime import datetime, timedelta
from urllib.parse import quote

import msgspec
import pytest

from crm_customer.main import create_app
from crm_shared.testing import app_client, partner_headers, principal_headers, user_headers

from .helpers import idem, snapshot

URL = "/api/v1/customers"
AUDIT = "/api/v1/customers/audit"
ADMIN = principal_headers("root", "user", "customers:read", "audit:read", roles=("admin",))
MARKETER = principal_headers("mark-1", "user", "customers:read", roles=("marketer",))
ANA = {
    "first_name": "Ana",
    "last_name": "Ruiz",
    "email": "ana.ruiz@example.com",
    "phone": "+34600123456",
    "external_refs": [{"partner": "shop-1", "external_id": "C-1"}],
}


async def rows(db) -> list[dict]:
    return [dict(r) for r in await db.fetch("SELECT * FROM audit_log ORDER BY id")]


async def create(client, body=None) -> dict:
    r = await client.post(URL, json=body or ANA, headers=idem())
    assert r.status_code == 201, r.text
    return r.json()


async def test_each_write_records_one_row_committed_with_the_change(api, db):
    created = await api.post(URL, json=ANA, headers=idem())
    assert created.status_code == 201, created.text
    customer = created.json()
    (row,) = await rows(db)
    assert (row["actor"], row["actor_kind"], row["roles"]) == ("u1", "user", ["staff"])
    assert (row["action"], row["resource"], row["status"]) == ("POST /api/v1/customers", URL, 201)
    assert row["request_id"] == created.headers["x-request-id"]
    assert msgspec.json.decode(row["detail"]) == {"location": f"{URL}/{customer['id']}"}

    url = f"{URL}/{customer['id']}"
    patched = await api.patch(url, json={"last_name": "Gómez"}, headers={**idem(), "If-Match": '"1"'})
    assert patched.status_code == 200, patched.text
    _, row = await rows(db)
    assert (row["action"], row["resource"], row["status"]) == ("PATCH /api/v1/customers/{customer_id}", url, 200)
    # One transaction: the audit row and the customer's new version were written by the same one.
    assert await db.fetchval("SELECT xmin::text FROM customers") == await db.fetchval(
        "SELECT xmin::text FROM audit_log WHERE id = $1", row["id"]
    )


async def test_a_refused_write_records_nothing_and_changes_nothing(api, db):
    customer = await create(api)
    before, audited = await snapshot(db), await rows(db)
    taken = await api.post(URL, json={"first_name": "Bo", "external_refs": ANA["external_refs"]}, headers=idem())
    assert taken.status_code == 409
    invalid = await api.post(URL, json={"email": "not an email"}, headers=idem())
    assert invalid.status_code == 422
    stale = await api.patch(f"{URL}/{customer['id']}", json={"last_name": "X"}, headers={**idem(), "If-Match": '"7"'})
    assert stale.status_code == 412
    missing = await api.patch(f"{URL}/{uuid.uuid4()}", json={"last_name": "X"}, headers={**idem(), "If-Match": '"1"'})
    assert missing.status_code == 404
    assert await snapshot(db) == before
    assert await rows(db) == audited


async def test_an_unmasked_read_of_personal_data_is_recorded_a_masked_one_is_not(api, settings, db):
    customer = await create(api)
    contact = await api.post(
        f"{URL}/{customer['id']}/contacts",
        json={"first_name": "Eva", "relation": "assistant", "email": "eva@example.com"},
        headers=idem(),
    )
    assert contact.status_code == 201, contact.text
    writes = len(await rows(db))
    reads = [
        f"{URL}/{customer['id']}",
        f"{URL}?email={quote('ana.ruiz@example.com')}",
        f"{URL}/{customer['id']}/contacts",
        f"{URL}/duplicates",
    ]
    for path in reads:
        r = await api.get(path)
        assert r.status_code == 200, (path, r.text)
    assert "ana.ruiz@example.com" in (await api.get(f"{URL}/{customer['id']}")).text
    recorded = (await rows(db))[writes:]
    assert [r["action"] for r in recorded] == [
        "GET /api/v1/customers/{customer_id}",
        "GET /api/v1/customers",
        "GET /api/v1/customers/{customer_id}/contacts",
        "GET /api/v1/customers/duplicates",
        "GET /api/v1/customers/{customer_id}",
    ]
    assert msgspec.json.decode(recorded[1]["detail"]) == {"query": "email=[redacted]"}
    assert {r["actor"] for r in recorded} == {"u1"}

    async with app_client(create_app(settings), headers=MARKETER) as marketer:  # customers:read, no pii:read
        masked = await marketer.get(f"{URL}/{customer['id']}")
        assert masked.json()["email"] == "a***@example.com"
        assert (await marketer.get(f"{URL}/{customer['id']}/contacts")).status_code == 200
    tags = await api.get(f"{URL}/tags")  # no personal data in the answer: not recorded, even with pii:read
    assert tags.status_code == 200
    assert len(await rows(db)) == writes + len(recorded)


async def test_a_partner_reading_its_own_customer_unmasked_is_recorded(client, db):
    customer = await create(client)
    r = await client.get(f"{URL}/{customer['id']}")
    assert r.status_code == 200, r.text
    last = (await rows(db))[-1]
    assert (last["actor"], last["actor_kind"], last["roles"]) == ("shop-1", "partner", ["partner"])
    assert last["action"] == "GET /api/v1/customers/{customer_id}"


@pytest.fixture
async def admin(settings):
    async with app_client(create_app(settings), headers=ADMIN) as c:
        yield c


async def test_admins_list_the_log_newest_first_with_filters(api, client, admin, db):
    first = await create(api)
    await create(api, {"first_name": "Bo", "email": "bo@example.com"})
    await create(client, {"first_name": "Cy", "external_refs": [{"partner": "shop-1", "external_id": "C-3"}]})
    await api.get(f"{URL}/{first['id']}")
    everything = (await admin.get(AUDIT)).json()
    assert everything["next_cursor"] is None
    items = everything["items"]
    assert [i["id"] for i in items] == sorted((r["id"] for r in await rows(db)), reverse=True)
    assert [(i["actor"], i["action"]) for i in items] == [
        ("u1", "GET /api/v1/customers/{customer_id}"),
        ("shop-1", "POST /api/v1/customers"),
        ("u1", "POST /api/v1/customers"),
        ("u1", "POST /api/v1/customers"),
    ]
    assert datetime.fromisoformat(items[0]["at"]).utcoffset() == timedelta(0)

    async def ids(**params) -> list[int]:
        r = await admin.get(AUDIT, params=params)
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    by_id = {i["id"]: i for i in items}
    assert await ids(actor="shop-1") == [items[1]["id"]]
    assert await ids(actor_kind="user") == [items[0]["id"], items[2]["id"], items[3]["id"]]
    assert await ids(action="POST /api/v1/customers", actor="u1") == [items[2]["id"], items[3]["id"]]
    assert await ids(resource=f"{URL}/{first['id']}") == [items[0]["id"]]
    assert await ids(resource="/api/v1/customers") == list(by_id)
    assert await ids(resource="/api/v1/orders") == []
    assert await ids(resource="/api/v1/customers%") == []  # a literal prefix, not a pattern
    assert await ids(request_id=items[1]["request_id"]) == [items[1]["id"]]
    at = {i["id"]: datetime.fromisoformat(i["at"]) for i in items}
    middle = at[items[2]["id"]]
    assert await ids(**{"from": middle.isoformat()}) == [i for i in at if at[i] >= middle]
    assert await ids(to=middle.isoformat()) == [i for i in at if at[i] < middle]


async def test_the_log_pages_with_cursors_bound_to_the_filters(api, admin, db):
    for n in range(5):
        await create(api, {"first_name": f"P{n}"})
    seen, cursor = [], None
    while True:
        params = {"limit": 2, "actor": "u1", **({"cursor": cursor} if cursor else {})}
        page = (await admin.get(AUDIT, params=params)).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        other = await admin.get(AUDIT, params={"limit": 2, "actor": "u2", "cursor": cursor})
        assert other.status_code == 400  # a cursor is only good for the filters it was issued for
        assert other.json()["errors"][0]["parameter"] == "cursor"
    assert seen == sorted((r["id"] for r in await rows(db)), reverse=True)
    assert len(seen) == 5
    assert len((await admin.get(AUDIT, params={"limit": 500})).json()["items"]) == 5


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"limit": 501}, "limit"),
        ({"limit": 0}, "limit"),
        ({"actor_kind": "robot"}, "actor_kind"),
        ({"from": "2026-11-20T10:00:00"}, "from"),  # no time zone
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-11-21T00:00:00Z", "to": "2026-11-20T00:00:00Z"}, "to"),
        ({"resource": "customers"}, "resource"),
        ({"action": "create customer"}, "action"),
    ],
)
async def test_invalid_filters_are_422_naming_the_parameter(admin, params, parameter):
    r = await admin.get(AUDIT, params=params)
    assert r.status_code == 422, r.text
    assert [e["parameter"] for e in r.json()["errors"]] == [parameter]


@pytest.mark.parametrize(
    "headers",
    [
        user_headers("u1", "customers:read", "customers:write", "pii:read"),  # staff, but not an admin
        partner_headers("shop-1", "customers:read", "audit:read"),  # partners never read the log
        principal_headers("root", "user", "audit:read", roles=("admin",)),  # the prefix's read scope is needed too
    ],
)
async def test_only_admins_read_the_log(api, settings, headers, db):
    await create(api)
    async with app_client(create_app(settings), headers=headers) as caller:
        r = await caller.get(AUDIT)
    assert r.status_code == 403
    assert "items" not in r.json()
    assert len(await rows(db)) == 1  # and a refused call records nothing


async def test_the_log_does_not_shadow_customer_routes(api, admin):
    customer = await create(api)
    assert (await admin.get(f"{URL}/{customer['id']}")).status_code == 200
    assert (await admin.get(f"{AUDIT}/{customer['id']}")).status_code == 404
