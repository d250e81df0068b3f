"""The customer service as another service calls it: the NDJSON order export (streamed, resumed after the
last `seq` when the connection drops), the customer list (paged by cursor, retried on a transport error:
a GET is safe to repeat), and the lists a bulk copy of customers reads: customers with their contact data,
who consents on a channel, tags and who carries each. Scoring's rebuild and the campaign service's audience
sync use it.

Every type here is what the customer service writes on the wire, decoded by msgspec; unknown fields are
ignored, so the customer service may add fields."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Literal, Self

import httpx
import msgspec
import stamina

from ..errors import BadGateway, GatewayTimeout
from ..http import ServiceAuth, ServiceClient
from ..schemas.common import Timestamp
from ..schemas.events import BrandContribution, ConsentStatus, CustomerData, OrderLineData, PaymentTerms
from .ndjson import resumable_lines

log = logging.getLogger("crm.clients.customer")
AUDIENCE = "customer"
# What the read calls below need; `customers_with_contacts` also needs pii:read (emails and phones are
# delivery addresses to the campaign service): ask CONTACT_SCOPES for it.
READ_SCOPES = ("orders:read", "customers:read")
CONTACT_SCOPES = ("customers:read", "pii:read")
CONSENT_SCOPES = ("customers:read", "customers:write")  # CustomerConsents: reads and records consents
ConsentWrite = Literal["opted_in", "opted_out", "unknown"]
EXPORT_PATH = "/api/v1/orders/export"
CUSTOMERS_PATH = "/api/v1/customers"
CUSTOMER_EXPORT_PATH = "/api/v1/customers/export"


class ExportedOrder(msgspec.Struct, kw_only=True):
    """One line of the order export: an order in its current state. `seq` orders the export and resumes it;
    the lines are shaped as in `order.created`."""

    seq: int
    id: uuid.UUID
    partner: str
    external_id: str
    customer_id: uuid.UUID
    ordered_at: Timestamp
    currency: str
    amount: Decimal
    payment_method: str | None = None
    channel: str | None = None
    lines: list[OrderLineData] | None = None
    status: str
    refunded_amount: Decimal
    cancelled_at: Timestamp | None = None
    created_at: Timestamp
    updated_at: Timestamp


class CustomerAttributes(msgspec.Struct, kw_only=True):
    """A customer of the list as another service reads it: its id and the attributes scores are built on
    (no personal data)."""

    id: uuid.UUID
    payment_terms: PaymentTerms | None = None
    brand_contribution: BrandContribution | None = None
    declared_budget: Decimal | None = None
    share_of_wallet: Decimal | None = None


class CustomerPage(msgspec.Struct, kw_only=True):
    items: list[CustomerAttributes]
    next_cursor: str | None = None


class Consented(msgspec.Struct, kw_only=True):
    customer_id: uuid.UUID
    status: ConsentStatus
    updated_at: Timestamp


class ConsentedPage(msgspec.Struct, kw_only=True):
    items: list[Consented]
    next_cursor: str | None = None


class Tag(msgspec.Struct, kw_only=True):
    key: str


class TagPage(msgspec.Struct, kw_only=True):
    items: list[Tag]
    next_cursor: str | None = None


class CustomerId(msgspec.Struct, kw_only=True):
    id: uuid.UUID


class CustomerIdPage(msgspec.Struct, kw_only=True):
    items: list[CustomerId]
    next_cursor: str | None = None


_decode_order = msgspec.json.Decoder(ExportedOrder)
_decode_customer = msgspec.json.Decoder(CustomerData)  # a line of the customer export
_decode_customer_page = msgspec.json.Decoder(CustomerPage)


def service_auth(keys: list[str], *, caller: str, scopes: tuple[str, ...] = READ_SCOPES) -> ServiceAuth:
    """The principal a service calls the customer service as, signed with the suite's principal keys."""
    return ServiceAuth(keys, caller=caller, audience=AUDIENCE, scopes=scopes)


class OrderExport:
    """The export as an async iterator of orders from `after` on. A transport error mid-stream asks again
    from the last `seq` received, up to `max_resumes` times; `resumed` counts how often it did."""

    def __init__(self, http: httpx.AsyncClient, *, after: int, updated_since: datetime | None, max_resumes: int):
        self._http = http
        self.last_seq = after
        self._updated_since = updated_since
        self._max_resumes = max_resumes
        self.resumed = 0

    async def __aiter__(self) -> AsyncIterator[ExportedOrder]:
        params: dict[str, Any] = {"after": self.last_seq}
        if self._updated_since is not None:
            params["updated_since"] = self._updated_since.isoformat()
        orders = resumable_lines(
            self._http,
            EXPORT_PATH,
            params,
            decode=_decode_order.decode,
            resume=lambda order: {"after": order.seq},
            max_resumes=self._max_resumes,
            log=log,
            on_resume=self._count_resume,
        )
        async for order in orders:
            self.last_seq = order.seq
            yield order

    def _count_resume(self) -> None:
        self.resumed += 1


