"""Slow and numerous clients against the receiver as `serve()` runs it: half-open connections,
header and body trickles, oversized headers, more connections than the cap.

Timeouts are configured short (1 s). What proves that a deadline cut a connection is the
server's own answer (408 with its reason, 431), never how soon it came: elapsed times are
asserted only from below, counted from before whatever started the server's timer, and every
wait is bounded by HANG_S, which only a hang reaches. A slow machine makes these tests slower,
not flaky.
"""

from __future__ import annotations

import time

import pytest

from ofhq_pipeline.realtime.receiver import (
    ReceiverConfigError,
    ReceiverLimits,
    create_receiver_app,
)
from ofhq_pipeline_tests.realtime.conftest import CURRENT, event_body, signed_headers
from ofhq_pipeline_tests.realtime.wire import (
    HANG_S,
    read_response,
    request_bytes,
    serve_receiver,
    until_closed,
    wait_for,
)

PATH = "/webhooks/ofapi"
# Short deadlines for the tests about cutting; uvicorn's own idle timer between requests is made
# too long to fire, so that only the deadlines under test can close a connection.
FAST = ReceiverLimits(header_timeout=1.0, body_timeout=1.0, max_header_bytes=8192,
                      keep_alive_timeout=10 * HANG_S)
# Deadlines no test reaches unless it hangs: for the tests about what is served.
PATIENT = ReceiverLimits(header_timeout=10 * HANG_S, body_timeout=10 * HANG_S)
# FAST's deadlines (1 s) less the event loop's timer slack: the least time before a cut.
AT_LEAST = 0.9
# An endless header: never completes, whatever the pace.
HEADER_TRICKLE = b"POST /webhooks/ofapi HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 10_000


@pytest.fixture
def receiver(sqlite_store):
    with serve_receiver(create_receiver_app(sqlite_store, [CURRENT], limits=FAST), FAST) as running:
        yield running


def signed_request(n: int, key: str) -> bytes:
    body = event_body(n=n)
    return request_bytes(PATH, body, signed_headers(body, key))


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(receiver):
    since = time.monotonic()
    with receiver.connect() as sock:
        elapsed, received = until_closed(sock, since=since)
    assert elapsed >= AT_LEAST, elapsed
    assert received.startswith(b"HTTP/1.1 408 ") and b"request headers not received" in received
    wait_for(lambda: receiver.open_connections == 0, what="the connection to be forgotten")


def test_a_header_trickle_is_cut_at_the_header_timeout(receiver, sqlite_store):
    """One byte every 0.2 s keeps uvicorn's own timers from ever firing; the deadline does (at
    that pace the header would take 27 minutes to exceed its size limit)."""
    since = time.monotonic()
    with receiver.connect() as sock:
        elapsed, received = until_closed(sock, trickle=HEADER_TRICKLE, every=0.2, since=since)
    assert elapsed >= AT_LEAST, elapsed
    assert received.startswith(b"HTTP/1.1 408 ") and b"request headers not received" in received
    assert sqlite_store.counts().total == 0


def test_a_trickle_on_a_kept_alive_connection_is_cut_too(receiver, sqlite_store):
    with receiver.connect() as sock:
        sock.sendall(signed_request(1, "evt_1"))
        assert read_response(sock)[0] == 200
        elapsed, received = until_closed(sock, trickle=HEADER_TRICKLE, every=0.2)
    assert elapsed >= AT_LEAST, elapsed  # the deadline runs from the first byte after a response
    assert received.startswith(b"HTTP/1.1 408 ") and b"request headers not received" in received
    assert sqlite_store.counts().total == 1


def test_oversized_headers_are_refused_with_431(receiver):
    with receiver.connect() as sock:
        sock.sendall(b"POST /webhooks/ofapi HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 20_000)
        _, received = until_closed(sock)
    assert received.startswith(b"HTTP/1.1 431 ")  # cut for its size, not at the deadline (408)


def test_a_body_trickle_is_answered_408_and_nothing_is_stored(receiver, sqlite_store):
    body = event_body(n=1)
    headers = signed_headers(body, "evt_slow")
    with receiver.connect() as sock:
        request = request_bytes(PATH, body, headers)
        head_end = request.index(b"\r\n\r\n") + 4
        since = time.monotonic()  # the body's deadline starts once the headers are in
        sock.sendall(request[:head_end])
        elapsed, received = until_closed(sock, trickle=request[head_end:], every=0.2, since=since)
    assert elapsed >= AT_LEAST, elapsed
    assert received.startswith(b"HTTP/1.1 408 ") and b"body not received within 1 s" in received
    assert sqlite_store.counts().total == 0 and sqlite_store.counts().quarantined == 0


def test_a_slow_but_timely_client_is_served(sqlite_store):
    """The deadlines bound the whole header and body, not the pace: a request in five pieces,
    with pauses between them, is served. (Deadlines no test reaches: that the pieces come in
    time must not depend on how busy the machine is.)"""
    request = signed_request(2, "evt_timely")
    piece = len(request) // 5 + 1
    app = create_receiver_app(sqlite_store, [CURRENT], limits=PATIENT)
    with serve_receiver(app, PATIENT) as receiver, receiver.connect() as sock:
        for start in range(0, len(request), piece):
            sock.sendall(request[start:start + piece])
            time.sleep(0.05)  # pacing the client, not waiting for the server
        assert read_response(sock)[0] == 200
    assert sqlite_store.counts().total == 1


def test_connections_beyond_the_cap_are_refused_while_the_first_are_served(sqlite_store):
    # The held connections stay half-open for the whole test: no deadline may cut them first.
    limits = ReceiverLimits(max_connections=8, header_timeout=10 * HANG_S,
                            body_timeout=10 * HANG_S)
    app = create_receiver_app(sqlite_store, [CURRENT], limits=limits)
    with serve_receiver(app, limits) as receiver:
        held = [receiver.connect() for _ in range(8)]  # half-open: nothing sent
        wait_for(lambda: receiver.open_connections == 8, what="8 accepted connections")
        extras = [receiver.connect() for _ in range(40)]
        for sock in extras:  # each answered 503 and closed, or reset: never held
            try:
                _, received = until_closed(sock)
            except ConnectionResetError:
                received = b""
            assert received == b"" or received.startswith(b"HTTP/1.1 503 "), received
            sock.close()
        assert receiver.open_connections == 8

        for n, sock in enumerate(held):  # the first ones are still served
            sock.sendall(signed_request(100 + n, f"evt_held_{n}"))
            assert read_response(sock)[0] == 200
            sock.close()
        wait_for(lambda: receiver.open_connections == 0, what="the held connections to close")

        with receiver.connect() as sock:  # room again
            sock.sendall(signed_request(200, "evt_after"))
            assert read_response(sock)[0] == 200
    assert sqlite_store.counts().total == 9


def test_limits_must_be_positive():
    for field in ("header_timeout", "body_timeout", "max_connections", "max_body_bytes"):
        with pytest.raises(ReceiverConfigError, match=field):
            ReceiverLimits(**{field: 0})


# Servers, subprocesses and schedule ticks over whole syncs: `make test-slow`, CI's second step.
pytestmark = pytest.mark.slow
