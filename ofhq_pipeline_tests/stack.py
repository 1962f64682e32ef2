"""The real-time stack as an operator runs it: `ofhq webhooks serve` and `dagster-daemon run` on
workspace.yaml, and optionally `ofhq live serve` (with a member signed in), in processes of
their own, with a private OFHQ_HOME and Dagster instance.

Used by the end-to-end test and by the real-time benchmark.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx

from ofhq_pipeline.realtime.signature import sign
from ofhq_pipeline.settings import PROJECT_ROOT

SECRET = "whsec-stack-0f1e2d-7a8b9c0d1e2f"
# Bounds a wait on the stack's processes: reached only by a hang, never by a slow machine.
HANG_S = 300


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def signal_group(proc: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(proc.pid, signum)


LIVE_MEMBER, LIVE_PASSWORD = "bench", "stack-live-password-42"


class RealtimeStack:
    def __init__(self, root: Path, env: dict[str, str] | None = None, *,
                 live: bool = False) -> None:
        self.root = root
        self.home = root / "ofhq"
        self.dagster_home = root / "dagster"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **{k: v for k, v in os.environ.items()
               if not k.startswith(("OFHQ_", "OFAPI_", "TELEGRAM_", "DAGSTER_"))},
            "OFHQ_HOME": str(self.home),
            "DAGSTER_HOME": str(self.dagster_home),
            "OFAPI_WEBHOOK_SECRET": SECRET,
            "OFAPI_BASE_URL": f"http://127.0.0.1:{free_port()}",  # no API: real time needs none
            **(env or {}),
        }
        self.procs: list[subprocess.Popen] = []
        self.http = httpx.Client(base_url=self.url, timeout=HANG_S)
        self.live_url = f"http://127.0.0.1:{free_port()}" if live else None
        if live:  # plain http on loopback: the cookie cannot be Secure for httpx
            self.env["OFHQ_LIVE_COOKIE_SECURE"] = "false"

    def start(self) -> RealtimeStack:
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT_ROOT / "dagster.yaml", self.dagster_home / "dagster.yaml")
        bin_dir = Path(sys.executable).parent
        self.spawn("receiver", [str(bin_dir / "ofhq"), "webhooks", "serve", "--port", str(self.port)])
        self.spawn("daemon", [str(bin_dir / "ofhq"), "daemon", "-w", "workspace.yaml"])
        if self.live_url:
            ofhq = str(bin_dir / "ofhq")
            for args, stdin in ((["grant", LIVE_MEMBER, "--role", "agency"], None),
                                (["password", LIVE_MEMBER, "--stdin"], LIVE_PASSWORD + "\n")):
                subprocess.run([ofhq, "access", *args], input=stdin, text=True, check=True,
                               cwd=PROJECT_ROOT, env=self.env, capture_output=True)
            self.spawn("live", [ofhq, "live", "serve", "--port", self.live_url.rsplit(":", 1)[1]])
        receiver = self.procs[0]
        deadline = time.monotonic() + HANG_S
        while time.monotonic() < deadline and receiver.poll() is None:
            try:
                if self.http.get("/healthz").status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"receiver did not start:\n{self.log('receiver')}")

    def live_client(self) -> httpx.Client:
        """An httpx client of the live page, signed in as the stack's agency member."""
        import re

        assert self.live_url, "the stack runs without `ofhq live serve`"
        client = httpx.Client(base_url=self.live_url, timeout=HANG_S)
        deadline = time.monotonic() + HANG_S
        while True:
            try:
                page = client.get("/login", headers={"Accept": "text/html"})
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"live page did not start:\n{self.log('live')}") from None
                time.sleep(0.1)
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        signed = client.post("/login", data={"member": LIVE_MEMBER, "password": LIVE_PASSWORD,
                                             "csrf": token})
        assert signed.status_code == 303, signed.text
        return client

    def spawn(self, name: str, command: list[str]) -> None:
        out = (self.root / f"{name}.log").open("wb")
        # A session of its own: stopping it also stops the run workers the daemon launched.
        self.procs.append(subprocess.Popen(command, cwd=PROJECT_ROOT, env=self.env, stdout=out,
                                           stderr=subprocess.STDOUT, start_new_session=True))

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        self.http.close()
        for proc in self.procs:
            signal_group(proc, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)  # then killed: shutting down slowly is no failure
            except subprocess.TimeoutExpired:
                signal_group(proc, signal.SIGKILL)
                proc.wait()

    def __enter__(self) -> RealtimeStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def post(self, event: str, account_id: str, payload: dict, key: str | None) -> httpx.Response:
        body = json.dumps({"event": event, "account_id": account_id, "payload": payload}).encode()
        headers = {"Content-Type": "application/json", "Signature": sign(body, SECRET)}
        if key:
            headers["X-OFAPI-Idempotency-Key"] = key
        return self.http.post("/webhooks/ofapi", content=body, headers=headers)

    def marts(self, sql: str, *params) -> list[tuple] | None:
        """A query on the analysts' file, None before it exists."""
        path = self.home / "marts.duckdb"
        if not path.exists():
            return None
        con = duckdb.connect(str(path), read_only=True)
        try:
            return con.execute(sql, list(params)).fetchall()
        except duckdb.CatalogException:
            return None  # published, but without that table yet
        finally:
            con.close()
