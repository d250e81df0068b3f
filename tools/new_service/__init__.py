"""A new service in the shape of services/customer, written from `template/`: its package (settings, app
factory, models base), Alembic tree with a first revision creating the shared infrastructure tables, and
tests (fixtures from crm_shared.testing, probes, migrations, audit log). `make new-service NAME=...`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from crm_shared import migrations
from crm_shared.topology import GATEWAY, SERVICES

TEMPLATE = Path(__file__).resolve().parent / "template"
# The name becomes a package (crm_<name>), an env prefix (<NAME>_), a folder and a URL segment. The bounds
# on the name, the description and the prefixes keep every line the template writes within ruff's 120.
NAME = re.compile(r"[a-z][a-z0-9]{1,19}")
DESCRIPTION = re.compile(r"[^\"\\\n]{0,64}")  # lands inside double-quoted strings and docstrings
PREFIX = re.compile(r"/api/v1/[a-z][a-z0-9-]{1,29}")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
_LINE_LENGTH = 120  # ruff's, from the workspace pyproject.toml


@dataclass(frozen=True)
class NewService:
    name: str
    port: int
    prefixes: tuple[str, ...]
    description: str = ""

    @classmethod
    def plan(cls, name: str, description: str = "", prefixes: tuple[str, ...] = ()) -> NewService:
        """A service already in the topology keeps its port and prefixes; a new one takes the next free
        port and `/api/v1/<name>`."""
        if not NAME.fullmatch(name):
            raise ValueError(f"service name {name!r}: 2-20 lowercase letters and digits, starting with a letter")
        if not DESCRIPTION.fullmatch(description):
            raise ValueError("description: one line, at most 64 characters, no double quote or backslash")
        if bad := [p for p in prefixes if not PREFIX.fullmatch(p)]:
            raise ValueError(f"API prefixes {bad}: /api/v1/ and 2-30 lowercase letters, digits and dashes")
        if name == GATEWAY.name:
            raise ValueError("the gateway is not a service")
        if taken := [p for part in SERVICES.values() if part.name != name for p in part.prefixes if p in prefixes]:
            raise ValueError(f"API prefixes {taken}: another service serves them")
        if (known := SERVICES.get(name)) is not None:
            return cls(name, known.port, prefixes or known.prefixes, description)
        port = max(part.port for part in (GATEWAY, *SERVICES.values())) + 1
        return cls(name, port, prefixes or (f"/api/v1/{name}",), description)

    @property
    def package(self) -> str:
        return f"crm_{self.name}"

    @property
    def env_prefix(self) -> str:
        return f"{self.name.upper()}_"

    @property
    def families(self) -> tuple[str, ...]:
        """The scope families of its prefixes (as the gateway names them: the last path segment)."""
        return tuple(prefix.rstrip("/").rsplit("/", 1)[-1] for prefix in self.prefixes)

    def values(self, now: datetime) -> dict[str, str]:
        """What each {{placeholder}} of the template stands for."""
        title = self.name.capitalize()
        scopes = [f"{family}:{access}" for family in self.families for access in ("read", "write")]
        versions = infrastructure_versions()
        return {
            "name": self.name,
            "title": title,
            "summary": f"{title} service: {self.description}" if self.description else f"{title} service",
            "env_prefix": self.env_prefix,
            "first_prefix": self.prefixes[0],
            "admin_scopes": _wrap("ADMIN_SCOPES = (", [json.dumps(s) for s in [*scopes, "audit:read"]], ")"),
            "date": now.strftime("%Y%m%d"),
            "create_date": now.strftime("%Y-%m-%d %H:%M:%S.000000"),
            "infra_imports": "\n".join(
                f"    {verb}_infrastructure_v{v}," for verb in ("create", "drop") for v in versions
            ),
            "infra_upgrade": "\n".join(f"    create_infrastructure_v{v}(op)" for v in versions),
            "infra_downgrade": "\n".join(f"    drop_infrastructure_v{v}(op)" for v in reversed(versions)),
        }

    def topology_entry(self) -> str:
        """Its `Part(...)` line in crm_shared/topology.py's SERVICES."""
        prefixes = _wrap("(", [json.dumps(p) for p in self.prefixes], ")", tuple_=True)
        args = [json.dumps(self.name), json.dumps(self.package), str(self.port), json.dumps(self.package)]
        return _wrap("Part(", [*args, json.dumps(self.env_prefix), prefixes], "),", indent=8)


def _wrap(opening: str, items: list[str], closing: str, *, indent: int = 0, tuple_: bool = False) -> str:
    """`opening items closing` on one line if it fits, else one item a line, as ruff format lays it out."""
    pad = " " * indent
    one_line = pad + opening + ", ".join(items) + ("," if tuple_ and len(items) == 1 else "") + closing
    if len(one_line) <= _LINE_LENGTH:
        return one_line
    return pad + opening + "\n" + "".join(f"{pad}    {item},\n" for item in items) + pad + closing


