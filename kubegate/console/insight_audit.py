"""The audit log page: the data dir's ``audit.log`` (and its rotations), newest first, filtered and paged.

The log names every principal that authenticated to any cluster, so reading it is an action of
its own, ``kubegate:ReadAuditLog`` on ``*`` (EKS has none that reveals the same): root may,
anyone else needs it in a policy (``"Action": "*"`` grants it). The files are read backwards
from their end, in a worker thread, and at most the newest :data:`SCAN_LIMIT` lines of each
file are searched; the page says when that bound cut a search short.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from kubegate.console.app import Console, View, page
from kubegate.domain.errors import AccessDenied

ACTION = "kubegate:ReadAuditLog"
PAGE_SIZE = 50
SCAN_LIMIT = 20_000  # lines per file
MAX_LINE = 1024 * 1024  # a longer "line" is not one AuditLog wrote: skipped
BLOCK = 64 * 1024
MAX_PAGE = 10_000
DECISIONS = ("allowed", "denied", "authenticated", "unauthenticated", "mode-switch-warning")


@dataclass(frozen=True)
class Filters:
    cluster: str = ""
    principal: str = ""
    decision: str = ""
    since: datetime | None = None
    until: datetime | None = None

    def needles(self) -> list[bytes]:
        """Bytes a matching raw line must contain (lowercased), so most others are skipped unparsed."""
        out = []
        if self.cluster:
            out.append(b'"cluster":' + orjson.dumps(self.cluster).lower())
        if self.principal and self.principal.isascii() and self.principal.isprintable() \
                and not set(self.principal) & {'"', "\\"}:  # written as-is in the JSON line
            out.append(self.principal.lower().encode())
        return out

    def match(self, line: dict[str, Any], when: datetime | None) -> bool:
        if self.cluster and line.get("cluster") != self.cluster:
            return False
        if self.decision and decision_of(line) != self.decision:
            return False
        if self.principal:
            names = " ".join(str(line.get(k) or "") for k in ("principal", "user", "caller")).casefold()
            if self.principal.casefold() not in names:
                return False
        if self.since or self.until:
            if when is None or (self.since and when < self.since) or (self.until and when > self.until):
                return False
        return True


@dataclass
class Found:
    rows: list[dict[str, Any]] = field(default_factory=list)
    more: bool = False  # an older page exists
    cut_short: list[str] = field(default_factory=list)  # files whose scan stopped at SCAN_LIMIT


def decision_of(line: dict[str, Any]) -> str:
    kind = line.get("kind")
    if kind == "authorization":
        return "allowed" if line.get("allowed") is True else "denied"
    if kind == "authentication":
        return "authenticated" if line.get("authenticated") is True else "unauthenticated"
    return str(kind or "")


def parse_time(value: str, name: str) -> datetime | None:
    """An ISO 8601 bound of the time range; UTC unless it names an offset. ValueError says which field."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} is not an ISO 8601 time such as 2026-01-31T09:30:00Z") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def log_files(path: Path) -> list[Path]:
    """audit.log, then audit.log.1, .2 … (newest first), as AuditLog rotates them."""
    numbered = []
    for candidate in path.parent.glob(f"{path.name}.*"):
        suffix = candidate.name[len(path.name) + 1:]
        if suffix.isdigit():
            numbered.append((int(suffix), candidate))
    return [path, *(p for _, p in sorted(numbered))]


def lines_newest_first(path: Path) -> Iterator[bytes]:
    """The file's lines, last first, read in blocks from the end (a line split across blocks is joined)."""
    try:
        handle = open(path, "rb")
    except FileNotFoundError:  # rotated away between listing and opening
        return
    with handle:
        position = handle.seek(0, os.SEEK_END)
        tail = b""  # the part of a line whose start lies before `position`
        skipping = False  # inside an over-long line
        while position > 0:
            step = min(BLOCK, position)
            position -= step
            handle.seek(position)
            parts = (handle.read(step) + tail).split(b"\n")
            tail, complete = parts[0], parts[1:]
            if skipping and complete:
                complete.pop()
                skipping = False
            for line in reversed(complete):
                if line.strip():
                    yield line
            if len(tail) > MAX_LINE:
                tail, skipping = b"", True
        if tail.strip() and not skipping:
            yield tail


