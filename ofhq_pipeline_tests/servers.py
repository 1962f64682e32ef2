"""Real HTTP servers on loopback for tests: any ASGI app under uvicorn in a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve_app(app) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60  # bounds a hang only: a busy machine may start slowly
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class FakeTelegram:
    """Answers the scripted (status, body) replies in order, then success; records requests."""

    replies: list[tuple[int, dict]] = field(default_factory=list)
    requests: list[tuple[float, str, dict]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def send_message(request: Request) -> JSONResponse:
            self.requests.append((time.monotonic(), request.url.path, await request.json()))
            if self.replies:
                status, body = self.replies.pop(0)
                return JSONResponse(body, status_code=status)
            return JSONResponse({"ok": True, "result": {"message_id": len(self.requests)}})

        return Starlette(routes=[Route("/{bot}/sendMessage", send_message, methods=["POST"])])
