"""`python -m tools.new_service loyalty [--description ...] [--prefix /api/v1/...]` from the repository root
(`make new-service NAME=loyalty DESC="..."`): write services/loyalty and tests/loyalty, register the service
in crm_shared/topology.py, and print what else to register."""

from __future__ import annotations

import argparse
from pathlib import Path

from crm_shared.topology import SERVICES

from . import NewService, generate, next_steps, register


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="2-20 lowercase letters and digits: crm_<name>, <NAME>_ settings")
    parser.add_argument("--description", default="", help="what the service owns, at most 64 characters")
    parser.add_argument(
        "--prefix", action="append", default=[], help="an API prefix the gateway routes to it (default /api/v1/<name>)"
    )
    parser.add_argument("--root", type=Path, default=Path("."), help="the repository root")
    args = parser.parse_args(argv)
    try:
        service = NewService.plan(args.name, args.description, tuple(args.prefix))
        generate(args.root, service)
    except (ValueError, FileExistsError) as exc:
        parser.error(str(exc))
    topology = args.root / "shared" / "crm_shared" / "topology.py"
    registered = service.name not in SERVICES and topology.exists() and register(topology, service)
    print(next_steps(args.root, service, registered=registered))


if __name__ == "__main__":
    main()
