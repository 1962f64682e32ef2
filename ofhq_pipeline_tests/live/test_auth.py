"""Sign-in and sessions over real HTTP: a small Starlette app with the sign-in routes, the
RequireMember middleware and one protected page, served by uvicorn on loopback and attacked with
httpx: no session, forged and stale cookies, cross-site forms, guessing, open redirects, a proxy
header from the wrong place, a revoked member still holding a cookie, and secrets in logs."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ofhq_pipeline.live import auth
from ofhq_pipeline.live.auth import (
    SESSION_COOKIE,
    SESSION_SALT,
    AuthSettings,
    FailureLimiter,
    RequireMember,
    Session,
    auth_routes,
    csrf_token,
    sign_session,
)
from ofhq_pipeline.live.members import MemberStore
from ofhq_pipeline.warehouse.commands import access
from ofhq_pipeline_tests.servers import serve_app

SECRET = "live-secret-for-tests-7f3a9c21e4b8d605"
OTHER_SECRET = "another-deployment-secret-0b1c2d3e4f5a"
PASSWORD = "violet-harbour-2291-lantern"
CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html,application/xhtml+xml"}


def login_settings(**overrides) -> AuthSettings:
    return AuthSettings(**{"secret": SECRET, "cookie_secure": False, **overrides})


def build_app(settings: AuthSettings, store: MemberStore) -> Starlette:
    """Mounted as the live page mounts it; `/` answers who is asking."""

    async def whoami(request: Request) -> JSONResponse:
        member = request.scope["member"]
        return JSONResponse({"member": member.member, "roles": list(member.roles),
                             "creators": list(member.creators), "csrf": csrf_token(request)})

    return Starlette(
        routes=[*auth_routes(settings, store), Route("/", whoami),
                Route("/reports/{name}", whoami, methods=["GET", "POST"])],
        middleware=[Middleware(RequireMember, settings=settings)],
    )


@pytest.fixture
def store() -> Iterator[MemberStore]:
    """The embedded member store under this test's OFHQ_HOME, where `member_access` reads."""
    with MemberStore(hasher=CHEAP) as opened:
        opened.set_password("ana", PASSWORD)
        opened.grant("ana", "agency")
        opened.set_password("carla", PASSWORD)
        opened.grant("carla", "employee", ["acct_1"])
        opened.set_password("nora", PASSWORD)  # a password, no role
        yield opened


@contextmanager
def serving(settings: AuthSettings, store: MemberStore) -> Iterator[httpx.Client]:
    with serve_app(build_app(settings, store)) as url, httpx.Client(base_url=url) as client:
        yield client


@pytest.fixture
def client(store) -> Iterator[httpx.Client]:
    with serving(login_settings(), store) as opened:
        yield opened


def form_token(page: httpx.Response) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def sign_in(client: httpx.Client, member: str, password: str, **extra: str) -> httpx.Response:
    page = client.get("/login", headers=HTML)
    assert page.status_code == 200
    data = {"member": member, "password": password, "csrf": form_token(page), **extra}
    return client.post("/login", data=data, headers=HTML)


def with_cookie(client: httpx.Client, value: str) -> httpx.Response:
    """GET / as a fresh browser holding only this session cookie."""
    with httpx.Client(base_url=str(client.base_url)) as other:
        return other.get("/", headers={**JSON, "Cookie": f"{SESSION_COOKIE}={value}"})


def test_without_a_session_only_the_sign_in_page_is_open(client):
    for method, path in [("GET", "/"), ("GET", "/reports/daily"), ("POST", "/reports/daily"),
                         ("GET", "/nowhere"), ("GET", "/login/"), ("POST", "/logout"),
                         ("PUT", "/login"), ("GET", "/LOGIN")]:
        response = client.request(method, path, headers=JSON)
        assert response.status_code == 401, (method, path)
        assert response.json() == {"error": "sign in first"}
        browser = client.request(method, path, headers=HTML)
        assert browser.status_code == 303, (method, path)
        assert browser.headers["location"].startswith("/login")
    assert client.get("/reports/daily?week=3", headers=HTML).headers["location"] == (
        "/login?next=%2Freports%2Fdaily%3Fweek%3D3")
    page = client.get("/login")
    assert page.status_code == 200
    for name in ('name="member"', 'name="password"', 'name="csrf"', 'type="password"'):
        assert name in page.text
    assert not re.search(r"(src|href)=|https?://|@import", page.text)  # nothing external
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_signing_in_sets_a_hardened_session_and_reads_the_roles(client):
    response = sign_in(client, "carla", PASSWORD)
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = next(h for h in response.headers.get_list("set-cookie")
                  if h.startswith(f"{SESSION_COOKIE}="))
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "path", "samesite", "max-age"} <= attributes
    assert "secure" not in attributes  # cookie_secure=False for this plain-HTTP test server
    assert "samesite=strict" in cookie.lower() and "path=/;" in cookie.replace(" ", "").lower()
    assert "max-age=43200" in cookie.lower()
    page = client.get("/", headers=JSON)
    assert page.status_code == 200
    assert page.json()["member"] == "carla"
    assert page.json()["roles"] == ["employee"] and page.json()["creators"] == ["acct_1"]


