"""deploy/compose.yml, interpolated as Compose would with the values of .env.example, passes the compose-spec
JSON schema (as vendored by check-jsonschema: no network), runs each service after its migration, drains
on stop, takes every credential from a required variable, and sets what the code reads."""

from __future__ import annotations

import json
import re
import secrets
from importlib import resources
from typing import Any

import jsonschema
import pytest
import yaml

from crm_shared.topology import ROUTED
from tests.deploy.manifests import (
    DEPLOY,
    PARTS,
    MissingVariable,
    compose_variables,
    env_example,
    env_example_optional,
    expected_subscribers,
    interpolate,
    setting_names,
    setting_of,
    subscribers_setting,
)
from tests.deploy.test_kubernetes import graceful_shutdown_seconds

COMPOSE = DEPLOY / "compose.yml"


def filled_env() -> dict[str, str]:
    """.env.example with its empty (secret) values filled, as its one-liner does."""
    return {k: v or secrets.token_urlsafe(32) for k, v in env_example().items()}


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())  # anchors and `<<` merges resolved


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any]) -> dict[str, Any]:
    return interpolate(raw, filled_env())


def schema_errors(doc: dict[str, Any]) -> list[str]:
    schema = json.loads(
        resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json").read_text()
    )
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def test_the_file_matches_the_compose_spec(compose: dict[str, Any]) -> None:
    assert schema_errors(compose) == []


def test_a_misspelt_key_is_caught(compose: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["customer"]["stop_grace_periods"] = "35s"
    assert schema_errors(broken)


def test_every_variable_is_documented_in_the_example() -> None:
    documented = env_example().keys() | env_example_optional()
    assert compose_variables(COMPOSE.read_text()) <= documented
    assert "CRM_CONSOLE_DEV_JWT_SECRET" in env_example_optional()  # unset: the one-liner must not fill it


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    return env if isinstance(env, dict) else dict(item.split("=", 1) for item in env)


def seconds(duration: str) -> int:
    return sum(int(n) * {"s": 1, "m": 60}[unit] for n, unit in re.findall(r"(\d+)([sm])", duration))


@pytest.mark.parametrize("name", sorted(PARTS))
def test_each_part_migrates_first_drains_on_stop_and_is_checked(compose: dict[str, Any], name: str) -> None:
    services = compose["services"]
    assert name in services, f"no {name} in deploy/compose.yml (a new service: copy churn's entries)"
    service = services[name]
    delay = float(environment(service).get(f"{PARTS[name].env_prefix}SHUTDOWN_DELAY_SECONDS", 0))
    assert seconds(service["stop_grace_period"]) >= delay + graceful_shutdown_seconds(name) + 5
    probe = " ".join(service["healthcheck"]["test"])
    assert f"127.0.0.1:{PARTS[name].port}/readyz" in probe
    if PARTS[name].database is None:
        assert f"{name}-migrate" not in services
        return
    migrate = services[f"{name}-migrate"]
    assert migrate["command"] == ["python", "-m", "crm_shared.migrate", name]
    assert migrate["image"] == service["image"]
    assert migrate["environment"] == service["environment"]
    assert service["depends_on"][f"{name}-migrate"] == {"condition": "service_completed_successfully"}


@pytest.mark.parametrize("name", sorted(PARTS))
def test_no_credential_has_a_value_without_deploy_env(raw: dict[str, Any], name: str) -> None:
    """Every credential comes from a required variable: with no deploy/.env, none can be interpolated."""
    known = setting_names(PARTS[name])
    env = environment(raw["services"][name])
    credentials = {k: v for k, v in env.items() if known.get(k)}
    assert credentials
    for variable, value in credentials.items():
        assert "${" in value, f"{name}: {variable} is inlined"
        try:
            unset = interpolate(value, {})
        except MissingVariable:
            continue
        assert unset in {"", "[]"}, f"{name}: {variable} has a default value"  # optional, e.g. previous keys


@pytest.mark.parametrize("name", sorted(PARTS))
def test_every_setting_exists_and_events_and_calls_reach_their_parts(compose: dict[str, Any], name: str) -> None:
    part = PARTS[name]
    env = environment(compose["services"][name])
    unknown = [v for v in env if not setting_of(part, v)]
    assert unknown == [], f"{name}: no such setting"
    if name == "gateway":
        assert json.loads(env["GATEWAY_SERVICES"]) == {p.name: f"http://{p.name}:{p.port}" for p in ROUTED.values()}
        return
    got = subscribers_setting(env.get(f"{part.env_prefix}SUBSCRIBERS", "[]"))
    assert got == sorted(expected_subscribers(name), key=lambda s: str(s["name"])), f"{name}'s subscribers"
    for variable in setting_names(part):
        upstream = re.fullmatch(rf"{part.env_prefix}(\w+)_SERVICE_URL", variable)
        if upstream:
            target = PARTS[upstream[1].lower()]
            assert env.get(variable) == f"http://{target.name}:{target.port}", variable
