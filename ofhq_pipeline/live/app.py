"""The live System Intelligence page: `ofhq live serve`, one process holding the hot path and the
page it feeds.

Routes (every one but `/login` needs a signed-in member with a role, `auth.RequireMember`):

- `GET /`: the page, with a container for each section the member's roles allow (`scope`);
- `GET /stream`: server-sent events, one JSON view (`view.page_view`) when anything changes
  (an event applied, a snapshot published, a flow's run finished) and a comment every 15 s so
  proxies keep the connection; the member's roles are read again before every push at most
  every `ACCESS_RECHECK_S`, and a member who lost them is cut off;
- `GET /view.json`: the same view once;
- `/login`, `/logout`: `auth.auth_routes`.

Why one process with the hot path rather than a worker inside the receiver: the receiver faces
the internet and does one thing (land and acknowledge, with an INSERT-only role in production);
the page serves the agency's staff behind a login, and the hot path reads what the receiver
committed. Separate processes keep the receiver's attack surface and its latency as they are;
a hot path that crashes or restarts loses nothing, since everything it applies is in the landing
store and every alert's key in `alerts_sent`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ofhq_pipeline.lake import file_version
from ofhq_pipeline.live.auth import AuthSettings, RequireMember, auth_routes, csrf_token
from ofhq_pipeline.live.hot_path import HotPath
from ofhq_pipeline.live.members import MemberStore, member_access
from ofhq_pipeline.live.page import render_page
from ofhq_pipeline.live.scope import scope_of
from ofhq_pipeline.live.view import page_view
from ofhq_pipeline.report.render import LastRun, ReportData, collect
from ofhq_pipeline.warehouse.access import MemberAccess

log = logging.getLogger(__name__)

KEEPALIVE_S = 15.0
ACCESS_RECHECK_S = 5.0
FLOWS_EVERY_S = 5.0


class Changes:
    """A version number the hot path's thread bumps and the streams wait on."""

    def __init__(self) -> None:
        self.version = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.condition: asyncio.Condition | None = None

    def bind(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.condition = asyncio.Condition()

    def bump_threadsafe(self) -> None:
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self.bump()))

    async def bump(self) -> None:
        assert self.condition is not None
        async with self.condition:
            self.version += 1
            self.condition.notify_all()

    async def wait_past(self, version: int, timeout: float) -> int:
        assert self.condition is not None
        async with self.condition:
            with suppress(TimeoutError):
                await asyncio.wait_for(
                    self.condition.wait_for(lambda: self.version > version), timeout)
            return self.version


class PublishedCache:
    """The published report per set of creators, read again only when the file was replaced."""

    def __init__(self, analysts_file: Path) -> None:
        self.analysts_file = analysts_file
        self.key: tuple[int, int] | None = None
        self.reports: dict[frozenset[str] | None, ReportData] = {}

    def __call__(self, creators: frozenset[str] | None) -> ReportData:
        key = file_version(self.analysts_file)
        if key != self.key:
            self.key, self.reports = key, {}
        if creators not in self.reports:
            self.reports[creators] = collect(
                self.analysts_file, None, datetime.now(UTC),
                creators=None if creators is None else sorted(creators))
        return self.reports[creators]


def create_app(
    hot_path: HotPath,
    *,
    analysts_file: Path,
    auth: AuthSettings,
    members: MemberStore,
    access_for: Callable[[str], MemberAccess | None] | None = None,
    flows: Callable[[], list[LastRun]] | None = None,
) -> Starlette:
    def roles_of(member: str) -> MemberAccess | None:
        return member_access(member, store=members)

    access_for = access_for or roles_of
    changes = Changes()
    published = PublishedCache(analysts_file)
    latest_flows: list[LastRun] = []

    def view_for(access: MemberAccess) -> dict[str, Any]:
        return page_view(scope_of(access), hot_path.view(), published, latest_flows)

    async def watch_flows() -> None:
        nonlocal latest_flows
        while True:
            try:
                runs = await run_in_threadpool(flows)
                if runs != latest_flows:
                    latest_flows = runs
                    await changes.bump()
            except Exception:  # the instance may be briefly unreadable: try again next time
                log.exception("live: data flows not read")
            await asyncio.sleep(FLOWS_EVERY_S)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        changes.bind()
        hot_path.listeners.append(changes.bump_threadsafe)
        hot_path.start()
        watcher = asyncio.create_task(watch_flows()) if flows else None
        try:
            yield
        finally:
            if watcher:
                watcher.cancel()
            await run_in_threadpool(hot_path.stop)

    async def page(request: Request) -> Response:
        access: MemberAccess = request.scope["member"]
        nonce = secrets.token_urlsafe(16)
        body = render_page(access.member, access.roles, scope_of(access), csrf_token(request),
                           nonce)
        return HTMLResponse(body, headers=page_headers(nonce))

    async def view_json(request: Request) -> Response:
        view = await run_in_threadpool(view_for, request.scope["member"])
        return JSONResponse(view, headers={"Cache-Control": "no-store"})

    async def stream(request: Request) -> Response:
        access: MemberAccess = request.scope["member"]

        async def events() -> AsyncIterator[str]:
            nonlocal access
            checked = time.monotonic()
            version = changes.version
            yield sse(await run_in_threadpool(view_for, access))
            while True:
                seen = await changes.wait_past(version, KEEPALIVE_S)
                if await request.is_disconnected():
                    return
                if seen == version:
                    yield ": keep-alive\n\n"
                    continue
                version = seen
                if time.monotonic() - checked >= ACCESS_RECHECK_S:
                    now = await run_in_threadpool(access_for, access.member)
                    if now is None or not now.roles:
                        yield "event: signed-out\ndata: {}\n\n"
                        return
                    access, checked = now, time.monotonic()
                yield sse(await run_in_threadpool(view_for, access))

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    routes = [
        Route("/", page),
        Route("/stream", stream),
        Route("/view.json", view_json),
        *auth_routes(auth, members, access_for=access_for),
    ]
    return Starlette(routes=routes, lifespan=lifespan,
                     middleware=[Middleware(RequireMember, settings=auth, access_for=access_for)])


def sse(view: dict[str, Any]) -> str:
    return f"data: {json.dumps(view, separators=(',', ':'), default=str)}\n\n"


def page_headers(nonce: str) -> dict[str, str]:
    """Only this page's own script and style run; nothing frames it; nothing is cached."""
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
            "connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
            "base-uri 'none'"),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }
