"""Who is asking, for the live page: sign-in, sessions and CSRF for a Starlette app.

Two modes (OFHQ_LIVE_AUTH):

- `login` (default): members sign in at `/login` with the password `ofhq access password` set.
  The session is a cookie, `ofhq_live_session`, signed and timestamped (itsdangerous) with
  OFHQ_LIVE_SESSION_SECRET, holding the member and a CSRF token of its own; HttpOnly,
  SameSite=Strict, Secure unless OFHQ_LIVE_COOKIE_SECURE=false. Nothing is kept server-side: a
  cookie is good until it expires (12 h) or its signature fails.
- `proxy`: a reverse proxy in front (SSO) signs members in and names them in a header
  (`X-Forwarded-User`). The header is believed only from OFHQ_LIVE_TRUSTED_PROXIES: anyone else
  could send it, so any request from elsewhere is refused (403).

Either way the member's roles are read on every request (`members.member_access`), never kept in
the cookie: a revoked member loses the page at his next request, not when his cookie expires. A
member without a role is no member, whatever his password.

The sign-in form is protected by a signed double-submit token: GET /login sets a signed
pre-session cookie (`ofhq_live_login`) and puts its token in the form; POST /login must bring both.
Failed sign-ins are counted per member and per client address (5 in 15 minutes by default, in this
process's memory); past that, 429 with Retry-After, and the password is not even checked. Passwords,
secrets and cookies are never logged; failures are logged with the client address only (a member
field sometimes holds a password typed in the wrong box).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import ipaddress
import logging
import math
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from urllib.parse import parse_qsl, quote, urlsplit

from itsdangerous import BadData, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ofhq_pipeline.live.members import MAX_PASSWORD_LENGTH, MemberStore, member_access
from ofhq_pipeline.warehouse.access import MemberAccess

log = logging.getLogger(__name__)

MODES = ("login", "proxy")
SESSION_COOKIE = "ofhq_live_session"
LOGIN_COOKIE = "ofhq_live_login"
# One salt per purpose: a signed login-form token is never accepted as a session, nor back.
SESSION_SALT = "ofhq-live-session"
LOGIN_SALT = "ofhq-live-login"
PROXY_CSRF_SALT = b"ofhq-live-proxy-csrf"
LOGIN_PATH = "/login"
LOGOUT_PATH = "/logout"
MIN_SECRET_LENGTH = 32
LOGIN_FORM_MAX_AGE_S = 60 * 60
FAILURE_WINDOW_S = 15 * 60
# A sign-in form is three short fields: a bigger body is not one.
MAX_FORM_BYTES = 8 * 1024
# argon2 takes 64 MiB per verification: a burst of sign-ins waits for a slot instead.
VERIFY_SLOTS = 4
FAILURE_MESSAGE = "wrong member or password"

AccessFor = Callable[[str], MemberAccess | None]

_process_secret: str | None = None
_process_secret_lock = threading.Lock()


def process_secret() -> str:
    """A signing key made once for this process, when OFHQ_LIVE_SESSION_SECRET is unset."""
    global _process_secret
    with _process_secret_lock:
        if _process_secret is None:
            _process_secret = secrets.token_urlsafe(48)
            log.warning(
                "OFHQ_LIVE_SESSION_SECRET is not set: sessions are signed with a key made for "
                "this process, so they end when it restarts and are not shared between workers")
        return _process_secret


def _flag(value: str | None, variable: str, default: bool) -> bool:
    if value is None or not value.strip():
        return default
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{variable} must be true or false, not {value!r}")


@dataclass(frozen=True)
class AuthSettings:
    """How the live page knows its members. `secret=None` makes a key for this process."""

    mode: str = "login"
    proxy_header: str = "X-Forwarded-User"
    trusted_proxies: tuple[str, ...] = ()
    secret: str | None = field(default=None, repr=False)
    cookie_secure: bool = True
    session_max_age_s: int = 12 * 60 * 60
    max_failures: int = 5
    failure_window_s: int = FAILURE_WINDOW_S
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(
        init=False, repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"OFHQ_LIVE_AUTH must be one of {', '.join(MODES)}, not {self.mode!r}")
        if not self.proxy_header.strip():
            raise ValueError("OFHQ_LIVE_PROXY_HEADER must name a header")
        proxies = tuple(self.trusted_proxies)
        try:
            networks = tuple(ipaddress.ip_network(p.strip(), strict=False) for p in proxies)
        except ValueError as exc:
            raise ValueError(f"OFHQ_LIVE_TRUSTED_PROXIES: {exc}") from None
        if self.mode == "proxy" and not networks:
            raise ValueError("OFHQ_LIVE_AUTH=proxy needs OFHQ_LIVE_TRUSTED_PROXIES: the addresses "
                             "of the proxies whose header is believed")
        if self.secret is not None and len(self.secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"OFHQ_LIVE_SESSION_SECRET is too short: at least "
                             f"{MIN_SECRET_LENGTH} characters (e.g. `openssl rand -base64 48`)")
        if self.session_max_age_s <= 0 or self.max_failures <= 0 or self.failure_window_s <= 0:
            raise ValueError("session age, failures allowed and their window must be positive")
        object.__setattr__(self, "trusted_proxies", proxies)
        object.__setattr__(self, "networks", networks)
        if self.secret is None:
            object.__setattr__(self, "secret", process_secret())

    @classmethod
    def from_env(cls) -> AuthSettings:
        """OFHQ_LIVE_AUTH, OFHQ_LIVE_PROXY_HEADER, OFHQ_LIVE_TRUSTED_PROXIES (comma list),
        OFHQ_LIVE_SESSION_SECRET, OFHQ_LIVE_COOKIE_SECURE (default true)."""
        env = os.environ
        proxies = env.get("OFHQ_LIVE_TRUSTED_PROXIES", "")
        return cls(
            mode=(env.get("OFHQ_LIVE_AUTH") or "login").strip().lower(),
            proxy_header=env.get("OFHQ_LIVE_PROXY_HEADER") or "X-Forwarded-User",
            trusted_proxies=tuple(p.strip() for p in proxies.split(",") if p.strip()),
            secret=env.get("OFHQ_LIVE_SESSION_SECRET") or None,
            cookie_secure=_flag(env.get("OFHQ_LIVE_COOKIE_SECURE"), "OFHQ_LIVE_COOKIE_SECURE",
                                True),
        )

    def serializer(self, salt: str) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.secret, salt=salt)


# ---- sessions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    """Who signed in, and the token his forms carry."""

    member: str
    csrf: str


def sign_session(settings: AuthSettings, session: Session) -> str:
    """The value of the session cookie."""
    return settings.serializer(SESSION_SALT).dumps({"member": session.member, "csrf": session.csrf})


def read_session_cookie(settings: AuthSettings, value: str | None) -> Session | None:
    """The session a cookie holds; None when absent, tampered with, signed with another key or
    older than `session_max_age_s`."""
    if not value:
        return None
    try:
        payload = settings.serializer(SESSION_SALT).loads(value, max_age=settings.session_max_age_s)
    except BadData:
        return None
    if not isinstance(payload, dict):
        return None
    member, csrf = payload.get("member"), payload.get("csrf")
    if not isinstance(member, str) or not isinstance(csrf, str) or not member or not csrf:
        return None
    return Session(member, csrf)


def from_trusted_proxy(settings: AuthSettings, conn: HTTPConnection) -> bool:
    """Whether the request's peer is one of the proxies whose header is believed."""
    host = conn.client.host if conn.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in settings.networks)


def _proxy_csrf(settings: AuthSettings, member: str) -> str:
    """A proxy-signed member has no cookie of ours: his forms carry a token derived from him."""
    key = hashlib.sha256(PROXY_CSRF_SALT + settings.secret.encode()).digest()
    return hmac.new(key, member.encode(), hashlib.sha256).hexdigest()


def read_session(conn: HTTPConnection, settings: AuthSettings) -> Session | None:
    """Who the request says it is from, roles aside: the session cookie (login mode) or the
    proxy's header from a trusted proxy (proxy mode)."""
    if settings.mode == "login":
        return read_session_cookie(settings, conn.cookies.get(SESSION_COOKIE))
    if not from_trusted_proxy(settings, conn):
        return None
    member = (conn.headers.get(settings.proxy_header) or "").strip()
    if not member or len(member) > 256:
        return None
    return Session(member, _proxy_csrf(settings, member))


def current_member(
    conn: HTTPConnection, settings: AuthSettings, access_for: AccessFor = member_access
) -> MemberAccess | None:
    """The signed-in member with his roles as they are now; None when nobody, or nobody with a
    role. Reads the roles (a database query): call it off the event loop."""
    session = read_session(conn, settings)
    if session is None:
        return None
    access = access_for(session.member)
    return access if access is not None and access.roles else None


