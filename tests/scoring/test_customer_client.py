"""The customer service's typed client (crm_shared.clients.customer), the way scoring's rebuild calls it,
against the real customer service: the export decoded into typed orders and resumed after a seq, the
customer list paged to its end, each call under the caller's own service principal."""

from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from crm_customer.config import Settings as CustomerSettings
from crm_customer.main import SERVICE_DIR as CUSTOMER_DIR
from crm_customer.main import create_app as create_customer_app
from crm_shared.clients.customer import CustomerClient, service_auth
from crm_shared.testing import DatabaseFactory, app_client, partner_headers
from tests.customer.helpers import idem


def _order(i: int) -> dict:
    return {
        "external_id": f"O-{i}",
        "customer": {"external_id": f"C-{i % 5}", "first_name": "Ana", "last_name": f"N{i % 5}"},
        "ordered_at": f"2026-01-{i + 1:02d}T10:00:00+00:00",
        "currency": "EUR",
        "amount": f"{10 + i}.50",
        "lines": [{"sku": "S", "quantity": "2", "unit_price": "1.00", "product_line": ["tea", "coffee"][i % 2]}],
    }


async def test_the_export_and_the_customer_list_come_back_typed(databases: DatabaseFactory):
    settings = CustomerSettings(database_url=await databases.fresh(CUSTOMER_DIR), log_level="WARNING")
    app = create_customer_app(settings)
    partner = partner_headers("shop-1", "orders:write", "orders:read", "customers:read", "customers:write")
    async with app_client(app, headers=partner) as shop:
        r = await shop.post("/api/v1/orders/batch", json={"orders": [_order(i) for i in range(12)]}, headers=idem())
        assert r.status_code == 200, r.text
        customer_id = (await shop.get(f"/api/v1/orders/{r.json()['results'][0]['order_id']}")).json()["customer_id"]
        etag = (await shop.get(f"/api/v1/customers/{customer_id}")).headers["etag"]
        r = await shop.patch(
            f"/api/v1/customers/{customer_id}",
            json={"payment_terms": "prepaid", "declared_budget": "5000.00"},
            headers={"If-Match": etag, **idem()},
        )
        assert r.status_code == 200, r.text
    async with (
        app_client(app) as direct,
        CustomerClient(
            str(direct.base_url),
            auth=service_auth(settings.principal_key_values, caller="churn"),
            transport=direct._transport,
        ) as client,
    ):
        orders = [o async for o in client.export_orders()]
        assert sorted(o.external_id for o in orders) == sorted(f"O-{i}" for i in range(12))
        assert [o.seq for o in orders] == sorted({o.seq for o in orders})
        (first,) = [o for o in orders if o.external_id == "O-0"]
        assert (first.amount, first.ordered_at) == (Decimal("10.50"), datetime(2026, 1, 1, 10, tzinfo=UTC))
        assert first.lines is not None
        assert (first.lines[0].product_line, first.lines[0].quantity) == ("tea", Decimal("2"))
        later = [o async for o in client.export_orders(after=orders[4].seq)]
        assert [o.id for o in later] == [o.id for o in orders[5:]]

        pages = [page async for page in client.all_customers(limit=2)]
        assert [len(page) for page in pages] == [2, 2, 1]
        customers = {c.id: c for page in pages for c in page}
        assert customers.keys() == {o.customer_id for o in orders}
        changed = customers[first.customer_id]
        assert (changed.payment_terms, changed.declared_budget) == ("prepaid", Decimal("5000.00"))


async def test_a_call_outside_the_callers_scopes_is_refused(databases: DatabaseFactory):
    settings = CustomerSettings(database_url=await databases.fresh(CUSTOMER_DIR), log_level="WARNING")
    async with (
        app_client(create_customer_app(settings)) as direct,
        CustomerClient(
            str(direct.base_url),
            auth=service_auth(settings.principal_key_values, caller="churn", scopes=("orders:read",)),
            transport=direct._transport,
        ) as client,
    ):
        assert [o async for o in client.export_orders()] == []
        with pytest.raises(httpx.HTTPStatusError) as refused:
            await client.list_customers()
    assert refused.value.response.status_code == 403
