"""Logs carry no personal data: query strings of access logs are redacted for PII parameters, emails
and phone numbers are scrubbed from every message and traceback, and SQL parameters never reach an
exception message."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text

from crm_customer.main import SERVICE_DIR
from crm_shared.db import create_engine
from crm_shared.observability import configure_logging
from crm_shared.pii import RedactQueryFilter, redact_query, scrub
from crm_shared.testing import DatabaseFactory, ServerProcess, user_headers

EMAIL, PHONE = "ana.ruiz@example.com", "+34600111222"


def test_redact_query_keeps_other_parameters() -> None:
    assert (
        redact_query("/api/v1/customers?email=a%40b.c&limit=5&phone=%2B3460&q=Ana&sort=-created_at")
        == "/api/v1/customers?email=[redacted]&limit=5&phone=[redacted]&q=[redacted]&sort=-created_at"
    )
    assert redact_query("/api/v1/orders?limit=5") == "/api/v1/orders?limit=5"


def test_scrub_hides_emails_and_phones_but_not_ids_dates_or_amounts() -> None:
    line = f"dup key (email)=({EMAIL}) phone {PHONE} order 8b6f7c4e-1d8a-4c1e-9a7e-2b4a3f5d6c7b on 2026-11-20 for 59.90"
    assert scrub(line) == (
        "dup key (email)=([email]) phone [phone] order 8b6f7c4e-1d8a-4c1e-9a7e-2b4a3f5d6c7b on 2026-11-20 for 59.90"
    )


def test_access_log_filter_rewrites_uvicorns_arguments() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        ("1.2.3.4", "GET", "/x?email=a@b.c", "1.1", 200),
        None,
    )
    RedactQueryFilter().filter(record)
    assert record.getMessage() == '1.2.3.4 - "GET /x?email=[redacted] HTTP/1.1" 200'


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("json_logs", [True, False])
def test_messages_and_tracebacks_are_scrubbed(capsys: pytest.CaptureFixture[str], json_logs: bool) -> None:
    configure_logging("test", json=json_logs)
    log = logging.getLogger("crm.test")
    log.warning("customer %s called from %s", EMAIL, PHONE)
    try:
        raise ValueError(f"duplicate key value violates unique constraint: (email)=({EMAIL})")
    except ValueError:
        log.exception("unhandled error")
    out = capsys.readouterr().out
    assert EMAIL not in out
    assert PHONE not in out
    assert "[email]" in out
    assert "ValueError" in out  # the traceback is still there, scrubbed
    if json_logs:
        lines = [json.loads(line) for line in out.splitlines()]
        assert "Traceback" in lines[1]["exc_info"]


async def test_sql_parameters_never_reach_an_exception_message(databases: DatabaseFactory) -> None:
    engine = create_engine(await databases.fresh(SERVICE_DIR), application_name="test")
    try:
        async with engine.connect() as conn:
            with pytest.raises(Exception) as caught:
                await conn.execute(text("SELECT 1 / 0 WHERE CAST(:email AS text) IS NOT NULL"), {"email": EMAIL})
        assert EMAIL not in str(caught.value)
        assert "hidden" in str(caught.value)
    finally:
        await engine.dispose()


async def test_a_running_service_logs_no_pii(databases: DatabaseFactory) -> None:
    db_url = await databases.fresh(SERVICE_DIR)
    env = {"CUSTOMER_DATABASE_URL": db_url, "CUSTOMER_LOG_LEVEL": "INFO", "CUSTOMER_ACCESS_LOG": "true"}
    with ServerProcess("crm_customer.main:create_app", env) as proc:
        proc.wait_ready()
        headers = user_headers("u1", "customers:read", "customers:write", "pii:read")
        async with httpx.AsyncClient(base_url=proc.url, headers=headers) as http:
            r = await http.get("/api/v1/customers", params={"email": EMAIL, "phone": PHONE})
            assert r.status_code == 200
            created = await http.post(
                "/api/v1/customers",
                json={"first_name": "Ana", "email": EMAIL, "phone": PHONE},
                headers={"Idempotency-Key": "k1"},
            )
            assert created.status_code == 201
        output = proc.output()
    assert "GET /api/v1/customers?email=[redacted]&phone=[redacted]" in output
    for value in (EMAIL, PHONE, "%2B34600111222"):
        assert value not in output
