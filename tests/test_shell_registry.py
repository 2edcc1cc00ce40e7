"""The registry drives parsing, help, completion and the README; the REPL loop body under pipe input."""

from __future__ import annotations

import importlib
import threading
from pathlib import Path

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

import nectar.commands  # noqa: F401 - registers the commands
from nectar.commands import Context
from nectar.completion import Lookups, NectarCompleter
from nectar.config import Config
from nectar.docs import BEGIN, END, command_table
from nectar.errors import ParseError
from nectar.registry import COMMANDS, parse, usage
from nectar.render import Renderer
from nectar.repl import Repl
from nectar.services import Services
from nectar.session import Session, split_commands
from nectar.sizes import format_size, parse_size
from test_shell_commands import COMMAND_TESTS

REPO = Path(__file__).resolve().parent.parent


def test_every_command_has_help_and_a_test() -> None:
    import test_shell_commands

    for name, cmd in COMMANDS.items():
        assert cmd.help and len(cmd.help) > 10, f"{name} has no help"
        assert name in COMMAND_TESTS, f"{name} has no test"
        module_name, _, test_name = COMMAND_TESTS[name].rpartition(":")  # "test_books:test_x": another file's
        module = importlib.import_module(module_name) if module_name else test_shell_commands
        assert hasattr(module, test_name), f"{COMMAND_TESTS[name]} does not exist"


def test_readme_command_table_is_generated_from_the_registry() -> None:
    readme = (REPO / "README.md").read_text()
    between = readme[readme.index(BEGIN) + len(BEGIN): readme.index(END)].strip()
    assert between == command_table(), "README is stale: run python -m nectar.docs"


def test_parse_longest_name_first_and_options_anywhere() -> None:
    assert parse("show jobs").command.name == "show jobs"
    assert parse("show j1").values == {"jobId|applyId": "j1"}
    parsed = parse("apply words sum j1 -1h now --for 5 --skip-errors")
    assert parsed.command.name == "apply"
    assert parsed.values == {"mapFun": "words", "reduceFun": "sum", "jobId": "j1", "fromDate": "-1h",
                             "toDate": "now", "for": "5", "skip-errors": True}
    assert parse("   ") is None and parse("# only a comment") is None
    assert usage(COMMANDS["apply"]).startswith("apply mapFun reduceFun jobId [fromDate [toDate]]")


