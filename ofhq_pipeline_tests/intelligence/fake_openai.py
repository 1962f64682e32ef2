"""A local OpenAI-compatible HTTP server for the classifier's tests and benchmark.

It implements what the classifier calls, with the official API's shapes: chat completions, file
upload (multipart), file content, and batches (create, retrieve, list). Every request body it
receives is kept (`bodies`), so tests can check what left the machine.

Unless told otherwise a chat completion answers `default_output(body)` and reports usage
estimated from the actual request: prompt tokens = characters of the messages and schema / 4,
completion tokens = characters of the answer / 3 (JSON tokenises denser than prose). The class's
default answer (`realistic_output`, a classification of realistic size read off the transcript)
is the benchmark's; the tests' `fake` fixture answers a fixed hand-written one instead, and a
test that asserts what a classification says scripts its answers with `by_marker`: complete
answers written out in the test, each reported with usage numbers the test fixes.
`respond` overrides answers per request.
"""

from __future__ import annotations

import asyncio
import email.parser
import itertools
import json
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ofhq_pipeline.intelligence.rules import FACT_RULES, SIGNAL_RULES
from ofhq_pipeline.intelligence.schema import SIGNALS

LINE = re.compile(r"^(\d+) ([FC])(?: \$[\d.]+)?: (.*)$")


@dataclass
class Reply:
    """A scripted HTTP answer to a chat completion."""

    status: int
    body: dict
    headers: dict[str, str] = field(default_factory=dict)


def transcript_of(body: dict) -> str:
    return "\n".join(m.get("content") or "" for m in body.get("messages", []) if m["role"] == "user")


def realistic_output(body: dict) -> dict:
    """A valid answer for the request's transcript: scores and facts from the rules' patterns,
    a summary of a few hundred characters."""
    fan_lines = []
    for line in transcript_of(body).splitlines():
        match = LINE.match(line)
        if match and match.group(2) == "F":
            fan_lines.append((int(match.group(1)), match.group(3)))
    intents = {}
    for signal in SIGNALS:
        strong, _ = SIGNAL_RULES[signal]
        ids = [i for i, text in fan_lines if re.search("(?i)" + strong, text)]
        intents[signal] = {"score": min(95, 45 + 20 * len(ids)) if ids else 5, "evidence": ids[-3:]}
    facts = []
    for category, pattern in FACT_RULES:
        for i, text in fan_lines:
            found = re.search(pattern, text)
            if found:
                facts.append({"category": category, "value": found.group(1), "confidence": 80,
                              "message_id": i})
    hot = [s for s in SIGNALS if intents[s]["score"] >= 50]
    summary = (
        f"Regular who writes {len(fan_lines)} short messages, mostly evenings. "
        f"Shows {', '.join(s.replace('_', ' ') for s in hot) or 'no strong buying signal'}. "
        "Responds to warmth and playful teasing, buys when an offer feels personal and limited; "
        "keep openers light and reference what he shared before."
    )[:600]
    return {
        "fan_type": "transactional" if hot else "romantic",
        "tone_preference": "playful",
        "emotional_drivers": ["validation", "excitement"],
        "emotional_needs": ["to feel noticed", "light banter"],
        "content_format_preference": "video",
        "length_preference": "short",
        "narrative_summary": summary,
        "intents": intents,
        "facts": facts[:6],
        "objections": [],
        "frequency_preference": "few_times_week",
        "best_opener_type": "question",
        "best_offer_type": "limited_drop",
        "custom_interest_level": intents["wants_custom"]["score"],
        "toxicity": {"flag": False, "reason": None},
        "confidence": 70,
    }


def completion(
    body: dict, content: str | None = None, *, refusal: str | None = None,
    finish_reason: str = "stop", cached_tokens: int = 0, usage: tuple[int, int] | None = None,
) -> dict:
    """A chat.completion object; its usage is `usage` (prompt, completion tokens) when given,
    else estimated from the request and the answer."""
    if content is None and refusal is None:
        content = json.dumps(realistic_output(body), separators=(",", ":"))
    if usage is not None:
        prompt_tokens, completion_tokens = usage
    else:
        request_chars = sum(len(m.get("content") or "") for m in body.get("messages", []))
        request_chars += len(json.dumps(body.get("response_format") or {}, separators=(",", ":")))
        prompt_tokens = math.ceil(request_chars / 4) + 7 * len(body.get("messages", []))
        completion_tokens = math.ceil(len(content or refusal or "") / 3)
    return {
        "id": f"chatcmpl-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "gpt-4o-mini"),
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": refusal},
            "finish_reason": finish_reason,
            "logprobs": None,
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached_tokens},
        },
    }


