"""Calibrations: what a batch run fitted and cut, so incremental scoring places a customer exactly where the
batch would: the purchase and spend model fits (parameters, log-likelihood, convergence, sample size) and the
cut points of the base-relative classes (RFM quintiles, ABC, gold), and what the run chose by evidence (the
churn-risk signal, the purchase model) with the classifier it trained."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Integer, LargeBinary, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, deferred, mapped_column

from ..base import Base


class Calibration(Base):
    __tablename__ = "calibrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    run_id: Mapped[int | None] = mapped_column(Integer)
    fits: Mapped[dict[str, Any]] = mapped_column(JSONB)  # model name -> FitResult fields
    cuts: Mapped[dict[str, Any]] = mapped_column(JSONB)
    rules: Mapped[dict[str, Any]] = mapped_column(JSONB)  # the rule sets in force, for reproducibility
    selection: Mapped[dict[str, Any] | None] = mapped_column(JSONB)  # selection/choose.py Selection
    # skops bytes (~0.6 MB): deferred, read once per calibration and process (selection/classifier.CACHE)
    churn_classifier: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
