"""Hygiene rules: which customers are probably the same, and how two of them become one."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared import outbox
from crm_shared.auth import Principal
from crm_shared.db import driver_connection
from crm_shared.pagination import PageRequest, invalid_cursor

from ..customers import repository as customers_repository
from ..customers.exceptions import CustomerNotFound, StaleCustomer
from ..customers.models import Customer
from ..customers.normalize import display_name
from ..customers.service import customer_event
from ..events import envelope
from . import repository
from .exceptions import AlreadyMerged, KindMismatch, MergedCustomerUnknown, SelfMerge
from .names import name_cluster_steps
from .schemas import DuplicateGroup, DuplicateMember, DuplicatePage, DuplicateReason

REASONS: tuple[DuplicateReason, ...] = ("email", "phone", "name")
MEMBERS_BOUND = 200  # members of one company compared by name (pairwise, so bounded)
COMPANY_BATCH = 200  # companies recomputed per transaction
SLICE_SECONDS = 0.0005  # the longest the name comparisons keep the event loop before letting requests run
# Survivor fields filled from the merged customer when empty.
FILLABLE = (
    "first_name",
    "last_name",
    "company_name",
    "email",
    "phone",
    "address",
    "company_id",
    "payment_terms",
    "brand_contribution",
    "declared_budget",
    "share_of_wallet",
    "preferred_channel",
    "max_contacts_per_month",
    "time_zone",
)


# --- duplicates ---------------------------------------------------------------------------------


async def refresh_name_groups(conn: asyncpg.Connection, companies: int = COMPANY_BATCH) -> int:
    """Recompute the kept groups of up to `companies` marked companies (their members changed) in one
    transaction; returns how many (0: none was waiting, or another worker holds them). The background worker
    (worker.py) calls it until nothing is left; the listing never does. Work in proportion to the changes, not
    to the companies."""
    async with conn.transaction():
        batch = await repository.claim_name_group_marks(conn, companies)
        if not batch:
            return 0
        members = await repository.company_members(conn, batch, MEMBERS_BOUND)
        groups = await _clusters_of(members)
        await repository.replace_name_groups(conn, batch, groups)
    return len(batch)


async def _clusters_of(
    members: Sequence[tuple[uuid.UUID, Sequence[tuple[uuid.UUID, str]]]],
) -> list[tuple[uuid.UUID, list[uuid.UUID]]]:
    """The companies' groups on the event loop, handing it back at least every SLICE_SECONDS, so a request waits
    at most that long at each of its I/O steps. Not in a thread: the comparisons' Python holds the GIL, which
    the loop then waits for up to the interpreter's switch interval (5 ms) at every I/O wake-up of every request.
    With difflib on every pair in a thread, a catch-up of 20,000 companies took 24.6 s and 21.5 s of the process's
    CPU, and reads answered in 33-50 ms at p50 during it against 5-9 ms idle; bounded by names.py, on the loop,
    with the worker's rest between passes: 8.9 s, reads 7-11 ms (bench/hygiene/name_groups.py)."""
    out: list[tuple[uuid.UUID, list[uuid.UUID]]] = []
    started = time.perf_counter()
    for company, people in members:
        steps = name_cluster_steps(people)
        groups: list[list[uuid.UUID]] | None = None
        while groups is None:
            try:
                next(steps)
            except StopIteration as done:
                groups = done.value
            if time.perf_counter() - started > SLICE_SECONDS:
                await asyncio.sleep(0)
                started = time.perf_counter()
        out.extend((company, ids) for ids in groups)
    return out


async def _name_groups(
    conn: asyncpg.Connection, after_key: str | None, need: int
) -> list[tuple[str, uuid.UUID, list[uuid.UUID]]]:
    """(key, company id, member ids) of similar-name groups after `after_key` ("<company>:<first id>"), as kept:
    the companies still marked are answered as they were before their change."""
    after = None if after_key is None else _name_key(after_key)
    return [
        (f"{company}:{ids[0]}", company, ids) for company, ids in await repository.name_groups_after(conn, after, need)
    ]


def _name_key(key: str) -> tuple[uuid.UUID, uuid.UUID]:
    company, first = key.split(":")
    return uuid.UUID(company), uuid.UUID(first)


def _resumable(reason: str, key: str) -> bool:
    """A cursor's (reason, key) this listing can continue from: a name group's key is "<company>:<id>"."""
    if reason not in REASONS:
        return False
    if reason != "name":
        return True
    try:
        _name_key(key)
    except ValueError:
        return False
    return True


