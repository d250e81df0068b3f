"""The customer service's lists the bulk sync reads, with personal data (email and phone are delivery
addresses): customers, consents per channel and status, tags. Paged by cursor; each GET is retried on
transport errors and 502-504 (ServiceClient). (Order export and score-attribute reads live in
crm_shared.clients.customer.)"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec

from crm_shared.http import ServiceAuth, ServiceClient
from crm_shared.schemas.common import Timestamp
from crm_shared.schemas.events import ConsentStatus, CustomerData

SCOPES = ("customers:read", "pii:read")


class CustomerPage(msgspec.Struct, kw_only=True):
    items: list[CustomerData]
    next_cursor: str | None = None


class Consented(msgspec.Struct, kw_only=True):
    customer_id: uuid.UUID
    status: ConsentStatus
    updated_at: Timestamp


class ConsentPage(msgspec.Struct, kw_only=True):
    items: list[Consented]
    next_cursor: str | None = None


class Tag(msgspec.Struct, kw_only=True):
    key: str


class TagPage(msgspec.Struct, kw_only=True):
    items: list[Tag]
    next_cursor: str | None = None


class IdOnly(msgspec.Struct, kw_only=True):
    id: uuid.UUID


class IdPage(msgspec.Struct, kw_only=True):
    items: list[IdOnly]
    next_cursor: str | None = None


def auth(keys: list[str], *, caller: str = "campaign") -> ServiceAuth:
    return ServiceAuth(keys, caller=caller, audience="customer", scopes=SCOPES)


class CustomerLists:
    def __init__(
        self, base_url: str, *, auth: httpx.Auth, transport: httpx.AsyncBaseTransport | None = None, attempts: int = 4
    ) -> None:
        self._http = ServiceClient(base_url, timeout=60.0, attempts=attempts, transport=transport)
        self._auth = auth

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _pages(self, path: str, kind: type[Any], params: dict[str, Any]) -> AsyncIterator[Any]:
        decoder = msgspec.json.Decoder(kind)
        cursor: str | None = None
        while True:
            query = {**params, **({"cursor": cursor} if cursor else {})}
            response = await self._http.get(path, params=query, auth=self._auth)
            page = decoder.decode(response.raise_for_status().content)
            yield page.items
            cursor = page.next_cursor
            if not cursor:
                return

    def customers(self) -> AsyncIterator[list[CustomerData]]:
        return self._pages("/api/v1/customers", CustomerPage, {"limit": 100, "include_merged": "true"})

    def consents(self, channel: str, status: str) -> AsyncIterator[list[Consented]]:
        params = {"channel": channel, "status": status, "limit": 1000}
        return self._pages("/api/v1/customers/consents", ConsentPage, params)

    def tags(self) -> AsyncIterator[list[Tag]]:
        return self._pages("/api/v1/customers/tags", TagPage, {"limit": 100})

    def tagged(self, tag: str) -> AsyncIterator[list[IdOnly]]:
        return self._pages("/api/v1/customers", IdPage, {"limit": 100, "tag": tag, "include_merged": "true"})
