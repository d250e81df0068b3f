"""The alert rules and the dashboard name only metrics the parts really expose: every expression is parsed
with a PromQL parser, and each metric it reads must appear in the scrape of a running service (on its
migrated database: the customer service, the webhooks service for its delivery gauges, the scoring service
for its batch gauges, after one recorded run) or of the gateway."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import asyncpg
import httpx
import promql_parser
import pytest
import yaml
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from crm_customer.main import create_app
from crm_gateway.config import GatewaySettings
from crm_gateway.main import create_app as create_gateway
from crm_scoring.config import Settings as ScoringSettings
from crm_scoring.main import SERVICE_DIR as SCORING_DIR
from crm_scoring.main import create_app as create_scoring
from crm_shared.embedded_pg import asyncpg_dsn
from crm_shared.testing import DatabaseFactory, app_client
from crm_webhooks.config import Settings as WebhooksSettings
from crm_webhooks.main import SERVICE_DIR as WEBHOOKS_DIR
from crm_webhooks.main import create_app as create_webhooks

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
SYNTHETIC = {"up"}  # written by Prometheus itself for every scrape


def series_names(exposition: str) -> set[str]:
    """Every series name a scrape can hold: counters as X_total, histograms as X_bucket/_sum/_count."""
    names: set[str] = set()
    for family in text_string_to_metric_families(exposition):
        if family.type == "counter":
            names |= {family.name + "_total", family.name + "_created"}
        elif family.type == "histogram":
            names |= {family.name + suffix for suffix in ("_bucket", "_sum", "_count", "_created")}
        else:
            names.add(family.name)
    return names


def metrics_read(expr: str) -> set[str]:
    found: set[str] = set()

    def visit(node: object) -> bool:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            found.add(node.name)
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def alert_rules() -> list[dict]:
    doc = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    doc = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    return [target["expr"] for panel in doc["panels"] for target in panel["targets"]]


async def _scrape(app: FastAPI) -> str:
    async with app_client(app) as service:
        await service.get("/healthz")  # one request, so the request metrics have samples
        return (await service.get("/metrics")).text


@pytest.fixture
async def exposed(settings, databases: DatabaseFactory) -> set[str]:
    exposed = series_names(await _scrape(create_app(settings)))
    # The webhooks service adds its delivery metrics (its worker off: nothing to send).
    webhooks = WebhooksSettings(
        database_url=await databases.fresh(WEBHOOKS_DIR),
        environment="test",
        log_json=False,
        worker_enabled=False,
        secret_keys=[secrets.token_urlsafe(32)],
    )
    exposed |= series_names(await _scrape(create_webhooks(webhooks)))
    # The scoring service's batch gauges: the live scores' age shows once a run has replaced them.
    scoring_url = await databases.fresh(SCORING_DIR)
    conn = await asyncpg.connect(asyncpg_dsn(scoring_url))
    try:
        await conn.execute(
            "INSERT INTO batch_runs (as_of, refit, stored, status, phase, started_at, finished_at) "
            "VALUES (now(), true, true, 'succeeded', 'done', now() - interval '1 minute', now())"
        )
    finally:
        await conn.close()
    scoring = ScoringSettings(database_url=scoring_url, environment="test", log_json=False)
    exposed |= series_names(await _scrape(create_scoring(scoring)))
    gateway = create_gateway(GatewaySettings(environment="test", services={}, jwt_secret="x" * 64, log_json=False))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw") as client:
        gateway_scrape = (await client.get("/metrics")).text
    return exposed | series_names(gateway_scrape) | SYNTHETIC


def test_every_alert_is_well_formed() -> None:
    rules = alert_rules()
    assert len({r["alert"] for r in rules}) == len(rules) > 0
    for rule in rules:
        assert rule["labels"]["severity"] in {"page", "ticket"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        promql_parser.parse(rule["expr"])  # raises on a syntax error


async def test_alerts_and_dashboard_read_only_exposed_metrics(exposed: set[str]) -> None:
    exprs = [r["expr"] for r in alert_rules()] + dashboard_exprs()
    read = set().union(*(metrics_read(e) for e in exprs))
    assert read, "no metric found in the expressions"
    assert read <= exposed, f"not exposed by any part: {sorted(read - exposed)}"


def test_the_scrape_config_names_every_part() -> None:
    from crm_shared.topology import GATEWAY, SERVICES

    doc = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    jobs = {job["job_name"] for job in doc["scrape_configs"]}
    assert jobs == {f"crm-{part.name}" for part in (GATEWAY, *SERVICES.values())}
    assert doc["rule_files"] == ["alerts.yml"]
