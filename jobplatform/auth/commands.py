"""`jobplatform users add|list|set-password|disable|enable|unlock`: accounts from the command
line.

Passwords are asked for twice at a terminal, or read as one line from standard input when
it is not a terminal (`echo "$PW" | jobplatform users add alice --role operator`), so they
never appear in the process list or shell history.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from jobplatform.auth.users import ROLES, AccountError


def _read_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise AccountError("the two passwords differ; nothing was changed")
    return first


def _connect() -> None:
    from jobplatform import db
    from jobplatform.config import load_settings

    db.connect(load_settings())


def _run(action) -> int:
    _connect()
    try:
        action()
    except AccountError as exc:
        print(f"jobplatform: {exc.message}", file=sys.stderr)
        return 1
    return 0


def _add(args: argparse.Namespace) -> int:
    from jobplatform.auth.users import create_user

    def add() -> None:
        user = create_user(args.username, _read_password(), args.role)
        print(f"created {user.role} '{user.username}'")

    return _run(add)


def _list(args: argparse.Namespace) -> int:
    from jobplatform.auth.users import list_users

    def show() -> None:
        records = [u.describe() for u in list_users()]
        if args.json:
            print(json.dumps(records, indent=2))
            return
        for r in records:
            print(
                f"{r['username']:<24} {r['role']:<9} {'disabled' if r['disabled'] else ''}".rstrip()
            )

    return _run(show)


def _set_password(args: argparse.Namespace) -> int:
    from jobplatform.auth.accounts import set_password

    def change() -> None:
        set_password(args.username, _read_password())
        print(f"password of '{args.username}' changed; its sessions were ended")

    return _run(change)


def _set_disabled(disabled: bool):
    def handler(args: argparse.Namespace) -> int:
        from jobplatform.auth.accounts import update_user

        def change() -> None:
            update_user(args.username, disabled=disabled)
            outcome = "disabled; its sessions were ended" if disabled else "enabled"
            print(f"'{args.username}' {outcome}")

        return _run(change)

    return handler


def _unlock(args: argparse.Namespace) -> int:
    from jobplatform.auth.ratelimit import LimitStoreDown, build_limiter
    from jobplatform.auth.users import get_user
    from jobplatform.config import load_settings

    settings = load_settings()

    def unlock() -> None:
        username = get_user(args.username).username
        try:
            lifted = build_limiter(settings).unlock(username)
        except LimitStoreDown as exc:
            raise AccountError(f"the lockouts cannot be reached ({exc}); nothing changed") from None
        print(f"'{username}' unlocked ({lifted} lockout{'s' * (lifted != 1)} lifted)")

    return _run(unlock)


def add_user_commands(commands: argparse._SubParsersAction) -> None:
    users = commands.add_parser("users", help="manage user accounts")
    sub = users.add_subparsers(dest="users_command", required=True)
    add = sub.add_parser("add", help="create a user (password from the terminal or stdin)")
    add.add_argument("username")
    add.add_argument("--role", choices=ROLES, required=True)
    add.set_defaults(handler=_add)
    listing = sub.add_parser("list", help="users, their roles and whether they are disabled")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)
    password = sub.add_parser("set-password", help="set a new password; ends the sessions")
    password.add_argument("username")
    password.set_defaults(handler=_set_password)
    for name, disabled, text in (
        ("disable", True, "stop a user; their tokens stop at once"),
        ("enable", False, "let a disabled user log in again"),
    ):
        parser = sub.add_parser(name, help=text)
        parser.add_argument("username")
        parser.set_defaults(handler=_set_disabled(disabled))
    unlock = sub.add_parser(
        "unlock", help="lift a user's login lockout from every address and forget its failures"
    )
    unlock.add_argument("username")
    unlock.set_defaults(handler=_unlock)
