#!/usr/bin/env python3
"""Print a one-off Kubernetes Job that runs an Alembic command for one service, with exactly its
migration Job's image, settings and secrets: roll its migrations back, or see where its database stands.

    .venv/bin/python deploy/k8s/migration-job.py customer current | kubectl -n crm apply -f -
    .venv/bin/python deploy/k8s/migration-job.py customer history | kubectl -n crm apply -f -
    .venv/bin/python deploy/k8s/migration-job.py customer downgrade 20261217_0006 | kubectl -n crm apply -f -
    kubectl -n crm logs -f job/customer-alembic-<suffix printed on stderr>

The overlay (prod unless --overlay) is rendered with kubectl's built-in kustomize, so the Job matches what
`kubectl apply -k` deploys. Needs PyYAML (the repository's .venv has it) and kubectl.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

K8S = Path(__file__).resolve().parent
COMMANDS = ("current", "history", "heads", "downgrade", "upgrade")


def job_for(manifests: list[dict], service: str, alembic: list[str], name: str) -> dict:
    found = [d for d in manifests if d["kind"] == "Job" and d["metadata"]["name"] == f"{service}-migrate"]
    if not found:
        raise SystemExit(f"no Job {service}-migrate in the overlay: {service} has no migrations")
    job = found[0]
    job["metadata"]["name"] = name
    container = job["spec"]["template"]["spec"]["containers"][0]
    # The image's working directory holds the service's alembic.ini; env.py reads the service's settings.
    container["command"] = ["alembic", *alembic]
    job["spec"]["backoffLimit"] = 0  # a failed downgrade is looked at, not retried
    return job


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("service")
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument("revision", nargs="?", help="for downgrade and upgrade: a revision id, -1, base or head")
    parser.add_argument("--overlay", default="prod")
    parser.add_argument("--name", help="the Job's name (default <service>-alembic-<unix time>)")
    args = parser.parse_args(argv)
    if args.command in {"downgrade", "upgrade"} and not args.revision:
        parser.error(f"{args.command} needs a revision (an id, -1, base or head)")
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        parser.error("kubectl not found")
    rendered = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / args.overlay)], capture_output=True, text=True, check=False
    )
    if rendered.returncode != 0:
        print(rendered.stderr, file=sys.stderr)
        return rendered.returncode
    manifests = [d for d in yaml.safe_load_all(rendered.stdout) if d]
    alembic = [args.command, *([args.revision] if args.revision else [])]
    name = args.name or f"{args.service}-alembic-{int(time.time())}"
    print(yaml.safe_dump(job_for(manifests, args.service, alembic, name), sort_keys=False), end="")
    print(f"job/{name}: kubectl -n <namespace> logs -f job/{name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
