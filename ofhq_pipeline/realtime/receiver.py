"""The webhook receiver: `POST /webhooks/ofapi` lands signed deliveries, `GET /healthz`.

Order of checks for a delivery, each answered before the next is tried:

1. the connection: beyond `max_connections` open at once → 503 and closed at once; request
   headers not complete within `header_timeout` (10 s) → 408 and closed, however slowly they
   trickle in; headers over `max_header_bytes` (64 KiB) → 431 and closed;
2. a body over `max_body_bytes` (1 MiB) → 413; the declared Content-Length is checked first and
   the stream is counted while read, so at most the limit + 1 chunk is ever buffered; a body not
   complete within `body_timeout` (10 s, the API's own deadline) → 408 and closed;
3. no `Signature`, or one that matches neither the current secret nor the previous one before its
   expiry → 401, and nothing is stored;
4. a body that is not a JSON object with a string `event` → 400; a delivery whose content would
   break the pipeline (`events.check_delivery`: a non-finite or absurd amount, an id that is not
   a 64-bit integer, a time that is not ISO-8601, an account id that is not a creator id, NUL,
   a lone surrogate...) or whose idempotency header is not a printable token → 422 with the
   reason naming the field; both are quarantined with the reason, once per distinct body;
5. otherwise the delivery is landed and answered 200 only after its commit:
   `{"status": "stored"}`; `{"status": "duplicate"}` when its idempotency key or its very body
   (SHA-256) was landed before, so a redelivery or a replay under a fresh key stores nothing
   new; `{"status": "stale"}` when every timestamp of its payload is older than `stale_after`
   (7 days): kept for inspection, never applied. A store that cannot be reached answers 503, so
   the API delivers again later.

`GET /healthz` answers 503 with a reason when the store cannot be reached or cannot write (a
write probe rolled back), so a read-only store is noticed before deliveries fail.

Start-up refuses what would accept forged or replayed deliveries (`ReceiverConfigError`): no
secret without `--insecure`, a blank, placeholder or short secret (`signature.SigningSecrets`),
a previous secret without its expiry, `--insecure` on anything but a loopback address.

Configuration (environment, and options of `ofhq webhooks serve`):

- `OFAPI_WEBHOOK_SECRET`, `OFAPI_WEBHOOK_SECRET_PREVIOUS`,
  `OFAPI_WEBHOOK_SECRET_PREVIOUS_EXPIRES_AT` (see `signature`);
- `OFHQ_WEBHOOK_STALE_AFTER_HOURS` (default 168, `--stale-after-hours`);
- `OFHQ_LANDING_URL` (default `sqlite:///$OFHQ_HOME/landing.db`);
- `--header-timeout`, `--body-timeout`, `--max-connections` (`ReceiverLimits`).

The database calls block, so they run in Starlette's threadpool and the event loop stays free.
Secrets and signatures are never logged.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ofhq_pipeline.realtime.events import (
    InvalidDelivery,
    InvalidEvent,
    check_delivery,
    parse_delivery,
)
from ofhq_pipeline.realtime.landing import LandingStore, safe_url
from ofhq_pipeline.realtime.signature import (
    SecretError,
    SigningSecrets,
    body_digest,
    body_key,
    verify,
)

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/ofapi"
MAX_BODY_BYTES = 1_048_576
IDEMPOTENCY_HEADER = "x-ofapi-idempotency-key"
REDELIVERY_HEADER = "x-ofapi-redelivery-of"
SIGNATURE_HEADER = "signature"
# Header values stored in the landing store: printable ASCII, bounded.
HEADER_TOKEN = re.compile(r"[\x21-\x7e]{1,200}")
STALE_AFTER_ENV = "OFHQ_WEBHOOK_STALE_AFTER_HOURS"
DEFAULT_STALE_AFTER = timedelta(days=7)


class ReceiverConfigError(RuntimeError):
    """The receiver was asked to start in a way that would accept forged deliveries."""


class BodyTooLarge(Exception):
    pass


@dataclass(frozen=True)
class ReceiverLimits:
    """What one client may take of the receiver. The API answers within its 10 s deadline or
    counts the delivery failed, so nothing legitimate needs more time than that."""

    max_body_bytes: int = MAX_BODY_BYTES
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    max_connections: int = 256
    max_header_bytes: int = 65_536
    keep_alive_timeout: float = 5.0

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "header_timeout", "body_timeout", "max_connections",
                     "max_header_bytes", "keep_alive_timeout"):
            if not getattr(self, name) > 0:
                raise ReceiverConfigError(f"{name} must be positive, not {getattr(self, name)!r}")


def _error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, or `BodyTooLarge` as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _store_failed() -> JSONResponse:
    log.exception("webhook not landed: landing store failed")
    return _error(503, "landing store unavailable, deliver again later")


def _header(request: Request, name: str) -> str | None:
    value = (request.headers.get(name) or "").strip()
    return value or None


def _token_header(request: Request, name: str) -> str | None:
    """A header stored with the event: absent, or a printable token (`InvalidEvent` if not)."""
    value = _header(request, name)
    if value is not None and not HEADER_TOKEN.fullmatch(value):
        raise InvalidEvent(f"header {name}: not 1 to 200 printable ASCII characters")
    return value


def signing_secrets(
    secrets: SigningSecrets | Sequence[str] | None, *, insecure: bool
) -> SigningSecrets:
    """The secrets to check signatures with; `ReceiverConfigError` when one is unusable, or when
    there is none and not `insecure`."""
    try:
        resolved = (secrets if isinstance(secrets, SigningSecrets)
                    else SigningSecrets.from_sequence(secrets))
    except SecretError as exc:
        raise ReceiverConfigError(f"refusing to start the webhook receiver: {exc}") from None
    if not resolved.configured and not insecure:
        raise ReceiverConfigError(
            "refusing to start the webhook receiver without a signing secret: set "
            "OFAPI_WEBHOOK_SECRET (and OFAPI_WEBHOOK_SECRET_PREVIOUS with "
            "OFAPI_WEBHOOK_SECRET_PREVIOUS_EXPIRES_AT during a rotation), or pass --insecure to "
            "accept unsigned deliveries on purpose (loopback only)"
        )
    return resolved


def is_stale(delivery_time: datetime | None, received_at: datetime, stale_after: timedelta) -> bool:
    """True when the delivery's own newest time is older than `stale_after` at `received_at`:
    a replay of a captured delivery, or a backlog the pipeline must not apply as news."""
    return delivery_time is not None and received_at - delivery_time > stale_after


def _write_failure(exc: BaseException) -> str:
    """Why the store cannot write, in words that do not reveal its address or credentials."""
    text = str(getattr(exc, "orig", None) or exc).lower()
    if "read-only" in text or "readonly" in text:
        return "landing store is read-only"
    if "permission denied" in text or "privilege" in text:
        return "landing store refuses writes (permission denied)"
    return "landing store cannot write (see the receiver's log)"


def create_receiver_app(
    store: LandingStore,
    secrets: SigningSecrets | Sequence[str] | None,
    *,
    insecure: bool = False,
    max_body_bytes: int | None = None,
    limits: ReceiverLimits | None = None,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
) -> Starlette:
    """The receiver as an ASGI app, landing into `store`.

    `secrets` are the accepted signing secrets: a `SigningSecrets`, or current first then
    previous (without expiry). Without any, the app refuses to be built unless `insecure=True`,
    which accepts unsigned deliveries (for local experiments only). With secrets, signatures are
    always checked. The connection limits of `limits` are enforced by `server_config`, the body
    limits here.
    """
    resolved = signing_secrets(secrets, insecure=insecure)
    limits = limits or ReceiverLimits()
    body_limit = max_body_bytes or limits.max_body_bytes
    if not resolved.configured:
        log.warning("webhook receiver running INSECURE: deliveries are not authenticated")
    if stale_after <= timedelta(0):
        raise ReceiverConfigError(f"stale_after must be positive, not {stale_after}")

    async def receive(request: Request) -> JSONResponse:
        try:
            async with asyncio.timeout(limits.body_timeout):
                body = await read_body(request, body_limit)
        except BodyTooLarge:
            return _error(413, f"body larger than {body_limit} bytes")
        except TimeoutError:
            log.warning("webhook refused: body not received within %g s", limits.body_timeout)
            return _error(408, f"body not received within {limits.body_timeout:g} s",
                          connection="close")
        received_at = datetime.now(UTC)
        if resolved.configured and not verify(body, _header(request, SIGNATURE_HEADER),
                                              resolved.accepted(received_at)):
            log.warning("webhook refused: missing or invalid signature (%d bytes)", len(body))
            return _error(401, "missing or invalid signature")
        try:
            delivery = parse_delivery(body)
            idempotency_key = _token_header(request, IDEMPOTENCY_HEADER)
            redelivery_of = _token_header(request, REDELIVERY_HEADER)
            check_delivery(delivery)
        except InvalidDelivery as exc:
            return await quarantine(request, body, str(exc), exc.status, received_at)
        stale = is_stale(delivery.newest_at, received_at, stale_after)
        try:
            stored = await run_in_threadpool(
                store.land,
                idempotency_key=idempotency_key or body_key(body),
                event=delivery.event,
                body=delivery.text,
                account_id=delivery.account_id,
                occurred_at=delivery.occurred_at,
                redelivery_of=redelivery_of,
                received_at=received_at,
                stale=stale,
                body_sha256=body_digest(body),
            )
        except Exception:
            return _store_failed()
        if stored and stale:
            log.warning("webhook %s landed stale: its newest time %s is older than %s",
                        delivery.event, delivery.newest_at, stale_after)
        return JSONResponse({"status": "duplicate" if not stored
                             else "stale" if stale else "stored"})

    async def quarantine(
        request: Request, body: bytes, reason: str, status: int, received_at: datetime
    ) -> JSONResponse:
        try:
            await run_in_threadpool(
                store.quarantine, body, reason,
                content_type=request.headers.get("content-type"), received_at=received_at,
            )
        except Exception:
            return _store_failed()
        log.warning("webhook quarantined: %s (%d bytes)", reason, len(body))
        return _error(status, reason)

    async def healthz(_request: Request) -> JSONResponse:
        try:
            await run_in_threadpool(store.ping)
        except Exception:
            log.exception("health check: landing store unreachable")
            return JSONResponse({"status": "unavailable", "reason": "landing store unreachable"},
                                status_code=503)
        try:
            await run_in_threadpool(store.check_writable)
        except Exception as exc:
            log.exception("health check: landing store cannot write")
            return JSONResponse({"status": "unavailable", "reason": _write_failure(exc)},
                                status_code=503)
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[
        Route(WEBHOOK_PATH, receive, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ])


# ---- the server: connection limits uvicorn does not enforce itself ---------------------------

def _canned(status: int, message: str) -> bytes:
    """A complete response written straight to a connection that gets no ASGI request."""
    body = json.dumps({"error": message}).encode()
    head = (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n")
    return head.encode("ascii") + body


def guarded_http_protocol(limits: ReceiverLimits) -> type[asyncio.Protocol]:
    """uvicorn's HTTP/1.1 protocol with what it lacks against slow and numerous clients.

    uvicorn holds a connection that never completes its request headers for ever: its keep-alive
    timer runs only between requests and stops at the first byte, and `limit_concurrency`
    answers 503 only once headers are complete, so a thousand idle sockets or one header byte
    every few seconds hold the receiver. Here a connection beyond `max_connections` is answered
    503 and closed at once; a request's headers must be complete within `header_timeout` of the
    connection or of its first byte after a response, and within `max_header_bytes`.

    "Headers complete" is when uvicorn starts a new request cycle, which both of its HTTP/1.1
    implementations (httptools and h11) expose as `cycle`.
    """
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    class GuardedHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
        _refused = False
        _header_timer: asyncio.TimerHandle | None = None
        _header_bytes = 0

        def connection_made(self, transport: Any) -> None:
            if len(self.connections) >= limits.max_connections:
                self._refused = True
                log.warning("webhook connection refused: %d connections open",
                            len(self.connections))
                transport.write(_canned(503, "too many connections, deliver again later"))
                transport.close()
                return
            super().connection_made(transport)
            self._await_headers()

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return
            cycle = self.cycle
            if cycle is None or cycle.response_complete:
                self._await_headers()
                self._header_bytes += len(data)
            super().data_received(data)
            if self.cycle is not cycle:
                self._headers_complete()
            elif self._header_timer is not None and self._header_bytes > limits.max_header_bytes:
                self._cut(431, f"request headers over {limits.max_header_bytes} bytes")

        def connection_lost(self, exc: Exception | None) -> None:
            if self._refused:
                return
            self._headers_complete()
            super().connection_lost(exc)

        def _await_headers(self) -> None:
            if self._header_timer is None:
                self._header_bytes = 0
                self._header_timer = self.loop.call_later(
                    limits.header_timeout, self._cut, 408,
                    f"request headers not received within {limits.header_timeout:g} s")

        def _headers_complete(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _cut(self, status: int, message: str) -> None:
            self._headers_complete()
            if self.transport is not None and not self.transport.is_closing():
                log.warning("webhook connection closed: %s", message)
                self.transport.write(_canned(status, message))
                self.transport.close()

    return GuardedHTTPProtocol


def server_config(
    app: Any, host: str, port: int, limits: ReceiverLimits | None = None, log_level: str = "info"
) -> Any:
    """The uvicorn configuration the receiver runs with: the guarded protocol, no websockets."""
    import uvicorn

    limits = limits or ReceiverLimits()
    return uvicorn.Config(
        app, host=host, port=port, http=guarded_http_protocol(limits), ws="none",
        timeout_keep_alive=limits.keep_alive_timeout,  # type: ignore[arg-type]
        h11_max_incomplete_event_size=limits.max_header_bytes,
        log_level=log_level, access_log=False,
    )


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses, the only hosts `--insecure` may listen on."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def stale_after_from(hours: float | None = None) -> timedelta:
    """The stale horizon: `hours` when given, else OFHQ_WEBHOOK_STALE_AFTER_HOURS, else 7 days."""
    source, text = "--stale-after-hours", hours
    if hours is None:
        source, text = STALE_AFTER_ENV, os.environ.get(STALE_AFTER_ENV)
        if text is None or not str(text).strip():
            return DEFAULT_STALE_AFTER
    try:
        value = float(text)  # type: ignore[arg-type]
    except ValueError:
        raise ReceiverConfigError(f"{source} is not a number of hours: {text!r}") from None
    if not 0 < value < 1e6:
        raise ReceiverConfigError(f"{source} must be a positive number of hours, not {text!r}")
    return timedelta(hours=value)


def serve(
    host: str = "127.0.0.1",
    port: int = 8787,
    *,
    insecure: bool = False,
    landing_url: str | None = None,
    log_level: str = "info",
    limits: ReceiverLimits | None = None,
    stale_after_hours: float | None = None,
) -> None:
    """Run the receiver under uvicorn until interrupted, configured from the environment.

    Reads the secrets (`signature.SigningSecrets.from_env`), OFHQ_WEBHOOK_STALE_AFTER_HOURS and
    OFHQ_LANDING_URL (default `sqlite:///$OFHQ_HOME/landing.db`); raises `ReceiverConfigError`
    before opening anything when the configuration would accept forged or replayed deliveries.
    """
    import uvicorn

    if insecure and not is_loopback(host):
        raise ReceiverConfigError(f"--insecure accepts unsigned deliveries: it may only listen on "
                                  f"a loopback address, not {host!r}")
    try:
        from_env = SigningSecrets.from_env()
    except SecretError as exc:
        raise ReceiverConfigError(f"refusing to start the webhook receiver: {exc}") from None
    secrets = signing_secrets(from_env, insecure=insecure)  # before opening the store
    stale_after = stale_after_from(stale_after_hours)
    limits = limits or ReceiverLimits()
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    now = datetime.now(UTC)
    if secrets.previous is not None and secrets.previous_expires_at is not None:
        if secrets.previous_expires_at <= now:
            log.warning("the previous webhook secret expired at %s: only the current one is "
                        "accepted", secrets.previous_expires_at.isoformat())
        else:
            log.info("the previous webhook secret is accepted until %s",
                     secrets.previous_expires_at.isoformat())
    with LandingStore(landing_url) as store:
        app = create_receiver_app(store, secrets, insecure=insecure, limits=limits,
                                  stale_after=stale_after)
        log.info("webhook receiver on http://%s:%d%s, landing store %s", host, port, WEBHOOK_PATH,
                 safe_url(store.url))
        uvicorn.Server(server_config(app, host, port, limits, log_level)).run()
