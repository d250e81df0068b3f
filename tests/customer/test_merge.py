"""Merging two customers: everything moves to the survivor in one transaction, refused merges change
nothing, merged ids keep resolving."""

import asyncio
import uuid

import pytest

from crm_customer.customers.repository import resolve_customer_ids
from crm_shared.embedded_pg import asyncpg_dsn
from crm_shared.testing import partner_headers, user_headers

from .helpers import idem, order, outbox_events, snapshot


@pytest.fixture
async def client(api):
    """These are staff features (partners may not use them): the tests call as a staff user."""
    return api


STAFF = user_headers("u1", "customers:read", "customers:write", "pii:read")


async def _customer(client, **body):
    r = await client.post("/api/v1/customers", json={"first_name": "Ana", **body}, headers=idem())
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _merge(client, survivor, merged, **headers):
    return await client.post(
        f"/api/v1/customers/{survivor}/merge", json={"merged_id": merged}, headers={**idem(), **headers}
    )


async def _order_for(client, cid, ext):
    body = order(ext, customer_id=cid)
    del body["customer"]
    r = await client.post("/api/v1/orders", json=body, headers=idem())
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _seed(client, db):
    """A survivor and a customer to fold into it, each with some of everything."""
    s = await _customer(client, last_name="Ruiz", email="ana@example.com")
    m = await _customer(
        client,
        first_name="Anna",
        last_name="Ruiz",
        email="anna.r@example.com",
        phone="+34600111222",
        address={"city": "Sevilla", "country": "ES"},
        external_refs=[{"partner": "shop-1", "external_id": "C-M"}],
    )
    x = await _customer(client, first_name="Xavi")
    y = await _customer(client, first_name="Yolanda")
    S, M, X, Y = (uuid.UUID(i) for i in (s, m, x, y))
    await _order_for(client, s, "SO-S")
    await _order_for(client, m, "SO-M1")
    await _order_for(client, m, "SO-M2")
    await db.execute("INSERT INTO contacts (customer_id, first_name, relation) VALUES ($1, 'Eva', 'family_member')", M)
    await db.execute(
        "INSERT INTO complaints (customer_id, category_key, severity, channel, subject, due_at) "
        "VALUES ($1, 'service', 'low', 'email', 'Rude staff', now() + interval '7 days')",
        M,
    )
    await db.execute("INSERT INTO profile_answers (customer_id, question_key, answer) VALUES ($1, 'pets', 'cat')", M)
    await client.post(
        f"/api/v1/customers/{m}/interactions",
        json={"channel": "visit", "direction": "inbound", "occurred_at": "2026-01-05T10:00:00Z"},
        headers=idem(),
    )
    await client.put(
        f"/api/v1/customers/{s}/consents/email", json={"status": "opted_in", "source": "web"}, headers=idem()
    )
    await client.put(
        f"/api/v1/customers/{m}/consents/email", json={"status": "opted_out", "source": "link"}, headers=idem()
    )
    await client.put(
        f"/api/v1/customers/{m}/consents/sms", json={"status": "opted_in", "source": "shop"}, headers=idem()
    )
    await client.put(
        f"/api/v1/customers/{s}/consents/mail", json={"status": "opted_in", "source": "web"}, headers=idem()
    )
    await client.put(
        f"/api/v1/customers/{m}/consents/mail", json={"status": "opted_out", "source": "old"}, headers=idem()
    )
    await db.execute(  # the survivor's mail opt-in is the most recent, yet the merged opt-out must win
        "UPDATE consents SET updated_at = now() - interval '1 day' WHERE customer_id = $1 AND channel = 'mail'", M
    )
    await db.execute(  # M referred X (moves as referrer); Y referred M (moves: S was referred by nobody)
        "INSERT INTO referrals (referrer_id, referred_id, referred_at) VALUES ($1, $2, now()), ($3, $1, now())",
        M,
        X,
        Y,
    )
    await db.execute(
        "INSERT INTO customer_tags (customer_id, tag_key) VALUES ($1, 'member'), ($2, 'member'), ($2, 'loyal')", S, M
    )
    return s, m, x, y


