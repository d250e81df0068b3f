"""Bulk reads of the scores: the list's items carry expected purchases and spend, and the NDJSON export of the
live scores and of a backtest's kept copy gives exactly the paged list's rows and fields (with its filters),
page after page, resumes after the last line (by `after`, and in the typed client after a cut), refuses bad
filters before streaming, and needs scores:read."""

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from crm_scoring.main import create_app
from crm_scoring.scores import service
from crm_scoring.scores.schemas import ScoreFilters
from crm_shared.clients.scoring import ScoringClient, service_auth
from crm_shared.db import create_read_sessionmaker
from crm_shared.testing import app_client, partner_headers, user_headers
from tests.scoring.helpers import cid, finished_run, insert_calibration, load_purchases, mbgnbd_orders, seed_base

URL = "/api/v1/scores/customers"
EXPORT = f"{URL}/export"
NDJSON = "application/x-ndjson"


@pytest.fixture
async def base(db):
    """The 12 customers of the shared base; 1-4 scored by a calibration with horizons 90 and 365 days, 5 by
    one with 30 days only (rows keep the calibration they were scored with)."""
    await seed_base(db)
    two, one = await insert_calibration(db, horizons=(90, 365)), await insert_calibration(db, horizons=(30,))
    for i in range(1, 5):
        await db.execute(
            "UPDATE customer_scores SET calibration_id = $2, expected_purchases = $3, expected_spend = $4 "
            "WHERE customer_id = $1",
            cid(i), two, [i * 0.5, i * 1.25], i * 100,
        )  # fmt: skip
    await db.execute(
        "UPDATE customer_scores SET calibration_id = $2, expected_purchases = $3 WHERE customer_id = $1",
        cid(5), one, [0.75],
    )  # fmt: skip


def _lines(r: httpx.Response) -> list[dict]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith(NDJSON)
    assert r.text == "" or r.text.endswith("\n")
    return [json.loads(line) for line in r.text.splitlines()]


async def _paged(client: httpx.AsyncClient, path: str, params: dict, limit: int = 5) -> list[dict]:
    items, cursor = [], None
    while True:
        query = {**params, "sort": "customer_id", "limit": limit, **({"cursor": cursor} if cursor else {})}
        body = (await client.get(path, params=query)).json()
        items += body["items"]
        if not (cursor := body["next_cursor"]):
            return items


async def test_list_items_carry_expected_purchases_per_horizon_and_spend(reader, base):
    items = {i["customer_id"]: i for i in await _paged(reader, URL, {})}
    assert items[str(cid(2))]["expected_purchases"] == {"90": 1.0, "365": 2.5}
    assert items[str(cid(2))]["expected_spend"] == "200.00"
    assert (items[str(cid(5))]["expected_purchases"], items[str(cid(5))]["expected_spend"]) == ({"30": 0.75}, None)
    assert (items[str(cid(9))]["expected_purchases"], items[str(cid(9))]["expected_spend"]) == (None, None)
    # The detail shows the same figures.
    detail = (await reader.get(f"{URL}/{cid(2)}")).json()["clv"]
    assert (detail["expected_purchases"], detail["expected_spend"]) == ({"90": 1.0, "365": 2.5}, "200.00")


FILTERS = [
    {},
    {"stage": ["decline", "churned"]},
    {"abc_class": "A", "gold": "true"},
    {"rfm_segment": ["champions", "loyal"]},
    {"clv_min": "100", "churn_risk_max": "0.6"},
    {"composite_min": "10", "composite_max": "50"},
    {"drag": "false", "abc_class": "C"},
    {"rfm_segment": "nobody"},
]


@pytest.mark.parametrize("filters", FILTERS)
async def test_the_export_is_the_paged_list(reader, base, filters):
    listed = await _paged(reader, URL, filters)
    exported = _lines(await reader.get(EXPORT, params=filters))
    assert exported == listed  # same rows, same order (by id), same fields and values
    assert all(set(line) == set(exported[0]) for line in exported)


async def test_the_export_resumes_after_a_customer_id(reader, base):
    everyone = _lines(await reader.get(EXPORT))
    assert [line["customer_id"] for line in everyone] == [str(cid(i)) for i in range(1, 13)]
    later = _lines(await reader.get(EXPORT, params={"after": str(cid(7))}))
    assert later == everyone[7:]
    assert _lines(await reader.get(EXPORT, params={"after": str(cid(12))})) == []
    maturity = _lines(await reader.get(EXPORT, params={"stage": "maturity", "after": str(cid(2))}))
    assert [line["customer_id"] for line in maturity] == [str(cid(3)), str(cid(4))]


