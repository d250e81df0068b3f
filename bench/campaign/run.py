"""Launch an email campaign to a large segment (issue 15 item 8): a campaign database whose audience read
model holds `--customers` customers (default 1,000,000: ABC class, stage, scores, consents, preferred
channel, own caps, time zones, tags) and a month of contact log (`--contacts` per customer on average, for
the frequency caps), then one launch of a marketing email campaign to a segment matching most of them:
evaluate the segment, assign the control group (and a 5% global holdout), apply consent, preferred channel,
both caps and quiet hours, queue the recipients. One transaction, timed end to end including the commit.
Prints the load and launch figures against the 60 s goal. Try `--customers 100000` first.

The email delivery half of item 8 (10,000 emails to a local SMTP server) belongs to the delivery workers."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(REPO / "bench"), str(REPO)]
from common import postgres  # noqa: E402

from crm_campaign.campaigns import service  # noqa: E402
from crm_campaign.campaigns.rules import SendPolicy  # noqa: E402
from crm_campaign.campaigns.schemas import CampaignCreate, HoldoutCreate  # noqa: E402
from crm_campaign.config import Settings  # noqa: E402
from crm_campaign.main import SERVICE_DIR  # noqa: E402
from crm_campaign.segments import service as segments  # noqa: E402
from crm_campaign.segments.schemas import SegmentCreate  # noqa: E402
from crm_shared.db import create_engine, create_sessionmaker  # noqa: E402
from crm_shared.embedded_pg import asyncpg_dsn, create_database, database_url  # noqa: E402
from crm_shared.migrations import upgrade_head  # noqa: E402

GOAL_S = 60.0
ZONES = "ARRAY['Europe/Berlin','Asia/Shanghai','America/New_York','UTC',NULL]"
LOAD_AUDIENCE = f"""
INSERT INTO audience_customers (customer_id, kind, display_name, first_name, email, phone, region, country,
    time_zone, customer_since, tags, consent_email, consent_sms, consent_phone, preferred_channel,
    max_contacts_per_month, stage, abc_class, rfm_segment, gold, drag, clv, p_alive, churn_risk, composite_score)
SELECT md5(i::text)::uuid, CASE WHEN i % 10 = 0 THEN 'company' ELSE 'individual' END, 'Customer ' || i,
       'Name' || i, CASE WHEN i % 50 <> 9 THEN 'c' || i || '@example.com' END, '+4915' || lpad(i::text, 9, '0'),
       (ARRAY['north','south','east','west'])[1 + i % 4], 'DE', ({ZONES})[1 + i % 5],
       now() - make_interval(days => i % 1500),
       CASE WHEN i % 3 = 0 THEN ARRAY['member'] WHEN i % 7 = 1 THEN ARRAY['complainant'] ELSE '{{}}' END,
       CASE WHEN i % 20 = 3 THEN 'opted_out' WHEN i % 25 = 7 THEN NULL ELSE 'opted_in' END, 'opted_in',
       CASE WHEN i % 10 = 6 THEN 'opted_out' ELSE 'opted_in' END,
       CASE WHEN i % 15 = 4 THEN 'sms' WHEN i % 4 = 0 THEN 'email' END,
       CASE WHEN i % 30 = 2 THEN 1 END,
       (ARRAY['introduction','growth','maturity','decline','churned'])[1 + i % 5],
       (ARRAY['A','B','C','C','C'])[1 + i % 5], 'segment_' || (i % 8), i % 20 = 0, i % 5 = 0,
       (i % 5000)::numeric, (i % 100) / 100.0, (i % 97) / 100.0, (i % 1000)::numeric
FROM generate_series(1, $1::int) i
"""
LOAD_CONTACTS = """
INSERT INTO contact_log (customer_id, channel, kind, sent_at)
SELECT md5((1 + (k::bigint * 7919) % $1::int)::text)::uuid, 'email', 'marketing',
       now() - make_interval(hours => k % 700)
FROM generate_series(1, $2::int) k
"""


async def load(url: str, customers: int, contacts: int) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        t0 = time.perf_counter()
        await conn.execute(LOAD_AUDIENCE, customers)
        await conn.execute(LOAD_CONTACTS, customers, int(customers * contacts))
        await conn.execute("ANALYZE")
        print(f"loaded {customers:,} customers and {int(customers * contacts):,} contacts in "
              f"{time.perf_counter() - t0:.1f} s", flush=True)  # fmt: skip
    finally:
        await conn.close()


# The segment of the timed launch: most of the audience.
BROAD = {"and": [{"field": "stage", "op": "in", "value": ["growth", "maturity", "decline", "churned"]},
                 {"not": {"field": "tags", "op": "has", "value": "complainant"}}]}  # fmt: skip


async def launch(
    url: str, stratify: bool, *, channel: str = "email", name: str = "bench", rules: Any = None, holdout: bool = True
) -> uuid.UUID:
    """Create a segment (`rules`, default BROAD) and a marketing campaign on `channel` (with a 5% global holdout
    first unless `holdout` is false), launch it in one timed transaction, print the figures; the campaign's id."""
    engine = create_engine(url, application_name="bench-campaign")
    sessions = create_sessionmaker(engine)
    now = datetime.now(UTC)
    policy = SendPolicy.from_settings(Settings(database_url=url, environment="test"))
    async with sessions() as session, session.begin():
        if holdout:
            await service.create_holdout(
                session,
                HoldoutCreate(name="programme", share=Decimal("0.05"), starts_at=now - timedelta(days=1),
                              ends_at=now + timedelta(days=90)),
                by="bench",
            )  # fmt: skip
        segment = await segments.create(session, SegmentCreate(name=name, rules=rules or BROAD), by="bench")
        campaign = await service.create(
            session,
            CampaignCreate(name=name, objective="retention", segment_id=segment.id, channel=channel,
                           subject="Hi {{ customer.first_name }}" if channel == "email" else None,
                           template="Dear {{ customer.first_name }}",
                           control_share=Decimal("0.1"), stratify_by_abc=stratify, cost_per_contact=Decimal("0.01")),
            by="bench",
        )  # fmt: skip
        campaign_id = campaign.id
    t0 = time.perf_counter()
    async with sessions() as session, session.begin():
        summary = await service.launch(session, campaign_id, policy=policy, if_match=None)
    elapsed = time.perf_counter() - t0
    await engine.dispose()
    print(f"launch ({channel}): {elapsed:.1f} s for {summary.members:,} members "
          f"({summary.members / elapsed:,.0f} members/s){' stratified' if stratify else ''}")  # fmt: skip
    print(f"  groups     {summary.groups}")
    print(f"  recipients {summary.recipients}")
    print(f"  suppressed {summary.suppressed}")
    print(f"  goal < {GOAL_S:.0f} s: {'met' if elapsed < GOAL_S else 'MISSED'}")
    return campaign_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--contacts", type=float, default=1.5, help="marketing contacts per customer, last 30 days")
    parser.add_argument("--stratify", action="store_true", help="stratify the control group by ABC class")
    args = parser.parse_args()
    with postgres() as admin_url:
        name = f"bench_campaign_{uuid.uuid4().hex[:8]}"
        asyncio.run(create_database(admin_url, name, exist_ok=False))
        url = database_url(admin_url, name)
        upgrade_head(SERVICE_DIR, url)
        asyncio.run(load(url, args.customers, args.contacts))
        asyncio.run(launch(url, args.stratify))


if __name__ == "__main__":
    main()
