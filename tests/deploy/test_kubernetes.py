"""Every kustomize overlay renders, each manifest passes the Kubernetes schemas (strict: an unknown or
misspelt field fails), and each part has what running it safely needs: a migration Job, autoscaling, a
disruption budget, a drain on shutdown, resources, credentials from Secrets only, and the settings the code
reads (event subscriptions from the topology, upstream URLs)."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import sys
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from crm_shared.topology import ROUTED
from tests.deploy.manifests import (
    K8S,
    OVERLAYS,
    PARTS,
    SERVICES,
    expected_subscribers,
    render,
    setting_names,
    setting_of,
    subscribers_setting,
)

# The oldest Kubernetes the manifests support (PodDisruptionBudget.unhealthyPodEvictionPolicy is GA in
# 1.31) and the newest whose schemas kubernetes-validate ships.
VERSIONS = ("1.31.0", kubernetes_validate.latest_version())
REPO = K8S.parents[1]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    scratch = tmp_path_factory.mktemp("k8s")
    return {overlay: render(overlay, scratch) for overlay in OVERLAYS}


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def schema_errors(docs: list[dict[str, Any]], versions: tuple[str, ...] = VERSIONS) -> list[str]:
    errors = []
    for version in versions:
        for doc in docs:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except jsonschema.ValidationError as exc:  # kubernetes_validate's own subclass, or the original
                errors.append(f"{version} {doc['kind']}/{doc['metadata']['name']}: {exc.message}")
    return errors


def test_overlays_found() -> None:
    assert OVERLAYS == ["dev", "prod"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rendered_manifests_match_the_kubernetes_schemas(rendered, overlay: str) -> None:
    docs = rendered[overlay]
    assert {d["kind"] for d in docs} >= {"Deployment", "Service", "Job", "PodDisruptionBudget", "ConfigMap"}
    assert schema_errors(docs) == []


def test_the_files_themselves_match_the_schemas() -> None:
    """Without kubectl too: base resources and the Secrets template as written."""
    files = [*sorted((K8S / "base").glob("*.yaml")), K8S / "overlays" / "dev" / "postgres.yaml"]
    docs = [
        d
        for f in files
        for d in yaml.safe_load_all(f.read_text())
        if d and d.get("apiVersion") != "kustomize.config.k8s.io/v1beta1"
    ]
    assert len(docs) > 20
    assert schema_errors(docs, VERSIONS[-1:]) == []


def test_a_misspelt_field_is_caught() -> None:
    doc = yaml.safe_load((K8S / "base" / "customer.yaml").read_text().split("---")[0])
    doc["spec"]["template"]["spec"]["terminationGracePeriodSecond"] = 30
    assert len(schema_errors([doc])) == len(VERSIONS)


def graceful_shutdown_seconds(part: str) -> int:
    dockerfile = REPO / ("gateway/Dockerfile" if part == "gateway" else "services/Dockerfile")
    found = re.search(r"timeout-graceful-shutdown\W+(\d+)", dockerfile.read_text())
    assert found, dockerfile
    return int(found[1])


def labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("part", sorted(PARTS))
def test_each_part_can_be_rolled_scaled_and_drained(rendered, overlay: str, part: str) -> None:
    docs = rendered[overlay]
    deployments = by_kind(docs, "Deployment")
    assert part in deployments, f"no Deployment for {part} in deploy/k8s (a new service: copy base/churn.yaml)"
    deployment = deployments[part]
    pod = deployment["spec"]["template"]
    pod_labels = pod["metadata"]["labels"]
    assert labels_match(deployment["spec"]["selector"]["matchLabels"], pod_labels)
    container = pod["spec"]["containers"][0]

    service = by_kind(docs, "Service")[part]
    assert labels_match(service["spec"]["selector"], pod_labels)
    assert service["spec"]["ports"][0]["port"] == PARTS[part].port

    # Drain: the preStop sleep, the in-process delay (crm_shared/shutdown.py), then uvicorn's graceful
    # shutdown must fit in the grace period.
    sleep = container["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep[0] == "sleep"
    delay = float(config_of(docs, part).get(f"{PARTS[part].env_prefix}SHUTDOWN_DELAY_SECONDS", 0))
    needed = int(sleep[1]) + delay + graceful_shutdown_seconds(part)
    assert pod["spec"]["terminationGracePeriodSeconds"] >= needed + 5
    assert container["readinessProbe"]["httpGet"]["path"] == ("/healthz" if part == "gateway" else "/readyz")
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"

    resources = container["resources"]
    assert {"cpu", "memory"} <= resources["requests"].keys()
    assert "memory" in resources["limits"]

    budgets = [
        b
        for b in by_kind(docs, "PodDisruptionBudget").values()
        if b["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == part
    ]
    assert len(budgets) == 1
    assert labels_match(budgets[0]["spec"]["selector"]["matchLabels"], pod_labels)

    autoscalers = by_kind(docs, "HorizontalPodAutoscaler")
    if overlay == "dev":  # one replica each, the autoscalers deleted on purpose
        assert autoscalers == {}
        assert deployment["spec"]["replicas"] == 1
    else:
        hpa = autoscalers[part]["spec"]
        assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": part}
        assert 2 <= hpa["minReplicas"] <= hpa["maxReplicas"]
        assert "replicas" not in deployment["spec"]  # the autoscaler owns the count

    jobs = by_kind(docs, "Job")
    if PARTS[part].database is None:
        assert f"{part}-migrate" not in jobs
        return
    job = jobs[f"{part}-migrate"]["spec"]["template"]
    assert not labels_match(budgets[0]["spec"]["selector"]["matchLabels"], job["metadata"]["labels"])
    assert not labels_match(service["spec"]["selector"], job["metadata"]["labels"])
    migrate = job["spec"]["containers"][0]
    assert migrate["image"] == container["image"]
    assert migrate["command"] == ["python", "-m", "crm_shared.migrate", part]
    assert {"cpu", "memory"} <= migrate["resources"]["requests"].keys()
    assert "memory" in migrate["resources"]["limits"]


def workloads(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(part, container) of every Deployment, Job and CronJob of the suite."""
    found = []
    for doc in docs:
        spec = doc.get("spec", {})
        template = spec.get("jobTemplate", {}).get("spec", spec).get("template")
        if doc["kind"] in {"Deployment", "Job", "CronJob"} and template:
            name = template["metadata"]["labels"]["app.kubernetes.io/name"]
            found += [(name, c) for c in template["spec"]["containers"] if name in PARTS]
    return found


