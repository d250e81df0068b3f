"""Rule-set endpoints: read the scoring rules in force, and replace one rule set (If-Match required).
Thin handlers; the rules live in service.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Response

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep, SessionDep
from crm_shared.etags import IfMatchDep, etag
from crm_shared.idempotency import IdempotencyDep

from . import service
from .schemas import Abc, RuleSetRead

router = APIRouter(prefix="/api/v1/scores", tags=["rules"])
READ, WRITE = "scores:read", "scores:write"
Name = Annotated[str, Path(max_length=32, description="rfm_segments, abc, lifecycle, clv, changes, churn or tenant")]


@router.get("/rules", response_model=dict[str, RuleSetRead])
async def list_rule_sets(
    session: ReadSessionDep, principal: Annotated[Principal, allow(READ)]
) -> dict[str, RuleSetRead]:
    """Every rule set in force, by name."""
    return await service.all_rule_sets(session)


@router.get("/rules/{name}", response_model=RuleSetRead, responses={404: {"description": "unknown rule set"}})
async def get_rule_set(name: Name, session: ReadSessionDep, principal: Annotated[Principal, allow(READ)]) -> Response:
    """One rule set; the ETag header is what `If-Match` on an update expects."""
    rule_set = await service.get(session, name)
    return Response(rule_set.model_dump_json(), media_type="application/json", headers={"ETag": etag(rule_set.version)})


@router.put(
    "/rules/{name}",
    response_model=RuleSetRead,
    responses={404: {"description": "unknown rule set"}, 412: {"description": "stale If-Match"}, 428: {}},
)
async def put_rule_set(
    name: Name,
    body: Annotated[
        dict[str, Any],
        Body(description="the full rule set, as GET returns its `rules`", examples=[Abc().model_dump()]),
    ],
    session: SessionDep,
    principal: Annotated[Principal, allow(WRITE)],
    idem: IdempotencyDep,
    if_match: IfMatchDep,
) -> Response:
    """Replace a rule set (optimistic concurrency with If-Match). Scores follow on the next recompute
    (POST /api/v1/scores/recompute) and for each customer rescored by a new order."""
    rule_set = await service.replace(session, name, body, if_match=if_match, by=principal.client_id)
    return await idem.respond(200, rule_set, version=rule_set.version)
