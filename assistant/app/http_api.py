"""The HTTP API beside the web UI: JSON routes under /v1 (ask, ingest, documents, facts, status), an OpenAI-compatible
/v1/chat/completions with /v1/models, /healthz, and the OpenAPI page at /docs (made by server.py
with fastapi-offline, which serves Swagger UI's files itself: FastAPI's own page loads them from a CDN).

Every error is one JSON object in OpenAI's shape, {"error": {"message", "type", "code"}}, with the message in Chinese.
Beyond loopback (or whenever tokens are configured) the /v1 routes need `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import json
import logging
import re
import time
import uuid
from pathlib import Path
from typing import Iterator

from fastapi import APIRouter, FastAPI, File, Query, Request, UploadFile
from fastapi.routing import APIRoute
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ..answer.turn import MAX_HISTORY, checked_pieces
from ..errors import AssistantError, DiskFull, IndexMissing
from .api import Answer, Assistant, public_source
from .uploads import Refusal, UploadService, public_report, report_lines

log = logging.getLogger(__name__)

MODEL_ID = "news-qa-assistant"  # the one model /v1/models lists; any model name a client sends is answered by it
TOKEN_FAILURE_DELAY_S = 1.0  # a wrong token waits this long, one at a time, so guessing is slow
MAX_MESSAGES = 2 * MAX_HISTORY + 20  # a chat request's messages: the questions, the replies and a few system lines
# /v1/facts answers a page of facts: this many unless asked otherwise, and never more than the maximum in one reply.
FACTS_PAGE_DEFAULT = 1000
FACTS_PAGE_MAX = 10000
FACTS_OFFSET_MAX = 10**12  # beyond any archive; past SQLite's 64-bit integers an offset was a 500


# What pydantic's commonest validation errors mean, for the one-sentence message (others: "格式不对").
INVALID = {
    "missing": "缺少", "json_invalid": "不是合法的 JSON", "model_attributes_type": "应为 JSON 对象", "dict_type": "应为 JSON 对象",
    "string_type": "应为字符串", "list_type": "应为列表", "int_parsing": "应为整数", "int_type": "应为整数",
    "bool_type": "应为 true 或 false", "bool_parsing": "应为 true 或 false", "too_short": "不能为空",
    "greater_than_equal": "超出范围", "less_than_equal": "超出范围", "too_long": "条数超过上限",
}


class ApiError(Exception):
    """An error answered as JSON with this status."""

    def __init__(self, status: int, code: str, message: str, kind: str = "invalid_request_error",
                 headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.kind = status, code, message, kind
        self.headers = {**({"WWW-Authenticate": "Bearer"} if status == 401 else {}), **(headers or {})}

    def response(self) -> JSONResponse:
        """The error as the API answers it (an ASGI app: the front door sends it before any route runs)."""
        return error_response(self.status, self.code, self.message, self.kind, self.headers or None)


# What the frameworks (Starlette's and FastAPI's, under the API and under Gradio's routes) refuse before a route of
# ours runs, said in the API's words: the code, and the sentence for the request's {method} and {path}.
FRAMEWORK_REFUSALS = {
    400: ("invalid_json", "请求体无法解析：请发送 UTF-8 编码的 JSON。"),
    404: ("not_found", "没有这个地址：{path}。"),
    405: ("method_not_allowed", "{path} 不接受 {method} 请求。"),
    413: ("too_large", "请求体过大。"),
    415: ("unsupported_media_type", "请求体的类型不受支持。"),
    422: ("invalid_request", "请求的内容不符合接口要求。"),
}


def framework_refusal(status: int, method: str, path: str) -> tuple[str, str]:
    """The code and the sentence for a framework's own refusal with this status."""
    code, words = FRAMEWORK_REFUSALS.get(status, ("invalid_request", "请求无法处理。"))
    return code, words.format(method=method, path=path)


