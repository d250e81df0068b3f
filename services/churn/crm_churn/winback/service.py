"""Win-back rules: a case per churn record (analysis: eligible or excluded, with the recommended strategy),
implementation (owner, senior for high value; conversations, outreach, offers under the offer guard) and
assessment (won when an order arrives within the window, lost when it passes; success rate and
benefit/cost). A case's allowed actions depend on its state; any other answers 409 and changes nothing.

The window's end is read lazily: an open case whose window has passed reads as lost at once (and refuses
actions); the sweep (sweep.py: every few minutes in the app, or POST /winback/sweep) records the loss,
publishes `winback.lost` and marks the churn record lost, once `settle_after_hours` have passed so that an
order placed within the window but delivered late still wins the case (the order's own time decides)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared import outbox
from crm_shared.auth import Principal
from crm_shared.pagination import Page, PageRequest
from crm_shared.schemas.churn import WinbackClosedData, WinbackMergedData, WinbackOpenedData

from ..events import envelope
from ..records import service as records
from ..records.models import ChurnRecord
from ..watchlist import settings_store
from . import eligibility, repository, totals
from .exceptions import BadTransition, CaseNotFound, OfferTooLarge, RecordClosed, SeniorOwnerRequired, StaleCase
from .models import OPEN_STATES, WinbackAction, WinbackCase
from .schemas import (
    ActionCreate,
    ActionRead,
    Assign,
    CaseDetail,
    CaseFilters,
    CaseRead,
    OfferCreate,
    Recommendation,
    Report,
    ReportQuery,
    ReportRow,
    WinbackRules,
)

OFFERS_SCOPE = "offers:read"
CENT = Decimal("0.01")
# What each state allows (the window passing moves an open case to lost by itself).
ACTIONS: dict[str, tuple[str, ...]] = {
    "analysis": ("assign", "exclude", "reassess", "close"),
    "implementation": ("assign", "act", "offer", "close"),
    "excluded": ("include", "reassess"),
    "won": (),
    "lost": (),
    "merged": (),
}
PHASES = {"analysis": "analysis", "excluded": "analysis", "implementation": "implementation"}


RULES = settings_store.Document("winback", WinbackRules)


async def load_rules(session: AsyncSession) -> settings_store.Stored[WinbackRules]:
    return await RULES.load(session)


def now_utc() -> datetime:
    return datetime.now(UTC)


def state_of(case: WinbackCase, now: datetime) -> str:
    """The state as reads show it: an open case whose window has passed is lost."""
    return "lost" if case.status in OPEN_STATES and case.window_ends_at < now else case.status


def _event(case: WinbackCase, kind: type[WinbackOpenedData | WinbackClosedData], **extra: Any) -> dict[str, object]:
    """The event of a case: the contract's fields read off the case (same names), `case_id` its id."""
    fields: dict[str, Any] = {name: getattr(case, name) for name in kind.__struct_fields__ if hasattr(case, name)}
    data = kind(**fields, case_id=case.id, **extra)
    return envelope(f"winback.{extra.get('outcome', 'opened')}", subject=case.customer_id, data=data)


def _event_opened(case: WinbackCase) -> dict[str, object]:
    return _event(case, WinbackOpenedData)


def _event_closed(case: WinbackCase) -> dict[str, object]:
    return _event(case, WinbackClosedData, outcome="won" if case.status == "won" else "lost")


def _touch(case: WinbackCase, now: datetime) -> None:
    case.version += 1
    case.updated_at = now


async def _recommend(session: AsyncSession, case: WinbackCase, rules: WinbackRules, now: datetime) -> Recommendation:
    similar = await repository.similar(session, case.primary_reason, case.value_band, now)
    strategy, basis = eligibility.recommend(case.primary_reason, similar, rules)
    return Recommendation(strategy=strategy, basis=basis, similar=similar)