def test_the_cookies_are_secure_by_default(store):
    with serving(AuthSettings(secret=SECRET), store) as client:
        page = client.get("/login")
        assert "secure" in page.headers["set-cookie"].lower()
        # A Secure cookie never travels over plain HTTP: this client does not send it back.
        data = {"member": "ana", "password": PASSWORD, "csrf": form_token(page)}
        assert client.post("/login", data=data).status_code == 403
        pre_session = page.headers["set-cookie"].split(";")[0]
        response = client.post("/login", data=data, headers={"Cookie": pre_session})
    assert response.status_code == 303
    session = next(h for h in response.headers.get_list("set-cookie")
                   if h.startswith(f"{SESSION_COOKIE}="))
    assert "secure" in session.lower()


def test_a_failed_sign_in_says_the_same_whatever_the_cause(client):
    for member, password in [("ana", "not-her-password-0"), ("nobody", PASSWORD),
                             ("nora", PASSWORD), ("", PASSWORD)]:
        response = sign_in(client, member, password)
        assert response.status_code == 401, member
        assert "wrong member or password" in response.text
        assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
        assert client.get("/", headers=JSON).status_code == 401


def altered_signature(cookie: str) -> str:
    *signed, signature = cookie.split(".")
    first = "B" if signature[0] == "A" else "A"
    return ".".join([*signed, first + signature[1:]])


def test_tampered_stale_and_foreign_cookies_are_no_session(client):
    sign_in(client, "ana", PASSWORD)
    genuine = client.cookies[SESSION_COOKIE]
    assert with_cookie(client, genuine).status_code == 200
    payload = URLSafeTimedSerializer(SECRET, salt=SESSION_SALT).loads(genuine)
    assert with_cookie(client, URLSafeTimedSerializer(SECRET, salt=SESSION_SALT)
                       .dumps(payload)).status_code == 200  # re-signed now: still good

    class ThirteenHoursAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 13 * 3600

    stale = URLSafeTimedSerializer(SECRET, salt=SESSION_SALT, signer=ThirteenHoursAgo)
    forged_payload = genuine.split(".")[0][:-2] + "xx." + ".".join(genuine.split(".")[1:])
    for value in [
        # signature altered: its first character, every bit of which counts (the last one's
        # low bits are padding, so changing it may decode to the same signature)
        altered_signature(genuine),
        forged_payload,  # payload altered
        stale.dumps(payload),  # expired
        sign_session(AuthSettings(secret=OTHER_SECRET), Session("ana", "t")),  # another key
        URLSafeTimedSerializer(SECRET, salt="ofhq-live-login").dumps(payload),  # another purpose
        '{"member":"ana","csrf":"t"}',
    ]:
        response = with_cookie(client, value)
        assert response.status_code == 401, value


def test_the_sign_in_form_needs_its_own_signed_token(client, store):
    with serving(login_settings(), store) as other:
        foreign = form_token(other.get("/login"))
    data = {"member": "ana", "password": PASSWORD}
    with httpx.Client(base_url=str(client.base_url)) as bare:  # no pre-session cookie at all
        assert bare.post("/login", data={**data, "csrf": foreign}).status_code == 403
    own = form_token(client.get("/login"))
    for token in (None, "", "guess", foreign, own + "x", "é"):
        form = {**data, **({} if token is None else {"csrf": token})}
        response = client.post("/login", data=form)
        assert response.status_code == 403, token
        assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    assert client.post("/login", data={**data, "csrf": own}).status_code == 303
    assert client.get("/", headers=JSON).status_code == 200


