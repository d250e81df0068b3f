"""Tables every service keeps in its own database: outbox, inbox and idempotency records.

They live on their own MetaData; each service's first migration creates them through
`crm_shared.migrations.create_infrastructure`, so no service copies their DDL.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from .db import new_metadata

infra_metadata = new_metadata()

# One row per committed change that produced events; `events` is a JSON array of envelopes, so a
# 5,000-order batch costs one outbox row, not 5,000. `pending` lists the subscribers still owed it.
outbox_messages = Table(
    "outbox_messages",
    infra_metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("event_count", Integer, nullable=False),
    Column("event_types", ARRAY(String), nullable=False),
    # JSON bytes, not jsonb: parsing a 3 MB batch into jsonb costs PostgreSQL more than the
    # orders themselves; the relay only forwards it. Stored uncompressed (STORAGE EXTERNAL).
    Column("events", LargeBinary, nullable=False),
    Column("pending", ARRAY(String), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("last_error", Text),
    Column("delivered_at", DateTime(timezone=True)),
    Column("dead", Boolean, nullable=False, server_default=text("false")),
    Index(
        "ix_outbox_messages_due",
        "next_attempt_at",
        postgresql_where=text("delivered_at IS NULL AND NOT dead"),
    ),
)

# Consumer side: ids of events already applied, so a redelivered event is applied once.
inbox_events = Table(
    "inbox_events",
    infra_metadata,
    Column("event_id", UUID(as_uuid=True), primary_key=True),
    Column("event_type", String, nullable=False),
    Column("source", String, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
)

# Idempotency-Key records, scoped per client; written in the same transaction as the business change.
idempotency_keys = Table(
    "idempotency_keys",
    infra_metadata,
    Column("client_id", String, primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("method", String(8), nullable=False),
    Column("path", Text, nullable=False),
    Column("request_hash", LargeBinary, nullable=False),
    Column("response_status", SmallInteger),
    Column("response_body", LargeBinary),
    Column("response_type", String),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_idempotency_keys_expires_at", "expires_at"),
)