async def test_merge_moves_everything_and_emits(client, db):
    s, m, x, y = await _seed(client, db)
    S, M, X, Y = (uuid.UUID(i) for i in (s, m, x, y))
    r = await _merge(client, s, m, **STAFF, **{"If-Match": '"1"'})
    assert r.status_code == 200, r.text
    body = r.json()
    survivor = body["survivor"]
    assert survivor["id"] == s
    assert survivor["version"] == 2
    assert r.headers["etag"] == '"2"'
    assert survivor["email"] == "ana@example.com"  # kept
    assert survivor["phone"] == "+34600111222"  # filled
    assert survivor["address"] == {**survivor["address"], "city": "Sevilla"}
    assert sorted(body["filled"]) == ["address", "phone"]
    assert {(r["partner"], r["external_id"]) for r in survivor["external_refs"]} == {("shop-1", "C-M")}
    for table in ("orders", "contacts", "complaints", "interactions", "profile_answers", "consent_records"):
        assert await db.fetchval(f"SELECT count(*) FROM {table} WHERE customer_id = $1", M) == 0, table
    assert await db.fetchval("SELECT count(*) FROM orders WHERE customer_id = $1", S) == 3
    assert body["moved"] == {
        **body["moved"],
        "orders": 2,
        "contacts": 1,
        "complaints": 1,
        "interactions": 1,
        "profile_answers": 1,
        "consent_records": 3,
        "customer_refs": 1,
        "referrals": 2,
        "referrals_dropped": 0,
        "customer_tags": 1,
    }
    referrals = {(r["referrer_id"], r["referred_id"]) for r in await db.fetch("SELECT * FROM referrals")}
    assert referrals == {(S, X), (Y, S)}
    tags = {r["tag_key"] for r in await db.fetch("SELECT tag_key FROM customer_tags WHERE customer_id = $1", S)}
    assert tags == {"member", "loyal"}
    assert await db.fetchval("SELECT count(*) FROM customer_tags WHERE customer_id = $1", M) == 0
    consents = {r["channel"]: r["status"] for r in await db.fetch("SELECT * FROM consents WHERE customer_id = $1", S)}
    assert consents == {"email": "opted_out", "sms": "opted_in", "mail": "opted_out"}  # the stricter state
    assert await db.fetchval("SELECT count(*) FROM consents WHERE customer_id = $1", M) == 0
    merged = await db.fetchrow("SELECT merged_into, merged_at, version FROM customers WHERE id = $1", M)
    assert merged["merged_into"] == S
    assert merged["merged_at"] is not None
    record = await db.fetchrow("SELECT * FROM customer_merges")
    assert (record["merged_id"], record["survivor_id"], record["merged_by"]) == (M, S, "u1")
    events = await outbox_events(db)
    (merged_event,) = [e for e in events if e["type"] == "customer.merged"]
    assert merged_event["subject"] == s
    assert merged_event["data"]["survivor_id"] == s
    assert merged_event["data"]["merged_id"] == m
    assert merged_event["data"]["moved"]["orders"] == 2
    updated = [e for e in events if e["type"] == "customer.updated" and e["subject"] == s]
    assert sorted(updated[-1]["data"]["changed"]) == ["address", "phone"]
    consent_events = [e for e in events if e["type"] == "consent.changed" and e["subject"] == s]
    assert {(e["data"]["channel"], e["data"]["previous_status"], e["data"]["status"]) for e in consent_events[-3:]} == {
        ("email", "opted_in", "opted_out"),
        ("sms", None, "opted_in"),
        ("mail", "opted_in", "opted_out"),
    }


