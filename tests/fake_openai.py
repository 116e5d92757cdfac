"""A real local HTTP server speaking the OpenAI protocol (/v1/embeddings) with scripted behaviour, for tests."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np


class FakeOpenAI:
    """Start with `with FakeOpenAI() as server:`; `server.base_url` ends in /v1; `server.requests` records calls."""

    def __init__(self, embed_dim: int = 2048):
        self.embed_dim = embed_dim
        self.requests: list[dict] = []
        self.fail_next: list[int] = []  # HTTP status codes to return for the next requests
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

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                payload = json.loads(self.rfile.read(length) or b"{}")
                outer.requests.append({"path": self.path, "headers": dict(self.headers), "json": payload})
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

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
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
