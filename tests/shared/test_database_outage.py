"""A database that cannot be reached is an outage, not a bug: 503 with Retry-After, one WARNING line
and no traceback; other unexpected errors stay 500 and end with their response."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from crm_customer.config import Settings
from crm_customer.main import create_app
from crm_shared.errors import install_error_handlers
from crm_shared.testing import app_client, free_port, user_headers

STAFF = user_headers("u1", "customers:read", "customers:write")


async def test_an_unreachable_database_answers_503_with_retry_after(capsys: pytest.CaptureFixture[str]) -> None:
    dead = f"postgresql+asyncpg://crm:crm@127.0.0.1:{free_port()}/crm_customer"
    settings = Settings(database_url=dead, log_json=False, outbox_enabled=False)
    async with app_client(create_app(settings), headers=STAFF) as client:
        read = await client.get("/api/v1/customers")
        write = await client.post("/api/v1/customers", json={"first_name": "Ana"}, headers={"Idempotency-Key": "k"})
        ready = await client.get("/readyz")
    for response in (read, write):
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "5"
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == "the database is unavailable; retry shortly"
    assert ready.status_code == 503
    logged = capsys.readouterr().out  # the service's own log handler writes to stdout
    outage = [line for line in logged.splitlines() if "database unavailable" in line]
    assert len(outage) == 2
    assert all(" WARNING " in line for line in outage)
    assert "Traceback" not in logged


async def test_an_unexpected_error_ends_with_its_500_and_is_not_re_raised() -> None:
    """Re-raised past the response, the server logged it twice and dropped the keep-alive connection the
    gateway then reused (502 on the next request)."""
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("bug")

    # raise_app_exceptions: anything that escapes the app fails this test instead of becoming a 500.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for _ in range(2):
            response = await client.get("/boom")
            assert response.status_code == 500
            assert response.json()["detail"] == "an unexpected error occurred"
