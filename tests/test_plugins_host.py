"""The plugin host, in-process: discovery by entry point, failure isolation, settings, events.

The plugins are real distributions on sys.path (tests/fake_plugins.py), found through the
`jobplatform.plugins` entry-point group as pip-installed ones are.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from jobplatform.plugins import JobType, hookimpl
from jobplatform.plugins.host import PluginHost, build_host
from jobplatform.plugins.manifest import load_manifest
from tests.fake_plugins import EXPECTED_ERRORS, write_manifest, write_plugins


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("fake-plugins")
    write_plugins(root)
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(root))
        yield root


@pytest.fixture(scope="module")
def events_file(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("events") / "events.jsonl"


@pytest.fixture(scope="module")
def manifest_path(tmp_path_factory) -> Path:
    return write_manifest(tmp_path_factory.mktemp("manifest") / "plugins.toml", "echo-queue")


@pytest.fixture(scope="module")
def host(plugin_path, manifest_path, events_file) -> Iterator[PluginHost]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EVENTS_FILE", str(events_file))
        yield build_host(load_manifest(manifest_path))


def plugin_module(name: str, **hooks) -> ModuleType:
    """A plugin given as an object, the way an entry point gives a module."""
    module = ModuleType(name)
    vars(module).update(hooks)
    return module


def read_events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("name", sorted(EXPECTED_ERRORS))
def test_broken_plugin_is_failed_with_its_reason(host, name):
    record = host.plugins[name]

    assert record.status == "failed"
    assert EXPECTED_ERRORS[name] in record.error
    assert record.job_types == []


def test_good_plugins_keep_working_next_to_broken_ones(host):
    for name in ("echo", "email", "observer_raises"):
        assert (host.plugins[name].status, host.plugins[name].error) == ("loaded", None)
    assert {"echo", "sendEmail"} <= set(host.job_types)
    assert not {"badSchema", "limited"} & set(host.job_types)
    assert host.owner_of("echo") == "echo"
    assert host.job_type("echo").queue == "echo-queue"  # the [job_types.echo] override
    assert host.plugins["echo"].version == "0.1"
    assert host.plugins["echo"].source == "fakeplug-echo (fakeplug_echo)"


def test_import_failure_says_where_it_happened(host):
    assert "fakeplug_import_error.py:1" in host.plugins["import_error"].error


def test_bad_settings_name_the_file_and_line(host, manifest_path):
    error = host.plugins["bad_settings"].error
    assert error.startswith(f"{manifest_path}:6: [plugins.bad_settings.settings] limit: ")
    assert "fix these settings in plugins.toml" in error


def test_an_observer_that_raises_does_not_stop_the_others(host, events_file):
    event = {"kind": "queued", "job_id": "j1", "job_type": "echo", "attempt": 0}

    host.emit(event)

    assert read_events(events_file)[-1] == {**event, "error": None}
    assert host.plugins["observer_raises"].status == "loaded"


def test_unset_environment_variable_fails_only_its_plugin(
    plugin_path, manifest_path, monkeypatch, tmp_path
):
    monkeypatch.delenv("EVENTS_FILE", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here

    host = build_host(load_manifest(manifest_path))

    assert host.plugins["echo"].status == "failed"
    assert (
        "${EVENTS_FILE} is used in plugins.toml but EVENTS_FILE is not set"
        in host.plugins["echo"].error
    )
    assert host.plugins["email"].status == "loaded"


def test_settings_references_are_read_from_dotenv(
    plugin_path, manifest_path, monkeypatch, tmp_path
):
    monkeypatch.delenv("EVENTS_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("EVENTS_FILE=/srv/events.jsonl\n")

    host = build_host(load_manifest(manifest_path))

    assert host.plugins["echo"].settings == {"events_file": "/srv/events.jsonl"}


def test_disabled_and_not_installed_plugins(plugin_path, tmp_path):
    manifest = tmp_path / "plugins.toml"
    manifest.write_text(
        "[plugins.email]\nenabled = false\n\n[plugins.ghost]\nenabled = true\n"
        "[plugins.echo]\nenabled = false\n"
    )

    host = build_host(load_manifest(manifest))

    assert host.plugins["email"].status == "disabled"
    assert "sendEmail" not in host.job_types
    assert host.plugins["ghost"].status == "failed"
    assert "enabled in plugins.toml but not installed" in host.plugins["ghost"].error
    # With echo disabled, its twin's job type is no longer a duplicate.
    assert host.owner_of("echo") == "twin"


def test_a_host_built_from_given_plugins_only(plugin_path):
    import fakeplug_hook_raises

    host = build_host(entry_points=False, plugins={"hook_raises": fakeplug_hook_raises})

    assert list(host.plugins) == ["hook_raises"]
    assert host.plugins["hook_raises"].status == "failed"
    assert host.job_types == {}


def test_two_distributions_with_one_plugin_name(plugin_path, tmp_path, monkeypatch):
    other = tmp_path / "fakeplug_other-0.2.dist-info"
    other.mkdir()
    (other / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeplug-other\nVersion: 0.2\n")
    (other / "entry_points.txt").write_text("[jobplatform.plugins]\necho = fakeplug_twin\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    host = build_host()

    [clash] = [r for name, r in host.plugins.items() if name.startswith("echo [")]
    assert clash.status == "failed"
    assert "plugin name 'echo' is already taken by " in clash.error
    assert "uninstall one of them" in clash.error
    assert host.plugins["echo"].status == "loaded"


def test_job_type_description_is_json_even_with_callables_in_the_schema():
    schema = {"count": {"type": "integer", "coerce": int}, "tags": {"allowed": ("a", "b")}}
    plugin = plugin_module(
        "counter",
        register_job_types=hookimpl(
            lambda settings: [JobType(name="counted", processor=lambda ctx: None, schema=schema)]
        ),
    )

    host = build_host(entry_points=False, plugins={"counter": plugin})

    described = host.job_type("counted").describe()
    assert json.loads(json.dumps(described))["schema"] == {
        "count": {"type": "integer", "coerce": "int"},
        "tags": {"allowed": ["a", "b"]},
    }
    assert described["retry"]["max_attempts"] == 3


def test_hooks_are_called_through_pluggy_with_each_plugin_s_own_context():
    seen = []

    def check_settings(context):
        seen.append(("check_settings", context.plugin, context.settings))
        with pytest.raises(RuntimeError, match="not running yet"):
            context.jobs  # noqa: B018 - reading it is the test
        return []

    def on_job_event(event, context):
        seen.append(("on_job_event", context.plugin, event["kind"]))

    plugins = {
        name: plugin_module(
            name, check_settings=hookimpl(check_settings), on_job_event=hookimpl(on_job_event)
        )
        for name in ("first", "second")
    }
    host = build_host(entry_points=False, plugins=plugins)
    traced = []
    host.manager.add_hookcall_monitoring(
        lambda hook, impls, kwargs: traced.append((hook, [i.plugin_name for i in impls])),
        lambda outcome, hook, impls, kwargs: None,
    )

    host.emit({"kind": "queued", "job_id": "j1", "job_type": "echo", "attempt": 0})

    assert seen == [
        ("check_settings", "first", {}),
        ("check_settings", "second", {}),
        ("on_job_event", "first", "queued"),
        ("on_job_event", "second", "queued"),
    ]
    assert traced == [("on_job_event", ["first"]), ("on_job_event", ["second"])]
