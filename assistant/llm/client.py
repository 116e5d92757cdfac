"""The OpenAI-compatible chat client: settings, retries with backoff, and one-sentence errors without secrets."""

from __future__ import annotations

from typing import Iterator

from ..errors import LLMError
from ..settings import Settings




def _describe(exc: Exception) -> str:
    """One sentence for the user; never the server's message (it may echo a key)."""
    name = type(exc).__name__
    if isinstance(exc, ValueError):  # json.JSONDecodeError from a malformed body
        return "大模型服务返回了无法解析的内容"
    return {
        "APIConnectionError": "无法连接大模型服务",
        "APITimeoutError": "大模型服务响应超时",
        "AuthenticationError": "大模型服务拒绝了 API 密钥（401）",
        "PermissionDeniedError": "大模型服务拒绝访问（403）",
        "NotFoundError": "大模型服务找不到该模型或地址（404）",
        "RateLimitError": "大模型服务请求过于频繁（429），重试后仍失败",
        "InternalServerError": "大模型服务内部错误（5xx），重试后仍失败",
        "BadRequestError": "大模型服务拒绝了请求（400）",
    }.get(name, f"大模型服务出错（{name}）")


class LLMClient:
    """A thin wrapper over openai.OpenAI with the assistant's settings; retries come from the openai client."""

    def __init__(self, settings: Settings):
        from openai import OpenAI

        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        self.settings = settings
        self.model = settings.llm_model
        self.client = OpenAI(
            base_url=settings.llm_base_url,
            api_key=key or "not-needed",
            timeout=settings.llm_timeout,
            max_retries=settings.llm_max_retries,  # timeouts, 408/409/429 and 5xx, with exponential backoff
        )

    @property
    def label(self) -> str:
        return f"llm:{self.model}"

    def complete(self, prompt: str, max_tokens: int | None = None) -> str:
        try:
            resp = self.client.chat.completions.create(
                model=self.model,
                messages=[{"role": "user", "content": prompt}],
                temperature=self.settings.llm_temperature,
                max_tokens=max_tokens or self.settings.llm_max_answer_tokens,
            )
        except Exception as exc:
            raise LLMError(_describe(exc)) from exc
        try:
            text = resp.choices[0].message.content or ""
        except (AttributeError, IndexError, TypeError) as exc:
            raise LLMError("大模型服务返回了无法解析的内容") from exc
        if not text.strip():
            raise LLMError("大模型服务返回了空回答")
        return text

    def stream(self, prompt: str) -> Iterator[str]:
        try:
            events = self.client.chat.completions.create(
                model=self.model,
                messages=[{"role": "user", "content": prompt}],
                temperature=self.settings.llm_temperature,
                max_tokens=self.settings.llm_max_answer_tokens,
                stream=True,
            )
            finished = False
            for event in events:
                if not event.choices:
                    continue
                choice = event.choices[0]
                delta = getattr(choice.delta, "content", None)
                if delta:
                    yield delta
                if choice.finish_reason:
                    finished = True
        except LLMError:
            raise
        except Exception as exc:
            raise LLMError(_describe(exc) if type(exc).__module__.startswith("openai") else "大模型回答中途中断") from exc
        if not finished:
            raise LLMError("大模型回答中途中断")