def search(path: Path, filters: Filters, page_number: int) -> Found:
    """The page's rows (newest first) and whether there are older ones; invalid JSON lines are skipped."""
    skip = (page_number - 1) * PAGE_SIZE
    found = Found()
    matched = 0
    needles = filters.needles()
    timed = filters.since is not None or filters.until is not None
    for file in log_files(path):
        scanned = 0
        for raw in lines_newest_first(file):
            if scanned == SCAN_LIMIT:
                found.cut_short.append(file.name)
                break
            scanned += 1
            if needles:
                lowered = raw.lower()
                if not all(needle in lowered for needle in needles):
                    continue
            line = _load(raw)
            if line is None:
                continue
            when = _time(line) if timed else None
            if not filters.match(line, when):
                continue
            matched += 1
            if matched <= skip:
                continue
            if len(found.rows) == PAGE_SIZE:
                found.more = True
                return found
            found.rows.append(row(line, when or _time(line)))
    return found


def _load(raw: bytes) -> dict[str, Any] | None:
    try:
        line = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return line if isinstance(line, dict) else None


def _time(line: dict[str, Any]) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(line.get("time")))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def describe_request(request: Any) -> str:
    """An authorization's attributes as one line: ``delete pods/log "web" in team-a (apps)``."""
    if not isinstance(request, dict):
        return ""
    if request.get("path"):
        return f"{request.get('verb', '')} {request['path']}"
    what = str(request.get("resource", ""))
    if request.get("subresource"):
        what += f"/{request['subresource']}"
    text = f"{request.get('verb', '')} {what}"
    if request.get("name"):
        text += f" {request['name']!r}"
    text += f" in {request['namespace']}" if request.get("namespace") else " (cluster-wide)"
    if request.get("group"):
        text += f" ({request['group']})"
    return text


def row(line: dict[str, Any], when: datetime | None) -> dict[str, Any]:
    return {
        "time": when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if when else str(line.get("time", "")),
        "kind": str(line.get("kind", "")), "cluster": str(line.get("cluster") or ""),
        "principal": str(line.get("principal") or line.get("caller") or ""), "user": str(line.get("user") or ""),
        "decision": decision_of(line), "request": describe_request(line.get("request")),
        "reason": str(line.get("reason") or ""),
        "json": orjson.dumps(line, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode(),
    }


_PAGE = re.compile(r"\d{1,6}")


async def audit_page(console: Console, view: View) -> Response:
    query = view.request.query_params
    values = {name: query.get(name, "").strip()[:512] for name in ("cluster", "principal", "decision", "from", "to")}
    number = int(query["page"]) if _PAGE.fullmatch(query.get("page", "")) else 1
    number = min(max(number, 1), MAX_PAGE)
    context: dict[str, Any] = {"values": values, "decisions": DECISIONS, "page": number, "found": None,
                               "error": None, "denied": None, "stdout": False, "scan_limit": SCAN_LIMIT}

    def render(status: int = 200) -> Response:
        return console.render(view, view.request, "audit.html", status=status, **context)

    try:
        console.authorizer.check(view.caller, ACTION, "*", view.facts)
    except AccessDenied as exc:
        context["denied"] = f"{exc.message} (AccessDenied)"
        return render(403)
    path: Path | None = console.extras.get("audit_path")
    if path is None:
        context["stdout"] = True
        return render()
    if values["decision"] and values["decision"] not in DECISIONS:
        context["error"] = f"decision must be one of: {', '.join(DECISIONS)}."
        return render(400)
    try:
        filters = Filters(values["cluster"], values["principal"], values["decision"],
                          parse_time(values["from"], "from"), parse_time(values["to"], "to"))
    except ValueError as exc:
        context["error"] = str(exc)
        return render(400)
    found = await run_in_threadpool(search, path, filters, number)
    shared = {k: v for k, v in values.items() if v}
    context.update(
        found=found,
        newer=urlencode({**shared, "page": number - 1}) if number > 1 else None,
        older=urlencode({**shared, "page": number + 1}) if found.more and number < MAX_PAGE else None,
    )
    return render()


def routes(console: Console) -> list[BaseRoute]:
    return [Route("/audit", page(console, audit_page), methods=["GET"])]