def csrf_token(request: HTTPConnection) -> str:
    """The token a form of the page must carry (as field `csrf` or header `X-CSRF-Token`)."""
    token = request.scope.get("csrf")
    if not token:
        raise LookupError("no session on this request: is RequireMember mounted?")
    return token


def csrf_valid(request: HTTPConnection, submitted: str | None) -> bool:
    """Whether a submitted token is the session's own."""
    return same_token(request.scope.get("csrf"), submitted)


def same_token(expected: str | None, submitted: str | None) -> bool:
    """Constant-time equality of two tokens, whatever characters the submitted one holds."""
    if not expected or not submitted:
        return False
    return hmac.compare_digest(expected.encode(), submitted.encode("utf-8", "replace"))


def local_path(value: str | None) -> str:
    """`value` when it is a path of this site, else `/`: a sign-in never sends anyone away
    (`//evil.example` and `/\\evil.example` are other hosts to a browser)."""
    if (
        not value
        or len(value) > 2048
        or not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or any(ord(c) < 0x21 or ord(c) == 0x7F for c in value)
    ):
        return "/"
    parts = urlsplit(value)
    return "/" if parts.scheme or parts.netloc else value


# ---- requiring a member ------------------------------------------------------------------------


class RequireMember:
    """ASGI middleware: only `/login` is open (login mode); every other request needs a member
    with a role, found in `scope["member"]` (a MemberAccess) and his form token in
    `scope["csrf"]`. Browsers are sent to the sign-in page (303), other clients get 401."""

    def __init__(self, app: ASGIApp, settings: AuthSettings,
                 access_for: AccessFor = member_access) -> None:
        self.app = app
        self.settings = settings
        self.access_for = access_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        settings = self.settings
        if settings.mode == "proxy" and not from_trusted_proxy(settings, conn):
            log.warning("live: refused a request from %s, not a trusted proxy",
                        conn.client.host if conn.client else "an unknown address")
            await self._refuse(scope, receive, send, JSONResponse(
                {"error": "requests must come through the sign-in proxy"}, status_code=403))
            return
        if (settings.mode == "login" and scope["type"] == "http" and scope["path"] == LOGIN_PATH
                and scope["method"] in ("GET", "HEAD", "POST")):
            await self.app(scope, receive, send)
            return
        session = read_session(conn, settings)
        access = None
        if session is not None:
            access = await run_in_threadpool(self.access_for, session.member)
        if session is None or access is None or not access.roles:
            await self._refuse(scope, receive, send, self._sign_in_first(conn, session))
            return
        scope["member"] = access
        scope["csrf"] = session.csrf
        await self.app(scope, receive, send)

    def _sign_in_first(self, conn: HTTPConnection, session: Session | None) -> Response:
        accept = conn.headers.get("accept", "")
        if self.settings.mode == "login" and "text/html" in accept:
            target = LOGIN_PATH
            if conn.scope.get("method") in ("GET", "HEAD"):
                path = conn.url.path + (f"?{conn.url.query}" if conn.url.query else "")
                if path != "/":
                    target += "?next=" + quote(path, safe="")
            response: Response = RedirectResponse(target, status_code=303)
        else:
            response = JSONResponse({"error": "sign in first"}, status_code=401)
        response.headers["Cache-Control"] = "no-store"
        if session is not None and self.settings.mode == "login":
            # A valid cookie of a member without a role any more: the browser may forget it.
            _delete_session_cookie(response, self.settings)
        return response

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, response: Response) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await response(scope, receive, send)


