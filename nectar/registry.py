"""The one command registry: parsing, help, completion and the README's command table all come from it.

Each shell verb is registered once with ``@command``: its words, its arguments
(with a kind that completion understands), its options and its help.
"""

from __future__ import annotations

import difflib
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nectar.errors import ParseError

__all__ = ["COMMANDS", "Arg", "Command", "Option", "Parsed", "command", "find", "help_table", "parse", "split",
           "usage"]


@dataclass(frozen=True)
class Arg:
    """A positional argument."""

    name: str
    kind: str
    optional: bool = False
    many: bool = False  # the last argument only: it takes every word left (``ingest FILE...``), as a list


@dataclass(frozen=True)
class Option:
    """A ``--name value`` option (or a ``--name`` flag)."""

    name: str
    kind: str = "word"
    flag: bool = False
    help: str = ""


@dataclass(frozen=True)
class Command:
    """One shell verb."""

    name: str
    args: tuple[Arg, ...]
    help: str
    handler: Callable[..., Any]
    options: tuple[Option, ...] = ()
    example: str = ""
    details: str = ""
    live: bool = False  # its output is drawn live (a progress bar, a standing view): never paged

    @property
    def words(self) -> list[str]:
        """The command's words (``show jobs`` -> ["show", "jobs"])."""
        return self.name.split()


@dataclass
class Parsed:
    """A parsed line: the command and its values by argument and option name."""

    command: Command
    values: dict[str, Any] = field(default_factory=dict)


COMMANDS: dict[str, Command] = {}


def command(name: str, *args: Arg, help: str, options: tuple[Option, ...] = (), example: str = "",
            details: str = "", live: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a handler as the shell verb ``name`` (``live``: its output is drawn live, never paged)."""
    def register(handler: Callable[..., Any]) -> Callable[..., Any]:
        if name in COMMANDS:
            raise ValueError(f"command {name!r} registered twice")
        COMMANDS[name] = Command(name, args, help, handler, options, example, details, live)
        return handler
    return register


def usage(cmd: Command) -> str:
    """``apply mapFun reduceFun jobId [fromDate [toDate]] [--engine E]``."""
    parts = [cmd.name]
    optional = [a for a in cmd.args if a.optional]
    parts += [a.name + ("..." if a.many else "") for a in cmd.args if not a.optional]
    if optional:
        nested = ""
        for arg in reversed(optional):
            nested = f"[{arg.name}{' ' + nested if nested else ''}]"
        parts.append(nested)
    parts += [f"[--{o.name}]" if o.flag else f"[--{o.name} {o.kind.upper()}]" for o in cmd.options]
    return " ".join(parts)


def split(line: str) -> list[str]:
    """Shell-like words of ``line``."""
    try:
        return shlex.split(line, comments=True)
    except ValueError as exc:
        raise ParseError(f"cannot read the line: {exc}") from None


def find(words: list[str]) -> tuple[Command | None, int]:
    """The command the words start with (the longest name wins) and how many words it used."""
    for size in (2, 1):
        name = " ".join(words[:size])
        if len(words) >= size and name in COMMANDS:
            return COMMANDS[name], size
    return None, 0


def parse(line: str) -> Parsed | None:
    """Parse one line; None for an empty line or a comment."""
    words = split(line)
    if not words:
        return None
    cmd, used = find(words)
    if cmd is None:
        close = [n for n in COMMANDS if n.split()[0].lower() == words[0].lower()]
        close = close or difflib.get_close_matches(words[0], sorted({n.split()[0] for n in COMMANDS}), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ParseError(f"unknown command {words[0]!r}{hint}; 'help' lists the commands")
    values: dict[str, Any] = {}
    positional: list[str] = []
    rest = words[used:]
    options = {o.name: o for o in cmd.options}
    i = 0
    while i < len(rest):
        word = rest[i]
        if word.startswith("--") and len(word) > 2 and not word[2].isdigit():
            name = word[2:]
            if name not in options:
                known = ", ".join(f"--{o}" for o in options) or "no options"
                near = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
                hint = f"; did you mean --{near[0]}?" if near else ""
                raise ParseError(f"{cmd.name}: unknown option {word} (it takes {known}{hint})")
            if options[name].flag:
                values[name] = True
            else:
                if i + 1 >= len(rest):
                    raise ParseError(f"{cmd.name}: option {word} needs a value")
                values[name] = rest[i + 1]
                i += 1
        else:
            positional.append(word)
        i += 1
    required = [a for a in cmd.args if not a.optional]
    many = bool(cmd.args) and cmd.args[-1].many
    if not len(required) <= len(positional) <= (len(positional) if many else len(cmd.args)):
        forms = [usage(c) for c in COMMANDS.values() if c.words[0] == cmd.words[0] and c is not cmd]
        also = f" (or: {'; '.join(forms)})" if forms else ""
        raise ParseError(f"{cmd.name} takes {_count_text(cmd)}, got {len(positional)}: usage: {usage(cmd)}{also}")
    for arg, value in zip(cmd.args, positional):
        values[arg.name] = value
    if many:
        values[cmd.args[-1].name] = positional[len(cmd.args) - 1:]
    return Parsed(cmd, values)


def _count_text(cmd: Command) -> str:
    low = sum(1 for a in cmd.args if not a.optional)
    high = len(cmd.args)
    if cmd.args and cmd.args[-1].many:
        return f"{low} argument{'s' if low != 1 else ''} or more"
    if low == high:
        return f"{low} argument{'s' if low != 1 else ''}"
    return f"{low} to {high} arguments"


def help_table() -> list[tuple[str, str]]:
    """(usage, help) of every command, in registration order."""
    return [(usage(cmd), cmd.help) for cmd in COMMANDS.values()]
