"""The server's front door: every request's Host, Origin, bearer token and size are checked from its headers, before
any of its body is read or spooled, and its body is cut off at the limit while it streams in."""

from __future__ import annotations

import json

import anyio
from starlette.requests import Request

from .http_api import FRAMEWORK_REFUSALS, ApiError, TokenGuard, framework_refusal
from .memory import HeapTrimmer

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
UPLOAD_PATH = "/v1/ingest"
ASK_PATHS = frozenset({"/v1/ask", "/v1/chat/completions"})
# Questions in the server at once (answering or waiting for a thread); one more is told to come back (503 with
# Retry-After) instead of queueing without end. Below the API's 64 threads, so status, documents and the web UI keep
# threads of their own under a flood of questions.
MAX_ASKS_IN_FLIGHT = 32
RETRY_AFTER_S = 1
# A client that stops sending a request's body for this long is answered 408 and let go (it held a worker and a
# slot of MAX_ASKS_IN_FLIGHT for as long as it liked). server.py times out slow request headers.
BODY_IDLE_S = 30.0
MULTIPART_OVERHEAD = 1 << 20  # an upload's body beyond its files: part headers and boundaries, generously


def _host_name(host: str) -> str:
    """The name in a Host header, without its port: "127.0.0.1:7860" -> 127.0.0.1, "[::1]:7860" -> ::1."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


class Gate:
    """ASGI middleware in front of the HTTP API and the web UI.

    - Host: only names the server answers to (`hosts`; None: any), so a web page cannot reach a loopback server by
      DNS rebinding.
    - Origin: a browser's state-changing request (POST, PUT, PATCH, DELETE) only from the server's own origin or
      one of `origins`; a client that sends no Origin (curl, the openai package) is not a browser and passes.
    - Token: under /v1, checked before the body is read, so an unauthenticated upload writes nothing to disk.
    - Size: a declared Content-Length over the route's limit is refused at once; a body without one is counted as
      it streams and cut off at the limit.
    """

    def __init__(self, app, guard: TokenGuard, hosts: frozenset[str] | None, origins: frozenset[str],
                 json_limit: int, upload_limit: int):
        self.app, self.guard, self.hosts, self.origins = app, guard, hosts, origins
        self.json_limit, self.upload_limit = json_limit, upload_limit
        self.asking = 0  # questions in flight (the event loop is one thread: a plain counter)
        self.trimmer = HeapTrimmer()  # hands a burst's freed heap back once no question is in flight

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        try:
            await self._check(scope, headers)
        except ApiError as refused:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await refused.response()(scope, receive, send)
            return
        path = scope.get("path", "")
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not path.startswith("/v1/"):
            await self.app(scope, receive, in_error_shape(send, scope))
            return
        if path not in ASK_PATHS:
            await self._bounded(scope, receive, send, self._limit(path))
            return
        if self.asking >= MAX_ASKS_IN_FLIGHT:
            busy = ApiError(503, "busy", f"服务器正忙（同时在回答 {self.asking} 个问题），请 {RETRY_AFTER_S} 秒后再试。",
                            "api_error", {"Retry-After": str(RETRY_AFTER_S)})
            await busy.response()(scope, receive, send)
            return
        self.asking += 1
        self.trimmer.busy()
        try:
            await self._bounded(scope, receive, send, self._limit(path))
        finally:
            self.asking -= 1
            if self.asking == 0:
                self.trimmer.settled()

    def _limit(self, path: str) -> int:
        """The most body a route reads: an upload's files, or a JSON request."""
        return self.upload_limit if path == UPLOAD_PATH else self.json_limit

    async def _check(self, scope, headers: dict[str, str]) -> None:
        host = headers.get("host", "")
        if self.hosts is not None and _host_name(host).lower() not in self.hosts:
            raise ApiError(421, "invalid_host", f"本服务器不以 {host or '（空）'} 这个名字提供服务（请求头 Host）。")
        method = scope.get("method", "GET")
        origin = headers.get("origin")
        if method in STATE_CHANGING or scope["type"] == "websocket":
            own = f"{'https' if scope.get('scheme') in ('https', 'wss') else 'http'}://{host}"
            if origin is not None and origin != own and origin not in self.origins:
                raise ApiError(403, "forbidden_origin", f"不接受来自 {origin} 的网页发来的修改请求。")
            if origin is None and headers.get("sec-fetch-site") == "cross-site":
                raise ApiError(403, "forbidden_origin", "不接受其他网站的网页发来的修改请求。")
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/v1/"):  # /healthz and /readyz take no token
            return
        await self.guard(Request(scope))
        declared = headers.get("content-length")
        limit = self._limit(path)
        if declared is not None:
            if not declared.isdigit():
                raise ApiError(400, "invalid_length", "请求头 Content-Length 不是一个数。")
            if int(declared) > limit:
                raise ApiError(413, "too_large", f"请求体过大（{int(declared):,} 字节），上限为 {limit:,} 字节。")

    async def _bounded(self, scope, receive, send, limit: int) -> None:
        """Run the app with its body cut off past `limit` bytes (a body sent without Content-Length, or longer than
        it said), or once the client sends nothing for BODY_IDLE_S: then whatever the app answers is dropped, and
        413 (or 408) is answered instead."""
        seen, started, whole = 0, False, False
        cut: ApiError | None = None

        async def bounded_receive():
            nonlocal seen, cut, whole
            if cut is not None:
                raise cut
            if whole:  # the body is in: what comes next is the client leaving, whenever it does
                return await receive()
            try:
                with anyio.fail_after(BODY_IDLE_S):
                    message = await receive()
            except TimeoutError:
                cut = ApiError(408, "request_timeout", f"请求体在 {BODY_IDLE_S:.0f} 秒内没有送达，连接已关闭。",
                               headers={"Connection": "close"})
                raise cut from None
            if message["type"] == "http.request":
                whole = not message.get("more_body", False)
                seen += len(message.get("body", b""))
                if seen > limit:
                    cut = BodyTooLarge(limit)
                    raise cut
            return message

        async def guarded_send(message):
            nonlocal started
            if cut is not None:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, bounded_receive, guarded_send)
        except Exception:
            if cut is None:
                raise
        if cut is not None and not started:
            await cut.response()(scope, receive, send)


