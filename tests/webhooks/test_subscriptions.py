"""Subscriptions on real PostgreSQL: validation (every refusal a 4xx problem naming the field, changing
nothing), the secret shown once, If-Match, pause/resume, rotation, and who may see and change what."""

from typing import Any

import asyncpg
import httpx

from crm_webhooks.catalogue import PARTNER_TYPES, PII_TYPES, SUBSCRIBABLE
from crm_webhooks.config import Settings
from tests.webhooks.conftest import (
    ADMIN,
    INTEGRATION,
    OTHER_PARTNER_HEADERS,
    PARTNER_HEADERS,
    RECEIVER,
    subscribe,
    write,
)

SUBS = "/api/v1/webhooks/subscriptions"


async def _refused(
    api: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str] | None = None
) -> dict[str, Any]:
    r = await api.post(SUBS, json=body, headers={**(headers or {}), **write(f"bad-{id(body)}")})
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = r.json()
    return problem


def _pointers(problem: dict[str, Any]) -> list[str]:
    return [e.get("pointer") for e in problem.get("errors", [])]


async def test_create_returns_the_secret_once_and_reads_never(
    api: httpx.AsyncClient, db: asyncpg.Connection, settings: Settings
) -> None:
    created = await subscribe(
        api, event_types=["lifecycle.changed", "order.*"], filters={"to_stage": "decline"}, description="CDP sync"
    )
    assert created["secret"].startswith("whsec_")
    assert created["filters"] == {"to_stage": "decline"}
    assert created["status"] == "active"
    assert created["version"] == 1
    assert created["owner_kind"] == "user"
    assert created["owner_id"] == "admin-1"
    assert created["pii"] is True
    read = await api.get(f"{SUBS}/{created['id']}")
    assert read.status_code == 200
    assert read.headers["etag"] == '"1"'
    assert "secret" not in read.json()
    listed = (await api.get(SUBS)).json()
    assert [s["id"] for s in listed["items"]] == [created["id"]]
    assert "secret" not in listed["items"][0]
    sealed = await db.fetchval("SELECT secret_sealed FROM webhook_subscriptions")
    assert created["secret"] not in sealed  # encrypted at rest
    assert settings.secret_box().open(sealed) == created["secret"]


INVALID = [
    ({"url": "ftp://receiver.example/x"}, "#/url"),
    ({"url": "https://user:pw@receiver.example/x"}, "#/url"),
    ({"url": "https://receiver.example/x#frag"}, "#/url"),
    ({"url": "https://receiver.example:99999/x"}, "#/url"),
    ({"url": "https:///nohost"}, "#/url"),
    ({"url": "https://receiver.example/\u0000"}, "#/url"),
    ({"url": "https://" + "a" * 2000 + ".example"}, "#/url"),
    ({"event_types": []}, "#/event_types"),
    ({"event_types": ["order.shipped"]}, "#/event_types/0"),
    ({"event_types": ["lifecycle.changed", "tag.added"]}, "#/event_types/1"),  # not subscribable
    ({"event_types": ["Order.Created"]}, "#/event_types/0"),
    ({"event_types": ["order.created\u0000"]}, "#/event_types/0"),
    ({"filters": {"stage": "decline"}}, "#/filters/stage"),  # lifecycle.changed has from/to_stage
    ({"filters": {"to_stage": "dead"}}, "#/filters/to_stage"),
    ({"filters": {"to_stage": ["decline", "nope"]}}, "#/filters/to_stage/1"),
    ({"filters": {"to_stage": []}}, "#/filters/to_stage"),
    ({"filters": {"to_stage": {"eq": "decline"}}}, "#/filters/to_stage"),
    ({"filters": {"as_of": "2026-01-01T00:00:00Z"}}, "#/filters/as_of"),  # not a scalar field
    ({"filters": {"customer_id": "not-a-uuid"}}, "#/filters/customer_id"),
    ({"filters": {"to_stage\u0000": "decline"}}, "#/filters/to_stage\u0000"),
    ({"description": "two\nlines"}, "#/description"),
    ({"unknown": 1}, "#/unknown"),
]