def secret_keys(overlay: str, docs: list[dict[str, Any]]) -> dict[str, set[str]]:
    """The Secrets a cluster holds for the overlay: generated by dev, created from the template in prod."""
    if overlay == "prod":
        template = yaml.safe_load_all((K8S / "base" / "secrets.template.yaml").read_text())
        return {d["metadata"]["name"]: set(d["stringData"]) for d in template if d}
    return {name: set(s["data"]) for name, s in by_kind(docs, "Secret").items()}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_credentials_come_from_secrets_and_every_setting_exists(rendered, overlay: str) -> None:
    docs = rendered[overlay]
    assert {doc["kind"] for doc in docs} >= {"CronJob"}
    configmaps = by_kind(docs, "ConfigMap")
    secrets = secret_keys(overlay, docs)
    if overlay == "prod":
        assert by_kind(docs, "Secret") == {}, "prod must not apply Secrets (an apply would overwrite real ones)"
    for part, container in workloads(docs):
        known = setting_names(PARTS[part])
        names: dict[str, dict[str, Any]] = {e["name"]: e for e in container.get("env", [])}
        for source in container.get("envFrom", []):
            data = configmaps[source["configMapRef"]["name"]]["data"]
            names.update({k: {"name": k, "value": v} for k, v in data.items()})
        for name, entry in names.items():
            if not name.startswith(PARTS[part].env_prefix) and name != "ALEMBIC_DATABASE_URL":
                continue
            assert name == "ALEMBIC_DATABASE_URL" or setting_of(PARTS[part], name), f"{part}: {name} is no setting"
            if known.get(name) or name == "ALEMBIC_DATABASE_URL":
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                assert ref, f"{overlay} {part}: {name} must come from a Secret, not be inlined"
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref and not ref.get("optional"):
                assert ref["key"] in secrets.get(ref["name"], set()), f"{overlay} {part}: {name} -> {ref}"
        for name, is_secret in known.items():
            if is_secret and not name.endswith(("SMTP_PASSWORD", "SMS_PROVIDER_TOKEN", "PREVIOUS_SECRETS")):
                assert name in names, f"{overlay} {part}: required credential {name} is not provided"


def config_of(docs: list[dict[str, Any]], part: str) -> dict[str, str]:
    configmaps = by_kind(docs, "ConfigMap")
    container = by_kind(docs, "Deployment")[part]["spec"]["template"]["spec"]["containers"][0]
    merged: dict[str, str] = {}
    for source in container.get("envFrom", []):
        merged.update(configmaps[source["configMapRef"]["name"]]["data"])
    return merged


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_events_and_calls_reach_the_parts_that_need_them(rendered, overlay: str) -> None:
    docs = rendered[overlay]
    for name, part in SERVICES.items():
        config = config_of(docs, name)
        wanted = expected_subscribers(name)
        got = subscribers_setting(config.get(f"{part.env_prefix}SUBSCRIBERS", "[]"))
        assert got == sorted(wanted, key=lambda s: str(s["name"])), f"{overlay}: {name}'s subscribers"
        for variable in setting_names(part):
            upstream = re.fullmatch(rf"{part.env_prefix}(\w+)_SERVICE_URL", variable)
            if upstream:
                target = PARTS[upstream[1].lower()]
                assert config.get(variable) == f"http://{target.name}:{target.port}", f"{overlay}: {variable}"
    routes = yaml.safe_load(config_of(docs, "gateway")["GATEWAY_SERVICES"])
    assert routes == {p.name: f"http://{p.name}:{p.port}" for p in ROUTED.values()}


def test_dev_secrets_are_generated_random_values(rendered) -> None:
    dev = by_kind(rendered["dev"], "Secret")
    assert {"crm-shared-secrets", "gateway-secrets", "postgres-dev"} <= {n.rsplit("-", 1)[0] for n in dev}
    values = [base64.b64decode(v).decode() for s in dev.values() for v in s["data"].values()]
    assert values
    assert all("REPLACE" not in v and "{random:" not in v for v in values)


def test_the_migration_rollback_job_is_the_migration_job_with_another_command() -> None:
    """deploy/k8s/migration-job.py (the runbook's migration rollback) prints a valid Job for the service."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed")
    script = K8S / "migration-job.py"
    done = subprocess.run(
        [sys.executable, str(script), "scoring", "downgrade", "-1", "--name", "scoring-alembic-1"],
        capture_output=True,
        text=True,
        check=True,
    )
    job = yaml.safe_load(done.stdout)
    assert schema_errors([job]) == []
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["alembic", "downgrade", "-1"]
    assert job["metadata"]["name"] == "scoring-alembic-1"
    assert {e["name"] for e in container["env"]} >= {"SCORING_DATABASE_URL", "SCORING_EVENT_SECRET"}
    refused = subprocess.run([sys.executable, str(script), "gateway", "current"], capture_output=True, text=True)
    assert refused.returncode != 0
    assert "no migrations" in refused.stderr
