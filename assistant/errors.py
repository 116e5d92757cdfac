"""Errors a user can cause, and the one table of how every interface reports them.

Every layer raises these; each carries a one-sentence message (Chinese, for users). The class says the rest, once:
the CLI prints `错误：<message>` and exits with `exit_code`; the HTTP API answers `http_status` with `code` in its
`{"error": …}` shape; the web UI shows the message in the page. `message_for(interface)` words the next step for
the interface it is shown in. Nothing here may carry a secret (an API key, a server's error body).

| error | exit code | HTTP status, code |
| --- | --- | --- |
| QuestionError | 2 | 400 invalid_question |
| InputError, GoldError | 2 | 400 invalid_input |
| UIError | 2 | 400 invalid_argument |
| IndexMissing | 1 | 409 index_empty |
| IndexBusy | 3 | 409 index_busy |
| DiskFull | 4 | 507 insufficient_storage |
| any other (a service failed: LLM, embeddings, Chroma, prompts) | 1 | 502 service_failed |
"""

from __future__ import annotations

from typing import Literal

Interface = Literal["cli", "api", "ui"]


class AssistantError(Exception):
    """Base of every error a user can cause or fix."""

    exit_code = 1
    http_status = 502  # by default, a service the assistant depends on failed
    code = "service_failed"

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    def message_for(self, interface: Interface) -> str:
        return str(self)


class QuestionError(AssistantError, ValueError):
    """The question itself is unusable (empty, too long)."""

    exit_code, http_status, code = 2, 400, "invalid_question"


class InputError(AssistantError):
    """A path the user gave cannot be used at all (it does not exist)."""

    exit_code, http_status, code = 2, 400, "invalid_input"


class IndexMissing(AssistantError):
    """Nothing has been ingested into this index directory yet; the message says how to add something."""

    http_status, code = 409, "index_empty"

    def __init__(self, index_dir: str):
        super().__init__(f"索引目录 {index_dir} 中还没有数据，请先运行：assistant ingest seeds/ --index-dir {index_dir}")
        self.index_dir = index_dir

    def message_for(self, interface: Interface) -> str:
        return {"cli": str(self), "api": "索引中还没有数据，请先导入文档（POST /v1/ingest）。",
                "ui": "索引中还没有数据，请先在“文档”页上传文件。"}[interface]


class EmbeddingError(AssistantError, RuntimeError):
    """The embeddings service failed."""


class LLMError(AssistantError, RuntimeError):
    """The LLM path failed; callers fall back to the extractive answer with this sentence as a warning."""


class PromptError(AssistantError, ValueError):
    """A prompt file is missing, or a placeholder was left unfilled or given without use."""


class GoldError(AssistantError, ValueError):
    """A malformed gold line; the message names the file and line."""

    exit_code, http_status, code = 2, 400, "invalid_input"


class UIError(AssistantError, ValueError):
    """A setting or argument the web UI cannot start with."""

    exit_code, http_status, code = 2, 400, "invalid_argument"


class IndexBusy(AssistantError):
    """Another process (or thread) is writing to the same index: one writer at a time."""

    exit_code, http_status, code = 3, 409, "index_busy"


class StoreUnavailable(AssistantError, RuntimeError):
    """The Chroma server named by ASSISTANT_CHROMA_HOST/PORT does not answer."""


class DiskFull(AssistantError, OSError):
    """The index's disk is (nearly) full: nothing more is written; what was committed stays, and reads go on."""

    exit_code, http_status, code = 4, 507, "insufficient_storage"
