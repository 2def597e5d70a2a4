"""`jobplatform plugins list|new|install|sync`: see, create and install plugins.

New and installed plugins are picked up when the web and worker processes start; there
is no live reload (a restart is cheap, and a half-reloaded process is not).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from jobplatform.config import load_settings
from jobplatform.plugins.host import ENTRY_POINT_GROUP
from jobplatform.plugins.manifest import ManifestError, load_manifest

TEMPLATE = Path(__file__).resolve().parents[2] / "plugins" / "_template"
PLUGIN_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}\Z")
RESTART_HINT = (
    "Restart the web and worker processes (under `make run`: Ctrl-C and start it "
    "again) to offer its job types."
)


class CommandError(Exception):
    """A plugins command cannot go on; str() says why and what to do."""


# -- list ----------------------------------------------------------------------------------


def list_plugins(args: argparse.Namespace) -> int:
    """Print every plugin found: name, version, source, status, job types and error."""
    from jobplatform.services import load_host

    records = [r.describe() for r in load_host(load_settings()).plugins.values()]
    if args.json:
        print(json.dumps(records, indent=2))
        return 0
    if not records:
        print("no plugins installed; see `jobplatform plugins new --help`")
        return 0
    width = max(len(r["name"]) for r in records) + 2
    print(f"{'NAME':<{width}}{'VERSION':<10}{'STATUS':<10}JOB TYPES")
    for r in records:
        print(
            f"{r['name']:<{width}}{r['version'] or '-':<10}{r['status']:<10}"
            f"{', '.join(r['job_types']) or '-'}"
        )
        print(f"{'':<{width}}source: {r['source']}")
        if r["error"]:
            print(f"{'':<{width}}error:  {r['error']}")
    return 0


# -- new -----------------------------------------------------------------------------------


def placeholders(name: str) -> dict[str, str]:
    """What each placeholder in plugins/_template becomes for a plugin called `name`."""
    words = name.split("_")
    return {
        "plugin_template": name,
        "plugin-template": name.replace("_", "-"),
        "PLUGIN_TEMPLATE": name.upper(),
        "pluginTemplate": words[0] + "".join(w.capitalize() for w in words[1:]),
        "Plugin template": " ".join(words).capitalize(),
    }


def _renamed(text: str, replacements: dict[str, str]) -> str:
    for old, new in replacements.items():
        text = text.replace(old, new)
    return text


def new_plugin(args: argparse.Namespace) -> int:
    """Create DIR/NAME from plugins/_template, with every placeholder renamed."""
    name = args.name
    if not PLUGIN_NAME.match(name):
        raise CommandError(
            f"'{name}' is not a usable plugin name; use lower-case letters, "
            "digits and underscores, starting with a letter (e.g. image_resize)"
        )
    template = Path(args.template)
    if not (template / "pyproject.toml").is_file():
        raise CommandError(
            f"no plugin template at {template}; run this from the platform's "
            "checkout or pass --template plugins/_template"
        )
    target = Path(args.into) / name
    if target.exists():
        raise CommandError(f"{target} already exists; choose another name or remove it")
    replacements = placeholders(name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".pytest_cache", "build")
    shutil.copytree(template, target, ignore=ignore)
    for path in sorted(target.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_file():
            path.write_text(
                _renamed(path.read_text(encoding="utf-8"), replacements), encoding="utf-8"
            )
        renamed = path.with_name(_renamed(path.name, replacements))
        if renamed != path:
            path.rename(renamed)
    job_type = replacements["pluginTemplate"]
    print(
        f"Created {target}: plugin '{name}' with the example job type '{job_type}'.\n"
        f"Next: edit {target}/jobplatform_{name}/plugin.py, then\n"
        f"  jobplatform plugins install {target}\n"
        f"  python -m pytest {target}"
    )
    return 0


# -- install -------------------------------------------------------------------------------


def _distribution_name(target: str) -> str:
    """The distribution a path or requirement installs, to find its entry points after."""
    path = Path(target)
    if path.is_dir():
        pyproject = path / "pyproject.toml"
        if not pyproject.is_file():
            raise CommandError(
                f"{path} has no pyproject.toml, so it is not a plugin package; "
                "create one with `jobplatform plugins new NAME`"
            )
        try:
            return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["name"]
        except (tomllib.TOMLDecodeError, KeyError) as exc:
            raise CommandError(f"{pyproject}: cannot read [project] name ({exc})") from None
    if path.is_file() and path.name.endswith((".whl", ".tar.gz", ".zip")):
        return path.name.split("-")[0]  # wheel and sdist file names start with the name
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        return Requirement(target).name
    except InvalidRequirement:
        raise CommandError(
            f"'{target}' is neither a plugin directory, a wheel or sdist file, nor a package name"
        ) from None


def plugin_names(distribution: str) -> list[str]:
    """The plugin names an installed distribution publishes in the entry-point group."""
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return []
    return sorted(ep.name for ep in dist.entry_points if ep.group == ENTRY_POINT_GROUP)


def enable_in_manifest(path: Path, plugin: str, source_key: str, source: str) -> None:
    """Enable `plugin` in plugins.toml, recording where it comes from.

    The file is edited as text, so its comments and other entries stay as they were: an
    existing `[plugins.NAME]` table gets `enabled = true` (and the source key), otherwise
    a new table is appended. The result is checked before it replaces the file.
    """
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    lines = text.splitlines(keepends=True)
    header = re.compile(rf"^\s*\[\s*plugins\s*\.\s*\"?{re.escape(plugin)}\"?\s*\]\s*(#.*)?$")
    start = next((i for i, line in enumerate(lines) if header.match(line.rstrip("\n"))), None)
    new_entries = {"enabled": "true", source_key: json.dumps(source)}
    if start is None:
        if text and not text.endswith("\n"):
            lines.append("\n")
        lines.append(f"\n[plugins.{plugin}]\n")
        lines += [f"{key} = {value}\n" for key, value in new_entries.items()]
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")),
            len(lines),
        )
        for key, value in new_entries.items():
            assignment = re.compile(rf"^\s*{key}\s*=")
            found = next((i for i in range(start + 1, end) if assignment.match(lines[i])), None)
            if found is None:
                lines.insert(start + 1, f"{key} = {value}\n")
                end += 1
            else:
                lines[found] = f"{key} = {value}\n"
    updated = "".join(lines)
    candidate = path.with_name(path.name + ".new")
    candidate.write_text(updated, encoding="utf-8")
    try:
        entry = load_manifest(candidate).plugins.get(plugin)
        if entry is None or not entry.enabled:
            raise ManifestError(f"[plugins.{plugin}] is written in a form this command cannot edit")
    except ManifestError as exc:
        candidate.unlink()
        raise CommandError(
            f"{path} was left unchanged: {exc}. Add by hand:\n"
            f"[plugins.{plugin}]\nenabled = true\n{source_key} = "
            f"{json.dumps(source)}"
        ) from None
    candidate.replace(path)


def install_plugin(args: argparse.Namespace) -> int:
    """pip-install a plugin into this interpreter's environment and enable it."""
    settings = load_settings()
    load_manifest(settings.plugins_file)  # refuse early if the file is already broken
    target = args.target
    local = Path(target).is_dir()
    distribution = _distribution_name(target)
    pip = [sys.executable, "-m", "pip", "install", "-q", *(["-e"] if local else []), target]
    print(f"installing {target} ...", flush=True)
    if subprocess.call(pip) != 0:
        raise CommandError(
            f"pip could not install {target} (its output is above); nothing "
            "was changed in plugins.toml"
        )
    names = plugin_names(distribution)
    if not names:
        raise CommandError(
            f"{distribution} is installed but publishes no entry point in the "
            f"'{ENTRY_POINT_GROUP}' group, so it is not a jobplatform plugin; "
            f"add one to its pyproject.toml (see plugins/_template)"
        )
    source: Path | str = target
    if Path(target).exists():  # a directory or a file: recorded relative to here if inside
        source = Path(target).resolve()
        if source.is_relative_to(Path.cwd()):
            source = source.relative_to(Path.cwd())
    for name in names:
        enable_in_manifest(settings.plugins_file, name, "path" if local else "package", str(source))
    print(
        f"Installed {distribution}; enabled plugin {', '.join(names)} in {settings.plugins_file}."
    )
    return _report_loading(names)