@pytest.mark.parametrize("page_size", [1, 4, 5, 6, 11, 12, 13])
async def test_pages_of_any_size_give_every_row_once(engine, base, page_size):
    """The stream reads page after page in its own short sessions; page edges lose and repeat nothing."""
    sessions = create_read_sessionmaker(engine)
    chunks = [c async for c in service.export_lines(sessions, ScoreFilters(), None, page_size=page_size)]
    ids = [json.loads(line)["customer_id"] for c in chunks for line in c.decode().splitlines()]
    assert ids == [str(cid(i)) for i in range(1, 13)]
    assert len(chunks) <= -(-12 // page_size) + 1


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"stage": "asleep"}, "stage"),
        ({"churn_risk_min": "2"}, "churn_risk_min"),
        ({"clv_min": "500", "clv_max": "100"}, "clv_min"),
        ({"after": "not-an-id"}, "after"),
        ({"stagee": "growth"}, "stagee"),
        ({"sort": "-clv"}, "sort"),  # the export is by id only: a sort would be silently ignored
    ],
)
async def test_bad_filters_are_refused_before_streaming(reader, base, params, parameter):
    r = await reader.get(EXPORT, params=params)
    assert r.status_code in (400, 422), r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert parameter in [e["parameter"] for e in r.json()["errors"]]


async def test_the_export_needs_scores_read(settings, base):
    others = [
        user_headers("u", "scores:write", service="scoring"),
        partner_headers("shop-1", "scores:read", service="scoring"),
    ]
    for headers in others:
        async with app_client(create_app(settings), headers=headers) as client:
            assert (await client.get(EXPORT)).status_code == 403
            assert (await client.get("/api/v1/scores/runs/1/customers/export")).status_code == 403


class CutOnce(httpx.AsyncBaseTransport):
    """The app's transport, but the first export answer breaks after `keep` lines (a dropped connection)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, keep: int) -> None:
        self.inner, self.keep = inner, keep
        self.requests: list[httpx.URL] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request.url)
        response = await self.inner.handle_async_request(request)
        if len(self.requests) > 1 or not request.url.path.endswith("/export"):
            return response
        body = await response.aread()
        keep = b"".join(line + b"\n" for line in body.splitlines()[: self.keep])

        async def broken() -> AsyncIterator[bytes]:
            yield keep
            raise httpx.ReadError("connection reset")

        return httpx.Response(response.status_code, headers=response.headers, stream=_Stream(broken()))


class _Stream(httpx.AsyncByteStream):
    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self.chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.chunks:
            yield chunk


async def test_the_client_exports_typed_rows_and_resumes_after_a_cut(settings, base):
    async with app_client(create_app(settings)) as direct:
        transport = CutOnce(direct._transport, keep=5)
        auth = service_auth(settings.principal_key_values, caller="analytics")
        client = ScoringClient(str(direct.base_url), auth=auth, transport=transport)
        try:
            rows = [r async for r in client.export_scores()]
            assert [r.customer_id for r in rows] == [cid(i) for i in range(1, 13)]  # each once, none lost
            assert [u.params.get("after") for u in transport.requests] == [None, str(cid(5))]
            assert rows[1].expected_purchases == {"90": 1.0, "365": 2.5}
            assert str(rows[1].expected_spend) == "200.00"
            declining = [r async for r in client.export_scores({"stage": ["decline", "churned"], "drag": True})]
            assert [r.customer_id for r in declining] == [cid(i) for i in (7, 8, 9, 10)]
            with pytest.raises(httpx.HTTPStatusError) as refused:
                [r async for r in client.export_scores({"p_alive_min": 3})]
            assert refused.value.response.status_code == 422
        finally:
            await client.aclose()


NOW = datetime.now(UTC).replace(microsecond=0)


async def test_a_runs_kept_copy_exports_like_its_list(api, reader, db, settings):
    await load_purchases(db, mbgnbd_orders(150, 21, NOW, 120))
    as_of = NOW - timedelta(days=120)
    r = await api.post("/api/v1/scores/recompute", json={"as_of": as_of.isoformat(), "keep_scores": True})
    assert r.status_code == 202, r.text
    run = await finished_run(api, r.headers["location"])
    assert run["status"] == "succeeded", run
    copies = f"/api/v1/scores/runs/{run['id']}/customers"

    everyone = _lines(await reader.get(f"{copies}/export"))
    assert everyone == await _paged(reader, copies, {}, limit=40)
    assert len(everyone) == run["stats"]["kept_scores"] > 0
    horizons = {str(h) for h in run["stats"]["horizons_days"]}
    assert all(set(line["expected_purchases"]) == horizons for line in everyone if line["expected_purchases"])
    assert any(line["expected_purchases"] for line in everyone)
    churned = _lines(await reader.get(f"{copies}/export", params={"stage": "churned"}))
    assert churned == await _paged(reader, copies, {"stage": "churned"})
    cut = everyone[9]["customer_id"]
    assert _lines(await reader.get(f"{copies}/export", params={"after": cut})) == everyone[10:]

    async with app_client(create_app(settings)) as direct:
        auth = service_auth(settings.principal_key_values, caller="analytics")
        client = ScoringClient(str(direct.base_url), auth=auth, transport=direct._transport)
        try:
            rows = [r async for r in client.export_scores(run_id=run["id"], after=uuid.UUID(cut))]
        finally:
            await client.aclose()
    assert [str(r.customer_id) for r in rows] == [line["customer_id"] for line in everyone[10:]]

    # No copy, no run: answered before any line.
    assert (await reader.get(f"/api/v1/scores/runs/{run['id'] + 1}/customers/export")).status_code == 404
    assert (await api.delete(copies)).status_code == 204
    assert (await reader.get(f"{copies}/export")).status_code == 404
    assert (await reader.get(f"{copies}/export", params={"stage": "nope"})).status_code == 422
