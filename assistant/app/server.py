"""`assistant serve`: one FastAPI app on one port, the HTTP API (/v1, /docs, /healthz) and the Gradio web UI at "/",
sharing the assistant, its write lock and its background embedder."""

from __future__ import annotations

import signal
import socket
import threading

from ..errors import UIError
from .api import Assistant
from .gate import MULTIPART_OVERHEAD, Gate, allowed_hosts, allowed_origins
from .http_api import TokenGuard, install
from .uploads import UploadService
from .ui import CSS, PIN_CHINESE, BackgroundEmbedder, LoginGuard, build_app, parse_auth

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
SHUTDOWN_GRACE_S = 5  # seconds requests get to finish when the server is stopped
UPLOAD_FILES_PER_REQUEST = 10  # POST /v1/ingest reads at most this many files' worth of body (ui_max_upload_mb each)
HEADERS_TIMEOUT_S = 10  # a request's line and headers must arrive within this (gate.py times out a stalled body)
API_THREADS = 64  # worker threads for the API's blocking routes (FastAPI's default pool has 40)


class ChinesePage:
    """ASGI middleware: Gradio's page served as <html lang="zh-CN"> with the locale pinned before any of Gradio's
    scripts run. Only a GET answered with HTML is touched; every other request and stream passes straight through.
    (A BaseHTTPMiddleware wrapped every request, and logged "No response returned." with a traceback whenever a
    browser left while a request was still open.)"""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "GET":
            await self.app(scope, receive, send)
            return
        start: dict | None = None
        chunks: list[bytes] = []

        async def rewrite(message):
            nonlocal start
            if message["type"] == "http.response.start":
                headers = {k.lower(): v for k, v in message.get("headers", [])}
                html = headers.get(b"content-type", b"").startswith(b"text/html") and b"content-encoding" not in headers
                if not html:
                    await send(message)
                    return
                start = message
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            page = b"".join(chunks).decode("utf-8").replace('lang="en"', 'lang="zh-CN"', 1)
            body = page.replace("<head>", "<head>" + PIN_CHINESE, 1).encode("utf-8")
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body, "more_body": False})

        await self.app(scope, receive, rewrite)


def timely_h11():
    """uvicorn's HTTP/1.1 protocol, with one more deadline: a request's line and headers must arrive within
    HEADERS_TIMEOUT_S of the connection opening, or of the previous response on it. (uvicorn waits for ever, so a
    client sending its headers a byte at a time held a connection, and a file descriptor, as long as it liked.)"""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class TimelyH11(H11Protocol):
        _headers_due = None

        def _expect_headers(self) -> None:
            if self._headers_due is None and not self.transport.is_closing():
                self._headers_due = self.loop.call_later(HEADERS_TIMEOUT_S, self._too_slow)

        def _too_slow(self) -> None:
            self._headers_due = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()  # nothing of a request was answered: there is no one to tell

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._expect_headers()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._headers_due is not None and self.conn.their_state is not h11.IDLE:
                self._headers_due.cancel()  # the request's headers are in
                self._headers_due = None

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._expect_headers()

        def connection_lost(self, exc) -> None:
            if self._headers_due is not None:
                self._headers_due.cancel()
                self._headers_due = None
            super().connection_lost(exc)

    return TimelyH11


def api_tokens(settings) -> list[str]:
    """The API's bearer tokens: ASSISTANT_API_TOKENS (comma-separated) and/or a file with one token a line."""
    tokens = [t.strip() for t in (settings.api_tokens.get_secret_value() if settings.api_tokens else "").split(",")]
    if settings.api_tokens_file is not None:
        try:
            tokens += [ln.strip() for ln in settings.api_tokens_file.read_text(encoding="utf-8").splitlines()]
        except OSError as exc:
            raise UIError(f"无法读取令牌文件 {settings.api_tokens_file}（{exc.strerror}）。") from None
    return [t for t in tokens if t]


def _stopped(signum, frame) -> None:
    raise SystemExit(0)


def serve(assistant: Assistant, host: str = "127.0.0.1", port: int = 7860) -> None:
    """Serve the UI and the API; binding beyond loopback requires users for the UI (ASSISTANT_UI_AUTH or
    ASSISTANT_UI_AUTH_FILE) and bearer tokens for the API (ASSISTANT_API_TOKENS or ASSISTANT_API_TOKENS_FILE)."""
    settings = assistant.settings
    users = parse_auth(settings.ui_auth.get_secret_value() if settings.ui_auth else None, settings.ui_auth_file)
    tokens = api_tokens(settings)
    beyond_loopback = host not in LOOPBACK
    if beyond_loopback and not users:
        raise UIError(
            f"在 {host} 上对外提供服务需要登录：请设置 ASSISTANT_UI_AUTH=用户名:密码（或 ASSISTANT_UI_AUTH_FILE）。"
        )
    import anyio.to_thread
    import gradio as gr
    import uvicorn
    from fastapi_offline import FastAPIOffline

    # Bind first, so a port in use or an address not of this machine is an OSError the command names.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))

    write_lock = threading.Lock()  # ingest and delete one at a time (UI and API); questions read concurrently
    embedder = BackgroundEmbedder(assistant, write_lock)
    embedder.kick()  # vectors a slow embedder left pending follow in the background
    changes = UploadService(assistant, write_lock, embedder.kick)  # uploads and deletions, UI and API alike
    blocks = build_app(assistant, changes)
    blocks.queue(default_concurrency_limit=4)
    # /docs and /redoc with Swagger UI's and ReDoc's files served from the fastapi-offline package (no CDN).
    app = FastAPIOffline(title="新闻问答助手 API", version="1", docs_url="/docs", redoc_url="/redoc",
                  description="根据已导入的新闻回答问题，每个回答附引用段落。OpenAI 兼容接口：/v1/chat/completions。")
    app.add_middleware(ChinesePage)
    app.add_middleware(  # outermost: nothing is read before the front door's checks
        Gate, guard=TokenGuard(tokens, required=beyond_loopback), hosts=allowed_hosts(settings, host), origins=allowed_origins(settings),
        json_limit=settings.max_request_kb * 1024,
        upload_limit=int(settings.ui_max_upload_mb * 1e6) * UPLOAD_FILES_PER_REQUEST + MULTIPART_OVERHEAD,
    )
    install(app, assistant, changes)

    @app.on_event("startup")
    async def more_threads() -> None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = API_THREADS

    app = gr.mount_gradio_app(
        app, blocks, path="", server_name=host, server_port=port, auth=LoginGuard(users).check if users else None,
        show_error=False,
        # Gradio's own cap protects the server (its message is in English); upload() refuses at the documented
        # limit with a sentence in Chinese.
        max_file_size=int(settings.ui_max_upload_mb * 2e6) + 1_000_000, css=CSS, footer_links=["api"],
        theme=gr.themes.Default(font=["Noto Sans CJK SC", "WenQuanYi Zen Hei", "sans-serif"],
                                font_mono=["Noto Sans Mono CJK SC", "monospace"]),
    )
    # Open pages keep streams open: without a bound, Ctrl-C (SIGTERM) would wait for every browser tab to close.
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=SHUTDOWN_GRACE_S, http=timely_h11())
    # uvicorn stops gracefully on SIGTERM, then raises the signal again under the handler it found there: the default
    # one killed the process on the spot, skipping the embedder's stop below and atexit (its worker processes'
    # semaphores were reported "leaked", the export folder stayed). A stop asked for is a normal exit.
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _stopped)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        embedder.stop()