async def _apply_verdict(
    session: AsyncSession, case: WinbackCase, record: ChurnRecord, rules: WinbackRules, now: datetime
) -> None:
    """Evaluate the record's current reasons and value: to analysis (the window starting now, when it was
    not open before) or to excluded, with the record following (in_winback / churned)."""
    case.reasons = await repository.record_reasons(session, record.id)
    verdict = eligibility.evaluate(case.reasons, case.expected_value, rules)
    was_open = case.status in OPEN_STATES
    case.primary_reason = verdict.primary_reason
    case.exclusion_rule, case.exclusion = verdict.rule, verdict.detail
    if verdict.eligible:
        case.strategy = case.strategy if was_open else (await _recommend(session, case, rules, now)).strategy
        case.requires_senior = case.expected_value >= rules.senior_value_threshold
        if not was_open:
            case.status = "analysis"
            case.window_ends_at = now + timedelta(days=rules.window_days)
            records.set_status(record, "in_winback")
            await outbox.publish(session, [_event_opened(case)])
    elif was_open:
        case.status = "excluded"
        records.set_status(record, "churned")
    else:
        case.status = "excluded"


async def open_case(session: AsyncSession, record: ChurnRecord) -> WinbackCase:
    """The analysis of a new churn record (records/hooks.py `on_churned`): a case, eligible or excluded."""
    rules = (await load_rules(session)).settings
    now = now_utc()
    value = eligibility.expected_value(record.clv, record.revenue_12m, record.margin)
    case = await repository.add(
        session,
        {
            "record_id": record.id,
            "customer_id": record.customer_id,
            "status": "excluded",  # until the verdict below
            "expected_value": value,
            "value_band": record.abc_class,
            "opened_at": now,
            "window_ends_at": now + timedelta(days=rules.window_days),
        },
    )
    await _apply_verdict(session, case, record, rules, now)
    await session.flush()
    return case


async def close_won_back(session: AsyncSession, record: ChurnRecord, order_id: object) -> None:
    """An order marked the record won back (records/hooks.py `on_won_back`): the open case is won when the
    order falls within its window, else it was lost when the window ended."""
    case = await repository.of_record(session, record.id)
    if case is None or case.status not in OPEN_STATES:
        return
    ordered_at = record.won_back_at or now_utc()
    if ordered_at <= case.window_ends_at:
        case.status, case.closed_at, case.benefit = "won", ordered_at, case.expected_value
        case.order_id = order_id if isinstance(order_id, uuid.UUID) else uuid.UUID(str(order_id))
    else:
        case.status, case.closed_at = "lost", case.window_ends_at
    _touch(case, now_utc())
    await outbox.publish(session, [_event_closed(case)])


async def fold_case(session: AsyncSession, folded: ChurnRecord, into: ChurnRecord) -> None:
    """A customer merge folded the open record `folded` into `into` (records/hooks.py `on_folded`): one
    customer, one case. The folded record's case closes as `merged`, announced by `winback.merged` (not an
    outcome: it is neither won nor lost), and joins the survivor's: its actions and cost move there, its
    owner too when that case is still unassigned. A survivor's case excluded by the rules is evaluated again
    with the reasons now combined (it may open: winback.opened); one excluded by hand stays so."""
    case = await repository.of_record(session, folded.id)
    target = await repository.of_record(session, into.id)
    if case is None or case.status in ("won", "lost", "merged"):
        return
    now = now_utc()
    if target is None:  # the survivor's record has no case: this one follows the record it was folded into
        case.record_id = into.id
        _touch(case, now)
        return
    await repository.move_actions(session, case.id, target.id)
    target.cost += case.cost
    case.status, case.closed_at, case.merged_into = "merged", now, target.id
    _touch(case, now)
    ended = WinbackMergedData(
        case_id=case.id,
        record_id=folded.id,
        customer_id=into.customer_id,  # the survivor: the records have moved already
        merged_into=target.id,
        into_record_id=into.id,
        closed_at=now,
    )
    await outbox.publish(session, [envelope("winback.merged", subject=into.customer_id, data=ended)])
    if target.status == "excluded" and target.exclusion_rule != "manual":
        await _apply_verdict(session, target, into, (await load_rules(session)).settings, now)
    if case.owner is not None and target.owner is None and target.status == "analysis":
        target.owner, target.status = case.owner, "implementation"
    _touch(target, now)
    await session.flush()


async def move_customer(session: AsyncSession, survivor: uuid.UUID, merged: uuid.UUID) -> None:
    """After a merge the merged customer's cases belong to the survivor, like their records."""
    await repository.move_customer(session, survivor, merged)


