"""Careless and hostile input to the customer service (issue 10): every case is answered with a 4xx that
names what is wrong, never a 5xx, and a bad row of a batch is rejected on its own."""

from __future__ import annotations

import base64
import hashlib
import hmac
import unicodedata
from typing import Any

import msgspec
import pytest

from crm_shared.testing import TEST_CURSOR_SECRET

from .helpers import idem, order, snapshot

HUGE_ETAG = '"' + "9" * 5000 + '"'  # int() refuses more than 4,300 digits


def _wide(text: str) -> str:
    """Full-width digits and Latin letters, as some keyboards type them."""
    return "".join(chr(ord(ch) + 0xFEE0) if ch.isascii() and ch.isalnum() else ch for ch in text)


def _errors(r: Any) -> list[dict[str, Any]]:
    assert r.headers["content-type"] == "application/problem+json", r.text
    return r.json().get("errors") or []


def _names(r: Any, key: str) -> set[str]:
    return {e.get(key) for e in _errors(r)}


async def _customer(api, **body: Any) -> dict[str, Any]:
    r = await api.post("/api/v1/customers", json={"first_name": "Ana", **body}, headers=idem())
    assert r.status_code == 201, r.text
    return r.json()


# -- finding 1: export `after` beyond int64 -------------------------------------------------------


async def test_export_after_is_bounded_to_int64(client):
    await client.post("/api/v1/orders", json=order("X-1"), headers=idem())
    r = await client.get("/api/v1/orders/export", params={"after": 2**63})
    assert r.status_code == 422, r.text
    assert _names(r, "parameter") == {"after"}
    last = await client.get("/api/v1/orders/export", params={"after": 2**63 - 1})
    assert (last.status_code, last.text) == (200, "")


# -- finding 2: `sort` made only of separators ----------------------------------------------------


@pytest.mark.parametrize("sort", [",", " ", "+", ",,,", "-", " , +"])
@pytest.mark.parametrize("url", ["/api/v1/orders", "/api/v1/customers", "/api/v1/complaints"])
async def test_sort_of_separators_only_is_422_naming_sort(api, url, sort):
    r = await api.get(url, params={"sort": sort})
    assert r.status_code == 422, r.text
    assert _names(r, "parameter") == {"sort"}


@pytest.mark.parametrize(
    ("url", "sort"),
    [("/api/v1/orders", "ordered_at,-ordered_at"), ("/api/v1/complaints", "opened_at,opened_at")],
)
async def test_a_field_sorted_twice_is_422(api, url, sort):
    r = await api.get(url, params={"sort": sort})
    assert r.status_code == 422, r.text
    assert _names(r, "parameter") == {"sort"}


# -- finding 3: NUL and control characters --------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"first_name": "An\u0000a"}, "#/first_name"),
        ({"first_name": "Ana", "address": {"line1": "Calle\u0000 1"}}, "#/address/line1"),
        ({"first_name": "Ana\u0007"}, "#/first_name"),
        ({"first_name": "Ana\u009b"}, "#/first_name"),
        ({"first_name": "Ana\nRuiz"}, "#/first_name"),  # a name is one line
        (
            {"first_name": "Ana", "external_refs": [{"partner": "p\u0000", "external_id": "1"}]},
            "#/external_refs/0/partner",
        ),
    ],
)
async def test_control_characters_in_a_body_are_422_naming_the_field(api, db, body, pointer):
    before = await snapshot(db)
    r = await api.post("/api/v1/customers", json=body, headers=idem())
    assert r.status_code == 422, r.text
    assert pointer in _names(r, "pointer")
    assert await snapshot(db) == before