async def duplicates(session: AsyncSession, *, reason: DuplicateReason | None, page: PageRequest) -> DuplicatePage:
    """Candidate groups, by reason (email, phone, name) then key; cursor pagination. Name groups are read as kept
    (the background refresh recomputes marked companies); `pending_companies` says how many are behind."""
    conn = await driver_connection(session)
    binding = {"reason": reason}
    position = page.after(binding, shape=(str, str))
    if position is not None and not _resumable(*position):
        raise invalid_cursor()
    after_reason, after_key = position or (None, None)
    reasons = [r for r in REASONS if reason in (None, r)]
    if after_reason is not None:
        reasons = reasons[reasons.index(after_reason) :]
    found: list[tuple[DuplicateReason, str, uuid.UUID | None, list[uuid.UUID]]] = []
    for r in reasons:
        need = page.limit + 1 - len(found)
        if need <= 0:
            break
        after = after_key if r == after_reason else None
        if r == "name":
            found.extend(("name", key, company, ids) for key, company, ids in await _name_groups(conn, after, need))
        else:
            found.extend((r, key, None, ids) for key, ids in await repository.same_value_groups(conn, r, after, need))
    found, next_cursor = page.cut(found, binding, lambda group: [group[0], group[1]])
    summaries = await repository.customer_summaries(conn, [i for g in found for i in g[3]])
    groups = []
    for group_reason, key, company, ids in found:
        members = sorted((summaries[i] for i in ids if i in summaries), key=lambda m: (m["created_at"], str(m["id"])))
        groups.append(
            DuplicateGroup(
                reason=group_reason,
                key=str(company) if company else key,
                company_id=company,
                customers=[DuplicateMember(**m) for m in members],
            )
        )
    pending = await repository.pending_name_group_companies(conn) if reason in (None, "name") else None
    return DuplicatePage(items=groups, next_cursor=next_cursor, pending_companies=pending)


# --- merge ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class MergeOutcome:
    survivor: Customer
    merged_id: uuid.UUID
    moved: dict[str, int]
    filled: list[str]


def _fill(survivor: asyncpg.Record, merged: asyncpg.Record) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field in FILLABLE:
        if survivor[field] is None and merged[field] is not None:
            if field == "company_id" and merged[field] == survivor["id"]:
                continue  # an individual cannot belong to itself
            values[field] = merged[field]
    names = {f: values.get(f, survivor[f]) for f in ("first_name", "last_name", "company_name")}
    if any(f in values for f in names):
        values["display_name"] = display_name(
            survivor["kind"], names["first_name"], names["last_name"], names["company_name"]
        )
    return values


async def merge(
    session: AsyncSession,
    *,
    principal: Principal,
    survivor_id: uuid.UUID,
    merged_id: uuid.UUID,
    if_match: int | None,
) -> MergeOutcome:
    """Fold `merged_id` into `survivor_id` in this transaction; nothing changes when a rule refuses."""
    if survivor_id == merged_id:
        raise SelfMerge()
    conn = await driver_connection(session)
    rows = await repository.lock_pair(conn, survivor_id, merged_id)
    survivor, merged = rows.get(survivor_id), rows.get(merged_id)
    if survivor is None:
        raise CustomerNotFound(survivor_id)
    if merged is None:
        raise MergedCustomerUnknown(merged_id)
    for row in (survivor, merged):
        if row["merged_into"] is not None:
            raise AlreadyMerged(row["id"], row["merged_into"])
    if if_match is not None and survivor["version"] != if_match:
        raise StaleCustomer(survivor["version"])
    if survivor["kind"] != merged["kind"]:
        raise KindMismatch(survivor["kind"], merged["kind"])

    consents_before = await repository.current_consents(conn, survivor_id)
    moved = await repository.move_children(conn, survivor_id, merged_id)
    moved["referrals"], moved["referrals_dropped"] = await repository.move_referrals(conn, survivor_id, merged_id)
    moved["customer_tags"] = await repository.union_tags(conn, survivor_id, merged_id)
    consent_rows = await repository.merge_consents(conn, survivor_id, merged_id)
    moved["consents"] = len(consent_rows)
    moved["company_members"], moved["earlier_merges"] = await repository.repoint_customers(conn, survivor_id, merged_id)
    values = _fill(survivor, merged)
    await repository.fill_survivor(conn, survivor_id, values)
    stamp = await repository.mark_merged(conn, survivor_id, merged_id, principal.client_id)
    filled = [f for f in values if f != "display_name"]

    customer = await customers_repository.get(session, survivor_id)
    assert customer is not None
    at = stamp["merged_at"].astimezone(UTC)
    events = [
        envelope(
            "customer.merged",
            subject=survivor_id,
            data={
                "survivor_id": str(survivor_id),
                "merged_id": str(merged_id),
                "moved": moved,
                "filled": filled,
                "merged_by": principal.client_id,
                "at": at.isoformat(),
            },
            time=at,
        )
    ]
    if filled:
        events.append(customer_event("customer.updated", customer, filled))
    for row in consent_rows:
        previous = consents_before.get(row["channel"])
        if previous != row["status"]:
            data = {
                "customer_id": str(survivor_id),
                "channel": row["channel"],
                "status": row["status"],
                "source": row["source"],
                "at": row["updated_at"].astimezone(UTC).isoformat(),
                "previous_status": previous,
            }
            events.append(envelope("consent.changed", subject=survivor_id, data=data))
    await outbox.publish(session, events)
    return MergeOutcome(customer, merged_id, moved, filled)
