from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, Text, func, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from ..base import Base


class CustomerMerge(Base):
    """A merge: `merged_id` was folded into `survivor_id` and keeps resolving to it."""

    __tablename__ = "customer_merges"
    __table_args__ = (Index("ix_customer_merges_survivor_id", "survivor_id"),)

    merged_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("customers.id"), primary_key=True)
    survivor_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("customers.id"))
    merged_by: Mapped[str | None] = mapped_column(String(100))
    merged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class DuplicateKey(Base):
    """Live customers per normalized email or phone (`reason`), kept by triggers on customers (migration 0007)
    in the transaction of every write, whichever path writes: the duplicates list reads the keys held by two
    or more from the partial index instead of grouping every customer (issue 13)."""

    __tablename__ = "duplicate_keys"
    __table_args__ = (Index("ix_duplicate_keys_shared", "reason", "key", postgresql_where=text("n > 1")),)

    reason: Mapped[str] = mapped_column(String(8), primary_key=True)  # email | phone
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class DuplicateKeyChange(Base):
    """A statement's net change to the counts, appended by its trigger and folded into DuplicateKey when its
    transaction commits (all of a transaction's keys at once, in key order, so writers never deadlock; a
    marker row with n = 0 queues the fold)."""

    __tablename__ = "duplicate_key_changes"
    __table_args__ = (Index("ix_duplicate_key_changes_tx", "tx"),)
    __mapper_args__ = {"primary_key": ["tx", "reason", "key"]}  # no key in the table: rows live until commit

    tx: Mapped[int] = mapped_column(BigInteger, server_default=text("txid_current()"))
    reason: Mapped[str] = mapped_column(String(8))
    key: Mapped[str] = mapped_column(Text)
    n: Mapped[int] = mapped_column(Integer)


class NameGroup(Base):
    """A group of a company's live members with similar names (hygiene/names.py `name_clusters`), kept so the
    duplicates list reads the groups instead of comparing every company's members (issue 13). Recomputed per
    company in the background (hygiene/worker.py), in transactions of COMPANY_BATCH companies, for the companies
    NameGroupMark holds; the list only reads them. Measured at 1M customers with 120,000 members in 20,000
    companies (bench/reads): the name groups list p50 4.9 s -> 6.9 ms; computing all 20,000 companies once
    9.3 s, which the first listing after the migration used to wait for, one renamed member 6 ms."""

    __tablename__ = "name_groups"

    company_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    first_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)  # the least member id
    ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)))


class NameGroupMark(Base):
    """A company whose members' names, membership or merge state changed since its groups were computed:
    appended by statement triggers on customers (migration 0008) in every write's transaction, whichever path
    writes; taken (deleted) by the recomputation, a batch of companies at a time from the index (migration 0009:
    without it each batch read every mark, and a 20,000-company backlog was read 100 times)."""

    __tablename__ = "name_group_marks"
    __table_args__ = (Index("ix_name_group_marks_company_id", "company_id"),)
    __mapper_args__ = {"primary_key": ["company_id"]}  # no key in the table: a company may be marked many times

    company_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