async def test_a_lone_surrogate_is_422(api):
    body = b'{"first_name": "Ana \\ud800"}'
    r = await api.post("/api/v1/customers", content=body, headers={**idem(), "content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert _names(r, "pointer") == {"#/first_name"}


async def test_free_text_keeps_its_line_breaks(api):
    customer = await _customer(api)
    body = {
        "customer_id": customer["id"],
        "category": "delivery",
        "severity": "low",
        "channel": "email",
        "subject": "Late",
        "description": "First line\nsecond line\r\n\tindented",
    }
    r = await api.post("/api/v1/complaints", json=body, headers=idem())
    assert r.status_code == 201, r.text
    assert r.json()["description"] == body["description"]
    subject = await api.post("/api/v1/complaints", json={**body, "subject": "Late\nvery"}, headers=idem())
    assert subject.status_code == 422, subject.text
    assert _names(subject, "pointer") == {"#/subject"}


@pytest.mark.parametrize(
    ("url", "params", "parameter"),
    [
        ("/api/v1/customers", {"q": "An\u0000a"}, "q"),
        ("/api/v1/customers", {"external_id": "\u0001"}, "external_id"),
        ("/api/v1/orders", {"partner": "shop\u0000"}, "partner"),
        ("/api/v1/complaints", {"owner": "bo\u0000"}, "owner"),
    ],
)
async def test_control_characters_in_a_query_are_422_naming_the_parameter(api, url, params, parameter):
    r = await api.get(url, params=params)
    assert r.status_code == 422, r.text
    assert _names(r, "parameter") == {parameter}


async def test_nul_in_a_path_is_422_naming_the_parameter_and_claims_no_key(api, db):
    r = await api.get("/api/v1/orders/by-external/SO%001")
    assert r.status_code == 422, r.text
    assert _names(r, "parameter") == {"external_id"}
    before = await snapshot(db)
    patched = await api.patch("/api/v1/complaints/categories/bad%00key", json={"label": "x"}, headers=idem())
    assert patched.status_code == 422, patched.text
    assert _names(patched, "parameter") == {"key"}
    assert await snapshot(db) == before  # not even the idempotency claim (its stored path held the NUL)


async def test_a_nul_in_one_order_rejects_that_order_only(client, db):
    rows = [
        order("N-1", "C-1"),
        order("N-2", "C-2", lines=[{"sku": "TEA\u000001", "quantity": "1", "unit_price": "59.90"}]),
        order("N-3", "C-3", customer={"external_id": "C-3", "first_name": "Bo\u0000b"}),
        order("N-4\u0000", "C-4"),
        order("N-5", "C-5", customer={"external_id": "C-5", "first_name": "Eva", "last_name": "Line\nbreak"}),
        order("N-6", "C-6"),
    ]
    r = await client.post("/api/v1/orders/batch", json={"orders": rows}, headers=idem())
    assert r.status_code == 200, r.text
    out = r.json()
    assert [row["status"] for row in out["results"]] == ["created", *["rejected"] * 4, "created"]
    pointers = [row["errors"][0]["pointer"] for row in out["results"][1:5]]
    assert pointers == [
        "#/orders/1/lines/0/sku",
        "#/orders/2/customer/first_name",
        "#/orders/3/external_id",
        "#/orders/4/customer/last_name",
    ]
    assert {r["external_id"] for r in await db.fetch("SELECT external_id FROM orders")} == {"N-1", "N-6"}


async def test_a_nul_in_a_single_order_is_422(client, db):
    r = await client.post("/api/v1/orders", json=order("S-1", "C\u00001"), headers=idem())
    assert r.status_code == 422, r.text
    assert _names(r, "pointer") == {"#/customer/external_id"}
    assert await db.fetchval("SELECT count(*) FROM orders") == 0


# -- finding 4: deep nesting ----------------------------------------------------------------------


@pytest.mark.parametrize("depth", [40, 1000, 100_000])
async def test_deeply_nested_bodies_are_422(client, depth):
    nested = "[" * depth + "]" * depth
    row = f'{{"external_id": "D-1", "lines": {nested}}}'
    for url, body in (
        ("/api/v1/orders/batch", f'{{"orders": [{row}]}}'),
        ("/api/v1/orders", row),
        ("/api/v1/customers", f'{{"first_name": "Ana", "address": {nested}}}'),
    ):
        r = await client.post(url, content=body.encode(), headers={**idem(), "content-type": "application/json"})
        assert r.status_code == 422, (url, depth, r.text)
        assert "deep" in r.json()["detail"]


# -- finding 5: invalid UTF-8 ---------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/api/v1/orders", "/api/v1/orders/batch", "/api/v1/customers"])
async def test_invalid_utf8_is_400(client, db, url):
    row = msgspec.json.encode(order("U-1", "C-1")).replace(b"Ruiz", b"Ru\xffiz")
    body = row if url == "/api/v1/orders" else b'{"orders": [' + row + b"]}"
    if url == "/api/v1/customers":
        body = b'{"first_name": "Ru\xc3\x28iz"}'
    r = await client.post(url, content=body, headers={**idem(), "content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert "UTF-8" in r.json()["detail"]
    assert await db.fetchval("SELECT count(*) FROM orders") == 0


# -- Content-Type and body size --------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/xml"])
async def test_order_bodies_need_a_json_content_type(client, db, content_type):
    headers = {**idem(), **({"content-type": content_type} if content_type else {})}
    body = msgspec.json.encode(order("CT-1"))
    for url, content in (("/api/v1/orders", body), ("/api/v1/orders/batch", b'{"orders": [' + body + b"]}")):
        r = await client.post(url, content=content, headers=headers)
        assert r.status_code == 415, (url, content_type, r.text)
        assert _names(r, "header") == {"Content-Type"}
    assert await db.fetchval("SELECT count(*) FROM orders") == 0
    ok = await client.post(
        "/api/v1/orders", content=body, headers={**idem(), "content-type": "application/json; charset=utf-8"}
    )
    assert ok.status_code == 201, ok.text


async def test_a_body_over_the_limit_is_413(settings):
    from crm_customer.main import create_app
    from crm_shared.testing import app_client, partner_headers

    small = settings.model_copy(update={"max_body_bytes": 4096})
    headers = {**partner_headers("shop-1", "orders:write"), "content-type": "application/json"}
    async with app_client(create_app(small), headers=headers) as c:
        rows = [order(f"L-{i}", "C-1") for i in range(20)]
        body = msgspec.json.encode({"orders": rows})
        r = await c.post("/api/v1/orders/batch", content=body, headers=idem())
        assert r.status_code == 413, r.text
        assert r.headers["content-type"] == "application/problem+json"

        async def chunks():  # no Content-Length: counted as it arrives
            for i in range(0, len(body), 1000):
                yield body[i : i + 1000]

        streamed = await c.post("/api/v1/orders/batch", content=chunks(), headers=idem())
        assert streamed.status_code == 413, streamed.text
        fits = await c.post("/api/v1/orders", json=order("L-ok", "C-1"), headers=idem())
        assert fits.status_code == 201, fits.text


# -- finding 6: cursors with a valid signature but a malformed payload ------------------------------


def _resigned(cursor: str, payload: bytes) -> str:
    """`cursor`'s filter binding kept, its payload replaced, signed with the service's secret."""
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    digest = msgspec.json.decode(raw[:-12])["f"]
    payload = payload.replace(b"$F", digest.encode())
    mac = hmac.new(TEST_CURSOR_SECRET.encode(), payload, hashlib.sha256).digest()[:12]
    return base64.urlsafe_b64encode(payload + mac).decode().rstrip("=")


BAD_PAYLOADS = [
    b'{"p": ["not a time", "x"], "f": "$F"}',
    b'{"p": [1, 2], "f": "$F"}',
    b'{"p": ["2026-01-01T00:00:00+00:00"], "f": "$F"}',
    b'{"p": ["0001-01-01T00:30:00+01:00", "8b6f7c4e-1d8a-4c1e-9a7e-2b4a3f5d6c7b"], "f": "$F"}',
    b'{"p": "2026", "f": "$F"}',
    b'{"f": "$F"}',
    b'["$F"]',
    b"\xff\xfe not json",
]


@pytest.mark.parametrize("payload", BAD_PAYLOADS)
async def test_a_signed_but_malformed_cursor_is_400_naming_cursor(api, payload):
    for i in range(3):
        await api.post("/api/v1/orders", json=order(f"CU-{i}", "C-1"), headers=idem())
        customer = await _customer(api, first_name=f"Cu{i}")
        complaint = {"customer_id": customer["id"], "category": "delivery", "severity": "low", "channel": "email"}
        await api.post("/api/v1/complaints", json={**complaint, "subject": "Late"}, headers=idem())
    for url, params in (("/api/v1/orders", {}), ("/api/v1/customers", {}), ("/api/v1/complaints", {})):
        page = (await api.get(url, params={**params, "limit": 1})).json()
        r = await api.get(url, params={**params, "limit": 1, "cursor": _resigned(page["next_cursor"], payload)})
        assert r.status_code == 400, (url, r.text)
        assert _names(r, "parameter") == {"cursor"}


# -- finding 7: If-Match with thousands of digits ---------------------------------------------------


@pytest.mark.parametrize("tag", [HUGE_ETAG, '"²"'.encode("latin-1"), '"99999999999999999999"', '"-1"', '"1 "'])
async def test_if_match_that_is_not_one_of_our_etags_is_412(api, db, tag):
    a = await _customer(api)
    b = await _customer(api, first_name="Bea")
    complaint = await api.post(
        "/api/v1/complaints",
        json={"customer_id": a["id"], "category": "delivery", "severity": "low", "channel": "email", "subject": "Late"},
        headers=idem(),
    )
    assert complaint.status_code == 201, complaint.text
    contact = await api.post(
        f"/api/v1/customers/{a['id']}/contacts", json={"first_name": "Li", "relation": "employee"}, headers=idem()
    )
    assert contact.status_code == 201, contact.text
    customer_url, complaint_url = f"/api/v1/customers/{a['id']}", f"/api/v1/complaints/{complaint.json()['id']}"
    contact_url = f"{customer_url}/contacts/{contact.json()['id']}"
    before = await snapshot(db)
    calls = [
        ("PATCH", customer_url, {"last_name": "X"}),
        ("PATCH", contact_url, {"role": "x"}),
        ("DELETE", contact_url, None),
        ("PATCH", complaint_url, {"owner": "bo"}),
        ("POST", f"{complaint_url}/transitions", {"action": "start"}),
        ("PUT", f"{customer_url}/contact-preferences", {"max_contacts_per_month": 2}),
        ("POST", f"{customer_url}/merge", {"merged_id": b["id"]}),
    ]
    for method, url, body in calls:
        r = await api.request(method, url, json=body, headers={**idem(), "If-Match": tag})
        assert r.status_code == 412, (method, url, r.text)
    assert await snapshot(db) == before


# -- finding 8: complaint reports far in the future or past ----------------------------------------


@pytest.mark.parametrize("report", ["daily", "first-contact-resolution"])
@pytest.mark.parametrize(
    ("params", "parameter"),
    [({"to": "9999-12-31"}, "to"), ({"from": "0001-01-01", "to": "0001-01-30"}, "from"), ({"to": "2201-01-01"}, "to")],
)
async def test_complaint_reports_refuse_days_out_of_range(api, report, params, parameter):
    r = await api.get(f"/api/v1/complaints/reports/{report}", params=params)
    assert r.status_code == 422, r.text
    assert parameter in _names(r, "parameter")


# -- finding 9 and every other date input: one accepted range ---------------------------------------


@pytest.mark.parametrize(
    "ordered_at", ["0001-01-01T00:30:00+01:00", "0001-01-01T00:00:00Z", "1899-12-31T23:59:59Z", "2026-11-20T10:15:00"]
)
async def test_ordered_at_out_of_range_rejects_that_row_only(client, db, ordered_at):
    rows = [order("T-1", "C-1"), order("T-2", "C-2", ordered_at=ordered_at), order("T-3", "C-3")]
    r = await client.post("/api/v1/orders/batch", json={"orders": rows}, headers=idem())
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [row["status"] for row in results] == ["created", "rejected", "created"]
    assert results[1]["errors"][0]["pointer"] == "#/orders/1/ordered_at"
    single = await client.post("/api/v1/orders", json=order("T-4", ordered_at=ordered_at), headers=idem())
    assert single.status_code == 422, single.text
    assert _names(single, "pointer") == {"#/ordered_at"}
    assert await db.fetchval("SELECT min(ordered_at) FROM orders") is not None
    assert await db.fetchval("SELECT count(*) FROM orders WHERE ordered_at < '1900-01-01'") == 0


async def test_the_earliest_accepted_ordered_at_reads_back_in_utc(client):
    r = await client.post("/api/v1/orders", json=order("T-5", ordered_at="1900-01-01T01:00:00+01:00"), headers=idem())
    assert r.status_code == 201, r.text
    assert r.json()["ordered_at"] == "1900-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("url", "params", "parameter"),
    [
        ("/api/v1/orders", {"ordered_from": "0001-01-01T00:30:00+01:00"}, "ordered_from"),
        ("/api/v1/orders", {"ordered_to": "9999-12-31T23:59:59Z"}, "ordered_to"),
        ("/api/v1/orders/export", {"updated_since": "0001-01-01T00:00:00Z"}, "updated_since"),
        ("/api/v1/customers", {"created_from": "0001-01-01T00:30:00+01:00"}, "created_from"),
        ("/api/v1/customers", {"created_to": "2026-01-01T00:00:00"}, "created_to"),  # no offset: which day?
        ("/api/v1/complaints", {"opened_from": "0001-01-01T00:00:00Z"}, "opened_from"),
        ("/api/v1/customers/referrals/top", {"from": "0001-01-01T00:30:00+01:00"}, "from"),
    ],
)
async def test_date_filters_out_of_range_are_422(api, url, params, parameter):
    r = await api.get(url, params=params)
    assert r.status_code == 422, r.text
    assert _names(r, "parameter") == {parameter}


async def test_dates_in_bodies_out_of_range_are_422(api):
    customer = await _customer(api)
    r = await api.post(
        f"/api/v1/customers/{customer['id']}/interactions",
        json={"channel": "call", "direction": "inbound", "occurred_at": "0001-01-01T00:30:00+01:00"},
        headers=idem(),
    )
    assert r.status_code == 422, r.text
    assert "#/occurred_at" in _names(r, "pointer")


# -- amounts and quantities ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("over", "pointer"),
    [
        ({"amount": "1_000"}, "amount"),
        ({"amount": " 5 "}, "amount"),
        ({"amount": "\u0665"}, "amount"),  # Arabic-Indic five
        ({"amount": "\uff15"}, "amount"),  # full-width five
        ({"amount": "5e2"}, "amount"),
        ({"amount": "NaN"}, "amount"),
        ({"amount": "1000000000"}, "amount"),  # the scoring service's columns hold what is accepted
        ({"lines": [{"sku": "A", "quantity": "RAW:1e309", "unit_price": "1"}]}, "lines/0/quantity"),
        ({"lines": [{"sku": "A", "quantity": "RAW:1e400", "unit_price": "1"}]}, "lines/0/quantity"),
        ({"lines": [{"sku": "A", "quantity": "1e400", "unit_price": "1"}]}, "lines/0/quantity"),
        ({"lines": [{"sku": "A", "quantity": "1", "unit_price": "1_0"}]}, "lines/0/unit_price"),
    ],
)
async def test_amounts_are_plain_decimals_in_range(client, db, over, pointer):
    body = msgspec.json.encode(order("A-1", **over))
    body = body.replace(b'"RAW:1e309"', b"1e309").replace(b'"RAW:1e400"', b"1e400")  # numbers beyond a float
    r = await client.post("/api/v1/orders", content=body, headers={**idem(), "content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert _names(r, "pointer") == {f"#/{pointer}"}
    batch_body = b'{"orders": [' + msgspec.json.encode(order("A-0")) + b"," + body + b"]}"
    batch = await client.post(
        "/api/v1/orders/batch", content=batch_body, headers={**idem(), "content-type": "application/json"}
    )
    assert [row["status"] for row in batch.json()["results"]] == ["created", "rejected"]
    assert await db.fetchval("SELECT count(*) FROM orders") == 1


async def test_plain_amounts_and_numbers_are_accepted(client, db):
    for i, amount in enumerate(["12.50", "0", "999999999.9999", 12.5, 7]):
        r = await client.post("/api/v1/orders", json=order(f"P-{i}", amount=amount), headers=idem())
        assert r.status_code == 201, (amount, r.text)
    assert str(await db.fetchval("SELECT amount FROM orders WHERE external_id = 'P-2'")) == "999999999.9999"


@pytest.mark.parametrize("budget", ["1_000", " 5 ", "\u0665", "1000000000", "1e3"])
async def test_customer_money_fields_are_plain_decimals_in_range(api, budget):
    r = await api.post("/api/v1/customers", json={"first_name": "Ana", "declared_budget": budget}, headers=idem())
    assert r.status_code == 422, r.text
    assert _names(r, "pointer") == {"#/declared_budget"}


# -- emails and phones -----------------------------------------------------------------------------


async def test_email_spellings_of_one_address_are_one_customer(api):
    nfc = unicodedata.normalize("NFC", "José@Example.com")
    nfd = unicodedata.normalize("NFD", "José@Example.com")
    assert nfc != nfd
    a = await _customer(api, email=nfc)
    b = await _customer(api, first_name="Pepe", email=nfd)
    c = await _customer(api, first_name="Jo", email=_wide("JOSÉ") + "@example.com")  # full-width letters
    assert a["email"] == b["email"] == c["email"] == "josé@example.com"
    groups = (await api.get("/api/v1/customers/duplicates", params={"reason": "email"})).json()["items"]
    assert len(groups) == 1
    assert sorted(m["id"] for m in groups[0]["customers"]) == sorted([a["id"], b["id"], c["id"]])
    found = (await api.get("/api/v1/customers", params={"email": nfd.upper()})).json()["items"]
    assert len(found) == 3


@pytest.mark.parametrize(
    "phone",
    [
        "+34 600 12 34 56",
        "0034600123456",
        "+34 ⁶⁰⁰ ¹²³ ⁴⁵⁶",
        _wide("+34 600 123 456"),
        "+\u0663\u0664\u0666\u0660\u0660123456",
    ],
)
async def test_phone_spellings_are_stored_in_e164(api, phone):
    c = await _customer(api, phone=phone)
    assert c["phone"] == "+34600123456"
    found = (await api.get("/api/v1/customers", params={"phone": phone})).json()["items"]
    assert [x["id"] for x in found] == [c["id"]]


@pytest.mark.parametrize("phone", ["12", "+3460", "+34 600 12 34 56 78 90", "600123456", "+1 000"])
async def test_phones_that_are_not_numbers_are_422(api, phone):
    r = await api.post("/api/v1/customers", json={"first_name": "Ana", "phone": phone}, headers=idem())
    assert r.status_code == 422, r.text
    assert _names(r, "pointer") == {"#/phone"}


async def test_a_national_phone_takes_the_address_country(api, client):
    c = await _customer(api, phone="600 123 456", address={"country": "ES"})
    assert c["phone"] == "+34600123456"
    rows = [order("PH-1", customer={"external_id": "C-9", "first_name": "Eva", "phone": "030 1234567",
                                    "address": {"country": "DE"}})]  # fmt: skip
    r = await client.post("/api/v1/orders/batch", json={"orders": rows}, headers=idem())
    assert r.json()["created"] == 1, r.text
    found = (await client.get("/api/v1/customers", params={"partner": "shop-1", "external_id": "C-9"})).json()
    assert found["items"][0]["phone"] == "+49301234567"


async def test_duplicate_phones_found_whatever_the_spelling(api):
    a = await _customer(api, phone="+34 600 11 22 33")
    b = await _customer(api, first_name="Bea", phone=_wide("+34600112233"))
    groups = (await api.get("/api/v1/customers/duplicates", params={"reason": "phone"})).json()["items"]
    assert [g["key"] for g in groups] == ["+34600112233"]
    assert sorted(m["id"] for m in groups[0]["customers"]) == sorted([a["id"], b["id"]])


# -- the OpenAPI says what the API requires ----------------------------------------------------------


async def test_every_write_requires_an_idempotency_key_in_the_openapi(api):
    spec = (await api.get("/openapi.json")).json()
    writes = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method not in ("post", "put", "patch", "delete") or not path.startswith("/api/"):
                continue
            writes += 1
            (header,) = [p for p in operation.get("parameters", []) if p["name"] == "Idempotency-Key"]
            assert header["in"] == "header"
            assert header["required"] is True, (method, path)
            assert header["schema"]["type"] == "string"
    assert writes > 20


async def test_missing_idempotency_key_is_still_a_problem_naming_the_header(api):
    r = await api.post("/api/v1/customers", json={"first_name": "Ana"})
    assert r.status_code == 400
    assert _names(r, "header") == {"Idempotency-Key"}


@pytest.mark.parametrize("key", [b"a\x00b", b"k\x7f", "ключ".encode()])
async def test_idempotency_keys_are_printable_ascii(api, db, key):
    r = await api.post("/api/v1/customers", json={"first_name": "Ana"}, headers={"Idempotency-Key": key})
    assert r.status_code == 400, r.text
    assert _names(r, "header") == {"Idempotency-Key"}
    assert await db.fetchval("SELECT count(*) FROM idempotency_keys") == 0
