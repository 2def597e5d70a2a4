"""docker-compose.yml, Dockerfile and .env.example agree with the app's settings and CLI.

No Docker engine runs here, so the files are parsed and checked against the code they
start: the commands exist in `jobplatform.cli.build_parser`, every variable is a setting
(or a plugins.toml reference), ports, health-check paths, volumes and dependency order fit.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from jobplatform.api.health import router as health_router
from jobplatform.cli import build_parser
from jobplatform.config import Settings, load_settings
from jobplatform.plugins.manifest import load_manifest

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
URL = re.compile(r"http://127\.0\.0\.1:(\d+|\{[^}]+\})(/[\w/]*)")


def known_variables() -> set[str]:
    settings = {name.upper() for name in Settings.model_fields}
    plugin_refs = set(re.findall(r"\$\{(\w+)", (ROOT / "plugins.toml").read_text()))
    return settings | plugin_refs


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def instructions(name: str) -> list[str]:
    return [args for instruction, args in dockerfile() if instruction == name]


def env_example() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def parses(command: list[str]) -> bool:
    """Whether `jobplatform ARGS` is a command line the CLI accepts."""
    assert command[0] == "jobplatform"
    try:
        build_parser().parse_args(command[1:])
    except SystemExit:
        return False
    return True


def health_paths() -> set[str]:
    return {route.path for route in health_router.routes}


def test_compose_has_the_five_services_each_with_a_health_check():
    assert set(SERVICES) == {"web", "api", "worker", "redis", "mongo"}
    for name, service in SERVICES.items():
        assert service["healthcheck"]["test"][0] == "CMD", name


def test_web_api_and_worker_run_commands_the_cli_has():
    assert SERVICES["web"]["command"] == ["jobplatform", "web"]
    assert SERVICES["api"]["command"] == ["jobplatform", "api"]
    assert SERVICES["worker"]["command"][:2] == ["jobplatform", "worker"]
    for name in ("web", "api", "worker"):
        assert parses(SERVICES[name]["command"]), SERVICES[name]["command"]
    assert not parses(["jobplatform", "worker", "--no-such-flag"])  # the check can fail


def test_every_variable_is_a_setting_and_the_settings_load():
    known = known_variables()
    for name in ("web", "api", "worker"):
        environment = SERVICES[name]["environment"]
        assert set(environment) <= known, set(environment) - known
        overrides = {
            k.lower(): v for k, v in environment.items() if k.lower() in Settings.model_fields
        }
        settings = load_settings(**overrides)
        assert settings.app_env == "production"
    assert set(env_example()) <= known, set(env_example()) - known


def test_web_port_is_published_exposed_and_health_checked():
    web = SERVICES["web"]
    port = int(web["environment"]["PORT"])
    [mapping] = web["ports"]
    assert int(mapping.rsplit(":", 1)[1]) == port
    assert str(port) in instructions("EXPOSE")[0].split()
    [(check_port, path)] = URL.findall(" ".join(web["healthcheck"]["test"]))
    assert int(check_port) == port
    assert path in health_paths()


def test_api_scales_and_is_health_checked_on_its_port():
    api = SERVICES["api"]
    assert "ports" not in api and "container_name" not in api  # --scale api=2 works
    port = api["environment"]["PORT"]
    assert port in api["expose"] and port in instructions("EXPOSE")[0].split()
    [(check_port, path)] = URL.findall(" ".join(api["healthcheck"]["test"]))
    assert check_port == port and path in health_paths()


def test_worker_scales_and_serves_metrics_on_its_own_port():
    worker = SERVICES["worker"]
    assert "ports" not in worker and "container_name" not in worker  # --scale worker=3 works
    metrics_port = worker["environment"]["WORKER_METRICS_PORT"]
    assert metrics_port in worker["expose"]
    assert metrics_port in instructions("EXPOSE")[0].split()
    [(check_port, path)] = URL.findall(" ".join(worker["healthcheck"]["test"]))
    assert (check_port, path) == (metrics_port, "/health")
    grace = float(worker["command"][worker["command"].index("--grace") + 1])
    assert float(worker["stop_grace_period"].removesuffix("s")) > grace


def test_services_reach_redis_and_mongo_by_name_and_start_after_them():
    for name in ("web", "api", "worker"):
        service = SERVICES[name]
        redis = urlsplit(service["environment"]["REDIS_URI"])
        mongo = urlsplit(service["environment"]["MONGO_URI"])
        assert (redis.hostname, redis.port) == ("redis", 6379)
        assert (mongo.hostname, mongo.port) == ("mongo", 27017)
        assert service["depends_on"] == {
            "redis": {"condition": "service_healthy"},
            "mongo": {"condition": "service_healthy"},
        }
        assert service["env_file"] == ".env"


def test_redis_persists_and_data_lives_in_named_volumes():
    redis_command = SERVICES["redis"]["command"]
    assert redis_command[redis_command.index("--appendonly") + 1] == "yes"
    mounts = {name: SERVICES[name]["volumes"][0].split(":") for name in ("redis", "mongo")}
    assert mounts == {"redis": ["redis-data", "/data"], "mongo": ["mongo-data", "/data/db"]}
    assert set(COMPOSE["volumes"]) == {"redis-data", "mongo-data"}


def test_secrets_stay_out_of_git_and_the_image():
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert {".env", ".venv", "var", ".git"} <= set(ignored)
    assert set(env_example()) >= {"JWT_SECRET", "ADMIN_PASSWORD", "METRICS_TOKEN"}


def test_dockerfile_slim_python_matching_the_project():
    [base] = instructions("FROM")
    match = re.fullmatch(r"python:(3\.\d+)-slim", base)
    assert match, base
    required = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert tuple(map(int, match[1].split("."))) >= tuple(map(int, required[2:].split(".")))


def test_dockerfile_runs_as_a_user_it_created():
    steps = dockerfile()
    [user] = instructions("USER")
    assert user not in ("root", "0")
    created = next(
        i
        for i, (op, args) in enumerate(steps)
        if op == "RUN" and f" {user}" in args and "useradd" in args
    )
    switched = steps.index(("USER", user))
    assert created < switched
    assert switched < [op for op, _ in steps].index("CMD")


def test_dockerfile_installs_the_app_and_every_enabled_plugin():
    copied = " ".join(instructions("COPY")).split()
    manifest = load_manifest(ROOT / "plugins.toml")
    for entry in manifest.plugins.values():
        if entry.enabled and entry.path:
            assert any(entry.path.startswith(source) for source in copied), entry.path
    assert {"pyproject.toml", "README.md", "plugins.toml", "jobplatform"} <= set(copied)
    installs = " ".join(instructions("RUN"))
    assert "pip install ." in installs
    assert parses(["jobplatform", "plugins", "sync"]) and "jobplatform plugins sync" in installs


def test_dockerfile_health_check_and_command():
    [check] = instructions("HEALTHCHECK")
    [(port, path)] = URL.findall(check.replace('\\"', '"'))
    assert "PORT" in port and str(Settings.model_fields["port"].default) in check
    assert path in health_paths()
    [cmd] = instructions("CMD")
    assert parses(json.loads(cmd))


@pytest.mark.parametrize("name", ["web", "api", "worker"])
def test_compose_variables_are_documented_in_the_readme(name):
    readme = (ROOT / "README.md").read_text()
    for variable in SERVICES[name]["environment"]:
        assert f"`{variable}`" in readme, variable