def infrastructure_versions() -> list[int]:
    """Every version of the shared tables crm_shared.migrations offers: a new service creates them all, in
    order, from its first revision (frozen there, as the other services' migrations are)."""
    found = {int(m[1]) for attr in vars(migrations) if (m := re.fullmatch(r"create_infrastructure_v(\d+)", attr))}
    versions = sorted(found)
    if versions != list(range(1, len(versions) + 1)) or not all(
        hasattr(migrations, f"drop_infrastructure_v{v}") for v in versions
    ):
        raise RuntimeError(f"crm_shared.migrations: expected create/drop_infrastructure_v1..vN, found {versions}")
    return versions


def render(text: str, values: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        if match[1] not in values:
            raise KeyError(f"template placeholder {match[0]} has no value")
        return values[match[1]]

    return _sort_first_party_imports(_PLACEHOLDER.sub(value, text))


def _sort_first_party_imports(text: str) -> str:
    """Sort each run of `from crm_... import` lines as ruff's isort does, since where crm_<name> falls
    among crm_shared's imports depends on the name."""

    def natural(line: str) -> list[str | int]:
        module = line.split()[1].lower()
        return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", module)]

    lines, out, run = text.split("\n"), [], []
    for line in [*lines, ""]:
        if line.startswith("from crm_"):
            run.append(line)
            continue
        out += sorted(run, key=natural)
        run = []
        out.append(line)
    return "\n".join(out[:-1])


def generate(root: Path, service: NewService, *, now: datetime | None = None) -> list[Path]:
    """Write the service under `root` (services/<name>/ and tests/<name>/); refuses to overwrite."""
    values = service.values(now or datetime.now(UTC))
    planned: dict[Path, str] = {}
    for source in sorted(TEMPLATE.rglob("*.tmpl")):
        relative = render(str(source.relative_to(TEMPLATE)), values).removesuffix(".tmpl")
        planned[root / relative] = render(source.read_text(), values)
    for top in {path.relative_to(root).parts[:2] for path in planned}:
        if (existing := root.joinpath(*top)).exists():
            raise FileExistsError(f"{existing} exists: pick another name, or remove it first")
    for path, text in planned.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return sorted(planned)


def register(topology: Path, service: NewService) -> bool:
    """Add the service's entry at the end of SERVICES in crm_shared/topology.py; False when that file is
    not in the expected shape (then the entry is printed for adding by hand)."""
    source = topology.read_text()
    end_of_services = "\n    )\n}\n"
    if source.count(end_of_services) != 1 or "SERVICES: dict[str, Part] = {" not in source:
        return False
    topology.write_text(source.replace(end_of_services, "\n" + service.topology_entry() + end_of_services))
    return True


def next_steps(root: Path, service: NewService, *, registered: bool) -> str:
    """What the generator did not do: where else the suite has to learn of the service."""
    name, families = service.name, service.families
    scopes = ", ".join(f"{f}:read/{f}:write" for f in families)
    lines = [
        f"services/{name}/ and tests/{name}/ written: port {service.port}, database {service.package}, "
        f"API prefixes {', '.join(service.prefixes)}, settings {service.env_prefix}*.",
    ]
    if name in SERVICES:
        lines.append("Already in shared/crm_shared/topology.py.")
    elif registered:
        lines.append(
            "Registered in shared/crm_shared/topology.py: `make run` creates and migrates its database, the test "
            f"plugin gives it secrets, the gateway routes its prefixes to it (admins hold {scopes})."
        )
    else:
        lines.append(f"Add to SERVICES in shared/crm_shared/topology.py:\n{service.topology_entry()}")
    todo = []
    makefile, pyproject = root / "Makefile", root / "pyproject.toml"
    if makefile.exists() and not re.search(rf"services/({name}|\*)/", makefile.read_text()):
        todo.append(f"Makefile: services/{name} in PARTS, so `make install` installs it on a fresh machine")
    if pyproject.exists() and not re.search(rf"\"crm_({name}|\*)\"", pyproject.read_text()):
        todo.append(f'pyproject.toml: "{service.package}" in [tool.ruff.lint.isort] known-first-party')
    todo += [
        f"gateway/crm_gateway/scopes.py: which roles besides admin (and analyst, every :read) get {scopes}; "
        "the gateway's tests pin each role's scopes",
        f"deploy/: compose.yml ({service.env_prefix}* env, build, {name}-migrate and {name} entries, the gateway's "
        f"GATEWAY_SERVICES), postgres/init.sql (CREATE DATABASE {service.package}), k8s/base/{name}.yaml, "
        f"config/{name}.env and kustomization.yaml, overlays/dev/secrets",
        "events it consumes: `subscribes` on its topology entry, and the publishers' *_SUBSCRIBERS in deploy/",
        "README.md: a row in the architecture table",
    ]
    lines.append("Still to do by hand:\n" + "\n".join(f"  - {item}" for item in todo))
    lines.append(f"Check: make test PYTEST_ARGS=tests/{name}. Its first domain: README.md, 'Adding a service'.")
    return "\n\n".join(lines)
