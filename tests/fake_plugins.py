"""Installable test plugins, good and broken, written as real distributions on a path.

`write_plugins(root)` puts each plugin's module and a `*.dist-info` directory with its
`jobplatform.plugins` entry point under `root`. With `root` on sys.path (or PYTHONPATH,
for a subprocess) the platform discovers them exactly as it discovers pip-installed ones.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

# The good plugin: job type `echo`, whose processor fails until `succeed_on_attempt` (or
# for good with `permanent`), and an observer that appends every job event to a file.
ECHO = """
import json
from jobplatform.plugins import JobType, PermanentError, RetryPolicy, hookimpl

@hookimpl
def settings_schema():
    return {"events_file": {"type": "string", "required": True}}

def echo(ctx):
    if ctx.data.get("permanent"):
        raise PermanentError("asked to fail for good")
    if ctx.attempt < ctx.data.get("succeed_on_attempt", 1):
        raise RuntimeError(f"attempt {ctx.attempt} fails on purpose")
    return {"echo": ctx.data["text"], "attempt": ctx.attempt}

@hookimpl
def register_job_types(settings):
    schema = {"text": {"type": "string", "required": True},
              "succeed_on_attempt": {"type": "integer", "min": 1},
              "permanent": {"type": "boolean"}}
    return [JobType(name="echo", processor=echo, schema=schema, timeout=30,
                    retry=RetryPolicy(max_attempts=3, initial_delay=0.2, jitter=0))]

@hookimpl
def on_job_event(event, settings):
    record = {k: event.get(k) for k in ("kind", "job_id", "job_type", "attempt", "error")}
    with open(settings["events_file"], "a") as out:
        out.write(json.dumps(record) + "\\n")
"""

BROKEN = {
    # plugin name: (module source, or None for an entry point to a module that is missing)
    "import_error": "raise RuntimeError('this plugin is broken at import')\n",
    "missing_module": None,
    "twin": """
from jobplatform.plugins import JobType, hookimpl

@hookimpl
def register_job_types(settings):
    return [JobType(name="echo", processor=lambda ctx: None, schema={})]
""",
    "bad_schema": """
from jobplatform.plugins import JobType, hookimpl

@hookimpl
def register_job_types(settings):
    return [JobType(name="badSchema", processor=lambda ctx: None,
                    schema={"size": {"type": "no-such-type"}})]
""",
    "hook_raises": """
from jobplatform.plugins import hookimpl

@hookimpl
def register_job_types(settings):
    raise ValueError("cannot make up my mind")
""",
    "bad_settings": """
from jobplatform.plugins import JobType, hookimpl

@hookimpl
def settings_schema():
    return {"limit": {"type": "integer", "required": True}}

@hookimpl
def register_job_types(settings):
    return [JobType(name="limited", processor=lambda ctx: None, schema={})]
""",
    "observer_raises": """
from jobplatform.plugins import hookimpl

@hookimpl
def on_job_event(event):
    raise RuntimeError("observer is broken")
""",
}

# The reason each broken plugin must be reported with (a fragment of it).
EXPECTED_ERRORS = {
    "import_error": "RuntimeError: this plugin is broken at import",
    "missing_module": "ModuleNotFoundError: No module named 'fakeplug_missing_module'",
    "twin": "job type 'echo' is already registered by plugin 'echo'",
    "bad_schema": "job type 'badSchema' has an invalid schema",
    "hook_raises": "ValueError: cannot make up my mind",
    "bad_settings": "[plugins.bad_settings.settings] limit: must be of integer type",
}

MANIFEST = """
[plugins.echo.settings]
events_file = "${EVENTS_FILE}"

[plugins.bad_settings.settings]
limit = "lots"

[job_types.echo]
queue = "QUEUE"
"""


def write_plugins(root: Path) -> None:
    """Write the echo plugin and every broken one as distributions under `root`."""
    for name, source in {"echo": ECHO, **BROKEN}.items():
        module = f"fakeplug_{name}"
        if source is not None:
            (root / f"{module}.py").write_text(textwrap.dedent(source))
        dist_info = root / f"fakeplug_{name}-0.1.dist-info"
        dist_info.mkdir()
        (dist_info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: fakeplug-{name}\nVersion: 0.1\n"
        )
        (dist_info / "entry_points.txt").write_text(f"[jobplatform.plugins]\n{name} = {module}\n")


def write_manifest(path: Path, queue: str) -> Path:
    """plugins.toml for the fake plugins (email stays as installed), `echo` on `queue`."""
    path.write_text(MANIFEST.replace("QUEUE", queue))
    return path
