"""The customer service's consent API as the campaign service calls it (consent is the customer service's:
an unsubscribe or a preference-page change is recorded there, which publishes `consent.changed`).

Calls go straight to the customer service with a service principal (crm_shared.http.ServiceAuth) holding
exactly customers:read and customers:write. Writes carry an Idempotency-Key derived from what they do, so
a retried unsubscribe records one opt-out."""

from __future__ import annotations

import uuid
from typing import Literal, Self

import httpx
import msgspec

from crm_shared.errors import BadGateway, GatewayTimeout
from crm_shared.http import ServiceAuth, ServiceClient

AUDIENCE = "customer"
SCOPES = ("customers:read", "customers:write")
Status = Literal["opted_in", "opted_out", "unknown"]


class Consent(msgspec.Struct, kw_only=True):
    channel: str
    status: Status


class ConsentOverview(msgspec.Struct, kw_only=True):
    customer_id: uuid.UUID
    consents: list[Consent]
    preferred_channel: str | None = None
    max_contacts_per_month: int | None = None


class CustomerUnavailable(Exception):
    """The customer service did not take the call (the caller shows a "try again" answer)."""


_overview = msgspec.json.Decoder(ConsentOverview)


class CustomerConsents:
    def __init__(
        self,
        base_url: str,
        *,
        keys: list[str],
        caller: str = "campaign",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = ServiceClient(base_url, transport=transport, attempts=3, retry_timeout=10.0)
        self._auth = ServiceAuth(keys, caller=caller, audience=AUDIENCE, scopes=SCOPES)

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

    async def set_consent(self, customer_id: uuid.UUID, channel: str, status: Status, *, source: str, key: str) -> None:
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
