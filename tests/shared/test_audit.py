"""The audit mechanism, on a probe app built like every service (create_service_app, the customer
database): a write's row is in the write's own transaction, a write outside a request transaction and a
PII read are recorded however the handler reaches the database, a masked or failed call records nothing,
and a failing audit insert fails the call rather than let a change or personal data through unrecorded.
The scoring service serves its own log at /api/v1/scores/audit."""

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import msgspec
import pytest
from fastapi import APIRouter, FastAPI, Request, Response
from pydantic import BaseModel
from sqlalchemy import text

from crm_customer.main import SERVICE_DIR
from crm_scoring.config import Settings as ScoringSettings
from crm_scoring.formulas.engine import DEFAULT_FORMULA
from crm_scoring.main import SERVICE_DIR as SCORING_DIR
from crm_scoring.main import create_app as scoring_app
from crm_shared.access import allow
from crm_shared.app import create_service_app
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep, SessionDep, driver_connection
from crm_shared.errors import NotFound, Unprocessable
from crm_shared.idempotency import IdempotencyDep
from crm_shared.pii import PiiEmail
from crm_shared.testing import DatabaseFactory, app_client, principal_headers

EMAIL = "ana.ruiz@example.com"
READER = principal_headers("agent-7", "user", "customers:read", "customers:write", "pii:read", roles=("agent",))
MASKED = principal_headers("mark-1", "user", "customers:read", roles=("marketer",))


class Person(BaseModel):
    id: int
    email: PiiEmail


def probe_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/probe")

    @router.post("/notes", status_code=201)
    async def create_note(
        request: Request,
        session: SessionDep,
        principal: Annotated[Principal, allow("customers:write")],
        idem: IdempotencyDep,
    ) -> Response:
        body = await request.json()
        conn = await driver_connection(session)
        note_id = await conn.fetchval("INSERT INTO probe_notes (body) VALUES ($1) RETURNING id", body["body"])
        if body.get("fail"):  # after the change: the handler's error must take the change back
            raise Unprocessable("told to fail")
        location = f"/api/v1/probe/notes/{note_id}"
        return await idem.respond(201, msgspec.json.encode({"id": note_id}), headers={"Location": location})

    @router.post("/jobs", status_code=202)
    async def start_job(principal: Annotated[Principal, allow("customers:write")]) -> dict[str, bool]:
        return {"started": True}  # like starting a batch run: no request transaction

    @router.get("/people/{person_id}", response_model=Person)
    async def person(
        person_id: int, session: ReadSessionDep, principal: Annotated[Principal, allow("customers:read", pii=True)]
    ) -> Person:
        email = await session.scalar(text("SELECT email FROM probe_people WHERE id = :id"), {"id": person_id})
        if email is None:
            raise NotFound("no such person")
        return Person(id=person_id, email=email)

    @router.get("/people-in-transaction/{person_id}", response_model=Person)
    async def person_tx(
        person_id: int, session: SessionDep, principal: Annotated[Principal, allow("customers:read", pii=True)]
    ) -> Person:
        email = await session.scalar(text("SELECT email FROM probe_people WHERE id = :id"), {"id": person_id})
        return Person(id=person_id, email=email)

    @router.get("/people-cached/{person_id}", response_model=Person)
    async def person_cached(
        person_id: int, principal: Annotated[Principal, allow("customers:read", pii=True)]
    ) -> Person:
        return Person(id=person_id, email=EMAIL)  # no session at all: the row takes a pooled connection

    @router.get("/plain")
    async def plain(session: ReadSessionDep, principal: Annotated[Principal, allow("customers:read")]) -> dict:
        return {"ok": True}

    return router


def probe_app(settings) -> FastAPI:
    return create_service_app(
        settings=settings, title="probe", description="audit probe", service_dir=SERVICE_DIR, routers=[probe_router()]
    )


@pytest.fixture
async def probe(settings, db) -> AsyncIterator[httpx.AsyncClient]:
    await db.execute(
        "CREATE TABLE probe_notes (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body text NOT NULL,"
        " CONSTRAINT uq_probe_notes_body UNIQUE (body) DEFERRABLE INITIALLY DEFERRED)"
    )
    await db.execute("CREATE TABLE probe_people (id int PRIMARY KEY, email text NOT NULL)")
    await db.execute("INSERT INTO probe_people VALUES (1, $1)", EMAIL)
    app = probe_app(settings)
    async with app.router.lifespan_context(app):
        # A failing request answers 500, as a server would, instead of raising into the test.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=READER) as client:
            yield client


