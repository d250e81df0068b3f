"""The scoring service as another service calls it: the scores list (every customer's compact scores,
paged by cursor up to 1,000 a page; a GET is safe to repeat, so it is retried), and the NDJSON export of the
live scores or of a backtest's kept copy (streamed, resumed after the last customer id when the connection
drops). The campaign service's bulk sync of its audience read model reads the list; analysts' tools the export.

Types are what the scoring service writes on the wire, decoded by msgspec; unknown fields are ignored."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from decimal import Decimal

import httpx
import msgspec

from ..http import ServiceAuth, ServiceClient
from ..schemas.common import Timestamp
from ..schemas.scores import Stage
from .ndjson import resumable_lines

AUDIENCE = "scoring"
READ_SCOPES = ("scores:read",)
SCORES_PATH = "/api/v1/scores/customers"
MAX_PAGE = 1000
log = logging.getLogger("crm.clients.scoring")
# A filter's values: one, or several (any of them) for stage, abc_class and rfm_segment.
Filters = Mapping[str, str | int | float | Decimal | bool | Sequence[str]]


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
    r: int = 0
    f: int = 0
    m: int = 0
    total_spend: Decimal | None = None
    last_purchase_at: Timestamp | None = None
    expected_purchases: dict[str, float | None] | None = None  # per horizon in days, e.g. {"90": 1.2}
    expected_spend: Decimal | None = None


class ScorePage(msgspec.Struct, kw_only=True):
    items: list[ScoreRow]
    next_cursor: str | None = None


_decode_page = msgspec.json.Decoder(ScorePage)
_decode_row = msgspec.json.Decoder(ScoreRow)


def _query(filters: Filters) -> dict[str, str | list[str]]:
    """Filters as query parameters (booleans as the API spells them, a list repeats its parameter)."""
    out: dict[str, str | list[str]] = {}
    for name, value in filters.items():
        if isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, str | int | float | Decimal):
            out[name] = str(value)
        else:
            out[name] = list(value)
    return out


def _after(row: ScoreRow) -> dict[str, str]:
    return {"after": str(row.customer_id)}


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
        # Exports stream: their own client, whose timeout bounds the wait for each chunk, not the download.
        self._stream = httpx.AsyncClient(base_url=base_url, auth=auth, timeout=timeout, transport=transport)
        self._attempts = attempts

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._stream.aclose()

    def export_scores(
        self,
        filters: Filters | None = None,
        *,
        run_id: int | None = None,
        after: uuid.UUID | None = None,
        max_resumes: int | None = None,
    ) -> AsyncIterator[ScoreRow]:
        """GET /api/v1/scores/customers/export (or /runs/{run_id}/customers/export: a backtest's kept copy):
        every customer the list's `filters` select, by customer id after `after`, streamed. A transport error
        mid-stream asks again after the last customer received (up to `max_resumes` times, default the
        client's attempts); a refused filter raises httpx.HTTPStatusError (422)."""
        path = SCORES_PATH if run_id is None else f"/api/v1/scores/runs/{run_id}/customers"
        params: dict[str, str | list[str]] = {**_query(filters or {}), **({"after": str(after)} if after else {})}
        return resumable_lines(
            self._stream,
            f"{path}/export",
            params,
            decode=_decode_row.decode,
            resume=_after,
            max_resumes=self._attempts if max_resumes is None else max_resumes,
            log=log,
        )

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
