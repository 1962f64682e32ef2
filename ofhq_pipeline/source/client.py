"""The OnlyFans API client: bearer auth, the contract's paging styles, retries, contract checks.

Every list endpoint is a generator of pages (lists of items exactly as received), so callers
decide how much to hold in memory. Errors name the endpoint, the creator and, for bad items, the
field. The key is sent in a header and appears in no error, log or metadata.

A GET is retried on any failure; a POST acts (a mass message goes out), so it is retried only
when the API surely took nothing, and an unknown outcome is `AmbiguousSend`: the caller reads
the queue to learn what happened instead of sending twice.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from ofhq_pipeline.source.contract import CONTRACTS, missing_field, unknown_fields

FANS_PAGE = 20  # the API's maximum for fans/all
PAGE = 100
MAX_PAGES = 1_000_000  # a guard against an API that says hasMore forever
# Transport errors raised before the request went out: repeating such a POST cannot act twice.
NOTHING_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
RECONCILE = ": the API may have taken it, so read the queue before sending again"


class OfapiError(RuntimeError):
    """An API request that failed for good: names the endpoint and the creator."""

    def __init__(self, endpoint: str, creator_id: str | None, message: str) -> None:
        where = f"{endpoint} (creator {creator_id})" if creator_id else endpoint
        super().__init__(f"{where}: {message}")
        self.endpoint, self.creator_id = endpoint, creator_id


class ContractError(OfapiError):
    """An answer that breaks the source contract: not JSON, or a required field missing."""


class AmbiguousSend(OfapiError):
    """A POST whose outcome is unknown: the API may have taken it (a 5xx answer, a read timeout,
    a connection dropped after the request was sent). Sending it again could act twice: the
    caller must reconcile (read the queue) rather than resend."""


@dataclass
class RateLimits:
    """The last `_meta._rate_limits` and `_meta._credits` the API reported."""

    limit_minute: int | None = None
    limit_day: int | None = None
    remaining_minute: int | None = None
    remaining_day: int | None = None
    credits_used: int | None = None
    credits_balance: int | None = None

    def update(self, meta: Any) -> None:
        if not isinstance(meta, dict):
            return
        limits, credits = meta.get("_rate_limits") or {}, meta.get("_credits") or {}
        for name in ("limit_minute", "limit_day", "remaining_minute", "remaining_day"):
            if isinstance(limits.get(name), int):
                setattr(self, name, limits[name])
        if isinstance(credits.get("used"), int):
            self.credits_used = credits["used"]
        if isinstance(credits.get("balance"), int):
            self.credits_balance = credits["balance"]


def _seconds(value: Any) -> float:
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return 0.0


class OfapiClient:
    """One client per sync; a context manager that closes its connection pool."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_attempts: int = 6,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
        )
        self.max_attempts = max(1, max_attempts)
        self.backoff_base_s, self.backoff_cap_s = backoff_base_s, backoff_cap_s
        self.sleep = sleep
        self.rate_limits = RateLimits()
        self.requests_made = 0
        self.retries = 0
        self.unknown_fields: dict[str, set[str]] = {}

    def __enter__(self) -> OfapiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    # ---- requests ------------------------------------------------------------------------------
    def backoff(self, attempt: int) -> float:
        """Capped exponential backoff with full jitter."""
        return random.uniform(0, min(self.backoff_cap_s, self.backoff_base_s * 2**attempt))

    def get(self, path: str, params: dict | None, *, endpoint: str, creator_id: str | None) -> dict:
        """One JSON answer, retried on 429, 5xx and transport errors; the body's `data` checked."""
        return self.request(
            lambda: self.http.get(path, params=params),
            endpoint=endpoint, creator_id=creator_id, repeatable=True,
        )

    def post(self, path: str, payload: dict, *, endpoint: str, creator_id: str | None) -> dict:
        """One JSON answer to a POST, retried only when the API surely took nothing (a 429, a
        connection never made); a 5xx or a connection lost once sent is `AmbiguousSend` at once."""
        return self.request(
            lambda: self.http.post(path, json=payload),
            endpoint=endpoint, creator_id=creator_id, repeatable=False,
        )

    def request(
        self,
        send: Callable[[], httpx.Response],
        *,
        endpoint: str,
        creator_id: str | None,
        repeatable: bool,
    ) -> dict:
        """`send()` until a JSON answer, up to `max_attempts`: a 429 waits as the API says, a
        transport error backs off. Unless `repeatable`, whatever may have reached the API (a 5xx,
        a transport error after sending) raises `AmbiguousSend` instead of repeating."""
        for attempt in range(self.max_attempts):
            last = attempt == self.max_attempts - 1
            self.requests_made += 1
            try:
                response = send()
            except httpx.TransportError as exc:  # connection refused, reset, timeouts
                if not repeatable and not isinstance(exc, NOTHING_SENT):
                    raise AmbiguousSend(
                        endpoint, creator_id, f"{type(exc).__name__} once sent{RECONCILE}"
                    ) from None
                if last:
                    raise OfapiError(
                        endpoint, creator_id, f"{type(exc).__name__} after {attempt + 1} attempts"
                    ) from None
                self.retries += 1
                self.sleep(self.backoff(attempt))
                continue
            if response.status_code >= 500 and not repeatable:
                raise AmbiguousSend(
                    endpoint, creator_id,
                    f"HTTP {response.status_code}: {error_text(response)}{RECONCILE}",
                )
            if response.status_code == 429 or response.status_code >= 500:
                if last:
                    raise OfapiError(
                        endpoint,
                        creator_id,
                        f"HTTP {response.status_code} after {attempt + 1} attempts",
                    )
                self.retries += 1
                self.sleep(self.retry_wait(response, attempt))
                continue
            if response.status_code >= 400:
                refused = (
                    " (the API refused the key: check OFAPI_API_KEY)"
                    if response.status_code in (401, 403) else ""
                )
                raise OfapiError(
                    endpoint, creator_id,
                    f"HTTP {response.status_code}: {error_text(response)}{refused}",
                )
            return self.parse(response, endpoint=endpoint, creator_id=creator_id)
        raise AssertionError("unreachable")

    def retry_wait(self, response: httpx.Response, attempt: int) -> float:
        """429: max(Retry-After, body.retry_after); backoff when neither says anything."""
        header = _seconds(response.headers.get("Retry-After"))
        body = 0.0
        if response.status_code == 429:
            try:
                payload = response.json()
                body = _seconds(payload.get("retry_after") if isinstance(payload, dict) else None)
            except ValueError:
                pass
        wait = max(header, body)
        return min(wait, self.backoff_cap_s * 10) if wait > 0 else self.backoff(attempt)

    def parse(self, response: httpx.Response, *, endpoint: str, creator_id: str | None) -> dict:
        try:
            body = response.json()
        except (ValueError, json.JSONDecodeError):
            kind = response.headers.get("content-type", "no content type")
            raise ContractError(
                endpoint, creator_id, f"the answer is not JSON ({kind}): {response.text[:80]!r}"
            ) from None
        if not isinstance(body, dict) or "data" not in body:
            raise ContractError(endpoint, creator_id, "the answer lacks the field 'data'")
        self.rate_limits.update(body.get("_meta"))
        return body

    # ---- items ---------------------------------------------------------------------------------
    def checked(
        self, items: Any, kind: str, *, endpoint: str, creator_id: str | None, field: str
    ) -> list[dict]:
        """The page's items, each checked against its contract; unknown fields remembered."""
        if not isinstance(items, list):
            raise ContractError(endpoint, creator_id, f"the answer lacks the list field '{field}'")
        contract = CONTRACTS[kind]
        for number, item in enumerate(items):
            missing = missing_field(item, contract)
            if missing is None and kind == "chargeback":
                inner = missing_field(item["payment"], CONTRACTS["transaction"])
                missing = None if inner is None else f"payment.{inner}"
            if missing is not None:
                raise ContractError(
                    endpoint,
                    creator_id,
                    f"{kind} #{number} (id {item_id(item)}) lacks the required field '{missing}'",
                )
            extra = unknown_fields(item, contract)
            if extra:
                self.unknown_fields.setdefault(kind, set()).update(extra)
        return items

    def checked_item(self, item: Any, kind: str, *, endpoint: str, creator_id: str | None) -> dict:
        """A single object answer (`data`), checked against its contract."""
        return self.checked([item], kind, endpoint=endpoint, creator_id=creator_id, field="data")[0]

    def list_page(
        self, path: str, params: dict, kind: str, *, endpoint: str, creator_id: str
    ) -> tuple[list[dict], dict, dict]:
        """One page of a `{"data": {"list": [...], "hasMore": ...}}` endpoint: items, data, body."""
        body = self.get(path, params, endpoint=endpoint, creator_id=creator_id)
        data = body["data"]
        if isinstance(data, list):  # an unpaged answer: everything at once
            data = {"list": data, "hasMore": False}
        if not isinstance(data, dict):
            raise ContractError(endpoint, creator_id, "the field 'data' is not an object")
        items = self.checked(
            data.get("list"), kind, endpoint=endpoint, creator_id=creator_id, field="data.list"
        )
        return items, data, body

    def offset_pages(
        self, path: str, kind: str, creator_id: str, *, limit: int = PAGE, **params: Any
    ) -> Iterator[list[dict]]:
        """Offset paging: follow `_pagination.next_page` when given, else offset += len(page),
        while `data.hasMore` (authoritative: pages may be short although more remain)."""
        endpoint = f"GET {path}"
        url, query = path, {**params, "limit": limit, "offset": 0}
        for _ in range(MAX_PAGES):
            items, data, body = self.list_page(
                url, query, kind, endpoint=endpoint, creator_id=creator_id
            )
            yield items
            if not data.get("hasMore"):
                return
            next_page = (body.get("_pagination") or {}).get("next_page")
            if next_page:
                url, query = self.same_origin_path(next_page), None
            else:
                if not items:
                    raise ContractError(endpoint, creator_id, "hasMore with an empty page")
                query = {**(query or params), "limit": limit}
                query["offset"] = int(query.get("offset") or 0) + len(items)
                url = path
        raise ContractError(endpoint, creator_id, f"more than {MAX_PAGES} pages")

    def same_origin_path(self, url: str) -> str:
        """`_pagination.next_page` is a full URL: keep its path and query on our base URL, so
        the bearer key is never sent to another host."""
        parts = urlsplit(url)
        base_path = self.http.base_url.path.rstrip("/")
        path = parts.path.removeprefix(base_path) if base_path else parts.path
        return path + (f"?{parts.query}" if parts.query else "")

    # ---- endpoints -----------------------------------------------------------------------------
    def accounts(self) -> list[dict]:
        body = self.get("/api/accounts", None, endpoint="GET /api/accounts", creator_id=None)
        return self.checked(
            body["data"], "account", endpoint="GET /api/accounts", creator_id=None, field="data"
        )

    def fans(self, creator_id: str) -> Iterator[list[dict]]:
        return self.offset_pages(f"/api/{creator_id}/fans/all", "fan", creator_id, limit=FANS_PAGE)

    def latest_fans(
        self, creator_id: str, start: datetime, end: datetime
    ) -> Iterator[list[dict]]:
        """Fans who subscribed within [start, end] ("List Latest Fans"): the API documents the
        path and its `start_date`, `end_date`, `limit` and `offset`, not the answer, so the
        answer is read as fans/all's (same envelope, items, paging and limit of 20). Its `type`
        filter (new subscribers, renewals or both) is left at the API's default."""
        return self.offset_pages(
            f"/api/{creator_id}/fans/latest",
            "fan",
            creator_id,
            limit=FANS_PAGE,
            start_date=start.isoformat(),
            end_date=end.isoformat(),
        )

    def chats(self, creator_id: str) -> Iterator[list[dict]]:
        return self.offset_pages(f"/api/{creator_id}/chats", "chat", creator_id)

    def vault_media(self, creator_id: str) -> Iterator[list[dict]]:
        return self.offset_pages(f"/api/{creator_id}/media/vault", "vault_media", creator_id)

    def chargebacks(
        self, creator_id: str, start: datetime, end: datetime
    ) -> Iterator[list[dict]]:
        return self.offset_pages(
            f"/api/{creator_id}/chargebacks",
            "chargeback",
            creator_id,
            start_date=start.isoformat(),
            end_date=end.isoformat(),
        )

    def transactions(self, creator_id: str, start: datetime) -> Iterator[list[dict]]:
        """Newest first, from `start` (without it the API returns only 30 days), marker paging."""
        path = f"/api/{creator_id}/transactions"
        endpoint = f"GET {path}"
        params: dict[str, Any] = {"limit": PAGE, "startDate": start.isoformat()}
        for _ in range(MAX_PAGES):
            items, data, _ = self.list_page(
                path, params, "transaction", endpoint=endpoint, creator_id=creator_id
            )
            yield items
            if not data.get("hasMore"):
                return
            marker = data.get("nextMarker")
            if marker in (None, "") or str(marker) == str(params.get("marker")):
                raise ContractError(endpoint, creator_id, "hasMore without a new 'data.nextMarker'")
            params = {**params, "marker": marker}
        raise ContractError(endpoint, creator_id, f"more than {MAX_PAGES} pages")

    def messages(
        self, creator_id: str, fan_id: int, *, newer_than: int | None = None
    ) -> Iterator[list[dict]]:
        """A chat's messages newest first, by message-id cursor (`id=M`: strictly older than M).

        With `newer_than`, stops at the first message already known, so a changed chat costs
        only the pages of what is new.
        """
        path = f"/api/{creator_id}/chats/{fan_id}/messages"
        endpoint = f"GET /api/{creator_id}/chats/{{fan_id}}/messages"
        params: dict[str, Any] = {"limit": PAGE, "order": "desc"}
        for _ in range(MAX_PAGES):
            items, data, _ = self.list_page(
                path, params, "message", endpoint=endpoint, creator_id=creator_id
            )
            if newer_than is not None:
                fresh = [m for m in items if int(m["id"]) > newer_than]
                if len(fresh) < len(items):
                    yield fresh
                    return
            yield items
            if not data.get("hasMore") or not items:
                return
            params = {**params, "id": min(int(m["id"]) for m in items)}
        raise ContractError(endpoint, creator_id, f"more than {MAX_PAGES} pages")

    def send_mass_message(
        self,
        creator_id: str,
        *,
        fan_ids: list[int],
        text: str,
        price_cents: int,
        media_ids: list[int],
        scheduled_at: datetime | None = None,
    ) -> dict:
        """Queue one mass message ("Send Mass Message"); the queue item the API answers.

        Not repeated once it may have reached the API: `AmbiguousSend` means read the queue
        (`mass_message_queue`) to learn whether it was taken. A naive `scheduled_at` is UTC.
        """
        path = f"/api/{creator_id}/mass-messaging"
        endpoint = f"POST {path}"
        payload: dict[str, Any] = {
            "userIds": list(fan_ids), "text": text, "price": price_cents / 100,
            "mediaFiles": list(media_ids),
        }
        if scheduled_at is not None:
            moment = scheduled_at if scheduled_at.tzinfo else scheduled_at.replace(tzinfo=UTC)
            payload["scheduledDate"] = moment.astimezone(UTC).isoformat()
        body = self.post(path, payload, endpoint=endpoint, creator_id=creator_id)
        return self.checked_item(body["data"], "mass_message", endpoint=endpoint, creator_id=creator_id)

    def mass_message_queue(self, creator_id: str) -> list[dict]:
        """The creator's mass-message queue ("List Mass Message Queue"), as the API orders it."""
        path = f"/api/{creator_id}/mass-messaging"
        items, _, _ = self.list_page(
            path, None, "mass_message", endpoint=f"GET {path}", creator_id=creator_id
        )
        return items

    def mass_message(self, creator_id: str, queue_id: int) -> dict:
        """One queue item ("Get Mass Message"), its `recipients` as received."""
        endpoint = f"GET /api/{creator_id}/mass-messaging/{{queue_id}}"
        body = self.get(
            f"/api/{creator_id}/mass-messaging/{int(queue_id)}", None,
            endpoint=endpoint, creator_id=creator_id,
        )
        return self.checked_item(body["data"], "mass_message", endpoint=endpoint, creator_id=creator_id)


def item_id(item: object) -> object:
    return item.get("id") if isinstance(item, dict) else None


def error_text(response: httpx.Response) -> str:
    """The API's own error message, short; never echoes request headers."""
    try:
        body = response.json()
        if isinstance(body, dict) and body.get("error"):
            return str(body["error"])[:200]
    except ValueError:
        pass
    return response.text[:200] or response.reason_phrase