async def audit_rows(db) -> list[dict]:
    rows = await db.fetch("SELECT * FROM audit_log ORDER BY id")
    return [dict(r) for r in rows]


def idem(key: str | None = None) -> dict[str, str]:
    return {"Idempotency-Key": key or str(uuid.uuid4())}


async def test_a_write_records_one_row_in_its_transaction(probe, db):
    r = await probe.post("/api/v1/probe/notes?tag=x&email=ana@example.com", json={"body": "hello"}, headers=idem())
    assert r.status_code == 201, r.text
    (row,) = await audit_rows(db)
    assert row["actor"] == "agent-7"
    assert row["actor_kind"] == "user"
    assert row["roles"] == ["agent"]
    assert row["action"] == "POST /api/v1/probe/notes"
    assert row["resource"] == "/api/v1/probe/notes"
    assert row["status"] == 201
    assert row["request_id"] == r.headers["x-request-id"]
    assert msgspec.json.decode(row["detail"]) == {
        "location": r.headers["location"],  # what the create made
        "query": "tag=x&email=[redacted]",  # personal data never reaches the log
    }
    # Written by the request's own transaction: the same inserting transaction id as the note.
    assert await db.fetchval("SELECT xmin::text FROM audit_log") == await db.fetchval(
        "SELECT xmin::text FROM probe_notes"
    )


async def test_a_failed_write_records_nothing_and_changes_nothing(probe, db):
    told = await probe.post("/api/v1/probe/notes", json={"body": "a", "fail": True}, headers=idem())
    assert told.status_code == 422
    assert await db.fetchval("SELECT count(*) FROM probe_notes") == 0
    assert await audit_rows(db) == []
    refused = await probe.post("/api/v1/probe/notes", json={"body": "a"})  # no Idempotency-Key: 400
    assert refused.status_code == 400
    forbidden = await probe.post("/api/v1/probe/notes", json={"body": "a"}, headers={**MASKED, **idem()})
    assert forbidden.status_code == 403
    assert await audit_rows(db) == []


async def test_a_commit_that_fails_after_the_audit_insert_takes_the_row_back(probe, db):
    assert (await probe.post("/api/v1/probe/notes", json={"body": "once"}, headers=idem())).status_code == 201
    # The deferred unique constraint fails at COMMIT, after the audit row was inserted.
    again = await probe.post("/api/v1/probe/notes", json={"body": "once"}, headers=idem())
    assert again.status_code == 500
    assert await db.fetchval("SELECT count(*) FROM probe_notes") == 1
    assert len(await audit_rows(db)) == 1


async def test_an_idempotent_replay_is_recorded_as_a_replay(probe, db):
    key = idem()
    first = await probe.post("/api/v1/probe/notes", json={"body": "b"}, headers=key)
    replay = await probe.post("/api/v1/probe/notes", json={"body": "b"}, headers=key)
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.content == first.content
    original, replayed = await audit_rows(db)
    assert replayed["status"] == original["status"] == 201
    assert msgspec.json.decode(replayed["detail"]) == {"replayed": True}
    assert await db.fetchval("SELECT count(*) FROM probe_notes") == 1


async def test_a_write_outside_a_request_transaction_is_recorded_after_it(probe, db):
    r = await probe.post("/api/v1/probe/jobs")
    assert r.status_code == 202
    (row,) = await audit_rows(db)
    assert (row["action"], row["status"], row["detail"]) == ("POST /api/v1/probe/jobs", 202, None)


@pytest.mark.parametrize("path", ["people", "people-in-transaction", "people-cached"])
async def test_an_unmasked_read_of_personal_data_is_recorded(probe, db, path):
    shown = await probe.get(f"/api/v1/probe/{path}/1")
    assert shown.json()["email"] == EMAIL
    (row,) = await audit_rows(db)
    assert row["action"] == f"GET /api/v1/probe/{path}/{{person_id}}"
    assert row["resource"] == f"/api/v1/probe/{path}/1"
    assert row["status"] == 200
    assert row["request_id"] == shown.headers["x-request-id"]
    masked = await probe.get(f"/api/v1/probe/{path}/1", headers=MASKED)
    assert masked.json()["email"] == "a***@example.com"
    assert len(await audit_rows(db)) == 1  # a masked read shows no personal data: no row


