"""Stand-in services for the gateway tests: they echo what reached them, stall on demand, stream
big bodies and publish an OpenAPI document, like the real services do."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel

DOWNLOAD_CHUNK = bytes(range(256)) * 256  # 64 KiB
DOWNLOAD_CHUNKS = 32  # 2 MiB in all
SLOW_SECONDS = 3.0


class Money(BaseModel):  # identical in both services: shared in the merged document
    amount: str
    currency: str


class Customer(BaseModel):
    id: int
    name: str
    lifetime_value: Money


class Score(BaseModel):
    customer_id: int
    rfm: str
    clv: Money


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse(
        {
            "service": request.app.title,
            "method": request.method,
            "path": request.url.path,
            "raw_path": request.scope["raw_path"].decode(),
            "query": request.url.query,
            "headers": dict(request.headers),
            "body_length": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
        },
        headers={"x-upstream": request.app.title, "x-request-id": "upstream-value-is-replaced"},
    )


def _common(app: FastAPI) -> None:
    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> dict:
        return {"status": "ready"}

    @app.get("/internal/debug")  # outside the service's prefixes: not in the merged document
    async def internal() -> dict:
        return {}


def customer_app() -> FastAPI:
    class Problem(BaseModel):  # same name as scoring's, different shape: renamed when merged
        detail: str

    app = FastAPI(title="customer")
    _common(app)
    router = APIRouter(responses={404: {"model": Problem}})

    @router.get("/api/v1/customers/{customer_id}/card", response_model=Customer)
    async def get_customer(customer_id: int) -> Customer:
        return Customer(id=customer_id, name="x", lifetime_value=Money(amount="1", currency="EUR"))

    @router.get("/api/v1/customers/slow/{seconds}", include_in_schema=False)
    async def slow(seconds: float) -> dict:
        await asyncio.sleep(seconds)
        return {"slept": seconds}

    @router.get("/api/v1/orders/export", include_in_schema=False)
    async def export() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(DOWNLOAD_CHUNKS):
                yield DOWNLOAD_CHUNK
                await asyncio.sleep(0)

        return StreamingResponse(chunks(), media_type="application/x-ndjson")

    @router.get("/api/v1/orders/redirect", include_in_schema=False)
    async def redirect() -> Response:
        return Response(status_code=303, headers={"location": "/api/v1/orders/elsewhere"})

    app.include_router(router)
    app.add_api_route(
        "/api/v1/{rest:path}",
        echo,
        methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
        include_in_schema=False,
    )
    return app


def scoring_app() -> FastAPI:
    class Problem(BaseModel):
        detail: str
        code: int

    app = FastAPI(title="scoring")
    _common(app)

    @app.get("/api/v1/scores/{customer_id}/latest", response_model=Score, responses={409: {"model": Problem}})
    async def get_score(customer_id: int) -> Score:
        return Score(customer_id=customer_id, rfm="555", clv=Money(amount="2", currency="EUR"))

    app.add_api_route("/api/v1/{rest:path}", echo, methods=["GET", "POST"], include_in_schema=False)
    return app
