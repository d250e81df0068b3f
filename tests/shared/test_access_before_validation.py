"""A caller without the scope is refused (403) before its query or body is looked at (422): the access
dependency runs before FastAPI validates the endpoint's own parameters, so a bad request never tells an
unauthorised caller which parameters exist or what they accept."""

import pytest

from crm_customer.main import create_app
from crm_shared.testing import app_client, partner_headers, user_headers

NO_SCOPE = user_headers("u-none", "orders:read")


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/api/v1/customers", {"params": {"limit": "0", "sort": "nonsense"}}),
        (
            "PATCH",
            "/api/v1/customers/6f1c8a9e-0000-4000-8000-000000000001",
            {"json": {"email": 5}, "headers": {"Idempotency-Key": "k2", "If-Match": "x"}},
        ),
        ("POST", "/api/v1/customers", {"json": {"kind": "martian"}, "headers": {"Idempotency-Key": "k1"}}),
        ("GET", "/api/v1/complaints", {"params": {"from": "yesterday"}}),
    ],
)
async def test_missing_scope_answers_403_before_a_bad_request(settings, method, path, kwargs):
    async with app_client(create_app(settings), headers=NO_SCOPE) as client:
        headers = {**NO_SCOPE, **kwargs.pop("headers", {})}
        response = await client.request(method, path, headers=headers, **kwargs)
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_partner_on_a_staff_endpoint_answers_403_before_a_bad_query(settings):
    headers = partner_headers("shop-9", "customers:read", "audit:read")
    async with app_client(create_app(settings), headers=headers) as client:
        response = await client.get("/api/v1/customers/audit", params={"limit": "100000"})
    assert response.status_code == 403, response.text
