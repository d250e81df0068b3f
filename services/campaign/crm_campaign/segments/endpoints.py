"""Segments endpoints: rule-based target segments, their field catalogue and previews."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep, SessionDep
from crm_shared.etags import IfMatchDep, etag
from crm_shared.idempotency import IdempotencyDep
from crm_shared.pagination import Page, PageDep

from . import service
from .estimate import PreviewSettings
from .rules import field_catalogue
from .schemas import FieldCatalogue, FieldInfo, Preview, PreviewRequest, SegmentCreate, SegmentRead, SegmentUpdate

router = APIRouter(prefix="/api/v1/segments", tags=["segments"])


def preview_settings(request: Request) -> PreviewSettings:
    """The service settings' preview fields (their defaults where the settings have none)."""
    return PreviewSettings.model_validate(request.app.state.settings, from_attributes=True)


PreviewSettingsDep = Annotated[PreviewSettings, Depends(preview_settings)]
# The previews' OpenAPI descriptions: what each previews, then how it counts (COUNTS).
PREVIEW_RULES = """Count (and sample) the customers a rule tree matches now, without saving it. Part of authoring
segments, so it needs segments:write like creating one (the gateway asks a write scope of every POST); a saved
segment's preview is `GET /{segment_id}/preview` (segments:read)."""
PREVIEW_SEGMENT = "Count (and sample) the customers a saved segment matches now."
COUNTS = """

On an audience of `preview_exact_below` rows or more (default 100,000) the count is an estimate, for
building a segment interactively: the rules are counted on a uniform random sample of about
`preview_sample_rows` audience rows (default 25,000), `count` is the estimate, `count_exact` is false and
`count_low`-`count_high` its 95% interval (`sample_size`: the rows counted on). Smaller audiences, and rules
listing their customers (`customer_id in [...]`), are counted exactly (`count_exact` true). A launch always
evaluates the segment exactly."""


@router.get("/fields", response_model=FieldCatalogue)
async def fields(principal: Annotated[Principal, allow("segments:read")]) -> FieldCatalogue:
    """What rules may filter on: each field, its type, operators and allowed values."""
    return FieldCatalogue(items=[FieldInfo(**f) for f in field_catalogue()])


@router.post("/preview", response_model=Preview, description=PREVIEW_RULES + COUNTS)
async def preview_rules(
    data: PreviewRequest,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("segments:write")],
    settings: PreviewSettingsDep,
) -> Preview:
    return await service.preview(session, data.rules, data.sample, settings)


@router.post("", status_code=201, response_model=SegmentRead, responses={409: {"description": "name taken"}})
async def create_segment(
    data: SegmentCreate,
    session: SessionDep,
    principal: Annotated[Principal, allow("segments:write")],
    idem: IdempotencyDep,
) -> Response:
    """Save a segment; invalid rules are a 422 whose errors point at the offending rule node."""
    segment = await service.create(session, data, by=principal.client_id)
    return await idem.respond(
        201, service.to_read(segment), location=f"{router.prefix}/{segment.id}", version=segment.version
    )


@router.get("", response_model=Page[SegmentRead])
async def list_segments(
    session: ReadSessionDep, principal: Annotated[Principal, allow("segments:read")], page: PageDep
) -> Page[SegmentRead]:
    """Segments, newest first; cursor pagination."""
    return await service.list_segments(session, page)


@router.get("/{segment_id}", response_model=SegmentRead)
async def get_segment(
    segment_id: uuid.UUID,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("segments:read")],
    response: Response,
) -> SegmentRead:
    segment = await service.get(session, segment_id)
    response.headers["ETag"] = etag(segment.version)
    return service.to_read(segment)


@router.patch("/{segment_id}", response_model=SegmentRead, responses={412: {"description": "stale If-Match"}})
async def update_segment(
    segment_id: uuid.UUID,
    data: SegmentUpdate,
    session: SessionDep,
    principal: Annotated[Principal, allow("segments:write")],
    idem: IdempotencyDep,
    if_match: IfMatchDep,
) -> Response:
    """Change a segment (If-Match required). Launched campaigns keep their members; a dynamic segment's
    queued recipients are re-checked against the new rules at send (dropped, never added)."""
    segment = await service.update(session, segment_id, data, if_match=if_match)
    return await idem.respond(200, service.to_read(segment), version=segment.version)


@router.get("/{segment_id}/preview", response_model=Preview, description=PREVIEW_SEGMENT + COUNTS)
async def preview_segment(
    segment_id: uuid.UUID,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("segments:read")],
    settings: PreviewSettingsDep,
    sample: Annotated[int, Query(ge=0, le=100)] = 10,
) -> Preview:
    segment = await service.get(session, segment_id)
    return await service.preview(session, segment.rules, sample, settings)