def in_error_shape(send, scope):
    """`send`, with a framework's default error body ({"detail": "Not Found"}, a validation list) rewritten into the
    API's {"error": {…}} shape: under Gradio's routes, which the API's error handlers do not reach. Every other
    response passes through untouched, streams included."""
    held: dict | None = None

    async def rewriting(message):
        nonlocal held
        if message["type"] == "http.response.start":
            if message["status"] in FRAMEWORK_REFUSALS:
                held = message
                return
            await send(message)
            return
        if held is None or message["type"] != "http.response.body":
            await send(message)
            return
        start, held = held, None
        body = message.get("body", b"")
        try:
            detail = json.loads(body)["detail"] if not message.get("more_body") else None
        except (ValueError, KeyError, TypeError):
            detail = None
        if detail in ("Not Found", "Method Not Allowed") or isinstance(detail, list):
            code, words = framework_refusal(start["status"], scope.get("method", ""), scope.get("path", ""))
            body = json.dumps({"error": {"message": words, "type": "invalid_request_error", "code": code}},
                              ensure_ascii=False).encode()
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            start = {**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]}
            message = {**message, "body": body}
        await send(start)
        await send(message)

    return rewriting


class BodyTooLarge(ApiError):
    def __init__(self, limit: int):
        super().__init__(413, "too_large", f"请求体过大，上限为 {limit:,} 字节。")


def allowed_hosts(settings, bound: str) -> frozenset[str] | None:
    """The names the server answers to: ASSISTANT_ALLOWED_HOSTS, else the loopback names when bound to loopback
    (None: any name, for a server bound beyond loopback that sets none)."""
    named = {h.strip().lower() for h in (settings.allowed_hosts or "").split(",") if h.strip()}
    if named:
        return frozenset(named | ({bound.lower()} if bound not in ("0.0.0.0", "::") else set()))
    return LOOPBACK_NAMES | {bound.lower()} if bound in LOOPBACK_NAMES else None


def allowed_origins(settings) -> frozenset[str]:
    return frozenset(o.strip().rstrip("/") for o in (settings.allowed_origins or "").split(",") if o.strip())
