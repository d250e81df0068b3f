"""Model fits as an analyst reads them: each stored fit validated into its contract (fields a fit did not
store read as null), the one in force with its cuts and rules, the past ones without."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.pagination import Page, PageRequest

from . import repository
from .exceptions import NoCalibration
from .models import Calibration
from .schemas import CalibrationRead, CalibrationSummary, ModelFit


def summary(row: Calibration) -> CalibrationSummary:
    fits = {name: ModelFit.model_validate(fit) for name, fit in (row.fits or {}).items()}
    return CalibrationSummary(id=row.id, as_of=row.as_of, created_at=row.created_at, run_id=row.run_id, fits=fits)


async def current(session: AsyncSession) -> CalibrationRead:
    """The calibration in force (the latest)."""
    row = await repository.latest(session)
    if row is None:
        raise NoCalibration()
    return CalibrationRead(**summary(row).model_dump(), cuts=row.cuts or {}, rules=row.rules or {})


async def history(session: AsyncSession, page: PageRequest) -> Page[CalibrationSummary]:
    """Newest first."""
    return await page.fetch(
        session,
        repository.calibrations(),
        order=[Calibration.id.desc()],
        binding={"list": "calibrations"},
        item=summary,
    )
