"""Partners see and change only what is theirs: the customers they hold a reference to and their own
orders. Anything else answers exactly as an unknown id does (404, same body) and changes nothing;
lists and searches never show another partner's rows; staff users keep full access."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from crm_customer.main import create_app
from crm_shared.testing import app_client, partner_headers, user_headers

from .helpers import idem, order, snapshot

A, B = "shop-a", "shop-b"
SCOPES = ("customers:read", "customers:write", "orders:read", "orders:write", "pii:read")
STAFF = user_headers("u1", *SCOPES)


@dataclass
class Parties:
    a: httpx.AsyncClient
    b: httpx.AsyncClient
    staff: httpx.AsyncClient


@pytest.fixture
async def parties(settings) -> AsyncIterator[Parties]:
    """Partners A and B and a staff user, calling one app."""
    app = create_app(settings)
    async with app_client(app, headers=partner_headers(A, *SCOPES)) as a:
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://test", headers=partner_headers(B, *SCOPES)) as b,
            httpx.AsyncClient(transport=transport, base_url="http://test", headers=STAFF) as staff,
        ):
            yield Parties(a, b, staff)


def _ref(partner: str, external_id: str) -> dict[str, str]:
    return {"partner": partner, "external_id": external_id}


async def _create(client: httpx.AsyncClient, **body: Any) -> str:
    r = await client.post("/api/v1/customers", json=body, headers=idem())
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _push(client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await client.post("/api/v1/orders", json=body, headers=idem())


def _by_id(ext: str, customer_id: str) -> dict[str, Any]:
    body = order(ext, customer_id=customer_id)
    del body["customer"]
    return body


@dataclass
class World:
    """A's customer Ana (member of A's company Acme, with a contact, a consent and an order of A's) and
    B's own customer Bea with an order of B's."""

    ana: str
    acme: str
    contact: str
    order: str
    bea: str
    b_order: str

    def ids(self) -> dict[str, str]:
        return {"ana": self.ana, "acme": self.acme, "contact": self.contact, "order": self.order, "ext": "A-SO-1"}


@pytest.fixture
async def world(parties: Parties) -> World:
    a, b = parties.a, parties.b
    acme = await _create(a, kind="company", company_name="Acme SL", external_refs=[_ref(A, "A-CO")])
    ana = await _create(
        a,
        first_name="Ana",
        last_name="Ruiz",
        email="ana@example.com",
        phone="+34600123456",
        company_id=acme,
        external_refs=[_ref(A, "A-1")],
    )
    contact = await a.post(
        f"/api/v1/customers/{ana}/contacts", json={"first_name": "Li", "relation": "assistant"}, headers=idem()
    )
    assert contact.status_code == 201, contact.text
    consent = await a.put(
        f"/api/v1/customers/{ana}/consents/email", json={"status": "opted_in", "source": "web"}, headers=idem()
    )
    assert consent.status_code == 200, consent.text
    pushed = await _push(a, _by_id("A-SO-1", ana))
    assert pushed.status_code == 201, pushed.text
    bea = await _create(b, first_name="Bea", email="bea@example.com", external_refs=[_ref(B, "B-1")])
    b_pushed = await _push(b, order("B-SO-1", "B-1", details=False))
    assert b_pushed.status_code == 201, b_pushed.text
    return World(ana, acme, contact.json()["id"], pushed.json()["id"], bea, b_pushed.json()["id"])


def _ids(page: httpx.Response) -> set[str]:
    assert page.status_code == 200, page.text
    return {item["id"] for item in page.json()["items"]}


def _normalized(response: httpx.Response, values: dict[str, str]) -> tuple[int, Any]:
    """Status and body with the concrete ids replaced by their names, to compare two answers."""
    text = response.text
    for name, value in values.items():
        text = text.replace(value, f"<{name}>")
    return response.status_code, json.loads(text) if text else None


# Every endpoint partners may call that names a customer, a contact or an order of another partner.
IF_MATCH = {"If-Match": '"1"'}
OWN_ENDPOINTS = [
    ("get customer", "GET", "/api/v1/customers/{ana}", None, {}),
    ("patch customer", "PATCH", "/api/v1/customers/{ana}", {"first_name": "Mallory"}, IF_MATCH),
    ("company members", "GET", "/api/v1/customers/{acme}/members", None, {}),
    ("list contacts", "GET", "/api/v1/customers/{ana}/contacts", None, {}),
    ("add contact", "POST", "/api/v1/customers/{ana}/contacts", {"first_name": "Eve", "relation": "other"}, {}),
    ("get contact", "GET", "/api/v1/customers/{ana}/contacts/{contact}", None, {}),
    ("patch contact", "PATCH", "/api/v1/customers/{ana}/contacts/{contact}", {"role": "spy"}, IF_MATCH),
    ("delete contact", "DELETE", "/api/v1/customers/{ana}/contacts/{contact}", None, {}),
    ("consents", "GET", "/api/v1/customers/{ana}/consents", None, {}),
    ("consent history", "GET", "/api/v1/customers/{ana}/consents/history", None, {}),
    ("set consent", "PUT", "/api/v1/customers/{ana}/consents/email", {"status": "opted_out", "source": "b"}, {}),
    ("preferences", "PUT", "/api/v1/customers/{ana}/contact-preferences", {"max_contacts_per_month": 0}, {}),
    ("get order", "GET", "/api/v1/orders/{order}", None, {}),
    ("order by external id", "GET", "/api/v1/orders/by-external/{ext}?partner=shop-a", None, {}),
    ("cancel order", "POST", "/api/v1/orders/{order}/cancel", {"reason": "not mine"}, {}),
    ("refund order", "POST", "/api/v1/orders/{order}/refund", {"amount": "1.00"}, {}),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "headers"), [c[1:] for c in OWN_ENDPOINTS], ids=[c[0] for c in OWN_ENDPOINTS]
)
async def test_another_partners_customer_is_not_found_and_unchanged(parties, world, db, method, path, body, headers):
    real = world.ids()
    unknown = {k: str(uuid.uuid4()) for k in real} | {"ext": "A-SO-404"}
    before = await snapshot(db)
    theirs = await parties.b.request(
        method, path.format(**real), json=body, headers={**idem(), **headers} if method != "GET" else {}
    )
    assert theirs.status_code == 404, theirs.text
    assert await snapshot(db) == before
    # Exactly the answer to an id that does not exist: nothing tells B that A's customer is there.
    missing = await parties.b.request(
        method, path.format(**unknown), json=body, headers={**idem(), **headers} if method != "GET" else {}
    )
    assert _normalized(theirs, real) == _normalized(missing, unknown)
    # The owner and staff do reach it (GETs; the writes are covered by their own tests).
    if method == "GET":
        assert (await parties.a.get(path.format(**real))).status_code == 200
        assert (await parties.staff.get(path.format(**real))).status_code == 200


async def test_orders_are_not_pushed_onto_another_partners_customer(parties, world, db):
    before = await snapshot(db)
    theirs = await _push(parties.b, _by_id("B-SO-2", world.ana))
    assert theirs.status_code == 422, theirs.text
    assert theirs.json()["errors"][0]["pointer"] == "#/customer_id"
    assert await snapshot(db) == before
    unknown = str(uuid.uuid4())
    missing = await _push(parties.b, _by_id("B-SO-2", unknown))
    assert _normalized(theirs, {"id": world.ana}) == _normalized(missing, {"id": unknown})
    # In a batch only that row fails; the partner's other rows go in.
    batch = await parties.b.post(
        "/api/v1/orders/batch",
        json={"orders": [_by_id("B-SO-3", world.ana), order("B-SO-4", "B-1", details=False)]},
        headers=idem(),
    )
    assert batch.status_code == 200, batch.text
    result = batch.json()
    assert (result["created"], result["rejected"]) == (1, 1)
    assert result["results"][0]["errors"][0]["pointer"] == "#/orders/0/customer_id"
    assert result["results"][0]["errors"][0]["detail"] == f"no customer with id {world.ana}"
    partners_on_ana = await db.fetch("SELECT DISTINCT partner FROM orders WHERE customer_id = $1", uuid.UUID(world.ana))
    assert [r["partner"] for r in partners_on_ana] == [A]
    # The owner and staff push by id as before.
    assert (await _push(parties.a, _by_id("A-SO-2", world.ana))).status_code == 201
    assert (await _push(parties.staff, _by_id("U-SO-1", world.ana))).status_code == 201


async def test_lists_and_searches_show_only_own_customers(parties, world):
    b, a, staff = parties.b, parties.a, parties.staff
    url = "/api/v1/customers"
    assert _ids(await b.get(url)) == {world.bea}
    assert _ids(await b.get(url, params={"include_merged": "true"})) == {world.bea}
    for search in (
        {"email": "ana@example.com"},
        {"phone": "+34600123456"},
        {"partner": A, "external_id": "A-1"},
        {"partner": A},
        {"external_id": "A-1"},
        {"company_id": world.acme},
        {"q": "Ana"},
        {"kind": "company"},
    ):
        assert _ids(await b.get(url, params=search)) == set(), search
        assert _ids(await staff.get(url, params=search)), search  # staff finds A's rows with each of them
    assert _ids(await a.get(url, params={"email": "ana@example.com"})) == {world.ana}
    assert _ids(await a.get(url, params={"partner": A, "external_id": "A-1"})) == {world.ana}
    assert _ids(await a.get(url, params={"external_id": "A-1"})) == {world.ana}
    assert _ids(await a.get(url, params={"partner": B})) == set()  # another partner's name: nothing
    assert _ids(await a.get(url)) == {world.ana, world.acme}
    assert _ids(await staff.get(url)) == {world.ana, world.acme, world.bea}


async def test_order_lists_and_export_show_only_own_orders(parties, world):
    b, staff = parties.b, parties.staff
    assert _ids(await b.get("/api/v1/orders")) == {world.b_order}
    assert _ids(await b.get("/api/v1/orders", params={"customer_id": world.ana})) == set()
    assert _ids(await b.get("/api/v1/orders", params={"partner": A})) == {world.b_order}  # forced to its own
    export = await b.get("/api/v1/orders/export")
    assert [json.loads(line)["id"] for line in export.text.splitlines()] == [world.b_order]
    assert _ids(await staff.get("/api/v1/orders")) == {world.order, world.b_order}
    staff_export = await staff.get("/api/v1/orders/export")
    assert {json.loads(line)["id"] for line in staff_export.text.splitlines()} == {world.order, world.b_order}


async def test_list_pages_hold_only_own_customers(parties):
    mine = []
    for i in range(5):
        mine.append(await _create(parties.a, first_name=f"A{i}", external_refs=[_ref(A, f"A-{i}")]))
        await _create(parties.b, first_name=f"B{i}", external_refs=[_ref(B, f"B-{i}")])
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await parties.a.get("/api/v1/customers", params=params)).json()
        seen += [c["id"] for c in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == mine[::-1]  # newest first, every page full of A's rows only


async def test_members_are_only_those_the_partner_references(parties, world):
    max_ = await _create(parties.staff, first_name="Max", company_id=world.acme, external_refs=[_ref(B, "B-MAX")])
    assert _ids(await parties.a.get(f"/api/v1/customers/{world.acme}/members")) == {world.ana}
    assert _ids(await parties.staff.get(f"/api/v1/customers/{world.acme}/members")) == {world.ana, max_}


async def test_a_shared_customer_shows_each_partner_its_own_references_and_orders(parties, world):
    sam = await _create(parties.staff, first_name="Sam", external_refs=[_ref(A, "A-SAM"), _ref(B, "B-SAM")])
    a_read = (await parties.a.get(f"/api/v1/customers/{sam}")).json()
    b_read = (await parties.b.get(f"/api/v1/customers/{sam}")).json()
    assert a_read["external_refs"] == [_ref(A, "A-SAM")]
    assert b_read["external_refs"] == [_ref(B, "B-SAM")]
    staff_read = (await parties.staff.get(f"/api/v1/customers/{sam}")).json()
    assert len(staff_read["external_refs"]) == 2
    # B may see Sam, but not search it by A's reference: A's ids are A's business.
    for search in ({"partner": A, "external_id": "A-SAM"}, {"external_id": "A-SAM"}):
        assert _ids(await parties.b.get("/api/v1/customers", params=search)) == set(), search
    assert _ids(await parties.b.get("/api/v1/customers", params={"external_id": "B-SAM"})) == {sam}
    # Both hold a reference, so both may push orders onto it by our id; each sees only its own.
    a_order = await _push(parties.a, _by_id("A-SAM-1", sam))
    b_order = await _push(parties.b, _by_id("B-SAM-1", sam))
    assert a_order.status_code == b_order.status_code == 201
    assert _ids(await parties.a.get("/api/v1/orders", params={"customer_id": sam})) == {a_order.json()["id"]}
    assert (await parties.a.get(f"/api/v1/orders/{b_order.json()['id']}")).status_code == 404


async def test_references_follow_a_merge_to_the_survivor(parties, world, db):
    m = await _create(parties.a, first_name="Anna", external_refs=[_ref(A, "A-M")])
    s = await _create(parties.b, first_name="Ana", external_refs=[_ref(B, "B-S")])
    merged = await parties.staff.post(f"/api/v1/customers/{s}/merge", json={"merged_id": m}, headers=idem())
    assert merged.status_code == 200, merged.text
    via_merged = await parties.a.get(f"/api/v1/customers/{m}")
    assert via_merged.status_code == 200
    assert via_merged.json()["id"] == s
    assert via_merged.headers["content-location"] == f"/api/v1/customers/{s}"
    assert via_merged.json()["external_refs"] == [_ref(A, "A-M")]
    assert (await parties.b.get(f"/api/v1/customers/{m}")).json()["id"] == s
    pushed = await _push(parties.a, _by_id("A-M-1", m))
    assert pushed.json()["customer_id"] == s
    stranger = partner_headers("shop-c", *SCOPES)
    assert (await parties.a.get(f"/api/v1/customers/{s}", headers=stranger)).status_code == 404
    assert (await parties.a.get(f"/api/v1/customers/{m}", headers=stranger)).status_code == 404


@pytest.mark.parametrize(
    ("refs", "pointer"),
    [
        ([_ref(B, "X")], "#/external_refs/0/partner"),
        ([_ref(A, "X"), _ref(B, "Y")], "#/external_refs/1/partner"),
        ([], "#/external_refs"),
    ],
    ids=["other partner", "own and other", "none"],
)
async def test_a_partner_claims_references_in_its_own_name_only(parties, db, refs, pointer):
    before = await snapshot(db)
    r = await parties.a.post("/api/v1/customers", json={"first_name": "Zoe", "external_refs": refs}, headers=idem())
    assert r.status_code == 422, r.text
    assert [e["pointer"] for e in r.json()["errors"]] == [pointer]
    assert await snapshot(db) == before
    staff = await parties.staff.post(
        "/api/v1/customers", json={"first_name": "Zoe", "external_refs": refs}, headers=idem()
    )
    assert staff.status_code == 201  # staff may record any partner's reference, or none


async def test_another_partners_company_is_an_unknown_company(parties, world, db):
    beta = await _create(parties.b, kind="company", company_name="Beta SL", external_refs=[_ref(B, "B-CO")])
    unknown = str(uuid.uuid4())
    before = await snapshot(db)
    create = [
        await parties.a.post(
            "/api/v1/customers",
            json={"first_name": "Zoe", "company_id": company, "external_refs": [_ref(A, "A-Z")]},
            headers=idem(),
        )
        for company in (beta, unknown)
    ]
    assert _normalized(create[0], {"company": beta}) == _normalized(create[1], {"company": unknown})
    assert create[0].status_code == 422
    assert create[0].json()["errors"][0]["pointer"] == "#/company_id"
    patch = [
        await parties.a.patch(
            f"/api/v1/customers/{world.ana}", json={"company_id": company}, headers={**idem(), **IF_MATCH}
        )
        for company in (beta, unknown)
    ]
    assert _normalized(patch[0], {"company": beta}) == _normalized(patch[1], {"company": unknown})
    assert patch[0].status_code == 422
    assert await snapshot(db) == before


async def test_a_customer_created_from_an_order_carries_the_partners_reference(parties, db):
    pushed = await _push(parties.a, order("A-SO-9", "A-NEW"))
    assert pushed.status_code == 201, pushed.text
    cid = pushed.json()["customer_id"]
    read = await parties.a.get(f"/api/v1/customers/{cid}")
    assert read.status_code == 200
    assert read.json()["external_refs"] == [_ref(A, "A-NEW")]
    batch = await parties.a.post("/api/v1/orders/batch", json={"orders": [order("A-SO-10", "A-NEW2")]}, headers=idem())
    assert batch.json()["created"] == 1
    found = await parties.a.get("/api/v1/customers", params={"external_id": "A-NEW2"})
    assert len(found.json()["items"]) == 1
    assert (await parties.b.get(f"/api/v1/customers/{cid}")).status_code == 404


async def test_staff_keep_full_access(parties, world):
    staff = parties.staff
    got = await staff.get(f"/api/v1/customers/{world.ana}")
    assert got.status_code == 200
    assert got.json()["external_refs"] == [_ref(A, "A-1")]
    patched = await staff.patch(
        f"/api/v1/customers/{world.ana}", json={"first_name": "Ana María"}, headers={**idem(), **IF_MATCH}
    )
    assert patched.status_code == 200, patched.text
    consent = await staff.put(
        f"/api/v1/customers/{world.ana}/consents/sms", json={"status": "opted_out", "source": "call"}, headers=idem()
    )
    assert consent.status_code == 200
    contact = await staff.patch(
        f"/api/v1/customers/{world.ana}/contacts/{world.contact}", json={"role": "PA"}, headers={**idem(), **IF_MATCH}
    )
    assert contact.status_code == 200, contact.text
    cancelled = await staff.post(f"/api/v1/orders/{world.b_order}/cancel", json={}, headers=idem())
    assert cancelled.status_code == 200, cancelled.text


async def test_partner_none_endpoints_stay_forbidden(parties, world):
    # The timeline shows every partner's orders of a customer: partners may not read it at all.
    assert (await parties.b.get(f"/api/v1/customers/{world.ana}/timeline")).status_code == 403
    assert (await parties.a.get(f"/api/v1/customers/{world.ana}/timeline")).status_code == 403