def _report_loading(names: list[str]) -> int:
    """Load the plugins in a fresh interpreter (which sees the new install) and report."""
    listing = subprocess.run(
        [sys.executable, "-m", "jobplatform", "plugins", "list", "--json"],
        capture_output=True,
        text=True,
    )
    if listing.returncode != 0:
        print(listing.stderr, file=sys.stderr)
        return listing.returncode
    records = {r["name"]: r for r in json.loads(listing.stdout)}
    failed = False
    for name in names:
        record = records.get(name, {"status": "missing", "error": "not found", "job_types": []})
        if record["status"] == "loaded":
            print(f"  {name}: loaded; job types: {', '.join(record['job_types']) or 'none'}")
        else:
            failed = True
            print(f"  {name}: {record['status']}: {record['error']}", file=sys.stderr)
    if not failed:
        print(RESTART_HINT)
    return 1 if failed else 0


# -- sync ----------------------------------------------------------------------------------


def sync_plugins(args: argparse.Namespace) -> int:
    """Install every enabled plugin that plugins.toml gives a local path or package for."""
    manifest = load_manifest(load_settings().plugins_file)
    targets = []
    for entry in manifest.plugins.values():
        if entry.enabled and entry.path:
            targets += ["-e", entry.path]
        elif entry.enabled and entry.package:
            targets.append(entry.package)
    if not targets:
        return 0
    return subprocess.call([sys.executable, "-m", "pip", "install", "-q", *targets])


# -- the command line ------------------------------------------------------------------------


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add `plugins list|new|install|sync` to the `jobplatform` parser."""
    plugins = commands.add_parser("plugins", help="list, create and install plugins")
    sub = plugins.add_subparsers(dest="plugins_command", required=True)
    listing = sub.add_parser("list", help="plugins, their status and job types")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=_guarded(list_plugins))
    new = sub.add_parser("new", help="create a plugin from plugins/_template")
    new.add_argument("name", help="the plugin's name: lower_case_with_underscores")
    new.add_argument("--into", default="plugins", help="directory to create it in")
    new.add_argument("--template", default=str(TEMPLATE), help=argparse.SUPPRESS)
    new.set_defaults(handler=_guarded(new_plugin))
    install = sub.add_parser("install", help="pip-install a plugin and enable it in plugins.toml")
    install.add_argument(
        "target",
        metavar="PATH_OR_PACKAGE",
        help="a plugin's directory (installed editable), a wheel or "
        "sdist file, or a package name (with a version if you like)",
    )
    install.set_defaults(handler=_guarded(install_plugin))
    sub.add_parser("sync", help="install the enabled plugins named in plugins.toml").set_defaults(
        handler=_guarded(sync_plugins)
    )


def _guarded(handler: Callable[[argparse.Namespace], int]) -> Callable[..., int]:
    """A `CommandError` becomes one line on stderr and exit status 1."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except CommandError as exc:
            print(f"jobplatform plugins: {exc}", file=sys.stderr)
            return 1

    return run
