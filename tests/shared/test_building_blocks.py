"""Shared building blocks that need no database: cursors, signatures, settings, error rendering."""

import time

import httpx
import pytest
from fastapi import FastAPI, Query
from pydantic import BaseModel

from crm_shared import signing
from crm_shared.errors import Conflict, FieldError, install_error_handlers
from crm_shared.pagination import decode_cursor, encode_cursor, parse_sort
from crm_shared.settings import ServiceSettings, resolve_database_url


def test_cursor_round_trip_and_binding():
    filters = {"status": "created", "customer_id": None}
    cursor = encode_cursor(["2026-01-01T00:00:00+00:00", "abc"], filters, "s3cret")
    assert decode_cursor(cursor, filters, "s3cret") == ["2026-01-01T00:00:00+00:00", "abc"]
    for args in (
        (cursor, {"status": "cancelled", "customer_id": None}, "s3cret"),
        (cursor, filters, "other"),
        (cursor[:-3], filters, "s3cret"),
        ("", filters, "s3cret"),
        ("%%%", filters, "s3cret"),
    ):
        with pytest.raises(Exception) as exc:
            decode_cursor(*args)
        assert getattr(exc.value, "status", None) == 400


def test_sort_parsing():
    keys = parse_sort(" display_name,-created_at", ("created_at", "display_name"), "-created_at")
    assert [(k.field, k.descending) for k in keys] == [("display_name", False), ("created_at", True)]
    with pytest.raises(Exception) as exc:
        parse_sort("password", ("created_at",), "-created_at")
    assert exc.value.errors[0].parameter == "sort"


def test_signatures():
    headers = signing.signature_headers("k", "msg-1", b"body")
    assert signing.verify("k", headers, b"body")
    assert not signing.verify("k", headers, b"body2")
    assert not signing.verify("other", headers, b"body")
    assert not signing.verify("k", {**headers, "webhook-id": "msg-2"}, b"body")
    assert not signing.verify("k", headers, b"body", now=time.time() + 3600)
    rotated = {**headers, "webhook-signature": "v1,bogus " + headers["webhook-signature"]}
    assert signing.verify("k", rotated, b"body")


def test_settings_refuse_missing_or_short_secrets_in_every_environment():
    # ServiceSettings has no env prefix, so the test run's CUSTOMER_* secrets do not reach it.
    keys = ["k" * 32]
    for environment in ("development", "test", "production"):
        with pytest.raises(ValueError, match="CURSOR_SECRET is not set"):
            ServiceSettings(environment=environment, event_secret="b" * 32, principal_keys=keys)
    with pytest.raises(ValueError, match="EVENT_SECRET must be at least 32 bytes"):
        ServiceSettings(cursor_secret="a" * 32, event_secret="short", principal_keys=keys)
    with pytest.raises(ValueError, match="PRINCIPAL_KEYS is not set"):
        ServiceSettings(cursor_secret="a" * 32, event_secret="b" * 32)
    ok = ServiceSettings(environment="production", cursor_secret="a" * 32, event_secret="b" * 32, principal_keys=keys)
    assert ok.principal_key_values == keys


def test_database_url_resolution(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db:5432/postgres")
    assert resolve_database_url(None, "crm_customer") == "postgresql+asyncpg://u:p@db:5432/crm_customer"
    own = "postgresql://x@y/z"
    assert resolve_database_url(own, "crm_customer") == "postgresql+asyncpg://x@y/z"
    monkeypatch.delenv("DATABASE_URL")
    with pytest.raises(RuntimeError, match="DATABASE_URL"):
        resolve_database_url(None, "crm_customer")


class Thing(BaseModel):
    name: str
    size: int


@pytest.fixture
def app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/things")
    async def create(thing: Thing, limit: int = Query(10, le=100)) -> dict:
        if thing.name == "taken":
            raise Conflict("name taken", errors=[FieldError(detail="in use", pointer="#/name")], thing="taken")
        if thing.name == "boom":
            raise RuntimeError("secret internals")
        return {"ok": True}

    return app


async def test_problem_json_rendering(app):
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        bad = await c.post("/things", params={"limit": 500}, json={"name": 1})
        assert bad.status_code == 422
        assert bad.headers["content-type"] == "application/problem+json"
        body = bad.json()
        assert body["status"] == 422
        refs = {(e.get("pointer"), e.get("parameter")) for e in body["errors"]}
        assert refs == {("#/name", None), ("#/size", None), (None, "limit")}
        conflict = await c.post("/things", json={"name": "taken", "size": 1})
        assert conflict.status_code == 409
        assert conflict.json() == {
            "type": Conflict.type,
            "title": "Conflict",
            "status": 409,
            "detail": "name taken",
            "instance": "/things",
            "errors": [{"detail": "in use", "pointer": "#/name"}],
            "thing": "taken",
        }
        crash = await c.post("/things", json={"name": "boom", "size": 1})
        assert crash.status_code == 500
        assert "secret" not in crash.text
        assert crash.json()["status"] == 500
        missing = await c.get("/nowhere")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        wrong_method = await c.get("/things")
        assert wrong_method.status_code == 405
        assert wrong_method.json()["status"] == 405
