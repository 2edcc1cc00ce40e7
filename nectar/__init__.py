"""The nectar shell and command line: a client of the services' control sockets, never of their code.

What lives here: ``cli.py`` (argv picks a mode), ``repl.py`` (the interactive shell), ``session.py`` (one
line: parse, run, render), ``registry.py`` (every verb registered once), ``commands.py`` (the verbs'
handlers, returning ``results.py`` data), ``render.py`` (the one module that prints), ``completion.py``,
``docs.py`` (the README's command table), ``client.py`` and ``services.py`` (reaching, starting and
stopping the services), ``config.py``, ``sizes.py``, ``errors.py``, and ``testing.py`` (real service
processes for tests and benchmarks). An HTTP face (issue 21) is another client like the shell: nectar/web/.
"""

from __future__ import annotations

__all__: list[str] = []  # the shell promises no names of its own: its modules are reached by name
