"""`make run`: the whole suite on one machine.

Uses the PostgreSQL server named by DATABASE_URL (or each service's own *_DATABASE_URL); without one
it starts the embedded server in `.data/pg`. Creates one database per service, applies migrations,
starts every part as its own uvicorn process, prints the URLs and a sample API key, and stops
everything on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import httpx
import jwt

from .auth import generate_api_key, new_secret
from .embedded_pg import database_url, ensure_database, start_embedded
from .migrations import upgrade_head
from .topology import GATEWAY, ROUTED, SERVICES, Part

PARTNER_SCOPES = [
    "customers:read",
    "customers:write",
    "orders:read",
    "orders:write",
    "pii:read",
    "webhooks:read",
    "webhooks:write",
]
JWT_AUDIENCE = "crm-api"
JWT_ISSUER = "crm-dev-launcher"
# Secrets this machine's suite generates once and keeps in .data/dev-credentials.json (mode 600):
# nothing anywhere has a default secret.
_SECRETS = ("jwt_secret", "principal_key", "cursor_secret", "event_secret", "link_secret", "webhooks_secret_key")


def dev_credentials(data_dir: Path) -> dict[str, str]:
    """A sample partner API key and the suite's secrets, kept across runs so clients keep working."""
    path = data_dir / "dev-credentials.json"
    creds: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    if "api_key" not in creds:
        key, key_id, hashed = generate_api_key()
        creds.update(api_key=key, key_id=key_id, hash=hashed)
    for name in _SECRETS:
        if len(creds.get(name, "")) < 32:  # older files held a shorter JWT secret
            creds[name] = new_secret()
    path.write_text(json.dumps(creds, indent=2))
    path.chmod(0o600)
    return creds


def secret_env(prefix: str, creds: dict[str, str]) -> dict[str, str]:
    """The secrets a service reads, under its own prefix."""
    return {
        f"{prefix}PRINCIPAL_KEYS": json.dumps([creds["principal_key"]]),
        f"{prefix}CURSOR_SECRET": creds["cursor_secret"],
        f"{prefix}EVENT_SECRET": creds["event_secret"],
    }


def subscriptions_for(publisher: str, host: str) -> list[dict[str, object]]:
    return [
        {"name": part.name, "url": f"http://{host}:{part.port}/internal/events", "types": list(patterns)}
        for part in SERVICES.values()
        for pub, patterns in part.subscribes.items()
        if pub == publisher
    ]


def service_env(part: Part, db_url: str | None, host: str, creds: dict[str, str]) -> dict[str, str]:
    env = {
        f"{part.env_prefix}SUBSCRIBERS": json.dumps(subscriptions_for(part.name, host)),
        **secret_env(part.env_prefix, creds),
        **{f"{part.env_prefix}{name}": value for name, value in part.dev_env.items()},
    }
    if db_url:
        env[f"{part.env_prefix}DATABASE_URL"] = db_url
    if part.public_prefixes:  # links in its messages point at the gateway, signed with its own secret
        env[f"{part.env_prefix}LINK_SECRETS"] = json.dumps([creds["link_secret"]])
        env[f"{part.env_prefix}PUBLIC_BASE_URL"] = f"http://{host}:{GATEWAY.port}"
    if part.name == "webhooks":  # encrypts the subscriptions' signing secrets at rest
        env[f"{part.env_prefix}SECRET_KEYS"] = json.dumps([creds["webhooks_secret_key"]])
    return env


def gateway_env(creds: dict[str, str], host: str) -> dict[str, str]:
    key = {
        "id": creds["key_id"],
        "hash": creds["hash"],
        "client_id": "sample-partner",
        "scopes": PARTNER_SCOPES,
        "name": "sample partner (make run)",
    }
    return {
        "GATEWAY_SERVICES": json.dumps({p.name: f"http://{host}:{p.port}" for p in ROUTED.values()}),
        "GATEWAY_API_KEYS": json.dumps([key]),
        "GATEWAY_JWT_SECRET": creds["jwt_secret"],
        "GATEWAY_JWT_AUDIENCE": JWT_AUDIENCE,
        "GATEWAY_JWT_ISSUER": JWT_ISSUER,
        "GATEWAY_PRINCIPAL_KEYS": json.dumps([creds["principal_key"]]),
    }


