"""Rule-set rules: each update is the full rule set, validated by its model; If-Match guards against
overwriting a change made since the read; an update that changes nothing keeps the version."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.errors import FieldError

from ..value.errors import FormulaError
from ..value.rfm import validate_segments
from . import repository
from .exceptions import IfMatchRequired, InvalidRules, RuleSetNotFound, StaleRuleSet
from .models import RuleSet
from .schemas import RULE_SETS, RfmSegmentRule, RuleSetRead, defaults


def _pointer(loc: tuple[int | str, ...] | list[int | str]) -> str:
    return "#" + "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in loc)


def known_names() -> list[str]:
    return sorted(RULE_SETS)


def check_name(name: str) -> None:
    if name not in RULE_SETS:
        raise RuleSetNotFound(name, known_names())


def _read(name: str, row: RuleSet | None) -> RuleSetRead:
    if row is None:  # a rule set the table lacks is in force with its defaults (see load_rules)
        return RuleSetRead(name=name, rules=defaults()[name], version=0, updated_at=None, updated_by=None)
    return RuleSetRead(
        name=row.name, rules=row.rules, version=row.version, updated_at=row.updated_at, updated_by=row.updated_by
    )


async def all_rule_sets(session: AsyncSession) -> dict[str, RuleSetRead]:
    rows = {r.name: r for r in await repository.all_rule_sets(session)}
    return {name: _read(name, rows.get(name)) for name in known_names()}


async def get(session: AsyncSession, name: str) -> RuleSetRead:
    check_name(name)
    return _read(name, await repository.get(session, name))


def _segment_errors(body: dict[str, Any]) -> list[FieldError]:
    """The segment mapping's whole-list checks (coverage, reachability, duplicates) fail without a location
    in pydantic; rerun them to point at the segment at fault."""
    segments = [RfmSegmentRule.model_validate(s).model_dump(exclude_none=True) for s in body["segments"]]
    try:
        validate_segments(segments)
    except FormulaError as exc:
        names = [s["name"] for s in segments]
        if exc.term.startswith("segments["):
            index: int | None = int(exc.term.removeprefix("segments[").rstrip("]"))
        elif exc.term in names:
            seen = [i for i, n in enumerate(names) if n == exc.term]
            duplicate = exc.field == "name" and len(seen) > 1
            index = seen[1] if duplicate else seen[0]
        else:
            index = None  # the mapping as a whole, e.g. cells no rule covers
        loc: list[int | str] = ["segments"] + ([index] if index is not None else [])
        loc += [exc.field] if exc.field and index is not None else []
        return [FieldError(detail=exc.detail, pointer=_pointer(loc))]
    return []


def validated(name: str, body: dict[str, Any]) -> dict[str, Any]:
    """The rule set as it will be stored (defaults filled in), or 422 pointing at each bad field."""
    try:
        model = RULE_SETS[name].model_validate(body)
    except ValidationError as exc:
        errors = [FieldError(detail=e["msg"], pointer=_pointer(e["loc"])) for e in exc.errors()]
        if name == "rfm_segments" and all(not e["loc"] for e in exc.errors()):
            errors = _segment_errors(body) or errors
        raise InvalidRules(name, errors) from None
    return model.model_dump(mode="json", exclude_none=True)


async def replace(
    session: AsyncSession, name: str, body: dict[str, Any], *, if_match: int | None, by: str
) -> RuleSetRead:
    """Store a new version of the rule set; the version only moves when the rules change."""
    check_name(name)
    if if_match is None:
        raise IfMatchRequired()
    rules = validated(name, body)
    row = await repository.get(session, name, for_update=True)
    current = row.version if row is not None else 0
    if current != if_match:
        raise StaleRuleSet(name, current)
    if row is None:
        row = await repository.insert(session, name, rules, by=by)
        if row is None:  # stored by a concurrent request since our read
            raise StaleRuleSet(name, 1)
        return _read(name, row)
    if row.rules == rules:
        return _read(name, row)
    return _read(name, await repository.replace(session, name, rules, by=by, version=current))
