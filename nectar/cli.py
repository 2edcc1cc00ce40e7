"""``nectar``: argv picks a mode: one command (``nectar show jobs``), ``-c "a; b"``, ``-f script``, piped
stdin, or the REPL on a terminal. Each returns an exit status: non-zero on any error, errors on stderr."""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
from pathlib import Path

from nectar.commands import Context
from nectar.config import load_config
from nectar.errors import ConfigError
from nectar.formats import FORMATS
from nectar.render import Renderer, SafeConsole
from nectar.repl import Repl, run_plain
from nectar.services import Services
from nectar.session import Session

__all__ = ["main", "version"]


def version() -> str:
    """The installed version of Nectar."""
    try:
        return importlib.metadata.version("nectar")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="nectar", description="Collect a live stream of objects and map/reduce over it. "
        "With no command: the interactive shell ('help' lists the commands).")
    parser.add_argument("-c", dest="commands", metavar="COMMANDS", help="run these commands (separated by ';')")
    parser.add_argument("-f", dest="script", metavar="FILE", help="run the commands in FILE, one per line")
    parser.add_argument("--json", action="store_true", help="print each result as one JSON document")
    parser.add_argument("--format", choices=FORMATS, default="table",
                        help="table (for people; full width, never cut, in a pipe), tsv or csv (a header line, then a "
                             "line a row: for scripts), json (as --json)")
    parser.add_argument("--version", action="version", version=f"nectar {version()}")
    parser.add_argument("--no-toolbar", action="store_true", help="hide the REPL's bottom toolbar")
    parser.add_argument("--no-suggest", action="store_true", help="no suggestions from history in the REPL")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="one command to run, e.g. 'show jobs'")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run nectar; returns the exit status."""
    args = parse_args(argv)
    interactive = not args.commands and not args.script and not args.command and sys.stdin.isatty()
    console = None
    if not sys.stdout.isatty() and "COLUMNS" not in os.environ:  # a pipe or a file: as wide as the content
        console = SafeConsole(highlight=False, markup=False, width=240)
    renderer = Renderer(console, json_mode=args.json, interactive=interactive, fmt=args.format)
    try:
        config = load_config()
    except ConfigError as exc:
        renderer.error(str(exc))
        return 2
    ctx = Context(config, Services(config, notify=renderer.notice), interactive=interactive)
    session = Session(ctx, renderer)
    if args.command:
        import shlex

        return 0 if session.run_line(shlex.join(args.command)) else 1
    if args.commands:
        return 0 if session.run_line(args.commands) else 1
    if args.script:
        path = Path(args.script)
        if not path.is_file():
            renderer.error(f"{path}: no such script")
            return 1
        return run_plain(session, path.read_text().splitlines())
    if not interactive:
        return run_plain(session, sys.stdin)
    return Repl(session, toolbar=config.toolbar and not args.no_toolbar,
                auto_suggest=config.auto_suggest and not args.no_suggest).run()


if __name__ == "__main__":
    sys.exit(main())
