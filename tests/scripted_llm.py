"""A scripted OpenAI-compatible Chat Completions server for tests and benchmarks.

A real HTTP server on 127.0.0.1 (a free port), run by aiohttp on its own event loop in a
background thread, so the test's own loop, a Pipecat pipeline or a separate `openrevox serve`
process can all reach it:

    with ScriptedLLM() as llm:                      # or `async with ScriptedLLM() as llm:`
        llm.queue(Reply.text("Hello!"), Reply.tool_call("end_call", {"reason": "done"}))
        ...  # point an OpenAI client at llm.base_url
        llm.requests                                # every request body received, in order

Replies are served first-in first-out; when none is left, `responder(request_body)` answers,
and without one the server answers 500 "ScriptedLLM: no scripted reply left".

`stream: true` is answered as OpenAI streams: `data: {chunk}` server-sent events of
`chat.completion.chunk` objects (text one word per chunk, tool calls as a head with id and name
then argument pieces), a `finish_reason` chunk, a usage chunk when
`stream_options.include_usage` is set, then `data: [DONE]`. `stream: false` gets one
`chat.completion` object; a `response_format` is accepted and answered with the scripted text.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

ARGUMENT_PIECE_CHARS = 8  # tool call arguments are streamed in pieces this long


@dataclass(frozen=True)
class Reply:
    """One scripted answer: text and/or tool calls, or an HTTP error."""

    content: str | None = None
    calls: tuple[tuple[str, dict], ...] = ()  # (tool name, arguments), in order
    verbatim: bool = False  # content in one chunk as given, not word by word
    status: int = 200
    message: str | None = None  # the error message when status is not 200

    @classmethod
    def text(cls, text: str) -> Reply:
        return cls(content=text)

    @classmethod
    def raw(cls, text: str) -> Reply:
        """Content sent exactly as given (e.g. malformed JSON), in a single chunk."""
        return cls(content=text, verbatim=True)

    @classmethod
    def tool_call(cls, name: str, arguments: dict) -> Reply:
        return cls(calls=((name, arguments),))

    @classmethod
    def tool_calls(cls, calls: list[tuple[str, dict]]) -> Reply:
        return cls(calls=tuple(calls))

    @classmethod
    def text_then_tool_call(cls, text: str, name: str, arguments: dict) -> Reply:
        return cls(content=text, calls=((name, arguments),))

    @classmethod
    def error(cls, status: int, message: str) -> Reply:
        return cls(status=status, message=message)

    def content_pieces(self) -> list[str]:
        """The content as streamed: one word per piece (with the space before it)."""
        if not self.content:
            return []
        if self.verbatim:
            return [self.content]
        return re.findall(r"\s*\S+(?:\s+$)?", self.content) or [self.content]

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.calls else "stop"


Responder = Callable[[dict], Reply]


class _Timetable:
    """Deadlines `first`, then every `step` seconds after, from its creation."""

    def __init__(self, first: float, step: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._due = self._loop.time() + first
        self._step = step

    async def next(self) -> None:
        await asyncio.sleep(max(0.0, self._due - self._loop.time()))
        self._due += self._step


class ScriptedLLM:
    def __init__(
        self,
        responder: Responder | None = None,
        first_token_delay: float = 0.0,
        token_delay: float = 0.0,
    ) -> None:
        self.responder = responder
        self.first_token_delay = first_token_delay
        self.token_delay = token_delay
        self._replies: deque[Reply] = deque()
        self._requests: list[dict] = []
        self._lock = threading.Lock()
        self._received = threading.Condition(self._lock)
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    # -- the test's side --------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("ScriptedLLM is not started")
        return f"http://127.0.0.1:{self.port}/v1"

    def queue(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    @property
    def requests(self) -> list[dict]:
        """A snapshot of every request body received so far, in order."""
        with self._lock:
            return list(self._requests)

    @property
    def pending(self) -> int:
        """Scripted replies not served yet."""
        with self._lock:
            return len(self._replies)

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[dict]:
        """Block until `count` requests have arrived (from any thread or process)."""
        with self._received:
            if not self._received.wait_for(lambda: len(self._requests) >= count, timeout):
                raise TimeoutError(f"ScriptedLLM: {len(self._requests)} of {count} requests after {timeout}s")
            return list(self._requests)

    def start(self) -> ScriptedLLM:
        started = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)  # this thread's own loop
            self._loop = loop
            try:
                loop.run_until_complete(self._start_site())
            except BaseException as exc:  # surfaced in start()
                failure.append(exc)
                started.set()
                loop.close()
                return
            started.set()
            loop.run_forever()
            # Requests still in flight (a slow reply nobody waits for any more) end here, at once.
            in_flight = asyncio.all_tasks(loop)
            for task in in_flight:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*in_flight, return_exceptions=True))
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, name="scripted-llm", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> ScriptedLLM:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    async def __aenter__(self) -> ScriptedLLM:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc_info) -> None:
        await asyncio.to_thread(self.stop)

    # -- the server's side ------------------------------------------------------------------

    async def _start_site(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat_completions)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def _next_reply(self, body: dict) -> Reply:
        with self._received:
            self._requests.append(body)
            self._received.notify_all()
            reply = self._replies.popleft() if self._replies else None
        if reply is not None:
            return reply
        if self.responder is None:
            return Reply.error(500, "ScriptedLLM: no scripted reply left")
        try:
            return self.responder(body)
        except Exception as exc:  # the test's bug, told to the client rather than lost in a thread
            return Reply.error(500, f"ScriptedLLM: the responder raised {exc!r}")

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error_response(400, "ScriptedLLM: the request body is not JSON")
        reply = self._next_reply(body)
        if reply.status != 200:
            return _error_response(reply.status, reply.message or "ScriptedLLM error")
        completion_id = f"chatcmpl-scripted-{next(self._ids)}"
        call_ids = [f"call_scripted_{next(self._ids)}" for _ in reply.calls]
        # Pieces on a timetable from the request's arrival (the first after first_token_delay, then
        # one per token_delay), so a late wake-up of this server does not delay every later piece.
        pace = _Timetable(self.first_token_delay, self.token_delay)
        await pace.next()
        if not body.get("stream"):
            return web.json_response(_completion(completion_id, body, reply, call_ids))
        return await self._stream(request, completion_id, body, reply, call_ids, pace)

    async def _stream(
        self, request: web.Request, completion_id: str, body: dict, reply: Reply, call_ids: list[str],
        pace: _Timetable,
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        created = int(time.time())
        model = body.get("model", "scripted")

        async def send(delta: dict, finish_reason: str | None = None) -> None:
            chunk = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
            }
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())

        try:
            await send({"role": "assistant", "content": ""})
            for piece in reply.content_pieces():
                await send({"content": piece})
                await pace.next()
            for index, ((name, arguments), call_id) in enumerate(zip(reply.calls, call_ids)):
                head = {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
                await send({"tool_calls": [head]})
                encoded = json.dumps(arguments)
                for start in range(0, len(encoded), ARGUMENT_PIECE_CHARS):
                    piece = encoded[start : start + ARGUMENT_PIECE_CHARS]
                    await send({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
                    await pace.next()
            await send({}, reply.finish_reason)
            if (body.get("stream_options") or {}).get("include_usage"):
                usage_chunk = {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": _usage(body, reply),
                }
                await response.write(f"data: {json.dumps(usage_chunk)}\n\n".encode())
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except ConnectionResetError:
            pass  # the client stopped listening (an interruption): nothing more to send
        return response


def _completion(completion_id: str, body: dict, reply: Reply, call_ids: list[str]) -> dict:
    message: dict = {"role": "assistant", "content": reply.content, "refusal": None}
    if reply.calls:
        message["tool_calls"] = [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}
            for (name, arguments), call_id in zip(reply.calls, call_ids)
        ]
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "scripted"),
        "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason, "logprobs": None}],
        "usage": _usage(body, reply),
    }


def _usage(body: dict, reply: Reply) -> dict:
    # Words stand in for tokens: enough for code that reads usage to see plausible numbers.
    prompt = sum(len(str(m.get("content") or "").split()) for m in body.get("messages", []))
    completion = len(reply.content_pieces()) + sum(len(json.dumps(args).split()) for _, args in reply.calls)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _error_response(status: int, message: str) -> web.Response:
    error = {"message": message, "type": "scripted_error", "param": None, "code": None}
    return web.json_response({"error": error}, status=status)
