"""Results endpoints: a campaign's attributed conversions, uplift and money."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep

from . import service
from .schemas import CampaignResult

router = APIRouter(prefix="/api/v1/campaigns", tags=["results"])


@router.get("/{campaign_id:uuid}/results", response_model=CampaignResult)
async def campaign_results(
    campaign_id: uuid.UUID, session: ReadSessionDep, principal: Annotated[Principal, allow("campaigns:read")]
) -> CampaignResult:
    """Per group (treatment, control, global control): members, converters, conversion rate, revenue per
    member; the absolute uplift with its 95% interval; incremental revenue, cost, ROI; and a
    sample-ratio-mismatch check with a warning when the split departs from the configured share."""
    return await service.result(session, campaign_id)
