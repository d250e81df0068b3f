"""Batch recompute runs, with their progress, so a client can poll a long recompute."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from ..base import Base
from ..scores.models import ScoreFields


class BatchRun(Base):
    __tablename__ = "batch_runs"
    __table_args__ = (
        CheckConstraint("status IN ('running', 'succeeded', 'failed')", name="status"),
        # One run at a time: a second request while one runs gets 409.
        Index("uq_batch_runs_running", "status", unique=True, postgresql_where=text("status = 'running'")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    refit: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    status: Mapped[str] = mapped_column(String(12), server_default=text("'running'"))
    phase: Mapped[str] = mapped_column(String(32), server_default=text("'starting'"))
    progress: Mapped[float] = mapped_column(Double, server_default=text("0"))  # 0..1
    stats: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'"))
    error: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str | None] = mapped_column(String(100))
    stored: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))  # false: a backtest
    # A backtest asked to keep every customer's scores (RunScore) and they are there.
    kept_scores: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    calibration_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Touched on every progress report: a run not touched for a while died with its process.
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class RunScore(ScoreFields, Base):
    """A customer's scores as a backtest computed them (kept on request): what the scores were as of the
    run's date, without touching the live ones. Deleted with the run's copy (or the run)."""

    __tablename__ = "run_scores"

    run_id: Mapped[int] = mapped_column(Integer, ForeignKey("batch_runs.id", ondelete="CASCADE"), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
