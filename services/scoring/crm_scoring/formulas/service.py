"""Formula rules: every stored version passed `validate()`; drafts are immutable; exactly one version is
active, and activation (also of a retired version, to roll back) swaps it in one transaction."""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.errors import FieldError
from crm_shared.pagination import Page, PageRequest

from ..value.errors import FormulaError
from . import repository
from .engine import CATEGORICAL_INPUTS, NUMERIC_INPUTS, Formula, explain, validate
from .exceptions import FormulaNotFound, InvalidFormula, InvalidSample, NoActiveFormula, StoredFormulaInvalid
from .models import FormulaVersion
from .schemas import (
    ExplainRow,
    FormulaActivated,
    FormulaCheck,
    FormulaCheckResult,
    FormulaCreate,
    FormulaRead,
    SampleScore,
    TermRead,
)


def to_read(row: FormulaVersion) -> FormulaRead:
    return FormulaRead(
        version=row.version,
        status=row.status,  # type: ignore[arg-type]
        description=row.description,
        terms=row.formula.get("terms", {}),
        created_at=row.created_at,
        created_by=row.created_by,
        activated_at=row.activated_at,
        activated_by=row.activated_by,
    )


def checked(data: FormulaCreate) -> Formula:
    """The typed formula, or 422 naming the offending term and field."""
    raw: dict[str, Any] = {"terms": data.terms}
    if data.description is not None:
        raw["description"] = data.description
    try:
        return validate(raw)
    except FormulaError as exc:
        raise InvalidFormula(exc) from None


def _number(value: Any) -> float | None:
    """A finite number from a JSON number or a decimal string (money travels as strings); None if not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(Decimal(value.strip()))
        except InvalidOperation:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def sample_inputs(sample: dict[str, Any]) -> dict[str, Any]:
    """Check a sample against the known inputs and vocabularies: a typo there would silently score 0."""
    out: dict[str, Any] = {}
    errors: list[FieldError] = []
    for key, value in sample.items():
        pointer = "#/sample/" + key.replace("~", "~0").replace("/", "~1")
        if key in CATEGORICAL_INPUTS:
            vocab = CATEGORICAL_INPUTS[key]
            if value is None or value == "":
                out[key] = None
            elif isinstance(value, str) and value in vocab:
                out[key] = value
            else:
                errors.append(FieldError(detail=f"unknown category {value!r}; known: {sorted(vocab)}", pointer=pointer))
        elif key in NUMERIC_INPUTS:
            number = None if value is None else _number(value)
            if value is not None and number is None:
                errors.append(FieldError(detail=f"must be a finite number or null, got {value!r}", pointer=pointer))
            out[key] = math.nan if number is None else number
        else:
            known = sorted(NUMERIC_INPUTS | set(CATEGORICAL_INPUTS))
            errors.append(FieldError(detail=f"unknown input; known: {known}", pointer=pointer))
    if errors:
        raise InvalidSample(errors)
    return out


def _points(value: float) -> Decimal:
    return Decimal(f"{value:.2f}")


def check(data: FormulaCheck) -> FormulaCheckResult:
    """Validate without storing; with a sample, score it term by term exactly as the engine would."""
    formula = checked(data)
    terms = [TermRead(name=t.name, input=t.input, rule=t.rule.to_dict()) for t in formula.terms]
    sample = None
    if data.sample is not None:
        rows = [
            ExplainRow(**{**r, "points": _points(r["points"])}) for r in explain(formula, sample_inputs(data.sample))
        ]
        sample = SampleScore(terms=rows, total=sum((r.points for r in rows), Decimal("0.00")))
    return FormulaCheckResult(valid=True, description=formula.description, terms=terms, sample=sample)


async def create(session: AsyncSession, data: FormulaCreate, *, by: str) -> FormulaVersion:
    """Store a validated formula (canonical form) as a new draft version."""
    return await repository.insert_draft(session, formula=checked(data).to_dict(), by=by)


async def get(session: AsyncSession, version: int) -> FormulaVersion:
    row = await repository.get(session, version)
    if row is None:
        raise FormulaNotFound(version)
    return row


async def get_active(session: AsyncSession) -> FormulaVersion:
    row = await repository.get_active(session)
    if row is None:
        raise NoActiveFormula()
    return row


async def list_versions(session: AsyncSession, page: PageRequest, *, status: str | None) -> Page[FormulaRead]:
    """Newest first."""
    return await page.fetch(
        session,
        repository.versions(status),
        order=[FormulaVersion.version.desc()],
        binding={"list": "formula_versions", "status": status},
        item=to_read,
    )


async def activate(session: AsyncSession, version: int, *, by: str) -> FormulaActivated:
    """Make `version` the active one; activating the active version changes nothing."""
    await repository.lock_activation(session)
    row = await repository.get(session, version, for_update=True)
    if row is None:
        raise FormulaNotFound(version)
    if row.status == "active":
        return FormulaActivated(**to_read(row).model_dump(), previous_version=None, changed=False)
    try:
        validate(row.formula)  # stored versions were validated; refuse one a stricter check now rejects
    except FormulaError as exc:
        raise StoredFormulaInvalid(version, exc) from None
    previous = await repository.activate(session, version, by=by)
    row = await repository.get(session, version)
    assert row is not None
    return FormulaActivated(**to_read(row).model_dump(), previous_version=previous, changed=True)
