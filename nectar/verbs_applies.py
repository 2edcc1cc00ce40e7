"""Finding applies again (issue 18): ``show applies`` lists what Dispatch runs, holds standing and ran lately;
``show <applyId>`` (through ``show``, in nectar.commands) shows one with its latest result."""

from __future__ import annotations

from typing import Any

from nectar.errors import CommandError, ServiceError
from nectar.registry import Option, command
from nectar.results import ApplyDetail, ApplyList

__all__ = ["apply_detail", "is_apply_id", "show_applies"]


def _applies(ctx: Any) -> list[dict[str, Any]]:
    try:
        return ctx.services.dispatch.call("listApplies")["applies"]
    except ServiceError as exc:
        raise CommandError(str(exc)) from None


@command("show applies", options=(Option("all", flag=True, help="every apply Dispatch remembers, not the last 20"),),
         help="the applies: running, standing and recent, with their functions, ranges and state",
         example="show applies")
def show_applies(ctx: Any, values: dict[str, Any]) -> ApplyList:
    """Every apply Dispatch knows: running and standing first, then the finished ones, newest first."""
    rows = sorted(_applies(ctx), key=lambda a: (a["state"] not in ("running", "standing"), -a.get("created", 0)))
    live = [a for a in rows if a["state"] in ("running", "standing")]
    done = [a for a in rows if a["state"] not in ("running", "standing")]
    return ApplyList(live + (done if values.get("all") else done[:20]), len(done))


def is_apply_id(ctx: Any, value: str) -> bool:
    """True when ``value`` names an apply Dispatch knows (apply ids are 6 hex digits; job ids are longer)."""
    if len(value) != 6 or any(c not in "0123456789abcdef" for c in value):
        return False
    return any(a["applyId"] == value for a in _applies(ctx))


def apply_detail(ctx: Any, apply_id: str, top: int = 20) -> ApplyDetail:
    """One apply: what it is, what it was computed over, and its latest result."""
    try:
        reply = ctx.services.dispatch.call("status", applyId=apply_id, top=top)
    except ServiceError as exc:
        raise CommandError(str(exc)) from None
    return ApplyDetail(reply)
