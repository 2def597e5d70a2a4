"""Where a command finds the platform and its credentials, and `jobplatform login`.

The URL comes from `--url`, else JOBPLATFORM_URL, else the config file; a token from
`--token`, else JOBPLATFORM_TOKEN, else the config file (for the URL the file names).
The config file is `$JOBPLATFORM_CONFIG`, else `~/.config/jobplatform/cli.toml`
(`$XDG_CONFIG_HOME` if set), readable by its owner only. `jobplatform login URL
--token jpt_...` keeps that API token there; `jobplatform login URL` asks for a username
and password and keeps the login session's tokens (never the password), which later
commands refresh and write back.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import tomllib
from pathlib import Path

from jobplatform_client import Client, Tokens

RETRIES = 2  # a command answers within seconds when the platform is down


class RemoteError(Exception):
    """A command cannot reach or use the platform as configured; str() says what to do."""


def config_path() -> Path:
    given = os.environ.get("JOBPLATFORM_CONFIG")
    if given:
        return Path(given).expanduser()
    base = Path(os.environ.get("XDG_CONFIG_HOME") or "~/.config").expanduser()
    return base / "jobplatform" / "cli.toml"


def read_config(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RemoteError(
            f"{path} is not TOML ({exc}); run `jobplatform login URL` again"
        ) from None
    return {key: value for key, value in values.items() if isinstance(value, str)}


def write_config(path: Path, values: dict[str, str]) -> None:
    """Replace the file in one step, created with mode 0600 (its directory 0700)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = "# written by `jobplatform login`: credentials, keep it private\n" + "".join(
        f"{key} = {json.dumps(value)}\n" for key, value in values.items()
    )  # a JSON string is a TOML basic string
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(partial, 0o600)
    os.replace(partial, path)


class ConfigTokenStore:
    """The login session's tokens in the config file, shared by every command."""

    def __init__(self, path: Path):
        self.path = path

    def load(self) -> Tokens | None:
        values = read_config(self.path)
        if not values.get("refresh_token"):
            return None
        return Tokens(values.get("access_token", ""), values["refresh_token"])

    def save(self, tokens: Tokens) -> None:
        values = read_config(self.path)
        values.update(access_token=tokens.access_token, refresh_token=tokens.refresh_token)
        write_config(self.path, values)


def _same(url: str, other: str | None) -> bool:
    return bool(other) and url.rstrip("/") == (other or "").rstrip("/")


def connect(args: argparse.Namespace) -> Client:
    """A client for the platform and credentials the flags, environment or file name."""
    path = config_path()
    stored = read_config(path)
    url = args.url or os.environ.get("JOBPLATFORM_URL") or stored.get("url")
    if not url:
        raise RemoteError(
            "no platform to talk to: give --url URL, set JOBPLATFORM_URL, or run "
            "`jobplatform login URL`"
        )
    token = args.token or os.environ.get("JOBPLATFORM_TOKEN")
    if not token and _same(url, stored.get("url")):
        token = stored.get("token")
        if not token and stored.get("refresh_token"):
            return Client(url, token_store=ConfigTokenStore(path), retries=RETRIES)
    if not token:
        raise RemoteError(
            f"no credentials for {url}: give --token, set JOBPLATFORM_TOKEN, or run "
            f"`jobplatform login {url}`"
        )
    return Client(url, token=token, retries=RETRIES)


def _ask(prompt: str, secret: bool) -> str:
    """At a terminal, a prompt; otherwise one line of standard input."""
    if sys.stdin.isatty():
        return getpass.getpass(prompt) if secret else input(prompt)
    return sys.stdin.readline().rstrip("\r\n")


def login(args: argparse.Namespace) -> str:
    """Check the credentials against the platform and keep them in the config file;
    return what to tell the user."""
    path, url = config_path(), args.url.rstrip("/")
    if args.token:
        with Client(url, token=args.token, retries=RETRIES) as client:
            client.list(limit=1)  # a 401 here means the token is wrong
        write_config(path, {"url": url, "token": args.token})
        return f"logged in to {url} with an API token; saved in {path}"
    username = args.username or _ask("Username: ", secret=False)
    password = _ask("Password: ", secret=True)
    if not username or not password:
        raise RemoteError("a username and a password are needed (or --token TOKEN)")
    with Client(url, username=username, password=password, retries=RETRIES) as client:
        tokens = client.log_in()
    write_config(
        path,
        {
            "url": url,
            "username": username,
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
        },
    )
    return f"logged in to {url} as {username} ({tokens.role}); saved in {path}"
