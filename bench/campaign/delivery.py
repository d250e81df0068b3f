"""Deliver N queued marketing emails to a local SMTP server (aiosmtpd's Sink, its own process) with the
campaign service's delivery worker; prints emails/s and per-pass timings. Issue 15's target: 10,000 emails.

    make bench-campaign-delivery BENCH_ARGS="--emails 10000"
"""

import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

import asyncpg

from crm_campaign.config import Settings
from crm_campaign.delivery.runtime import link_signer
from crm_campaign.delivery.worker import DeliveryWorker
from crm_campaign.main import SERVICE_DIR
from crm_shared.db import create_engine, create_sessionmaker
from crm_shared.embedded_pg import asyncpg_dsn, create_database, database_url, drop_database, start_embedded
from crm_shared.migrations import upgrade_head
from crm_shared.testing import free_port

SEED = """
INSERT INTO audience_customers (customer_id, first_name, email, consent_email)
SELECT gen_random_uuid(), 'Customer ' || i, 'c' || i || '@example.com', 'opted_in' FROM generate_series(1, $1) i;
"""


async def main(n: int, batch: int, lanes: int) -> None:
    server, admin = start_embedded(Path(os.environ.get("BENCH_PG", "/tmp/crm-bench-delivery-pg")))
    name = f"bench_delivery_{uuid.uuid4().hex[:8]}"
    await create_database(admin, name)
    url = database_url(admin, name)
    await asyncio.to_thread(upgrade_head, SERVICE_DIR, url)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    await conn.execute(SEED, n)
    seg = await conn.fetchval("INSERT INTO segments (name, rules, mode) VALUES ('all', '{}', 'frozen') RETURNING id")
    campaign = await conn.fetchval(
        "INSERT INTO campaigns (name, objective, segment_id, channel, subject, template, seed, status, launched_at)"
        " VALUES ('bench', 'retention', $1, 'email', 'Hello {{ customer.first_name }}',"
        " 'Dear {{ customer.first_name }}, we miss you.', 1, 'launched', now()) RETURNING id",
        seg,
    )
    await conn.execute(
        "INSERT INTO campaign_recipients (campaign_id, customer_id, channel, status, not_before)"
        " SELECT $1, customer_id, 'email', 'queued', now() - interval '1 minute' FROM audience_customers",
        campaign,
    )
    port = free_port()
    smtp = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink", "-l", f"127.0.0.1:{port}"
    )
    await asyncio.sleep(1.0)
    from datetime import time as t

    settings = Settings(
        database_url=url,
        link_secrets=["bench-link-secret-" + "x" * 32],
        smtp_port=port,
        delivery_batch_size=batch,
        delivery_concurrency=lanes,
        quiet_hours_start=t(0),
        quiet_hours_end=t(0),
        marketing_monthly_cap=100,
        log_json=False,
    )
    engine = create_engine(settings.async_database_url, application_name="bench")
    signer = link_signer(settings)
    assert signer is not None
    worker = DeliveryWorker(create_sessionmaker(engine), settings, signer)
    phases = {"claim": 0.0, "send": 0.0, "record": 0.0}

    def timed(name, fn):
        async def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                phases[name] += time.perf_counter() - t0

        return wrapper

    worker._claim = timed("claim", worker._claim)
    worker._send = timed("send", worker._send)
    worker._record = timed("record", worker._record)
    started = time.perf_counter()
    passes = 0
    while (await worker.run_once()).claimed:
        passes += 1
    elapsed = time.perf_counter() - started
    sent = await conn.fetchval("SELECT count(*) FROM campaign_recipients WHERE status = 'sent'")
    print(
        f"emails: {n}, batch {batch}, lanes {lanes}: sent {sent} in {elapsed:.1f} s "
        f"({sent / elapsed:.0f} emails/s, {passes} passes)"
    )
    print("phases (s): " + ", ".join(f"{k} {v:.1f}" for k, v in phases.items()))
    smtp.terminate()
    await smtp.wait()
    await conn.close()
    await engine.dispose()
    await drop_database(admin, name)
    server.cleanup()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--emails", type=int, default=10_000)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--lanes", type=int, default=8)
    a = p.parse_args()
    asyncio.run(main(a.emails, a.batch, a.lanes))
