"""The webhook receiver: `POST /webhooks/ofapi` lands signed deliveries, `GET /healthz`.

Order of checks for a delivery, each answered before the next is tried:

1. a body over `max_body_bytes` (1 MiB) → 413; the declared Content-Length is checked first and
   the stream is counted while read, so at most the limit + 1 chunk is ever buffered;
2. no `Signature`, or one that matches neither the current nor the previous secret → 401, and
   nothing is stored;
3. a body that is not a JSON object with a string `event` → 400, and the body is quarantined with
   the reason;
4. otherwise the delivery is landed and answered 200 only after its commit:
   `{"status": "stored"}`, or `{"status": "duplicate"}` when its idempotency key was landed before
   (redeliveries store nothing new). A store that cannot be reached answers 503, so the API
   delivers again later.

The database calls block, so they run in Starlette's threadpool and the event loop stays free.
Secrets and signatures are never logged.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from datetime import UTC, datetime

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ofhq_pipeline.realtime.events import InvalidDelivery, parse_delivery
from ofhq_pipeline.realtime.landing import LandingStore, safe_url
from ofhq_pipeline.realtime.signature import body_key, verify

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/ofapi"
MAX_BODY_BYTES = 1_048_576
IDEMPOTENCY_HEADER = "x-ofapi-idempotency-key"
REDELIVERY_HEADER = "x-ofapi-redelivery-of"
SIGNATURE_HEADER = "signature"


class ReceiverConfigError(RuntimeError):
    """The receiver was asked to start in a way that would accept forged deliveries."""


class BodyTooLarge(Exception):
    pass


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


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


def accepted_secrets(secrets: Sequence[str] | None, *, insecure: bool) -> tuple[str, ...]:
    """The non-empty secrets; `ReceiverConfigError` when there are none and not `insecure`."""
    accepted = tuple(secret for secret in secrets or () if secret)
    if not accepted and not insecure:
        raise ReceiverConfigError(
            "refusing to start the webhook receiver without a signing secret: set "
            "OFAPI_WEBHOOK_SECRET (and OFAPI_WEBHOOK_SECRET_PREVIOUS during a rotation), or pass "
            "--insecure to accept unsigned deliveries on purpose"
        )
    return accepted


def create_receiver_app(
    store: LandingStore,
    secrets: Sequence[str] | None,
    *,
    insecure: bool = False,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> Starlette:
    """The receiver as an ASGI app, landing into `store`.

    `secrets` are the accepted signing secrets (current first, then previous); empty ones are
    ignored. Without any, the app refuses to be built unless `insecure=True`, which accepts
    unsigned deliveries (for local experiments only). With secrets, signatures are always checked.
    """
    accepted = accepted_secrets(secrets, insecure=insecure)
    if not accepted:
        log.warning("webhook receiver running INSECURE: deliveries are not authenticated")

    async def receive(request: Request) -> JSONResponse:
        try:
            body = await read_body(request, max_body_bytes)
        except BodyTooLarge:
            return _error(413, f"body larger than {max_body_bytes} bytes")
        if accepted and not verify(body, _header(request, SIGNATURE_HEADER), accepted):
            log.warning("webhook refused: missing or invalid signature (%d bytes)", len(body))
            return _error(401, "missing or invalid signature")
        received_at = datetime.now(UTC)
        try:
            delivery = parse_delivery(body)
        except InvalidDelivery as exc:
            return await quarantine(request, body, str(exc), received_at)
        try:
            stored = await run_in_threadpool(
                store.land,
                idempotency_key=_header(request, IDEMPOTENCY_HEADER) or body_key(body),
                event=delivery.event,
                body=delivery.text,
                account_id=delivery.account_id,
                occurred_at=delivery.occurred_at,
                redelivery_of=_header(request, REDELIVERY_HEADER),
                received_at=received_at,
            )
        except Exception:
            return _store_failed()
        return JSONResponse({"status": "stored" if stored else "duplicate"})

    async def quarantine(
        request: Request, body: bytes, reason: str, received_at: datetime
    ) -> JSONResponse:
        try:
            await run_in_threadpool(
                store.quarantine, body, reason,
                content_type=request.headers.get("content-type"), received_at=received_at,
            )
        except Exception:
            return _store_failed()
        log.warning("webhook quarantined: %s (%d bytes)", reason, len(body))
        return _error(400, reason)

    async def healthz(_request: Request) -> JSONResponse:
        try:
            await run_in_threadpool(store.ping)
        except Exception:
            log.exception("health check: landing store unreachable")
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[
        Route(WEBHOOK_PATH, receive, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ])


def secrets_from_env() -> list[str]:
    """OFAPI_WEBHOOK_SECRET, then OFAPI_WEBHOOK_SECRET_PREVIOUS, those that are set."""
    names = ("OFAPI_WEBHOOK_SECRET", "OFAPI_WEBHOOK_SECRET_PREVIOUS")
    return [value for name in names if (value := os.environ.get(name))]


def serve(
    host: str = "127.0.0.1",
    port: int = 8787,
    *,
    insecure: bool = False,
    landing_url: str | None = None,
    log_level: str = "info",
) -> None:
    """Run the receiver under uvicorn until interrupted, configured from the environment.

    Reads OFAPI_WEBHOOK_SECRET / OFAPI_WEBHOOK_SECRET_PREVIOUS and OFHQ_LANDING_URL (default
    `sqlite:///$OFHQ_HOME/landing.db`); raises `ReceiverConfigError` without a secret unless
    `insecure`.
    """
    import uvicorn

    secrets = accepted_secrets(secrets_from_env(), insecure=insecure)  # before opening the store
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with LandingStore(landing_url) as store:
        app = create_receiver_app(store, secrets, insecure=insecure)
        log.info("webhook receiver on http://%s:%d%s, landing store %s", host, port, WEBHOOK_PATH,
                 safe_url(store.url))
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