@pytest.mark.parametrize(("line", "message"), [
    ("bogus", "unknown command 'bogus'"),
    ("Apply words sum j", "did you mean 'apply'"),
    ("apply words", "apply takes 3 to 5 arguments, got 1"),
    ("apply a b c d e f", "got 6"),
    ("apply a b c --top", "option --top needs a value"),
    ("start 'unclosed", "cannot read the line"),
])
def test_parse_errors(line: str, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse(line)


def test_split_commands_keeps_quoted_semicolons() -> None:
    assert split_commands('start a.json; show "x;y" ;; quit') == ["start a.json", 'show "x;y"', "quit"]


def test_sizes() -> None:
    assert parse_size("10000") == 10000 and parse_size("10kB") == 10_000 and parse_size("2GiB") == 2 * 2**30
    assert parse_size("1.5MB") == 1_500_000
    for bad in ("ten", "10 parsecs", "0", "-5"):
        with pytest.raises(ValueError):
            parse_size(bad)
    assert format_size(1536) == "1.5 KiB"


def completions(text: str, lookups: Lookups) -> list[str]:
    completer = NectarCompleter(lookups)
    return [c.text for c in completer.get_completions(Document(text, len(text)), CompleteEvent())]


def static_lookups() -> Lookups:
    lookups = Lookups(lambda: {"job": ["brexit-1a2b3c", "kpop-4d5e6f", "@last"], "apply": ["a1b2c3"],
                               "map": ["words", "hashtags"], "reduce": ["sum", "count"]})
    lookups.refresh_now()
    return lookups


def test_completer_by_argument_kind(tmp_path) -> None:
    lookups = static_lookups()
    assert completions("ap", lookups) == ["apply"]
    assert set(completions("show ", lookups)) >= {"jobs", "cache"}
    assert completions("apply w", lookups) == ["words"]
    assert completions("apply words s", lookups) == ["sum"]
    assert completions("apply words sum k", lookups) == ["kpop-4d5e6f"]
    assert completions("apply words sum kpop-4d5e6f t", lookups) == ["today"]
    assert completions("cancel a", lookups) == ["a1b2c3"]
    completer = NectarCompleter(lookups)
    text = f"start {REPO}/exa"
    done = [text[:len(text) + c.start_position] + c.text
            for c in completer.get_completions(Document(text, len(text)), CompleteEvent())]
    assert done == [f"start {REPO}/examples"]  # prompt_toolkit's PathCompleter


def session_for(tmp_path) -> Session:
    config = Config()
    config.set("auto_start", False, "test")
    config.set("collector", "tcp://127.0.0.1:9", "test")
    config.set("dispatch", "tcp://127.0.0.1:9", "test")
    return Session(Context(config, Services(config)), Renderer())


def test_repl_loop_body_with_pipe_input(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    session = session_for(tmp_path)
    with create_pipe_input() as pipe:
        repl = Repl(session, toolbar=False, input=pipe, output=DummyOutput())
        repl.lookups = static_lookups()
        repl.prompt.completer = NectarCompleter(repl.lookups)
        pipe.send_text("help apply\n")
        assert repl.read_eval() is True
        assert "apply mapFun reduceFun jobId" in capsys.readouterr().out
        pipe.send_text("frobnicate\n")
        assert repl.read_eval() is True  # an error does not end the shell
        assert "unknown command 'frobnicate'" in capsys.readouterr().err
        pipe.send_text("\x03")  # Ctrl-C at the prompt clears the line, the shell goes on
        assert repl.read_eval() is True
        pipe.send_text("quit\n")
        assert repl.read_eval() is False
    history = (tmp_path / "nectar" / "history").read_text()
    assert "help apply" in history and "quit" in history


def test_repl_tab_completes_a_job_id(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    session = session_for(tmp_path)
    seen = []
    session.run_line = lambda line: seen.append(line) or True  # type: ignore[method-assign]
    with create_pipe_input() as pipe:
        repl = Repl(session, toolbar=False, input=pipe, output=DummyOutput())
        repl.lookups = static_lookups()
        repl.prompt.completer = NectarCompleter(repl.lookups)
        repl._run_paged = lambda line: seen.append(line)  # type: ignore[method-assign]
        pipe.send_text("apply words sum br\t")
        # completion runs asynchronously in prompt_toolkit's loop: press Enter once it had its chance
        timer = threading.Timer(0.5, pipe.send_text, args=("\r",))
        timer.start()
        repl.read_eval()
        timer.join()
    assert seen == ["apply words sum brexit-1a2b3c"]


def test_ctrl_d_quits(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    with create_pipe_input() as pipe:
        repl = Repl(session_for(tmp_path), toolbar=False, history=False, input=pipe, output=DummyOutput())
        pipe.send_text("\x04")
        assert repl.read_eval() is False


def test_service_down_without_auto_start_is_one_clear_error(tmp_path, capsys) -> None:
    session = session_for(tmp_path)
    assert session.run_line("show jobs") is False
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no collector answers at tcp://127.0.0.1:9" in err[0]


def test_the_registry_says_which_commands_draw_live_and_the_repl_pages_the_rest() -> None:
    """Paging asks the registry (a command registered live is never paged), not a list of names in the REPL."""
    from nectar.repl import _is_live

    assert {c.name for c in COMMANDS.values() if c.live} == {"apply", "stat", "watch", "ingest"}
    assert _is_live("apply words sum @last -1h now") and _is_live("stat @last")
    assert not _is_live("show jobs") and not _is_live("help apply") and not _is_live("")
    assert not _is_live("'unterminated")  # a line that does not parse is paged like any other (and fails)
