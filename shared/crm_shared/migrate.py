"""`python -m crm_shared.migrate <service> [...]`: upgrade a service's database to head, with the
URL its own settings resolve (CUSTOMER_DATABASE_URL, or DATABASE_URL's server + its database name).
Deployments run it as a one-shot job before starting the new version."""

from __future__ import annotations

import argparse
import importlib

from .migrations import upgrade_head
from .topology import SERVICES


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("services", nargs="+", choices=sorted(SERVICES))
    args = parser.parse_args(argv)
    for name in args.services:
        part = SERVICES[name]
        if not part.has_migrations:
            print(f"{name}: no migrations yet, nothing to do")
            continue
        settings = importlib.import_module(f"{part.package}.config").Settings()
        upgrade_head(part.directory, settings.async_database_url)
        print(f"{name}: migrated to head")


if __name__ == "__main__":
    main()
