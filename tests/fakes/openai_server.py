"""A local fake OpenAI-compatible server that plays scripted tool-calling conversations.

It speaks the two APIs OpenAI clients use, streaming or not:

- ``POST /v1/chat/completions`` (Chat Completions: vLLM, LM Studio, llama.cpp, ``openai-chat:``)
- ``POST /v1/responses`` (the Responses API: pydantic-ai's ``openai:`` models)

and answers from a *script* (JSON), so tests, UI tests and benchmarks drive a real OpenAI client
without a real model. Run it alone::

    python -m tests.fakes.openai_server --script script.json --port 8801

or in-process (``with FakeOpenAI(script) as fake: ... fake.base_url ...``).

Script::

    {
      "api_key": "sk-test",              # optional: any other bearer key gets 401
      "fail": {"status": 500},           # optional: every request fails so
      "hang": 30,                        # optional: every request waits 30 s first
      "conversations": [
        {
          "match": "todo",               # a user message containing this picks the
                                         # conversation; "" (or no key) matches anything
          "turns": [                     # one model reply per turn
            {"tool_calls": [{"name": "createOrUpdateFiles",
                             "arguments": {"files": [{"path": "index.html", "content": "..."}]}}]},
            {"text": "Done. <task_summary>A todo app.</task_summary>",
             "delay": 0.2,               # optional: seconds before answering
             "fail": {"status": 500, "times": 1},   # optional: the first N hits fail
             "hang": 10, "hang_times": 1}            # optional: the first N hits wait 10 s
          ],
          "then": {"tool_calls": [...]}  # optional: the reply for every later turn
        }
      ]
    }

Which turn a request is at: the newest user message that matches a conversation picks it, and
the turn is the number of assistant replies after that message. So a repeated request (a client
retry, a resumed durable run) gets the same reply, and a follow-up in the same project picks the
conversation its own prompt matches.

``GET /_fake/requests`` lists what was asked (path, model, conversation, turn, the tool results the
request carried, status);
``POST /_fake/script`` replaces the script; ``POST /_fake/reset`` clears the log and hit counts.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

Json = dict[str, Any]


@dataclass
class Reply:
    """What one turn answers: tool calls and/or text."""

    text: str | None
    tool_calls: list[tuple[str, str, str]]  # (call id, name, arguments as JSON)

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.tool_calls else "stop"


@dataclass
class Decision:
    conversation: int | None
    turn: int
    spec: Json
    status: int = 200
    error: str | None = None
    wait: float = 0.0


@dataclass
class FakeState:
    script: Json
    requests: list[Json] = field(default_factory=list)
    hits: dict[tuple[int | None, int], int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


# --- reading requests ------------------------------------------------------------------------


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _chat_turns(messages: list[Json]) -> list[tuple[str, str]]:
    """(kind, text) per message: kind is user, assistant or other."""
    out = []
    for message in messages:
        role = message.get("role")
        if role == "user":
            out.append(("user", _text_of(message.get("content"))))
        elif role == "assistant":
            out.append(("assistant", _text_of(message.get("content"))))
        else:
            out.append(("other", ""))
    return out


def _responses_turns(body: Json) -> list[tuple[str, str]]:
    items = body.get("input", [])
    if isinstance(items, str):
        return [("user", items)]
    out: list[tuple[str, str]] = []
    for item in items:
        kind = item.get("type", "message")
        role = item.get("role")
        if kind == "message" and role == "user":
            out.append(("user", _text_of(item.get("content"))))
        elif (kind == "message" and role == "assistant") or kind in ("function_call", "reasoning"):
            # Consecutive assistant items are one reply.
            if not (out and out[-1][0] == "assistant"):
                out.append(("assistant", ""))
        else:
            out.append(("other", ""))
    return out


def tool_results(chat: bool, body: Json) -> list[str]:
    """What the tools returned, oldest first (a durable run's memory never holds any)."""
    if chat:
        return [
            _text_of(m.get("content")) for m in body.get("messages", []) if m.get("role") == "tool"
        ]
    items = body.get("input", [])
    if isinstance(items, str):
        return []
    return [
        _text_of(item.get("output")) for item in items if item.get("type") == "function_call_output"
    ]


def _choose(script: Json, turns: list[tuple[str, str]]) -> tuple[int | None, int]:
    conversations = script.get("conversations", [])
    for index in range(len(turns) - 1, -1, -1):
        kind, text = turns[index]
        if kind != "user":
            continue
        for number, conversation in enumerate(conversations):
            if conversation.get("match", "") in text:
                replies = sum(1 for k, _ in turns[index + 1 :] if k == "assistant")
                return number, replies
    return None, sum(1 for k, _ in turns if k == "assistant")


def decide(state: FakeState, turns: list[tuple[str, str]]) -> Decision:
    script = state.script
    conversation, turn = _choose(script, turns)
    spec: Json = {}
    if conversation is not None:
        chosen = script["conversations"][conversation]
        listed = chosen.get("turns", [])
        spec = listed[turn] if turn < len(listed) else chosen.get("then", {"text": "OK"})
    else:
        spec = {"text": "This fake server has no script for that conversation."}
    with state.lock:
        key = (conversation, turn)
        hit = state.hits.get(key, 0) + 1
        state.hits[key] = hit
    decision = Decision(conversation, turn, spec)
    wait = float(script.get("hang", 0) or 0)
    if spec.get("hang") and hit <= int(spec.get("hang_times", 1)):
        wait = max(wait, float(spec["hang"]))
    decision.wait = wait + float(spec.get("delay", 0) or 0)
    failure = script.get("fail") or (
        spec.get("fail") if spec.get("fail") and hit <= int(spec["fail"].get("times", 1)) else None
    )
    if failure:
        decision.status = int(failure.get("status", 500))
        decision.error = str(failure.get("message", "The fake server was told to fail"))
    return decision


def reply_of(decision: Decision) -> Reply:
    spec = decision.spec
    calls = []
    for index, call in enumerate(spec.get("tool_calls", [])):
        arguments = call.get("arguments", {})
        encoded = arguments if isinstance(arguments, str) else json.dumps(arguments)
        calls.append(
            (f"call_{decision.conversation}_{decision.turn}_{index}", call["name"], encoded)
        )
    return Reply(text=spec.get("text"), tool_calls=calls)


# --- writing responses -----------------------------------------------------------------------


def _usage_numbers(body: bytes, reply: Reply) -> tuple[int, int]:
    produced = len(reply.text or "") + sum(len(args) for _, _, args in reply.tool_calls)
    return max(1, len(body) // 4), max(1, produced // 4)


def chat_completion(model: str, reply: Reply, usage: tuple[int, int]) -> Json:
    message: Json = {"role": "assistant", "content": reply.text}
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}
            for call_id, name, args in reply.tool_calls
        ]
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason}],
        "usage": {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": sum(usage),
        },
    }


