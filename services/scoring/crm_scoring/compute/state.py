"""What scoring reads besides the summaries: the rules, the active formula and the current calibration."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..formulas import repository as formula_repository
from ..formulas.engine import Formula
from ..formulas.exceptions import NoActiveFormula
from ..model_fits.models import Calibration as CalibrationRow
from ..rules.repository import load_rules
from ..rules.schemas import Rules
from ..selection.choose import Selection
from ..selection.classifier import CACHE, loads
from ..selection.signals import CLASSIFIED
from .fitting import fit_from_json
from .score import Calibration

if TYPE_CHECKING:
    from ..selection.classifier import Classifier

log = logging.getLogger("crm.scoring")


@dataclass(frozen=True)
class ScoringState:
    rules: Rules
    formula_version: int | None
    formula: Formula | None
    calibration: Calibration

    @property
    def segment_names(self) -> list[str]:
        return [s.name for s in self.rules.rfm_segments.segments]


def calibration_from_row(row: CalibrationRow | None, classifier: Classifier | None = None) -> Calibration:
    if row is None:
        return Calibration()
    fits = {name: fit_from_json(data) for name, data in row.fits.items()}
    cuts: dict[str, Any] = dict(row.cuts)
    selection = None if row.selection is None else Selection.from_json(row.selection)
    return Calibration(row.id, fits, cuts, selection, classifier)


async def _classifier(session: AsyncSession, calibration_id: int) -> Classifier | None:
    """The calibration's churn classifier, loaded once per process. One that cannot be loaded is logged and
    scoring goes on with the fallback signal (selection/apply.py) rather than failing every event."""
    model = CACHE.get(calibration_id)
    if model is None:
        data = await session.scalar(select(CalibrationRow.churn_classifier).where(CalibrationRow.id == calibration_id))
        if data is None:
            return None
        try:
            model = loads(data)
        except Exception:
            log.exception("the churn classifier of calibration %s cannot be loaded", calibration_id)
            return None
        CACHE.put(calibration_id, model)
    return model


async def current_calibration(session: AsyncSession, *, classifier: bool = True) -> Calibration:
    """The latest calibration, with its churn classifier when its signal needs one (unless `classifier` is
    False: a batch that refits chooses its own)."""
    row = await session.scalar(select(CalibrationRow).order_by(CalibrationRow.id.desc()).limit(1))
    needs_model = (
        classifier and row is not None and row.selection is not None and row.selection.get("churn_signal") in CLASSIFIED
    )
    return calibration_from_row(row, await _classifier(session, row.id) if needs_model else None)  # type: ignore[union-attr]


async def active_formula(session: AsyncSession) -> tuple[int | None, Formula | None]:
    """Scoring goes on without an active formula (composite score 0) rather than failing every event."""
    try:
        return await formula_repository.active_formula(session)
    except NoActiveFormula:
        return None, None


async def load_state(session: AsyncSession, *, classifier: bool = True) -> ScoringState:
    version, formula = await active_formula(session)
    calibration = await current_calibration(session, classifier=classifier)
    return ScoringState(await load_rules(session), version, formula, calibration)
