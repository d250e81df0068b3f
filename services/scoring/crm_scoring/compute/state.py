"""What scoring reads besides the summaries: the rules, the active formula and the current calibration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..formulas import repository as formula_repository
from ..formulas.engine import Formula
from ..formulas.exceptions import NoActiveFormula
from ..model_fits.models import Calibration as CalibrationRow
from ..rules.repository import load_rules
from ..rules.schemas import Rules
from .fitting import fit_from_json
from .score import Calibration


@dataclass(frozen=True)
class ScoringState:
    rules: Rules
    formula_version: int | None
    formula: Formula | None
    calibration: Calibration

    @property
    def segment_names(self) -> list[str]:
        return [s.name for s in self.rules.rfm_segments.segments]


def calibration_from_row(row: CalibrationRow | None) -> Calibration:
    if row is None:
        return Calibration()
    fits = {name: fit_from_json(data) for name, data in row.fits.items()}
    cuts: dict[str, Any] = dict(row.cuts)
    return Calibration(row.id, fits, cuts)


async def current_calibration(session: AsyncSession) -> Calibration:
    row = await session.scalar(select(CalibrationRow).order_by(CalibrationRow.id.desc()).limit(1))
    return calibration_from_row(row)


async def active_formula(session: AsyncSession) -> tuple[int | None, Formula | None]:
    """Scoring goes on without an active formula (composite score 0) rather than failing every event."""
    try:
        return await formula_repository.active_formula(session)
    except NoActiveFormula:
        return None, None


async def load_state(session: AsyncSession) -> ScoringState:
    version, formula = await active_formula(session)
    return ScoringState(await load_rules(session), version, formula, await current_calibration(session))