def error_response(status: int, code: str, message: str, kind: str = "invalid_request_error",
                   headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": code}}, status_code=status, headers=headers)


def _as_api_error(exc: Exception) -> ApiError:
    """The status and code of an error a request can cause; anything else is a 500 whose details go to the log."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, AssistantError):  # errors.py's table
        kind = "invalid_request_error" if exc.http_status < 500 else "api_error"
        return ApiError(exc.http_status, exc.code, exc.message_for("api"), kind)
    log.exception("an API request failed")  # the details (paths, library messages) stay in the server's log
    return ApiError(500, "internal_error", f"服务器内部错误（{type(exc).__name__}），请稍后再试；详情见服务器日志。", "api_error")


# --- request and response bodies ---------------------------------------------------------


class AskRequest(BaseModel):
    """A question, with the earlier questions of its conversation (oldest first) for follow-ups."""

    question: str = Field(description="问题，例如“沁水县2024年处罚金额多少？”")
    history: list[str] = Field(default_factory=list, max_length=MAX_HISTORY,
                               description=f"本次对话中之前的问题，由早到晚（最多 {MAX_HISTORY} 条）")


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict] | None = None

    def text(self) -> str:
        """The message's text (OpenAI allows a list of parts; the text parts are joined)."""
        if isinstance(self.content, list):
            return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    """OpenAI's chat completion request; sampling settings are accepted and ignored (the answer is checked text)."""

    model_config = ConfigDict(extra="allow")

    model: str = MODEL_ID
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    stream: bool = False
    stream_options: dict | None = None  # {"include_usage": true}: a last chunk with the token counts


def usage(messages: list[dict], text: str) -> dict:
    """OpenAI's token counts of a reply (tiktoken cl100k, as the chunker counts): clients such as llm read them."""
    from ..text.tokens import count_tokens

    prompt = sum(count_tokens(m["content"]) for m in messages)
    completion = count_tokens(text)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def citation_dicts(answer: Answer) -> list[dict]:
    """The answer's citations as the API returns them: marker, heading, source and the passage's text."""
    return [
        {"marker": c.get("marker", i), "heading": p.heading, **c}
        for i, (c, p) in enumerate(zip(answer.to_dict()["citations"], answer.citations), start=1)
    ]


_UNSAFE_LINK = re.compile(r"\[([^\]]*)\]\(\s*(?!https?://)(?:[^()]|\([^()]*\))*\)")  # a Markdown link to anything but http(s)
_UNSAFE_SCHEME = re.compile(r"(?i)\b(javascript|vbscript|data|file)\s*:")


def plain(text: str) -> str:
    """Text a Markdown-rendering client shows as text: HTML escaped, links other than http(s) reduced to their words
    and script schemes broken (a document or a model can write anything)."""
    text = _UNSAFE_SCHEME.sub(r"\1：", _UNSAFE_LINK.sub(r"\1", text))
    return html.escape(text, quote=False)


def chat_text(answer: Answer) -> str:
    """The answer as a chat front end shows it: the text with its [n] markers, then the sources, one a line, as plain
    text (see plain())."""
    cites = citation_dicts(answer)
    text = answer.answer.strip()
    if answer.answered and cites and "[" not in text:
        # every passage the answer was read from (both sides of a comparison, each part of a multi-part question)
        text += " " + "".join(f"[{c['marker']}]" for c in cites)
    lines = [text]
    for w in answer.warnings:
        lines.append(f"（提示：{w}）")
    if cites:
        lines.append("")
        lines.append("来源：")
        lines += [f"[{c['marker']}] {c['heading']}（{Path(c['source']).name or c['doc_id']}）" for c in cites]
    return plain("\n".join(lines))


# --- authorization ---------------------------------------------------------------------------


class TokenGuard:
    """Bearer tokens for the /v1 routes, compared in constant time; a wrong one is answered slowly, one at a time."""

    def __init__(self, tokens: list[str], required: bool):
        self.tokens = [t.encode() for t in tokens]
        self.required = required or bool(tokens)
        self._slow: asyncio.Lock | None = None

    async def __call__(self, request: Request) -> None:
        if not self.required:
            return
        if not self.tokens:
            raise ApiError(401, "no_tokens", "此服务器对外提供服务，HTTP API 需要令牌：请在服务器上设置 ASSISTANT_API_TOKENS。",
                           "authentication_error")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        given_b = given.strip().encode()
        if scheme.lower() == "bearer" and any(hmac.compare_digest(given_b, t) for t in self.tokens):
            return
        self._slow = self._slow or asyncio.Lock()
        async with self._slow:
            await asyncio.sleep(TOKEN_FAILURE_DELAY_S)
        raise ApiError(401, "invalid_token", "缺少或无效的 API 令牌（请求头 Authorization: Bearer <令牌>）。",
                       "authentication_error")


# --- the routes ------------------------------------------------------------------------------


def install(app: FastAPI, assistant: Assistant, service: UploadService) -> None:
    """Add the API's routes, error handlers and /docs to `app` (before the web UI is mounted at "/"); uploads and
    deletions go through the same `service` as the web UI's. The bearer token is checked by the front door
    (app/gate.py), before a request's body is read."""
    v1 = APIRouter(prefix="/v1")

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return exc.response()

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        """A failure no route turned into an ApiError still answers in the error shape (its details in the log)."""
        return _as_api_error(exc).response()

    @app.exception_handler(StarletteHTTPException)
    async def framework_error(request: Request, exc: StarletteHTTPException):
        """The framework's own refusals under the API's routes (a body that is not UTF-8 JSON: "There was an error
        parsing the body"), in the error shape, in Chinese."""
        code, message = framework_refusal(exc.status_code, request.method, request.url.path)
        return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path") and not isinstance(p, int))
        kind = first.get("type", "")
        if kind == "missing":
            told = f"缺少字段 {where}" if where else "缺少请求体"
        else:
            told = f"{f'字段 {where} ' if where else '请求体'}{INVALID.get(kind, '格式不对')}"
        if kind == "json_invalid":  # not JSON at all: the request is bad, not its fields
            return error_response(400, "invalid_json", f"请求格式不对：{told}。")
        return error_response(422, "invalid_request", f"请求格式不对：{told}。")

    def answered(call):
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - every failure becomes one JSON error
            raise _as_api_error(exc) from None

    def health() -> dict:
        try:
            degraded = assistant.degraded()
        except IndexMissing:
            degraded = None
        except Exception as exc:  # noqa: BLE001 - the index cannot be read: the server is alive, not ready
            log.warning("the status for /healthz failed: %s", type(exc).__name__)
            degraded = "索引无法读取"
        return {"status": "degraded", "reason": degraded} if degraded else {"status": "ok"}

    @app.get("/healthz", tags=["状态"], summary="存活检查（无需令牌）：ok，或 degraded 及原因")
    def healthz() -> dict:
        return health()

    @app.get("/readyz", tags=["状态"], summary="就绪检查（无需令牌，供负载均衡）：degraded 时为 503")
    def readyz():
        state = health()
        return state if state["status"] == "ok" else JSONResponse(state, status_code=503)

    @v1.post("/ask", tags=["问答"], summary="回答一个问题，附引用段落（与 assistant ask --json 相同）")
    def ask(body: AskRequest) -> dict:
        return answered(lambda: assistant.ask(body.question, history=body.history).to_dict())

    @v1.get("/status", tags=["状态"], summary="索引与回答方式")
    def status() -> dict:
        # Where the server keeps its index is not a client's business (`assistant status` shows it on the server).
        return answered(lambda: {k: v for k, v in assistant.status().to_dict().items() if k != "index_dir"})

    @v1.get("/documents", tags=["文档"], summary="已导入的文档")
    def documents() -> dict:
        try:
            docs = assistant.documents()
        except IndexMissing:
            docs = []
        return {"documents": [d.to_dict() | {"source": public_source(d.source)} for d in docs]}

    @v1.delete("/documents/{doc_id:path}", tags=["文档"], summary="删除一篇文档（其段落与数据一并删除）")
    def delete(doc_id: str) -> dict:
        if not answered(lambda: service.delete(doc_id)):
            raise ApiError(404, "document_not_found", f"没有找到文档 {doc_id}。")
        return {"deleted": doc_id}

    @v1.post("/ingest", tags=["文档"], summary="上传并导入文档（.txt、.md、.jsonl）")
    def ingest(files: list[UploadFile] = File(description="一个或多个文件")) -> dict:
        kept = [service.keep_stream(f.filename, f.size or 0, f.file) for f in files]
        refused = [k for k in kept if isinstance(k, Refusal)]
        saved = [k for k in kept if not isinstance(k, Refusal)]
        if not saved:
            status = max(r.status for r in refused)  # a full disk (507) says so in the same code as errors.DiskFull
            raise ApiError(status, DiskFull.code if status == DiskFull.http_status else "nothing_ingested",
                           " ".join(r.message for r in refused), "api_error" if status >= 500 else "invalid_request_error")
        report = answered(lambda: service.ingest(saved))
        return {"report": public_report(report).to_dict(), "messages": report_lines(report) + [r.message for r in refused]}

    @v1.get("/facts", tags=["数据表"], summary="从文章中抽取的数据（按主体、指标、年份筛选）")
    def facts(subject: str | None = Query(None, description="主体（地区、公司、机构等），如 沁水、联想"),
              metric: str | None = Query(None, description="指标，如 处罚金额"),
              year: int | None = Query(None, ge=1900, le=2100, description="年份，如 2024"),
              limit: int = Query(FACTS_PAGE_DEFAULT, ge=1, le=FACTS_PAGE_MAX, description="最多返回多少条"),
              offset: int = Query(0, ge=0, le=FACTS_OFFSET_MAX, description="从第几条开始（0 起）")) -> dict:
        filters = {"subject": subject or None, "metric": metric or None, "year": year}

        def page() -> tuple[list, int]:
            try:
                return assistant.facts(**filters, limit=limit, offset=offset), assistant.count_facts(**filters)
            except IndexMissing:
                return [], 0

        found, total = answered(page)
        return {"total": total, "offset": offset, "facts": [f.model_dump() | {"display": f.display()} for f in found]}

    @v1.get("/models", tags=["OpenAI 兼容"], summary="可用的模型（OpenAI 格式）")
    def models() -> dict:
        return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "news-qa-assistant"}]}

    @v1.post("/chat/completions", tags=["OpenAI 兼容"],
             summary="OpenAI 兼容的对话接口：回答最后一条用户消息，之前的用户消息作为上下文；回答带 [n] 标记与 citations")
    def chat_completions(body: ChatRequest):
        messages = [{"role": m.role, "content": m.text()} for m in body.messages]
        answer = answered(lambda: assistant.chat(messages))
        created, ident = int(time.time()), f"chatcmpl-{uuid.uuid4().hex}"
        text = chat_text(answer)
        extra = {"citations": citation_dicts(answer), "answered": answer.answered, "warnings": answer.warnings}
        if not body.stream:
            return {
                "id": ident, "object": "chat.completion", "created": created, "model": body.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": usage(messages, text), **extra,
            }
        with_usage = bool((body.stream_options or {}).get("include_usage"))

        def events() -> Iterator[str]:
            def chunk(delta: dict | None, finish: str | None = None, **more) -> str:
                choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
                body_ = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": body.model,
                         "choices": choices, **({"usage": None} if with_usage else {}), **more}
                return f"data: {json.dumps(body_, ensure_ascii=False)}\n\n"

            yield chunk({"role": "assistant", "content": ""})
            for piece in checked_pieces(text):  # the one streaming policy: the text is checked already
                yield chunk({"content": piece})
            yield chunk({}, "stop", **extra)
            if with_usage:  # as OpenAI sends it: after the last choice, a chunk with no choices
                yield chunk(None, usage=usage(messages, text))
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    app.include_router(v1)

    # Anything else under /v1 is answered here, in the API's error shape, before the web UI (mounted at "/") would
    # answer it with its own English 404: a known path asked with another method is a 405 that names the right one.
    @app.api_route("/v1/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    def unknown(request: Request, rest: str):
        path = request.url.path
        allowed = sorted({m for r in v1.routes if isinstance(r, APIRoute) and r.path_regex.match(path)
                          for m in r.methods} - {"HEAD"})
        if allowed:
            return error_response(405, "method_not_allowed", f"{path} 不接受 {request.method} 请求，请用 {'、'.join(allowed)}。",
                                  headers={"Allow": ", ".join(allowed)})
        return error_response(404, "not_found", f"没有这个接口：{path}（接口列表见 /docs）。")