async def test_referrals_that_cannot_move_are_dropped(client, db):
    s, m, x, y, z = [await _customer(client, first_name=n) for n in ("S", "M", "X", "Y", "Z")]
    S, M, X, Y, Z = (uuid.UUID(i) for i in (s, m, x, y, z))
    await db.execute(
        "INSERT INTO referrals (referrer_id, referred_id, referred_at) "
        "VALUES ($1, $2, now()), ($3, $1, now()), ($4, $5, now())",
        S,
        M,
        X,
        M,
        Z,
    )  # S referred M (would become self-referral), X referred S, M referred Z
    r = await _merge(client, s, m)
    assert r.status_code == 200, r.text
    assert (r.json()["moved"]["referrals"], r.json()["moved"]["referrals_dropped"]) == (1, 1)
    referrals = {(r["referrer_id"], r["referred_id"]) for r in await db.fetch("SELECT * FROM referrals")}
    assert referrals == {(X, S), (S, Z)}
    # The survivor already has its referrer: the merged customer's own referral is dropped.
    n = await _customer(client, first_name="N")
    await db.execute(
        "INSERT INTO referrals (referrer_id, referred_id, referred_at) VALUES ($1, $2, now())", Y, uuid.UUID(n)
    )
    r = await _merge(client, s, n)
    assert (r.json()["moved"]["referrals"], r.json()["moved"]["referrals_dropped"]) == (0, 1)
    assert await db.fetchval("SELECT referrer_id FROM referrals WHERE referred_id = $1", S) == X


async def test_merged_id_keeps_resolving(client, db):
    s, m, *_ = await _seed(client, db)
    await _merge(client, s, m)
    r = await client.get(f"/api/v1/customers/{m}")
    assert r.status_code == 200
    assert r.json()["id"] == s
    assert r.headers["etag"] == '"2"'
    # Partner references moved: an order for the merged customer's reference lands on the survivor.
    shop = partner_headers("shop-1", "orders:write", "orders:read")
    pushed = await client.post("/api/v1/orders", json=order("SO-NEW", "C-M", details=False), headers={**idem(), **shop})
    assert pushed.json()["customer_id"] == s
    # Sub-resources of a merged id show the survivor's data.
    timeline = (await client.get(f"/api/v1/customers/{m}/timeline", params={"kinds": "order_created"})).json()
    assert len(timeline["items"]) == 4
    consents = (await client.get(f"/api/v1/customers/{m}/consents")).json()
    assert consents["customer_id"] == s
    logged = await client.post(
        f"/api/v1/customers/{m}/interactions",
        json={"channel": "sms", "direction": "outbound", "occurred_at": "2026-02-01T10:00:00Z"},
        headers=idem(),
    )
    assert logged.json()["customer_id"] == s


async def test_merged_id_answers_with_content_location(client, db):
    s, m, *_ = await _seed(client, db)
    await _merge(client, s, m)
    r = await client.get(f"/api/v1/customers/{m}")
    assert r.headers["content-location"] == f"/api/v1/customers/{s}"


async def test_resolve_customer_ids_for_order_ingest(client, db, db_url):
    import asyncpg

    s, m, x, _ = await _seed(client, db)
    await _merge(client, s, m)
    unknown = uuid.uuid4()
    conn = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        async with conn.transaction():
            mapping = await resolve_customer_ids(conn, [uuid.UUID(m), uuid.UUID(x), unknown])
    finally:
        await conn.close()
    assert mapping == {uuid.UUID(m): uuid.UUID(s), uuid.UUID(x): uuid.UUID(x)}


async def test_chained_merges_resolve_to_the_last_survivor(client, db):
    a = await _customer(client, first_name="A")
    b = await _customer(client, first_name="B")
    c = await _customer(client, first_name="C")
    assert (await _merge(client, b, a)).status_code == 200
    r = await _merge(client, c, b)
    assert r.status_code == 200
    assert r.json()["moved"]["earlier_merges"] == 1
    assert (await client.get(f"/api/v1/customers/{a}")).json()["id"] == c
    assert await db.fetchval("SELECT merged_into FROM customers WHERE id = $1", uuid.UUID(a)) == uuid.UUID(c)


async def test_company_members_follow_a_company_merge(client, db):
    acme = await _customer(client, kind="company", company_name="Acme SL")
    acme2 = await _customer(client, kind="company", company_name="ACME S.L.")
    member = await _customer(client, first_name="Li")
    await db.execute("UPDATE customers SET company_id = $1 WHERE id = $2", uuid.UUID(acme2), uuid.UUID(member))
    r = await _merge(client, acme, acme2)
    assert r.status_code == 200, r.text
    assert r.json()["moved"]["company_members"] == 1
    assert await db.fetchval("SELECT company_id FROM customers WHERE id = $1", uuid.UUID(member)) == uuid.UUID(acme)


