"""Segment rules: rule trees are validated on every write and compiled to SQL for every evaluation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.etags import NO_MATCH
from crm_shared.pagination import Page, PageRequest

from . import repository
from .estimate import PreviewSettings, estimate, names_its_customers, sample_fraction
from .exceptions import IfMatchRequired, InvalidRules, SegmentNameTaken, SegmentNotFound, StaleSegment
from .models import Segment
from .rules import Compiled, RuleErrors, compile_rules
from .schemas import Preview, SampleCustomer, SegmentCreate, SegmentRead, SegmentUpdate


def to_read(segment: Segment) -> SegmentRead:
    return SegmentRead.model_validate(segment)


def compiled(rules: Any, *, root: str = "#/rules") -> Compiled:
    try:
        return compile_rules(rules, root=root)
    except RuleErrors as exc:
        raise InvalidRules(exc.errors) from exc


async def create(session: AsyncSession, data: SegmentCreate, *, by: str) -> Segment:
    compiled(data.rules)
    if await repository.name_taken(session, data.name):
        raise SegmentNameTaken(data.name)
    return await repository.add(session, {**data.model_dump(), "created_by": by})


async def get(session: AsyncSession, segment_id: uuid.UUID, *, lock: bool = False) -> Segment:
    segment = await repository.get(session, segment_id, lock=lock)
    if segment is None:
        raise SegmentNotFound(segment_id)
    return segment


async def update(session: AsyncSession, segment_id: uuid.UUID, data: SegmentUpdate, *, if_match: int | None) -> Segment:
    if if_match is None:
        raise IfMatchRequired()
    changes = data.model_dump(exclude_unset=True)
    if "rules" in changes:
        compiled(changes["rules"])
    segment = await get(session, segment_id, lock=True)
    if if_match == NO_MATCH or if_match != segment.version:
        raise StaleSegment(segment.version)
    if "name" in changes and await repository.name_taken(session, changes["name"], other_than=segment.id):
        raise SegmentNameTaken(changes["name"])
    for key, value in changes.items():
        if key in ("name", "rules", "mode") and value is None:
            continue
        setattr(segment, key, value)
    segment.version += 1
    segment.updated_at = datetime.now(UTC)
    await session.flush()
    return segment


async def list_segments(session: AsyncSession, page: PageRequest) -> Page[SegmentRead]:
    return await page.fetch(
        session, repository.every(), order=(Segment.created_at.desc(), Segment.id.desc()), binding={}, item=to_read
    )


async def preview(session: AsyncSession, rules: Any, sample: int, settings: PreviewSettings) -> Preview:
    """The rules' count (exact on a small audience or an explicit customer list, else estimated on a uniform
    sample with its 95% interval: see estimate.py) and the best-scored matching customers."""
    c = compiled(rules)
    rows = await repository.sample(session, c, sample) if sample else []
    members = [SampleCustomer.model_validate(dict(r._mapping)) for r in rows]
    p = None if names_its_customers(rules) else sample_fraction(await repository.audience_rows(session), settings)
    if p is None:
        n = await repository.count(session, c)
        return Preview(count=n, count_exact=True, count_low=n, count_high=n, sample_size=None, sample=members)
    read, matched = await repository.count_in_sample(session, c, p)
    guess = estimate(matched, p)
    return Preview(
        count=guess.count,
        count_exact=False,
        count_low=guess.low,
        count_high=guess.high,
        sample_size=read,
        sample=members,
    )
