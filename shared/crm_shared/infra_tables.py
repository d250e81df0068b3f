"""Tables every service keeps in its own database: outbox, inbox and its dead letters, idempotency records
and the audit log.

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
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

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

# Consumer side: events that could not be applied (their handler failed, or the envelope is malformed),
# set aside so the rest of their delivery applies; listed, replayed or discarded by admins
# (crm_shared.dead_letters). Their ids are not in inbox_events, so a replay or a redelivery applies them.
# A redelivery that fails again updates the same row (event_id is unique; NULL when the envelope's id is
# not a UUID). `payload` holds the envelope as received: bytes, because JSON that PostgreSQL refuses
# (NUL in a string) may be exactly what made it poison.
inbox_dead_letters = Table(
    "inbox_dead_letters",
    infra_metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("event_id", UUID(as_uuid=True), unique=True),
    Column("event_type", String, nullable=False),
    Column("source", String, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("reason", Text, nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("1")),
    Column("dead_lettered_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("last_failed_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
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

# The audit log (crm_shared.audit): one row per successful API write, in the write's own transaction,
# and one per read of personal data shown unmasked. Append-only; indexed for the admin queries, all
# newest first: everything, by actor, by action, by resource path prefix, by request id.
audit_log = Table(
    "audit_log",
    infra_metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("actor", Text, nullable=False),  # the principal's client id (partner, user `sub`, service)
    Column("actor_kind", String(16), nullable=False),
    Column("roles", ARRAY(Text), nullable=False),
    Column("action", Text, nullable=False),  # method and route template: "PATCH /api/v1/customers/{customer_id}"
    Column("resource", Text, nullable=False),  # the concrete path, without the query
    Column("status", SmallInteger, nullable=False),
    Column("request_id", Text),
    Column("detail", JSONB),
    Index("ix_audit_log_at_id", "at", "id"),
    Index("ix_audit_log_actor_at_id", "actor", "at", "id"),
    Index("ix_audit_log_action_at_id", "action", "at", "id"),
    Index("ix_audit_log_resource", "resource", postgresql_ops={"resource": "text_pattern_ops"}),
    Index("ix_audit_log_request_id", "request_id"),
)
