"""Errors a user can cause: one base class carrying a one-sentence message (Chinese, for users) and an exit code.

Every layer raises these; the CLI catches `AssistantError` by type and prints `错误：<message>` with its exit code,
the web UI shows the message in the page. Nothing here may carry a secret (an API key, a server's error body).
"""

from __future__ import annotations


class AssistantError(Exception):
    """Base of every error a user can cause or fix; `exit_code` is what the CLI exits with."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class QuestionError(AssistantError, ValueError):
    """The question itself is unusable (empty, too long)."""

    exit_code = 2


class InputError(AssistantError):
    """A path the user gave cannot be used at all (it does not exist)."""

    exit_code = 2


class IndexMissing(AssistantError):
    """Nothing has been ingested into this index directory yet; the message says which command to run."""

    def __init__(self, index_dir: str):
        super().__init__(f"索引目录 {index_dir} 中还没有数据，请先运行：assistant ingest seeds/ --index-dir {index_dir}")
        self.index_dir = index_dir


class EmbeddingError(AssistantError, RuntimeError):
    """The embeddings service failed."""


class LLMError(AssistantError, RuntimeError):
    """The LLM path failed; callers fall back to the extractive answer with this sentence as a warning."""


class PromptError(AssistantError, ValueError):
    """A prompt file is missing, or a placeholder was left unfilled or given without use."""


class GoldError(AssistantError, ValueError):
    """A malformed gold line; the message names the file and line."""

    exit_code = 2


class UIError(AssistantError, ValueError):
    """A setting or argument the web UI cannot start with."""

    exit_code = 2


class IndexBusy(AssistantError):
    """Another process (or thread) is writing to the same index: one writer at a time."""

    exit_code = 3


class StoreUnavailable(AssistantError, RuntimeError):
    """The Chroma server named by ASSISTANT_CHROMA_HOST/PORT does not answer."""