def chat_chunks(model: str, reply: Reply, usage: tuple[int, int]) -> Iterator[Json]:
    base = {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }
    yield {**base, "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}
    if reply.text:
        for start in range(0, len(reply.text), 40):
            piece = reply.text[start : start + 40]
            yield {
                **base,
                "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
            }
    for index, (call_id, name, args) in enumerate(reply.tool_calls):
        first = {
            "index": index,
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        yield {
            **base,
            "choices": [{"index": 0, "delta": {"tool_calls": [first]}, "finish_reason": None}],
        }
        for start in range(0, len(args), 60):
            delta = {"index": index, "function": {"arguments": args[start : start + 60]}}
            yield {
                **base,
                "choices": [{"index": 0, "delta": {"tool_calls": [delta]}, "finish_reason": None}],
            }
    yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": reply.finish_reason}]}
    yield {
        **base,
        "choices": [],
        "usage": {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": sum(usage),
        },
    }


def _response_items(reply: Reply) -> list[Json]:
    items: list[Json] = []
    if reply.text:
        items.append(
            {
                "type": "message",
                "id": f"msg_{uuid.uuid4().hex[:12]}",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": reply.text, "annotations": []}],
            }
        )
    for call_id, name, args in reply.tool_calls:
        items.append(
            {
                "type": "function_call",
                "id": f"fc_{call_id}",
                "call_id": call_id,
                "name": name,
                "arguments": args,
                "status": "completed",
            }
        )
    return items


def response_object(
    model: str,
    reply: Reply,
    usage: tuple[int, int],
    *,
    status: str = "completed",
    items: list[Json] | None = None,
) -> Json:
    return {
        "id": f"resp_{uuid.uuid4().hex[:12]}",
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": model,
        "output": _response_items(reply) if items is None else items,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "error": None,
        "incomplete_details": None,
        "usage": {
            "input_tokens": usage[0],
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": usage[1],
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": sum(usage),
        },
    }


def response_events(model: str, reply: Reply, usage: tuple[int, int]) -> Iterator[Json]:
    final = response_object(model, reply, usage)
    started = {**final, "status": "in_progress", "output": []}
    yield {"type": "response.created", "response": started}
    yield {"type": "response.in_progress", "response": started}
    for index, item in enumerate(final["output"]):
        if item["type"] == "message":
            empty = {**item, "status": "in_progress", "content": []}
            yield {"type": "response.output_item.added", "output_index": index, "item": empty}
            part = {"type": "output_text", "text": "", "annotations": []}
            yield {
                "type": "response.content_part.added",
                "item_id": item["id"],
                "output_index": index,
                "content_index": 0,
                "part": part,
            }
            text = item["content"][0]["text"]
            for start in range(0, len(text), 40):
                yield {
                    "type": "response.output_text.delta",
                    "item_id": item["id"],
                    "output_index": index,
                    "content_index": 0,
                    "delta": text[start : start + 40],
                    "logprobs": [],
                }
            yield {
                "type": "response.output_text.done",
                "item_id": item["id"],
                "output_index": index,
                "content_index": 0,
                "text": text,
                "logprobs": [],
            }
            yield {
                "type": "response.content_part.done",
                "item_id": item["id"],
                "output_index": index,
                "content_index": 0,
                "part": item["content"][0],
            }
        else:
            empty = {**item, "status": "in_progress", "arguments": ""}
            yield {"type": "response.output_item.added", "output_index": index, "item": empty}
            args = item["arguments"]
            for start in range(0, len(args), 60):
                yield {
                    "type": "response.function_call_arguments.delta",
                    "item_id": item["id"],
                    "output_index": index,
                    "delta": args[start : start + 60],
                }
            yield {
                "type": "response.function_call_arguments.done",
                "item_id": item["id"],
                "output_index": index,
                "arguments": args,
            }
        yield {"type": "response.output_item.done", "output_index": index, "item": item}
    yield {"type": "response.completed", "response": final}


# --- the HTTP server -------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    server: FakeServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: the request log is at /_fake/requests

    def _send_json(self, status: int, body: Any) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:
        state = self.server.state
        if self.path == "/_fake/requests":
            with state.lock:
                self._send_json(200, list(state.requests))
        elif self.path.rstrip("/") == "/v1/models":
            self._send_json(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})
        else:
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:
        state = self.server.state
        raw = self._body()
        if self.path == "/_fake/script":
            with state.lock:
                state.script = json.loads(raw)
                state.hits.clear()
            self._send_json(200, {"ok": True})
            return
        if self.path == "/_fake/reset":
            with state.lock:
                state.requests.clear()
                state.hits.clear()
            self._send_json(200, {"ok": True})
            return
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/v1/responses"):
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})
            return
        chat = self.path.rstrip("/").endswith("chat/completions")
        body = json.loads(raw or b"{}")
        entry: Json = {
            "path": self.path,
            "model": body.get("model"),
            "stream": bool(body.get("stream")),
            "at": time.time(),
        }
        with state.lock:
            state.requests.append(entry)
        expected = state.script.get("api_key")
        given = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        if expected and given != expected:
            entry["status"] = 401
            self._send_json(
                401,
                {
                    "error": {
                        "message": "Incorrect API key provided.",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "invalid_api_key",
                    }
                },
            )
            return
        turns = _chat_turns(body.get("messages", [])) if chat else _responses_turns(body)
        decision = decide(state, turns)
        entry.update(
            conversation=decision.conversation,
            turn=decision.turn,
            tool_results=tool_results(chat, body),
        )
        if decision.wait:
            time.sleep(decision.wait)
        if decision.error:
            entry["status"] = decision.status
            self._send_json(
                decision.status,
                {
                    "error": {
                        "message": decision.error,
                        "type": "server_error",
                        "param": None,
                        "code": None,
                    }
                },
            )
            return
        entry["status"] = 200
        reply = reply_of(decision)
        usage = _usage_numbers(raw, reply)
        model = str(body.get("model", "fake"))
        try:
            if not body.get("stream"):
                answer = (
                    chat_completion(model, reply, usage)
                    if chat
                    else response_object(model, reply, usage)
                )
                self._send_json(200, answer)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            if chat:
                for chunk in chat_chunks(model, reply, usage):
                    self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                self.wfile.write(b"data: [DONE]\n\n")
            else:
                for number, event in enumerate(response_events(model, reply, usage)):
                    event["sequence_number"] = number
                    self.wfile.write(
                        f"event: {event['type']}\ndata: ".encode()
                        + json.dumps(event).encode()
                        + b"\n\n"
                    )
            self.wfile.flush()
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            entry["status"] = "client gone"


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: FakeState) -> None:
        super().__init__(address, Handler)
        self.state = state


class FakeOpenAI:
    """The fake server in a background thread: ``with FakeOpenAI(script) as fake: ...``."""

    def __init__(self, script: Json, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = FakeState(script)
        self.server = FakeServer((host, port), self.state)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> list[Json]:
        with self.state.lock:
            return [dict(entry) for entry in self.state.requests]

    def reset(self) -> None:
        """Forget what was asked and where each conversation is (``POST /_fake/reset``)."""
        with self.state.lock:
            self.state.requests.clear()
            self.state.hits.clear()

    def set_script(self, script: Json) -> None:
        with self.state.lock:
            self.state.script = script
            self.state.hits.clear()

    def start(self) -> FakeOpenAI:
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--script", type=Path, required=True, help="JSON script file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8801)
    args = parser.parse_args(argv)
    state = FakeState(json.loads(args.script.read_text()))
    server = FakeServer((args.host, args.port), state)
    print(f"fake OpenAI server on http://{args.host}:{server.server_address[1]}/v1", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        sys.stdout.flush()


if __name__ == "__main__":
    main()