class CustomerClient:
    """One customer service. `base_url` and `auth` come from the caller (e.g. `service_auth(...)`);
    `transport` lets a test or an in-process caller talk to the app directly."""

    def __init__(
        self,
        base_url: str,
        *,
        auth: httpx.Auth,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
        attempts: int = 4,
    ) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, auth=auth, timeout=timeout, transport=transport)
        self._attempts = attempts

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def export_orders(
        self, *, after: int = 0, updated_since: datetime | None = None, max_resumes: int = 5
    ) -> OrderExport:
        """GET /api/v1/orders/export: every order after `seq` `after` (changed since `updated_since`, if
        given), in `seq` order, streamed."""
        return OrderExport(self._http, after=after, updated_since=updated_since, max_resumes=max_resumes)

    async def list_customers(self, *, cursor: str | None = None, limit: int = 100) -> CustomerPage:
        """GET /api/v1/customers: one page of customers."""
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        async for attempt in stamina.retry_context(on=httpx.TransportError, attempts=self._attempts):
            with attempt:
                response = await self._http.get(CUSTOMERS_PATH, params=params)
        return _decode_customer_page.decode(response.raise_for_status().content)

    async def _pages(self, path: str, kind: type[Any], params: dict[str, Any]) -> AsyncIterator[Any]:
        """Every page of a cursor-paged list, each GET retried on a transport error."""
        decoder = msgspec.json.Decoder(kind)
        cursor: str | None = None
        while True:
            query = {**params, **({"cursor": cursor} if cursor else {})}
            async for attempt in stamina.retry_context(on=httpx.TransportError, attempts=self._attempts):
                with attempt:
                    response = await self._http.get(path, params=query)
            page = decoder.decode(response.raise_for_status().content)
            yield page.items
            cursor = page.next_cursor
            if not cursor:
                return

    async def customers_with_contacts(self, *, batch: int = 1000) -> AsyncIterator[list[CustomerData]]:
        """GET /api/v1/customers/export (NDJSON, by id, merged ones included), as `customer.*` events carry
        them (contact data needs pii:read), in lists of `batch`. A transport error mid-stream asks again
        after the last id received."""
        customers = resumable_lines(
            self._http,
            CUSTOMER_EXPORT_PATH,
            {},
            decode=_decode_customer.decode,
            resume=lambda customer: {"after": str(customer.id)},
            max_resumes=self._attempts,
            log=log,
        )
        items: list[CustomerData] = []
        async for customer in customers:
            items.append(customer)
            if len(items) >= batch:
                yield items
                items = []
        if items:
            yield items

    def consented(self, channel: str, status: str) -> AsyncIterator[list[Consented]]:
        """GET /api/v1/customers/consents: who consents (`status`) on `channel` now."""
        params = {"channel": channel, "status": status, "limit": 1000}
        return self._pages(f"{CUSTOMERS_PATH}/consents", ConsentedPage, params)

    def tags(self) -> AsyncIterator[list[Tag]]:
        """GET /api/v1/customers/tags: the tag catalogue."""
        return self._pages(f"{CUSTOMERS_PATH}/tags", TagPage, {"limit": 100})

    def tagged(self, tag: str) -> AsyncIterator[list[CustomerId]]:
        """GET /api/v1/customers?tag=: the customers carrying `tag`, merged ones included."""
        return self._pages(CUSTOMERS_PATH, CustomerIdPage, {"limit": 100, "tag": tag, "include_merged": "true"})

    def all_customers(self, *, limit: int = 100) -> AsyncIterator[list[CustomerAttributes]]:
        """Every customer, a page at a time."""
        return self._pages(CUSTOMERS_PATH, CustomerPage, {"limit": limit})


class Consent(msgspec.Struct, kw_only=True):
    channel: str
    status: ConsentWrite


class ConsentOverview(msgspec.Struct, kw_only=True):
    customer_id: uuid.UUID
    consents: list[Consent]
    preferred_channel: str | None = None
    max_contacts_per_month: int | None = None


class CustomerUnavailable(Exception):
    """The customer service did not take the call (the caller shows a "try again" answer)."""


_overview = msgspec.json.Decoder(ConsentOverview)


class CustomerConsents:
    """The consent API (consent is the customer service's: an unsubscribe or a preference change is recorded
    there, which publishes `consent.changed`), called with a service principal holding CONSENT_SCOPES.
    Writes carry an Idempotency-Key derived from what they do, so a retried unsubscribe records one
    opt-out; a 5xx or an unreachable service raises CustomerUnavailable (the caller retries later)."""

    def __init__(
        self,
        base_url: str,
        *,
        keys: list[str],
        caller: str = "campaign",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = ServiceClient(base_url, transport=transport, attempts=3, retry_timeout=10.0)
        self._auth = ServiceAuth(keys, caller=caller, audience=AUDIENCE, scopes=CONSENT_SCOPES)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _call(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        try:
            response = await self._client.request(method, path, auth=self._auth, **kwargs)  # type: ignore[arg-type]
        except (BadGateway, GatewayTimeout) as exc:
            raise CustomerUnavailable(str(exc)) from exc
        _check(response)
        return response

    async def overview(self, customer_id: uuid.UUID) -> ConsentOverview:
        response = await self._call("GET", f"/api/v1/customers/{customer_id}/consents")
        return _overview.decode(response.content)

    async def set_consent(
        self, customer_id: uuid.UUID, channel: str, status: ConsentWrite, *, source: str, key: str
    ) -> None:
        """Opt in or out; `key` makes a repeat of the same act a replay (the idempotency key)."""
        await self._call(
            "PUT",
            f"/api/v1/customers/{customer_id}/consents/{channel}",
            json={"status": status, "source": source},
            headers={"Idempotency-Key": key},
        )

    async def set_preferences(
        self, customer_id: uuid.UUID, *, preferred_channel: str | None, max_contacts_per_month: int | None, key: str
    ) -> None:
        await self._call(
            "PUT",
            f"/api/v1/customers/{customer_id}/contact-preferences",
            json={"preferred_channel": preferred_channel, "max_contacts_per_month": max_contacts_per_month},
            headers={"Idempotency-Key": key},
        )


def _check(response: httpx.Response) -> None:
    if response.status_code == 404:
        raise LookupError("no such customer")
    if not response.is_success:
        raise CustomerUnavailable(f"customer service answered {response.status_code}: {response.text[:200]}")
