"""The extension point of the win-back workflow: the records service calls `on_churned` in the same
transaction whenever a record becomes churned (declared, or inferred from lifecycle or churn risk).

Until the win-back domain (crm_churn/winback, issue 14 item 6) fills it in, it does nothing: win-back
opens a case here when the record passes its eligibility rules (and may set the record's status to
`in_winback` through `records.service.set_status`)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from .models import ChurnRecord


async def on_churned(session: AsyncSession, record: ChurnRecord) -> None:
    """Called once per new churn record, after it is inserted with its reasons and before commit."""
    from ..winback import service as winback  # here: winback imports the records service

    await winback.open_case(session, record)


async def on_folded(session: AsyncSession, folded: ChurnRecord, into: ChurnRecord) -> None:
    """Called when a merge folded the open record `folded` into the open record `into` (reasons already
    copied): win-back folds the cases the same way."""
    from ..winback import service as winback  # here: winback imports the records service

    await winback.fold_case(session, folded, into)


async def on_customer_merged(session: AsyncSession, survivor: uuid.UUID, merged: uuid.UUID) -> None:
    """Called after a merge moved the merged customer's records to the survivor: their cases follow."""
    from ..winback import service as winback  # here: winback imports the records service

    await winback.move_customer(session, survivor, merged)


async def on_won_back(session: AsyncSession, record: ChurnRecord, order_id: object) -> None:
    """Called when an `order.created` of the customer marked an open record (churned or in_winback) as
    won back (record.status is already `won_back`); win-back closes its case as won here."""
    from ..winback import service as winback  # here: winback imports the records service

    await winback.close_won_back(session, record, order_id)