@pytest.mark.parametrize("case", ["self", "unknown_merged", "bad_body", "extra_field"])
async def test_invalid_merge_request_is_422_and_changes_nothing(client, db, case):
    s = await _customer(client)
    before = await snapshot(db)
    body = {
        "self": {"merged_id": s},
        "unknown_merged": {"merged_id": str(uuid.uuid4())},
        "bad_body": {"merged_id": "nope"},
        "extra_field": {"merged_id": str(uuid.uuid4()), "keep": "all"},
    }[case]
    r = await client.post(f"/api/v1/customers/{s}/merge", json=body, headers=idem())
    assert r.status_code == 422, r.text
    pointer = "#/keep" if case == "extra_field" else "#/merged_id"
    assert any(e.get("pointer") == pointer for e in r.json()["errors"]), r.json()
    assert await snapshot(db) == before


async def test_refused_merges_change_nothing(client, db):
    s, m, *_ = await _seed(client, db)
    company = await _customer(client, kind="company", company_name="Acme SL")
    other = await _customer(client, first_name="Other")
    await _merge(client, other, await _customer(client, first_name="Gone"))
    gone = str(await db.fetchval("SELECT id FROM customers WHERE merged_into IS NOT NULL"))
    before = await snapshot(db)

    unknown_survivor = await _merge(client, str(uuid.uuid4()), m)
    assert unknown_survivor.status_code == 404
    kinds = await _merge(client, s, company)
    assert kinds.status_code == 409
    assert kinds.json()["reason"] == "kind_mismatch"
    into_merged = await _merge(client, gone, m)
    assert into_merged.status_code == 409
    assert into_merged.json()["reason"] == "already_merged"
    of_merged = await _merge(client, s, gone)
    assert of_merged.status_code == 409
    assert of_merged.json()["merged_into"] == other
    stale = await _merge(client, s, m, **{"If-Match": '"9"'})
    assert stale.status_code == 412
    reader = user_headers("u2", "customers:read")
    assert (await _merge(client, s, m, **reader)).status_code == 403
    no_key = await client.post(f"/api/v1/customers/{s}/merge", json={"merged_id": m})
    assert no_key.status_code == 400
    assert await snapshot(db) == before


async def test_merge_replay_with_same_key(client, db):
    s = await _customer(client)
    m = await _customer(client, first_name="Bo")
    key = idem()
    first = await client.post(f"/api/v1/customers/{s}/merge", json={"merged_id": m}, headers=key)
    again = await client.post(f"/api/v1/customers/{s}/merge", json={"merged_id": m}, headers=key)
    assert first.status_code == again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert await db.fetchval("SELECT count(*) FROM customer_merges") == 1


async def test_racing_merges_of_one_pair_do_not_deadlock(client, db):
    for _ in range(3):
        a = await _customer(client, first_name="A")
        b = await _customer(client, first_name="B")
        results = await asyncio.gather(_merge(client, a, b), _merge(client, b, a))
        assert sorted(r.status_code for r in results) == [200, 409], [r.text for r in results]
        assert (
            await db.fetchval(
                "SELECT count(*) FROM customers WHERE id = ANY($1::uuid[]) AND merged_into IS NOT NULL",
                [uuid.UUID(a), uuid.UUID(b)],
            )
            == 1
        )


async def test_orders_pushed_with_a_merged_id_land_on_the_survivor(client, db):
    s, m, *_ = await _seed(client, db)
    await _merge(client, s, m)
    body = order("SO-AFTER", customer_id=m)
    del body["customer"]
    one = await client.post("/api/v1/orders", json=body, headers=idem())
    assert one.status_code == 201, one.text
    assert one.json()["customer_id"] == s
    batch = await client.post(
        "/api/v1/orders/batch", json={"orders": [{**body, "external_id": "SO-B"}]}, headers=idem()
    )
    assert batch.json()["created"] == 1
    assert await db.fetchval("SELECT count(*) FROM orders WHERE customer_id = $1", uuid.UUID(m)) == 0