def test_signing_out_needs_the_sessions_token_and_ends_the_session(client):
    sign_in(client, "ana", PASSWORD)
    token = client.get("/", headers=JSON).json()["csrf"]
    assert client.post("/logout").status_code == 403
    assert client.post("/logout", data={"csrf": "forged"}).status_code == 403
    assert client.get("/", headers=JSON).status_code == 200
    response = client.post("/logout", data={"csrf": token})
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert SESSION_COOKIE not in client.cookies
    assert client.get("/", headers=JSON).status_code == 401


def test_guessing_is_throttled_per_member_and_per_address(client):
    # uvicorn takes the client address from X-Forwarded-For sent by loopback, as behind a proxy.
    for n in range(5):
        response = sign_in(client, "ana", f"guess-number-{n:04d}")
        assert response.status_code == 401
    blocked = sign_in(client, "ana", PASSWORD)
    assert blocked.status_code == 429 and SESSION_COOKIE not in blocked.headers.get(
        "set-cookie", "")
    assert 0 < int(blocked.headers["retry-after"]) <= 15 * 60
    # The same address is blocked for every member, another address only for that member.
    assert sign_in(client, "carla", PASSWORD).status_code == 429
    elsewhere = {**HTML, "X-Forwarded-For": "203.0.113.7"}
    page = client.get("/login", headers=elsewhere)
    form = {"password": PASSWORD, "csrf": form_token(page)}
    assert client.post("/login", data={**form, "member": "ana"},
                       headers=elsewhere).status_code == 429
    assert client.post("/login", data={**form, "member": "carla"},
                       headers=elsewhere).status_code == 303


def test_failures_slide_out_of_their_window():
    now = [1000.0]
    limiter = FailureLimiter(3, 60, clock=lambda: now[0])
    for step in (0, 10, 20):
        now[0] = 1000.0 + step
        assert limiter.retry_after("member:ana") == 0
        limiter.record("member:ana", "client:a")
    assert limiter.retry_after("member:ana") == 40  # the first failure leaves at 1060
    assert limiter.retry_after("member:ana", "client:b") == 40
    assert limiter.retry_after("client:b") == 0
    now[0] = 1060.0
    assert limiter.retry_after("member:ana", "client:a") == 0
    limiter.record("member:ana", "client:a")
    assert limiter.retry_after("member:ana") == 10  # the second one leaves at 1070
    limiter.clear("member:ana")  # a member's success forgets his failures, not the address's
    assert limiter.retry_after("member:ana") == 0 and limiter.retry_after("client:a") == 10


def test_a_sign_in_only_ever_sends_to_a_local_path(client):
    for target in ["//evil.example", "//evil.example/path", "/\\evil.example",
                   "https://evil.example/", "javascript:alert(1)", "/\r\nSet-Cookie: x=1",
                   "\t//evil.example"]:
        page = client.get("/login", params={"next": target})
        assert 'name="next" value="/"' in page.text, target
        response = client.post("/login", data={"member": "ana", "password": PASSWORD,
                                               "csrf": form_token(page), "next": target})
        assert response.status_code == 303 and response.headers["location"] == "/", target
    response = sign_in(client, "ana", PASSWORD, next="/reports/daily?week=3")
    assert response.headers["location"] == "/reports/daily?week=3"


def test_the_proxy_header_is_believed_from_trusted_proxies_only(store):
    header = {**JSON, "X-Auth-Member": "ana"}
    elsewhere = AuthSettings(mode="proxy", trusted_proxies=("10.0.0.0/8",),
                             proxy_header="X-Auth-Member")
    with serving(elsewhere, store) as client:
        for path in ("/", "/login", "/reports/daily"):
            assert client.get(path, headers=header).status_code == 403
    trusted = AuthSettings(mode="proxy", trusted_proxies=("10.0.0.0/8", "127.0.0.1"),
                           proxy_header="X-Auth-Member")
    with serving(trusted, store) as client:
        page = client.get("/", headers=header)
        assert page.status_code == 200 and page.json()["roles"] == ["agency"]
        assert client.get("/", headers=JSON).status_code == 401
        assert client.get("/", headers={**JSON, "X-Auth-Member": "nora"}).status_code == 401
        assert client.get("/", headers={**JSON, "X-Forwarded-User": "ana"}).status_code == 401
        # No password sign-in behind a proxy: it signs members in and out.
        assert client.post("/login", data={"member": "ana", "password": PASSWORD},
                           headers=header).status_code in (404, 405)


