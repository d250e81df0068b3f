"""The new-service scaffold (tools/new_service): what it writes imports, builds its app, lints clean and
carries one migration; it registers a service in the topology with one entry. Fast: no database."""

import importlib
import importlib.util
import subprocess
import sys
from dataclasses import astuple
from pathlib import Path

import pytest
from fastapi import FastAPI

import crm_shared.topology
from crm_shared.migrations import head_revision, known_revisions
from crm_shared.testing import TEST_CURSOR_SECRET, TEST_EVENT_SECRET, TEST_PRINCIPAL_KEY
from tools.new_service import NewService, generate, infrastructure_versions, register
from tools.new_service.__main__ import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def generated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A service `scaffoldcheck` written under tmp_path and importable; its modules forgotten afterwards."""
    service = NewService.plan("scaffoldcheck", "a service the scaffold test writes")
    written = generate(tmp_path, service)
    monkeypatch.syspath_prepend(str(tmp_path / "services" / "scaffoldcheck"))
    yield tmp_path, written
    for name in [m for m in sys.modules if m == "crm_scaffoldcheck" or m.startswith("crm_scaffoldcheck.")]:
        del sys.modules[name]


def test_the_service_imports_and_its_app_builds(generated):
    root, written = generated
    assert {p.relative_to(root).as_posix() for p in written} >= {
        "services/scaffoldcheck/pyproject.toml",
        "services/scaffoldcheck/alembic.ini",
        "services/scaffoldcheck/migrations/env.py",
        "services/scaffoldcheck/crm_scaffoldcheck/config.py",
        "services/scaffoldcheck/crm_scaffoldcheck/main.py",
        "services/scaffoldcheck/crm_scaffoldcheck/models.py",
        "tests/scaffoldcheck/conftest.py",
        "tests/scaffoldcheck/test_health.py",
    }
    assert not [p for p in written if "{{" in p.as_posix() or "{{" in p.read_text()]
    config = importlib.import_module("crm_scaffoldcheck.config")
    main_module = importlib.import_module("crm_scaffoldcheck.main")
    settings = config.Settings(
        database_url="postgresql+asyncpg://crm@127.0.0.1/crm_scaffoldcheck",
        cursor_secret=TEST_CURSOR_SECRET,
        event_secret=TEST_EVENT_SECRET,
        principal_keys=[TEST_PRINCIPAL_KEY],
    )
    assert settings.service_name == "scaffoldcheck"
    assert settings.model_config["env_prefix"] == "SCAFFOLDCHECK_"
    app = main_module.create_app(settings)
    assert isinstance(app, FastAPI)
    assert app.openapi()["info"]["description"] == "Scaffoldcheck service: a service the scaffold test writes."
    assert importlib.import_module("crm_scaffoldcheck.models").Base.metadata.tables == {}


def test_one_migration_creates_every_shared_table_version(generated):
    root, _ = generated
    service_dir = root / "services" / "scaffoldcheck"
    assert head_revision(service_dir) == "0001"
    assert known_revisions(service_dir) == {"0001"}
    (migration,) = (service_dir / "migrations" / "versions").glob("*_0001_shared_infrastructure.py")
    text = migration.read_text()
    for version in infrastructure_versions():
        assert f"    create_infrastructure_v{version}(op)" in text
        assert f"    drop_infrastructure_v{version}(op)" in text


def test_what_it_writes_passes_the_linter(tmp_path):
    # The longest name, description and prefixes allowed; crm_<name> and tests are first-party as in the
    # workspace (which lists the crm_* packages by name), and this name sorts after crm_shared.
    prefixes = ("/api/v1/" + "p" * 30, "/api/v1/" + "q" * 30)
    generate(tmp_path, NewService.plan("z" + "9" * 19, "d" * 64, prefixes))
    lint = [sys.executable, "-m", "ruff", "--config", str(ROOT / "pyproject.toml")]
    first_party = ["--config", "lint.isort.known-first-party=['crm_*', 'tests']"]
    for command in (["check", *first_party, "."], ["format", "--check", "."]):
        result = subprocess.run([*lint, *command], cwd=tmp_path, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr


def test_a_new_service_is_registered_with_one_topology_entry(tmp_path, monkeypatch):
    topology = tmp_path / "topology.py"
    topology.write_text(Path(crm_shared.topology.__file__).read_text())
    service = NewService.plan("scaffoldcheck")
    assert register(topology, service)
    spec = importlib.util.spec_from_file_location("scaffold_topology", topology)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclasses look their module up
    spec.loader.exec_module(module)
    added = astuple(
        crm_shared.topology.Part(
            "scaffoldcheck",
            "crm_scaffoldcheck",
            service.port,
            "crm_scaffoldcheck",
            "SCAFFOLDCHECK_",
            ("/api/v1/scaffoldcheck",),
        )
    )  # the entry, every other field at its default
    expected = {name: astuple(part) for name, part in crm_shared.topology.SERVICES.items()} | {"scaffoldcheck": added}
    assert {name: astuple(part) for name, part in module.SERVICES.items()} == expected
    taken = {part.port for part in (crm_shared.topology.GATEWAY, *crm_shared.topology.SERVICES.values())}
    assert service.port not in taken


def test_a_topology_of_another_shape_is_left_alone(tmp_path):
    topology = tmp_path / "topology.py"
    topology.write_text("SERVICES = {}\n")
    assert not register(topology, NewService.plan("loyalty"))
    assert topology.read_text() == "SERVICES = {}\n"


def test_a_known_service_keeps_its_registration():
    campaign = crm_shared.topology.SERVICES["campaign"]
    planned = NewService.plan("campaign")
    assert (planned.port, planned.prefixes) == (campaign.port, campaign.prefixes)
    assert planned.families == ("segments", "campaigns")


@pytest.mark.parametrize("name", ["Loyalty", "x", "crm-x", "win_back", "1st", "a" * 21, "gateway"])
def test_refuses_a_name_that_cannot_be_a_service(name):
    with pytest.raises(ValueError, match=r"service name|gateway"):
        NewService.plan(name)


@pytest.mark.parametrize(
    ("description", "prefix"),
    [
        ('say "hi"', "/api/v1/ok"),
        ("x" * 65, "/api/v1/ok"),
        ("", "/api/v2/ok"),
        ("", "/api/v1/Ok"),
        ("", "/api/v1/a/b"),
        ("", "/api/v1/orders"),  # the customer service's
    ],
)
def test_refuses_what_would_not_fit_the_code(description, prefix):
    with pytest.raises(ValueError, match=r"description|API prefixes"):
        NewService.plan("loyalty", description, (prefix,))


def test_refuses_to_overwrite(tmp_path):
    (tmp_path / "tests" / "loyalty").mkdir(parents=True)
    with pytest.raises(FileExistsError):
        generate(tmp_path, NewService.plan("loyalty"))
    assert not (tmp_path / "services").exists()


def test_the_command_prints_what_else_to_register(tmp_path, capsys):
    main(["scaffoldcheck", "--root", str(tmp_path), "--description", "points, tiers and rewards"])
    out = capsys.readouterr().out
    assert NewService.plan("scaffoldcheck").topology_entry() in out  # no topology.py under this root: printed
    assert "gateway/crm_gateway/scopes.py" in out
    assert (tmp_path / "services" / "scaffoldcheck" / "crm_scaffoldcheck" / "main.py").exists()
