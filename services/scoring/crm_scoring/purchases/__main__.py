"""`python -m crm_scoring.purchases rebuild [--url http://customer:8001] [--recompute]`: reload the purchase
copy from the customer service (orders export and customer attributes), then optionally recompute scores."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from crm_shared.clients.customer import CustomerClient
from crm_shared.db import create_engine, create_sessionmaker

from ..batch.runner import run_batch
from ..config import Settings
from .rebuild import customer_service_auth, rebuild


async def _main(url: str | None, recompute: bool) -> int:
    settings = Settings()
    engine = create_engine(settings.async_database_url, application_name="scoring-rebuild")
    try:
        async with (
            CustomerClient(url or settings.customer_service_url, auth=customer_service_auth(settings)) as client,
            create_sessionmaker(engine)() as session,
            session.begin(),
        ):
            stats = await rebuild(session, client)
        print(json.dumps({"orders": stats.orders, "customers": stats.customers, "resumed": stats.resumed}))
        if recompute:
            result = await run_batch(engine, settings, requested_by="rebuild")
            print(json.dumps({"run_id": result.run_id, **result.stats}, default=str))
    finally:
        await engine.dispose()
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m crm_scoring.purchases", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("rebuild", help="reload purchases and customer attributes from the customer service")
    cmd.add_argument("--url", help="the customer service's base URL (default: SCORING_CUSTOMER_SERVICE_URL)")
    cmd.add_argument("--recompute", action="store_true", help="run a batch recompute afterwards")
    args = parser.parse_args()
    sys.exit(asyncio.run(_main(args.url, args.recompute)))


if __name__ == "__main__":
    main()