async def test_merged_customers_leave_the_default_list(client, db):
    s, m, *_ = await _seed(client, db)
    await _merge(client, s, m)
    ids = {c["id"] for c in (await client.get("/api/v1/customers", params={"limit": 100})).json()["items"]}
    assert s in ids
    assert m not in ids
    every = (await client.get("/api/v1/customers", params={"limit": 100, "include_merged": "true"})).json()
    merged = [c for c in every["items"] if c["id"] == m]
    assert merged[0]["merged_into"] == s


async def _consent(client, cid, channel, status, source):
    r = await client.put(
        f"/api/v1/customers/{cid}/consents/{channel}", json={"status": status, "source": source}, headers=idem()
    )
    assert r.status_code == 200, r.text


async def _age_consents(db, cid, interval):
    """Move a customer's consent (current state and history) into the past, to order the two customers."""
    await db.execute(f"UPDATE consents SET updated_at = updated_at - interval '{interval}' WHERE customer_id = $1", cid)
    await db.execute(
        f"UPDATE consent_records SET recorded_at = recorded_at - interval '{interval}' WHERE customer_id = $1", cid
    )


async def test_an_opt_out_survives_a_merge_with_a_later_opt_in(client, db):
    # The issue's case: the survivor opted out of email long ago, the merged record opted in later.
    s, m = await _customer(client), await _customer(client, first_name="Anna")
    S, M = uuid.UUID(s), uuid.UUID(m)
    await _consent(client, s, "email", "opted_in", "web form")
    await _consent(client, s, "email", "opted_out", "unsubscribe link")
    await _age_consents(db, S, "30 days")
    await _consent(client, m, "email", "opted_in", "shop checkout")
    events_before = len(await outbox_events(db))
    r = await _merge(client, s, m)
    assert r.status_code == 200, r.text
    current = await db.fetchrow("SELECT status, source FROM consents WHERE customer_id = $1 AND channel = 'email'", S)
    assert tuple(current) == ("opted_out", "unsubscribe link")
    assert await db.fetchval("SELECT count(*) FROM consents WHERE customer_id = $1", M) == 0
    # The history of both customers is kept, on the survivor.
    history = await db.fetch(
        "SELECT status, source FROM consent_records WHERE customer_id = $1 ORDER BY recorded_at", S
    )
    assert [tuple(h) for h in history] == [
        ("opted_in", "web form"),
        ("opted_out", "unsubscribe link"),
        ("opted_in", "shop checkout"),
    ]
    # The survivor's state did not change: no consent.changed for it.
    events = (await outbox_events(db))[events_before:]
    assert [e for e in events if e["type"] == "consent.changed"] == []
    overview = (await client.get(f"/api/v1/customers/{m}/consents")).json()
    assert overview["customer_id"] == s
    assert {c["channel"]: c["status"] for c in overview["consents"]}["email"] == "opted_out"


async def test_the_merged_customers_earlier_opt_out_wins_and_is_announced(client, db):
    s, m = await _customer(client), await _customer(client, first_name="Anna")
    S = uuid.UUID(s)
    await _consent(client, m, "sms", "opted_out", "call centre")
    await _age_consents(db, uuid.UUID(m), "1 year")
    await _consent(client, s, "sms", "opted_in", "web form")
    await _consent(client, s, "mail", "opted_out", "letter")
    await _consent(client, m, "mail", "opted_out", "newer letter")  # equal states: the more recent one stays
    r = await _merge(client, s, m)
    assert r.status_code == 200, r.text
    rows = await db.fetch("SELECT channel, status, source FROM consents WHERE customer_id = $1 ORDER BY channel", S)
    assert [tuple(x) for x in rows] == [("mail", "opted_out", "newer letter"), ("sms", "opted_out", "call centre")]
    changed = [e for e in await outbox_events(db) if e["type"] == "consent.changed" and e["subject"] == s]
    (event,) = [e for e in changed if e["data"]["channel"] == "sms" and e["data"]["previous_status"] is not None]
    assert (event["data"]["previous_status"], event["data"]["status"]) == ("opted_in", "opted_out")
    assert event["data"]["source"] == "call centre"
    assert not [e for e in changed if e["data"]["channel"] == "mail" and e["data"]["previous_status"] is not None]