async def test_reads_that_show_no_personal_data_record_nothing(probe, db):
    assert (await probe.get("/api/v1/probe/plain")).status_code == 200  # not declared pii
    assert (await probe.get("/api/v1/probe/people/2")).status_code == 404  # nothing shown
    assert (await probe.get("/api/v1/probe/people/x")).status_code == 422
    assert await audit_rows(db) == []


async def test_when_the_audit_insert_fails_nothing_is_shown_or_changed(probe, db):
    await db.execute("ALTER TABLE audit_log RENAME TO audit_log_away")
    try:
        for path in ("people", "people-cached"):
            read = await probe.get(f"/api/v1/probe/{path}/1")
            assert read.status_code == 500
            assert EMAIL not in read.text
        write = await probe.post("/api/v1/probe/notes", json={"body": "c"}, headers=idem())
        assert write.status_code == 500
        assert await db.fetchval("SELECT count(*) FROM probe_notes") == 0
        assert await db.fetchval("SELECT count(*) FROM idempotency_keys") == 0  # retry-able with the same key
    finally:
        await db.execute("ALTER TABLE audit_log_away RENAME TO audit_log")


async def test_the_declaration_is_published_and_the_log_is_served_under_the_service_prefix(settings):
    spec = probe_app(settings).openapi()
    assert spec["paths"]["/api/v1/probe/people/{person_id}"]["get"]["x-crm-access"]["pii"] is True
    assert spec["paths"]["/api/v1/probe/plain"]["get"]["x-crm-access"]["pii"] is False
    audit = spec["paths"]["/api/v1/customers/audit"]["get"]["x-crm-access"]
    assert audit == {"scopes": ["customers:read", "audit:read"], "partner": "none", "pii": False}


async def test_the_resource_index_serves_path_prefixes(db):
    definition = await db.fetchval("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_audit_log_resource'")
    assert "text_pattern_ops" in definition


@pytest.fixture
async def scoring_db_url(databases: DatabaseFactory) -> str:
    return await databases.fresh(SCORING_DIR)


async def test_scoring_records_its_writes_and_serves_them_to_admins(scoring_db_url):
    import asyncpg

    from crm_shared.embedded_pg import asyncpg_dsn

    settings = ScoringSettings(database_url=scoring_db_url, environment="test", log_json=False, log_level="WARNING")
    analyst = principal_headers("ann", "user", "scores:read", service="scoring", roles=("analyst",))
    admin = principal_headers(
        "root", "user", "scores:read", "scores:write", "audit:read", service="scoring", roles=("admin",)
    )
    async with app_client(scoring_app(settings), headers=admin) as api:
        created = await api.post(
            "/api/v1/scores/formulas", json={**DEFAULT_FORMULA, "description": "t"}, headers=idem()
        )
        assert created.status_code == 201, created.text
        page = (await api.get("/api/v1/scores/audit")).json()
        (entry,) = page["items"]
        assert (entry["actor"], entry["roles"], entry["action"], entry["status"]) == (
            "root",
            ["admin"],
            "POST /api/v1/scores/formulas",
            201,
        )
        assert (await api.get("/api/v1/scores/audit", headers=analyst)).status_code == 403
    conn = await asyncpg.connect(asyncpg_dsn(scoring_db_url))
    try:
        assert await conn.fetchval("SELECT count(*) FROM audit_log") == 1
    finally:
        await conn.close()


async def test_the_document_is_built_before_the_first_request(settings):
    """The gateway fetches each service's document with a timeout: it must not wait on a cold build."""
    app = probe_app(settings.model_copy(update={"openapi_prebuild": True}))
    assert app.openapi_schema is None
    async with app.router.lifespan_context(app):
        assert app.openapi_schema is not None
        assert "/api/v1/probe/plain" in app.openapi_schema["paths"]
    lazy = probe_app(settings)  # the test plugin's default for in-process apps: built on first use
    async with lazy.router.lifespan_context(lazy):
        assert lazy.openapi_schema is None