# ---- sign-in and sign-out ----------------------------------------------------------------------


class FailureLimiter:
    """Failed sign-ins per key (a member, a client address) in a sliding window, in memory."""

    MAX_KEYS = 10_000

    def __init__(self, max_failures: int, window_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def retry_after(self, *keys: str) -> int:
        """Seconds until another attempt is allowed for every key; 0: now."""
        now = self._clock()
        wait = 0.0
        with self._lock:
            for key in keys:
                times = self._recent(key, now)
                if len(times) >= self.max_failures:
                    wait = max(wait, times[-self.max_failures] + self.window_s - now)
        return math.ceil(wait) if wait > 0 else 0

    def record(self, *keys: str) -> None:
        now = self._clock()
        with self._lock:
            for key in keys:
                self._failures.setdefault(key, deque()).append(now)
            if len(self._failures) > self.MAX_KEYS:
                for key in list(self._failures):
                    if not self._recent(key, now):
                        del self._failures[key]

    def clear(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · ofhq live</title>
<style>
body{{font:15px/1.4 system-ui,sans-serif;background:#f4f4f6;margin:0;display:flex;
min-height:100vh;align-items:center;justify-content:center}}
form{{background:#fff;padding:2em;border-radius:8px;box-shadow:0 1px 4px #0002;width:18em}}
h1{{font-size:1.2em;margin:0 0 1em}}label{{display:block;margin:.6em 0 .2em}}
input{{width:100%;box-sizing:border-box;padding:.5em;font:inherit}}
button{{margin-top:1.2em;width:100%;padding:.6em;font:inherit;cursor:pointer}}
p.alert{{color:#a00;margin:0 0 1em}}
</style></head><body>
<form method="post" action="/login">
<h1>System Intelligence</h1>{alert}
<label for="member">Member</label>
<input id="member" name="member" value="{member}" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<input type="hidden" name="csrf" value="{csrf}">
<input type="hidden" name="next" value="{next}">
<button type="submit">Sign in</button>
</form></body></html>
"""

_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def _cookie(response: Response, settings: AuthSettings, name: str, value: str, *,
            path: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path=path, secure=settings.cookie_secure,
                        httponly=True, samesite="strict")


def _delete_session_cookie(response: Response, settings: AuthSettings) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=settings.cookie_secure,
                           httponly=True, samesite="strict")


async def _small_form(request: Request) -> dict[str, str] | None:
    """The urlencoded form of a request, first value of each field; None when too big."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    form: dict[str, str] = {}
    for name, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        form.setdefault(name, value)
    return form


def auth_routes(settings: AuthSettings, store: MemberStore, *,
                access_for: AccessFor | None = None) -> list[Route]:
    """GET and POST /login, POST /logout (login mode; none in proxy mode, where the proxy signs
    members in and out). Roles are read with `access_for` (by default `member_access`, with
    `store` as the embedded member store)."""
    if settings.mode != "login":
        return []
    roles_of = access_for or partial(member_access, store=store)
    failures = FailureLimiter(settings.max_failures, settings.failure_window_s)
    verify_slots = threading.BoundedSemaphore(VERIFY_SLOTS)
    login_tokens = settings.serializer(LOGIN_SALT)

    def form_token(request: Request) -> str | None:
        value = request.cookies.get(LOGIN_COOKIE)
        if not value:
            return None
        try:
            token = login_tokens.loads(value, max_age=LOGIN_FORM_MAX_AGE_S)
        except BadData:
            return None
        return token if isinstance(token, str) and token else None

    def page(token: str, next_path: str, *, status: int = 200, member: str = "",
             message: str = "", headers: dict[str, str] | None = None) -> HTMLResponse:
        alert = f'\n<p class="alert" role="alert">{html.escape(message)}</p>' if message else ""
        body = _PAGE.format(alert=alert, member=html.escape(member, quote=True),
                            csrf=html.escape(token, quote=True),
                            next=html.escape(next_path, quote=True))
        response = HTMLResponse(body, status_code=status, headers={**_PAGE_HEADERS,
                                                                   **(headers or {})})
        _cookie(response, settings, LOGIN_COOKIE, login_tokens.dumps(token), path=LOGIN_PATH,
                max_age=LOGIN_FORM_MAX_AGE_S)
        return response

    def signs_in(member: str, password: str) -> bool:
        with verify_slots:
            # An empty name is nobody's: it still costs one verification, like any other.
            if not store.verify(member, password):
                return False
        access = roles_of(member)
        return access is not None and bool(access.roles)

    async def login_page(request: Request) -> Response:
        token = form_token(request) or secrets.token_urlsafe(32)
        return page(token, local_path(request.query_params.get("next")))

    async def login(request: Request) -> Response:
        client = request.client.host if request.client else "unknown"
        form = await _small_form(request)
        if form is None:
            return Response("form too large", status_code=413)
        next_path = local_path(form.get("next"))
        member = form.get("member", "")[:256]
        token = form_token(request)
        if not same_token(token, form.get("csrf")):
            return page(token or secrets.token_urlsafe(32), next_path, status=403, member=member,
                        message="This form expired: sign in again.")
        keys = (f"member:{member.casefold()}", f"client:{client}")
        wait = failures.retry_after(*keys)
        if wait:
            log.warning("live: sign-in refused from %s: too many failures", client)
            return page(token, next_path, status=429, member=member,
                        message=f"Too many failed attempts: try again in {math.ceil(wait / 60)} "
                        "min.", headers={"Retry-After": str(wait)})
        password = form.get("password", "")[:MAX_PASSWORD_LENGTH + 1]
        if not await run_in_threadpool(signs_in, member, password):
            failures.record(*keys)
            log.warning("live: failed sign-in from %s", client)
            return page(token, next_path, status=401, member=member, message=FAILURE_MESSAGE)
        failures.clear(keys[0])
        log.info("live: %s signed in from %s", member, client)
        response = RedirectResponse(next_path, status_code=303)
        session = Session(member, secrets.token_urlsafe(32))
        _cookie(response, settings, SESSION_COOKIE, sign_session(settings, session), path="/",
                max_age=settings.session_max_age_s)
        response.delete_cookie(LOGIN_COOKIE, path=LOGIN_PATH, secure=settings.cookie_secure,
                               httponly=True, samesite="strict")
        response.headers["Cache-Control"] = "no-store"
        return response

    async def logout(request: Request) -> Response:
        session = read_session(request, settings)
        form = await _small_form(request)
        submitted = (form or {}).get("csrf") or request.headers.get("x-csrf-token")
        if session is None or not same_token(session.csrf, submitted):
            return JSONResponse({"error": "missing or wrong CSRF token"}, status_code=403)
        log.info("live: %s signed out", session.member)
        response = RedirectResponse(LOGIN_PATH, status_code=303)
        _delete_session_cookie(response, settings)
        response.headers["Cache-Control"] = "no-store"
        return response

    return [
        Route(LOGIN_PATH, login_page, methods=["GET"]),
        Route(LOGIN_PATH, login, methods=["POST"]),
        Route(LOGOUT_PATH, logout, methods=["POST"]),
    ]