def dev_token(
    creds: dict[str, str], role: str, *, hours: int = 12, audience: str = JWT_AUDIENCE, issuer: str = JWT_ISSUER
) -> str:
    """A user JWT for `role`, signed with this machine's secret, for trying the API. `audience` and
    `issuer` are what the gateway expects (GATEWAY_JWT_AUDIENCE / _ISSUER): `make run`'s by default."""
    now = int(time.time())
    claims = {"sub": f"dev-{role}", "roles": [role], "aud": audience, "iss": issuer, "iat": now}
    return jwt.encode({**claims, "exp": now + hours * 3600}, creds["jwt_secret"], algorithm="HS256")


def start(part: Part, env: dict[str, str], host: str) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        part.factory,
        "--host",
        host,
        "--port",
        str(part.port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--timeout-graceful-shutdown",
        "10",
    ]
    return subprocess.Popen(cmd, env={**os.environ, **env})


def wait_ready(procs: dict[str, tuple[Part, subprocess.Popen[bytes]]], host: str, timeout: float = 60.0) -> None:
    pending = dict(procs)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for name, (part, proc) in list(pending.items()):
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited with status {proc.returncode}")
            try:
                if httpx.get(f"http://{host}:{part.port}/readyz", timeout=1).status_code == 200:
                    del pending[name]
            except httpx.HTTPError:
                pass
        time.sleep(0.2)
    if pending:
        raise SystemExit(f"not ready after {timeout:.0f}s: {', '.join(pending)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(".data"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--token",
        metavar="ROLE",
        help="print a 12-hour JWT for ROLE (admin, analyst, agent, marketer) signed with this machine's secret, "
        "and exit (`make token ROLE=agent`)",
    )
    args = parser.parse_args(argv)
    data_dir: Path = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    if args.token:
        print(dev_token(dev_credentials(data_dir), args.token))
        return

    server = None
    admin_url = os.environ.get("DATABASE_URL")
    if not admin_url:
        print("no DATABASE_URL: starting the embedded PostgreSQL in", data_dir / "pg", flush=True)
        server, admin_url = start_embedded(data_dir / "pg")

    procs: dict[str, tuple[Part, subprocess.Popen[bytes]]] = {}
    creds = dev_credentials(data_dir)

    def shutdown(signum: int | None = None, frame: FrameType | None = None) -> None:
        print("\nstopping...", flush=True)
        for _, proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for _, proc in procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if server is not None:
            server.cleanup()
        raise SystemExit(0)

    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGTERM, shutdown)

    for part in SERVICES.values():
        db_url = None
        if part.database is not None:
            db_url = os.environ.get(f"{part.env_prefix}DATABASE_URL")
            if not db_url:
                ensure_database(admin_url, part.database)
                db_url = database_url(admin_url, part.database)
            if part.has_migrations:
                upgrade_head(part.directory, db_url)
                print(f"{part.name}: database {part.database} at migration head", flush=True)
        procs[part.name] = (part, start(part, service_env(part, db_url, args.host, creds), args.host))
    procs[GATEWAY.name] = (GATEWAY, start(GATEWAY, gateway_env(creds, args.host), args.host))
    try:
        wait_ready(procs, args.host)
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        shutdown()

    base = f"http://{args.host}:{GATEWAY.port}"
    print("\nRetention CRM is running.", flush=True)
    print(f"  gateway   {base}   (API docs: {base}/docs)")
    for part in SERVICES.values():
        print(f"  {part.name:<9} http://{args.host}:{part.port}")
    print(f"\n  sample partner API key ({', '.join(PARTNER_SCOPES)}):\n    {creds['api_key']}")
    print(f'  try: curl -H "Authorization: Bearer {creds["api_key"]}" {base}/api/v1/customers')
    for role in ("admin", "analyst"):
        print(f"\n  {role} token (JWT, 12 hours):\n    {dev_token(creds, role)}")
    print("\nCtrl-C stops everything.", flush=True)
    while True:
        for name, (_, proc) in procs.items():
            if proc.poll() is not None:
                print(f"{name} exited with status {proc.returncode}", file=sys.stderr)
                shutdown()
        time.sleep(1)


if __name__ == "__main__":
    main()
