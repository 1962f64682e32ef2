"""The receiver as `serve()` runs it (uvicorn with `server_config`: the guarded protocol), in a
thread on loopback, and raw sockets to talk to it byte by byte."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from ofhq_pipeline.realtime.receiver import ReceiverLimits, server_config
from ofhq_pipeline_tests.servers import free_port

# Every wait here is bounded by HANG_S: reached only by a hang, never by a slow machine.
HANG_S = 60.0


@dataclass
class Running:
    url: str
    port: int
    server: uvicorn.Server

    @property
    def open_connections(self) -> int:
        return len(self.server.server_state.connections)

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=HANG_S)


@contextmanager
def serve_receiver(app, limits: ReceiverLimits | None = None) -> Iterator[Running]:
    port = free_port()
    server = uvicorn.Server(server_config(app, "127.0.0.1", port, limits, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + HANG_S
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("receiver did not start")
        time.sleep(0.01)
    try:
        yield Running(f"http://127.0.0.1:{port}", port, server)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def wait_for(condition, timeout: float = HANG_S, what: str = "condition") -> None:
    """Poll `condition` until true; fail after `timeout` seconds (a bound, not an expectation)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def until_closed(sock: socket.socket, timeout: float = HANG_S, trickle: bytes = b"",
                 every: float = 0.2, since: float | None = None) -> tuple[float, bytes]:
    """Seconds until the server closed `sock`, counted from `since` (a `time.monotonic()`; default:
    now), and what it sent meanwhile; one byte of `trickle` is sent every `every` seconds until
    then. Fails when still open after `timeout` seconds.

    Take `since` before whatever starts the server's timer (the connect, the first byte): the
    elapsed time is then never less than the server's timeout, however slow the machine."""
    start = time.monotonic() if since is None else since
    received = b""
    sent = 0
    while time.monotonic() - start < timeout:
        if sent < len(trickle):
            try:
                sock.sendall(trickle[sent:sent + 1])
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - start, received
            sent += 1
        readable, _, _ = select.select([sock], [], [], every)
        if readable:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                return time.monotonic() - start, received
            if not chunk:
                return time.monotonic() - start, received
            received += chunk
    raise AssertionError(f"connection still open after {timeout} s ({sent} bytes trickled)")


def request_bytes(path: str, body: bytes, headers: dict[str, str], method: str = "POST") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def read_response(sock: socket.socket, timeout: float = HANG_S) -> tuple[int, bytes]:
    """The status and body of one response (Content-Length framed) read from `sock`."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")[1:]
                   if line.lower().startswith(b"content-length:")), 0)
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, rest[:length]


@contextmanager
def receiver_url(app, limits: ReceiverLimits | None = None) -> Iterator[str]:
    """`serve_receiver`, yielding only the base URL."""
    with serve_receiver(app, limits) as running:
        yield running.url
