"""Running lines: parse with the registry, call the handler, render the result; the body every mode shares."""

from __future__ import annotations

from nectar.commands import Context
from nectar.errors import CommandError, ParseError, ServiceError
from nectar.registry import parse
from nectar.render import ProgressBar, Renderer
from nectar.render_applies import problem_lines

__all__ = ["Session", "split_commands"]


def split_commands(text: str) -> list[str]:
    """Split ``a; b; c`` on semicolons outside quotes."""
    parts, current, quote = [], [], ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == ";":
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


class Session:
    """One user's session: its context and renderer."""

    def __init__(self, ctx: Context, renderer: Renderer) -> None:
        self.ctx = ctx
        self.renderer = renderer
        self.done = False

    def run_line(self, line: str) -> bool:
        """Run one line (or several separated by ';'); False if any of them failed."""
        ok = True
        for part in split_commands(line):
            ok = self.run_one(part) and ok
            if self.done:
                break
        return ok

    def run_one(self, line: str) -> bool:
        """Run one command; errors become one line on stderr."""
        try:
            parsed = parse(line)
        except ParseError as exc:
            self.renderer.error(str(exc))
            return False
        if parsed is None:
            return True
        bar = ProgressBar(self.renderer.console) if not self.renderer.json_mode else None
        if bar is not None:
            self.ctx.progress = bar
        try:
            result = parsed.command.handler(self.ctx, parsed.values)
            if bar is not None:
                bar.close()
            self.renderer.render(result)
            self.done = bool(getattr(result, "quit", False))
            return True
        except (CommandError, ServiceError) as exc:
            self.renderer.error(str(exc))
            return False
        except KeyboardInterrupt:
            self.renderer.error(f"{parsed.command.name}: cancelled")
            return False
        finally:
            if bar is not None:
                bar.close()
            self._report_finished_jobs()

    def _report_finished_jobs(self) -> None:
        """One line on stderr for each job started in this session that has ended since: its state, what it
        stored, and what went wrong (a replay's skipped records, duplicates, warnings)."""
        for job in list(self.ctx.started_jobs):
            try:
                status = self.ctx.services.clients["collector"].call("jobStatus", jobId=job, timeout=1.0)
            except (ServiceError, KeyError):
                continue
            if status.get("state") in ("running", "paused"):
                continue
            self.ctx.started_jobs.discard(job)
            problems = problem_lines(status)
            self.renderer.notice(f"job {job} {status.get('state')}: {status.get('objects', 0):,} objects stored"
                                 + (f"; {'; '.join(problems)}" if problems else ""))