Responder = Callable[[dict, int], "dict | Reply | None"]


@dataclass(frozen=True)
class Scripted:
    """One scripted chat completion: its content (a dict is sent as JSON, a string as it is) and
    the usage the server reports for it."""

    content: dict | str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0

    def completion(self, body: dict) -> dict:
        content = self.content if isinstance(self.content, str) else json.dumps(self.content)
        return completion(body, content, cached_tokens=self.cached_tokens,
                          usage=(self.prompt_tokens, self.completion_tokens))


def by_marker(table: dict[str, Scripted | list[Scripted]]) -> Responder:
    """Answers from `table`: the first marker (in the table's order) found in the request's chat
    picks its entry; a list gives the chat's n-th request its n-th item (the last one once
    exhausted). A chat no marker matches is answered 400, so a forgotten fan fails loudly."""

    def respond(body: dict, n: int) -> dict | Reply:
        chat = transcript_of(body)
        for marker, script in table.items():
            if marker in chat:
                if isinstance(script, list):
                    script = script[min(n, len(script)) - 1]
                return script.completion(body)
        return Reply(400, {"error": {"message": "no scripted answer for this chat",
                                     "type": "invalid_request_error"}})

    return respond


@dataclass
class FakeOpenAI:
    """`respond(body, n)` (n: how many chat requests this transcript has had, from 1) returns a
    completion dict, a `Reply`, or None for the default valid answer."""

    respond: Responder | None = None
    default_output: Callable[[dict], dict] = realistic_output  # the answer when not told
    hold_batches: bool = False  # batches stay in_progress until this is False
    fail_batch_creates: int = 0  # answer 500 to this many batch creations first
    delay: float = 0.0  # seconds each chat completion takes
    prompt_caching: bool = True  # report cached tokens as OpenAI's automatic prompt caching does
    in_flight: int = 0
    max_in_flight: int = 0
    chat_requests: list[dict] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    files: dict[str, dict] = field(default_factory=dict)
    batches: dict[str, dict] = field(default_factory=dict)
    batch_creates: int = 0
    _seen: dict[str, int] = field(default_factory=dict)
    _prefixes: set[str] = field(default_factory=set)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ---- answers ---------------------------------------------------------------------------
    def answer(self, body: dict) -> Reply:
        with self._lock:
            users = [m.get("content") or "" for m in body.get("messages", []) if m["role"] == "user"]
            key = (users[0] if users else "").split("Chat:\n", 1)[-1]  # the fan's chat
            self._seen[key] = n = self._seen.get(key, 0) + 1
        custom = self.respond(body, n) if self.respond else None
        if isinstance(custom, Reply):
            return custom
        if custom is not None:
            return Reply(200, custom)
        content = json.dumps(self.default_output(body), separators=(",", ":"))
        return Reply(200, completion(body, content, cached_tokens=self.cached_tokens(body)))

    def cached_tokens(self, body: dict) -> int:
        """OpenAI's automatic prompt caching: a prefix of at least 1,024 tokens seen before is
        cached in steps of 128 tokens. The prefix shared by every fan is the schema (sent ahead
        of the messages) and the system prompt."""
        if not self.prompt_caching:
            return 0
        system = [m.get("content") or "" for m in body.get("messages", []) if m["role"] == "system"]
        prefix = json.dumps(body.get("response_format") or {}, separators=(",", ":"))
        prefix += "".join(system[:1])
        tokens = math.ceil(len(prefix) / 4)
        if tokens < 1024:
            return 0
        with self._lock:
            seen = prefix in self._prefixes
            self._prefixes.add(prefix)
        return 1024 + 128 * ((tokens - 1024) // 128) if seen else 0

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids)}"

    # ---- endpoints -------------------------------------------------------------------------
    async def _chat(self, request: Request) -> Response:
        raw = await request.body()
        self.bodies.append(raw)
        body = json.loads(raw)
        self.chat_requests.append(body)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            reply = self.answer(body)
        finally:
            self.in_flight -= 1
        return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)

    def requests_for(self, marker: str) -> list[dict]:
        """The chat requests whose transcript contains `marker`."""
        return [b for b in self.chat_requests if marker in transcript_of(b)]

    async def _upload(self, request: Request) -> Response:
        raw = await request.body()
        self.bodies.append(raw)
        parts = _multipart(request.headers["content-type"], raw)
        file_id = self._new_id("file")
        content = parts.get("file", b"")
        self.files[file_id] = {"content": content, "purpose": parts.get("purpose", b"").decode()}
        return JSONResponse(self._file_object(file_id))

    def _file_object(self, file_id: str) -> dict:
        f = self.files[file_id]
        return {"id": file_id, "object": "file", "bytes": len(f["content"]),
                "created_at": int(time.time()), "filename": f"{file_id}.jsonl",
                "purpose": f["purpose"], "status": "processed"}

    async def _file_content(self, request: Request) -> Response:
        file_id = request.path_params["file_id"]
        if file_id not in self.files:
            return JSONResponse({"error": {"message": "no such file"}}, status_code=404)
        return Response(self.files[file_id]["content"], media_type="application/octet-stream")

    async def _create_batch(self, request: Request) -> Response:
        raw = await request.body()
        self.bodies.append(raw)
        if self.fail_batch_creates > 0:
            self.fail_batch_creates -= 1
            return JSONResponse({"error": {"message": "server error"}}, status_code=500)
        params = json.loads(raw)
        if params["input_file_id"] not in self.files:
            return JSONResponse({"error": {"message": "no such file"}}, status_code=400)
        self.batch_creates += 1
        batch_id = self._new_id("batch")
        self.batches[batch_id] = {
            "id": batch_id, "object": "batch", "endpoint": params["endpoint"],
            "errors": None, "input_file_id": params["input_file_id"],
            "completion_window": params["completion_window"], "status": "validating",
            "output_file_id": None, "error_file_id": None, "created_at": int(time.time()),
            "in_progress_at": None, "expires_at": int(time.time()) + 86400, "completed_at": None,
            "failed_at": None, "expired_at": None, "metadata": params.get("metadata"),
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
        }
        return JSONResponse(self.batches[batch_id])

    async def _get_batch(self, request: Request) -> Response:
        batch_id = request.path_params["batch_id"]
        if batch_id not in self.batches:
            return JSONResponse({"error": {"message": "no such batch"}}, status_code=404)
        self._advance(batch_id)
        return JSONResponse(self.batches[batch_id])

    async def _list_batches(self, request: Request) -> Response:
        data = sorted(self.batches.values(), key=lambda b: b["id"], reverse=True)
        return JSONResponse({"object": "list", "data": data, "has_more": False,
                             "first_id": data[0]["id"] if data else None,
                             "last_id": data[-1]["id"] if data else None})

    def _advance(self, batch_id: str) -> None:
        batch = self.batches[batch_id]
        if batch["status"] == "validating":
            batch["status"], batch["in_progress_at"] = "in_progress", int(time.time())
        elif batch["status"] == "in_progress" and not self.hold_batches:
            self._complete(batch)

    def _complete(self, batch: dict) -> None:
        lines = self.files[batch["input_file_id"]]["content"].decode().splitlines()
        out, errors = [], []
        for line in filter(None, lines):
            request = json.loads(line)
            reply = self.answer(request["body"])
            record = {"id": self._new_id("batch_req"), "custom_id": request["custom_id"]}
            if reply.status == 200:
                out.append({**record, "response": {"status_code": 200, "request_id": record["id"],
                                                   "body": reply.body}, "error": None})
            else:
                errors.append({**record, "response": None,
                               "error": {"code": str(reply.status), "message": "failed"}})
        batch["output_file_id"] = self._store_file(out)
        batch["error_file_id"] = self._store_file(errors) if errors else None
        batch["request_counts"] = {"total": len(out) + len(errors), "completed": len(out),
                                   "failed": len(errors)}
        batch["status"], batch["completed_at"] = "completed", int(time.time())

    def _store_file(self, records: list[dict]) -> str:
        file_id = self._new_id("file")
        text = "".join(json.dumps(r) + "\n" for r in records)
        self.files[file_id] = {"content": text.encode(), "purpose": "batch_output"}
        return file_id

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/v1/chat/completions", self._chat, methods=["POST"]),
            Route("/v1/files", self._upload, methods=["POST"]),
            Route("/v1/files/{file_id}/content", self._file_content, methods=["GET"]),
            Route("/v1/batches", self._create_batch, methods=["POST"]),
            Route("/v1/batches", self._list_batches, methods=["GET"]),
            Route("/v1/batches/{batch_id}", self._get_batch, methods=["GET"]),
        ])


def _multipart(content_type: str, raw: bytes) -> dict[str, bytes]:
    """The fields of a multipart/form-data body (python-multipart is not a dependency)."""
    message = email.parser.BytesParser().parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw
    )
    fields = {}
    for part in message.get_payload():
        name = part.get_param("name", header="content-disposition")
        fields[name] = part.get_payload(decode=True)
    return fields
