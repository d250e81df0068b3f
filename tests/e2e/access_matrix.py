"""The access matrix, read from an OpenAPI document: every /api/ operation with its declared access
(`x-crm-access`), a request that reaches it, and the decision each kind of caller must get."""

from __future__ import annotations

import importlib
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from crm_gateway.openapi import merge_documents
from crm_gateway.scopes import DEFAULT_ROLE_SCOPES
from crm_shared.topology import ROUTED
from tests.e2e.stack import PARTNER_SCOPES  # what the stack's partner key holds

API_PREFIX = "/api/"
HTTP_METHODS = ("get", "put", "post", "patch", "delete", "head", "options")
READ_METHODS = frozenset({"GET", "HEAD"})
# Building an app's OpenAPI document does not touch its database.
_UNUSED_DB = "postgresql+asyncpg://unused@127.0.0.1:9/unused"

Decision = Literal[401, 403, "allowed"]


@dataclass(frozen=True)
class Operation:
    method: str  # upper case
    path: str  # the template, e.g. /api/v1/customers/{customer_id}
    spec: dict[str, Any] = field(repr=False)

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def writes(self) -> bool:
        return self.method not in READ_METHODS

    @property
    def access(self) -> dict[str, Any] | None:
        return self.spec.get("x-crm-access")


@dataclass(frozen=True)
class Caller:
    name: str
    scopes: frozenset[str] = frozenset()
    kind: Literal["user", "partner", "anonymous"] = "user"

    def decision(self, access: dict[str, Any]) -> Decision:
        """What the suite must answer this caller on an operation declaring `access`."""
        if self.kind == "anonymous":
            return 401
        if not set(access["scopes"]) <= self.scopes:
            return 403
        if self.kind == "partner" and access["partner"] == "none":
            return 403
        return "allowed"


def callers() -> list[Caller]:
    """Every JWT role, a role the gateway does not know (grants nothing), the partner key, nobody."""
    staff = [Caller(role, frozenset(scopes)) for role, scopes in sorted(DEFAULT_ROLE_SCOPES.items())]
    return [
        *staff,
        Caller("unknown-role"),
        Caller("partner", frozenset(PARTNER_SCOPES), "partner"),
        Caller("anonymous", kind="anonymous"),
    ]


def api_operations(spec: dict[str, Any]) -> list[Operation]:
    return [
        Operation(method.upper(), path, item[method])
        for path, item in spec.get("paths", {}).items()
        if path.startswith(API_PREFIX)
        for method in HTTP_METHODS
        if isinstance(item.get(method), dict)
    ]


def _app(package: str) -> Any:
    """A service's app, from the topology's package name (every service, a new one included)."""
    settings = importlib.import_module(f"{package}.config").Settings(database_url=_UNUSED_DB)
    return importlib.import_module(f"{package}.main").create_app(settings)


def local_document() -> dict[str, Any]:
    """The merged document the gateway serves, built in-process (no server, no database) so that
    the operations are known when pytest collects; the test checks it equals the gateway's own."""
    docs = {name: _app(part.package).openapi() for name, part in ROUTED.items()}
    prefixes = {name: list(ROUTED[name].prefixes) for name in docs}
    return merge_documents(docs, prefixes, title="local", version="0", missing=[])


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        section, name = schema["$ref"].removeprefix("#/components/").split("/", 1)
        schema = spec["components"][section][name]
    for union in ("anyOf", "oneOf"):
        if union in schema:
            options = [_resolve(s, spec) for s in schema[union]]
            return next((s for s in options if s.get("type") != "null"), options[0])
    return schema


def sample_value(schema: dict[str, Any], spec: dict[str, Any]) -> str:
    """A plausible path parameter: a random UUID, a small integer, an enum's first value, a word."""
    schema = _resolve(schema, spec)
    if schema.get("enum"):
        return str(schema["enum"][0])
    if schema.get("type") == "integer":
        return "1"
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    return "sample"


def sample_path(operation: Operation, spec: dict[str, Any]) -> str:
    path = operation.path
    for param in operation.spec.get("parameters", []):
        if param.get("in") == "path":
            path = path.replace("{" + param["name"] + "}", sample_value(param.get("schema", {}), spec))
    assert "{" not in path, f"{operation.id}: a path parameter is not documented"
    return path