async def sweep(session: AsyncSession, *, batch: int = 500) -> int:
    """Record as lost the open cases whose window ended over `settle_after_hours` ago (one batch)."""
    rules = (await load_rules(session)).settings
    now = now_utc()
    cases = await repository.expired(session, now - timedelta(hours=rules.settle_after_hours), batch)
    for case in cases:
        case.status, case.closed_at = "lost", case.window_ends_at
        _touch(case, now)
        record = await repository.lock_record(session, case.record_id)
        if record.status in records.TRANSITIONS and "lost" in records.TRANSITIONS[record.status]:
            records.set_status(record, "lost")
    await outbox.publish(session, [_event_closed(c) for c in cases])
    return len(cases)


# -- reads -------------------------------------------------------------------------------------------


def _masked(principal: Principal) -> bool:
    return not principal.has(OFFERS_SCOPE)


def to_read(case: WinbackCase, principal: Principal, now: datetime) -> CaseRead:
    state = state_of(case, now)
    fields = {name: getattr(case, name) for name in CaseRead.model_fields if hasattr(case, name)}
    fields.update(
        status=state,
        phase=PHASES.get(state, "assessment"),
        settled=state == case.status,
        allowed_actions=list(ACTIONS[state]),
        closed_at=case.closed_at or (case.window_ends_at if state != case.status else None),
        cost=None if _masked(principal) else case.cost,
    )
    return CaseRead.model_validate(fields)


def _action_read(action: WinbackAction, masked: bool) -> ActionRead:
    hide = masked and action.kind == "tailored_offer"
    return ActionRead(
        id=action.id,
        kind=action.kind,
        by=action.by,
        at=action.at,
        note=action.note,
        cost=None if hide else action.cost,
        offer_value=None if hide else action.offer_value,
        masked=hide,
    )


async def detail(session: AsyncSession, case: WinbackCase, principal: Principal) -> CaseDetail:
    now = now_utc()
    rules = (await load_rules(session)).settings
    actions = [_action_read(a, _masked(principal)) for a in await repository.actions(session, case.id)]
    recommendation = await _recommend(session, case, rules, now)
    return CaseDetail(**to_read(case, principal, now).model_dump(), actions=actions, recommendation=recommendation)


async def get(session: AsyncSession, case_id: uuid.UUID, *, lock: bool = False) -> WinbackCase:
    case = await repository.get(session, case_id, lock=lock)
    if case is None:
        raise CaseNotFound(case_id)
    return case


async def list_cases(
    session: AsyncSession, filters: CaseFilters, page: PageRequest, principal: Principal
) -> Page[CaseRead]:
    now = now_utc()
    return await page.fetch(
        session,
        repository.filtered(filters, now),
        order=(WinbackCase.opened_at.desc(), WinbackCase.id.desc()),
        binding={"cases": True, **filters.model_dump(mode="json")},
        item=lambda c: to_read(c, principal, now),
    )


async def report(session: AsyncSession, query: ReportQuery) -> Report:
    rows = await totals.report(session, query.by, query.from_, query.to, now_utc())

    def row(key: str, closed: int, won: int, benefit: Decimal, cost: Decimal) -> ReportRow:
        # to the cent: sums of none or of integer literals come back without a scale
        benefit, cost = benefit.quantize(CENT), cost.quantize(CENT)
        return ReportRow(
            key=key,
            closed=closed,
            won=won,
            lost=closed - won,
            success_rate=won / closed if closed else None,
            benefit=benefit,
            cost=cost,
            benefit_cost_ratio=float(benefit / cost) if cost else None,
        )

    items = [row(r.key, r.closed, r.won, r.benefit, r.cost) for r in rows]
    total = row(
        "total",
        sum(i.closed for i in items),
        sum(i.won for i in items),
        sum((i.benefit for i in items), Decimal(0)),
        sum((i.cost for i in items), Decimal(0)),
    )
    return Report(by=query.by, rows=items, total=total)


# -- transitions -------------------------------------------------------------------------------------


async def _for_action(session: AsyncSession, case_id: uuid.UUID, action: str, if_match: int | None) -> WinbackCase:
    """The case, locked, when `action` is allowed in its state (409 naming it otherwise; 412 when stale)."""
    case = await get(session, case_id, lock=True)
    if if_match is not None and if_match != case.version:
        raise StaleCase(case.version)
    state = state_of(case, now_utc())
    if action not in ACTIONS[state]:
        raise BadTransition(state, action, ACTIONS[state])
    return case


async def _log(session: AsyncSession, case: WinbackCase, kind: str, by: str, **values: object) -> None:
    await repository.add_action(session, case.id, {"kind": kind, "by": by, **values})
    _touch(case, now_utc())


