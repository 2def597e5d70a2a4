"""plugins.toml: a broken file stops start-up with file:line and the fix; `plugins install`
enables a plugin in it without losing comments or other entries."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest

from jobplatform.plugins.commands import CommandError, enable_in_manifest
from jobplatform.plugins.manifest import ManifestError, load_manifest
from tests.conftest import ROOT
from tests.helpers import run_cli

BROKEN_FILES = {
    "not TOML": (
        "[plugins.email]\nenabled = true\nport = 25 25\n",
        ":3: not valid TOML",
        "fix the syntax on that line",
    ),
    "unknown key": (
        "[plugins.email]\nenabled = true\n\n[plugins.other]\nenabeld = false\n",
        ":5: plugins.other.enabeld: unknown field",
        "check its spelling",
    ),
    "unknown section": (
        "# comment\n[plugin.email]\nenabled = true\n",
        ":2: unknown section 'plugin'",
        "only [plugins.NAME] and [job_types.NAME]",
    ),
    "queue with a trailing newline": (
        '[job_types.sendEmail]\nqueue = "email\\n"\n',
        ":2: job_types.sendEmail.queue: value does not match regex",
        "correct the value",
    ),
    "bad override": (
        "[job_types.sendEmail]\nqueue = 'email'\nretry = { max_attempts = 0 }\n",
        ":3: job_types.sendEmail.retry.max_attempts: min value is 1",
        "correct the value",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN_FILES))
def test_broken_manifest_names_file_line_and_fix(case, tmp_path):
    text, where, fix = BROKEN_FILES[case]
    path = tmp_path / "plugins.toml"
    path.write_text(text)

    with pytest.raises(ManifestError) as raised:
        load_manifest(path)

    assert str(raised.value).startswith(f"{path}{where}")
    assert fix in str(raised.value)


@pytest.mark.parametrize("command", ["web", "worker"])
def test_broken_manifest_stops_start_up_with_exit_code_2(command, platform_env, tmp_path):
    path = tmp_path / "plugins.toml"
    path.write_text(BROKEN_FILES["unknown key"][0])

    done = run_cli(command, env={**platform_env, "PLUGINS_FILE": str(path)})

    assert done.returncode == 2, done.stderr
    assert (
        f"jobplatform: {path}:5: plugins.other.enabeld: unknown field; remove it or check "
        "its spelling." in done.stderr
    )


MANIFEST = """\
# Plugins of this site. Keep this comment.
[plugins.email]
enabled = true   # the first-party plugin
path = "plugins/email"

[plugins.email.settings]
host = "${SMTP_HOST:-127.0.0.1}"

[plugins.resize]
enabled = false  # switched off for now

[job_types.sendEmail]
queue = "email"
"""


def test_install_appends_a_new_plugin_and_keeps_the_rest(tmp_path):
    path = tmp_path / "plugins.toml"
    path.write_text(MANIFEST)

    enable_in_manifest(path, "greeter", "path", "plugins/greeter")

    assert (
        path.read_text() == MANIFEST + "\n[plugins.greeter]\nenabled = true\n"
        'path = "plugins/greeter"\n'
    )


def test_install_enables_a_disabled_plugin_in_place(tmp_path):
    path = tmp_path / "plugins.toml"
    path.write_text(MANIFEST)

    enable_in_manifest(path, "resize", "package", "jobplatform-resize==1.2")

    text = path.read_text()
    assert text == MANIFEST.replace(
        "[plugins.resize]\nenabled = false  # switched off for now\n",
        '[plugins.resize]\npackage = "jobplatform-resize==1.2"\nenabled = true\n',
    )
    assert tomllib.loads(text)["plugins"]["email"]["settings"]["host"] == "${SMTP_HOST:-127.0.0.1}"


def test_install_creates_a_missing_manifest(tmp_path):
    path = tmp_path / "plugins.toml"

    enable_in_manifest(path, "greeter", "path", "/opt/greeter")

    assert load_manifest(path).plugins["greeter"].path == "/opt/greeter"


def test_install_leaves_a_form_it_cannot_edit_unchanged(tmp_path):
    path = tmp_path / "plugins.toml"
    text = "[plugins]\ngreeter = { enabled = false }\n"
    path.write_text(text)

    with pytest.raises(CommandError) as raised:
        enable_in_manifest(path, "greeter", "path", "plugins/greeter")

    assert "was left unchanged" in str(raised.value)
    assert "[plugins.greeter]\nenabled = true" in str(raised.value)
    assert path.read_text() == text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plugins.toml"]


def test_plugins_new_refuses_a_bad_name_and_an_existing_directory(tmp_path):
    def new(name: str) -> subprocess.CompletedProcess:
        return run_cli("plugins", "new", name, "--into", str(tmp_path))

    assert new("Image-Resize").returncode == 1
    assert "'Image-Resize' is not a usable plugin name" in new("Image-Resize").stderr
    assert new("image_resize\n").returncode == 1  # a trailing newline is no part of a name
    assert not (tmp_path / "image_resize\n").exists()
    (tmp_path / "taken").mkdir()
    taken = new("taken")
    assert taken.returncode == 1
    assert f"{tmp_path / 'taken'} already exists" in taken.stderr
    assert list((tmp_path / "taken").iterdir()) == []


def test_root_manifest_is_valid():
    manifest = load_manifest(Path(ROOT / "plugins.toml"))
    assert manifest.plugins["email"].enabled


def test_install_refuses_a_directory_that_is_not_a_package(tmp_path, platform_env):
    manifest = tmp_path / "plugins.toml"
    manifest.write_text(MANIFEST)
    (tmp_path / "notes").mkdir()

    done = run_cli(
        "plugins",
        "install",
        "notes",
        env={**platform_env, "PLUGINS_FILE": str(manifest)},
        cwd=tmp_path,
    )

    assert done.returncode == 1
    assert "notes has no pyproject.toml, so it is not a plugin package" in done.stderr
    assert manifest.read_text() == MANIFEST


def test_install_refuses_to_touch_a_broken_manifest(tmp_path, platform_env):
    manifest = tmp_path / "plugins.toml"
    manifest.write_text(BROKEN_FILES["not TOML"][0])

    done = run_cli(
        "plugins",
        "install",
        str(ROOT / "plugins" / "email"),
        env={**platform_env, "PLUGINS_FILE": str(manifest)},
        cwd=tmp_path,
    )

    assert done.returncode == 2
    assert f"{manifest}:3: not valid TOML" in done.stderr
    assert manifest.read_text() == BROKEN_FILES["not TOML"][0]
