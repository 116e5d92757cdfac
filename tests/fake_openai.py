"""A real local HTTP server speaking the OpenAI protocol (/v1/embeddings, /v1/chat/completions: JSON and SSE)
with scripted replies, for tests of the LLM path."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np


class FakeOpenAI:
    """Start with `with FakeOpenAI() as server:`; `server.base_url` ends in /v1; `server.requests` records calls."""

    def __init__(self, embed_dim: int = 2048, script: list[dict] | None = None):
        self.embed_dim = embed_dim
        self.requests: list[dict] = []
        self.fail_next: list[int] = []  # HTTP status codes to return for the next requests
        # Chat replies, one per request, in order (the last one repeats). Each is a dict:
        #   {"content": "..."}              a normal reply (JSON, or SSE when the request streams);
        #                                   content may be a function of the request payload
        #   {"status": 429}                 an error status
        #   {"hang": 5.0}                   sleep that long before answering (past the client's timeout)
        #   {"content": "...", "cut": True} a stream that stops mid-way, without [DONE]
        #   {"raw": "not json"}             a malformed body
        #   {"content": "...", "pause": 0.2} a stream that waits that long between pieces (a slow model)
        self.script = list(script or [{"content": "资料中未提及。"}])
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _json(self, status: int, payload: dict) -> None:
                body = json.dumps(payload).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _chat(self, payload: dict) -> None:
                step = outer.script.pop(0) if len(outer.script) > 1 else outer.script[0]
                if "hang" in step:
                    time.sleep(step["hang"])
                if "status" in step:
                    return self._json(step["status"], {"error": {"message": "scripted", "type": "error"}})
                if "raw" in step:
                    body = step["raw"].encode("utf-8")
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                content = step.get("content", "")
                if callable(content):  # a reply computed from the request, e.g. citing the right passage
                    content = content(payload)
                if not payload.get("stream"):
                    return self._json(200, {
                        "id": "cmpl-1", "object": "chat.completion", "created": 0, "model": payload.get("model"),
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    })
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                pieces = [content[i : i + 4] for i in range(0, len(content), 4)]
                if step.get("cut"):
                    pieces = pieces[: max(1, len(pieces) // 2)]
                for piece in pieces:
                    time.sleep(step.get("pause", 0))
                    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": payload.get("model"),
                             "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                    self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode("utf-8"))
                    self.wfile.flush()
                if step.get("cut"):
                    self.close_connection = True
                    return
                done = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": payload.get("model"),
                        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
                self.wfile.write(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode("utf-8"))
                self.wfile.flush()

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                payload = json.loads(self.rfile.read(length) or b"{}")
                outer.requests.append({"path": self.path, "headers": dict(self.headers), "json": payload})
                if self.path.rstrip("/") == "/v1/chat/completions" and not outer.fail_next:
                    return self._chat(payload)
                if outer.fail_next:
                    status = outer.fail_next.pop(0)
                    return self._json(status, {"error": {"message": "scripted failure", "type": "server_error"}})
                if self.path.rstrip("/") == "/v1/embeddings":
                    texts = payload["input"] if isinstance(payload["input"], list) else [payload["input"]]
                    data = [
                        {"object": "embedding", "index": i, "embedding": outer.vector(t).tolist()}
                        for i, t in enumerate(texts)
                    ]
                    return self._json(200, {"object": "list", "data": data, "model": payload.get("model"),
                                            "usage": {"prompt_tokens": 0, "total_tokens": 0}})
                return self._json(404, {"error": {"message": f"no route {self.path}"}})

        class QuietServer(ThreadingHTTPServer):
            def handle_error(self, request, client_address):  # a client that hung up (timeout tests)
                pass

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def vector(self, text: str) -> np.ndarray:
        """A deterministic embedding (character-bigram hashing) so retrieval through the server is meaningful."""
        import zlib

        vec = np.zeros(self.embed_dim, dtype=np.float32)
        for a, b in zip(text, text[1:]):
            vec[zlib.crc32((a + b).encode("utf-8")) % self.embed_dim] += 1.0
        return vec

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> "FakeOpenAI":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def chat_requests(self) -> list[dict]:
        return [r for r in self.requests if r["path"].rstrip("/") == "/v1/chat/completions"]


def passage_number(payload: dict, needle: str) -> int:
    """The [n] of the first numbered passage in the prompt that contains `needle` (what a faithful model cites)."""
    import re

    prompt = payload["messages"][-1]["content"]
    for m in re.finditer(r"\[(\d+)\]《[^》]*》\n(.*?)(?=\n\n\[\d+\]《|\n\n问题：)", prompt, re.S):
        if needle in m.group(2).replace(" ", ""):
            return int(m.group(1))
    raise AssertionError(f"no passage in the prompt contains {needle!r}")