async def assign(
    session: AsyncSession, case_id: uuid.UUID, data: Assign, *, by: str, if_match: int | None
) -> WinbackCase:
    case = await _for_action(session, case_id, "assign", if_match)
    rules = (await load_rules(session)).settings
    if case.requires_senior and data.owner not in rules.senior_owners:
        raise SeniorOwnerRequired(data.owner, case.expected_value, rules.senior_value_threshold)
    case.owner, case.status = data.owner, "implementation"
    if data.strategy is not None:
        case.strategy = data.strategy
    note = f"owner {data.owner}, strategy {case.strategy}" + (f": {data.note}" if data.note else "")
    await _log(session, case, "assigned", by, note=note)
    return case


async def act(
    session: AsyncSession, case_id: uuid.UUID, data: ActionCreate, *, by: str, if_match: int | None
) -> WinbackCase:
    case = await _for_action(session, case_id, "act", if_match)
    await _log(session, case, data.kind, by, note=data.note, cost=data.cost, at=data.at or now_utc())
    case.cost += data.cost
    return case


async def offer(
    session: AsyncSession, case_id: uuid.UUID, data: OfferCreate, *, by: str, if_match: int | None
) -> WinbackCase:
    """A tailored offer, refused (422 with the numbers) when the case's offers would exceed the rules'
    share of the customer's expected value: the offer must cost less than what the customer brings."""
    case = await _for_action(session, case_id, "offer", if_match)
    rules = (await load_rules(session)).settings
    offered = Decimal(await repository.offered(session, case.id))
    if offered + data.value > case.expected_value * rules.offer_max_share:
        raise OfferTooLarge(data.value, offered, case.expected_value, rules.offer_max_share)
    await _log(session, case, "tailored_offer", by, note=data.note, cost=data.value, offer_value=data.value)
    case.cost += data.value
    return case


async def exclude(
    session: AsyncSession, case_id: uuid.UUID, reason: str, *, by: str, if_match: int | None
) -> WinbackCase:
    case = await _for_action(session, case_id, "exclude", if_match)
    case.status, case.exclusion_rule, case.exclusion = "excluded", "manual", reason
    records.set_status(await repository.lock_record(session, case.record_id), "churned")
    await _log(session, case, "excluded", by, note=reason)
    return case


async def include(
    session: AsyncSession, case_id: uuid.UUID, note: str | None, *, by: str, if_match: int | None
) -> WinbackCase:
    """Pursue an excluded case after all (an analyst's decision): back to analysis, its window anew."""
    case = await _for_action(session, case_id, "include", if_match)
    record = await repository.lock_record(session, case.record_id)
    if record.status not in OPEN_STATES_OF_RECORD:
        raise RecordClosed(record.status)
    rules = (await load_rules(session)).settings
    now = now_utc()
    case.status, case.window_ends_at = "analysis", now + timedelta(days=rules.window_days)
    case.requires_senior = case.expected_value >= rules.senior_value_threshold
    case.strategy = case.strategy or (await _recommend(session, case, rules, now)).strategy
    records.set_status(record, "in_winback")
    await _log(session, case, "included", by, note=note or f"included despite: {case.exclusion}")
    await outbox.publish(session, [_event_opened(case)])
    return case


async def reassess(session: AsyncSession, case_id: uuid.UUID, *, by: str, if_match: int | None) -> WinbackCase:
    """Run the eligibility rules again (the record's reasons or the rules changed since)."""
    case = await _for_action(session, case_id, "reassess", if_match)
    record = await repository.lock_record(session, case.record_id)
    if record.status not in OPEN_STATES_OF_RECORD:
        raise RecordClosed(record.status)
    before = case.status
    await _apply_verdict(session, case, record, (await load_rules(session)).settings, now_utc())
    await _log(session, case, "reassessed", by, note=f"{before} -> {case.status}")
    return case


async def close(
    session: AsyncSession, case_id: uuid.UUID, note: str | None, *, by: str, if_match: int | None
) -> WinbackCase:
    """Give up before the window ends: lost now."""
    case = await _for_action(session, case_id, "close", if_match)
    now = now_utc()
    case.status, case.closed_at = "lost", now
    records.set_status(await repository.lock_record(session, case.record_id), "lost")
    await _log(session, case, "closed", by, note=note)
    await outbox.publish(session, [_event_closed(case)])
    return case


OPEN_STATES_OF_RECORD = ("churned", "in_winback")
