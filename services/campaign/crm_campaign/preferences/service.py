"""The preference page's rules: show what the customer service holds, and send it what the customer
changed (only what changed), then mirror it in the local read model so the next send already obeys.

Consent and contact preferences are the customer service's: when it cannot be reached, nothing is changed
here either and the page says to try again."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_shared.clients.customer import CustomerConsents

from .page import CHANNELS, PreferenceForm

SOURCE = "preference page"


async def current(consents: CustomerConsents, customer_id: uuid.UUID) -> PreferenceForm:
    overview = await consents.overview(customer_id)
    return PreferenceForm(
        consents={c.channel: c.status for c in overview.consents},
        preferred_channel=overview.preferred_channel,
        max_contacts_per_month=overview.max_contacts_per_month,
    )


async def save(
    sessions: async_sessionmaker[AsyncSession],
    consents: CustomerConsents,
    customer_id: uuid.UUID,
    wanted: PreferenceForm,
    *,
    submission: str,
) -> PreferenceForm:
    """Apply the posted form; returns what now holds. `submission` names this post (its idempotency keys):
    a form posted twice records each change once."""
    before = await current(consents, customer_id)
    for channel in CHANNELS:
        was, status = before.consents.get(channel, "unknown"), wanted.consents[channel]
        # Unchanged, or never asked and left unticked (no decision): nothing to record.
        if was == status or (was == "unknown" and status == "opted_out"):
            continue
        await consents.set_consent(
            customer_id,
            channel,
            status,
            source=SOURCE,
            key=f"prefs-{submission}-{channel}",
        )
    if (before.preferred_channel, before.max_contacts_per_month) != (
        wanted.preferred_channel,
        wanted.max_contacts_per_month,
    ):
        await consents.set_preferences(
            customer_id,
            preferred_channel=wanted.preferred_channel,
            max_contacts_per_month=wanted.max_contacts_per_month,
            key=f"prefs-{submission}-contact",
        )
    after = await current(consents, customer_id)
    await _mirror(sessions, customer_id, after)
    return after


async def _mirror(sessions: async_sessionmaker[AsyncSession], customer_id: uuid.UUID, form: PreferenceForm) -> None:
    """The read model follows at once (the customer service's events will say the same shortly)."""
    values = {c: form.consents.get(c) if form.consents.get(c) in ("opted_in", "opted_out") else None for c in CHANNELS}
    async with sessions() as session, session.begin():
        await session.execute(
            text(
                "UPDATE audience_customers SET consent_email = :email, consent_sms = :sms, consent_mail = :mail, "
                "consent_phone = :phone, preferred_channel = :preferred, max_contacts_per_month = :most, "
                "updated_at = now() WHERE customer_id = :id"
            ),
            {
                **values,
                "preferred": form.preferred_channel,
                "most": form.max_contacts_per_month,
                "id": customer_id,
            },
        )
