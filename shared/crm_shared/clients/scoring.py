"""The scoring service as another service calls it: the scores list (every customer's compact scores,
paged by cursor up to 1,000 a page; a GET is safe to repeat, so it is retried). The campaign
service's bulk sync of its audience read model reads it.

Types are what the scoring service writes on the wire, decoded by msgspec; unknown fields are ignored."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import msgspec

from ..http import ServiceAuth, ServiceClient
from ..schemas.scores import Stage

AUDIENCE = "scoring"
READ_SCOPES = ("scores:read",)
SCORES_PATH = "/api/v1/scores/customers"
MAX_PAGE = 1000


class ScoreRow(msgspec.Struct, kw_only=True):
    """A customer's current scores as the list gives them."""

    customer_id: uuid.UUID
    stage: Stage
    abc_class: str | None = None
    gold: bool = False
    drag: bool = False
    rfm_segment: str | None = None
    composite_score: Decimal
    clv: Decimal | None = None
    p_alive: float | None = None
    churn_risk: float | None = None


class ScorePage(msgspec.Struct, kw_only=True):
    items: list[ScoreRow]
    next_cursor: str | None = None


_decode_page = msgspec.json.Decoder(ScorePage)


def service_auth(keys: list[str], *, caller: str, scopes: tuple[str, ...] = READ_SCOPES) -> ServiceAuth:
    """The principal a service calls the scoring service as, signed with the suite's principal keys."""
    return ServiceAuth(keys, caller=caller, audience=AUDIENCE, scopes=scopes)


class ScoringClient:
    """One scoring service (GETs retried on transport errors and 502-504 by ServiceClient); `transport` lets
    a test or an in-process caller talk to the app directly."""

    def __init__(
        self,
        base_url: str,
        *,
        auth: httpx.Auth,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
        attempts: int = 4,
    ) -> None:
        self._http = ServiceClient(base_url, timeout=timeout, attempts=attempts, transport=transport)
        self._auth = auth

    async def aclose(self) -> None:
        await self._http.aclose()

    async def list_scores(self, *, cursor: str | None = None, limit: int = MAX_PAGE) -> ScorePage:
        """GET /api/v1/scores/customers: one page of every customer's scores."""
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        response = await self._http.get(SCORES_PATH, params=params, auth=self._auth)
        return _decode_page.decode(response.raise_for_status().content)

    async def all_scores(self, *, limit: int = MAX_PAGE) -> AsyncIterator[list[ScoreRow]]:
        """Every customer's scores, a page at a time."""
        cursor: str | None = None
        while True:
            page = await self.list_scores(cursor=cursor, limit=limit)
            yield page.items
            cursor = page.next_cursor
            if not cursor:
                return