def test_a_revoked_member_loses_a_live_session_at_once(client, store):
    sign_in(client, "carla", PASSWORD)
    assert client.get("/", headers=JSON).status_code == 200
    store.revoke("carla")
    response = client.get("/", headers=JSON)
    assert response.status_code == 401
    assert SESSION_COOKIE not in client.cookies  # the browser is told to forget it
    store.grant("carla", "cfo")
    assert sign_in(client, "carla", PASSWORD).status_code == 303
    assert client.get("/", headers=JSON).json()["roles"] == ["cfo"]


def test_passwords_secrets_and_cookies_stay_out_of_the_logs(store, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr(auth, "_process_secret", None)
    settings = AuthSettings.from_env()  # no OFHQ_LIVE_SESSION_SECRET: a key for this process
    assert "sessions are signed with a key made for this process" in caplog.text
    settings = AuthSettings(secret=settings.secret, cookie_secure=False)
    assert settings.secret not in repr(settings)
    with serving(settings, store) as client:
        assert sign_in(client, PASSWORD, PASSWORD).status_code == 401  # password as member
        assert sign_in(client, "ana", PASSWORD + "-wrong").status_code == 401
        assert sign_in(client, "ana", PASSWORD).status_code == 303
        cookie = client.cookies[SESSION_COOKIE]
        assert client.get("/", headers=JSON).status_code == 200
    result = CliRunner().invoke(access, ["password", "ana", "--stdin"], input=PASSWORD + "-b\n")
    assert result.exit_code == 0, result.output
    # Ours and the server's records; the test client's own debug records show its traffic.
    logged = "\n".join(record.getMessage() for record in caplog.records
                       if not record.name.startswith(("httpx", "httpcore")))
    assert "failed sign-in from 127.0.0.1" in logged and "ana signed in" in logged
    for secret in (PASSWORD, settings.secret, cookie, cookie.split(".")[-1]):
        assert secret not in logged


def test_members_set_up_by_the_commands_sign_in(client):
    runner = CliRunner()
    assert runner.invoke(access, ["grant", "dina", "--role", "cfo"]).exit_code == 0
    assert runner.invoke(access, ["password", "dina", "--stdin"],
                         input=PASSWORD + "\n").exit_code == 0
    assert sign_in(client, "dina", PASSWORD).status_code == 303
    assert client.get("/", headers=JSON).json()["roles"] == ["cfo"]


def test_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("OFHQ_LIVE_SESSION_SECRET", SECRET)
    settings = AuthSettings.from_env()
    assert (settings.mode, settings.proxy_header, settings.cookie_secure) == (
        "login", "X-Forwarded-User", True)
    assert (settings.session_max_age_s, settings.max_failures) == (12 * 3600, 5)
    monkeypatch.setenv("OFHQ_LIVE_COOKIE_SECURE", "false")
    assert AuthSettings.from_env().cookie_secure is False
    monkeypatch.setenv("OFHQ_LIVE_COOKIE_SECURE", "maybe")
    with pytest.raises(ValueError, match="OFHQ_LIVE_COOKIE_SECURE"):
        AuthSettings.from_env()
    monkeypatch.delenv("OFHQ_LIVE_COOKIE_SECURE")
    monkeypatch.setenv("OFHQ_LIVE_SESSION_SECRET", "too-short-a-secret")
    with pytest.raises(ValueError, match="OFHQ_LIVE_SESSION_SECRET is too short"):
        AuthSettings.from_env()
    monkeypatch.setenv("OFHQ_LIVE_SESSION_SECRET", SECRET)
    monkeypatch.setenv("OFHQ_LIVE_AUTH", "proxy")
    with pytest.raises(ValueError, match="needs OFHQ_LIVE_TRUSTED_PROXIES"):
        AuthSettings.from_env()
    monkeypatch.setenv("OFHQ_LIVE_TRUSTED_PROXIES", "10.1.2.3, 192.168.0.0/16,::1")
    monkeypatch.setenv("OFHQ_LIVE_PROXY_HEADER", "X-Auth-Request-User")
    settings = AuthSettings.from_env()
    assert settings.mode == "proxy" and settings.proxy_header == "X-Auth-Request-User"
    assert settings.trusted_proxies == ("10.1.2.3", "192.168.0.0/16", "::1")
    monkeypatch.setenv("OFHQ_LIVE_TRUSTED_PROXIES", "10.1.2.3,proxy.internal")
    with pytest.raises(ValueError, match="OFHQ_LIVE_TRUSTED_PROXIES"):
        AuthSettings.from_env()
    monkeypatch.setenv("OFHQ_LIVE_AUTH", "open")
    with pytest.raises(ValueError, match="OFHQ_LIVE_AUTH must be one of login, proxy"):
        AuthSettings.from_env()
