"""One OpenAPI document for the whole suite, merged from the services' own documents.

Each service contributes the paths under its prefixes. Components (schemas and the rest) merge by
name: an identical definition is shared, a different one under a taken name is renamed
(`Problem` -> `ScoringProblem`) and every `$ref` to it is rewritten."""

from __future__ import annotations

import asyncio
import copy
import time
from typing import Any

import aiohttp
import orjson

from .routes import RouteTable

Doc = dict[str, Any]
REF_PREFIX = "#/components/"

SECURITY_SCHEMES: Doc = {
    "BearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "A partner API key (`crm_<id>_<secret>`) or a user JWT.",
    },
    "ApiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "A partner API key."},
}
SECURITY: list[Doc] = [{"BearerAuth": []}, {"ApiKeyHeader": []}]


def _rewrite_refs(node: Any, renames: dict[str, str]) -> Any:
    """A copy of `node` with every `$ref` in `renames` (full ref -> full ref) replaced."""
    if isinstance(node, dict):
        out = {k: _rewrite_refs(v, renames) for k, v in node.items()}
        ref = node.get("$ref")
        if isinstance(ref, str) and ref in renames:
            out["$ref"] = renames[ref]
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, renames) for v in node]
    return node


def _merge_components(merged: dict[str, Doc], components: Doc, service: str) -> dict[str, str]:
    """Add one service's components to `merged`; return its ref renames (old ref -> new ref). `components` is
    the service's document as fetched: a section that is not an object is left out."""
    sections = {section: items for section, items in components.items() if isinstance(items, dict)}
    renames: dict[str, str] = {}
    reserved = {section: set(merged.get(section, {})) | set(items) for section, items in sections.items()}

    def rename(section: str, name: str) -> None:
        base = service[:1].upper() + service[1:] + name
        candidate, n = base, 2
        while candidate in reserved[section]:
            candidate, n = f"{base}{n}", n + 1
        reserved[section].add(candidate)
        renames[f"{REF_PREFIX}{section}/{name}"] = f"{REF_PREFIX}{section}/{candidate}"

    # Share every same-named component whose definition is identical, rename the other clashes...
    shared: set[tuple[str, str]] = set()
    for section, items in sections.items():
        taken = merged.get(section, {})
        for name, definition in items.items():
            if name in taken and taken[name] == definition:
                shared.add((section, name))
            elif name in taken:
                rename(section, name)
    # ...then un-share those that refer to something renamed, until nothing changes.
    changed = True
    while changed:
        changed = False
        for section, name in sorted(shared):
            if _rewrite_refs(sections[section][name], renames) != merged[section][name]:
                shared.discard((section, name))
                rename(section, name)
                changed = True
    for section, items in sections.items():
        target = merged.setdefault(section, {})
        for name, definition in items.items():
            if (section, name) not in shared:
                new_ref = renames.get(f"{REF_PREFIX}{section}/{name}")
                target[new_ref.rsplit("/", 1)[1] if new_ref else name] = _rewrite_refs(definition, renames)
    return renames


def merge_documents(
    docs: dict[str, Doc], prefixes: dict[str, list[str]], *, title: str, version: str, missing: list[str]
) -> Doc:
    """Merge service documents (name -> doc) keeping each one's paths under its `prefixes`."""
    paths: Doc = {}
    components: dict[str, Doc] = {}
    tags: dict[str, Doc] = {}
    operation_ids: set[str] = set()
    openapi_version = "3.1.0"
    for service in sorted(docs):
        doc = docs[service]
        openapi_version = max(openapi_version, str(doc.get("openapi", openapi_version)))
        renames = _merge_components(components, doc.get("components") or {}, service)
        owned = prefixes[service]
        for path, item in (doc.get("paths") or {}).items():
            if not any(path == p or path.startswith(p + "/") for p in owned):
                continue
            item = _rewrite_refs(item, renames)
            for operation in item.values():
                if isinstance(operation, dict) and (op_id := operation.get("operationId")):
                    if op_id in operation_ids:
                        operation["operationId"] = op_id = f"{service}_{op_id}"
                    operation_ids.add(op_id)
            paths[path] = item
        for tag in doc.get("tags") or []:
            if isinstance(tag, dict) and "name" in tag:
                tags.setdefault(tag["name"], tag)
    components.setdefault("securitySchemes", {}).update(copy.deepcopy(SECURITY_SCHEMES))
    description = "The retention CRM's public API, served through the gateway."
    if missing:
        description += f"\n\nNot included (service unavailable when this was built): {', '.join(missing)}."
    merged: Doc = {
        "openapi": openapi_version,
        "info": {"title": title, "version": version, "description": description},
        "paths": dict(sorted(paths.items())),
        "components": components,
        "security": copy.deepcopy(SECURITY),
    }
    if tags:
        merged["tags"] = list(tags.values())
    return merged


class OpenApiAggregator:
    """Fetches and merges the services' documents; keeps the result until it is older than `ttl`
    or, sooner, on the next request after a service was missing from it."""

    def __init__(self, routes: RouteTable, *, timeout: float, ttl: float, title: str, version: str) -> None:
        self._routes = routes
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._ttl = ttl
        self._title = title
        self._version = version
        self._lock = asyncio.Lock()
        self._body: bytes | None = None
        self._built_at = 0.0
        self._complete = False

    async def document(self, session: aiohttp.ClientSession) -> bytes:
        async with self._lock:
            fresh = time.monotonic() - self._built_at < self._ttl
            if self._body is None or not self._complete or not fresh:
                await self._rebuild(session)
            assert self._body is not None
            return self._body

    async def _rebuild(self, session: aiohttp.ClientSession) -> None:
        names = sorted(self._routes.upstreams)
        results = await asyncio.gather(*(self._fetch(session, name) for name in names))
        docs = {name: doc for name, doc in zip(names, results, strict=True) if doc is not None}
        missing = [name for name in names if name not in docs]
        prefixes = {name: self._routes.prefixes_of(name) for name in names}
        merged = merge_documents(docs, prefixes, title=self._title, version=self._version, missing=missing)
        self._body = orjson.dumps(merged)
        self._built_at = time.monotonic()
        self._complete = not missing

    async def _fetch(self, session: aiohttp.ClientSession, service: str) -> Doc | None:
        url = f"{self._routes.upstreams[service].base_url}/openapi.json"
        try:
            async with session.get(url, timeout=self._timeout) as response:
                if response.status != 200:
                    return None
                doc = orjson.loads(await response.read())
        except (TimeoutError, aiohttp.ClientError, OSError, orjson.JSONDecodeError):
            return None
        return doc if isinstance(doc, dict) else None
