"""A plugin author's path: `plugins new`, `plugins install`, restart, submit, succeed.

The generated plugin is pip-installed (editable) into the test environment and
uninstalled at teardown, so the environment stays as it was.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from jobplatform.plugins.manifest import load_manifest
from tests.conftest import ADMIN_PASSWORD, ROOT, start_web, start_worker, stop
from tests.helpers import run_cli, wait_until


def uninstall(name: str) -> None:
    """Remove the plugin package a test installed, so the venv stays as it was."""
    package = f"jobplatform-{name.replace('_', '-')}"
    subprocess.run([sys.executable, "-m", "pip", "uninstall", "-q", "-y", package], check=True)


@pytest.fixture(scope="module")
def name() -> str:
    return f"greeter_{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def installed(name, platform_env, tmp_path_factory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A project directory with a copy of the real plugins.toml and the new plugin in it."""
    project = tmp_path_factory.mktemp("project")
    shutil.copy(ROOT / "plugins.toml", project / "plugins.toml")
    env = {**platform_env, "PLUGINS_FILE": str(project / "plugins.toml")}
    created = run_cli("plugins", "new", name, env=env, cwd=project)
    assert created.returncode == 0, created.stderr
    try:
        done = run_cli("plugins", "install", f"plugins/{name}", env=env, cwd=project)
        assert done.returncode == 0, done.stdout + done.stderr
        yield project, env
    finally:
        uninstall(name)


def test_new_plugin_has_the_renamed_skeleton(name, installed):
    project, _ = installed
    plugin = project / "plugins" / name

    assert sorted(str(p.relative_to(plugin)) for p in plugin.rglob("*.py")) == [
        f"jobplatform_{name}/__init__.py",
        f"jobplatform_{name}/plugin.py",
        f"tests/test_{name}.py",
    ]
    assert f'{name} = "jobplatform_{name}.plugin"' in (plugin / "pyproject.toml").read_text()
    for path in plugin.rglob("*"):
        if path.suffix in (".py", ".toml", ".md"):
            assert "plugin_template" not in path.read_text().lower(), path
            assert "plugintemplate" not in path.read_text().lower(), path


def test_install_enables_it_and_keeps_plugins_toml(name, installed):
    project, _ = installed
    original = (ROOT / "plugins.toml").read_text()

    text = (project / "plugins.toml").read_text()

    assert text == original + f'\n[plugins.{name}]\nenabled = true\npath = "plugins/{name}"\n'


def test_generated_tests_pass(name, installed):
    project, env = installed

    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project / "plugins" / name,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stdout
    assert "4 passed" in done.stdout


def test_restarted_platform_runs_a_job_of_the_new_type(name, installed):
    project, env = installed
    job_type = "greeter" + name.removeprefix("greeter_").capitalize()  # greeterAb12cd
    queue = f"greet-{uuid.uuid4().hex[:8]}"  # served by this test's worker only
    with (project / "plugins.toml").open("a") as manifest:
        manifest.write(f'\n[job_types.{job_type}]\nqueue = "{queue}"\n')
    web, url = start_web(env, project / "web.log")
    try:
        worker = start_worker(env, project / "worker.log")
        try:
            with httpx.Client(base_url=url, timeout=30) as api:
                token = api.post(
                    "/api/login", json={"username": "admin", "password": ADMIN_PASSWORD}
                )
                api.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
                types = {t["name"]: t for t in api.get("/api/job-types").json()["job_types"]}
                assert types[job_type]["plugin"] == name
                assert types[job_type]["queue"] == queue

                response = api.post("/api/jobs", json={"name": job_type, "data": {"name": "Ada"}})
                assert response.status_code == 201, response.text
                job_id = response.json()["id"]
                job = wait_until(
                    lambda: (
                        (j := api.get(f"/api/jobs/{job_id}").json())["state"]
                        in ("succeeded", "dead")
                        and j
                    ),
                    timeout=60,
                    message="job to finish",
                )
        finally:
            stop(worker)
    finally:
        stop(web)

    assert job["state"] == "succeeded", job
    assert job["result"] == {"message": "Hello, Ada!"}


def test_install_from_a_wheel_records_it_as_a_package(platform_env, tmp_path):
    name = f"packaged_{uuid.uuid4().hex[:6]}"
    env = {**platform_env, "PLUGINS_FILE": str(tmp_path / "plugins.toml")}
    assert run_cli("plugins", "new", name, env=env, cwd=tmp_path).returncode == 0
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", "dist", f"plugins/{name}"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    [wheel] = (tmp_path / "dist").glob("*.whl")
    try:
        done = run_cli("plugins", "install", f"dist/{wheel.name}", env=env, cwd=tmp_path)

        assert done.returncode == 0, done.stdout + done.stderr
        job_type = "packaged" + name.removeprefix("packaged_").capitalize()
        assert f"{name}: loaded; job types: {job_type}" in done.stdout
        entry = load_manifest(tmp_path / "plugins.toml").plugins[name]
        assert (entry.enabled, entry.package, entry.path) == (True, f"dist/{wheel.name}", None)
    finally:
        uninstall(name)
