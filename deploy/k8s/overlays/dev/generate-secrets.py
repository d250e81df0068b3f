#!/usr/bin/env python3
"""Write the dev overlay's secret files, secrets/<Secret name>.env (git-ignored), from the committed
secrets/*.env.example. Run it once before the first `kubectl apply -k deploy/k8s/overlays/dev`:

    python3 deploy/k8s/overlays/dev/generate-secrets.py            # writes the missing files only
    python3 deploy/k8s/overlays/dev/generate-secrets.py --force    # new values everywhere

Each `{random:NAME}` in an example becomes secrets.token_urlsafe(32) (43 URL-safe characters, so it
needs no escaping in a URL or JSON), the same value wherever NAME recurs: the PostgreSQL password in
postgres-dev.env and in every DATABASE_URL. A value already in an existing file is reused, so adding a
Secret later keeps the others (and the database password) as they are. Standard library only.

--force replaces every value: the pods pick them up on the next apply (the Secret names carry a content
hash), but the in-cluster PostgreSQL keeps the password it was initialised with; delete its volume
(`kubectl -n crm-dev delete statefulset/postgres pvc/data-postgres-0`) before applying.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
from pathlib import Path

FOLDER = Path(__file__).resolve().parent / "secrets"
PLACEHOLDER = re.compile(r"\{random:([\w-]+)\}")


def known_values(example: str, existing: str) -> dict[str, str]:
    """The random values an existing file already holds, matched line by line against its example."""
    found: dict[str, str] = {}
    current = dict(line.split("=", 1) for line in existing.splitlines() if "=" in line and not line.startswith("#"))
    for line in example.splitlines():
        if "=" not in line or line.startswith("#") or not PLACEHOLDER.search(line):
            continue
        key, template = line.split("=", 1)
        pattern, names, pos = "", [], 0
        for m in PLACEHOLDER.finditer(template):
            pattern += re.escape(template[pos : m.start()]) + r"([A-Za-z0-9_-]+)"
            names.append(m.group(1))
            pos = m.end()
        match = re.fullmatch(pattern + re.escape(template[pos:]), current.get(key, ""))
        if match:
            found.update(zip(names, match.groups(), strict=True))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="replace existing files and every value")
    args = parser.parse_args()
    examples = sorted(FOLDER.glob("*.env.example"))
    if not examples:
        print(f"no *.env.example in {FOLDER}", file=sys.stderr)
        return 1
    values: dict[str, str] = {}
    if not args.force:
        for example in examples:
            target = example.with_suffix("")  # x.env.example -> x.env
            if target.exists():
                values.update(known_values(example.read_text(), target.read_text()))
    for example in examples:
        target = example.with_suffix("")
        if target.exists() and not args.force:
            print(f"kept    {target}")
            continue
        text = PLACEHOLDER.sub(lambda m: values.setdefault(m.group(1), secrets.token_urlsafe(32)), example.read_text())
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(target, 0o600)
        print(f"written {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
