"""`python -m crm_shared.migrate <service> [...]`: upgrade a service's database to head, with the
URL its own settings resolve (CUSTOMER_DATABASE_URL, or DATABASE_URL's server + its database name), or with
ALEMBIC_DATABASE_URL when set: a role that owns the schema, which the running service need not have.
Deployments run it as a one-shot job per service before starting the new version."""

from __future__ import annotations

import argparse
import importlib
import os

from .migrations import upgrade_head
from .settings import resolve_database_url
from .topology import SERVICES


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("services", nargs="+", choices=sorted(SERVICES))
    args = parser.parse_args(argv)
    owner_url = os.environ.get("ALEMBIC_DATABASE_URL")
    if owner_url and len(args.services) > 1:
        parser.error("ALEMBIC_DATABASE_URL names one database: migrate one service per run")
    for name in args.services:
        part = SERVICES[name]
        if not part.has_migrations:
            print(f"{name}: no migrations yet, nothing to do")
            continue
        if owner_url:
            url = resolve_database_url(owner_url, "")  # explicit: the URL names its database
        else:
            url = importlib.import_module(f"{part.package}.config").Settings().async_database_url
        upgrade_head(part.directory, url)
        print(f"{name}: migrated to head")


if __name__ == "__main__":
    main()
