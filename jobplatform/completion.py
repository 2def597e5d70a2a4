"""`jobplatform completion bash|zsh`: the shell completion script of the whole command
line, made by shtab from the argparse parser, so it follows every command as it is.

    jobplatform completion bash > ~/.local/share/bash-completion/completions/jobplatform
    jobplatform completion zsh > "${fpath[1]}/_jobplatform"
"""

from __future__ import annotations

import argparse

import shtab

SHELLS = ("bash", "zsh")


def add_command(commands: argparse._SubParsersAction, parser: argparse.ArgumentParser) -> None:
    """Add `completion SHELL`, printing the script of `parser` (the `jobplatform` parser)."""
    completion = commands.add_parser(
        "completion",
        help="print the shell completion script",
        description="Load it in the shell, e.g. `source <(jobplatform completion bash)`.",
    )
    completion.add_argument("shell", choices=SHELLS)

    def run(args: argparse.Namespace) -> int:
        print(shtab.complete(parser, shell=args.shell))
        return 0

    completion.set_defaults(handler=run)