async def test_invalid_subscriptions_are_refused_naming_the_field(
    api: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    for body, pointer in INVALID:
        problem = await _refused(api, {"url": RECEIVER, "event_types": ["lifecycle.changed"], **body})
        assert pointer in _pointers(problem), (body, problem)
    assert await db.fetchval("SELECT count(*) FROM webhook_subscriptions") == 0


async def test_http_and_private_hosts_only_where_the_settings_allow(settings: Any) -> None:
    from crm_webhooks.subscriptions.rules import url_problems

    strict = {"allow_http": False, "allow_private_hosts": False}
    assert url_problems("http://receiver.example/x", **strict)[0].pointer == "#/url"
    for host in ("127.0.0.1", "10.1.2.3", "[::1]", "169.254.169.254", "localhost", "api.localhost"):
        assert url_problems(f"https://{host}/x", **strict), host
    assert url_problems("https://receiver.example/x", **strict) == []
    assert url_problems("http://127.0.0.1:9/x", allow_http=True, allow_private_hosts=True) == []
    # A name is vetted by what it resolves to, when delivered: tests/webhooks/test_pinned_transport.py.


async def test_a_huge_body_is_refused(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    body = {"url": RECEIVER, "event_types": ["lifecycle.changed"], "description": "x" * (100 * 1024)}  # over 64 KiB
    r = await api.post(SUBS, json=body, headers=write("huge"))
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("application/problem+json")
    many = {"url": RECEIVER, "event_types": ["lifecycle.changed"] * 51}
    assert "#/event_types" in _pointers(await _refused(api, many))
    assert await db.fetchval("SELECT count(*) FROM webhook_subscriptions") == 0


async def test_filters_are_stored_canonical_and_one_of_lists(api: httpx.AsyncClient) -> None:
    customer = "6F1C3E1A-0000-4000-8000-00000000ABCD"
    created = await subscribe(
        api,
        event_types=["lifecycle.changed", "churn.detected"],
        filters={"to_stage": ["decline", "churned"], "customer_id": customer, "stage": "decline"},
    )
    assert created["filters"] == {
        "to_stage": ["decline", "churned"],
        "customer_id": customer.lower(),
        "stage": "decline",
    }


async def test_update_needs_if_match_and_validates(api: httpx.AsyncClient) -> None:
    created = await subscribe(api)
    url = f"{SUBS}/{created['id']}"
    assert (await api.patch(url, json={"description": "x"}, headers=write("u0"))).status_code == 428
    stale = await api.patch(url, json={"description": "x"}, headers={**write("u1"), "If-Match": '"7"'})
    assert stale.status_code == 412
    bad = await api.patch(url, json={"filters": {"to_stage": "nope"}}, headers={**write("u2"), "If-Match": '"1"'})
    assert bad.status_code == 422
    assert _pointers(bad.json()) == ["#/filters/to_stage"]
    ok = await api.patch(
        url,
        json={"url": "https://other.example/in", "filters": {"to_stage": "decline"}, "description": None},
        headers={**write("u4"), "If-Match": '"1"'},
    )
    assert ok.status_code == 200, ok.text
    assert ok.headers["etag"] == '"2"'
    assert ok.json()["url"] == "https://other.example/in"
    assert ok.json()["filters"] == {"to_stage": "decline"}
    # Changing the types re-checks the stored filters against them: orders have no to_stage.
    bad = await api.patch(url, json={"event_types": ["order.created"]}, headers={**write("u5"), "If-Match": '"2"'})
    assert bad.status_code == 422
    assert _pointers(bad.json()) == ["#/filters/to_stage"]


async def test_pause_resume_delete(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    created = await subscribe(api)
    url = f"{SUBS}/{created['id']}"
    paused = await api.post(f"{url}/pause", headers=write("p1"))
    assert paused.status_code == 200
    assert paused.json()["status"] == "paused"
    assert paused.json()["version"] == 2
    again = await api.post(f"{url}/pause", headers=write("p2"))
    assert again.json()["version"] == 2  # no change
    resumed = await api.post(f"{url}/resume", headers=write("p3"))
    assert resumed.json()["status"] == "active"
    assert resumed.json()["version"] == 3
    assert (await api.delete(url, headers={**write("d0"), "If-Match": '"1"'})).status_code == 412
    assert (await api.delete(url, headers=write("d1"))).status_code == 204
    assert (await api.get(url)).status_code == 404
    assert await db.fetchval("SELECT count(*) FROM webhook_subscriptions") == 0


async def test_rotation_returns_a_new_secret_with_an_overlap(
    api: httpx.AsyncClient, db: asyncpg.Connection, settings: Settings
) -> None:
    created = await subscribe(api)
    url = f"{SUBS}/{created['id']}/rotate-secret"
    rotated = await api.post(url, json={}, headers=write("r1"))
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()
    assert new["secret"].startswith("whsec_")
    assert new["secret"] != created["secret"]
    row = await db.fetchrow(
        "SELECT secret_sealed, previous_secret_sealed, previous_secret_expires_at - now() AS overlap "
        "FROM webhook_subscriptions"
    )
    box = settings.secret_box()  # stored encrypted, never as given
    assert created["secret"] not in row["previous_secret_sealed"]
    assert box.open(row["secret_sealed"]) == new["secret"]
    assert box.open(row["previous_secret_sealed"]) == created["secret"]
    assert 23.9 * 3600 < row["overlap"].total_seconds() <= 24 * 3600  # the default overlap
    assert (await api.post(url, json={"overlap_seconds": -1}, headers=write("r2"))).status_code == 422
    none = await api.post(url, json={"overlap_seconds": 0}, headers=write("r3"))
    assert none.json()["previous_secret_expires_at"] is None
    assert await db.fetchval("SELECT previous_secret_sealed FROM webhook_subscriptions") is None


async def test_the_event_type_catalogue_follows_the_caller(settings: Any) -> None:
    from crm_shared.testing import app_client
    from crm_webhooks.main import create_app

    async with app_client(create_app(settings)) as client:
        admin = (await client.get("/api/v1/webhooks/event-types", headers=ADMIN)).json()
        partner = (await client.get("/api/v1/webhooks/event-types", headers=PARTNER_HEADERS)).json()
        integration = (await client.get("/api/v1/webhooks/event-types", headers=INTEGRATION)).json()
    assert [t["type"] for t in admin["items"]] == list(SUBSCRIBABLE)
    assert {t["type"] for t in partner["items"]} == PARTNER_TYPES
    assert {"order.created", "order.cancelled", "order.refunded"} == PARTNER_TYPES
    assert {t["type"] for t in integration["items"]} == set(SUBSCRIBABLE) - PII_TYPES
    assert {"customer.created", "customer.updated"} == PII_TYPES
    lifecycle = next(t for t in admin["items"] if t["type"] == "lifecycle.changed")
    assert "to_stage" in lifecycle["filter_fields"]
    assert "as_of" not in lifecycle["filter_fields"]


async def test_partners_manage_only_their_own(settings: Any, db: asyncpg.Connection) -> None:
    from crm_shared.testing import app_client
    from crm_webhooks.main import create_app

    async with app_client(create_app(settings)) as client:
        # A partner may subscribe to the events that name it, nothing else.
        refused = await client.post(
            SUBS,
            json={"url": RECEIVER, "event_types": ["lifecycle.changed"]},
            headers={**PARTNER_HEADERS, **write("x")},
        )
        assert refused.status_code == 422
        assert _pointers(refused.json()) == ["#/event_types/0"]
        refused = await client.post(
            SUBS, json={"url": RECEIVER, "event_types": ["customer.*"]}, headers={**PARTNER_HEADERS, **write("y")}
        )
        assert refused.status_code == 422
        mine = await subscribe(client, PARTNER_HEADERS, event_types=["*"])  # `*` selects what it may receive
        assert mine["partner"] == "shop-1"
        assert mine["pii"] is False
        theirs = await subscribe(client, OTHER_PARTNER_HEADERS, event_types=["order.created"])
        staff = await subscribe(client, INTEGRATION, event_types=["lifecycle.changed"])
        listed = (await client.get(SUBS, headers=PARTNER_HEADERS)).json()
        assert [s["id"] for s in listed["items"]] == [mine["id"]]
        for other in (theirs, staff):
            url = f"{SUBS}/{other['id']}"
            assert (await client.get(url, headers=PARTNER_HEADERS)).status_code == 404
            assert (await client.get(f"{url}/deliveries", headers=PARTNER_HEADERS)).status_code == 404
            assert (
                await client.post(f"{url}/pause", headers={**PARTNER_HEADERS, **write(f"p{other['id']}")})
            ).status_code == 404
            assert (
                await client.delete(url, headers={**PARTNER_HEADERS, **write(f"d{other['id']}")})
            ).status_code == 404
        # Staff see all of them.
        assert len((await client.get(SUBS, headers=INTEGRATION)).json()["items"]) == 3


async def test_a_personal_data_subscription_is_changed_only_with_pii_read(
    api: httpx.AsyncClient, settings: Any
) -> None:
    from crm_shared.testing import app_client
    from crm_webhooks.main import create_app

    created = await subscribe(api, event_types=["customer.*"])  # the admin holds pii:read
    assert created["pii"] is True
    async with app_client(create_app(settings), headers=INTEGRATION) as integration:
        refused = await integration.post(
            SUBS, json={"url": RECEIVER, "event_types": ["customer.updated"]}, headers=write("c")
        )
        assert refused.status_code == 422
        assert _pointers(refused.json()) == ["#/event_types/0"]
        url = f"{SUBS}/{created['id']}"
        assert (await integration.get(url)).status_code == 200  # reading it shows no personal data
        change = await integration.patch(
            url, json={"url": "https://elsewhere.example/"}, headers={**write("e"), "If-Match": '"1"'}
        )
        assert change.status_code == 403
        assert (await integration.post(f"{url}/rotate-secret", json={}, headers=write("r"))).status_code == 403


async def test_a_partner_holds_a_bounded_number_of_subscriptions(settings: Any, db: asyncpg.Connection) -> None:
    from crm_shared.testing import app_client
    from crm_webhooks.main import create_app

    async with app_client(create_app(settings.model_copy(update={"max_subscriptions_per_partner": 2}))) as client:
        for _ in range(2):
            await subscribe(client, PARTNER_HEADERS, event_types=["order.created"])
        body = {"url": RECEIVER, "event_types": ["order.created"]}
        third = await client.post(SUBS, json=body, headers={**PARTNER_HEADERS, **write("third")})
        assert third.status_code == 409
        await subscribe(client, OTHER_PARTNER_HEADERS, event_types=["order.created"])  # its own count
        await subscribe(client, INTEGRATION, event_types=["order.created"])  # staff: no cap
    assert await db.fetchval("SELECT count(*) FROM webhook_subscriptions") == 4
